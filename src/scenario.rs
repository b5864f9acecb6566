//! Scenarios: a transcript turned into a world, run, and judged against what it expects.
//!
//! [`Scenario::from_transcript`] reads the header (service, semantics, seed, faults, limits)
//! and splits the lines into one script per client. Faults with `at N` are anchored to that
//! operation; faults without it are armed when the client's script reaches them (or, for
//! server-wide faults, from the start).

use std::time::Duration;

use crate::core::{self, Service};
use crate::fault::{FaultFamilies, FaultSpec};
use crate::semantics::Semantics;
use crate::transcript::{Expect, Header, Item, Limit, Step, Transcript};
use crate::world::{Entry, Run, Script, Verdict, World, WorldConfig};

/// Why a transcript cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The transcript names no service and none was given.
    #[error("no service: add a `service NAME` line (one of {known})")]
    NoService { known: String },
    /// The service is not one muxsim knows.
    #[error("{line}:1: unknown service `{name}` (expected one of {known})")]
    UnknownService {
        name: String,
        line: usize,
        known: String,
    },
    /// A client's steps cannot be run as written.
    #[error("{line}:1: {message}")]
    Script { line: usize, message: String },
    /// The transcript has no client.
    #[error("no client steps: a transcript needs at least one `NAME connect` line")]
    NoClients,
}

/// A runnable description of a simulation.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub service: String,
    pub config: WorldConfig,
    pub scripts: Vec<Script>,
    pub anchored: Vec<(Option<usize>, FaultSpec, u64)>,
    pub global: Vec<FaultSpec>,
    pub expect: Expect,
    /// The `lines` service's limits, from `limit max-line` and `limit request-timeout-ms`.
    pub options: ServiceOptions,
    /// Judge clients by the service's reference model (`oracle on`).
    pub oracle: bool,
}

/// Whether a run ended the way its transcript expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Passed, or failed exactly as `expect` says.
    AsExpected,
    /// Expected a failure of some kind and passed.
    UnexpectedPass { expected: Expect },
    /// Failed, not as expected.
    Failed,
}

impl Scenario {
    /// Reads a transcript. `service` overrides the transcript's `service` line.
    pub fn from_transcript(t: &Transcript, service: Option<&str>) -> Result<Self, ScenarioError> {
        let known = core::names();
        let service_line = t
            .lines
            .iter()
            .position(|l| matches!(l.item, Item::Header(Header::Service(_))));
        let service = match (service, t.service()) {
            (Some(s), _) | (None, Some(s)) => s.to_string(),
            (None, None) => return Err(ScenarioError::NoService { known }),
        };
        if core::lookup(&service).is_none() {
            return Err(ScenarioError::UnknownService {
                name: service,
                line: service_line.map_or(1, |i| i + 1),
                known,
            });
        }
        let mut config = WorldConfig {
            seed: t.seed().unwrap_or(0),
            faults: t.faults().unwrap_or(FaultFamilies::NONE),
            ..WorldConfig::default()
        };
        config.sim.semantics = t.semantics().unwrap_or(Semantics::EpollEt);
        config.strict = !t.oracle();
        apply_limits(t, &mut config);

        let mut scripts: Vec<Script> = t.clients().into_iter().map(Script::new).collect();
        let mut connected: Vec<bool> = vec![false; scripts.len()];
        let mut anchored = Vec::new();
        let mut global = Vec::new();
        for (index, line) in t.lines.iter().enumerate() {
            let line_no = index + 1;
            let script_error = |message: String| ScenarioError::Script {
                line: line_no,
                message,
            };
            match &line.item {
                Item::Step { client, step } => {
                    let c = client_index(&mut scripts, &mut connected, client);
                    match (step, connected[c]) {
                        (Step::Connect, true) => {
                            return Err(script_error(format!(
                                "client {client} connects a second time (one connection per client)"
                            )));
                        }
                        (Step::Connect, false) => connected[c] = true,
                        (Step::Wait(_), false) => {}
                        (other, false) => {
                            return Err(script_error(format!(
                                "client {client} must `connect` before `{}`",
                                crate::transcript::render_step(other)
                            )));
                        }
                        _ => {}
                    }
                    scripts[c].entries.push(Entry::Step(step.clone()));
                }
                Item::Fault(fault) => match (&fault.client, fault.at) {
                    (Some(client), at) => {
                        let c = client_index(&mut scripts, &mut connected, client);
                        match at {
                            Some(at) => anchored.push((Some(c), fault.spec, at)),
                            None => scripts[c].entries.push(Entry::Fault(fault.spec)),
                        }
                    }
                    (None, Some(at)) => anchored.push((None, fault.spec, at)),
                    (None, None) => global.push(fault.spec),
                },
                _ => {}
            }
        }
        if let Some(c) = connected.iter().position(|c| !c) {
            return Err(ScenarioError::Script {
                line: 1,
                message: format!("client {} never connects", scripts[c].name),
            });
        }
        if scripts.is_empty() {
            return Err(ScenarioError::NoClients);
        }
        Ok(Scenario {
            service,
            config,
            scripts,
            anchored,
            global,
            expect: t.expect(),
            options: ServiceOptions {
                max_line: t
                    .limit(Limit::MaxLine)
                    .map(|v| usize::try_from(v).unwrap_or(usize::MAX)),
                request_timeout_ms: t.limit(Limit::RequestTimeoutMs),
            },
            oracle: t.oracle(),
        })
    }

    /// Builds the world and runs it with the named built-in service.
    pub fn run(&self) -> Run {
        let service = make_service(&self.service, &self.options);
        self.run_with(service)
    }

    /// Runs with a service of the caller's.
    pub fn run_with<S: Service>(&self, service: S) -> Run {
        self.clone().into_run_with(service)
    }

    /// Runs with a service of the caller's, giving the scenario up: no copy of its scripts
    /// (payloads can be large, and a campaign runs each scenario once).
    pub fn into_run_with<S: Service>(self, service: S) -> Run {
        match World::new(
            self.config,
            service,
            self.scripts,
            self.anchored,
            self.global,
        ) {
            Ok(world) => world.run(),
            // `from_transcript` already rejected every script `World::new` refuses.
            Err(e) => unreachable!("scenario validated when it was read: {e}"),
        }
    }

    /// The run's verdict, with the reference model applied when `oracle on`.
    pub fn judge(&self, run: &Run) -> Verdict {
        if !self.oracle || !run.verdict.is_pass() {
            return run.verdict.clone();
        }
        crate::check::judge_clients(&self.service, run, self.options.max_line)
    }

    /// Judges a run against this scenario's `expect` line.
    pub fn outcome(&self, run: &Run) -> Outcome {
        match (&self.judge(run), self.expect) {
            (Verdict::Pass, Expect::Pass) => Outcome::AsExpected,
            (Verdict::Pass, expected) => Outcome::UnexpectedPass { expected },
            (Verdict::Fail(f), expected) if f.expect_kind() == Some(expected) => {
                Outcome::AsExpected
            }
            (Verdict::Fail(_), _) => Outcome::Failed,
        }
    }
}

fn client_index(scripts: &mut Vec<Script>, connected: &mut Vec<bool>, name: &str) -> usize {
    match scripts.iter().position(|s| s.name == name) {
        Some(i) => i,
        None => {
            scripts.push(Script::new(name));
            connected.push(false);
            scripts.len() - 1
        }
    }
}

fn apply_limits(t: &Transcript, config: &mut WorldConfig) {
    for (limit, _) in Limit::ALL {
        let Some(value) = t.limit(*limit) else {
            continue;
        };
        let as_usize = usize::try_from(value).unwrap_or(usize::MAX);
        match limit {
            Limit::MaxConns => config.driver.max_conns = as_usize,
            Limit::ReadBudget => config.driver.read_budget = as_usize.max(1),
            Limit::HighWater => config.driver.out_high_water = as_usize,
            Limit::HardLimit => config.driver.out_hard_limit = as_usize,
            Limit::IdleTimeoutMs => {
                config.driver.idle_timeout = (value > 0).then(|| Duration::from_millis(value))
            }
            Limit::LingerMs => config.driver.linger = Duration::from_millis(value),
            Limit::Buffer => config.sim.buffer = as_usize.max(1),
            Limit::Backlog => config.sim.backlog = as_usize.max(1),
            Limit::MaxLine | Limit::RequestTimeoutMs => {}
            Limit::Steps => config.max_steps = value,
        }
    }
}

/// The `limit` lines that reproduce `config` where it differs from the defaults.
pub fn limit_headers(config: &WorldConfig) -> Vec<Header> {
    let d = WorldConfig::default();
    let ms = |t: Option<Duration>| t.map_or(0, |t| t.as_millis() as u64);
    let pairs = [
        (
            Limit::MaxConns,
            d.driver.max_conns as u64,
            config.driver.max_conns as u64,
        ),
        (
            Limit::ReadBudget,
            d.driver.read_budget as u64,
            config.driver.read_budget as u64,
        ),
        (
            Limit::HighWater,
            d.driver.out_high_water as u64,
            config.driver.out_high_water as u64,
        ),
        (
            Limit::HardLimit,
            d.driver.out_hard_limit as u64,
            config.driver.out_hard_limit as u64,
        ),
        (
            Limit::IdleTimeoutMs,
            ms(d.driver.idle_timeout),
            ms(config.driver.idle_timeout),
        ),
        (
            Limit::LingerMs,
            ms(Some(d.driver.linger)),
            ms(Some(config.driver.linger)),
        ),
        (Limit::Buffer, d.sim.buffer as u64, config.sim.buffer as u64),
        (
            Limit::Backlog,
            d.sim.backlog as u64,
            config.sim.backlog as u64,
        ),
        (Limit::Steps, d.max_steps, config.max_steps),
    ];
    pairs
        .into_iter()
        .filter(|(_, default, value)| default != value)
        .map(|(limit, _, value)| Header::Limit(limit, value))
        .collect()
}

/// Limits of the built-in services that a transcript or the command line can set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceOptions {
    /// `lines`: the longest line accepted.
    pub max_line: Option<usize>,
    /// `lines`: how long a line may stay incomplete, in milliseconds (0: forever).
    pub request_timeout_ms: Option<u64>,
}

/// A built-in service by name, with `options` applied where the service has them.
///
/// # Panics
///
/// When `name` is not a built-in service; callers look it up first.
pub fn make_service(name: &str, options: &ServiceOptions) -> Box<dyn Service + Send> {
    if name == "lines" {
        let max_line = options.max_line.unwrap_or(core::lines::DEFAULT_MAX_LINE);
        let timeout = match options.request_timeout_ms {
            None => Some(core::lines::DEFAULT_REQUEST_TIMEOUT),
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        return Box::new(core::lines::Lines::with_limits(max_line, timeout));
    }
    let entry = core::lookup(name).expect("service name was checked against the catalog");
    (entry.make)()
}
