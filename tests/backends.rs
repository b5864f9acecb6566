//! The real select(2) and poll(2) backends: the same services, the seed's limits.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{connect, read_n, send};
use muxsim::core::echo::Echo;
use muxsim::driver::Config;
use muxsim::semantics::{FD_SETSIZE, Semantics};
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

/// Opens `n` clients that stay connected and reads each one's greeting, if any.
fn crowd(kind: RealBackend, n: usize) -> (ServerHandle, Vec<TcpStream>, usize) {
    let server = ServerHandle::start_on(kind, Echo::default(), Config::default()).unwrap();
    let mut clients = Vec::with_capacity(n);
    let mut greeted = 0;
    for _ in 0..n {
        let mut c = connect(server.addr());
        if read_n(&mut c, 5, Duration::from_secs(2)) == b"hello" {
            greeted += 1;
        }
        clients.push(c);
    }
    (server, clients, greeted)
}

/// Raises this process's descriptor limit as far as the hard limit allows (up to 8,192):
/// the test holds both ends of 1,100 connections.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit read and write the struct we own; no pointer is kept.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max.min(8192).max(limit.rlim_cur);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[test]
fn select_refuses_descriptors_past_fd_setsize_and_keeps_serving() {
    raise_fd_limit();
    // 1,100 clients. Client and server sockets share this process, so the server's
    // descriptors pass 1024 after about 510 clients; the rest get a clean refusal.
    let (server, mut clients, greeted) = crowd(RealBackend::Select, 1100);
    assert!(
        greeted < 1100,
        "descriptors past FD_SETSIZE cannot be watched"
    );
    assert!(greeted > 400, "those below it are served ({greeted})");
    // The server did not crash: the clients it admitted are still answered.
    let mut answered = 0;
    for c in clients.iter_mut() {
        send(c, b"x");
        if read_n(c, 9, Duration::from_millis(200)) == b"xresponse" {
            answered += 1;
        }
        if answered == 20 {
            break;
        }
    }
    assert_eq!(answered, 20);
    drop(clients);
    let mut fresh = connect(server.addr());
    assert_eq!(read_n(&mut fresh, 5, WAIT), b"hello");
    // poll(2) has no such limit.
    let (_server, _clients, greeted) = crowd(RealBackend::Poll, 1100);
    assert_eq!(greeted, 1100);
}

#[test]
fn the_simulator_models_the_same_limit() {
    assert_eq!(FD_SETSIZE, libc::FD_SETSIZE as u32);
    // The simulator's select refuses the same descriptors (tests/simulator.rs shows the run);
    // here: only select has the limit.
    assert!(Semantics::Select.is_level_triggered());
    assert!(Semantics::Poll.is_level_triggered());
}
