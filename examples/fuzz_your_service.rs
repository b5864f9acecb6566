//! Fuzzing a service of your own: a line-framed "shout" service that answers each line in
//! upper case, described once (protocol and oracle) and checked over thousands of simulated
//! runs with every fault.
//!
//! Run with `cargo run --release --example fuzz_your_service [SEEDS]`. The crate-shaped
//! walk-through, with its own `muxsim` command, fixtures and tests, is `examples/kvstore`.

use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::time::Instant;
use muxsim::{Campaign, Protocol, Reply, RequestResponse, ServiceDescriptor};

/// Answers every `\n`-terminated line with the line in upper case.
#[derive(Default)]
struct Shout {
    partial: std::collections::BTreeMap<ConnId, Vec<u8>>,
    out: Outbox,
}

impl Service for Shout {
    fn handle_connected(&mut self, _now: Instant, _conn: ConnId) {}

    fn handle_received(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        let line = self.partial.entry(conn).or_default();
        for &b in bytes {
            line.push(b.to_ascii_uppercase());
            if b == b'\n' {
                self.out.send(conn, std::mem::take(line));
            }
        }
        if self.partial.get(&conn).is_some_and(Vec::is_empty) {
            self.partial.remove(&conn);
        }
    }

    fn handle_closed(&mut self, _now: Instant, conn: ConnId, _reason: CloseReason) {
        self.partial.remove(&conn);
    }

    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }

    fn tracked_connections(&self) -> usize {
        self.partial.len()
    }
}

fn main() {
    let seeds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let shout = ServiceDescriptor::new("shout", |_| Shout::default())
        .protocol(Protocol::lines())
        // Every complete line comes back upper-cased, in order.
        .oracle(RequestResponse::new(|line| {
            let mut answer = line.to_ascii_uppercase();
            answer.push(b'\n');
            Reply::answer(answer)
        }));
    let report = Campaign::new(shout).seeds(0, seeds).run();
    print!("{report}");
    std::process::exit(if report.is_clean() { 0 } else { 1 });
}
