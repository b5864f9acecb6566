//! kvstore's own command, `kvsim`: muxsim's CLI with kvstore registered. Its fixtures replay
//! from the command line, a campaign's repros name `kvsim` and replay through it to the
//! same failure, and naming another service than a transcript's is an error.

use std::path::Path;

use assert_cmd::Command;
use kvstore::Bug;
use serde_json::Value;

fn kvsim() -> Command {
    let mut cmd = Command::cargo_bin("kvsim").unwrap();
    cmd.env_remove("MUXSIM_SEEDS").env_remove("MUXSIM_JOBS");
    cmd
}

fn fixtures() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

#[test]
fn the_fixtures_replay_from_the_command_line() {
    let out = kvsim().args(["replay", fixtures()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let count = std::fs::read_dir(fixtures()).unwrap().count();
    assert!(
        stdout.contains(&format!("{count} passed, 0 failed")),
        "{stdout}"
    );
}

#[test]
fn the_command_knows_every_variant() {
    let out = kvsim().arg("services").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in ["kvstore", "lines", "echo"]
        .into_iter()
        .chain(Bug::ALL.iter().map(|b| b.service_name()))
    {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing:\n{stdout}"
        );
    }
    // And its options.
    let out = kvsim().args(["services", "kvstore"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("max-line") && stdout.contains("idle-ms"),
        "{stdout}"
    );
}

#[test]
fn naming_another_service_is_an_error_not_a_swap() {
    let file = Path::new(fixtures()).join("commands.txn");
    let out = kvsim()
        .args(["replay", "--service", "lines"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("commands.txn:2:9: the transcript is for service `kvstore`, not `lines`"),
        "{stderr}"
    );
}

#[test]
fn each_bug_s_repro_replays_through_kvsim_with_the_same_failure() {
    for bug in Bug::ALL {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.json");
        let out = kvsim()
            .args(["fuzz", "--service", bug.service_name()])
            .args(["--seeds", "10000", "--max-failures", "1", "--jobs", "2"])
            .arg("--out")
            .arg(dir.path())
            .arg("--report")
            .arg(&report)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {stdout}",
            bug.service_name()
        );
        // The reproduce line names this crate's command, not a muxsim that lacks the service.
        assert!(stdout.contains("reproduce: "), "{stdout}");
        assert!(
            stdout
                .lines()
                .filter(|l| l.contains("reproduce: "))
                .all(|l| l.contains("kvsim replay ")),
            "{stdout}"
        );
        let report = json(&std::fs::read(&report).unwrap());
        let buckets = report["buckets"].as_array().unwrap();
        assert!(!buckets.is_empty(), "{report}");
        for bucket in buckets {
            let path = bucket["example"]["path"].as_str().expect("written");
            let out = kvsim()
                .args(["replay", "--format", "json", path])
                .output()
                .unwrap();
            // The repro fails again, in the same bucket.
            assert_eq!(out.status.code(), Some(1), "{path}");
            let replay = json(&out.stdout);
            assert_eq!(
                replay["files"][0]["signature"], bucket["signature"],
                "{path}: {replay}"
            );
        }
    }
}
