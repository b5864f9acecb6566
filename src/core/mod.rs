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
//! # Output without allocation
//!
//! [`Service::poll_output`] appends the bytes of an [`Output::Send`] to a buffer the driver
//! lends, as quinn-proto's `poll_transmit` does; the driver writes them straight from there and
//! keeps a copy only of what the socket did not take. [`Outbox`] is the usual way to queue
//! outputs: it keeps one byte buffer for all of them and reuses it, so answering costs no
//! allocation once it has grown to the size of a burst.
//!
//! # Panics
//!
//! A panic inside a service is a bug in that service. The simulator catches it and reports it
//! as the verdict of the run; the real server stops, as any server would.

#[doc(hidden)]
pub mod ack;
#[doc(hidden)]
pub mod echo;
#[doc(hidden)]
pub mod greet;
#[doc(hidden)]
pub mod lines;
#[doc(hidden)]
pub mod seed4;
#[doc(hidden)]
pub mod sink;

pub use ack::Ack;
pub use echo::Echo;
pub use greet::Greet;
pub use lines::Lines;
pub use seed4::Seed4Literal;
pub use sink::Sink;

use std::collections::VecDeque;
use std::fmt;

use crate::time::Instant;

/// Identifies one connection for its whole life: a slot index and the slot's generation.
///
/// Never reused while the process runs: the driver bumps a slot's generation whenever the
/// slot is freed, so an id names exactly one connection. Slots are small and dense (a freed
/// slot is reused first), so a service may keep per-connection state in a `Vec` indexed by
/// [`ConnId::slot`] and check [`ConnId::generation`], instead of an ordered map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u64);

impl ConnId {
    /// The id of the connection in `slot` at `generation`.
    pub const fn new(slot: u32, generation: u32) -> Self {
        ConnId(((generation as u64) << 32) | slot as u64)
    }

    /// The slot: small and dense, reused after the connection closes.
    pub const fn slot(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    /// The slot's generation: how many connections used the slot before this one.
    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The id as one number (what the driver registers as the socket's token).
    pub const fn to_raw(self) -> u64 {
        self.0
    }

    /// The id from [`ConnId::to_raw`].
    pub const fn from_raw(raw: u64) -> Self {
        ConnId(raw)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn {}.{}", self.slot(), self.generation())
    }
}

/// Why a connection went away, as told to [`Service::handle_closed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub enum Output {
    /// Queue the bytes [`Service::poll_output`] appended to its buffer for this connection,
    /// after everything queued before.
    Send {
        /// The connection.
        conn: ConnId,
    },
    /// Flush what is queued for the connection, then close it.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// A line for the operator's log (the CLI prints it, the simulator traces it).
    Log {
        /// The connection it is about.
        conn: ConnId,
        /// The text.
        line: String,
    },
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
    /// The next thing the service wants done, if any. For [`Output::Send`], the bytes to
    /// send are appended to `buf` (which may already hold bytes: append, never clear).
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output>;
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
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        (**self).poll_output(buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn tracked_connections(&self) -> usize {
        (**self).tracked_connections()
    }
}

#[derive(Debug)]
enum Queued {
    Send { conn: ConnId, len: usize },
    Close { conn: ConnId },
    Log { conn: ConnId, line: String },
}

/// A queue of outputs, the usual way a service buffers what `poll_output` hands out.
///
/// Bytes of every queued send live in one buffer that is reused once the queue is drained,
/// and consecutive sends to one connection leave as one [`Output::Send`]: sixteen pipelined
/// answers become one write.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Queued>,
    bytes: Vec<u8>,
    taken: usize,
}

impl Outbox {
    /// Queues `bytes` for `conn`.
    pub fn send(&mut self, conn: ConnId, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        self.send_with(conn, |buf| buf.extend_from_slice(bytes));
    }

    /// Queues for `conn` whatever `write` appends to the buffer it is given: an answer built
    /// in place, with no temporary buffer.
    pub fn send_with(&mut self, conn: ConnId, write: impl FnOnce(&mut Vec<u8>)) {
        let before = self.bytes.len();
        write(&mut self.bytes);
        let len = self.bytes.len() - before;
        if len == 0 {
            return;
        }
        if let Some(Queued::Send { conn: last, len: n }) = self.queue.back_mut()
            && *last == conn
        {
            *n += len;
            return;
        }
        self.queue.push_back(Queued::Send { conn, len });
    }

    /// Queues a close of `conn`, after what is queued for it.
    pub fn close(&mut self, conn: ConnId) {
        self.queue.push_back(Queued::Close { conn });
    }

    /// Queues a log line about `conn`.
    pub fn log(&mut self, conn: ConnId, line: impl Into<String>) {
        self.queue.push_back(Queued::Log {
            conn,
            line: line.into(),
        });
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next output, appending a send's bytes to `buf`: what
    /// [`Service::poll_output`] usually returns.
    pub fn poll(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        let next = self.queue.pop_front()?;
        let output = match next {
            Queued::Send { conn, len } => {
                buf.extend_from_slice(&self.bytes[self.taken..self.taken + len]);
                self.taken += len;
                Output::Send { conn }
            }
            Queued::Close { conn } => Output::Close { conn },
            Queued::Log { conn, line } => Output::Log { conn, line },
        };
        if self.queue.is_empty() {
            self.bytes.clear();
            self.taken = 0;
        }
        Some(output)
    }
}

/// The greeting every seed server sends first.
pub const GREETING: &[u8] = b"hello";
/// The marker the seed's servers 3 and 4 answer with.
pub const RESPONSE: &[u8] = b"response";

/// Drains `service`'s outputs into `(output, bytes)` pairs: a helper for unit tests of
/// services, which see each send's bytes beside it.
pub fn drain(service: &mut dyn Service) -> Vec<(Output, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(output) = service.poll_output(&mut buf) {
        out.push((output, std::mem::take(&mut buf)));
    }
    out
}

/// Everything `service` sent to `conn`, drained: a helper for unit tests of services.
pub fn drain_sent(service: &mut dyn Service, conn: ConnId) -> Vec<u8> {
    drain(service)
        .into_iter()
        .filter(|(o, _)| matches!(o, Output::Send { conn: c } if *c == conn))
        .flat_map(|(_, bytes)| bytes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_ids_keep_slot_and_generation() {
        let id = ConnId::new(7, 3);
        assert_eq!((id.slot(), id.generation()), (7, 3));
        assert_eq!(ConnId::from_raw(id.to_raw()), id);
        assert_eq!(id.to_string(), "conn 7.3");
    }

    #[test]
    fn the_outbox_coalesces_sends_and_reuses_its_buffer() {
        let (a, b) = (ConnId::new(0, 0), ConnId::new(1, 0));
        let mut out = Outbox::default();
        out.send(a, b"one");
        out.send(a, b"two");
        out.send(b, b"x");
        out.send(a, b"");
        out.close(a);
        let mut buf = Vec::new();
        assert_eq!(out.poll(&mut buf), Some(Output::Send { conn: a }));
        assert_eq!(buf, b"onetwo");
        buf.clear();
        assert_eq!(out.poll(&mut buf), Some(Output::Send { conn: b }));
        assert_eq!(buf, b"x");
        assert_eq!(out.poll(&mut buf), Some(Output::Close { conn: a }));
        assert_eq!(out.poll(&mut buf), None);
        let capacity = out.bytes.capacity();
        out.send(a, b"again");
        assert_eq!(out.bytes.capacity(), capacity, "the buffer is reused");
    }
}
