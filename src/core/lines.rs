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

use std::collections::{BTreeMap, BTreeSet};
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

/// The line sent before closing a connection whose request timed out.
pub const TIMED_OUT: &[u8] = b"error: request timed out\n";

/// The line-framed echo service.
#[derive(Debug)]
pub struct Lines {
    max_line: usize,
    request_timeout: Option<Duration>,
    /// When each connection's incomplete line must be complete, and the same ordered by time.
    deadline_of: BTreeMap<ConnId, Instant>,
    deadlines: BTreeSet<(Instant, ConnId)>,
    /// Bytes of the line in progress, per connection; absent until a connection sends.
    partial: BTreeMap<ConnId, Vec<u8>>,
    /// Connections that broke the limit and are being closed; their input is ignored.
    closing: BTreeMap<ConnId, ()>,
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
            deadline_of: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            partial: BTreeMap::new(),
            closing: BTreeMap::new(),
            out: Outbox::default(),
        }
    }

    fn clear_deadline(&mut self, conn: ConnId) {
        if let Some(at) = self.deadline_of.remove(&conn) {
            self.deadlines.remove(&(at, conn));
        }
    }

    /// Starts the clock for a request that has begun, unless it is already running.
    fn start_deadline(&mut self, now: Instant, conn: ConnId) {
        if let Some(timeout) = self.request_timeout
            && !self.deadline_of.contains_key(&conn)
        {
            let at = now + timeout;
            self.deadline_of.insert(conn, at);
            self.deadlines.insert((at, conn));
        }
    }

    /// The error line sent before closing a connection whose line is too long.
    pub fn too_long_message(max_line: usize) -> Vec<u8> {
        format!("error: line too long (limit {max_line} bytes)\n").into_bytes()
    }
}

impl Service for Lines {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.out.send(conn, &b"hello\n"[..]);
    }

    fn handle_received(&mut self, now: Instant, conn: ConnId, mut bytes: &[u8]) {
        if self.closing.contains_key(&conn) {
            return;
        }
        // Every complete line of this chunk is answered in one buffer: pipelined requests
        // cost one allocation and one write, not one each.
        let mut answers: Vec<u8> = Vec::new();
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let piece = &bytes[..newline.unwrap_or(bytes.len())];
            let started = self.partial.get(&conn).map_or(0, Vec::len);
            if started + piece.len() > self.max_line {
                self.partial.remove(&conn);
                self.closing.insert(conn, ());
                self.clear_deadline(conn);
                if !answers.is_empty() {
                    self.out.send(conn, std::mem::take(&mut answers));
                }
                self.out.send(conn, Lines::too_long_message(self.max_line));
                self.out.close(conn);
                return;
            }
            let Some(at) = newline else {
                self.partial
                    .entry(conn)
                    .or_default()
                    .extend_from_slice(piece);
                self.start_deadline(now, conn);
                break;
            };
            if answers.is_empty() {
                answers.reserve(started + piece.len() + RESPONSE.len() + 1);
            }
            if started > 0 {
                if let Some(line) = self.partial.remove(&conn) {
                    answers.extend_from_slice(&line);
                }
                self.clear_deadline(conn);
            }
            answers.extend_from_slice(piece);
            answers.extend_from_slice(RESPONSE);
            answers.push(b'\n');
            bytes = &bytes[at + 1..];
        }
        if !answers.is_empty() {
            self.out.send(conn, answers);
        }
    }

    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        self.partial.remove(&conn);
        self.clear_deadline(conn);
    }

    fn handle_closed(&mut self, _now: Instant, conn: ConnId, _reason: CloseReason) {
        self.partial.remove(&conn);
        self.closing.remove(&conn);
        self.clear_deadline(conn);
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, conn)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.clear_deadline(conn);
            self.partial.remove(&conn);
            self.closing.insert(conn, ());
            self.out.log(
                conn,
                "request incomplete past its deadline: closing".to_string(),
            );
            self.out.send(conn, TIMED_OUT);
            self.out.close(conn);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    fn tracked_connections(&self) -> usize {
        // A connection is in at most one of the maps: `closing` entries drop their partial line.
        self.partial.len() + self.closing.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(service: &mut Lines, chunks: &[&[u8]]) -> Vec<u8> {
        let conn = ConnId(1);
        service.handle_connected(Instant::ZERO, conn);
        for chunk in chunks {
            service.handle_received(Instant::ZERO, conn, chunk);
        }
        let mut got = Vec::new();
        while let Some(out) = service.poll_output() {
            if let Output::Send { bytes, .. } = out {
                got.extend(bytes);
            }
        }
        got
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
    }
}
