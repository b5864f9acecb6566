//! What a run leaves behind: per client, what it did and saw with the virtual time of every
//! event ([`ClientReport`]); for the whole run, the trace and the verdict ([`Run`]).

use super::verdict::Verdict;
use crate::backend::sim::NetStats;
use crate::driver::Stats;
use crate::fault::{FaultPlan, FaultSpec};
use crate::script::{ClientId, Entry, Step};
use crate::semantics::Semantics;
use crate::time::Instant;

pub use crate::timeline::{ClientEvent, ClientReport, EventKind};

/// One entry of a run's trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// When.
    pub(crate) at: Instant,
    /// What.
    pub(crate) kind: TraceKind,
}

impl TraceEvent {
    /// When.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// What.
    pub fn kind(&self) -> &TraceKind {
        &self.kind
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceKind {
    /// A client acted or observed something; observations carry what was received.
    Client {
        /// Who.
        client: ClientId,
        /// What, as a transcript line would say it.
        step: Step,
    },
    /// A fault fired on operation number `at` of its kind.
    Fault {
        /// The client whose connection it hit, if any.
        client: Option<ClientId>,
        /// The fault.
        spec: FaultSpec,
        /// Which operation of its kind, from 1.
        at: u64,
    },
    /// A server-side call (only when detail is asked for).
    Server(String),
    /// A line of the driver's or the service's log (only when detail is asked for).
    Log(String),
}

/// A finished run.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Run {
    /// The seed.
    pub(crate) seed: u64,
    /// The readiness semantics it ran under.
    pub(crate) semantics: Semantics,
    /// How it ended.
    pub(crate) verdict: Verdict,
    /// Everything clients did and saw, and every fault, in order (empty when the run was
    /// not recorded).
    pub(crate) trace: Vec<TraceEvent>,
    /// Per client, in scheduling order.
    pub(crate) clients: Vec<ClientReport>,
    /// The driver's counters.
    pub(crate) driver_stats: Stats,
    /// The simulated network's counters.
    pub(crate) net_stats: NetStats,
    /// The faults drawn for the run.
    pub(crate) plan: FaultPlan,
    /// Scheduler steps taken.
    pub(crate) steps: u64,
    /// The virtual time when it ended.
    pub(crate) end: Instant,
    /// Per client, the actions (and unanchored faults) its script had not reached when the
    /// run ended; a run cut short by a failure still needs them to replay exactly, since a
    /// client with steps left is one the scheduler may pick.
    pub(crate) unreached: Vec<Vec<Entry>>,
    /// What the service was told, in the order it was told (when
    /// [`WorldConfig::journal`](super::WorldConfig::journal) is set; empty otherwise): the
    /// server's side of the run, which whole-run oracles judge against.
    pub(crate) server: Vec<ServerEvent>,
}

impl Run {
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The readiness semantics it ran under.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// How it ended.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Everything clients did and saw, and every fault, in order (empty when the run was
    /// not recorded).
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }

    /// Per client, in scheduling order.
    pub fn clients(&self) -> &[ClientReport] {
        &self.clients
    }

    /// The driver's counters.
    pub fn driver_stats(&self) -> &Stats {
        &self.driver_stats
    }

    /// The simulated network's counters.
    pub fn net_stats(&self) -> &NetStats {
        &self.net_stats
    }

    /// The faults drawn for the run.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Scheduler steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The virtual time when it ended.
    pub fn end(&self) -> Instant {
        self.end
    }

    /// Per client, the actions (and unanchored faults) its script had not reached when the
    /// run ended; a run cut short by a failure still needs them to replay exactly, since a
    /// client with steps left is one the scheduler may pick.
    pub fn unreached(&self) -> &[Vec<Entry>] {
        &self.unreached
    }

    /// What the service was told, in the order it was told (when
    /// [`WorldConfig::journal`](super::WorldConfig::journal) is set; empty otherwise): the
    /// server's side of the run, which whole-run oracles judge against.
    pub fn server(&self) -> &[ServerEvent] {
        &self.server
    }
}

/// One thing the service under test was told, at the virtual time it was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerEvent {
    /// When.
    pub at: Instant,
    /// The client whose connection it is about (its index in the run's clients).
    pub client: usize,
    /// What.
    pub kind: ServerEventKind,
}

/// What the service was told about a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEventKind {
    /// The connection was accepted.
    Accepted,
    /// These bytes were read from it, in one read.
    Read(Vec<u8>),
    /// Its peer shut down its side (a read returned 0).
    PeerClosed,
    /// The service asked to close it (after what it queued).
    Closing,
    /// The connection is gone (closed by either side, reset or cut).
    Closed,
}

impl Run {
    /// A run that never started because its play cannot run.
    pub(crate) fn refused(seed: u64, semantics: Semantics, message: String) -> Run {
        Run {
            seed,
            semantics,
            verdict: Verdict::Fail(super::Failure::BadScript { message }),
            trace: Vec::new(),
            clients: Vec::new(),
            driver_stats: Stats::default(),
            net_stats: NetStats::default(),
            plan: FaultPlan::calm(),
            server: Vec::new(),
            steps: 0,
            end: Instant::ZERO,
            unreached: Vec::new(),
        }
    }

    /// A hash of the trace, to compare runs cheaply (FNV-1a over the events).
    pub fn trace_hash(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for event in &self.trace {
            for byte in format!("{event:?}").bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        hash
    }

    /// The report of the client named `name`.
    pub fn client(&self, name: &str) -> Option<&ClientReport> {
        self.clients.iter().find(|c| c.name == name)
    }
}
