//! The simulated world: clients running scripts against a service, a virtual clock, one
//! seed, a step loop, and the checks every run must pass.
//!
//! # The step loop
//!
//! Each step the scheduler lists the actors that can make progress, in a fixed order (the
//! server first, then clients in order), and lets the seed pick one:
//!
//! - the **server** can run when a poll would report something or the driver has work of its
//!   own; it runs one [`Driver::turn`], the very code `muxsim serve` runs;
//! - a **client** can run when it has something to read (bytes, EOF, a reset), which it then
//!   reads whole, or when its next step is an action it can take now.
//!
//! When no actor can run, the clock jumps to the next deadline (a client's `wait`, a delayed
//! segment, a server timer). When there is none, the run ends; if a client is still waiting
//! for bytes then, the run has stalled. [`World::step`] takes one step, [`World::run`] runs to
//! the end.
//!
//! # Why a recorded run replays exactly
//!
//! Every step is written to the trace as exactly one line, and a client's choice between
//! reading and acting depends only on the network's state, never on what its script says
//! next: reading always comes first, and an expectation (`recv`) is not an action. So when a
//! recorded run's lines are fed back as scripts under the same seed, with its faults anchored
//! to the operations they hit and drawn faults off (they use their own random stream), every
//! actor is runnable at the same steps as before and the scheduler picks the same ones.
//!
//! # Checks
//!
//! After every step: the service did not panic, sent nothing to a closed connection, keeps no
//! more connections than are open, and the driver made no zero-length call. A client's
//! received bytes must match its expectations as they arrive. At the end: no client waits for
//! bytes (liveness), every connection a client closed or shut down has been closed by the
//! server too (no leaked state), and the server did not spin without progress (busy loop).

mod client;
mod heap;
#[doc(hidden)]
pub mod limits;
mod report;
mod verdict;

use std::fmt;
use std::time::Duration;

use crate::backend::Token;
use crate::backend::sim::{ClientRead, Net, NetEvent, PipeId, Runaway, SimBackend};
use crate::core::Service;
use crate::driver::{self, Driver, Seen, Stats};
use crate::rng::{SimRng, Stream};

use client::{Client, Slot};
pub(crate) use heap::run_watching_heap;
pub use report::{
    ClientEvent, ClientReport, EventKind, Run, ServerEvent, ServerEventKind, TraceEvent, TraceKind,
};
pub use verdict::{Failure, FailureKind, Verdict};

pub use crate::backend::sim::{NetStats, SimConfig};
pub use limits::{LIMITS, Limit, Scope};

pub use crate::fault::{
    Arg, Family, FaultFamilies, FaultKind, FaultPlan, FaultSpec, MAX_DRAWN_DELAY, Op,
};
pub use crate::script::{
    ClientId, Entry, Expectation, LinePattern, MatchError, Matcher, Script, Step, StepArg,
    StepKind, StepValue, client_name,
};
pub use crate::semantics::{FD_SETSIZE, Semantics};
pub use crate::time::Instant;

/// Everything that decides a run besides the service and the scripts.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    /// The seed: scheduler, faults, network order.
    pub seed: u64,
    /// The simulated network.
    pub sim: SimConfig,
    /// The driver's limits.
    pub driver: driver::Config,
    /// Fault families the seed may switch on.
    pub faults: FaultFamilies,
    /// Use this plan instead of drawing one from the seed.
    pub plan: Option<FaultPlan>,
    /// Steps before the run is declared stuck. A million steps is far beyond any fixture and
    /// any generated scenario; reaching it means something loops. Jumps of the clock count
    /// too, so a server that never takes the work it is owed cannot idle the run forever.
    pub max_steps: u64,
    /// Steps after which drawn faults stop, so every run ends with a calm period in which
    /// liveness can be judged.
    pub(crate) heal_after: u64,
    /// Once every script is done, how much virtual time the server gets to finish its closes
    /// (lingering closes wait up to 2 s by default).
    pub(crate) settle: Duration,
    /// Server turns in a row without progress before the run is a busy loop. Legitimate
    /// spurious wake-ups come in ones and twos; a thousand in a row is a spin.
    pub(crate) busy_limit: u64,
    /// Whether every byte and every close a client observes must be expected by its script
    /// (fixtures and replays); generated scenarios leave that to an oracle.
    pub strict: bool,
    /// Whether to keep the trace (every client step and fault). A campaign's first run of a
    /// seed does without; a failing seed is run again with it.
    pub(crate) record: bool,
    /// Whether a passing run is played a second time on the same service to find state it
    /// keeps for connections that are gone (only where [`crate::CountingAllocator`] is the
    /// global allocator; see [`Failure::HeapLeak`]).
    pub(crate) heap_check: bool,
    /// Whether to keep what the service is told, in order ([`Run::server`]), for oracles
    /// that judge the whole run (a reference model).
    pub(crate) journal: bool,
}

impl WorldConfig {
    /// Once every script is done, how much virtual time the server gets to finish its closes
    /// (lingering closes wait up to 2 s by default).
    pub fn settle(&self) -> Duration {
        self.settle
    }

    /// The same configuration with [`WorldConfig::settle`] set.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Server turns in a row without progress before the run is a busy loop. Legitimate
    /// spurious wake-ups come in ones and twos; a thousand in a row is a spin.
    pub fn busy_limit(&self) -> u64 {
        self.busy_limit
    }

    /// The same configuration with [`WorldConfig::busy_limit`] set.
    pub fn with_busy_limit(mut self, busy_limit: u64) -> Self {
        self.busy_limit = busy_limit;
        self
    }

    /// Whether to keep the trace (every client step and fault). A campaign's first run of a
    /// seed does without; a failing seed is run again with it.
    pub fn record(&self) -> bool {
        self.record
    }

    /// The same configuration with [`WorldConfig::record`] set.
    pub fn with_record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Whether a passing run is played a second time on the same service to find state it
    /// keeps for connections that are gone (only where [`crate::CountingAllocator`] is the
    /// global allocator; see [`Failure::HeapLeak`]).
    pub fn heap_check(&self) -> bool {
        self.heap_check
    }

    /// The same configuration with [`WorldConfig::heap_check`] set.
    pub fn with_heap_check(mut self, heap_check: bool) -> Self {
        self.heap_check = heap_check;
        self
    }

    /// Whether to keep what the service is told, in order ([`Run::server`]), for oracles
    /// that judge the whole run (a reference model).
    pub fn journal(&self) -> bool {
        self.journal
    }

    /// The same configuration with [`WorldConfig::journal`] set.
    pub fn with_journal(mut self, journal: bool) -> Self {
        self.journal = journal;
        self
    }

    /// Steps after which drawn faults stop, so every run ends with a calm period in which
    /// liveness can be judged.
    pub fn heal_after(&self) -> u64 {
        self.heal_after
    }

    /// The same configuration with [`WorldConfig::heal_after`] set.
    pub fn with_heal_after(mut self, heal_after: u64) -> Self {
        self.heal_after = heal_after;
        self
    }

    /// The run's fault plan: the one given, or the seed's.
    pub(crate) fn fault_plan(&self) -> FaultPlan {
        self.plan
            .clone()
            .unwrap_or_else(|| FaultPlan::for_seed(self.faults, self.seed))
    }
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 0,
            sim: SimConfig::default(),
            // No idle timeout: in the simulator a client that waits forever is reported as
            // stalled, not cut 300 virtual seconds later. `limit idle-timeout-ms` tests it.
            driver: driver::Config {
                idle_timeout: None,
                ..driver::Config::default()
            },
            faults: FaultFamilies::NONE,
            plan: None,
            max_steps: 1_000_000,
            heal_after: 20_000,
            settle: Duration::from_secs(5),
            busy_limit: 1_000,
            strict: true,
            record: true,
            heap_check: true,
            journal: false,
        }
    }
}

/// A fault scripted to fire on an exact operation (`at`), or on the next operation of its
/// kind from the start (`at: None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptedFault {
    /// The client whose connection it hits; `None` for faults of the whole server.
    pub(crate) client: Option<ClientId>,
    /// The fault.
    pub(crate) spec: FaultSpec,
    /// Which operation of its kind, from 1.
    pub(crate) at: Option<u64>,
}

impl ScriptedFault {
    /// A fault made in code: `spec` hits `client`'s connection (`None`: the whole server) at
    /// its `at`-th operation of the fault's kind (`None`: the next one from the start).
    pub fn new(client: Option<ClientId>, spec: FaultSpec, at: Option<u64>) -> Self {
        ScriptedFault { client, spec, at }
    }

    /// The client whose connection it hits; `None` for faults of the whole server.
    pub fn client(&self) -> &Option<ClientId> {
        &self.client
    }

    /// The fault.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    /// Which operation of its kind, from 1.
    pub fn at(&self) -> Option<u64> {
        self.at
    }
}

/// What a simulated run plays: the clients' scripts, in scheduling order, and the faults
/// scripted outside them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Play {
    /// The clients.
    pub clients: Vec<Script>,
    /// Faults anchored to operations, or armed from the start.
    pub faults: Vec<ScriptedFault>,
}

/// Why scripts cannot run. `entry` indexes the client's script entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// A client acts before it connects (only `wait` may come first).
    #[error("client {client} must `connect` before `{step}`")]
    NotConnectedFirst {
        /// The client.
        client: String,
        /// The entry of its script.
        entry: usize,
        /// The step, as written.
        step: String,
    },
    /// A client connects twice.
    #[error("client {client} connects a second time (one connection per client)")]
    ConnectTwice {
        /// The client.
        client: String,
        /// The entry of its script.
        entry: usize,
    },
    /// A client never connects.
    #[error("client {client} never connects: its first step must be `connect`")]
    NeverConnects {
        /// The client.
        client: String,
    },
    /// A scripted fault names a client the play does not have.
    #[error("fault `{spec}` names client number {client}, but there are only {clients}")]
    UnknownClient {
        /// Which fault of [`Play::faults`].
        fault: usize,
        /// The fault.
        spec: FaultSpec,
        /// The client number it names.
        client: u32,
        /// How many clients there are.
        clients: usize,
    },
    /// A fault that needs a client has none, or one that takes none has one.
    #[error("fault `{spec}`: {problem}")]
    FaultTarget {
        /// Which fault of [`Play::faults`].
        fault: usize,
        /// The fault.
        spec: FaultSpec,
        /// What is wrong.
        problem: &'static str,
    },
    /// There is no client.
    #[error("no client: a run needs at least one client that connects")]
    NoClients,
    /// An `after` step waits for something that cannot come.
    #[error("client {client}: `after` cannot be satisfied: {problem}")]
    BadAfter {
        /// The client.
        client: String,
        /// Which entry of its script.
        entry: usize,
        /// Why.
        problem: String,
    },
}

impl Play {
    /// How big it is: every client's entries and every scripted fault.
    pub fn size(&self) -> usize {
        self.clients.iter().map(|c| c.entries.len()).sum::<usize>() + self.faults.len()
    }

    /// Checks that the play can run: every client connects once, first (after waits only);
    /// every fault names an existing client when it needs one and none otherwise.
    pub fn validate(&self) -> Result<(), ScriptError> {
        if self.clients.is_empty() {
            return Err(ScriptError::NoClients);
        }
        for script in &self.clients {
            let mut connected = false;
            for (entry, item) in script.entries.iter().enumerate() {
                let Entry::Step(step) = item else { continue };
                match (step, connected) {
                    (Step::Connect, true) => {
                        return Err(ScriptError::ConnectTwice {
                            client: script.name.clone(),
                            entry,
                        });
                    }
                    (Step::Connect, false) => connected = true,
                    (Step::Wait(_) | Step::After { .. }, false) => {}
                    (other, false) => {
                        return Err(ScriptError::NotConnectedFirst {
                            client: script.name.clone(),
                            entry,
                            step: other.to_string(),
                        });
                    }
                    _ => {}
                }
            }
            if !connected {
                return Err(ScriptError::NeverConnects {
                    client: script.name.clone(),
                });
            }
            for (entry, item) in script.entries.iter().enumerate() {
                let Entry::Step(Step::After { client, steps }) = item else {
                    continue;
                };
                let problem = match self.clients.iter().find(|s| s.name == *client) {
                    _ if *client == script.name => {
                        Some("a client cannot wait for itself".to_string())
                    }
                    None => Some(format!("there is no client `{client}`")),
                    Some(other) => {
                        let total = other.steps().count() as u64;
                        match steps {
                            None => Some("it says how many steps to wait for nowhere".to_string()),
                            Some(n) if *n > total => {
                                Some(format!("`{client}` has {total} step(s), never {n}"))
                            }
                            Some(_) => None,
                        }
                    }
                };
                if let Some(problem) = problem {
                    return Err(ScriptError::BadAfter {
                        client: script.name.clone(),
                        entry,
                        problem,
                    });
                }
            }
        }
        for (fault, f) in self.faults.iter().enumerate() {
            match (f.client, f.spec.needs_client()) {
                (Some(c), _) if c.index() >= self.clients.len() => {
                    return Err(ScriptError::UnknownClient {
                        fault,
                        spec: f.spec,
                        client: c.0,
                        clients: self.clients.len(),
                    });
                }
                (None, true) => {
                    return Err(ScriptError::FaultTarget {
                        fault,
                        spec: f.spec,
                        problem: "it hits one client's connection, and names none",
                    });
                }
                (Some(_), false) => {
                    return Err(ScriptError::FaultTarget {
                        fault,
                        spec: f.spec,
                        problem: "it hits the whole server, and names a client",
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

pub use crate::panics::panic_message;
use crate::panics::{catch_payload, install_quiet_panic_hook};

/// What one step of the world did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stepped {
    /// The server ran one turn.
    Server,
    /// A client acted or read.
    Client(ClientId),
    /// Nobody could act: the clock jumped to the next deadline.
    Clock,
    /// The run is over (it ended or failed); [`World::finish`] gives its verdict.
    Over,
}

/// A world ready to run.
pub struct World<S: Service> {
    config: WorldConfig,
    driver: Driver<SimBackend, S>,
    clients: Vec<Client>,
    sched: SimRng,
    steps: u64,
    jumps: u64,
    idle_turns: u64,
    settle_until: Option<Instant>,
    failure: Option<Failure>,
    over: bool,
    trace: Vec<TraceEvent>,
    runnable: Vec<usize>,
    read_buf: Vec<u8>,
}

impl<S: Service> fmt::Debug for World<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.config.seed)
            .field("steps", &self.steps)
            .field("now", &self.now())
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl<S: Service> World<S> {
    /// Builds a world that plays `play` against `service`.
    pub fn new(config: WorldConfig, service: S, play: Play) -> Result<Self, ScriptError> {
        World::numbered_from(config, service, play, 0)
    }

    /// A world whose connections are numbered from generation `first` (see
    /// [`Driver::first_generation`]).
    fn numbered_from(
        config: WorldConfig,
        service: S,
        play: Play,
        first: u32,
    ) -> Result<Self, ScriptError> {
        play.validate()?;
        let plan = config.fault_plan();
        let mut net = Net::new(config.sim.clone(), config.seed, plan);
        if config.sim.detail {
            net.names = play.clients.iter().map(|c| c.name.clone()).collect();
        }
        for fault in play.faults {
            match fault.at {
                Some(at) => net.faults.anchor(fault.client, fault.spec, at),
                None => net.faults.arm(fault.client, fault.spec),
            }
        }
        let mut driver_config = config.driver.clone();
        driver_config.log &= config.sim.detail;
        let mut driver =
            Driver::new(SimBackend::new(net), service, driver_config).first_generation(first);
        if config.journal {
            driver = driver.keep_journal();
        }
        let clients = play.clients.into_iter().map(Client::new).collect();
        let sched = SimRng::new(config.seed, Stream::Scheduler);
        let mut world = World {
            config,
            driver,
            clients,
            sched,
            steps: 0,
            jumps: 0,
            idle_turns: 0,
            settle_until: None,
            failure: None,
            over: false,
            trace: Vec::new(),
            runnable: Vec::new(),
            read_buf: Vec::new(),
        };
        for c in 0..world.clients.len() {
            world.skip_instant(c);
        }
        Ok(world)
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.net().now
    }

    /// Scheduler steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The failure found so far, if any.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// The trace so far.
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }

    /// The service under test.
    pub fn service(&self) -> &S {
        self.driver.service()
    }

    fn net(&self) -> &Net {
        &self.driver.backend().net
    }

    fn net_mut(&mut self) -> &mut Net {
        &mut self.driver.backend_mut().net
    }

    fn fail(&mut self, failure: Failure) {
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
    }

    fn push_trace(&mut self, kind: TraceKind) {
        if self.config.record {
            let at = self.net().now;
            self.trace.push(TraceEvent { at, kind });
        }
    }

    /// Moves what the network reported (faults that fired, server calls) into the trace.
    fn drain_net_events(&mut self) {
        if self.net().events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.net_mut().events);
        for event in events {
            match event {
                NetEvent::Fault { client, spec, at } => {
                    self.push_trace(TraceKind::Fault { client, spec, at })
                }
                NetEvent::Detail(text) => self.push_trace(TraceKind::Server(text)),
            }
        }
    }

    /// Takes one step: the server's turn, a client's action or read, or a jump of the clock.
    pub fn step(&mut self) -> Stepped {
        install_quiet_panic_hook();
        if self.failure.is_some() || self.over {
            return Stepped::Over;
        }
        if self.steps + self.jumps >= self.config.max_steps {
            let steps = self.steps + self.jumps;
            self.fail(Failure::StepLimit { steps });
            return Stepped::Over;
        }
        if self.steps == self.config.heal_after {
            self.net_mut().faults.active = false;
        }
        let mut runnable = std::mem::take(&mut self.runnable);
        runnable.clear();
        if self.server_runnable() {
            runnable.push(0);
        }
        for c in 0..self.clients.len() {
            if self.client_runnable(c) {
                runnable.push(c + 1);
            }
        }
        let stepped = if runnable.is_empty() {
            if self.advance_clock() {
                self.jumps += 1;
                Stepped::Clock
            } else {
                self.over = true;
                Stepped::Over
            }
        } else {
            self.steps += 1;
            let pick = runnable[self.sched.below(runnable.len() as u64) as usize];
            if pick == 0 {
                self.server_step();
                Stepped::Server
            } else {
                self.idle_turns = 0;
                self.client_step(pick - 1);
                Stepped::Client(ClientId::from_index(pick - 1))
            }
        };
        self.runnable = runnable;
        self.drain_net_events();
        if self.failure.is_some() {
            return Stepped::Over;
        }
        stepped
    }

    /// Runs to the end and returns the run with its verdict.
    pub fn run(self) -> Run {
        self.run_keeping().0
    }

    /// Runs to the end; the run, and the driver with the service.
    fn run_keeping(mut self) -> (Run, Driver<SimBackend, S>) {
        while self.step() != Stepped::Over {}
        self.finish_keeping()
    }

    /// Ends the run: the final checks (when it ran to its end) and the verdict.
    pub fn finish(self) -> Run {
        self.finish_keeping().0
    }

    /// Ends the run, and gives back the driver (with the service) too.
    fn finish_keeping(mut self) -> (Run, Driver<SimBackend, S>) {
        if self.failure.is_none() && self.over {
            self.final_checks();
        }
        let journal = self.driver.take_journal();
        let net = &self.driver.backend().net;
        let mut clients: Vec<ClientReport> = Vec::with_capacity(self.clients.len());
        let mut unreached = Vec::with_capacity(self.clients.len());
        for (i, c) in self.clients.iter().enumerate() {
            let mut report = c.report.clone();
            report.disrupted |= net.is_disrupted(ClientId::from_index(i));
            clients.push(report);
            let mut left = Vec::new();
            for (i, slot) in c.slots.iter().enumerate().skip(c.cursor) {
                match slot {
                    // A wait the cursor stands on was traced when it began.
                    Slot::Action(Step::Wait(_)) if i == c.cursor && c.wait_until.is_some() => {}
                    Slot::Action(Step::Send(bytes)) if i == c.cursor => {
                        left.push(Entry::Step(Step::Send(bytes[c.sent_progress..].to_vec())));
                    }
                    Slot::Action(step) => left.push(Entry::Step(step.clone())),
                    Slot::Fault(spec) => left.push(Entry::Fault(*spec)),
                    Slot::Barrier(_) => {}
                }
            }
            unreached.push(left);
        }
        let verdict = match self.failure {
            Some(f) => Verdict::Fail(f),
            None => Verdict::Pass,
        };
        let server = journal
            .into_iter()
            .filter_map(|(at, conn, seen)| {
                let client = net.client_of_token(Token(conn.to_raw()))?.index();
                let kind = match seen {
                    Seen::Connected => ServerEventKind::Accepted,
                    Seen::Received(bytes) => ServerEventKind::Read(bytes),
                    Seen::PeerClosed => ServerEventKind::PeerClosed,
                    Seen::Closing => ServerEventKind::Closing,
                    Seen::Closed => ServerEventKind::Closed,
                };
                Some(ServerEvent { at, client, kind })
            })
            .collect();
        let run = Run {
            seed: self.config.seed,
            semantics: self.config.sim.semantics,
            verdict,
            trace: self.trace,
            clients,
            driver_stats: self.driver.stats().clone(),
            net_stats: net.stats.clone(),
            plan: net.faults.plan.clone(),
            steps: self.steps,
            end: net.now,
            unreached,
            server,
        };
        (run, self.driver)
    }

    // ----- the server ----------------------------------------------------------------------

    fn server_runnable(&self) -> bool {
        self.net().server_ready() || self.driver.has_work()
    }

    fn server_step(&mut self) {
        let before = progress_mark(self.driver.stats());
        let driver = &mut self.driver;
        match catch_payload(|| driver.turn(Some(Duration::ZERO))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(Failure::PollFailed {
                error: e.to_string(),
            }),
            Err(payload) => {
                let failure = match payload.downcast_ref::<Runaway>() {
                    Some(Runaway(calls)) => Failure::Runaway { calls: *calls },
                    None => Failure::Panic {
                        message: panic_message(payload.as_ref()),
                    },
                };
                self.fail(failure);
                return;
            }
        }
        self.drain_net_events();
        let detail = self.net().config.detail;
        while let Some(line) = self.driver.poll_log() {
            if detail {
                // The connection by its client's name, as everywhere else in the trace.
                let text = match line.conn {
                    Some(conn) => {
                        let net = self.net();
                        let who = net
                            .client_of_token(Token(conn.to_raw()))
                            .map_or_else(|| conn.to_string(), |c| net.who(c));
                        format!("[{}] {who}: {}", line.at, line.text)
                    }
                    None => line.to_string(),
                };
                self.push_trace(TraceKind::Log(text));
            }
        }
        let stats = self.driver.stats();
        let (mark, sends_to_closed) = (progress_mark(stats), stats.sends_to_closed);
        if mark == before {
            self.idle_turns += 1;
            if self.idle_turns > self.config.busy_limit {
                let turns = self.idle_turns;
                self.fail(Failure::BusyLoop { turns });
            }
        } else {
            self.idle_turns = 0;
        }
        if sends_to_closed > 0 {
            self.fail(Failure::SendAfterClose {
                count: sends_to_closed,
            });
        }
        if self.net().stats.empty_buffer_calls > 0 {
            self.fail(Failure::EmptyBuffer);
        }
        let tracked = self.driver.service().tracked_connections();
        let live = self.driver.live_connections();
        if tracked > live {
            self.fail(Failure::ServiceLeak { tracked, live });
        }
    }

    // ----- clients -------------------------------------------------------------------------

    /// Moves past what takes no step: arms unanchored faults, passes satisfied barriers, and
    /// starts a wait the cursor reaches.
    fn skip_instant(&mut self, c: usize) {
        loop {
            let client = &self.clients[c];
            match client.slots.get(client.cursor) {
                Some(Slot::Fault(spec)) => {
                    let spec = *spec;
                    self.net_mut()
                        .faults
                        .arm(Some(ClientId::from_index(c)), spec);
                }
                Some(Slot::Barrier(k)) if client.has_matched(*k) => {}
                _ => break,
            }
            self.clients[c].cursor += 1;
        }
        // A wait starts when the script reaches it, and is traced then: its place in the
        // trace is where a replayed script reaches it too.
        let now = self.net().now;
        let client = &mut self.clients[c];
        if let Some(Step::Wait(d)) = client.current()
            && client.wait_until.is_none()
        {
            let d = *d;
            client.wait_until = Some(now + d);
            self.trace_client(c, Step::Wait(d));
        }
    }

    fn can_read(&self, c: usize) -> bool {
        let client = &self.clients[c];
        match client.pipe {
            Some(pipe) => {
                !client.closed
                    && !client.paused
                    && !client.eof
                    && !client.reset
                    && self.net().client_readable(pipe)
            }
            None => false,
        }
    }

    fn client_runnable(&self, c: usize) -> bool {
        if self.can_read(c) {
            return true;
        }
        let client = &self.clients[c];
        let Some(step) = client.current() else {
            return false;
        };
        match step {
            // A full backlog holds the connect back until the server accepts.
            Step::Connect => client.pipe.is_none() && self.net().can_connect(),
            Step::Send(_) => match client.pipe {
                Some(pipe) => client.closed || client.shut || self.net().send_room(pipe) > 0,
                None => true,
            },
            Step::Wait(_) => client.wait_until.is_some_and(|t| t <= self.net().now),
            Step::After { client, steps } => self.has_done(client, *steps),
            step => !step.is_expectation(),
        }
    }

    /// Whether client `name` has taken its first `steps` steps (`after`).
    fn has_done(&self, name: &str, steps: Option<u64>) -> bool {
        self.clients
            .iter()
            .find(|c| c.name == name)
            .is_some_and(|c| c.has_done(steps.unwrap_or(0)))
    }

    fn trace_client(&mut self, c: usize, step: Step) {
        // Faults that fired while the client acted come first, where they happened.
        self.drain_net_events();
        self.push_trace(TraceKind::Client {
            client: ClientId::from_index(c),
            step,
        });
    }

    fn client_step(&mut self, c: usize) {
        if self.can_read(c) {
            self.client_read(c);
            return;
        }
        // Every attempt to act counts, so a client fault can be anchored to an attempt.
        self.clients[c].actions += 1;
        let attempt = self.clients[c].actions;
        // A client fault replaces a whole action: never a read, the end of a wait (whose line
        // was written when it began) or the rest of a send the network took only in part (a
        // replay sends the two parts as two steps). It is recorded as a fault anchored to the
        // attempt, so a replay fires it at the same attempt, when the same action is runnable.
        if let Some(pipe) = self.clients[c].pipe
            && !self.clients[c].closed
            && self.clients[c].sent_progress == 0
            && !matches!(self.clients[c].current(), Some(Step::Wait(_)))
        {
            let shut = self.clients[c].shut;
            let fault = self.net_mut().fault(
                Some(ClientId::from_index(c)),
                Op::Act,
                attempt,
                |_| true,
                |plan, rng| {
                    if plan.fires(Family::Reset, rng) {
                        return Some(FaultSpec::ClientReset);
                    }
                    if plan.fires(Family::Close, rng) {
                        return Some(FaultSpec::ClientClose);
                    }
                    (!shut && plan.fires(Family::HalfClose, rng))
                        .then_some(FaultSpec::ClientShutdown)
                },
            );
            let step = match fault {
                Some(FaultSpec::ClientReset) => Some(Step::Reset),
                Some(FaultSpec::ClientClose) => Some(Step::Close),
                Some(FaultSpec::ClientShutdown) => Some(Step::Shutdown),
                _ => None,
            };
            if let Some(step) = step {
                self.clients[c].report.disrupted |= step != Step::Shutdown;
                self.drain_net_events();
                self.act(c, pipe, &step);
                return;
            }
        }
        let Some(step) = self.clients[c].current().cloned() else {
            return;
        };
        let now = self.net().now;
        match step {
            Step::Connect => {
                if let Some(pipe) = self.net_mut().connect(ClientId::from_index(c)) {
                    self.clients[c].pipe = Some(pipe);
                    self.clients[c].note(now, EventKind::Connected);
                    self.trace_client(c, Step::Connect);
                    self.advance(c);
                }
            }
            Step::Send(bytes) => {
                let Some(pipe) = self.clients[c].pipe else {
                    return;
                };
                let client = &self.clients[c];
                let rest = &bytes[client.sent_progress..];
                if client.closed || client.shut {
                    // The bytes go nowhere, as a send after shutdown does (EPIPE).
                    let rest = rest.to_vec();
                    self.trace_client(c, Step::Send(rest));
                    self.advance(c);
                    return;
                }
                let n = self.net_mut().client_send(pipe, rest);
                if n == 0 {
                    return;
                }
                let client = &mut self.clients[c];
                let sent = &bytes[client.sent_progress..client.sent_progress + n];
                client.report.record_sent(now, sent);
                client.sent_progress += n;
                let done = client.sent_progress >= bytes.len();
                let sent = sent.to_vec();
                self.trace_client(c, Step::Send(sent));
                if done {
                    self.advance(c);
                }
            }
            Step::Wait(_) => self.advance(c),
            Step::After { .. } => {
                self.trace_client(c, step);
                self.advance(c);
            }
            action => {
                let Some(pipe) = self.clients[c].pipe else {
                    return;
                };
                self.apply_action(c, pipe, action);
                self.advance(c);
            }
        }
    }

    /// Takes an action and traces it as the step it is.
    fn apply_action(&mut self, c: usize, pipe: PipeId, step: Step) {
        self.act(c, pipe, &step);
        self.trace_client(c, step);
    }

    /// Takes an action without tracing it (a fault's line stands for it).
    fn act(&mut self, c: usize, pipe: PipeId, step: &Step) {
        let now = self.net().now;
        let client = &mut self.clients[c];
        match step {
            Step::Shutdown if !client.shut && !client.closed => {
                client.shut = true;
                client.note(now, EventKind::Shutdown);
                self.net_mut().client_shutdown(pipe);
            }
            Step::Close if !client.closed => {
                client.closed = true;
                client.note(now, EventKind::Closed);
                self.net_mut().client_close(pipe);
            }
            Step::Reset if !client.closed => {
                client.closed = true;
                client.note(now, EventKind::Aborted);
                self.net_mut().client_reset(pipe);
            }
            Step::Pause => {
                client.paused = true;
                client.note(now, EventKind::Paused);
            }
            Step::Resume => {
                client.paused = false;
                client.note(now, EventKind::Resumed);
            }
            _ => {}
        }
    }

    fn advance(&mut self, c: usize) {
        let client = &mut self.clients[c];
        client.cursor += 1;
        client.sent_progress = 0;
        client.wait_until = None;
        self.skip_instant(c);
    }

    fn client_read(&mut self, c: usize) {
        let Some(pipe) = self.clients[c].pipe else {
            return;
        };
        let now = self.net().now;
        let mut buf = std::mem::take(&mut self.read_buf);
        buf.clear();
        let read = self.net_mut().client_read(pipe, &mut buf);
        let strict = self.config.strict;
        match read {
            ClientRead::Data(_) => {
                // Only bytes something will check are matched.
                let client = &mut self.clients[c];
                let check = strict || client.expects_more();
                if let Err(failure) = client.receive(now, &buf, check) {
                    self.fail(failure);
                }
                if self.config.record {
                    self.trace_client(c, Step::Got(buf.clone()));
                }
            }
            ClientRead::Eof => {
                let client = &mut self.clients[c];
                client.eof = true;
                client.note(now, EventKind::Eof);
                let result = client.end(Expectation::Eof, strict);
                self.trace_client(c, Step::GotEof);
                if let Err(failure) = result {
                    self.fail(failure);
                }
            }
            ClientRead::Reset => {
                let client = &mut self.clients[c];
                client.reset = true;
                client.note(now, EventKind::Reset);
                let result = client.end(Expectation::Reset, strict);
                self.trace_client(c, Step::GotReset);
                if let Err(failure) = result {
                    self.fail(failure);
                }
            }
            ClientRead::Nothing => {}
        }
        self.read_buf = buf;
        // A barrier may be satisfied now.
        self.skip_instant(c);
    }

    // ----- time and the end ----------------------------------------------------------------

    /// Jumps to the next deadline; false when the run is over.
    fn advance_clock(&mut self) -> bool {
        let now = self.net().now;
        let blocked = self.clients.iter().any(|c| !c.is_done());
        let mut next = self.net().next_delivery();
        for client in &self.clients {
            if let Some(t) = client.wait_until {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        let server = self.driver.next_deadline();
        let server = if blocked {
            server
        } else {
            let until = *self.settle_until.get_or_insert(now + self.config.settle);
            server.filter(|t| *t <= until)
        };
        if let Some(t) = server {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        match next {
            Some(t) => {
                // A deadline already due that nobody can act on would loop forever.
                if t <= now && !self.server_runnable() {
                    self.net_mut().advance_to(now + Duration::from_millis(1));
                } else {
                    self.net_mut().advance_to(t);
                }
                true
            }
            None => false,
        }
    }

    fn final_checks(&mut self) {
        let mut waiting = Vec::new();
        for client in &self.clients {
            if let Some(awaited) = client.awaited() {
                waiting.push(awaited);
            } else if let Some(step) = client.current() {
                waiting.push(format!("client {} waits to {step}", client.name));
            }
        }
        if !waiting.is_empty() {
            self.fail(Failure::Stalled { waiting });
            return;
        }
        if self.config.strict {
            // A client that closed may have read answers it never meant to check; one that
            // stayed connected must have expected everything it got.
            for client in self.clients.iter().filter(|c| !c.closed) {
                if !client.leftover().is_empty() {
                    let failure = Failure::UnexpectedEnd {
                        client: client.name.clone(),
                        expected: "nothing more".to_string(),
                        got: crate::text::quote(client.leftover()),
                    };
                    self.fail(failure);
                    return;
                }
            }
        }
        for client in &self.clients {
            // The driver closes a connection once its client has closed it, or shut down its
            // side and read everything owed. A paused client may leave output unread.
            let ended = client.closed || client.reset || (client.shut && !client.paused);
            if let Some(pipe) = client.pipe
                && ended
                && self.net().server_holds(pipe)
            {
                let name = client.name.clone();
                self.fail(Failure::Leak { client: name });
                return;
            }
        }
    }
}

fn progress_mark(stats: &Stats) -> (u64, u64, u64, u64, u64) {
    (
        stats.bytes_read,
        stats.bytes_written,
        stats.accepted + stats.refused,
        stats.closed,
        stats.register_failures,
    )
}
