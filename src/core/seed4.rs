//! `seed4-literal`: a bug exhibit. Seed server 4 ("读写分离之服务端根据客户端的输入返回对应的
//! 信息") ported with its bugs kept, so the fuzzer has something real to find. Never use it as
//! a server.
//!
//! The seed's loop reads from every readable socket first, appending each `recv(1024)` to
//! `messages[conn]` and `conn` to `outputs`; then, for every writable socket in `outputs`, it
//! answers `messages[conn].pop()` + `response`. That gives four bugs, all kept here:
//!
//! - **LIFO**: `pop()` takes the newest message, so two chunks read in one round are answered
//!   newest first; the older one waits for the next round.
//! - **Chunk-as-message**: a "message" is whatever one `recv` returned.
//! - **Crash on close**: a client that closes (or resets) with an answer queued has its
//!   `messages` entry deleted while it stays in `outputs`; the write phase then raises
//!   `KeyError` and the whole server dies. Here that is a panic inside the service.
//! - One client's reset takes every other client down with it, for the same reason.
//!
//! The write phase runs from [`Service::handle_timeout`] with a deadline of "now", which the
//! driver fires after it has handled every event of the current poll: the seed's read phase
//! followed by its write phase.

use std::collections::BTreeMap;

use super::{CloseReason, ConnId, GREETING, Outbox, Output, RESPONSE, Service};
use crate::time::Instant;

/// The seed's server 4, bugs included.
#[derive(Debug, Default)]
pub struct Seed4Literal {
    /// `messages`: per connection, a stack of chunks.
    messages: BTreeMap<ConnId, Vec<Vec<u8>>>,
    /// `outputs`: connections with an answer due, in the order they were appended.
    outputs: Vec<ConnId>,
    write_phase_due: Option<Instant>,
    out: Outbox,
}

impl Service for Seed4Literal {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.messages.insert(conn, Vec::new());
        self.out.send(conn, GREETING);
    }

    fn handle_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        // The seed reads at most 1024 bytes per recv; each read is one message.
        for message in bytes.chunks(1024) {
            self.outputs.push(conn);
            if let Some(stack) = self.messages.get_mut(&conn) {
                stack.push(message.to_vec());
            }
        }
        self.write_phase_due = Some(now);
    }

    fn handle_peer_closed(&mut self, now: Instant, conn: ConnId) {
        // `if not recv_data: raise Exception(...)` → `inputs.remove(r); del messages[r]`,
        // while `r` may still be in `outputs`.
        self.messages.remove(&conn);
        self.write_phase_due = Some(now);
    }

    fn handle_closed(&mut self, now: Instant, conn: ConnId, _reason: CloseReason) {
        // A reset raises from `recv` and lands in the same `except` branch.
        self.messages.remove(&conn);
        if self.outputs.contains(&conn) {
            self.write_phase_due = Some(now);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.write_phase_due = None;
        // `select` reports each socket in `outputs` once per round, however often it was
        // appended; each one answered is removed once (`outputs.remove(w)`).
        let mut round: Vec<ConnId> = Vec::new();
        for conn in &self.outputs {
            if !round.contains(conn) {
                round.push(*conn);
            }
        }
        for conn in round {
            let at = self.outputs.iter().position(|c| *c == conn);
            if let Some(at) = at {
                self.outputs.remove(at);
            }
            let Some(stack) = self.messages.get_mut(&conn) else {
                panic!("KeyError: {conn} (seed server 4 writes to a client that already left)");
            };
            if let Some(message) = stack.pop() {
                self.out.send_with(conn, |buf| {
                    buf.extend_from_slice(&message);
                    buf.extend_from_slice(RESPONSE);
                });
            }
        }
        if !self.outputs.is_empty() {
            self.write_phase_due = Some(now);
        }
    }

    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.write_phase_due
    }

    fn tracked_connections(&self) -> usize {
        self.messages.len()
    }
}
