//! What users of cargo, proptest, hyperfine and toxiproxy expect of a command line: a version
//! that names its commit, completions, stdin as `-`, JSON and JUnit for CI, defaults from the
//! environment, colour that obeys the flag and `NO_COLOR`.

mod common;

use common::muxsim;

use common::Reaped;
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PASSING: &str =
    "service echo\n\na connect\na recv \"hello\"\na send \"x\"\na recv \"x\"\na close\n";
const FAILING: &str = "service echo\n\na connect\na recv \"hullo\"\n";

#[test]
fn version_names_the_release_and_the_commit() {
    let out = muxsim().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = text(&out.stdout);
    let version = env!("CARGO_PKG_VERSION");
    assert!(line.starts_with(&format!("muxsim {version} (")), "{line}");
    let commit = line
        .trim_end()
        .strip_suffix(')')
        .and_then(|l| l.rsplit_once('('))
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no commit in {line:?}"));
    assert!(
        commit == "unknown"
            || (commit.len() >= 7
                && commit
                    .trim_end_matches("-dirty")
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit())),
        "{commit:?}"
    );
}

#[test]
fn completions_for_each_shell_and_a_clear_refusal_of_others() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef muxsim"),
        ("fish", "complete -c muxsim"),
    ] {
        let out = muxsim().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in ["replay", "fuzz", "serve", "run"] {
            assert!(script.contains(sub), "{shell}: {sub} not completed");
        }
    }
    let out = muxsim().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("tcsh"));
}

#[test]
fn a_transcript_on_stdin_is_replayed_and_its_errors_say_so() {
    let out = muxsim()
        .args(["replay", "-"])
        .write_stdin(PASSING)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("PASS"));

    let out = muxsim()
        .args(["replay", "-"])
        .write_stdin(FAILING)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("FAIL"));

    let out = muxsim()
        .args(["replay", "-"])
        .write_stdin("service echo\n\na connnect\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("<stdin>:3:3"), "{err}");
    assert!(err.contains("connnect"), "{err}");
}

#[test]
fn replay_speaks_json_and_junit_for_ci() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-pass.txn"), PASSING).unwrap();
    std::fs::write(dir.path().join("b-fail.txn"), FAILING).unwrap();

    let out = muxsim()
        .args(["replay", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let failed = files.iter().find(|f| f["outcome"] == "fail").unwrap();
    assert!(failed["path"].as_str().unwrap().ends_with("b-fail.txn"));
    assert!(failed["message"].as_str().unwrap().contains("hullo"));

    let out = muxsim()
        .args(["replay", "--format", "junit"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let xml = text(&out.stdout);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("tests=\"2\""), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert_eq!(xml.matches("<testcase").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(
        xml.contains("hullo"),
        "the failure's message is in the report"
    );
}

#[test]
fn sim_speaks_json_with_the_transcript_that_replays() {
    let out = muxsim()
        .args([
            "sim",
            "--service",
            "echo",
            "--seed",
            "3",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let run: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(run["service"], "echo");
    assert_eq!(run["seed"], 3);
    assert_eq!(run["pass"], true);
    let transcript = run["transcript"].as_str().unwrap().to_string();
    let out = muxsim()
        .args(["replay", "-"])
        .write_stdin(transcript)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn the_environment_gives_defaults_that_flags_override() {
    let seed_of = |out: &std::process::Output| {
        text(&out.stdout)
            .lines()
            .find_map(|l| {
                l.strip_prefix("# seed ")
                    .map(|r| r.split(' ').next().unwrap().to_string())
            })
            .unwrap_or_default()
    };
    let out = muxsim()
        .args(["sim", "--service", "echo"])
        .env("MUXSIM_SEED", "5")
        .output()
        .unwrap();
    assert_eq!(seed_of(&out), "5", "{}", text(&out.stdout));
    let out = muxsim()
        .args(["sim", "--service", "echo", "--seed", "9"])
        .env("MUXSIM_SEED", "5")
        .output()
        .unwrap();
    assert_eq!(seed_of(&out), "9", "the flag wins");

    let dir = tempfile::tempdir().unwrap();
    let out = muxsim()
        .args(["fuzz", "--service", "echo", "--out"])
        .arg(dir.path())
        .env("MUXSIM_SEEDS", "3")
        .env("MUXSIM_JOBS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let summary = text(&out.stdout) + &text(&out.stderr);
    assert!(summary.contains("3 seeds (echo)"), "{summary}");
    assert!(summary.contains("on 1 job"), "{summary}");

    let out = muxsim()
        .args(["sim", "--service", "echo"])
        .env("MUXSIM_SEED", "many")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad value from the environment"
    );
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let esc = |out: &std::process::Output| out.stdout.contains(&0x1b);
    let replay = |color: Option<&str>, no_color: bool| {
        let mut cmd = muxsim();
        cmd.arg("replay").arg("-").write_stdin(PASSING);
        if let Some(c) = color {
            cmd.args(["--color", c]);
        }
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        cmd.output().unwrap()
    };
    // Not a terminal: plain unless asked.
    assert!(!esc(&replay(None, false)));
    assert!(esc(&replay(Some("always"), false)));
    assert!(!esc(&replay(Some("never"), false)));
    assert!(!esc(&replay(Some("auto"), true)));
    // An explicit `always` is the user's word over the environment's.
    assert!(esc(&replay(Some("always"), true)));
}

#[test]
fn serve_prints_the_log_level_asked_for() {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("muxsim"))
        .args(["serve", "--service", "lines", "--addr", "127.0.0.1:0"])
        .args(["--log-level", "warn", "--max-conns", "1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    let child = Reaped(child);
    let wait = Some(std::time::Duration::from_secs(5));
    // The first client is served; the second is one too many and is refused.
    let mut a = std::net::TcpStream::connect(&addr).unwrap();
    a.set_read_timeout(wait).unwrap();
    let mut hello = [0u8; 6];
    a.read_exact(&mut hello).unwrap();
    let mut b = std::net::TcpStream::connect(&addr).unwrap();
    b.set_read_timeout(wait).unwrap();
    let mut refusal = Vec::new();
    let _ = b.read_to_end(&mut refusal);
    drop((a, b));
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("refused"), "{rest}");
    assert!(!rest.contains("open from"), "{rest}");
    assert!(!rest.contains("closed"), "{rest}");
}
