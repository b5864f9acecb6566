//! `greet`, seed server 1 ("监听客户端连接"): the seed accepts, sends `hello` and keeps the
//! socket forever. Ours sends `hello` and closes once it is flushed, so no client is left
//! hanging.

use super::{CloseReason, ConnId, GREETING, Outbox, Output, Service};
use crate::time::Instant;

/// Sends the greeting and closes.
#[derive(Debug, Default)]
pub struct Greet {
    out: Outbox,
}

impl Service for Greet {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.out.send(conn, GREETING);
        self.out.close(conn);
    }
    fn handle_received(&mut self, _now: Instant, _conn: ConnId, _bytes: &[u8]) {}
    fn handle_closed(&mut self, _now: Instant, _conn: ConnId, _reason: CloseReason) {}
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn tracked_connections(&self) -> usize {
        0
    }
}
