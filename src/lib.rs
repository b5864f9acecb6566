//! muxsim: a protocol-testing harness and deterministic simulator for readiness-based TCP
//! servers.
//!
//! A server is a sans-IO [`core::Service`]. One event loop, [`driver::Driver`], runs it over a
//! [`backend::Backend`]: real sockets through mio ([`backend::mio`]) or a simulated network
//! ([`backend::sim`]) where one seed decides every interleaving and every fault. Because both
//! run the same driver, a bug in draining, buffering or closing found in the simulator is a
//! bug in production, and the other way round.
//!
//! # Layers, top to bottom
//!
//! | module | what it owns |
//! |---|---|
//! | [`core`] | protocol state per connection; inputs `handle_*(now, ..)`, outputs `poll_*()` |
//! | [`driver`] | the event loop: accept, drain, buffer, backpressure, close, limits |
//! | [`backend`] | readiness and socket I/O: [`backend::mio`] (real), [`backend::sim`] (simulated) |
//! | [`world`] | simulated clients running scripts, the seeded scheduler, the virtual clock, checks |
//! | [`semantics`], [`fault`] | the readiness semantics and the faults the simulator models |
//! | [`rng`], [`time`] | the seeded random streams and the clock every layer shares |
//! | [`transcript`] | the text format of fixtures, recorded runs and snapshots |
//! | [`scenario`] | turning transcripts into worlds, and running them |
//! | [`check`] | oracles, generated scenarios, fuzz campaigns, shrinking |
//! | [`tcp`] | real-network tools: `serve`, `client`, replay against any server |
//! | [`record`] | the recording proxy behind `muxsim record` |
//! | [`load`] | `muxsim load`: a checking load generator for the `lines` protocol |
//! | [`chaos`] | `muxsim chaos`: well-behaved and abusive clients against a live server |
//! | [`cli`] | the `muxsim` command line, with no logic of its own |
//!
//! # The run loop
//!
//! ```no_run
//! use muxsim::backend::mio::MioBackend;
//! use muxsim::core::echo::Echo;
//! use muxsim::driver::{Config, Driver};
//!
//! let backend = MioBackend::bind("127.0.0.1:0".parse().unwrap()).unwrap();
//! let mut driver = Driver::new(backend, Echo::default(), Config::default());
//! loop {
//!     // Poll, handle every event, serve connections left over budget, fire deadlines.
//!     driver.turn(None).unwrap();
//!     while let Some(line) = driver.poll_log() {
//!         eprintln!("{line}");
//!     }
//! }
//! ```
//!
//! In the simulator the [`world::World`] calls that same `turn` whenever its seeded scheduler
//! picks the server, between the steps of the clients.

pub mod backend;
pub mod chaos;
pub mod check;
pub mod cli;
pub mod core;
pub mod driver;
pub mod fault;
pub mod load;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod semantics;
pub mod tcp;
pub mod time;
pub mod transcript;
pub mod world;
