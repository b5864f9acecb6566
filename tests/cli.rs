//! The command line, driven as a user drives it.

mod common;

use common::muxsim;

use common::Serve;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn services_lists_every_service_with_a_description() {
    let out = muxsim().arg("services").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    for name in ["greet", "sink", "ack", "echo", "lines", "seed4-literal"] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{text}"
        );
    }
}

#[test]
fn serve_and_client_talk_then_serve_stops_cleanly_on_sigterm() {
    let serve = Serve::start("echo");
    let out = muxsim()
        .args(["client", &serve.addr])
        .write_stdin("ping\nsecond\n")
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "hello\npingresponse\nsecondresponse\n(server closed the connection)\n"
    );
    let status = serve.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn client_exits_cleanly_when_the_server_goes_away() {
    let serve = Serve::start("greet");
    let out = muxsim()
        .args(["client", &serve.addr])
        .write_stdin("anything\n")
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("hello\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("(server closed the connection)"));
}

#[test]
fn a_busy_port_is_a_one_line_error_and_exit_2() {
    let serve = Serve::start("echo");
    let out = muxsim()
        .args(["serve", "--service", "echo", "--addr", &serve.addr])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot listen on") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn an_unknown_service_is_refused() {
    let out = muxsim()
        .args(["serve", "--service", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown service `nope`"));
}

#[test]
fn sim_prints_the_seed_the_transcript_and_the_verdict() {
    let out = muxsim()
        .args([
            "sim",
            "--service",
            "echo",
            "--seed",
            "42",
            "--check-determinism",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.starts_with("# seed 42"), "{text}");
    assert!(text.contains("\nseed 42\n"));
    assert!(text.contains("# determinism: same trace twice"));
    assert!(text.trim_end().ends_with("# seed 42: pass"), "{text}");
}

#[test]
fn replay_passes_the_fixtures_in_the_simulator_and_on_real_sockets() {
    let n = common::fixtures().len();
    let out = muxsim()
        .args(["replay", "fixtures"])
        .current_dir(common::root())
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(out.status.success(), "sim: {}", stdout(&out));
    assert!(stdout(&out).ends_with(&format!("{n} passed, 0 failed\n")));
    for backend in ["mio", "poll", "select"] {
        let out = muxsim()
            .args(["replay", "fixtures", "--backend", backend])
            .current_dir(common::root())
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        // The LIFO exhibit's short read happens inside muxsim's own server on every real
        // backend: no fixture is inconclusive there.
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{backend}: {text}");
        assert!(
            text.contains("PASS fixtures/seed4-lifo.txn (fails as expected"),
            "{text}"
        );
        assert!(!text.contains("skipped line"), "{backend}: {text}");
        assert!(
            text.ends_with(&format!("{n} passed, 0 failed\n")),
            "{backend}: {text}"
        );
    }
}

#[test]
fn a_malformed_fixture_is_one_line_with_file_line_column_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txn");
    std::fs::write(&path, "service echo\n\na connect\na send ping\n").unwrap();
    let out = muxsim().arg("replay").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(
        err,
        format!(
            "muxsim: {}:4:8: expected the bytes to send (a quoted string), found `ping`\n",
            path.display()
        )
    );
}

#[test]
fn a_mismatch_shows_both_sides_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong.txn");
    std::fs::write(
        &path,
        "service echo\n\na connect\na recv \"hello\"\na send \"ping\"\na recv \"pongresponse\"\na close\n",
    )
    .unwrap();
    let out = muxsim().arg("replay").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("expected: \"pongresponse\""), "{text}");
    assert!(text.contains("received: \"pingresponse\""), "{text}");
    assert!(text.contains("first difference at byte 1"), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"));
}

#[test]
fn replay_against_the_python_seed_server_4_shows_its_crash() {
    let peer = common::python_seed(4);
    let out = muxsim()
        .args(["replay", "fixtures/echo-disconnect-pending.txn", "--target"])
        .arg(peer.addr.to_string())
        .current_dir(common::root())
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("the server stopped accepting connections")
            && text.contains("line 10: client b: cannot connect"),
        "the next client gets no greeting:\n{text}"
    );
}

#[test]
fn fuzz_finds_the_seed_bugs_writes_minimal_fixtures_that_replay_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let out = muxsim()
        .args([
            "fuzz",
            "--service",
            "seed4-literal",
            "--seeds",
            "60",
            "--jobs",
            "2",
            "--out",
        ])
        .arg(dir.path())
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    // One reproduction per distinct failure, named by the command that was run.
    let program = assert_cmd::cargo::cargo_bin("muxsim").display().to_string();
    let reproduce: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix(&format!("reproduce: {program} replay "))
        })
        .collect();
    assert_eq!(reproduce.len(), 2, "the LIFO answers and the crash: {text}");
    // Each repro with its diagram and its timeline page beside it.
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "{files:?}");
    for triple in files.chunks(3) {
        let stem = triple[2].strip_suffix(".txn").unwrap();
        assert_eq!(triple[0], format!("{stem}.html"), "{files:?}");
        assert_eq!(triple[1], format!("{stem}.mmd"), "{files:?}");
    }
    // The crash's page shows it: the failure marked on the server's last turn, and the
    // client that left with its answer pending.
    let crash = files
        .iter()
        .find(|f| f.contains("panic") && f.ends_with(".html"));
    let page = std::fs::read_to_string(dir.path().join(crash.unwrap())).unwrap();
    assert!(page.contains("FAIL: the service panicked"), "{page}");
    assert!(
        page.contains(r#"class="mark k-server lane-0 fail""#),
        "{page}"
    );
    assert!(page.contains(" reset") || page.contains(" close"), "{page}");
    for path in reproduce.iter().take(5) {
        let replay = muxsim().args(["replay", path]).output().unwrap();
        assert_eq!(
            replay.status.code(),
            Some(1),
            "{path} reproduces the failure"
        );
        assert!(stdout(&replay).starts_with("FAIL"));
    }
}

#[test]
fn fuzz_passes_a_fixed_service_and_shards_split_the_campaign() {
    // Tests write only to temporary directories, failing campaigns included.
    let dir = tempfile::tempdir().unwrap();
    let run = |shard: &str| {
        let out = muxsim()
            .args([
                "fuzz",
                "--service",
                "echo",
                "--seeds",
                "101",
                "--jobs",
                "2",
                "--shard",
                shard,
                "--out",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stdout(&out));
        stdout(&out)
    };
    assert!(run("1/1").starts_with("101 seeds (echo), 0 failed"));
    assert!(run("1/2").starts_with("51 seeds (echo), 0 failed"));
    assert!(run("2/2").starts_with("50 seeds (echo), 0 failed"));
    let bad = muxsim()
        .args(["fuzz", "--service", "echo", "--shard", "3/2"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn shards_from_the_environment_merge_into_the_whole_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let fuzz = |name: &str, env: &[(&str, &str)], shard: &str| {
        let report = dir.path().join(format!("{name}.json"));
        let mut cmd = muxsim();
        for var in [
            "MUXSIM_SHARD",
            "MUXSIM_SHARD_INDEX",
            "MUXSIM_SHARD_COUNT",
            "JOB_COMPLETION_INDEX",
            "CI_NODE_INDEX",
            "CI_NODE_TOTAL",
            "CIRCLE_NODE_INDEX",
            "CIRCLE_NODE_TOTAL",
            "BUILDKITE_PARALLEL_JOB",
            "BUILDKITE_PARALLEL_JOB_COUNT",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied())
            .args([
                "fuzz",
                "--service",
                "seed4-literal",
                "--seeds",
                "90",
                "--jobs",
                "2",
            ])
            .args(["--shard", shard, "--no-shrink", "--out"])
            .arg(dir.path().join("out"))
            .arg("--report")
            .arg(&report);
        let out = cmd.output().unwrap();
        (out, report)
    };
    let (whole, whole_report) = fuzz("whole", &[], "1/1");
    assert_eq!(whole.status.code(), Some(1), "{}", stdout(&whole));
    // A Kubernetes Indexed Job's pods (index from 0), and a GitLab matrix (index from 1).
    let (a, a_report) = fuzz(
        "k8s-0",
        &[("JOB_COMPLETION_INDEX", "0"), ("MUXSIM_SHARD_COUNT", "3")],
        "auto",
    );
    let (b, b_report) = fuzz(
        "k8s-1",
        &[("JOB_COMPLETION_INDEX", "1"), ("MUXSIM_SHARD_COUNT", "3")],
        "auto",
    );
    let (c, c_report) = fuzz(
        "gitlab-3",
        &[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "3")],
        "auto",
    );
    for out in [&a, &b, &c] {
        assert_eq!(out.status.code(), Some(1), "{}", stdout(out));
    }
    assert!(
        stdout(&a).contains("30 seeds (seed4-literal)"),
        "{}",
        stdout(&a)
    );
    let merged = dir.path().join("merged.json");
    let out = muxsim()
        .arg("merge")
        .args([&a_report, &b_report, &c_report])
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (merged, whole) = (read(&merged), read(&whole_report));
    assert_eq!(merged["seeds_run"], whole["seeds_run"]);
    assert_eq!(merged["failed_seeds"], whole["failed_seeds"]);
    let buckets = |r: &serde_json::Value| -> Vec<(String, u64, u64)> {
        let mut b: Vec<(String, u64, u64)> = r["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["signature"].as_str().unwrap().to_string(),
                    b["count"].as_u64().unwrap(),
                    b["example"]["seed"].as_u64().unwrap(),
                )
            })
            .collect();
        b.sort();
        b
    };
    assert_eq!(buckets(&merged), buckets(&whole));
    // The same shard twice is refused.
    let out = muxsim()
        .arg("merge")
        .args([&a_report, &a_report])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // No shard in the environment: a clear error naming what was read.
    let (none, _) = fuzz("none", &[], "auto");
    assert_eq!(none.status.code(), Some(2));
    let message = stderr(&none);
    assert!(
        message.contains("--shard auto: no shard in the environment")
            && message.contains("JOB_COMPLETION_INDEX"),
        "{message}"
    );
}

#[test]
fn fuzz_speaks_json_for_ci() {
    let dir = tempfile::tempdir().unwrap();
    let out = muxsim()
        .args([
            "fuzz",
            "--service",
            "seed4-literal",
            "--seeds",
            "10",
            "--format",
            "json",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["service"], "seed4-literal");
    assert_eq!(report["seeds_run"], 10);
    let buckets = report["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty(), "{report}");
    for bucket in buckets {
        assert!(bucket["signature"].is_string());
        assert!(bucket["example"]["seed"].is_u64());
        let path = bucket["example"]["path"].as_str().unwrap();
        assert!(std::path::Path::new(path).starts_with(dir.path()), "{path}");
    }
}

#[test]
fn record_a_session_then_replay_it_against_a_fresh_server() {
    let first = Serve::start("echo");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.txn");
    let proxy = Command::new(assert_cmd::cargo::cargo_bin("muxsim"))
        .args([
            "record",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &first.addr,
        ])
        .arg("-o")
        .arg(&file)
        .args(["--count", "1", "--service", "echo"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed and reaped however the test ends.
    let mut proxy = common::Reaped(proxy);
    let mut line = String::new();
    BufReader::new(proxy.0.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let listen = line
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(',');
    let mut c = common::connect(listen.parse().unwrap());
    assert_eq!(common::read_n(&mut c, 5, Duration::from_secs(5)), b"hello");
    common::send(&mut c, b"ping");
    assert_eq!(
        common::read_n(&mut c, 12, Duration::from_secs(5)),
        b"pingresponse"
    );
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (_, eof) = common::read_to_eof(&mut c, Duration::from_secs(5));
    assert!(eof);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = proxy.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "record did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    for expected in [
        "a connect\n",
        "a recv \"hello\"\n",
        "a send \"ping\"\n",
        "a recv \"pingresponse\"\n",
        "a recv-eof\n",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    drop(first);
    let fresh = Serve::start("echo");
    let out = muxsim()
        .arg("replay")
        .arg(&file)
        .args(["--target", &fresh.addr])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    // And the recording runs in the simulator too.
    let out = muxsim().arg("replay").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn fixtures_of_one_service_run_against_another_only_when_asked_and_say_so() {
    // Without the option a fixture of another service is bad input, with the way out named.
    let out = muxsim()
        .args(["replay", "fixtures/echo.txn", "--service", "ack"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("for service `echo`, not `ack`") && err.contains("--any-service"),
        "{err}"
    );
    // With it the fixture runs against `ack`, which answers otherwise, and says whose it was.
    let out = muxsim()
        .args([
            "replay",
            "fixtures/echo.txn",
            "--service",
            "ack",
            "--any-service",
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("received: \"response\""), "{text}");
    assert!(
        text.contains("written for service `echo`, run against `ack` (--any-service)"),
        "{text}"
    );
    // A fuzz campaign takes such fixtures the same way, and names each on stderr.
    let out = muxsim()
        .args(["fuzz", "--service", "ack", "--seeds", "6", "--jobs", "1"])
        .args(["--fixtures", "fixtures/echo.txn", "--any-service"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("fixtures/echo.txn: written for service `echo`, run against `ack`"),
        "{err}"
    );
    let out = muxsim()
        .args(["fuzz", "--service", "ack", "--seeds", "6", "--jobs", "1"])
        .args(["--fixtures", "fixtures/echo.txn"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_campaigns_seed_is_the_same_run_under_sim_without_extra_flags() {
    let out = muxsim()
        .args([
            "fuzz",
            "--service",
            "seed4-literal",
            "--seeds",
            "40",
            "--jobs",
            "1",
        ])
        .args(["--no-shrink", "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let buckets = report["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty(), "{report}");
    let mut semantics_seen = std::collections::BTreeSet::new();
    for bucket in buckets {
        for seed in bucket["seeds"].as_array().unwrap().iter().take(4) {
            let seed = seed.as_u64().unwrap().to_string();
            let out = muxsim()
                .args(["sim", "--service", "seed4-literal", "--seed", &seed])
                .args(["--format", "json"])
                .output()
                .unwrap();
            let sim: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(sim["pass"], false, "seed {seed}: {sim}");
            let message = sim["failure"]["message"].as_str().unwrap_or_default();
            let kind = bucket["kind"].as_str().unwrap();
            assert!(
                sim["failure"]["kind"] == kind,
                "seed {seed} failed the campaign as {kind} but sim says {message}"
            );
            semantics_seen.insert(sim["semantics"].as_str().unwrap().to_string());
        }
    }
    // The seed chose the semantics, as the campaign's seeds do.
    assert!(semantics_seen.len() > 1, "{semantics_seen:?}");
}

/// Runs `muxsim ARGS` in the repository and returns its exit code and standard output.
fn report_of(args: &[&str], out_dir: &std::path::Path) -> (Option<i32>, String) {
    let out = muxsim()
        .args(args)
        .arg("--out")
        .arg(out_dir)
        .current_dir(common::root())
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (out.status.code(), stdout(&out))
}

#[test]
fn fuzz_run_and_replay_print_one_report_shape() {
    let dir = tempfile::tempdir().unwrap();
    let fuzz = ["fuzz", "--service", "seed4-literal", "--seeds", "20"];
    let run = [
        "run",
        "--service",
        "lines",
        "--seeds",
        "20",
        "--shrink-attempts",
        "0",
        "--max-wait",
        "50ms",
        "--timeout",
        "1s",
    ];
    let server = [
        "--",
        "python3",
        "fixtures/peers/lines_at_limit.py",
        "--closes-on-eof",
        "0",
    ];
    // The fuzz campaign's repro is the fixture replay plays.
    let (code, _) = report_of(&fuzz, &dir.path().join("fuzz"));
    assert_eq!(code, Some(1));
    let repro = std::fs::read_dir(dir.path().join("fuzz"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "txn"))
        .unwrap();
    let repro = repro.to_str().unwrap();
    let commands: [(&str, Vec<&str>); 3] = [
        ("fuzz", fuzz.to_vec()),
        ("run", [&run[..], &server[..]].concat()),
        ("replay", vec!["replay", repro]),
    ];
    for (name, args) in commands {
        // --out is an option of fuzz and run; replay writes nothing.
        let with_format = |format: &'static str| -> Vec<&str> {
            let mut a = args.clone();
            let at = a.iter().position(|w| *w == "--").unwrap_or(a.len());
            a.splice(at..at, ["--format", format]);
            a
        };
        let out_dir = dir.path().join(name);
        let (code, json) = if name == "replay" {
            let out = muxsim()
                .args(with_format("json"))
                .current_dir(common::root())
                .output()
                .unwrap();
            (out.status.code(), stdout(&out))
        } else {
            report_of(&with_format("json"), &out_dir)
        };
        assert_eq!(code, Some(1), "{name}: {json}");
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(report["schema"], 2, "{name}: {report:#}");
        assert_eq!(report["report"], name, "{report:#}");
        assert!(report["target"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(report["seeds_run"].as_u64() > Some(0), "{report:#}");
        assert!(report["failed_seeds"].as_u64() > Some(0), "{report:#}");
        // Reach where scenarios were generated by the simulator's campaign.
        assert_eq!(report["reach"].is_object(), name == "fuzz", "{report:#}");
        let buckets = report["buckets"].as_array().unwrap();
        assert!(!buckets.is_empty(), "{name}: {report:#}");
        for b in buckets {
            for key in ["signature", "kind"] {
                assert!(
                    b[key].as_str().is_some_and(|s| !s.is_empty()),
                    "{name}: {b:#}"
                );
            }
            assert!(b["count"].as_u64() > Some(0), "{b:#}");
            assert!(!b["seeds"].as_array().unwrap().is_empty(), "{b:#}");
            assert_eq!(b["example"]["kind"], b["kind"], "{b:#}");
            assert!(b["example"]["message"].is_string(), "{b:#}");
            assert!(b["example"]["path"].is_string(), "{name}: {b:#}");
            let again = b["reproduce"].as_str().unwrap();
            assert!(
                again.contains(&format!(
                    " {} ",
                    if name == "run" { "run" } else { "replay" }
                )),
                "{again}"
            );
        }
        // The text report: one block per bucket, in the same lines.
        let text = if name == "replay" {
            let out = muxsim()
                .args(with_format("text"))
                .current_dir(common::root())
                .output()
                .unwrap();
            stdout(&out)
        } else {
            report_of(
                &with_format("text"),
                &dir.path().join(format!("{name}-text")),
            )
            .1
        };
        let blocks = text.lines().filter(|l| l.starts_with("FAIL 1 of ")).count();
        assert_eq!(blocks, 1, "{name}: {text}");
        for line in ["  signature: ", "  transcript: ", "  reproduce: "] {
            assert!(
                text.lines().any(|l| l.starts_with(line)),
                "{name}: {line:?}\n{text}"
            );
        }
    }
}
