//! The sans-IO service core: protocol logic with no sockets, clocks, randomness or threads.
//!
//! A [`Service`] is a state machine over connections. The driver feeds it inputs with the
//! `handle_*` methods, always passing the current time as `now`, and pulls what it wants done
//! with [`Service::poll_output`] and [`Service::poll_timeout`]. Because a service never touches
//! the outside world, the same value runs unchanged over real sockets and inside the simulator,
//! and one seed decides everything it sees.
//!
//! # Call order
//!
//! 1. [`Service::handle_connected`] once per connection, before anything else about it.
//! 2. Any number of [`Service::handle_received`] calls, each with a non-empty chunk, in stream
//!    order. Chunk boundaries are wherever the network split the stream: a service must not
//!    give them meaning unless it ports a server that does (see [`seed4`]).
//! 3. At most one [`Service::handle_peer_closed`]: the peer shut down its write side. The
//!    connection can still be written to; the driver flushes what the service sends and then
//!    closes the connection.
//! 4. Exactly one [`Service::handle_closed`]: the connection is gone and its state must be
//!    freed. Outputs naming it afterwards are dropped and counted as a bug in the service.
//!
//! [`Service::handle_timeout`] is called once the time returned by
//! [`Service::poll_timeout`] has passed. After every `handle_*` call the driver drains
//! [`Service::poll_output`] until it returns `None`, then reads [`Service::poll_timeout`].
//!
//! # Panics
//!
//! A panic inside a service is a bug in that service. The simulator catches it and reports it
//! as the verdict of the run; the real server stops, as any server would.

pub mod ack;
pub mod echo;
pub mod greet;
pub mod lines;
pub mod seed4;
pub mod sink;

use std::collections::VecDeque;
use std::fmt;

use crate::time::Instant;

/// Identifies one connection for its whole life. Never reused while the process runs: the
/// driver tags each slot with a generation, so an id names exactly one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn {}.{}", self.0 & 0xffff_ffff, self.0 >> 32)
    }
}

/// Why a connection went away, as told to [`Service::handle_closed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side and everything owed was flushed.
    Finished,
    /// The service asked for the close and its output was flushed.
    Requested,
    /// The peer reset the connection, or a read or write failed.
    Reset,
    /// The driver cut the connection: an output limit or an idle deadline was reached.
    Limit,
}

/// What a service asks the driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Queue these bytes for the connection, after everything queued before.
    Send { conn: ConnId, bytes: Vec<u8> },
    /// Flush what is queued for the connection, then close it.
    Close { conn: ConnId },
    /// A line for the operator's log (the CLI prints it, the simulator traces it).
    Log { conn: ConnId, line: String },
}

/// A sans-IO protocol state machine. See the module docs for the call order.
pub trait Service {
    /// A connection was accepted.
    fn handle_connected(&mut self, now: Instant, conn: ConnId);
    /// Bytes arrived on a connection; `bytes` is never empty.
    fn handle_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]);
    /// The peer shut down its write side (a read returned 0). The connection stays writable.
    fn handle_peer_closed(&mut self, now: Instant, conn: ConnId) {
        let _ = (now, conn);
    }
    /// The connection is gone; free everything kept for it.
    fn handle_closed(&mut self, now: Instant, conn: ConnId, reason: CloseReason);
    /// The deadline from [`Service::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }
    /// The next thing the service wants done, if any.
    fn poll_output(&mut self) -> Option<Output>;
    /// When the service next wants [`Service::handle_timeout`] called.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// How many connections the service still keeps state for; checked against the driver's
    /// count to find state that outlived its connection.
    fn tracked_connections(&self) -> usize;
}

impl<S: Service + ?Sized> Service for Box<S> {
    fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        (**self).handle_connected(now, conn)
    }
    fn handle_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        (**self).handle_received(now, conn, bytes)
    }
    fn handle_peer_closed(&mut self, now: Instant, conn: ConnId) {
        (**self).handle_peer_closed(now, conn)
    }
    fn handle_closed(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        (**self).handle_closed(now, conn, reason)
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now)
    }
    fn poll_output(&mut self) -> Option<Output> {
        (**self).poll_output()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn tracked_connections(&self) -> usize {
        (**self).tracked_connections()
    }
}

/// A queue of outputs, the usual way a service buffers what `poll_output` hands out.
#[derive(Debug, Default)]
pub struct Outbox(VecDeque<Output>);

impl Outbox {
    pub fn send(&mut self, conn: ConnId, bytes: impl Into<Vec<u8>>) {
        self.0.push_back(Output::Send {
            conn,
            bytes: bytes.into(),
        });
    }
    pub fn close(&mut self, conn: ConnId) {
        self.0.push_back(Output::Close { conn });
    }
    pub fn log(&mut self, conn: ConnId, line: String) {
        self.0.push_back(Output::Log { conn, line });
    }
    pub fn pop(&mut self) -> Option<Output> {
        self.0.pop_front()
    }
}

/// The greeting every seed server sends first.
pub const GREETING: &[u8] = b"hello";
/// The marker the seed's servers 3 and 4 answer with.
pub const RESPONSE: &[u8] = b"response";

/// A service known to the CLI by name.
pub struct Catalog {
    pub name: &'static str,
    pub about: &'static str,
    pub make: fn() -> Box<dyn Service + Send>,
    /// Whether the service is a deliberate bug exhibit rather than a correct server.
    pub is_exhibit: bool,
}

/// Every built-in service, in the order `muxsim services` lists them.
pub const CATALOG: &[Catalog] = &[
    Catalog {
        name: "greet",
        about: "seed server 1: send \"hello\" on connect, then close once it is flushed",
        make: || Box::new(greet::Greet::default()),
        is_exhibit: false,
    },
    Catalog {
        name: "sink",
        about: "seed server 2: greet, log what each client sends, close on EOF",
        make: || Box::new(sink::Sink::default()),
        is_exhibit: false,
    },
    Catalog {
        name: "ack",
        about: "seed server 3: greet, answer each received chunk with \"response\"",
        make: || Box::new(ack::Ack::default()),
        is_exhibit: false,
    },
    Catalog {
        name: "echo",
        about: "seed server 4, fixed: greet, answer each chunk with chunk + \"response\", in order",
        make: || Box::new(echo::Echo::default()),
        is_exhibit: false,
    },
    Catalog {
        name: "lines",
        about: "line-framed: greet \"hello\\n\", answer each line L with \"Lresponse\\n\"",
        make: || Box::new(lines::Lines::default()),
        is_exhibit: false,
    },
    Catalog {
        name: "seed4-literal",
        about: "BUG EXHIBIT: seed server 4 ported with its bugs (LIFO answers, crash on close)",
        make: || Box::new(seed4::Seed4Literal::default()),
        is_exhibit: true,
    },
];

/// Looks a built-in service up by name.
pub fn lookup(name: &str) -> Option<&'static Catalog> {
    CATALOG.iter().find(|c| c.name == name)
}

/// The names of every built-in service, for error messages.
pub fn names() -> String {
    CATALOG
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}
