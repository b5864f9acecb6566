//! The checks a user trusts without reading them: a seed means one run, and a service whose
//! runs differ from one time to the next is pointed at, at the first difference.

use std::collections::HashSet;

use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::scenario::Scenario;
use muxsim::service::ServiceDescriptor;
use muxsim::world::Failure;
use muxsim::{Campaign, Instant, transcript};

/// How a test service goes wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// Answers with the words of a `HashSet`, in its iteration order (which differs from one
    /// set to the next).
    HashOrder,
    /// Answers with the wall clock.
    WallClock,
    /// Panics on its first input when a fresh `HashSet`'s order starts with 0 (a failure that
    /// shows in one run of four).
    SometimesPanics,
}

struct Flawed {
    flaw: Flaw,
    unlucky: bool,
    open: usize,
    out: Outbox,
}

impl Flawed {
    fn new(flaw: Flaw) -> Self {
        let set: HashSet<u32> = (0..4).collect();
        Flawed {
            flaw,
            unlucky: set.iter().next() == Some(&0),
            open: 0,
            out: Outbox::default(),
        }
    }
}

impl Service for Flawed {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.open += 1;
        self.out.send(conn, &b"hello"[..]);
    }
    fn handle_received(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        match self.flaw {
            Flaw::HashOrder => {
                let words: HashSet<&str> = ["red", "green", "blue", "cyan", "plum", "teal"]
                    .into_iter()
                    .collect();
                for word in words {
                    self.out.send(conn, word.as_bytes());
                }
            }
            Flaw::WallClock => {
                let stamp = format!("{:?}", std::time::Instant::now());
                self.out.send(conn, stamp.into_bytes());
            }
            Flaw::SometimesPanics => {
                assert!(!self.unlucky, "unlucky hash order");
                self.out.send(conn, bytes);
            }
        }
    }
    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        self.out.close(conn);
    }
    fn handle_closed(&mut self, _now: Instant, _conn: ConnId, _reason: CloseReason) {
        self.open -= 1;
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn tracked_connections(&self) -> usize {
        self.open
    }
}

fn descriptor(flaw: Flaw) -> ServiceDescriptor {
    ServiceDescriptor::new("flawed", move |_| Flawed::new(flaw))
}

const ONE_CLIENT: &str =
    "service flawed\noracle on\n\na connect\na recv \"hello\"\na send \"x\"\na close\n";

#[test]
fn a_divergence_names_the_seed_the_line_the_client_and_both_events() {
    let t = transcript::parse(ONE_CLIENT).unwrap();
    let scenario = Scenario::from_transcript_with(&t, &descriptor(Flaw::WallClock)).unwrap();
    let d = scenario
        .divergence()
        .expect("the wall clock differs between two runs");
    assert_eq!(d.seed(), 0);
    assert_eq!(d.client(), Some("a"), "{d}");
    let text = d.to_string();
    assert!(
        text.contains("first:") && text.contains("second:"),
        "{text}"
    );
    // Both events are quoted as the transcript quotes them, with the lines before them.
    assert!(text.contains("Instant"), "{text}");
    assert!(text.contains("a send \"x\""), "{text}");
    // A deterministic service never diverges.
    let echo = muxsim::service::Registry::builtin()
        .get("echo")
        .cloned()
        .unwrap();
    let t = transcript::parse(&ONE_CLIENT.replace("flawed", "echo")).unwrap();
    let scenario = Scenario::from_transcript_with(&t, &echo).unwrap();
    assert_eq!(scenario.divergence(), None);
}

fn kinds(report: &muxsim::Report) -> Vec<&'static str> {
    report
        .buckets()
        .iter()
        .map(|b| b.example().failure().kind().name())
        .collect()
}

#[test]
fn a_service_iterating_a_hash_set_or_reading_the_clock_is_caught_by_the_check() {
    for flaw in [Flaw::HashOrder, Flaw::WallClock] {
        // Nothing else is wrong with either: without the check they pass.
        let plain = Campaign::new(descriptor(flaw)).seeds(0, 20).run();
        assert!(plain.is_clean(), "{plain}");
        let checked = Campaign::new(descriptor(flaw))
            .seeds(0, 20)
            .check_determinism(true)
            .run();
        assert_eq!(kinds(&checked), ["nondeterministic"], "{checked}");
        // Every seed whose clients send something differs (some only connect, or are cut off).
        assert!(checked.failed_seeds() >= 10, "{checked}");
        let example = &checked.buckets()[0].example();
        // Nondeterminism is not shrunk: the shrinker would chase noise.
        assert!(example.minimal().is_none());
        let Failure::Nondeterministic { detail } = &example.failure() else {
            unreachable!()
        };
        assert!(
            detail.contains("first:") && detail.contains("second:"),
            "{detail}"
        );
    }
}

#[test]
fn a_failure_that_does_not_reproduce_is_reported_as_nondeterministic() {
    // By default only failing seeds are run again; a failure that comes one run in four is
    // reported as what it is, whichever way its re-runs go.
    let report = Campaign::new(descriptor(Flaw::SometimesPanics))
        .seeds(0, 40)
        .run();
    assert!(kinds(&report).contains(&"nondeterministic"), "{report}");
}

/// The `per_process` example command (`cargo test` builds examples; a filtered run may not).
fn per_process_command() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join("examples").join("per_process");
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", "per_process"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

#[test]
fn a_service_fixed_once_per_process_is_caught_in_a_fresh_process() {
    let sim = |service: &str, fresh: bool| {
        let mut cmd = assert_cmd::Command::new(per_process_command());
        cmd.args([
            "sim",
            "--service",
            service,
            "--seed",
            "3",
            "--check-determinism",
        ]);
        if fresh {
            cmd.arg("--fresh-process");
        }
        cmd.timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap()
    };
    // In one process its two runs agree: only a fresh process shows it.
    let same = sim("per-process", false);
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let fresh = sim("per-process", true);
    let text = String::from_utf8_lossy(&fresh.stdout);
    assert_eq!(fresh.status.code(), Some(1), "{text}");
    assert!(
        text.contains("nondeterministic: a fresh process ran it otherwise"),
        "{text}"
    );
    // The first difference is the greeting, with both values.
    assert!(text.contains("first:") && text.contains("hello"), "{text}");
    // A deterministic service passes in a fresh process too.
    let echo = sim("echo", true);
    assert!(
        echo.status.success(),
        "{}",
        String::from_utf8_lossy(&echo.stdout)
    );
}
