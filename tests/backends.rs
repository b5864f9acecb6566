//! The real select(2) and poll(2) backends: the same services, the seed's limits.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{connect, read_n, send};
use muxsim::core::echo::Echo;
use muxsim::driver::Config;
use muxsim::semantics::FD_SETSIZE;
use muxsim::tcp::{RealBackend, ServerHandle};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn every_backend_serves_echo() {
    for kind in [RealBackend::Mio, RealBackend::Poll, RealBackend::Select] {
        let server = ServerHandle::start_on(kind, Echo::default(), Config::default()).unwrap();
        let mut clients: Vec<TcpStream> = (0..50).map(|_| connect(server.addr())).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            assert_eq!(read_n(c, 5, WAIT), b"hello", "{kind:?} client {i}");
            send(c, format!("m{i}").as_bytes());
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let want = format!("m{i}response");
            assert_eq!(
                read_n(c, want.len(), WAIT),
                want.as_bytes(),
                "{kind:?} client {i}"
            );
        }
    }
}

/// Opens `n` clients that stay connected and reads each one's greeting, if any; returns the
/// greeted ones and how many were not.
fn crowd(kind: RealBackend, n: usize) -> (ServerHandle, Vec<TcpStream>, usize) {
    let server = ServerHandle::start_on(kind, Echo::default(), Config::default()).unwrap();
    let mut greeted = Vec::with_capacity(n);
    let mut refused = 0;
    for _ in 0..n {
        let mut c = connect(server.addr());
        if read_n(&mut c, 5, Duration::from_secs(2)) == b"hello" {
            greeted.push(c);
        } else {
            refused += 1;
        }
    }
    (server, greeted, refused)
}

/// Raises this process's descriptor limit as far as the hard limit allows (up to 8,192):
/// the test holds both ends of 1,100 connections. Held until the guard drops.
fn raise_fd_limit() -> std::sync::MutexGuard<'static, ()> {
    // The tests that crowd select(2) past descriptor 1024 share this process's numbering:
    // one at a time, or one's listener is born past the boundary the other is filling.
    static CROWD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = CROWD.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: getrlimit/setrlimit read and write the struct we own; no pointer is kept.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max.min(8192).max(limit.rlim_cur);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    guard
}

#[test]
fn select_refuses_descriptors_past_fd_setsize_and_keeps_serving() {
    let _crowd = raise_fd_limit();
    // 1,100 clients. Client and server sockets share this process, so the server's
    // descriptors pass 1024 after about 510 clients; the rest get a clean refusal.
    let (server, mut greeted, refused) = crowd(RealBackend::Select, 1100);
    assert!(refused > 0, "descriptors past FD_SETSIZE cannot be watched");
    assert!(
        greeted.len() > 400,
        "those below it are served ({})",
        greeted.len()
    );
    // The server did not crash: clients it admitted are still answered (no tight timeout:
    // a loaded machine may be slow, never wrong).
    for (i, c) in greeted.iter_mut().take(20).enumerate() {
        send(c, b"x");
        assert_eq!(read_n(c, 9, WAIT), b"xresponse", "client {i}");
    }
    drop(greeted);
    let mut fresh = connect(server.addr());
    assert_eq!(read_n(&mut fresh, 5, WAIT), b"hello");
    // poll(2) has no such limit.
    let (_server, greeted, refused) = crowd(RealBackend::Poll, 1100);
    assert_eq!((greeted.len(), refused), (1100, 0));
}

/// On real `select(2)`: registers accepted connections until one is refused, and returns
/// the descriptor refused and the largest one watched before it.
fn real_select_boundary() -> (i32, i32) {
    use muxsim::backend::{Backend, Interest, Token};
    use muxsim::{LevelBackend, Mechanism};
    use std::os::fd::AsRawFd;
    let _crowd = raise_fd_limit();
    let mut backend =
        LevelBackend::bind("127.0.0.1:0".parse().unwrap(), Mechanism::Select).unwrap();
    let addr = backend.local_addr();
    let mut clients = Vec::new();
    let mut watched = Vec::new();
    let mut largest = -1;
    // Bounded: far fewer than 2,100 connections reach descriptor 1024.
    for n in 0..2_100u64 {
        clients.push(connect(addr));
        let deadline = std::time::Instant::now() + WAIT;
        let mut stream = loop {
            match backend.accept() {
                Ok(stream) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "accept timed out");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        let fd = stream.as_raw_fd();
        match backend.register(&mut stream, Token(n), Interest::READABLE) {
            Ok(()) => {
                largest = largest.max(fd);
                watched.push(stream);
            }
            Err(e) => {
                assert!(e.to_string().contains("FD_SETSIZE"), "{e}");
                return (fd, largest);
            }
        }
    }
    panic!("select(2) watched every descriptor up to {largest}");
}

#[test]
fn the_simulator_refuses_descriptors_where_real_select_does() {
    // Real select(2): every descriptor below the boundary is watched, the first at or past
    // it refused (the test's own client sockets share the numbering, so the boundary is
    // found, not assumed).
    let (refused, largest) = real_select_boundary();
    assert!(
        largest < FD_SETSIZE as i32 && refused >= FD_SETSIZE as i32,
        "watched up to {largest}, refused {refused}"
    );
    // The simulated select refuses at the same boundary: its first refused descriptor is the
    // first one past the last that real select watched.
    let mut text = "service echo\nsemantics select\nlimit backlog 2000\n\n".to_string();
    for i in 0..1_030 {
        text.push_str(&format!("c{i} connect\n"));
    }
    let mut s = common::scenario(&text);
    s.config.sim.detail = true;
    let run = s.run();
    let sim_refused: Vec<i32> = run
        .trace()
        .iter()
        .filter_map(|e| match &e.kind() {
            muxsim::world::TraceKind::Log(line) => line
                .split("cannot watch descriptor ")
                .nth(1)
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse().ok()),
            _ => None,
        })
        .collect();
    let first = *sim_refused
        .first()
        .expect("the simulator refused some descriptor");
    assert!(
        largest < first && first <= refused,
        "real select watched up to {largest} and refused {refused}; the simulator refused {first} first"
    );
    assert!(sim_refused.iter().all(|fd| *fd > largest));
}

/// Fault lines that only the server's own kernel could cause, each one armed where the
/// transcript puts it, and the answers a correct server gives under them. (Over real sockets
/// a client's round trips may all pass inside one turn of the server: the `wait` lets the
/// server return to its poll, where the spurious report is made.)
const SERVER_FAULTS: &str = r#"service echo
! accept-eintr
! poll-eintr
a connect
a recv "hello"
! a read-eintr
! a write-eintr
a send "ping"
a recv "pingresponse"
! a short-write 2
! a write-block
a send "pong"
a recv "pongresponse"
! a read-block
a send "x"
a recv "xresponse"
! a spurious
a wait 100ms
a send "y"
a recv "yresponse"
! a read-reset
a send "gone"
a recv-reset
b connect
b recv "hello"
b send "still here"
b recv "still hereresponse"
b close
"#;

/// A reset fault is not a transcript's assumption: without it this expectation fails.
const RESET_ONLY: &str = r#"service echo
a connect
a recv "hello"
! a read-reset
a send "ping"
a recv-reset
"#;

#[test]
fn server_side_fault_lines_fire_inside_every_real_backend() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.txn");
    std::fs::write(&faults, SERVER_FAULTS).unwrap();
    let reset = dir.path().join("reset.txn");
    std::fs::write(&reset, RESET_ONLY).unwrap();
    for backend in ["mio", "poll", "select"] {
        // --strict fails a fault line that never fired.
        let out = common::muxsim()
            .args(["replay", "--strict", "--backend", backend])
            .arg(&faults)
            .arg(&reset)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{backend}:\n{text}");
        assert!(text.contains("2 passed, 0 failed"), "{backend}:\n{text}");
        assert!(!text.contains("never fired"), "{backend}:\n{text}");
        assert!(!text.contains("INCONCLUSIVE"), "{backend}:\n{text}");
    }
}

/// Seed server 4's LIFO bug, left to the oracle: no `recv` line names the right answer.
const LIFO_BY_ORACLE: &str = r#"service seed4-literal
semantics epoll-et
oracle on
expect mismatch

a connect
a recv "hello"
! a short-read 2
a send "abcd"
a wait 50ms
a close
"#;

#[test]
fn one_bug_is_one_finding_in_the_simulator_and_on_every_real_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lifo.txn");
    std::fs::write(&path, LIFO_BY_ORACLE).unwrap();
    let mut seen = Vec::new();
    for backend in ["sim", "mio", "poll", "select"] {
        let out = common::muxsim()
            .args(["replay", "--format", "json", "--backend", backend])
            .arg(&path)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // The oracle's finding is not the `mismatch` of a `recv` line, on any target: the
        // file fails, and lands in the same bucket with the same failure.
        assert_eq!(out.status.code(), Some(1), "{backend}: {report:#}");
        let file = &report["files"][0];
        assert_eq!(file["outcome"], "fail", "{backend}: {report:#}");
        let bucket = &report["buckets"][0];
        assert_eq!(bucket["kind"], "oracle", "{backend}: {report:#}");
        seen.push((
            bucket["signature"].as_str().unwrap().to_string(),
            file["failure"].as_str().unwrap_or_default().to_string(),
        ));
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:#?}");
    assert!(seen[0].1.contains("client a: echoed \"cd\""), "{seen:#?}");
}
