//! The real server on loopback: every service, many clients, and clients that misbehave.
//! Every socket has timeouts and every loop a bound in count and time.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{connect, read_n, read_to_eof, send};
use muxsim::backend::mio::MioBackend;
use muxsim::core::echo::Echo;
use muxsim::core::lines::Lines;
use muxsim::core::{Service, ack::Ack, greet::Greet, sink::Sink};
use muxsim::driver::{Config, Driver};
use muxsim::tcp::ServerHandle;

const WAIT: Duration = Duration::from_secs(5);

fn start<S: Service + Send + 'static>(service: S) -> ServerHandle {
    ServerHandle::start(service, Config::default()).expect("server starts")
}

/// A driver in this thread, so a test can look at its state between turns.
fn local<S: Service>(service: S, config: Config) -> (Driver<MioBackend, S>, SocketAddr) {
    let backend = MioBackend::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let addr = backend.local_addr();
    (Driver::new(backend, service, config), addr)
}

/// Turns the driver until `done` holds or `within` passes; returns whether it held.
fn drive<S: Service>(
    driver: &mut Driver<MioBackend, S>,
    within: Duration,
    mut done: impl FnMut(&Driver<MioBackend, S>) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        driver.turn(Some(Duration::from_millis(5))).expect("poll");
        while driver.poll_log().is_some() {}
        if done(driver) {
            return true;
        }
    }
    done(driver)
}

#[test]
fn greet_sends_hello_then_closes() {
    let server = start(Greet::default());
    let mut c = connect(server.addr());
    let (got, eof) = read_to_eof(&mut c, WAIT);
    assert_eq!(got, b"hello");
    assert!(eof, "the server closes after the greeting");
}

#[test]
fn sink_greets_and_closes_on_eof() {
    let server = start(Sink::default());
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 5, WAIT), b"hello");
    send(&mut c, b"some bytes");
    c.shutdown(Shutdown::Write).unwrap();
    let (rest, eof) = read_to_eof(&mut c, WAIT);
    assert!(rest.is_empty());
    assert!(
        eof,
        "EOF from the client closes the connection (the seed spins instead)"
    );
}

#[test]
fn ack_answers_every_chunk() {
    let server = start(Ack::default());
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 5, WAIT), b"hello");
    for _ in 0..3 {
        send(&mut c, b"ping");
        assert_eq!(read_n(&mut c, 8, WAIT), b"response");
    }
}

#[test]
fn echo_answers_ping_with_pingresponse() {
    let server = start(Echo::default());
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 5, WAIT), b"hello");
    send(&mut c, b"ping");
    assert_eq!(read_n(&mut c, 12, WAIT), b"pingresponse");
}

#[test]
fn lines_answers_whole_lines_and_refuses_long_ones() {
    let server = ServerHandle::start(Lines::with_max_line(16), Config::default()).unwrap();
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 6, WAIT), b"hello\n");
    send(&mut c, b"one\ntw");
    std::thread::sleep(Duration::from_millis(20));
    send(&mut c, b"o\n");
    assert_eq!(read_n(&mut c, 28, WAIT), b"oneresponse\ntworesponse\n");
    // Over the limit, followed by junk the server will never read: the lingering close
    // still lets the client read the error line.
    send(&mut c, &[b'x'; 40]);
    send(&mut c, &vec![b'j'; 256 * 1024]);
    let (got, eof) = read_to_eof(&mut c, WAIT);
    assert_eq!(got, b"error: line too long (limit 16 bytes)\n");
    assert!(eof);
}

#[test]
fn two_hundred_clients_at_once() {
    let server = start(Echo::default());
    let mut clients: Vec<TcpStream> = (0..200).map(|_| connect(server.addr())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(read_n(c, 5, WAIT), b"hello", "client {i}");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, format!("m{i}").as_bytes());
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let want = format!("m{i}response");
        assert_eq!(read_n(c, want.len(), WAIT), want.as_bytes(), "client {i}");
    }
}

#[test]
fn a_client_that_sends_and_closes_before_its_answer_does_not_hurt_the_next() {
    // The seed's server 4 dies with KeyError here.
    let server = start(Echo::default());
    for _ in 0..20 {
        let mut c = connect(server.addr());
        assert_eq!(read_n(&mut c, 5, WAIT), b"hello");
        send(&mut c, b"bye");
        drop(c);
    }
    let mut next = connect(server.addr());
    assert_eq!(read_n(&mut next, 5, WAIT), b"hello");
    send(&mut next, b"x");
    assert_eq!(read_n(&mut next, 9, WAIT), b"xresponse");
}

#[test]
fn a_half_closed_client_still_gets_its_answer() {
    let server = start(Echo::default());
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 5, WAIT), b"hello");
    send(&mut c, b"PING");
    c.shutdown(Shutdown::Write).unwrap();
    let (got, eof) = read_to_eof(&mut c, WAIT);
    assert_eq!(got, b"PINGresponse");
    assert!(eof);
}

#[test]
fn a_client_reset_mid_request_frees_its_state() {
    let (mut driver, addr) = local(Lines::default(), Config::default());
    let mut c = connect(addr);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 1));
    assert_eq!(read_n(&mut c, 6, WAIT), b"hello\n");
    send(&mut c, b"half a line, never finished");
    assert!(drive(&mut driver, WAIT, |d| d.stats().bytes_read > 0));
    assert_eq!(driver.service().tracked_connections(), 1);
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    assert!(
        drive(&mut driver, WAIT, |d| d.live_connections() == 0),
        "the reset connection is closed"
    );
    assert_eq!(
        driver.service().tracked_connections(),
        0,
        "its state is freed"
    );
    assert_eq!(driver.stats().resets, 1);
}

#[test]
fn a_client_that_never_reads_cannot_grow_server_memory_without_bound() {
    let config = Config::default();
    let high_water = config.out_high_water;
    let (mut driver, addr) = local(Echo::default(), config);
    let writer = std::thread::spawn(move || {
        let mut c = connect(addr);
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        let deadline = Instant::now() + Duration::from_secs(10);
        // Pipeline 32 MB and never read; the writes block once the server stops reading.
        c.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while sent < 32 << 20 && Instant::now() < deadline {
            match c.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        (c, sent)
    });
    let mut most = 0;
    let mut paused = false;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        driver.turn(Some(Duration::from_millis(5))).unwrap();
        while let Some(line) = driver.poll_log() {
            paused |= line.text.contains("pausing reads");
        }
        most = most.max(driver.pending_output());
    }
    let (_client, sent) = writer.join().unwrap();
    assert!(paused, "the server stopped reading the slow client");
    // One read's answer can land on top of the high-water mark, no more.
    let bound = high_water + driver.config().read_chunk + 64;
    assert!(
        most <= bound,
        "pending output peaked at {most}, bound {bound}"
    );
    assert!(
        sent < 32 << 20,
        "the client was held back ({sent} bytes sent)"
    );
    assert!(driver.stats().bytes_read < 32 << 20);
}

#[test]
fn past_max_conns_clients_are_refused_and_the_admitted_served() {
    let config = Config {
        max_conns: 10,
        ..Config::default()
    };
    let server = ServerHandle::start(Echo::default(), config).unwrap();
    let mut clients: Vec<TcpStream> = (0..50).map(|_| connect(server.addr())).collect();
    let mut served = 0;
    let mut refused = 0;
    for c in &mut clients {
        let first = read_n(c, 5, WAIT);
        if first == b"hello" {
            served += 1;
        } else {
            let (rest, eof) = read_to_eof(c, WAIT);
            let mut all = first;
            all.extend(rest);
            assert_eq!(all, b"error: max number of clients reached\n");
            assert!(eof);
            refused += 1;
        }
    }
    assert_eq!((served, refused), (10, 40));
    for c in &mut clients {
        send(c, b"x");
    }
    let answered = clients
        .iter_mut()
        .map(|c| read_n(c, 9, Duration::from_millis(500)))
        .filter(|got| got == b"xresponse")
        .count();
    assert_eq!(answered, 10, "the admitted clients are still served");
}

#[test]
fn the_python_seed_server_4_crashes_when_a_client_leaves_early() {
    let mut peer = common::python_seed(4);
    let mut c = connect(peer.addr);
    assert_eq!(read_n(&mut c, 5, WAIT), b"hello");
    let sock = socket2::SockRef::from(&c);
    let _ = sock.send_with_flags(b"bye", libc::MSG_MORE);
    drop(c);
    assert!(
        common::eventually(WAIT, || peer.has_exited()),
        "seed server 4 exits with KeyError"
    );
    assert!(TcpStream::connect_timeout(&peer.addr, Duration::from_secs(1)).is_err());
}
