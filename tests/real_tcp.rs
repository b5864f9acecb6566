//! The real server on loopback: every service, many clients, and clients that misbehave.
//! Every socket has timeouts and every loop a bound in count and time.

mod common;

use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::{connect, read_n, read_to_eof, send};
use muxsim::core::echo::Echo;
use muxsim::core::lines::Lines;
use muxsim::core::{Service, ack::Ack, greet::Greet, sink::Sink};
use muxsim::driver::Config;
use muxsim::tcp::ServerHandle;

const WAIT: Duration = Duration::from_secs(5);

fn start<S: Service + Send + 'static>(service: S) -> ServerHandle {
    ServerHandle::start(service, Config::default()).expect("server starts")
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
