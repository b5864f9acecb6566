//! muxsim: a protocol-testing harness and deterministic simulator for readiness-based TCP
//! servers.
//!
//! A server is a sans-IO [`Service`]. One event loop, [`Driver`], runs it over a
//! [`backend::Backend`]: real sockets through mio ([`MioBackend`], epoll) or `poll(2)` /
//! `select(2)` ([`LevelBackend`]), or a simulated network where one seed decides every
//! interleaving and every fault. Because both run the same driver, a bug in draining,
//! buffering or closing found in the simulator is a bug in production, and the other way
//! round.
//!
//! # Testing a service of your own
//!
//! Describe it once ([`ServiceDescriptor`]: how to build it, its limits, its [`Protocol`], its
//! oracle), then fuzz it ([`Campaign`]), replay fixtures against it ([`replay`],
//! [`testing::assert_fixtures`]), snapshot its runs, and build your own `muxsim` command with
//! it ([`cli::run`] with a [`Registry`]). `docs/testing-your-service.md` walks through it.
//!
//! # Layers, bottom up
//!
//! | module | what it owns |
//! |---|---|
//! | [`core`] | protocol state per connection; inputs `handle_*(now, ..)`, outputs `poll_*()`; the built-in services |
//! | [`backend`] | readiness and socket I/O: the contract, [`MioBackend`] (epoll), [`LevelBackend`] (`poll(2)`, `select(2)`), and the simulated backend |
//! | [`driver`] | the one event loop: accept, drain, buffer, backpressure, close, limits |
//! | [`world`] | the simulation: its vocabulary (readiness [`Semantics`], faults as data, client [`Script`]s, the clock's [`Instant`], the one vocabulary of failures [`FailureKind`]), simulated clients, the seeded scheduler, the checks |
//! | [`transcript`] | the text format of fixtures, recorded runs and snapshots; quoting bytes and durations |
//! | [`service`] | service descriptors, the registry, protocol descriptions, oracles |
//! | [`scenario`] | a transcript turned into a world and judged; a run turned into a transcript |
//! | [`check`] | campaigns: generation, the targets a scenario is played on ([`check::Target`]: the simulator, real sockets, a server process), the one campaign loop, failure buckets, the one shrinker, the one report `fuzz`, `run` and `replay` print |
//! | [`testing`] | helpers for `cargo test`: fixture directories, snapshots, a service on real sockets, replay over TCP |
//! | [`cli`] | the `muxsim` command line: parses, calls the library, prints |
//!
//! Inside the crate, below the command line: the real-socket tools (`serve`, `client`, replay
//! over TCP, `record`, `chaos`, `load`), the one real-socket client engine (concurrent, or
//! a transcript's lines in file order), a run's timeline page,
//! trace and diagram, and `muxsim run`'s injection into an unmodified server (the
//! interposition library is the `preload/` crate).
//!
//! # The run loop
//!
//! ```no_run
//! use muxsim::{Config, Driver, MioBackend};
//! use muxsim::core::Echo;
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

#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod backend;
pub(crate) mod chaos;
pub mod check;
pub mod cli;
pub mod core;
pub mod driver;
pub(crate) mod failure;
pub(crate) mod heap;
pub(crate) mod inject;
pub(crate) mod live;
pub(crate) mod load;
pub(crate) mod panics;
pub(crate) mod record;
pub(crate) mod rng;
pub mod scenario;
pub mod service;
pub mod testing;
pub(crate) mod timeline;
pub mod transcript;
pub(crate) mod view;
pub mod world;

// The simulation's vocabulary and the real-socket tools, documented where a user meets them
// (`world`, `transcript`, `testing`, the crate root); their own paths stay for code written
// against them.
#[doc(hidden)]
pub mod fault;
#[doc(hidden)]
pub mod script;
#[doc(hidden)]
pub mod semantics;
#[doc(hidden)]
pub mod tcp;
#[doc(hidden)]
pub mod text;
#[doc(hidden)]
pub mod time;

#[doc(hidden)]
pub mod __private {
    //! What muxsim's macros expand to; not part of the API.
    pub use insta;
}

pub use crate::backend::level::{LevelBackend, Mechanism};
pub use crate::backend::mio::MioBackend;
pub use crate::check::{Campaign, Report};
pub use crate::core::{CloseReason, ConnId, Outbox, Output, Service};
pub use crate::driver::{Config, Driver};
pub use crate::failure::FailureKind;
pub use crate::fault::{Family, FaultFamilies};
pub use crate::heap::CountingAllocator;
pub use crate::scenario::{Outcome, Replay, Scenario, replay};
pub use crate::script::{Script, Step};
pub use crate::semantics::Semantics;
pub use crate::service::{
    Context, Deadline, Deliveries, Framing, Model, ModelOracle, Oracle, Protocol, Registry, Reply,
    RequestResponse, RunView, ServiceDescriptor, ServiceOptions,
};
pub use crate::time::Instant;
pub use crate::transcript::Transcript;
pub use crate::world::{ClientReport, Play, Verdict};
