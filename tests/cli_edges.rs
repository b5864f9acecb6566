//! The command line at its edges: bad input, unreadable files, servers that refuse or die,
//! numbers out of range. Each test asserts the exit code and the message a user reads.

mod common;

use common::muxsim;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command as Cmd;
use common::Serve;

fn run(cmd: &mut Cmd) -> (Option<i32>, String, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn load_fails_when_it_measured_nothing() {
    // The echo service greets with `hello`, not the `hello\n` a lines server sends.
    let serve = Serve::start("echo");
    let (code, _, err) = run(muxsim().args([
        "load",
        &serve.addr,
        "--conns",
        "2",
        "--depth",
        "1",
        "--duration",
        "200ms",
        "--warmup",
        "300ms",
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no connection was greeted with `hello\\n`")
            && err.contains("is this a `lines` server?"),
        "{err}"
    );
    let (code, _, err) = run(muxsim().args(["load", &serve.addr, "--conns", "0"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--conns 0 and no --idle connections: nothing to measure"),
        "{err}"
    );
}

#[test]
fn a_fixture_whose_failure_needs_a_kernel_fault_is_inconclusive_over_tcp() {
    // seed4-lifo expects the LIFO mismatch, which needs a short read only the server's
    // kernel can cause: against the fixed echo it is inconclusive (exit 3), never PASS.
    let serve = Serve::start("echo");
    let (code, out, _) = run(muxsim()
        .args(["replay", "fixtures/seed4-lifo.txn", "--target", &serve.addr])
        .current_dir(common::root()));
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("INCONCLUSIVE") && !out.contains("PASS"),
        "{out}"
    );
}

#[test]
fn a_service_panic_on_real_sockets_is_a_fail_and_the_other_files_run() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::root().join("fixtures/echo-disconnect-pending.txn"))
        .unwrap()
        .replace("service echo", "service seed4-literal");
    let crash = write(dir.path(), "crash.txn", &text);
    let (code, out, err) = run(muxsim()
        .env("RUST_BACKTRACE", "0")
        .args(["replay", "--backend", "mio"])
        .arg(&crash)
        .arg(common::root().join("fixtures/echo.txn")));
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("the service panicked: KeyError"), "{out}");
    assert!(out.contains("PASS") && out.contains("echo.txn"), "{out}");
    assert!(out.contains("1 passed, 1 failed"), "{out}");
    assert!(!err.contains("panicked at"), "no raw Rust panic: {err}");
}

#[test]
fn a_huge_duration_is_a_clear_error_not_a_panic() {
    let huge = "18446744073709551615s";
    for args in [
        vec!["load", "127.0.0.1:9", "--duration", huge],
        vec!["load", "127.0.0.1:9", "--warmup", huge],
        vec!["fuzz", "--service", "echo", "--duration", huge],
        vec!["chaos", "--target", "127.0.0.1:9", "--duration", huge],
    ] {
        let (code, _, err) = run(muxsim().args(&args));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("duration too long"), "{args:?}: {err}");
    }
}

#[test]
fn replay_refuses_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p.txn");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for path in [Path::new("/dev/zero"), fifo.as_path()] {
        let (code, _, err) = run(muxsim().arg("replay").arg(path));
        assert_eq!(code, Some(2), "{}: {err}", path.display());
        assert!(
            err.contains(&format!(
                "{}: not a regular file (a device, FIFO or socket)",
                path.display()
            )),
            "{err}"
        );
    }
}

/// The address from `muxsim: recording on ADDR, forwarding to ...`.
fn recording_address(line: &str) -> String {
    let rest = line.split("recording on ").nth(1).expect(line);
    rest.split(',').next().unwrap().trim().to_string()
}

#[test]
fn record_opens_its_output_up_front_and_streams_it() {
    // A bad path fails at once, before any session is proxied.
    let (code, _, err) = run(muxsim().args([
        "record",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "-o",
        "/nonexistent/x.txn",
    ]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/x.txn: No such file or directory"),
        "{err}"
    );

    // A good one holds each session's lines while the recorder still runs.
    let serve = Serve::start("echo");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("session.txn");
    let recorder = std::process::Command::new(assert_cmd::cargo::cargo_bin("muxsim"))
        .args([
            "record",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &serve.addr,
        ])
        .arg("-o")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut recorder = common::Reaped(recorder);
    let mut stderr = std::io::BufReader::new(recorder.0.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let listen = recording_address(&line);
    let mut client = TcpStream::connect(&listen).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut hello = [0u8; 5];
    client.read_exact(&mut hello).unwrap();
    client.write_all(b"ping").unwrap();
    let mut answer = [0u8; 12];
    client.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"pingresponse");
    drop(client);
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("a recv \"pingresponse\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(recorder);
    assert!(
        text.contains("a send \"ping\"") && text.contains("a recv \"pingresponse\""),
        "the session is on disk while the recorder runs:\n{text}"
    );
}

#[test]
fn record_warns_when_the_upstream_refuses() {
    // A port nothing listens on: bind one, note it, free it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let recorder = std::process::Command::new(assert_cmd::cargo::cargo_bin("muxsim"))
        .args(["record", "--listen", "127.0.0.1:0", "--upstream", &closed])
        .args(["--count", "1", "-o"])
        .arg(dir.path().join("x.txn"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut recorder = common::Reaped(recorder);
    let mut stderr = std::io::BufReader::new(recorder.0.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let listen = recording_address(&line);
    let client = TcpStream::connect(&listen).unwrap();
    let mut rest = String::new();
    let reader = std::thread::spawn(move || {
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let status = common::wait_exit(&mut recorder.0, Duration::from_secs(10));
    drop(client);
    let rest = reader.join().unwrap();
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains(&format!(
            "warning: the upstream {closed} refused the connection of client a"
        )),
        "{rest}"
    );
}

#[test]
fn the_directory_walk_survives_symlink_loops() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("loop/sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(
        common::root().join("fixtures/echo.txn"),
        sub.join("echo.txn"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    std::os::unix::fs::symlink(&sub, sub.join("self")).unwrap();
    let (code, out, err) = run(muxsim().arg("replay").arg(dir.path().join("loop")));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}

#[test]
fn the_diff_groups_runs_and_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let small = write(
        dir.path(),
        "t.txn",
        "service echo\nlimit max-conns 1\na connect\na recv \"hello\"\nb connect\n\
         b recv \"error: max number of clients reached\\n\"\nb recv-eof\na close\n",
    );
    let (code, out, _) = run(muxsim().arg("replay").arg(&small));
    assert_eq!(code, Some(1), "{out}");
    let diff = out
        .lines()
        .find(|l| l.contains("diff:"))
        .expect("a diff line");
    assert!(
        diff.contains("[-error: max number of clients reac-]"),
        "{diff}"
    );
    assert!(
        !diff.contains("[-e-][-r-]"),
        "grouped, not per character: {diff}"
    );

    // A 1 MB mismatch still prints short lines.
    let big = format!(
        "service echo\na connect\na recv \"hello\"\na send \"x\"\na recv \"{}\"\na close\n",
        "y".repeat(1 << 20)
    );
    let big = write(dir.path(), "big.txn", &big);
    let (code, out, _) = run(muxsim().arg("replay").arg(&big));
    assert_eq!(code, Some(1));
    for line in out.lines() {
        assert!(line.len() <= 600, "a line of {} bytes", line.len());
    }
}

#[test]
fn nonsensical_numbers_are_refused_at_parse_time() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::root().join("fixtures/echo.txn");
    let fixture = fixture.to_str().unwrap();
    let file = write(dir.path(), "a-file", "");
    let file = file.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["fuzz", "--service", "echo", "--seeds", "0"],
            "'0' for '--seeds",
        ),
        (
            vec!["fuzz", "--service", "echo", "--jobs", "0"],
            "'0' for '--jobs",
        ),
        (
            vec!["fuzz", "--service", "echo", "--jobs", "100000"],
            "'100000' for '--jobs",
        ),
        (
            vec!["sim", "--service", "echo", "--seed", "1", "--clients", "0"],
            "'0' for '--clients",
        ),
        (
            vec![
                "sim",
                "--service",
                "echo",
                "--seed",
                "1",
                "--clients",
                "100000",
            ],
            "'100000' for '--clients",
        ),
        (
            vec!["fuzz", "--service", "echo", "--clients", "0"],
            "'0' for '--clients",
        ),
        (
            vec!["chaos", "--target", "127.0.0.1:9", "--clients", "0"],
            "'0' for '--clients",
        ),
        (
            vec!["load", "127.0.0.1:9", "--depth", "0"],
            "'0' for '--depth",
        ),
        (
            vec!["chaos", "--target", "127.0.0.1:9", "--duration", "0s"],
            "must be at least 1ms",
        ),
        (vec!["replay", "--split", "0", fixture], "'0' for '--split"),
        (
            vec!["replay", "--timeout-ms", "0", fixture],
            "'0' for '--timeout-ms",
        ),
        (
            vec!["serve", "--service", "echo", "--max-conns", "0"],
            "'0' for '--max-conns",
        ),
        (
            vec!["serve", "--service", "echo", "--hard-limit", "0"],
            "'0' for '--hard-limit",
        ),
        (
            vec![
                "fuzz",
                "--service",
                "echo",
                "--start-seed",
                "18446744073709551610",
                "--seeds",
                "10",
            ],
            "runs past the last seed",
        ),
        (
            vec!["fuzz", "--service", "echo", "--seeds", "1", "--out", file],
            "not a directory",
        ),
    ];
    for (args, message) in cases {
        let (code, _, err) = run(muxsim().args(&args));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // And a flag the simulator ignores is said to be ignored.
    let (code, _, err) = run(muxsim().args(["replay", "--split", "3", fixture]));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("--split applies over real sockets only"),
        "{err}"
    );
}

#[test]
fn errors_point_at_the_line_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "clients.txn",
            "service echo\n\na connect\nclients a b\na close\n",
            "clients.txn:4:11: client b is listed but never connects",
        ),
        (
            "fault.txn",
            "service echo\n\na connect\n! z short-read 1\na close\n",
            "fault.txn:4:3: unknown client `z`",
        ),
        (
            "empty.txn",
            "\n# nothing\n",
            "empty.txn:1:1: no `service` line",
        ),
    ];
    for (name, text, message) in cases {
        let path = write(dir.path(), name, text);
        let (code, _, err) = run(muxsim().arg("replay").arg(&path));
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
    }
    // A byte-order mark is accepted, not shown as part of the first word.
    let bom = write(
        dir.path(),
        "bom.txn",
        "\u{feff}service echo\n\na connect\na recv \"hello\"\na close\n",
    );
    let (code, out, err) = run(muxsim().arg("replay").arg(&bom));
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn one_bad_file_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::root().join("fixtures/echo.txn"),
        dir.path().join("a.txn"),
    )
    .unwrap();
    write(dir.path(), "b.txn", "service echo\nbogus\n");
    std::fs::copy(
        common::root().join("fixtures/ack.txn"),
        dir.path().join("c.txn"),
    )
    .unwrap();
    write(dir.path(), "d.txn", "service echo\nfoo bar\n");
    let (code, out, err) = run(muxsim().arg("replay").arg(dir.path()));
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        out.contains("PASS") && out.contains("a.txn") && out.contains("c.txn"),
        "{out}"
    );
    assert!(
        out.contains("2 passed, 0 failed, 2 could not be read"),
        "{out}"
    );
    assert!(err.contains("b.txn:2:6: expected a step"), "{err}");
    assert!(err.contains("d.txn:2:5: expected a step"), "{err}");

    // --fail-fast stops at the first problem instead.
    let (code, out, _) = run(muxsim().args(["replay", "--fail-fast"]).arg(dir.path()));
    assert_eq!(code, Some(2));
    assert!(!out.contains("c.txn"), "{out}");
}

#[test]
fn a_fault_that_never_fires_is_a_warning_or_under_strict_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.txn",
        "service echo\n\na connect\na recv \"hello\"\n! a read-reset at 50\na send \"x\"\n\
         a recv \"xresponse\"\na close\n",
    );
    let (code, out, _) = run(muxsim().arg("replay").arg(&path));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("warning: the fault on line 5 (`! a read-reset at 50`) never fired"),
        "{out}"
    );
    let (code, out, _) = run(muxsim().args(["replay", "--strict"]).arg(&path));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("1 fault line(s) never fired (--strict)"),
        "{out}"
    );
}

#[test]
fn chaos_refuses_a_closed_port_and_stops_when_the_server_dies() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (code, out, err) = run(muxsim().args(["chaos", "--target", &closed, "--duration", "2s"]));
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains(&format!("cannot connect to {closed}")),
        "{err}"
    );

    // A lines server that dies a moment after the first connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let _ = conn.write_all(b"hello\n");
        std::thread::sleep(Duration::from_millis(300));
        drop(listener);
    });
    let started = std::time::Instant::now();
    let (code, out, err) = run(muxsim().args([
        "chaos",
        "--target",
        &addr,
        "--service",
        "lines",
        "--duration",
        "30s",
    ]));
    server.join().unwrap();
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("the server stopped accepting connections after"),
        "{out}"
    );
    assert!(out.contains("server did NOT survive"), "{out}");
    // It stopped well before the 30 s it was given.
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[test]
fn the_docs_list_every_limit_and_the_simulator_s_defaults() {
    let doc = std::fs::read_to_string(common::root().join("docs/transcript.md")).unwrap();
    let commas = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let sim = muxsim::world::WorldConfig::default();
    for limit in muxsim::world::limits::LIMITS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", limit.name())))
            .unwrap_or_else(|| panic!("{} missing from the limits table", limit.name()));
        let default = row.rsplit('|').nth(1).unwrap().trim();
        assert!(
            default.starts_with(&commas(limit.value(&sim))),
            "{}: the docs say {default}, the code {}",
            limit.name(),
            limit.value(&sim)
        );
    }
    for service in muxsim::Registry::builtin().iter() {
        for option in service.options() {
            assert!(
                doc.contains(&format!("`{}`", option.name())),
                "{} of {} missing",
                option.name(),
                service.name()
            );
        }
    }
    // The idle timeout differs in the simulator and on real sockets, and both say so.
    let (_, out, _) = run(muxsim().arg("limits"));
    assert!(
        out.contains("idle-timeout-ms")
            && out.contains("0 in the simulator, 300000 on real sockets"),
        "{out}"
    );
    assert!(
        doc.contains("no idle timeout in the simulator"),
        "docs/transcript.md"
    );
    // Clients run concurrently in the simulator, in file order over TCP.
    assert!(doc.contains("file order"), "docs/transcript.md");
}

#[test]
fn every_option_has_a_description_and_durations_read_as_people_write_them() {
    let (_, top, _) = run(muxsim().arg("--help"));
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 10, "{top}");
    for command in &commands {
        let (code, help, _) = run(muxsim().args([command, "--help"]));
        assert_eq!(code, Some(0));
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let b = trimmed.as_bytes();
            let short = b.len() > 2 && b[0] == b'-' && b[1].is_ascii_alphanumeric() && b[2] == b',';
            if !(trimmed.starts_with("--") || short) || line.len() == trimmed.len() {
                continue;
            }
            // Long help puts the description on the next, deeper-indented line.
            let same_line = trimmed.split("  ").filter(|p| !p.trim().is_empty()).count() > 1;
            let next_line = lines
                .get(i + 1)
                .is_some_and(|n| n.len() - n.trim_start().len() > line.len() - trimmed.len());
            assert!(
                same_line || next_line,
                "`{command}`: no description: {line}"
            );
        }
    }
    // Serve's limit flags show their defaults.
    let (_, help, _) = run(muxsim().args(["serve", "--help"]));
    for default in ["[default: 10000]", "[default: 300000]", "[default: 262144]"] {
        assert!(help.contains(default), "{help}");
    }
    // Transcript durations: minutes, hours and decimals.
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.txn",
        "service lines\n\na connect\na recv \"hello\\n\"\na wait 1.5s\na wait 1m\na wait 1h\n\
         a send \"x\\n\"\na recv \"xresponse\\n\"\na close\n",
    );
    let (code, out, err) = run(muxsim().arg("replay").arg(&path));
    assert_eq!(code, Some(0), "{out}{err}");
    // The simulator's trace names each connection by its client.
    let (_, out, _) = run(muxsim().args(["sim", "--service", "echo", "--seed", "7", "--trace"]));
    assert!(
        !out.contains("token 0x") && !out.contains("client 0"),
        "{out}"
    );
    assert!(out.contains("# accept: fd 4 for c"), "{out}");
}

/// Starts `muxsim serve` with `extra` flags; the child, its address and its stderr.
fn serve_with(
    extra: &[&str],
) -> (
    common::Reaped,
    String,
    std::io::BufReader<std::process::ChildStderr>,
) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("muxsim"))
        .args(["serve", "--service", "lines", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    (common::Reaped(child), addr, stderr)
}

fn visit(addr: &str) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut hello = [0u8; 6];
    stream.read_exact(&mut hello).unwrap();
}

#[test]
fn serve_logs_readable_times_and_quiet_silences_it() {
    let (child, addr, stderr) = serve_with(&[]);
    visit(&addr);
    let mut lines = std::io::BufRead::lines(stderr);
    let open = lines.next().unwrap().unwrap();
    drop(child);
    // `[0.305923s] conn 0.0: open from 127.0.0.1:35898`
    let (time, rest) = open.split_once("] ").expect("a time first");
    let seconds = time
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix('s'))
        .unwrap();
    let (whole, micros) = seconds.split_once('.').unwrap();
    assert!(whole.parse::<u64>().is_ok() && micros.len() == 6, "{open}");
    assert!(rest.starts_with("conn 0.0: open from 127.0.0.1:"), "{open}");

    // -q: the first line says where it serves; nothing more.
    let (mut child, addr, mut stderr) = serve_with(&["-q"]);
    visit(&addr);
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = common::wait_exit(&mut child.0, Duration::from_secs(5));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{rest}");
    assert!(!rest.contains("conn 0.0"), "{rest}");
}
