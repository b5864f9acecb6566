//! A two-client chat session recorded through `record` from real processes (the chat served
//! by this crate's command, the recording proxy in front of it) replays clean in the
//! simulator under a thousand seeds: the `after` lines the recorder writes keep the order the
//! session had between its clients.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed and reaped however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `chatsim` with `args`; the child and the address its first stderr line names.
fn start(args: &[&str]) -> (Reaped, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let addr = line
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line}"))
        .trim_end_matches(',')
        .to_string();
    (Reaped(child), addr)
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until `want` has arrived (and returns everything read).
fn expect(s: &mut TcpStream, want: &[u8]) {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.ends_with(want) {
        assert!(
            Instant::now() < deadline,
            "waited for {want:?}, got {got:?}"
        );
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed while waiting for {want:?}, got {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_recorded_two_client_session_replays_clean_under_a_thousand_seeds() {
    let (_server, upstream) = start(&["serve", "--service", "chat", "--addr", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.txn");
    let file_arg = file.display().to_string();
    let (mut proxy, listen) = start(&[
        "record",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "-o",
        &file_arg,
        "--count",
        "2",
        "--service",
        "chat",
    ]);
    // a is greeted, then b; b names itself and speaks; a hears it.
    let mut a = connect(&listen);
    expect(&mut a, b"welcome\n");
    let mut b = connect(&listen);
    expect(&mut b, b"welcome\n");
    a.write_all(b"NICK ann\n").unwrap();
    expect(&mut a, b"ok\n");
    b.write_all(b"NICK bob\n").unwrap();
    expect(&mut b, b"ok\n");
    b.write_all(b"MSG hi ann\n").unwrap();
    expect(&mut a, b"bob: hi ann\n");
    a.write_all(b"MSG hi bob\n").unwrap();
    expect(&mut b, b"ann: hi bob\n");
    b.write_all(b"QUIT\n").unwrap();
    expect(&mut b, b"bye\n");
    a.write_all(b"QUIT\n").unwrap();
    expect(&mut a, b"bye\n");
    drop((a, b));
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "record did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&file).unwrap();
    // The order between the clients is in the file.
    assert!(text.contains("b after a\n"), "{text}");
    common::replays_clean(&text, 1_000);
    // Without its `after` lines the same session does not hold under every seed.
    let failing = common::failing_without_after(&text, 1_000);
    assert!(failing > 0, "the loose session never failed:\n{text}");
}
