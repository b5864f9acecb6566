//! Checking services: reference models, generated scenarios, fuzz campaigns and shrinking.
//!
//! A [`Campaign`] runs one generated scenario per seed, judges every client's bytes with a
//! reference model (or an oracle of the caller's), and shrinks each failure to a minimal
//! transcript that `muxsim replay` reproduces. Seeds are `start + i` for `i` in the campaign's
//! range, and a shard `I/N` takes the indices `i` with `i % N == I - 1`, so shards are
//! disjoint and together cover the whole campaign.
//!
//! # Fuzzing a service of your own
//!
//! ```
//! use muxsim::check::Campaign;
//! use muxsim::core::echo::Echo;
//! use muxsim::fault::FaultFamilies;
//!
//! let report = Campaign::new("my-echo", || Echo::default())
//!     .seeds(0, 200)
//!     .faults(FaultFamilies::ALL)
//!     // Optional: what each client must have received, from what it sent.
//!     .oracle(|client| muxsim::check::oracle::judge("echo", client, None).unwrap())
//!     .run();
//! assert!(report.failures.is_empty(), "{report}");
//! ```

pub mod generate;
pub mod oracle;
mod shrink;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use shrink::{minimize, to_transcript};

use crate::core::Service;
use crate::fault::{Family, FaultFamilies, FaultPlan};
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use crate::semantics::Semantics;
use crate::transcript::{Expect, Transcript};
use crate::world::{ClientReport, Failure, Run, Verdict, WorldConfig};

/// Applies the built-in reference model of `service` to every client of a run.
pub fn judge_clients(service: &str, run: &Run, max_line: Option<usize>) -> Verdict {
    for client in &run.clients {
        if let Some(Err(detail)) = oracle::judge(service, client, max_line) {
            return Verdict::Fail(Failure::Oracle {
                client: client.name.clone(),
                detail,
            });
        }
    }
    Verdict::Pass
}

type MakeService = Arc<dyn Fn() -> Box<dyn Service> + Send + Sync>;
type Oracle = Arc<dyn Fn(&ClientReport) -> Result<(), String> + Send + Sync>;

/// A fuzz campaign: many seeds, one generated scenario each.
#[derive(Clone)]
pub struct Campaign {
    name: String,
    make: MakeService,
    oracle: Option<Oracle>,
    start: u64,
    count: Option<u64>,
    shard: (u64, u64),
    semantics: Vec<Semantics>,
    faults: FaultFamilies,
    clients: usize,
    lines: bool,
    jobs: usize,
    shrink: bool,
    keep_going: bool,
    deadline: Option<std::time::Instant>,
    base: WorldConfig,
}

/// One failure a campaign found.
#[derive(Clone, Debug)]
pub struct Found {
    pub seed: u64,
    pub semantics: Semantics,
    pub failure: Failure,
    /// The minimal transcript that reproduces it, when shrinking is on.
    pub minimal: Option<Transcript>,
}

/// What a campaign did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seeds_run: u64,
    pub events: u64,
    pub failures: Vec<Found>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} seeds, {} failures",
            self.seeds_run,
            self.failures.len()
        )?;
        for found in &self.failures {
            writeln!(
                f,
                "seed {} ({}): {}",
                found.seed, found.semantics, found.failure
            )?;
            if let Some(t) = &found.minimal {
                write!(f, "{t}")?;
            }
        }
        Ok(())
    }
}

/// Progress as seeds finish: seeds done, failures so far.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

impl Campaign {
    /// A campaign over the service `make` builds; `name` goes into transcripts and, for
    /// built-in services, picks the reference model.
    pub fn new<S, F>(name: &str, make: F) -> Self
    where
        S: Service + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let builtin = crate::core::lookup(name).is_some();
        let oracle_name = name.to_string();
        let oracle: Option<Oracle> = builtin.then(|| {
            Arc::new(move |client: &ClientReport| {
                oracle::judge(&oracle_name, client, None).unwrap_or(Ok(()))
            }) as Oracle
        });
        Campaign {
            name: name.to_string(),
            make: Arc::new(move || Box::new(make()) as Box<dyn Service>),
            oracle,
            start: 0,
            count: Some(100),
            shard: (1, 1),
            semantics: Semantics::ALL.to_vec(),
            faults: FaultFamilies::ALL,
            clients: 3,
            lines: name == "lines",
            jobs: 1,
            shrink: true,
            keep_going: true,
            deadline: None,
            base: WorldConfig::default(),
        }
    }

    /// A campaign over a built-in service, by name.
    pub fn builtin(name: &str) -> Option<Self> {
        crate::core::lookup(name)?;
        let owned = name.to_string();
        Some(Campaign::new(name, move || {
            crate::scenario::make_service(&owned, &Default::default())
        }))
    }

    /// Seeds `start .. start + count`.
    pub fn seeds(mut self, start: u64, count: u64) -> Self {
        self.start = start;
        self.count = Some(count);
        self
    }

    /// Runs seeds from `start` until the deadline (wall clock: it bounds the campaign, it
    /// never reaches a simulation).
    pub fn until(mut self, start: u64, deadline: std::time::Instant) -> Self {
        self.start = start;
        self.count = None;
        self.deadline = Some(deadline);
        self
    }

    /// Runs only shard `index` (from 1) of `of`.
    pub fn shard(mut self, index: u64, of: u64) -> Self {
        self.shard = (index, of.max(1));
        self
    }

    /// The semantics to cycle through, by seed.
    pub fn semantics(mut self, semantics: impl Into<Vec<Semantics>>) -> Self {
        let list = semantics.into();
        if !list.is_empty() {
            self.semantics = list;
        }
        self
    }

    pub fn faults(mut self, faults: FaultFamilies) -> Self {
        self.faults = faults;
        self
    }

    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients.max(1);
        self
    }

    /// Whether generated payloads are newline-terminated lines.
    pub fn lines(mut self, lines: bool) -> Self {
        self.lines = lines;
        self
    }

    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    pub fn shrink(mut self, shrink: bool) -> Self {
        self.shrink = shrink;
        self
    }

    /// Whether to go on after the first failure.
    pub fn keep_going(mut self, keep_going: bool) -> Self {
        self.keep_going = keep_going;
        self
    }

    /// What each client must have received; replaces the built-in model.
    pub fn oracle<F>(mut self, oracle: F) -> Self
    where
        F: Fn(&ClientReport) -> Result<(), String> + Send + Sync + 'static,
    {
        self.oracle = Some(Arc::new(oracle));
        self
    }

    /// The world settings every seed starts from (buffers, limits).
    pub fn world(mut self, base: WorldConfig) -> Self {
        self.base = base;
        self
    }

    /// The seed of campaign index `i`.
    pub fn seed_at(&self, i: u64) -> u64 {
        self.start.wrapping_add(i)
    }

    /// The seeds this shard runs, when the campaign is bounded by count.
    pub fn shard_seeds(&self) -> Vec<u64> {
        let (index, of) = self.shard;
        (0..self.count.unwrap_or(0))
            .filter(|i| i % of == index - 1)
            .map(|i| self.seed_at(i))
            .collect()
    }

    /// The scenario of one seed.
    pub fn scenario(&self, seed: u64) -> Scenario {
        let semantics = self.semantics[(seed % self.semantics.len() as u64) as usize];
        let mut config = self.base.clone();
        config.seed = seed;
        config.faults = self.faults;
        config.sim.semantics = semantics;
        config.strict = false;
        let plan = FaultPlan::draw(self.faults, &mut SimRng::new(seed, Stream::Plan));
        let gen_config = generate::GenConfig {
            lines: self.lines,
            storm: plan.rate(Family::Storm) > 0,
            ..generate::GenConfig::for_service(&self.name, self.clients)
        };
        Scenario {
            service: self.name.clone(),
            config,
            scripts: generate::generate(seed, &gen_config),
            anchored: Vec::new(),
            global: Vec::new(),
            expect: Expect::Pass,
            options: Default::default(),
            oracle: true,
        }
    }

    /// Runs a scenario with this campaign's service and judges it.
    pub fn check(&self, scenario: &Scenario) -> (Run, Verdict) {
        let run = scenario.run_with((self.make)());
        let verdict = self.judge(&run);
        (run, verdict)
    }

    fn judge(&self, run: &Run) -> Verdict {
        if !run.verdict.is_pass() {
            return run.verdict.clone();
        }
        if let Some(oracle) = &self.oracle {
            for client in &run.clients {
                if let Err(detail) = oracle(client) {
                    return Verdict::Fail(Failure::Oracle {
                        client: client.name.clone(),
                        detail,
                    });
                }
            }
        }
        Verdict::Pass
    }

    /// Runs one seed: its failure, shrunk if shrinking is on.
    pub fn run_seed(&self, seed: u64) -> (Run, Option<Found>) {
        // Run the scenario by value; on the rare failure, make it again (it is a function of
        // the seed) for the shrinker.
        let run = self.scenario(seed).into_run_with((self.make)());
        let verdict = self.judge(&run);
        let Verdict::Fail(failure) = verdict else {
            return (run, None);
        };
        let scenario = self.scenario(seed);
        let minimal = self.shrink.then(|| {
            let small = minimize(&scenario, &run, failure.kind(), |s| self.check(s));
            let (small_run, small_verdict) = self.check(&small);
            to_transcript(&small, &small_run, small_verdict.failure())
        });
        let found = Found {
            seed,
            semantics: scenario.config.sim.semantics,
            failure,
            minimal,
        };
        (run, Some(found))
    }

    /// Runs the campaign on `jobs` threads, reporting progress as seeds finish.
    pub fn run_with_progress(&self, progress: Progress) -> Report {
        let (index, of) = self.shard;
        let next = AtomicU64::new(0);
        let done = AtomicU64::new(0);
        let events = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let failures: Mutex<Vec<Found>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..self.jobs {
                scope.spawn(|| {
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if self
                            .deadline
                            .is_some_and(|d| std::time::Instant::now() >= d)
                        {
                            return;
                        }
                        // Walk the shard's indices: index - 1, index - 1 + of, ...
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let i = k * of + (index - 1);
                        if self.count.is_some_and(|count| i >= count) {
                            return;
                        }
                        let (run, found) = self.run_seed(self.seed_at(i));
                        events.fetch_add(run.net_stats.events + run.steps, Ordering::Relaxed);
                        let failed = {
                            let mut list = failures.lock().unwrap_or_else(|e| e.into_inner());
                            if let Some(found) = found {
                                list.push(found);
                                if !self.keep_going {
                                    stop.store(true, Ordering::Relaxed);
                                }
                            }
                            list.len() as u64
                        };
                        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                        progress(finished, failed);
                    }
                });
            }
        });
        let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
        failures.sort_by_key(|f| f.seed);
        Report {
            seeds_run: done.into_inner(),
            events: events.into_inner(),
            failures,
        }
    }

    /// Runs the campaign without progress reports.
    pub fn run(&self) -> Report {
        self.run_with_progress(&|_, _| {})
    }
}
