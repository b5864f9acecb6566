//! `sink`, seed server 2 ("监听客户端连接及接受客户端发送的数据"): greet, then record what each
//! client sends. The seed never checks for an empty `recv`, so a client that closes makes its
//! socket readable forever and the loop spins; ours closes on EOF.

use super::{CloseReason, ConnId, GREETING, Outbox, Output, Service};
use crate::text::quote;
use crate::time::Instant;

/// Greets, logs every chunk received, closes on EOF.
#[derive(Debug, Default)]
pub struct Sink {
    out: Outbox,
}

impl Service for Sink {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.out.send(conn, GREETING);
    }
    fn handle_received(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        self.out.log(conn, format!("received {}", quote(bytes)));
    }
    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        self.out.close(conn);
    }
    fn handle_closed(&mut self, _now: Instant, _conn: ConnId, _reason: CloseReason) {}
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn tracked_connections(&self) -> usize {
        0
    }
}
