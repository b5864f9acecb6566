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
//! for bytes then, the run has stalled.
//!
//! # Why a recorded run replays exactly
//!
//! Every step is written to the trace as exactly one line, and a client's choice between
//! reading and acting depends only on the network's state, never on what its script says
//! next: reading always comes first, and an expectation (`recv`) is not an action. So when a
//! recorded run's lines are fed back as scripts under the same seed, with its faults as
//! anchored `!` lines and drawn faults off (they use their own random stream), every actor is
//! runnable at the same steps as before and the scheduler picks the same ones.
//!
//! # Checks
//!
//! After every step: the service did not panic, sent nothing to a closed connection, keeps no
//! more connections than are open, and the driver made no zero-length call. A client's
//! received bytes must match its expectations as they arrive. At the end: no client waits for
//! bytes (liveness), every connection a client closed has been closed by the server too (no
//! leaked state), and the server did not spin without progress (busy loop).

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

use crate::backend::sim::{
    ClientIdx, ClientRead, Net, PipeId, SimBackend, SimConfig, TraceEvent, TraceKind,
};
use crate::core::Service;
use crate::driver::{self, Driver, Stats};
use crate::fault::{FaultFamilies, FaultPlan, FaultSpec};
use crate::rng::{SimRng, Stream};
use crate::time::Instant;
use crate::transcript::{self, FaultLine, Header, Item, Step, Transcript, quote, quote_short};

/// Everything that decides a run besides the service and the scripts.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    pub seed: u64,
    pub sim: SimConfig,
    pub driver: driver::Config,
    /// Fault families the seed may switch on.
    pub faults: FaultFamilies,
    /// Use this plan instead of drawing one from the seed.
    pub plan: Option<FaultPlan>,
    /// Steps before the run is declared stuck. A million steps is far beyond any fixture and
    /// any generated scenario; reaching it means something loops.
    pub max_steps: u64,
    /// Steps after which drawn faults stop, so every run ends with a calm period in which
    /// liveness can be judged.
    pub heal_after: u64,
    /// Once every script is done, how much virtual time the server gets to finish its closes
    /// (lingering closes wait up to 2 s by default).
    pub settle: Duration,
    /// Server turns in a row without progress before the run is a busy loop. Legitimate
    /// spurious wake-ups come in ones and twos; a thousand in a row is a spin.
    pub busy_limit: u64,
    /// Whether every byte and every close a client observes must be expected by its script
    /// (fixtures and replays); generated scenarios leave that to an oracle.
    pub strict: bool,
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
        }
    }
}

/// One entry of a client's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Step(Step),
    /// A fault armed for the next operation of its kind when the script reaches it.
    Fault(FaultSpec),
}

/// What a client expects of its stream, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    Bytes(Vec<u8>),
    Eof,
    Reset,
}

/// A client's script as the world runs it: actions, armed faults, and barriers that wait
/// until the expected stream is matched up to an item.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    Action(Step),
    Fault(FaultSpec),
    /// Wait until `expected[..=k]` has been matched.
    Barrier(usize),
}

/// A client and what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub entries: Vec<Entry>,
}

impl Script {
    pub fn new(name: impl Into<String>) -> Self {
        Script {
            name: name.into(),
            entries: Vec::new(),
        }
    }

    /// Appends a step.
    pub fn then(mut self, step: Step) -> Self {
        self.entries.push(Entry::Step(step));
        self
    }
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The service panicked.
    Panic { message: String },
    /// A client received bytes other than those its script expects.
    Mismatch {
        client: String,
        expected: Vec<u8>,
        got: Vec<u8>,
    },
    /// A client's stream ended (EOF or reset) other than as its script expects.
    UnexpectedEnd {
        client: String,
        expected: String,
        got: String,
    },
    /// The run ended with clients still waiting.
    Stalled { waiting: Vec<String> },
    /// The server ran many turns without any progress.
    BusyLoop { turns: u64 },
    /// The server kept a connection its client had closed.
    Leak { client: String },
    /// The service keeps state for more connections than are open.
    ServiceLeak { tracked: usize, live: usize },
    /// The service sent to a connection after it was closed.
    SendAfterClose { count: u64 },
    /// The driver read or wrote with an empty buffer.
    EmptyBuffer,
    /// The step limit was reached.
    StepLimit { steps: u64 },
    /// The server's poll failed.
    PollFailed { error: String },
    /// An oracle found the bytes a client received wrong.
    Oracle { client: String, detail: String },
}

impl Failure {
    /// The `expect` value a transcript uses for this failure, where there is one.
    pub fn expect_kind(&self) -> Option<transcript::Expect> {
        match self {
            Failure::Panic { .. } => Some(transcript::Expect::Panic),
            Failure::Mismatch { .. } | Failure::UnexpectedEnd { .. } => {
                Some(transcript::Expect::Mismatch)
            }
            Failure::Stalled { .. } => Some(transcript::Expect::Stall),
            _ => None,
        }
    }

    /// A short name for the kind of failure, stable across runs (used to check that a shrunk
    /// case still fails the same way).
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Panic { .. } => "panic",
            Failure::Mismatch { .. } | Failure::UnexpectedEnd { .. } => "mismatch",
            Failure::Stalled { .. } => "stall",
            Failure::BusyLoop { .. } => "busy-loop",
            Failure::Leak { .. } => "leak",
            Failure::ServiceLeak { .. } => "service-leak",
            Failure::SendAfterClose { .. } => "send-after-close",
            Failure::EmptyBuffer => "empty-buffer",
            Failure::StepLimit { .. } => "step-limit",
            Failure::PollFailed { .. } => "poll-failed",
            Failure::Oracle { .. } => "oracle",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panic { message } => write!(f, "the service panicked: {message}"),
            Failure::Mismatch {
                client,
                expected,
                got,
            } => write!(
                f,
                "client {client} expected {} but got {}",
                quote_short(expected),
                quote_short(got)
            ),
            Failure::UnexpectedEnd {
                client,
                expected,
                got,
            } => write!(
                f,
                "client {client} expected {} but got {}",
                shorten(expected),
                shorten(got)
            ),
            Failure::Stalled { waiting } => {
                write!(f, "stalled: {}", waiting.join("; "))
            }
            Failure::BusyLoop { turns } => write!(
                f,
                "busy loop: the server ran {turns} turns in a row without progress"
            ),
            Failure::Leak { client } => write!(
                f,
                "leak: client {client} closed its connection but the server still holds it"
            ),
            Failure::ServiceLeak { tracked, live } => write!(
                f,
                "leak: the service keeps state for {tracked} connections but only {live} are open"
            ),
            Failure::SendAfterClose { count } => {
                write!(f, "the service sent to a closed connection {count} time(s)")
            }
            Failure::EmptyBuffer => f.write_str("the driver read or wrote with an empty buffer"),
            Failure::StepLimit { steps } => write!(f, "no end after {steps} steps"),
            Failure::PollFailed { error } => write!(f, "poll failed: {error}"),
            Failure::Oracle { client, detail } => write!(f, "client {client}: {detail}"),
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(Failure),
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Verdict::Pass => None,
            Verdict::Fail(f) => Some(f),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Fail(failure) => write!(f, "FAIL: {failure}"),
        }
    }
}

/// What one client did and saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientReport {
    pub name: String,
    pub sent: Vec<u8>,
    /// Each send as the network took it: the messages of a message-framed protocol.
    pub messages: Vec<Vec<u8>>,
    pub received: Vec<u8>,
    /// The client saw the server close (EOF).
    pub saw_eof: bool,
    /// The client saw a reset.
    pub saw_reset: bool,
    /// The client closed or reset the connection itself.
    pub closed: bool,
    /// The client shut down its write side.
    pub shut: bool,
    /// A fault cut the client off (reset, abort, or a close it did not script).
    pub disrupted: bool,
}

impl ClientReport {
    /// A client that sent `sent` as one message and received `received`, and saw nothing
    /// else happen: what a report from outside the simulator starts from.
    pub fn new(name: impl Into<String>, sent: &[u8], received: &[u8]) -> Self {
        ClientReport {
            name: name.into(),
            sent: sent.to_vec(),
            messages: vec![sent.to_vec()],
            received: received.to_vec(),
            saw_eof: false,
            saw_reset: false,
            closed: false,
            shut: false,
            disrupted: false,
        }
    }
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Run {
    pub seed: u64,
    pub semantics: crate::semantics::Semantics,
    pub verdict: Verdict,
    pub trace: Vec<TraceEvent>,
    pub clients: Vec<ClientReport>,
    pub driver_stats: Stats,
    pub net_stats: crate::backend::sim::NetStats,
    pub plan: FaultPlan,
    pub steps: u64,
    pub end: Instant,
    /// Per client, the actions (and unanchored faults) its script had not reached when the
    /// run ended; a run cut short by a failure still needs them to replay exactly, since a
    /// client with steps left is one the scheduler may pick.
    pub unreached: Vec<Vec<Entry>>,
}

struct Client {
    name: String,
    slots: Vec<Slot>,
    cursor: usize,
    /// Bytes of the current `send` already sent.
    sent_progress: usize,
    expected: Vec<Expected>,
    /// Items of `expected` fully matched, and bytes matched of the next one.
    matched: usize,
    matched_bytes: usize,
    pipe: Option<PipeId>,
    inbox: Vec<u8>,
    received: Vec<u8>,
    sent: Vec<u8>,
    /// Where each send ended in `sent`.
    message_ends: Vec<usize>,
    paused: bool,
    closed: bool,
    shut: bool,
    eof: bool,
    reset: bool,
    wait_until: Option<Instant>,
    disrupted: bool,
}

impl Client {
    fn new(script: Script) -> Self {
        let mut slots = Vec::new();
        let mut expected = Vec::new();
        for entry in script.entries {
            match entry {
                Entry::Fault(spec) => slots.push(Slot::Fault(spec)),
                Entry::Step(step) if step.is_expectation() => {
                    let barrier = step.is_barrier();
                    expected.push(match step {
                        Step::Recv(b) | Step::Got(b) => Expected::Bytes(b),
                        Step::RecvEof | Step::GotEof => Expected::Eof,
                        _ => Expected::Reset,
                    });
                    if barrier {
                        slots.push(Slot::Barrier(expected.len() - 1));
                    }
                }
                Entry::Step(step) => slots.push(Slot::Action(step)),
            }
        }
        Client {
            name: script.name,
            slots,
            cursor: 0,
            sent_progress: 0,
            expected,
            matched: 0,
            matched_bytes: 0,
            pipe: None,
            inbox: Vec::new(),
            received: Vec::new(),
            sent: Vec::new(),
            message_ends: Vec::new(),
            paused: false,
            closed: false,
            shut: false,
            eof: false,
            reset: false,
            wait_until: None,
            disrupted: false,
        }
    }

    fn current(&self) -> Option<&Step> {
        match self.slots.get(self.cursor) {
            Some(Slot::Action(step)) => Some(step),
            _ => None,
        }
    }

    fn is_done(&self) -> bool {
        self.cursor >= self.slots.len()
    }

    /// What the client still waits to receive, for stall reports.
    fn awaited(&self) -> Option<String> {
        let item = self.expected.get(self.matched)?;
        Some(match item {
            Expected::Bytes(bytes) => format!(
                "client {} waits for {} and has {}",
                self.name,
                quote(bytes),
                quote(&bytes[..self.matched_bytes])
            ),
            Expected::Eof => format!("client {} waits for the server to close", self.name),
            Expected::Reset => format!("client {} waits for a reset", self.name),
        })
    }
}

thread_local! {
    static IN_SIMULATION: RefCell<bool> = const { RefCell::new(false) };
}

/// Panics inside a simulated service are verdicts, not noise on stderr: this hook keeps
/// quiet while a simulation step runs and defers to the previous hook otherwise.
fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !IN_SIMULATION.with(|f| *f.borrow()) {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// A world ready to run.
pub struct World<S: Service> {
    config: WorldConfig,
    driver: Driver<SimBackend, S>,
    clients: Vec<Client>,
    sched: SimRng,
    steps: u64,
    idle_turns: u64,
    settle_until: Option<Instant>,
    failure: Option<Failure>,
}

/// The error of building a world from scripts that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// A client acts before it connects (only `wait` may come first).
    #[error("client {client}: only `wait` may come before `connect`")]
    NotConnectedFirst { client: String },
    /// A client connects twice.
    #[error("client {client}: connects more than once (one connection per client)")]
    ConnectTwice { client: String },
    /// A fault names a client that takes no step.
    #[error("fault for unknown client {client}")]
    UnknownClient { client: String },
    /// A fault that needs a client has none, or one that takes none has one.
    #[error("fault `{fault}`: {problem}")]
    FaultTarget { fault: String, problem: String },
}

impl<S: Service> World<S> {
    /// Builds a world. `anchored` faults fire on an exact operation; `global` faults (no
    /// client) are armed from the start.
    pub fn new(
        config: WorldConfig,
        service: S,
        scripts: Vec<Script>,
        anchored: Vec<(Option<usize>, FaultSpec, u64)>,
        global: Vec<FaultSpec>,
    ) -> Result<Self, ScriptError> {
        for script in &scripts {
            let mut connects = 0;
            for entry in &script.entries {
                if let Entry::Step(step) = entry {
                    if *step == Step::Connect {
                        connects += 1;
                        if connects > 1 {
                            return Err(ScriptError::ConnectTwice {
                                client: script.name.clone(),
                            });
                        }
                    } else if connects == 0 && !matches!(step, Step::Wait(_)) {
                        return Err(ScriptError::NotConnectedFirst {
                            client: script.name.clone(),
                        });
                    }
                }
            }
        }
        let plan = config.plan.clone().unwrap_or_else(|| {
            FaultPlan::draw(config.faults, &mut SimRng::new(config.seed, Stream::Plan))
        });
        let mut net = Net::new(config.sim.clone(), config.seed, plan);
        for (client, spec, at) in anchored {
            net.anchor_fault(client, spec, at);
        }
        for spec in global {
            net.arm_fault(None, spec);
        }
        let backend = SimBackend::new(net);
        let mut driver_config = config.driver.clone();
        driver_config.log &= config.sim.detail;
        let driver = Driver::new(backend, service, driver_config);
        let clients = scripts.into_iter().map(Client::new).collect();
        let sched = SimRng::new(config.seed, Stream::Scheduler);
        let mut world = World {
            config,
            driver,
            clients,
            sched,
            steps: 0,
            idle_turns: 0,
            settle_until: None,
            failure: None,
        };
        for c in 0..world.clients.len() {
            world.skip_instant(c);
        }
        Ok(world)
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

    /// Runs to the end and returns the run with its verdict.
    pub fn run(mut self) -> Run {
        install_quiet_panic_hook();
        let mut runnable: Vec<usize> = Vec::new();
        while self.failure.is_none() {
            if self.steps >= self.config.max_steps {
                let steps = self.steps;
                self.fail(Failure::StepLimit { steps });
                break;
            }
            if self.steps == self.config.heal_after {
                self.net_mut().heal();
            }
            runnable.clear();
            if self.server_runnable() {
                runnable.push(0);
            }
            for c in 0..self.clients.len() {
                if self.client_runnable(c) {
                    runnable.push(c + 1);
                }
            }
            if runnable.is_empty() {
                if !self.advance_clock() {
                    break;
                }
                continue;
            }
            self.steps += 1;
            let pick = runnable[self.sched.below(runnable.len() as u64) as usize];
            if pick == 0 {
                self.server_step();
            } else {
                self.idle_turns = 0;
                self.client_step(pick - 1);
            }
        }
        if self.failure.is_none() {
            self.final_checks();
        }
        self.finish()
    }

    // ----- the server ----------------------------------------------------------------------

    fn server_runnable(&self) -> bool {
        self.net().server_ready() || self.driver.has_work()
    }

    fn server_step(&mut self) {
        let before = progress_mark(self.driver.stats());
        IN_SIMULATION.with(|f| *f.borrow_mut() = true);
        let result =
            panic::catch_unwind(AssertUnwindSafe(|| self.driver.turn(Some(Duration::ZERO))));
        IN_SIMULATION.with(|f| *f.borrow_mut() = false);
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(Failure::PollFailed {
                error: e.to_string(),
            }),
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                self.fail(Failure::Panic { message });
                return;
            }
        }
        let detail = self.net().config().detail;
        while let Some(line) = self.driver.poll_log() {
            if detail {
                self.net_mut().push_trace(TraceKind::Log(line.to_string()));
            }
        }
        let stats = self.driver.stats().clone();
        if progress_mark(&stats) == before {
            self.idle_turns += 1;
            if self.idle_turns > self.config.busy_limit {
                let turns = self.idle_turns;
                self.fail(Failure::BusyLoop { turns });
            }
        } else {
            self.idle_turns = 0;
        }
        if stats.sends_to_closed > 0 {
            self.fail(Failure::SendAfterClose {
                count: stats.sends_to_closed,
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
    fn skip_instant(&mut self, c: ClientIdx) {
        loop {
            let client = &self.clients[c];
            match client.slots.get(client.cursor) {
                Some(Slot::Fault(spec)) => {
                    let spec = *spec;
                    self.net_mut().arm_fault(Some(c), spec);
                }
                Some(Slot::Barrier(k)) if client.matched > *k => {}
                _ => break,
            }
            self.clients[c].cursor += 1;
        }
        // A wait starts when the script reaches it, and is traced then: its place in the
        // trace is where a replayed script reaches it too.
        let now = self.net().now();
        let client = &mut self.clients[c];
        if let Some(Step::Wait(d)) = client.current()
            && client.wait_until.is_none()
        {
            let d = *d;
            client.wait_until = Some(now + d);
            self.trace_client(c, Step::Wait(d));
        }
    }

    fn can_read(&self, c: ClientIdx) -> bool {
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

    fn client_runnable(&self, c: ClientIdx) -> bool {
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
            Step::Recv(_)
            | Step::RecvEof
            | Step::RecvReset
            | Step::Got(_)
            | Step::GotEof
            | Step::GotReset => false,
            Step::Wait(_) => client.wait_until.is_some_and(|t| t <= self.net().now()),
            Step::Shutdown | Step::Close | Step::Reset | Step::Pause | Step::Resume => true,
        }
    }

    fn trace_client(&mut self, c: ClientIdx, step: Step) {
        self.net_mut()
            .push_trace(TraceKind::Client { client: c, step });
    }

    fn client_step(&mut self, c: ClientIdx) {
        if self.can_read(c) {
            self.client_read(c);
            return;
        }
        // Drawn client faults replace an action, never a read or the end of a wait (whose
        // line was written when it began), so that the recorded line stands where a replayed
        // script will take it.
        if let Some(pipe) = self.clients[c].pipe
            && !self.clients[c].closed
            && !matches!(self.clients[c].current(), Some(Step::Wait(_)))
            && let Some(step) = self.draw_client_fault(c)
        {
            self.clients[c].disrupted |= step != Step::Shutdown;
            self.apply_action(c, pipe, step.clone());
            return;
        }
        let Some(step) = self.clients[c].current().cloned() else {
            return;
        };
        match step {
            Step::Connect => {
                if let Some(pipe) = self.net_mut().connect(c) {
                    self.clients[c].pipe = Some(pipe);
                    self.trace_client(c, Step::Connect);
                    self.advance(c);
                }
            }
            Step::Send(bytes) => {
                let Some(pipe) = self.clients[c].pipe else {
                    return;
                };
                let client = &self.clients[c];
                if client.closed || client.shut {
                    // The bytes go nowhere, as a send after shutdown does (EPIPE).
                    self.trace_client(c, Step::Send(bytes[client.sent_progress..].to_vec()));
                    self.advance(c);
                    return;
                }
                let rest = bytes[client.sent_progress..].to_vec();
                let n = self.net_mut().client_send(pipe, &rest);
                if n == 0 {
                    return;
                }
                self.clients[c].sent.extend_from_slice(&rest[..n]);
                let end = self.clients[c].sent.len();
                self.clients[c].message_ends.push(end);
                self.trace_client(c, Step::Send(rest[..n].to_vec()));
                self.clients[c].sent_progress += n;
                if self.clients[c].sent_progress >= bytes.len() {
                    self.advance(c);
                }
            }
            Step::Wait(_) => self.advance(c),
            action => {
                let Some(pipe) = self.clients[c].pipe else {
                    return;
                };
                self.apply_action(c, pipe, action);
                self.advance(c);
            }
        }
    }

    fn draw_client_fault(&mut self, c: ClientIdx) -> Option<Step> {
        let shut = self.clients[c].shut;
        self.net_mut().draw_client_fault(shut)
    }

    fn apply_action(&mut self, c: ClientIdx, pipe: PipeId, step: Step) {
        match &step {
            Step::Shutdown if !self.clients[c].shut && !self.clients[c].closed => {
                self.clients[c].shut = true;
                self.net_mut().client_shutdown(pipe);
            }
            Step::Close if !self.clients[c].closed => {
                self.clients[c].closed = true;
                self.net_mut().client_close(pipe);
            }
            Step::Reset if !self.clients[c].closed => {
                self.clients[c].closed = true;
                self.net_mut().client_reset(pipe);
            }
            Step::Pause => self.clients[c].paused = true,
            Step::Resume => self.clients[c].paused = false,
            _ => {}
        }
        self.trace_client(c, step);
    }

    fn advance(&mut self, c: ClientIdx) {
        let client = &mut self.clients[c];
        client.cursor += 1;
        client.sent_progress = 0;
        client.wait_until = None;
        self.skip_instant(c);
    }

    fn client_read(&mut self, c: ClientIdx) {
        let Some(pipe) = self.clients[c].pipe else {
            return;
        };
        match self.net_mut().client_read(pipe) {
            ClientRead::Data(bytes) => {
                self.clients[c].received.extend_from_slice(&bytes);
                // Only bytes something will check are kept for matching.
                let client = &mut self.clients[c];
                if self.config.strict || client.matched < client.expected.len() {
                    client.inbox.extend_from_slice(&bytes);
                }
                self.trace_client(c, Step::Got(bytes));
                self.match_inbox(c);
            }
            ClientRead::Eof => {
                self.clients[c].eof = true;
                self.trace_client(c, Step::GotEof);
                self.match_end(c, Expected::Eof);
            }
            ClientRead::Reset => {
                self.clients[c].reset = true;
                self.trace_client(c, Step::GotReset);
                self.match_end(c, Expected::Reset);
            }
            ClientRead::Nothing => {}
        }
        // A barrier may be satisfied now.
        self.skip_instant(c);
    }

    /// Matches received bytes against the expected stream.
    fn match_inbox(&mut self, c: ClientIdx) {
        let client = &mut self.clients[c];
        while !client.inbox.is_empty() {
            let expected = match client.expected.get(client.matched) {
                Some(Expected::Bytes(bytes)) => bytes,
                Some(end) => {
                    let failure = Failure::UnexpectedEnd {
                        client: client.name.clone(),
                        expected: end_name(end).to_string(),
                        got: quote(&client.inbox),
                    };
                    self.fail(failure);
                    return;
                }
                // Nothing more expected: strict runs report leftovers at the end.
                None => return,
            };
            let rest = &expected[client.matched_bytes..];
            let n = rest.len().min(client.inbox.len());
            if client.inbox[..n] != rest[..n] {
                let mut got = expected[..client.matched_bytes].to_vec();
                got.extend_from_slice(&client.inbox[..n]);
                let failure = Failure::Mismatch {
                    client: client.name.clone(),
                    expected: expected.clone(),
                    got,
                };
                self.fail(failure);
                return;
            }
            let total = expected.len();
            client.inbox.drain(..n);
            client.matched_bytes += n;
            if client.matched_bytes == total {
                client.matched += 1;
                client.matched_bytes = 0;
            }
        }
    }

    /// Matches an EOF or a reset against the expected stream.
    fn match_end(&mut self, c: ClientIdx, seen: Expected) {
        let client = &mut self.clients[c];
        let failure = match client.expected.get(client.matched) {
            Some(item) if *item == seen && client.inbox.is_empty() => {
                client.matched += 1;
                return;
            }
            Some(Expected::Bytes(bytes)) => Failure::UnexpectedEnd {
                client: client.name.clone(),
                expected: quote(bytes),
                got: format!(
                    "{}, then {}",
                    quote(&bytes[..client.matched_bytes]),
                    end_name(&seen)
                ),
            },
            Some(item) => Failure::UnexpectedEnd {
                client: client.name.clone(),
                expected: end_name(item).to_string(),
                got: end_name(&seen).to_string(),
            },
            None if self.config.strict => Failure::UnexpectedEnd {
                client: client.name.clone(),
                expected: "the connection to stay open".to_string(),
                got: end_name(&seen).to_string(),
            },
            None => return,
        };
        self.fail(failure);
    }

    // ----- time and the end ----------------------------------------------------------------

    /// Jumps to the next deadline; false when the run is over.
    fn advance_clock(&mut self) -> bool {
        let now = self.net().now();
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
                waiting.push(format!(
                    "client {} waits to {}",
                    client.name,
                    transcript::render_step(step)
                ));
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
                if !client.inbox.is_empty() {
                    let failure = Failure::UnexpectedEnd {
                        client: client.name.clone(),
                        expected: "nothing more".to_string(),
                        got: quote(&client.inbox),
                    };
                    self.fail(failure);
                    return;
                }
            }
        }
        for c in 0..self.clients.len() {
            let client = &self.clients[c];
            if let Some(pipe) = client.pipe
                && (client.closed || client.reset)
                && self.net().server_holds(pipe)
            {
                let name = client.name.clone();
                self.fail(Failure::Leak { client: name });
                return;
            }
        }
    }

    fn finish(self) -> Run {
        let net = &self.driver.backend().net;
        let disrupted = net.disrupted().clone();
        let clients = self
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| ClientReport {
                name: c.name.clone(),
                sent: c.sent.clone(),
                messages: c
                    .message_ends
                    .iter()
                    .scan(0, |start, &end| {
                        let message = c.sent[*start..end].to_vec();
                        *start = end;
                        Some(message)
                    })
                    .collect(),
                received: c.received.clone(),
                saw_eof: c.eof,
                saw_reset: c.reset,
                closed: c.closed,
                shut: c.shut,
                disrupted: c.disrupted || disrupted.contains(&i),
            })
            .collect();
        let unreached = self
            .clients
            .iter()
            .map(|c| {
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
                left
            })
            .collect();
        let verdict = match self.failure {
            Some(f) => Verdict::Fail(f),
            None => Verdict::Pass,
        };
        Run {
            seed: self.config.seed,
            semantics: self.config.sim.semantics,
            verdict,
            trace: net.trace.clone(),
            clients,
            driver_stats: self.driver.stats().clone(),
            net_stats: net.stats.clone(),
            plan: net.plan().clone(),
            steps: self.steps,
            end: net.now(),
            unreached,
        }
    }
}

/// Cuts the middle out of a long description, for messages.
fn shorten(text: &str) -> String {
    const EDGE: usize = 60;
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 2 * EDGE + 20 {
        return text.to_string();
    }
    let head: String = chars[..EDGE].iter().collect();
    let tail: String = chars[chars.len() - EDGE..].iter().collect();
    format!("{head}...({} characters)...{tail}", chars.len() - 2 * EDGE)
}

fn end_name(item: &Expected) -> &'static str {
    match item {
        Expected::Reset => "a reset",
        _ => "the server's close (EOF)",
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

impl Run {
    /// The run as a transcript: `header` lines, then every client event and fault in the
    /// order it happened, with `@` lines where the clock moved. Server detail and log lines
    /// become comments when `with_detail` is set.
    pub fn transcript(&self, header: Vec<Header>, with_detail: bool) -> Transcript {
        let mut t = Transcript::default();
        for h in header {
            t.push(Item::Header(h));
        }
        if self.clients.len() > 1 {
            let names = self.clients.iter().map(|c| c.name.clone()).collect();
            t.push(Item::Header(Header::Clients(names)));
        }
        t.push(Item::Blank);
        let mut last_at = Instant::ZERO;
        for event in &self.trace {
            let item = match &event.kind {
                TraceKind::Client { client, step } => Item::Step {
                    client: self.clients[*client].name.clone(),
                    step: step.clone(),
                },
                TraceKind::Fault { client, spec, at } => Item::Fault(FaultLine {
                    client: client.map(|c| self.clients[c].name.clone()),
                    spec: *spec,
                    at: Some(*at),
                }),
                TraceKind::Server(text) | TraceKind::Log(text) if with_detail => {
                    Item::Comment(format!(" {text}"))
                }
                _ => continue,
            };
            if event.at != last_at {
                last_at = event.at;
                t.push(Item::At(event.at.since_start()));
            }
            t.push(item);
        }
        if self.unreached.iter().any(|u| !u.is_empty()) {
            t.push(Item::Blank);
            t.push(Item::Comment(
                " not reached when the run ended:".to_string(),
            ));
            for (c, entries) in self.unreached.iter().enumerate() {
                let client = self.clients[c].name.clone();
                for entry in entries {
                    t.push(match entry {
                        Entry::Step(step) => Item::Step {
                            client: client.clone(),
                            step: step.clone(),
                        },
                        Entry::Fault(spec) => Item::Fault(FaultLine {
                            client: Some(client.clone()),
                            spec: *spec,
                            at: None,
                        }),
                    });
                }
            }
        }
        t
    }

    /// A hash of the trace, to compare runs cheaply (FNV-1a over the rendered events).
    pub fn trace_hash(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for event in &self.trace {
            for byte in format!("{:?}", event).bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        hash
    }
}
