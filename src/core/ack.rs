//! `ack`, seed server 3 ("读写分离"): greet, then answer every chunk received with
//! `response`. The seed queues the socket in `outputs` and writes on the next `select`; the
//! driver does the same buffering for every service, so this core only says what to send.

use super::{CloseReason, ConnId, GREETING, Outbox, Output, RESPONSE, Service};
use crate::time::Instant;

/// Greets, then answers each chunk with `response`.
#[derive(Debug, Default)]
pub struct Ack {
    out: Outbox,
}

impl Service for Ack {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.out.send(conn, GREETING);
    }
    fn handle_received(&mut self, _now: Instant, conn: ConnId, _bytes: &[u8]) {
        self.out.send(conn, RESPONSE);
    }
    fn handle_closed(&mut self, _now: Instant, _conn: ConnId, _reason: CloseReason) {}
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn tracked_connections(&self) -> usize {
        0
    }
}
