//! `lines`: a line-framed variant of the echo service whose answers do not depend on how TCP
//! splits the stream, so its reference model is exact under any segmentation.
//!
//! Greets with `hello\n`; answers each `\n`-terminated line `L` with `Lresponse\n`. A line
//! longer than the limit gets `error: line too long (limit N bytes)\n` and the connection is
//! closed (the driver's lingering close makes sure the client can read that line). Bytes after
//! the last newline when the peer closes are an incomplete request and get no answer.
//!
//! A request (line) that stays incomplete past the request deadline gets
//! `error: request timed out\n` and a close: a slowloris client that trickles one byte every
//! few seconds cannot hold a connection forever. The deadline is a timer of the core, so the
//! simulator tests it in virtual time.
//!
//! # Cost per connection
//!
//! State lives in a slab indexed by [`ConnId::slot`], and only while a connection has a line
//! in progress or is being closed: an idle connection costs one empty slot (8 bytes), a
//! request answered within one read costs no allocation and no lookup beyond that slot.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{CloseReason, ConnId, Outbox, Output, RESPONSE, Service};
use crate::time::Instant;

/// Longest line accepted, newline excluded. 64 KiB is Redis's `PROTO_INLINE_MAX_SIZE`: far
/// above any line a person types, small enough that a hostile client cannot make a
/// connection's buffer grow without bound.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// How long a line may stay incomplete. 10 s is far longer than any honest client needs to
/// send one line, and short enough that trickling bytes cannot hoard connections.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The greeting.
pub const GREETING: &[u8] = b"hello\n";

/// The line sent before closing a connection whose request timed out.
pub const TIMED_OUT: &[u8] = b"error: request timed out\n";

/// What the service keeps for a connection with a line in progress or a close under way.
#[derive(Debug)]
struct Pending {
    conn: ConnId,
    line: Vec<u8>,
    /// When the line in progress must be complete.
    deadline: Option<Instant>,
    /// The connection broke a limit and is being closed; its input is ignored.
    closing: bool,
}

/// The line-framed echo service.
#[derive(Debug)]
pub struct Lines {
    max_line: usize,
    request_timeout: Option<Duration>,
    /// Per slot: the connection's pending state, if it has any.
    slots: Vec<Option<Box<Pending>>>,
    tracked: usize,
    /// Deadlines of incomplete lines, ordered by time.
    deadlines: BTreeSet<(Instant, ConnId)>,
    out: Outbox,
}

impl Default for Lines {
    fn default() -> Self {
        Lines::with_max_line(DEFAULT_MAX_LINE)
    }
}

impl Lines {
    /// A `lines` service that refuses lines longer than `max_line` bytes.
    pub fn with_max_line(max_line: usize) -> Self {
        Lines::with_limits(max_line, Some(DEFAULT_REQUEST_TIMEOUT))
    }

    /// A `lines` service with both limits; `request_timeout` `None` waits forever.
    pub fn with_limits(max_line: usize, request_timeout: Option<Duration>) -> Self {
        Lines {
            max_line,
            request_timeout,
            slots: Vec::new(),
            tracked: 0,
            deadlines: BTreeSet::new(),
            out: Outbox::default(),
        }
    }

    /// The error line sent before closing a connection whose line is too long.
    pub fn too_long_message(max_line: usize) -> Vec<u8> {
        format!("error: line too long (limit {max_line} bytes)\n").into_bytes()
    }

    /// The pending state of `conn`, if it has any.
    fn pending(&mut self, conn: ConnId) -> Option<&mut Pending> {
        self.slots
            .get_mut(conn.slot())
            .and_then(|s| s.as_deref_mut())
            .filter(|p| p.conn == conn)
    }

    /// The pending state of `conn`, made if it has none.
    fn pending_or_new(&mut self, conn: ConnId) -> &mut Pending {
        let slot = conn.slot();
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        let entry = &mut self.slots[slot];
        if entry.as_ref().is_none_or(|p| p.conn != conn) {
            if entry.is_none() {
                self.tracked += 1;
            }
            *entry = Some(Box::new(Pending {
                conn,
                line: Vec::new(),
                deadline: None,
                closing: false,
            }));
        }
        entry.as_deref_mut().expect("just filled")
    }

    /// Frees `conn`'s state and its deadline.
    fn forget(&mut self, conn: ConnId) {
        let Some(entry) = self.slots.get_mut(conn.slot()) else {
            return;
        };
        if entry.as_ref().is_some_and(|p| p.conn == conn) {
            if let Some(p) = entry.take() {
                self.tracked -= 1;
                if let Some(at) = p.deadline {
                    self.deadlines.remove(&(at, conn));
                }
            }
        }
    }

    /// Sends `message`, closes, and ignores the connection's input from now on.
    fn refuse(&mut self, conn: ConnId, message: &[u8]) {
        self.forget(conn);
        self.pending_or_new(conn).closing = true;
        self.out.send(conn, message);
        self.out.close(conn);
    }
}

impl Service for Lines {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.out.send(conn, GREETING);
    }

    fn handle_received(&mut self, now: Instant, conn: ConnId, mut bytes: &[u8]) {
        if self.pending(conn).is_some_and(|p| p.closing) {
            return;
        }
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let piece = &bytes[..newline.unwrap_or(bytes.len())];
            let started = self.pending(conn).map_or(0, |p| p.line.len());
            if started + piece.len() > self.max_line {
                let message = Lines::too_long_message(self.max_line);
                self.refuse(conn, &message);
                return;
            }
            let Some(at) = newline else {
                let timeout = self.request_timeout;
                let pending = self.pending_or_new(conn);
                pending.line.extend_from_slice(piece);
                if let (Some(timeout), None) = (timeout, pending.deadline) {
                    let deadline = now + timeout;
                    pending.deadline = Some(deadline);
                    self.deadlines.insert((deadline, conn));
                }
                return;
            };
            if started > 0 {
                let line = self
                    .pending(conn)
                    .map(|p| std::mem::take(&mut p.line))
                    .unwrap_or_default();
                self.forget(conn);
                self.out.send_with(conn, |buf| {
                    buf.extend_from_slice(&line);
                    buf.extend_from_slice(piece);
                    buf.extend_from_slice(RESPONSE);
                    buf.push(b'\n');
                });
            } else {
                self.out.send_with(conn, |buf| {
                    buf.extend_from_slice(piece);
                    buf.extend_from_slice(RESPONSE);
                    buf.push(b'\n');
                });
            }
            bytes = &bytes[at + 1..];
        }
    }

    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        // An unterminated last line is an incomplete request: no answer.
        if self.pending(conn).is_some_and(|p| !p.closing) {
            self.forget(conn);
        }
    }

    fn handle_closed(&mut self, _now: Instant, conn: ConnId, _reason: CloseReason) {
        self.forget(conn);
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, conn)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.out
                .log(conn, "request incomplete past its deadline: closing");
            self.refuse(conn, TIMED_OUT);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }

    fn tracked_connections(&self) -> usize {
        self.tracked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::drain_sent;

    fn run(service: &mut Lines, chunks: &[&[u8]]) -> Vec<u8> {
        let conn = ConnId::new(1, 0);
        service.handle_connected(Instant::ZERO, conn);
        for chunk in chunks {
            service.handle_received(Instant::ZERO, conn, chunk);
        }
        drain_sent(service, conn)
    }

    #[test]
    fn answers_do_not_depend_on_segmentation() {
        let whole = run(&mut Lines::default(), &[b"ab\ncd\n"]);
        let split = run(&mut Lines::default(), &[b"a", b"b\nc", b"d", b"\n"]);
        assert_eq!(whole, b"hello\nabresponse\ncdresponse\n");
        assert_eq!(split, whole);
    }

    #[test]
    fn line_at_the_limit_passes_and_one_past_it_is_refused() {
        let ok = run(&mut Lines::with_max_line(4), &[b"abcd\n"]);
        assert_eq!(ok, b"hello\nabcdresponse\n");
        let mut service = Lines::with_max_line(4);
        let refused = run(&mut service, &[b"ab", b"cde\n"]);
        assert_eq!(refused, b"hello\nerror: line too long (limit 4 bytes)\n");
        assert_eq!(service.tracked_connections(), 1, "kept while closing");
        service.handle_closed(Instant::ZERO, ConnId::new(1, 0), CloseReason::Requested);
        assert_eq!(service.tracked_connections(), 0);
    }

    #[test]
    fn state_is_kept_only_for_lines_in_progress() {
        let mut service = Lines::default();
        let conn = ConnId::new(3, 1);
        service.handle_connected(Instant::ZERO, conn);
        service.handle_received(Instant::ZERO, conn, b"abc");
        assert_eq!(service.tracked_connections(), 1);
        service.handle_received(Instant::ZERO, conn, b"\n");
        assert_eq!(service.tracked_connections(), 0);
        // A stale id for the same slot does not touch the live connection's state.
        service.handle_received(Instant::ZERO, conn, b"x");
        service.handle_closed(Instant::ZERO, ConnId::new(3, 0), CloseReason::Reset);
        assert_eq!(service.tracked_connections(), 1);
    }

    #[test]
    fn an_incomplete_line_times_out_with_an_error() {
        let mut service = Lines::with_limits(64, Some(Duration::from_secs(1)));
        let conn = ConnId::new(0, 0);
        service.handle_connected(Instant::ZERO, conn);
        service.handle_received(Instant::ZERO, conn, b"slow");
        assert_eq!(
            service.poll_timeout(),
            Some(Instant::from_start(Duration::from_secs(1)))
        );
        service.handle_timeout(Instant::from_start(Duration::from_secs(1)));
        let sent = drain_sent(&mut service, conn);
        assert_eq!(sent, b"hello\nerror: request timed out\n");
        assert_eq!(service.poll_timeout(), None);
    }
}
