//! Generated scenarios: client scripts drawn from a seed.
//!
//! Scripts are actions only (no expectations): the oracle of [`super::oracle`] judges what
//! each client received. Payloads avoid the letter `r` (see the oracle), and for `lines` are
//! newline-terminated lines. Each client connects, sends a few payloads (some large enough to
//! fill socket buffers), may pause reading and resume, may wait, and ends by staying
//! connected, half-closing, closing or resetting.

use std::time::Duration;

use crate::rng::{SimRng, Stream};
use crate::transcript::Step;
use crate::world::{Entry, Script};

/// Bytes generated payloads are made of: no `r`, some control and high bytes.
const ALPHABET: &[u8] = b"abcdefghijklmnopqstuvwxyz0123456789 \t\x00\xff";

/// Shape of generated scenarios.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub clients: usize,
    /// Most actions per client between `connect` and the ending.
    pub max_actions: usize,
    /// Whether payloads are newline-terminated lines.
    pub lines: bool,
    /// Add a connect storm: many short-lived clients at once.
    pub storm: bool,
}

impl GenConfig {
    /// The shape that fits a service: lines for `lines`, chunks for the rest.
    pub fn for_service(service: &str, clients: usize) -> Self {
        GenConfig {
            clients,
            max_actions: 6,
            lines: service == "lines",
            storm: false,
        }
    }
}

/// The client name for index `i`: `a`..`z`, then `c26`, `c27`...
pub fn client_name(i: usize) -> String {
    if i < 26 {
        ((b'a' + i as u8) as char).to_string()
    } else {
        format!("c{i}")
    }
}

fn payload(rng: &mut SimRng, lines: bool) -> Vec<u8> {
    // Mostly small, sometimes large enough to fill a buffer and force short writes.
    let len = if rng.chance(100_000) {
        rng.between(1_000, 20_000)
    } else {
        rng.between(1, 24)
    } as usize;
    // Eight bytes per random word: large payloads are cheap to make.
    let alphabet = if lines { &ALPHABET[..36] } else { ALPHABET };
    let mut bytes: Vec<u8> = Vec::with_capacity(len + 1);
    while bytes.len() < len {
        let word = rng.next_u64().to_le_bytes();
        for b in word.into_iter().take(len - bytes.len()) {
            bytes.push(alphabet[usize::from(b) % alphabet.len()]);
        }
    }
    if lines {
        // One or more complete lines: about one byte in seven becomes a newline.
        let mut word = 0u64;
        for (i, byte) in bytes.iter_mut().enumerate() {
            if i % 21 == 0 {
                word = rng.next_u64();
            }
            if word % 7 == 0 {
                *byte = b'\n';
            }
            word /= 7;
        }
        bytes.push(b'\n');
    }
    bytes
}

/// Generates the clients' scripts for `seed`.
pub fn generate(seed: u64, config: &GenConfig) -> Vec<Script> {
    let mut rng = SimRng::new(seed, Stream::Scenario);
    let mut scripts: Vec<Script> = (0..config.clients)
        .map(|i| {
            let mut entries = vec![Entry::Step(Step::Connect)];
            let actions = rng.between(0, config.max_actions as u64);
            for _ in 0..actions {
                let roll = rng.below(100);
                let step = match roll {
                    0..=69 => Step::Send(payload(&mut rng, config.lines)),
                    70..=84 => Step::Wait(Duration::from_millis(rng.between(1, 50))),
                    85..=94 => {
                        // A slow reader: stop reading for a while, then catch up. Nothing is
                        // sent while paused, or the client itself could deadlock the run.
                        entries.push(Entry::Step(Step::Pause));
                        entries.push(Entry::Step(Step::Wait(Duration::from_millis(
                            rng.between(1, 100),
                        ))));
                        Step::Resume
                    }
                    _ => Step::Shutdown,
                };
                let is_shutdown = step == Step::Shutdown;
                entries.push(Entry::Step(step));
                if is_shutdown {
                    break;
                }
            }
            match rng.below(10) {
                0..=5 => {}
                6 | 7 => entries.push(Entry::Step(Step::Shutdown)),
                8 => entries.push(Entry::Step(Step::Close)),
                _ => entries.push(Entry::Step(Step::Reset)),
            }
            Script {
                name: client_name(i),
                entries,
            }
        })
        .collect();
    if config.storm {
        // A storm: clients that connect together, maybe say one thing, and leave.
        for i in 0..rng.between(10, 60) {
            let mut entries = vec![Entry::Step(Step::Connect)];
            if rng.chance(300_000) {
                entries.push(Entry::Step(Step::Send(payload(&mut rng, config.lines))));
            }
            entries.push(Entry::Step(match rng.below(4) {
                0 => Step::Reset,
                1 => Step::Shutdown,
                _ => Step::Close,
            }));
            scripts.push(Script {
                name: format!("storm{i}"),
                entries,
            });
        }
    }
    scripts
}
