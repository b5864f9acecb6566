//! Views of a run: the Mermaid diagram a pull request shows, and the trace Perfetto opens,
//! held to the Trace Event Format's rules.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::muxsim;
use serde_json::Value;

fn stdout(args: &[&str]) -> (Option<i32>, String) {
    let out = muxsim().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn mermaid_diagrams_of_fixtures_are_pinned() {
    for fixture in ["seed4-lifo", "echo-reset", "lines-too-long"] {
        let path = format!("fixtures/{fixture}.txn");
        let (code, text) = stdout(&["replay", &path, "--format", "mermaid"]);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.starts_with("sequenceDiagram\n"), "{text}");
        assert!(text.lines().count() <= 40, "{text}");
        // Beside the fixtures' own snapshots, not among them.
        let mut settings = common::snapshot_settings();
        settings.set_snapshot_path(common::root().join("snapshots/views"));
        settings.bind(|| {
            insta::assert_snapshot!(format!("mermaid-{fixture}"), text);
        });
    }
}

#[test]
fn a_long_run_keeps_its_diagram_short_and_its_failure_marked() {
    let (code, text) = stdout(&[
        "sim",
        "--service",
        "seed4-literal",
        "--seed",
        "3",
        "--clients",
        "12",
        "--format",
        "mermaid",
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.lines().count() <= 40, "{text}");
    assert!(text.contains("earlier events left out"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("    Note over S: FAIL the service panicked"),
        "{text}"
    );
    // Nothing in a message's text can end the statement or start an entity.
    for line in text.lines().skip(1) {
        let message = line.split_once(": ").map_or("", |(_, m)| m);
        assert!(!message.contains(';'), "{line}");
    }
}

/// Checks a Trace Event Format document: every event has `ph`, `ts`, `pid` and `tid`; `B`/`E`
/// pairs nest per track; no two `X` slices overlap on one track; every flow that starts
/// ends, under the same id. Returns the events.
fn check_trace(text: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(text).expect("the trace is JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents").clone();
    let mut open: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    let mut slices: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut flows: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for e in &events {
        for field in ["ph", "ts", "pid", "tid"] {
            assert!(!e[field].is_null(), "no `{field}`: {e}");
        }
        let track = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        let ts = e["ts"].as_f64().unwrap();
        match e["ph"].as_str().unwrap() {
            "B" => open.entry(track).or_default().push(e["name"].to_string()),
            "E" => assert!(
                open.entry(track).or_default().pop().is_some(),
                "E without B: {e}"
            ),
            "X" => slices
                .entry(track)
                .or_default()
                .push((ts, ts + e["dur"].as_f64().expect("X has dur"))),
            "s" => flows.entry(e["id"].as_u64().unwrap()).or_default().0 += 1,
            "f" => flows.entry(e["id"].as_u64().unwrap()).or_default().1 += 1,
            "i" | "M" => {}
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    assert!(open.values().all(Vec::is_empty), "unclosed B: {open:?}");
    for (track, mut spans) in slices {
        spans.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0 + 1e-9,
                "slices overlap on {track:?}: {pair:?}"
            );
        }
    }
    for (id, (starts, ends)) in flows {
        assert_eq!((starts, ends), (1, 1), "flow {id}");
    }
    events
}

#[test]
fn the_chrome_trace_keeps_the_format_rules_and_shows_every_connection() {
    let (code, text) = stdout(&[
        "sim",
        "--service",
        "seed4-literal",
        "--seed",
        "3",
        "--format",
        "chrome-trace",
    ]);
    assert_eq!(code, Some(1));
    let events = check_trace(&text);
    let names: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    for lane in ["event loop", "faults", "a", "b", "c"] {
        assert!(names.contains(lane), "no track {lane}: {names:?}");
    }
    // Server calls are slices on the event loop; the failure is marked.
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "X" && e["pid"] == 1 && e["name"] == "poll")
    );
    assert!(events.iter().any(|e| e["name"] == "FAIL"));
    // A request and its answer are tied by a flow.
    let (code, text) = stdout(&["replay", "fixtures/echo.txn", "--format", "chrome-trace"]);
    assert_eq!(code, Some(0));
    let events = check_trace(&text);
    assert!(events.iter().any(|e| e["ph"] == "f"), "{text}");
    // Over real sockets the clients' side is drawn the same way.
    let (code, text) = stdout(&[
        "replay",
        "fixtures/echo.txn",
        "--backend",
        "mio",
        "--format",
        "chrome-trace",
    ]);
    assert_eq!(code, Some(0));
    check_trace(&text);
    // One trace draws one run.
    let (code, _) = stdout(&["replay", "fixtures/", "--format", "chrome-trace"]);
    assert_eq!(code, Some(2));
}

#[test]
fn fuzz_writes_a_diagram_beside_each_repro_and_into_the_ci_step_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let out = muxsim()
        .args([
            "fuzz",
            "--service",
            "seed4-literal",
            "--seeds",
            "60",
            "--out",
        ])
        .arg(dir.path().join("repros"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let mut repros = 0;
    for entry in std::fs::read_dir(dir.path().join("repros")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txn") {
            repros += 1;
            let diagram = std::fs::read_to_string(path.with_extension("mmd")).unwrap();
            assert!(diagram.starts_with("sequenceDiagram\n"), "{diagram}");
            assert!(diagram.contains("Note over S: FAIL"), "{diagram}");
        }
    }
    assert!(repros >= 1);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(text.matches("```mermaid\n").count(), repros, "{text}");
    assert!(text.contains("Reproduce: `"), "{text}");
}
