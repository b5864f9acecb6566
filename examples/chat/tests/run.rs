//! `chatsim run` judges a real chat server (a Python one, `fixtures/peers/chat.py`) against
//! the same model as the simulated service: the correct server passes, its twin with the
//! late-joiner bug is caught. Over real sockets the server's order is known only from the
//! clients, so what could have gone either way (a message sent just before a client was
//! accepted, or just before the server closed one) may be missing without blame.

use std::time::Duration;

fn run(seeds: &str, faults: &str, twin: bool) -> (Option<i32>, String) {
    let peer = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/peers/chat.py");
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_chatsim"));
    cmd.args([
        "run",
        "--service",
        "chat",
        "--seeds",
        seeds,
        "--faults",
        faults,
        "--max-wait",
        "50ms",
        "--timeout",
        "1s",
        "--out",
    ])
    .arg(out_dir.path())
    .args(["--", "python3", peer, "0"]);
    if twin {
        cmd.arg("--late-joiner");
    }
    let out = cmd.timeout(Duration::from_secs(300)).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_correct_python_chat_passes_and_its_late_joiner_twin_is_caught() {
    let (code, text) = run("20", "all", false);
    assert_eq!(code, Some(0), "{text}");
    // Seed 24 shows it: a line begun before d connected and ended after never reaches d.
    let (code, text) = run("40", "none", true);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("never arrived"), "{text}");
}
