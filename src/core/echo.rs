//! `echo`, seed server 4 fixed ("读写分离之服务端根据客户端的输入返回对应的信息"): greet, then
//! answer every chunk with the chunk followed by `response`.
//!
//! The seed keeps a per-connection list of messages and answers with `list.pop()`, the newest
//! first, and crashes with `KeyError` when a client closes while an answer is queued. Here the
//! queue is the driver's output buffer: answers leave in the order the chunks came (FIFO), and
//! a closed connection's queue is freed with it. [`super::seed4`] keeps the bugs for study.

use super::{CloseReason, ConnId, GREETING, Outbox, Output, RESPONSE, Service};
use crate::time::Instant;

/// Greets, then echoes each chunk with `response` appended.
#[derive(Debug, Default)]
pub struct Echo {
    out: Outbox,
}

impl Service for Echo {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.out.send(conn, GREETING);
    }
    fn handle_received(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        self.out.send_with(conn, |buf| {
            buf.extend_from_slice(bytes);
            buf.extend_from_slice(RESPONSE);
        });
    }
    fn handle_closed(&mut self, _now: Instant, _conn: ConnId, _reason: CloseReason) {}
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn tracked_connections(&self) -> usize {
        0
    }
}
