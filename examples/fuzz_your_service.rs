//! Fuzzing a service of your own: a line-framed "shout" service that answers each line in
//! upper case, checked by an oracle over thousands of simulated runs with every fault.
//!
//! Run with `cargo run --release --example fuzz_your_service [SEEDS]`.

use std::collections::BTreeMap;

use muxsim::check::Campaign;
use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::fault::FaultFamilies;
use muxsim::time::Instant;

/// Answers every `\n`-terminated line with the line in upper case.
#[derive(Default)]
struct Shout {
    partial: BTreeMap<ConnId, Vec<u8>>,
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
    }

    fn handle_closed(&mut self, _now: Instant, conn: ConnId, _reason: CloseReason) {
        self.partial.remove(&conn);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
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
    let report = Campaign::new("shout", Shout::default)
        .seeds(0, seeds)
        .faults(FaultFamilies::ALL)
        .lines(true)
        .oracle(|client| {
            // Every complete line sent comes back upper-cased, in order; a client that closed
            // or was cut off may have received only a prefix.
            let complete = client
                .sent
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let owed = client.sent[..complete].to_ascii_uppercase();
            let owed_all = !client.closed && !client.disrupted && !client.saw_reset;
            if !owed.starts_with(&client.received) {
                return Err(format!(
                    "received {:?}",
                    String::from_utf8_lossy(&client.received)
                ));
            }
            if owed_all && client.received.len() < owed.len() {
                return Err("answers missing".to_string());
            }
            Ok(())
        })
        .run();
    print!("{report}");
    std::process::exit(if report.failures.is_empty() { 0 } else { 1 });
}
