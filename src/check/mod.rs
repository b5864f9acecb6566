//! Checking services: generated scenarios, fuzz campaigns, failure buckets and shrinking.
//!
//! A [`Campaign`] runs one generated scenario per seed, judges every client with the
//! service's oracle (and every run with the checks all runs pass), groups failing seeds by
//! signature ([`bucket`]: the check that fired and its normalized message), and shrinks the
//! lowest seed of each group to a minimal transcript that replays the same failure. Seeds are
//! `start + i` for `i` in the campaign's range, and a shard `I/N` takes the indices `i` with
//! `i % N == I - 1`, so shards are disjoint and together cover the whole campaign.
//!
//! # Fuzzing a service of your own
//!
//! ```
//! use muxsim::check::Campaign;
//! use muxsim::core::lines::Lines;
//! use muxsim::service::{Protocol, ServiceDescriptor, oracle::lines_model};
//!
//! let service = ServiceDescriptor::new("my-lines", |_| Lines::default())
//!     .protocol(Protocol::lines().greeting(b"hello\n".to_vec()))
//!     .oracle(lines_model());
//! let report = Campaign::new(service).seeds(0, 200).run();
//! assert!(report.is_clean(), "{report}");
//! ```
//!
//! # Scenarios of your own (proptest)
//!
//! [`Campaign::check_play`] runs, judges and shrinks a [`Play`] you built, under the seed you
//! give: a proptest `Strategy` that yields plays plugs in with one line,
//! `prop_assert!(campaign.check_play(seed, play).is_none())`. See `docs/testing-your-service.md`.

#[doc(hidden)]
pub mod bucket;
#[cfg(test)]
mod defects;
mod files;
mod generate;
mod report;
mod shrink;
mod sweep;
mod target;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

pub use bucket::{normalize, signature, signature_of};
pub(crate) use files::{
    FileOptions, FileOutcome, FileResult, FileTarget, Tally, black_box, campaign_exit_code,
    fixture_scenario, play_file, read as read_transcript,
};
pub use generate::Reach;
pub use report::{BucketFile, ExampleFile, MergeError, ReportFile, SCHEMA, kind_of, merge};
pub(crate) use shrink::to_transcript;
pub(crate) use sweep::{Acc, Job, Walk, sweep};
pub use target::{Played, Simulator, Sockets, Target, shrink_on};

use crate::fault::{Family, FaultFamilies};
use crate::scenario::{Divergence, Scenario, judge_run};
use crate::semantics::Semantics;
use crate::service::{Oracle, Registry, ServiceDescriptor, ServiceOptions};
use crate::transcript::{Expect, Transcript};
use crate::world::{Failure, Limit, Play, Run, Verdict, WorldConfig};
use generate::Shape;

/// Most plays a shrink on a real target may take: each may wait out a timeout.
const TARGET_SHRINK_BUDGET: usize = 200;

/// How many of a bucket's first failing seeds are looked at for the smallest to shrink.
const SHRINK_CANDIDATES: usize = 8;

/// The environment variables [`shard_from_env`] reads, in the order it tries them: muxsim's
/// own, then those CI systems and Kubernetes Indexed Jobs set.
pub const SHARD_VARIABLES: &[&str] = &[
    "MUXSIM_SHARD (I/N, from 1)",
    "MUXSIM_SHARD_INDEX and MUXSIM_SHARD_COUNT (index from 0; GitHub Actions: strategy.job-index and strategy.job-total)",
    "JOB_COMPLETION_INDEX (Kubernetes Indexed Job, from 0) with MUXSIM_SHARD_COUNT",
    "CI_NODE_INDEX and CI_NODE_TOTAL (GitLab CI `parallel`, index from 1)",
    "CIRCLE_NODE_INDEX and CIRCLE_NODE_TOTAL (CircleCI, index from 0)",
    "BUILDKITE_PARALLEL_JOB and BUILDKITE_PARALLEL_JOB_COUNT (Buildkite, index from 0)",
];

/// Reads `I/N` (from 1).
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("bad shard `{text}`: expected I/N with 1 <= I <= N, e.g. 1/2");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The shard (`I/N`, from 1) the environment assigns this process, reading the variables of
/// [`SHARD_VARIABLES`] through `var`; an error naming them when none is set, or when one is
/// set wrongly.
pub fn shard_from_env(var: impl Fn(&str) -> Option<String>) -> Result<(u64, u64), String> {
    if let Some(text) = var("MUXSIM_SHARD") {
        return parse_shard(&text).map_err(|e| format!("MUXSIM_SHARD: {e}"));
    }
    let number = |name: &str| -> Result<Option<u64>, String> {
        match var(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{name}={v}: expected a whole number")),
        }
    };
    // (index variable, count variable, whether the index counts from 1)
    let pairs = [
        ("MUXSIM_SHARD_INDEX", "MUXSIM_SHARD_COUNT", false),
        ("JOB_COMPLETION_INDEX", "MUXSIM_SHARD_COUNT", false),
        ("CI_NODE_INDEX", "CI_NODE_TOTAL", true),
        ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", false),
        (
            "BUILDKITE_PARALLEL_JOB",
            "BUILDKITE_PARALLEL_JOB_COUNT",
            false,
        ),
    ];
    for (index_var, count_var, from_one) in pairs {
        let Some(index) = number(index_var)? else {
            continue;
        };
        let Some(count) = number(count_var)? else {
            return Err(format!(
                "{index_var} is set but {count_var} is not: set it to the number of shards"
            ));
        };
        let index = if from_one { index } else { index + 1 };
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "{index_var} and {count_var} make shard {index}/{count}, which does not exist"
            ));
        }
        return Ok((index, count));
    }
    Err(format!(
        "--shard auto: no shard in the environment; set one of: {}",
        SHARD_VARIABLES.join("; ")
    ))
}

/// A fuzz campaign: many seeds, one generated scenario each.
#[derive(Clone)]
pub struct Campaign {
    service: ServiceDescriptor,
    options: ServiceOptions,
    start: u64,
    count: Option<u64>,
    deadline: Option<std::time::Instant>,
    shard: (u64, u64),
    semantics: Vec<Semantics>,
    faults: FaultFamilies,
    clients: Option<usize>,
    jobs: usize,
    shrink: bool,
    determinism: bool,
    max_failures: Option<u64>,
    stop: Option<Arc<AtomicBool>>,
    base: WorldConfig,
    fixtures: Vec<Play>,
}

impl fmt::Debug for Campaign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Campaign")
            .field("service", &self.service.name())
            .field("start", &self.start)
            .field("count", &self.count)
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

/// One failure a campaign found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Found {
    /// The seed.
    pub(crate) seed: u64,
    /// The semantics it ran under.
    pub(crate) semantics: Semantics,
    /// What failed.
    pub(crate) failure: Failure,
    /// The failure's signature.
    pub(crate) signature: String,
    /// The minimal transcript that reproduces it, when shrinking is on.
    pub(crate) minimal: Option<Transcript>,
}

impl Found {
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The semantics it ran under.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// What failed.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// The failure's signature.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The minimal transcript that reproduces it, when shrinking is on.
    pub fn minimal(&self) -> Option<&Transcript> {
        self.minimal.as_ref()
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} ({}): {}",
            self.seed, self.semantics, self.failure
        )?;
        if let Some(t) = &self.minimal {
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Failing seeds with one signature: one bug, one reproduction.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Bucket {
    /// The signature.
    pub(crate) signature: String,
    /// How many seeds failed this way.
    pub(crate) count: u64,
    /// The lowest of them (at most 20).
    pub(crate) seeds: Vec<u64>,
    /// The lowest seed's failure, shrunk.
    pub(crate) example: Found,
}

impl Bucket {
    /// The signature.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// How many seeds failed this way.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The lowest of them (at most 20).
    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    /// The lowest seed's failure, shrunk.
    pub fn example(&self) -> &Found {
        &self.example
    }
}

/// One seed played and judged: [`Campaign::play_seed`].
pub(crate) struct SeedPlay {
    pub(crate) scenario: Scenario,
    pub(crate) run: Run,
    pub(crate) verdict: Verdict,
}

impl SeedPlay {
    /// Another play of the same seed (in a fresh process, say) went otherwise: the seed is
    /// nondeterministic, unless its verdict already says so.
    pub(crate) fn diverged(&mut self, divergence: Option<Divergence>) {
        if let Some(divergence) = divergence.filter(|_| !self.nondeterministic()) {
            self.verdict = Verdict::Fail(Failure::Nondeterministic {
                detail: format!("a fresh process ran it otherwise: {divergence}"),
            });
        }
    }

    /// Whether the seed was found nondeterministic.
    pub(crate) fn nondeterministic(&self) -> bool {
        matches!(
            self.verdict.failure(),
            Some(Failure::Nondeterministic { .. })
        )
    }
}

/// What a campaign did.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Report {
    /// The service.
    pub(crate) service: String,
    /// Seeds run.
    pub(crate) seeds_run: u64,
    /// Seeds that failed.
    pub(crate) failed_seeds: u64,
    /// Scheduler steps and readiness events, over every seed.
    pub(crate) events: u64,
    /// The failures, one bucket per signature, by lowest seed.
    pub(crate) buckets: Vec<Bucket>,
    /// What the generator tried.
    pub(crate) reach: Reach,
    /// Whether the campaign stopped early (a stop request or the failure cap).
    pub(crate) interrupted: bool,
}

impl Report {
    /// The service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Seeds run.
    pub fn seeds_run(&self) -> u64 {
        self.seeds_run
    }

    /// Seeds that failed.
    pub fn failed_seeds(&self) -> u64 {
        self.failed_seeds
    }

    /// Scheduler steps and readiness events, over every seed.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The failures, one bucket per signature, by lowest seed.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// What the generator tried.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// Whether the campaign stopped early (a stop request or the failure cap).
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }
}

impl Report {
    /// Whether no seed failed.
    pub fn is_clean(&self) -> bool {
        self.failed_seeds == 0
    }

    /// One failure per bucket: the lowest seed of each.
    pub fn failures(&self) -> impl Iterator<Item = &Found> {
        self.buckets.iter().map(|b| &b.example)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} seeds, {} failed, {} distinct failures{}",
            self.service,
            self.seeds_run,
            self.failed_seeds,
            self.buckets.len(),
            if self.interrupted {
                " (stopped early)"
            } else {
                ""
            }
        )?;
        for (i, bucket) in self.buckets.iter().enumerate() {
            let seeds: Vec<String> = bucket.seeds.iter().map(u64::to_string).collect();
            writeln!(
                f,
                "failure {} of {}: {} seed(s), e.g. {}",
                i + 1,
                self.buckets.len(),
                bucket.count,
                seeds.join(", ")
            )?;
            writeln!(f, "  signature: {}", bucket.signature)?;
            write!(f, "  {}", bucket.example)?;
        }
        writeln!(f, "{}", self.reach)?;
        let gaps = self.reach.never_tried();
        if !gaps.is_empty() {
            writeln!(f, "never tried: {}", gaps.join("; "))?;
        }
        Ok(())
    }
}

/// Progress as seeds finish.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Seeds finished.
    pub(crate) done: u64,
    /// Seeds that failed.
    pub(crate) failed: u64,
    /// Distinct failures (buckets) so far.
    pub(crate) distinct: u64,
}

impl Progress {
    /// Seeds finished.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Seeds that failed.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Distinct failures (buckets) so far.
    pub fn distinct(&self) -> u64 {
        self.distinct
    }
}

impl Campaign {
    /// A campaign over `service` with its default options: 100 seeds from 0, every
    /// semantics, every fault family, the protocol's client count.
    pub fn new(service: ServiceDescriptor) -> Self {
        Campaign {
            options: service.defaults(),
            service,
            start: 0,
            count: Some(100),
            deadline: None,
            shard: (1, 1),
            semantics: Semantics::ALL.to_vec(),
            faults: FaultFamilies::ALL,
            clients: None,
            jobs: 1,
            shrink: true,
            determinism: false,
            max_failures: None,
            stop: None,
            base: WorldConfig::default(),
            fixtures: Vec::new(),
        }
    }

    /// A campaign over a built-in service, by name.
    pub fn builtin(name: &str) -> Option<Self> {
        Registry::builtin().get(name).cloned().map(Campaign::new)
    }

    /// The service.
    pub fn service(&self) -> &ServiceDescriptor {
        &self.service
    }

    /// Seeds `start .. start + count`.
    pub fn seeds(mut self, start: u64, count: u64) -> Self {
        self.start = start;
        self.count = Some(count);
        self.deadline = None;
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
        let of = of.max(1);
        self.shard = (index.clamp(1, of), of);
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

    /// The fault families seeds may switch on.
    pub fn faults(mut self, faults: FaultFamilies) -> Self {
        self.faults = faults;
        self
    }

    /// Clients per scenario (default: the protocol's).
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = Some(clients.max(1));
        self
    }

    /// The threads it runs on.
    pub(crate) fn job_count(&self) -> usize {
        self.jobs
    }

    /// Worker threads.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Whether to shrink each bucket's failure.
    pub fn shrink(mut self, shrink: bool) -> Self {
        self.shrink = shrink;
        self
    }

    /// Stops after this many failing seeds (`None`: never).
    pub fn max_failures(mut self, max: Option<u64>) -> Self {
        self.max_failures = max;
        self
    }

    /// Stops, with a report of what ran, once `flag` is set (a Ctrl-C handler sets it).
    pub fn stop_on(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Replaces the service's oracle for this campaign.
    pub fn oracle(mut self, oracle: impl Oracle + 'static) -> Self {
        self.service = self.service.clone().oracle(oracle);
        self
    }

    /// The world settings every seed starts from (buffers, limits).
    pub fn world(mut self, base: WorldConfig) -> Self {
        self.base = base;
        self
    }

    /// Sets a limit of the run or an option of the service by name, as a `limit` line would.
    pub fn try_limit(mut self, name: &str, value: u64) -> Result<Self, String> {
        match Limit::find(name) {
            Some(limit) => limit.apply(&mut self.base, value)?,
            None => self
                .service
                .set_option(&mut self.options, name, value)
                .map_err(|e| e.to_string())?,
        }
        Ok(self)
    }

    /// [`Campaign::try_limit`], for code that knows the name is right.
    ///
    /// # Panics
    ///
    /// When `name` is no limit of the run nor an option of the service, or `value` is out
    /// of range.
    pub fn limit(self, name: &str, value: u64) -> Self {
        match self.try_limit(name, value) {
            Ok(campaign) => campaign,
            Err(e) => panic!("{e}"),
        }
    }

    /// Fixtures to start generated scenarios from: one scenario in three is one of them,
    /// mutated (sends split, clients spliced in, steps repeated or cut, faults inserted).
    pub fn fixtures(mut self, fixtures: impl IntoIterator<Item = Scenario>) -> Self {
        self.fixtures = fixtures
            .into_iter()
            .map(|s| generate::fixture_play(&s.play))
            .collect();
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

    /// What the generator draws `seed`'s play from; `config` is the seed's, whose fault plan
    /// (a storm or not) shapes the play.
    fn shape(&self, config: &WorldConfig) -> Shape {
        let protocol = self.service.protocol_for(&self.options);
        let plan = config.fault_plan();
        Shape {
            clients: self.clients.unwrap_or(protocol.get_clients()),
            protocol,
            max_actions: 6,
            storm: plan.rate(Family::Storm) > 0,
            fixtures: self.fixtures.clone(),
        }
    }

    /// The world of `seed`: its semantics, the campaign's faults and limits.
    fn config_of(&self, seed: u64) -> WorldConfig {
        let semantics = self.semantics[(seed % self.semantics.len() as u64) as usize];
        let mut config = self.base.clone();
        config.seed = seed;
        config.faults = self.faults;
        config.sim.semantics = semantics;
        config.strict = false;
        config
    }

    /// The scenario of `seed` with `play`: the seed's semantics, faults and limits.
    pub fn scenario_with(&self, seed: u64, play: Play) -> Scenario {
        self.scenario_of(self.config_of(seed), play)
    }

    fn scenario_of(&self, config: WorldConfig, play: Play) -> Scenario {
        let mut scenario = Scenario::new(&self.service, play);
        scenario.options = self.options.clone();
        scenario.config = config;
        scenario.expect = Expect::Pass;
        scenario.oracle = true;
        scenario
    }

    fn scenario_reaching(&self, seed: u64, reach: &mut Reach) -> Scenario {
        let config = self.config_of(seed);
        let play = generate::generate(seed, &self.shape(&config), reach);
        self.scenario_of(config, play)
    }

    /// The generated scenario of `seed`.
    pub fn scenario(&self, seed: u64) -> Scenario {
        self.scenario_reaching(seed, &mut Reach::default())
    }

    /// Runs every seed twice and compares the runs event by event (readiness, server calls,
    /// faults, bytes): a seed whose runs differ fails as nondeterministic, with the first
    /// difference. Off by default, when only failing seeds are run again before they are
    /// reported (a failure that does not reproduce is reported as nondeterministic, never as
    /// itself). It costs about two more runs per seed.
    pub fn check_determinism(mut self, on: bool) -> Self {
        self.determinism = on;
        self
    }

    /// Plays each passing seed a second time on the same service and fails it when the
    /// service holds more heap blocks afterwards (state kept for connections that are gone).
    /// On by default; it runs only where [`crate::CountingAllocator`] is the global allocator,
    /// and costs one more run per seed of a service that keeps heap between runs.
    pub fn check_heap(mut self, on: bool) -> Self {
        self.base.heap_check = on;
        self
    }

    /// The verdict of `seed` as a campaign reports it: a failure is run again, twice, and a
    /// seed whose runs differ, or that does not fail the same way again, is nondeterministic;
    /// with [`Campaign::check_determinism`] a passing seed is run twice too.
    pub(crate) fn confirmed(
        &self,
        verdict: Verdict,
        scenario: impl FnOnce() -> Scenario,
    ) -> Verdict {
        if verdict.is_pass() && !self.determinism {
            return verdict;
        }
        let scenario = scenario();
        let seed = scenario.config.seed;
        let (divergence, again) = scenario.twice();
        if let Some(d) = divergence {
            return Verdict::Fail(Failure::Nondeterministic {
                detail: d.to_string(),
            });
        }
        let signature = |v: &Verdict| v.failure().map(bucket::signature);
        if signature(&again) != signature(&verdict) {
            let how = |v: &Verdict| match v.failure() {
                None => "passed".to_string(),
                Some(f) => format!("failed: {f}"),
            };
            return Verdict::Fail(Failure::Nondeterministic {
                detail: format!(
                    "seed {seed} does not reproduce: one run {}; two more each {}",
                    how(&verdict),
                    how(&again)
                ),
            });
        }
        verdict
    }

    /// Runs a scenario and judges it with the service's oracle.
    pub fn check(&self, scenario: &Scenario) -> (Run, Verdict) {
        let run = scenario.run();
        let verdict = scenario.judge(&run);
        (run, verdict)
    }

    /// One seed played as `muxsim sim` plays it: the seed's scenario (every server call kept
    /// when `detail`), its run, and its verdict confirmed as a campaign confirms a failure
    /// before reporting it (see [`Campaign::check_determinism`]).
    pub(crate) fn play_seed(&self, seed: u64, detail: bool) -> SeedPlay {
        let mut scenario = self.scenario(seed);
        scenario.config.sim.detail = detail;
        let (run, first) = self.check(&scenario);
        let verdict = self.confirmed(first, || scenario.clone());
        SeedPlay {
            scenario,
            run,
            verdict,
        }
    }

    /// Runs a scenario without keeping its trace; its verdict.
    fn verdict_of(&self, mut scenario: Scenario, reach: &mut Reach) -> (Verdict, u64) {
        scenario.config.record = false;
        let oracle = scenario.oracle;
        let run = scenario.into_run();
        let events = run.net_stats.events + run.steps;
        let verdict = judge_run(&self.service, &self.options, oracle, &run);
        if oracle
            && verdict.is_pass()
            && let Some((caused, arrived)) = self.service.deliveries(&self.options, &run)
        {
            reach.cross_client += caused;
            reach.cross_client_arrived += arrived;
        }
        (verdict, events)
    }

    /// Runs `scenario`, and when it fails, shrinks the failure (if shrinking is on).
    pub fn examine(&self, scenario: Scenario) -> Option<Found> {
        let seed = scenario.config.seed;
        let semantics = scenario.config.sim.semantics;
        let (run, verdict) = self.check(&scenario);
        let verdict = self.confirmed(verdict, || scenario.clone());
        let Verdict::Fail(failure) = verdict else {
            return None;
        };
        // A failure that does not reproduce cannot be shrunk: the shrinker would chase noise.
        let minimal = (self.shrink && !matches!(failure, Failure::Nondeterministic { .. }))
            .then(|| self.minimal(&scenario, &run, &failure));
        Some(Found {
            seed,
            semantics,
            signature: bucket::signature(&failure),
            failure,
            minimal,
        })
    }

    fn minimal(&self, scenario: &Scenario, run: &Run, failure: &Failure) -> Transcript {
        let small = shrink::minimize(scenario, run, failure, |s| {
            let mut s = s.clone();
            s.config.record = false;
            let run = s.run();
            let verdict = s.judge(&run);
            (run, verdict)
        });
        let (small_run, small_verdict) = self.check(&small);
        to_transcript(&small, &small_run, small_verdict.failure())
    }

    /// Runs the generated scenario of `seed`: its failure, shrunk if shrinking is on.
    pub fn run_seed(&self, seed: u64) -> Option<Found> {
        self.examine(self.scenario(seed))
    }

    /// Runs `play` under `seed` (its semantics, faults and limits), judges it, and shrinks a
    /// failure: how a proptest `Strategy` of your own plugs in.
    pub fn check_play(&self, seed: u64, play: Play) -> Option<Found> {
        self.examine(self.scenario_with(seed, play))
    }

    /// Runs the campaign without progress reports.
    pub fn run(&self) -> Report {
        self.run_with_progress(&|_| {})
    }

    /// Runs the campaign on its worker threads, reporting progress as seeds finish.
    pub fn run_with_progress(&self, progress: &(dyn Fn(Progress) + Sync)) -> Report {
        let walk = self.walk();
        let jobs = (0..self.jobs.max(1))
            .map(|_| SimJob {
                campaign: self,
                reach: Reach::default(),
                events: 0,
            })
            .collect();
        let swept = sweep(jobs, &walk, progress);
        let mut reach = Reach::default();
        let mut events = 0;
        for job in &swept.jobs {
            reach.absorb(&job.reach);
            events += job.events;
        }
        let mut report = Report {
            service: self.service.name().to_string(),
            seeds_run: swept.seeds_run,
            failed_seeds: swept.failed_seeds,
            events,
            buckets: self.shrink_buckets(swept.buckets),
            reach,
            interrupted: swept.stopped,
        };
        report.buckets.sort_by_key(|b| b.example.seed);
        report
    }

    /// The seeds it walks and when it stops.
    fn walk(&self) -> Walk<'_> {
        Walk {
            start: self.start,
            count: self.count,
            shard: self.shard,
            deadline: self.deadline,
            stop: self.stop.as_deref(),
            max_failures: self.max_failures,
        }
    }

    /// Runs the campaign's seeds on a target other than the simulator, one made by `make`
    /// per job: the same walk, judging and bucketing as [`Campaign::run`], and each bucket's
    /// lowest seed shrunk on a target of its own with [`shrink_on`] (at most 200 plays).
    /// A bucket's minimal reproduction is the shrunk scenario as a transcript (the failure as
    /// a comment, the faults that fired, the clients' scripts). What a target keeps between
    /// plays is its own: for a service with state, start a fresh server in each `play`.
    pub fn run_on<T: Target + Send>(&self, make: impl Fn() -> T + Sync) -> Report {
        let jobs = (0..self.jobs.max(1))
            .map(|_| OnTarget {
                campaign: self,
                target: make(),
                reach: Reach::default(),
            })
            .collect();
        let swept = sweep(jobs, &self.walk(), &|_| {});
        let mut reach = Reach::default();
        for job in &swept.jobs {
            reach.absorb(&job.reach);
        }
        let mut shrinker = make();
        let mut buckets: Vec<Bucket> = swept
            .buckets
            .into_iter()
            .map(|(signature, acc)| {
                let hit = acc.lowest;
                let example = if self.shrink {
                    hit.shrunk(&mut shrinker, &signature, TARGET_SHRINK_BUDGET)
                        .unwrap_or_else(|_| hit.example())
                } else {
                    hit.example()
                };
                Bucket {
                    signature: signature.clone(),
                    count: acc.count,
                    seeds: acc.seeds.into_iter().collect(),
                    example: Found {
                        seed: hit.seed,
                        semantics: example.scenario.config.sim.semantics,
                        failure: hit.failure,
                        signature,
                        minimal: Some(example.transcript),
                    },
                }
            })
            .collect();
        buckets.sort_by_key(|b| b.example.seed);
        Report {
            service: self.service.name().to_string(),
            seeds_run: swept.seeds_run,
            failed_seeds: swept.failed_seeds,
            events: 0,
            buckets,
            reach,
            interrupted: swept.stopped,
        }
    }

    /// Shrinks each bucket's lowest seed, on the campaign's threads.
    fn shrink_buckets(&self, accs: Vec<(String, Acc)>) -> Vec<Bucket> {
        let jobs = self.jobs.min(accs.len()).max(1);
        let work = Mutex::new(accs.into_iter());
        let out = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    loop {
                        let next = work.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some((signature, acc)) = next else { break };
                        let lowest = acc.lowest;
                        let (mut seed, mut semantics, mut failure) = (
                            lowest.seed,
                            lowest.scenario.config.sim.semantics,
                            lowest.failure,
                        );
                        let minimal = if self.shrink
                            && !matches!(failure, Failure::Nondeterministic { .. })
                        {
                            // The smallest of the first seeds that failed this way shrinks
                            // best: a failure that needs a precise interleaving rarely
                            // survives the removal of clients it did not need.
                            let smallest = acc
                                .seeds
                                .iter()
                                .take(SHRINK_CANDIDATES)
                                .map(|&s| (self.scenario(s), s))
                                .min_by_key(|(sc, s)| (sc.play.size(), *s));
                            let lowest = || {
                                let scenario = self.scenario(seed);
                                let (run, verdict) = self.check(&scenario);
                                (scenario, run, verdict)
                            };
                            let (scenario, run, verdict) = match smallest {
                                Some((scenario, s)) if s != seed => {
                                    let (run, verdict) = self.check(&scenario);
                                    let same = verdict
                                        .failure()
                                        .filter(|f| bucket::signature(f) == signature)
                                        .cloned();
                                    match same {
                                        Some(f) => {
                                            (seed, semantics, failure) =
                                                (s, scenario.config.sim.semantics, f);
                                            (scenario, run, verdict)
                                        }
                                        None => lowest(),
                                    }
                                }
                                _ => lowest(),
                            };
                            // The recorded rerun fails the same way: runs are deterministic.
                            let failure = verdict.failure().cloned().unwrap_or(failure.clone());
                            Some(self.minimal(&scenario, &run, &failure))
                        } else {
                            None
                        };
                        let bucket = Bucket {
                            signature: signature.clone(),
                            count: acc.count,
                            seeds: acc.seeds.into_iter().collect(),
                            example: Found {
                                seed,
                                semantics,
                                failure,
                                signature,
                                minimal,
                            },
                        };
                        out.lock().unwrap_or_else(|e| e.into_inner()).push(bucket);
                    }
                });
            }
        });
        out.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// A campaign's job on a target of the user's: the seeds' generated scenarios, played there.
struct OnTarget<'a, T> {
    campaign: &'a Campaign,
    target: T,
    reach: Reach,
}

impl<T: Target> Target for OnTarget<'_, T> {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        self.target.play(scenario)
    }
}

impl<T: Target> Job for OnTarget<'_, T> {
    fn scenarios(&mut self, seed: u64) -> Vec<(Option<PathBuf>, Scenario)> {
        let scenario = self.campaign.scenario_reaching(seed, &mut self.reach);
        vec![(None, scenario)]
    }
}

/// A campaign's job on the simulator: it generates each seed's scenario (tallying what the
/// generator reached), plays it without keeping its trace, and confirms a failure by playing
/// it again (see [`Campaign::check_determinism`]).
struct SimJob<'a> {
    campaign: &'a Campaign,
    reach: Reach,
    events: u64,
}

impl Target for SimJob<'_> {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        let (verdict, events) = self.campaign.verdict_of(scenario.clone(), &mut self.reach);
        self.events += events;
        let verdict = self.campaign.confirmed(verdict, || scenario.clone());
        Ok(Played::new(verdict))
    }
}

impl Job for SimJob<'_> {
    fn scenarios(&mut self, seed: u64) -> Vec<(Option<PathBuf>, Scenario)> {
        let scenario = self.campaign.scenario_reaching(seed, &mut self.reach);
        vec![(None, scenario)]
    }

    /// Runs the scenario by giving it up (no copy of its scripts per seed); a failing seed's
    /// scenario is generated again, as confirming the failure does.
    fn play_owned(&mut self, scenario: Scenario) -> (Result<Played, String>, Option<Scenario>) {
        let seed = scenario.config.seed;
        let (verdict, events) = self.campaign.verdict_of(scenario, &mut self.reach);
        self.events += events;
        let verdict = self
            .campaign
            .confirmed(verdict, || self.campaign.scenario(seed));
        let again = (!verdict.is_pass()).then(|| self.campaign.scenario(seed));
        (Ok(Played::new(verdict)), again)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn shards_come_from_every_engine_users_run() {
        assert_eq!(shard_from_env(env(&[("MUXSIM_SHARD", "2/5")])), Ok((2, 5)));
        assert_eq!(
            shard_from_env(env(&[
                ("MUXSIM_SHARD_INDEX", "0"),
                ("MUXSIM_SHARD_COUNT", "3")
            ])),
            Ok((1, 3))
        );
        assert_eq!(
            shard_from_env(env(&[
                ("JOB_COMPLETION_INDEX", "4"),
                ("MUXSIM_SHARD_COUNT", "5")
            ])),
            Ok((5, 5))
        );
        assert_eq!(
            shard_from_env(env(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "4")])),
            Ok((3, 4))
        );
        assert_eq!(
            shard_from_env(env(&[
                ("CIRCLE_NODE_INDEX", "1"),
                ("CIRCLE_NODE_TOTAL", "2")
            ])),
            Ok((2, 2))
        );
        assert_eq!(
            shard_from_env(env(&[
                ("BUILDKITE_PARALLEL_JOB", "0"),
                ("BUILDKITE_PARALLEL_JOB_COUNT", "8")
            ])),
            Ok((1, 8))
        );
    }

    #[test]
    fn a_missing_or_wrong_shard_is_a_clear_error() {
        let e = shard_from_env(env(&[])).unwrap_err();
        assert!(
            e.contains("MUXSIM_SHARD") && e.contains("JOB_COMPLETION_INDEX"),
            "{e}"
        );
        let e = shard_from_env(env(&[("JOB_COMPLETION_INDEX", "1")])).unwrap_err();
        assert!(e.contains("MUXSIM_SHARD_COUNT is not"), "{e}");
        let e = shard_from_env(env(&[("CI_NODE_INDEX", "5"), ("CI_NODE_TOTAL", "4")])).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        assert!(shard_from_env(env(&[("MUXSIM_SHARD", "0/2")])).is_err());
        assert!(shard_from_env(env(&[("CI_NODE_INDEX", "x"), ("CI_NODE_TOTAL", "4")])).is_err());
    }
}
