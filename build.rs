//! Records the commit muxsim is built from, for `muxsim --version`, and on Linux builds the
//! interposition library `muxsim run` loads into servers (`preload/src/`, no
//! dependencies), which the binary embeds.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=MUXSIM_COMMIT={commit}");
    // A new commit moves HEAD (a branch's ref, or HEAD itself when detached).
    for path in [".git/HEAD", ".git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    build_preload();
}

/// Compiles the interposition library with the same rustc, for the same target.
fn build_preload() {
    println!("cargo:rustc-check-cfg=cfg(muxsim_preload)");
    println!("cargo:rerun-if-changed=preload/src");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("libmuxsim_preload.so");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "cdylib",
            "--crate-name",
            "muxsim_preload",
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "debuginfo=0",
            "-C",
            "strip=symbols",
            "--target",
            &target,
            "-o",
        ])
        .arg(&out)
        .arg("preload/src/lib.rs")
        .status()
        .expect("rustc runs");
    assert!(
        status.success(),
        "building the interposition library (preload/src/lib.rs) failed"
    );
    println!("cargo:rustc-cfg=muxsim_preload");
}
