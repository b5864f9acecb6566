//! A command whose one service is fixed once per process: it greets with a number drawn when
//! the process starts. Two runs in one process agree; two processes do not. The tests of
//! `sim --check-determinism --fresh-process` run it.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::{Instant, Registry, ServiceDescriptor};

/// Drawn once per process from the standard library's per-process hash keys.
fn process_number() -> u64 {
    static NUMBER: OnceLock<u64> = OnceLock::new();
    *NUMBER.get_or_init(|| RandomState::new().hash_one(0u8) % 1_000_000_000)
}

#[derive(Default)]
struct Greeter {
    open: usize,
    out: Outbox,
}

impl Service for Greeter {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.open += 1;
        self.out
            .send(conn, format!("hello {}\n", process_number()).into_bytes());
    }
    fn handle_received(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        self.out.send(conn, bytes);
    }
    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        self.out.close(conn);
    }
    fn handle_closed(&mut self, _now: Instant, _conn: ConnId, _reason: CloseReason) {
        self.open -= 1;
    }
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn tracked_connections(&self) -> usize {
        self.open
    }
}

fn main() -> std::process::ExitCode {
    let mut registry = Registry::builtin();
    registry.register(
        ServiceDescriptor::new("per-process", |_| Greeter::default())
            .about("greets with a number fixed once per process"),
    );
    muxsim::cli::run(registry)
}
