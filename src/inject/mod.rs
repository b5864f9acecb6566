//! `muxsim run -- CMD`: seeded readiness faults inside an unmodified server process.
//!
//! The server runs with muxsim's interposition library preloaded (`preload/src/lib.rs`,
//! built and embedded by muxsim's build script). For each seed muxsim tells the library the
//! seed and the fault rates (drawn as the simulator draws them: each family on with
//! probability one half, at a rate from a ladder), drives clients over loopback — generated
//! from a service's protocol description, or a set of fixtures — and judges:
//!
//! - **answers**: the fixtures' expectations, and the service's oracle;
//! - **crash**: the server exited or was killed (with the last lines it printed); it is
//!   started again for the next seed;
//! - **hang**: a client is owed bytes that never come while the server sleeps;
//! - **busy loop**: the server burns CPU while every client waits, or after all have left;
//! - **descriptor leak**: the server's sockets do not come back to their number before the
//!   seed once every client has left;
//! - **memory**: the server's resident memory grew past a bound over the campaign.
//!
//! Every fault the library injected comes back over its private channel and is written into
//! the failing seed's transcript as a `!` line (`! a short-read 3 at 2`), with the clients'
//! scripts: the same transcript replays in the simulator against a core, and `muxsim run
//! --seed N` replays the seed against the server. Failures are bucketed by signature, one
//! example per bucket, shrunk within a bounded number of attempts.

mod binary;
mod server;
/// The page layout and event words shared with the interposition library: the very file it
/// compiles, so the two sides cannot drift apart.
#[path = "../../preload/src/wire.rs"]
#[allow(dead_code, unreachable_pub)]
mod wire;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::check::{Campaign, Job, Played, Progress, Target, Walk, sweep};
use crate::failure::FailureKind;
use crate::fault::{Family, FaultFamilies, FaultPlan, FaultSpec};
use crate::live::{self, LiveOptions, LiveRun};
use crate::scenario::Scenario;
use crate::text::human_duration;
use crate::timeline::{ClientReport, owed};
use crate::transcript::FaultLine;
use crate::world::{Failure, Verdict};

use server::{Control, Event, Server};

/// What the clients are.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) enum RunTarget {
    /// Scenarios generated from the campaign's service (its protocol description), judged
    /// by its oracle.
    Generated(Box<Campaign>),
    /// Fixtures, each run under every seed and judged by its own expectations (and its
    /// service's oracle, with `oracle on`).
    Fixtures(Vec<(PathBuf, Scenario)>),
}

/// Which of the server's connections take faults: those it accepted from muxsim's clients,
/// those it makes itself (to an upstream, a backend), or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FaultsOn {
    /// Connections the server accepted.
    Accepted,
    /// Connections the server made (`connect`).
    Outgoing,
    /// Both.
    #[default]
    All,
}

impl FaultsOn {
    /// The library's scope bits.
    fn bits(self) -> u64 {
        match self {
            FaultsOn::Accepted => server::SCOPE_ACCEPTED,
            FaultsOn::Outgoing => server::SCOPE_OUTGOING,
            FaultsOn::All => server::SCOPE_ACCEPTED | server::SCOPE_OUTGOING,
        }
    }
}

/// A `run` campaign's settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) struct RunConfig {
    /// The server's command line.
    pub command: Vec<OsString>,
    /// The clients.
    pub target: RunTarget,
    /// The first seed.
    pub start: u64,
    /// How many seeds.
    pub count: u64,
    /// The fault families a seed may switch on.
    pub faults: FaultFamilies,
    /// Which of the server's connections take faults.
    pub faults_on: FaultsOn,
    /// Where the server listens, when the library cannot tell (it learns it from `listen`).
    pub addr: Option<SocketAddr>,
    /// How long the server may take to listen.
    pub startup_timeout: Duration,
    /// The clients' timeouts and longest wait.
    pub live: LiveOptions,
    /// How long the server is watched for CPU use after every client left.
    pub idle_probe: Duration,
    /// How long its sockets may take to come back to their number before the seed.
    pub leak_wait: Duration,
    /// How much its resident memory may grow over the campaign, in bytes.
    pub rss_growth: u64,
    /// How many extra runs shrinking a failure may take (0: no shrinking).
    pub shrink_attempts: usize,
    /// Stop after this many failed seeds.
    pub max_failures: Option<u64>,
    /// Stop when this is set (Ctrl-C).
    pub stop: Option<Arc<AtomicBool>>,
    /// Copy the server's output to stderr as it comes.
    pub echo_output: bool,
}

impl RunConfig {
    /// A campaign of `count` seeds from `start` against `command`, every fault family on.
    pub(crate) fn new(command: Vec<OsString>, target: RunTarget, start: u64, count: u64) -> Self {
        RunConfig {
            command,
            target,
            start,
            count,
            faults: FaultFamilies::ALL,
            faults_on: FaultsOn::All,
            addr: None,
            startup_timeout: Duration::from_secs(10),
            live: LiveOptions {
                timeout: Duration::from_secs(2),
                max_wait: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(2),
                ..LiveOptions::default()
            },
            idle_probe: Duration::from_millis(150),
            leak_wait: Duration::from_secs(2),
            rss_growth: 64 << 20,
            shrink_attempts: 16,
            max_failures: None,
            stop: None,
            echo_output: false,
        }
    }
}

/// One failing seed.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub(crate) struct RunExample {
    /// The seed.
    pub seed: u64,
    /// The fixture it ran, when the clients are fixtures.
    pub fixture: Option<PathBuf>,
    /// What kind of failure.
    pub kind: FailureKind,
    /// What went wrong.
    pub message: String,
    /// The clients' scripts and every fault injected, as a transcript (shrunk when it
    /// could be).
    pub transcript: String,
    /// The server's last lines of output.
    pub output: Vec<String>,
}

/// Failures that share a signature.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub(crate) struct RunBucket {
    /// The check that fired and its message, names and numbers normalized.
    pub signature: String,
    /// How many seeds failed this way.
    pub count: u64,
    /// The lowest of them.
    pub seeds: Vec<u64>,
    /// The first seed's failure.
    pub example: RunExample,
}

/// The outcome of a `run` campaign.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub(crate) struct RunReport {
    /// The server's command line.
    pub command: String,
    /// The service or fixtures the clients came from.
    pub clients: String,
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds that failed.
    pub failed_seeds: u64,
    /// The failures, one bucket per signature, most frequent first.
    pub buckets: Vec<RunBucket>,
    /// Faults injected, by kind.
    pub injected: BTreeMap<String, u64>,
    /// How often the server was started again (after a crash, a hang or a busy loop).
    pub restarts: u64,
    /// The server's resident memory after it started and at the end, in bytes.
    pub rss_start: Option<u64>,
    /// See `rss_start`.
    pub rss_end: Option<u64>,
    /// Whether the campaign stopped early (Ctrl-C or the failure cap).
    pub interrupted: bool,
}

impl RunReport {
    /// Whether no seed failed.
    pub(crate) fn is_clean(&self) -> bool {
        self.buckets.is_empty()
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let injected: u64 = self.injected.values().sum();
        write!(
            f,
            "{} seeds against `{}` ({}): {} failed, {} distinct failure(s); {} faults injected",
            self.seeds_run,
            self.command,
            self.clients,
            self.failed_seeds,
            self.buckets.len(),
            injected
        )?;
        if injected > 0 {
            let kinds: Vec<String> = self
                .injected
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            write!(f, " ({})", kinds.join(", "))?;
        }
        if self.restarts > 0 {
            write!(f, "; server restarted {} time(s)", self.restarts)?;
        }
        if let (Some(a), Some(b)) = (self.rss_start, self.rss_end) {
            write!(f, "; RSS {} -> {}", megabytes(a), megabytes(b))?;
        }
        if self.interrupted {
            write!(f, " (stopped early)")?;
        }
        Ok(())
    }
}

#[cfg(muxsim_preload)]
const LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libmuxsim_preload.so"));
#[cfg(not(muxsim_preload))]
const LIBRARY: &[u8] = &[];

/// The interposition library as a file, written once per version and user.
fn library_file() -> Result<PathBuf, String> {
    if LIBRARY.is_empty() {
        return Err(
            "`muxsim run` needs Linux with glibc: the interposition library is not built for this platform"
                .to_string(),
        );
    }
    let hash = LIBRARY.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("muxsim-{uid}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("libmuxsim_preload-{hash:016x}.so"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == LIBRARY.len() as u64) {
        return Ok(path);
    }
    let partial = dir.join(format!(
        "libmuxsim_preload-{hash:016x}.{}.tmp",
        std::process::id()
    ));
    std::fs::write(&partial, LIBRARY).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A private directory for the control page, removed at the end.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("muxsim-run-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fault rates the library reads, in the wire's order, from the seed's plan.
fn rates(plan: &FaultPlan) -> [u64; 6] {
    wire::RATES.map(|name| {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .map_or(0, |family| u64::from(plan.rate(family)))
    })
}

/// One run of one scenario under one seed.
struct Attempt {
    failure: Option<(FailureKind, String)>,
    faults: Vec<FaultLine>,
    injected: Vec<String>,
    output: Vec<String>,
}

impl Attempt {
    /// The attempt as every target reports a play: a failure in the one vocabulary, the
    /// faults that fired, and what the server printed last.
    fn played(&self) -> Played {
        let verdict = match &self.failure {
            None => Verdict::Pass,
            Some((kind, message)) => {
                let client = message
                    .strip_prefix("client ")
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(name, _)| name);
                Verdict::Fail(Failure::observed(*kind, client, message.clone()))
            }
        };
        Played::new(verdict)
            .with_faults(self.faults.clone())
            .with_notes(self.output.clone())
    }
}

/// The server process under the interposition library, as a target: a play is one attempt
/// under the scenario's seed, judged for crashes, hangs, busy loops, leaks and what the
/// clients received.
impl Target for Runner<'_> {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        let attempt = self.attempt(scenario)?;
        if self.tally {
            for kind in &attempt.injected {
                *self.injected.entry(kind.clone()).or_default() += 1;
            }
        }
        Ok(attempt.played())
    }
}

/// Each seed's clients: the campaign's generated scenario, or every fixture played under
/// the seed's faults.
impl Job for Runner<'_> {
    fn scenarios(&mut self, seed: u64) -> Vec<(Option<PathBuf>, Scenario)> {
        let mut scenarios = match &self.config.target {
            RunTarget::Generated(campaign) => vec![(None, campaign.scenario(seed))],
            RunTarget::Fixtures(fixtures) => fixtures
                .iter()
                .map(|(path, s)| (Some(path.clone()), s.clone()))
                .collect(),
        };
        // The seed's faults inside the server are the campaign's, whatever a fixture says.
        for (_, s) in &mut scenarios {
            s.config.seed = seed;
            s.config.faults = self.config.faults;
            s.config.plan = None;
        }
        scenarios
    }
}

struct Runner<'a> {
    config: &'a RunConfig,
    library: PathBuf,
    control: Control,
    server: Option<Server>,
    epoch: u64,
    baseline: usize,
    restarts: u64,
    started: u64,
    /// Faults injected, by kind, while `tally` is on.
    injected: BTreeMap<String, u64>,
    tally: bool,
}

/// How long a server that let go of its listener is given to end before what its clients
/// saw is judged (see `Runner::crashed`).
const DYING: Duration = Duration::from_secs(2);

/// Fraction of wall time a spinning server burns at least.
const BUSY_SHARE: f64 = 0.5;

fn busy(cpu: Duration, wall: Duration) -> bool {
    wall >= Duration::from_millis(100) && cpu.as_secs_f64() >= BUSY_SHARE * wall.as_secs_f64()
}

impl Runner<'_> {
    fn server(&mut self) -> Result<&mut Server, String> {
        // A server that ended after the last seed was judged is started again, so that its
        // end is not blamed on the next seed as a refused connection.
        if self.server.as_mut().is_some_and(|s| s.exited().is_some()) {
            self.restart_later();
        }
        if self.server.is_none() {
            let server = Server::start(
                &self.config.command,
                &self.library,
                &self.control,
                self.config.addr,
                self.config.startup_timeout,
                self.config.echo_output,
            )?;
            self.baseline = server.sockets().map_or(0, |s| s.len());
            self.started += 1;
            if self.started > 1 {
                self.restarts += 1;
            }
            self.server = Some(server);
        }
        Ok(self.server.as_mut().expect("started above"))
    }

    /// The server's crash, if it ended. A process that is dying may still be alive when its
    /// clients see the effects: a Python server's interpreter closes its sockets on the way
    /// out, so a client is refused or reset before the process ends. So when `failed` (the
    /// clients saw something wrong) and the server holds fewer sockets than it did before
    /// the seed (its listener among those gone), muxsim waits up to [`DYING`] for it to end
    /// before it judges what the clients saw.
    fn crashed(&mut self, failed: bool) -> Option<(FailureKind, String)> {
        let baseline = self.baseline;
        let server = self.server.as_mut()?;
        let dying = failed && server.sockets().is_none_or(|s| s.len() < baseline);
        let how = server.exited_within(if dying { DYING } else { Duration::ZERO })?;
        Some((FailureKind::Crash, crash_message(server, &how)))
    }

    fn restart_later(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
    }

    /// Runs `scenario` under its seed's fault plan against the server and judges it.
    fn attempt(&mut self, scenario: &Scenario) -> Result<Attempt, String> {
        self.epoch += 1;
        let epoch = self.epoch;
        let seed = scenario.config.seed;
        let plan = scenario.config.fault_plan();
        let live_options = self.config.live.clone();
        let server = self.server()?;
        let _ = server.events();
        let addr = server.addr;
        let cpu_before = server.cpu();
        let started = Instant::now();
        self.control
            .begin(epoch, seed, rates(&plan), self.config.faults_on.bits());
        let server = self.server.as_mut().expect("started above");
        let mut settle_cpu: Option<Option<Duration>> = None;
        // Where the server sleeps while a client still waits: once the clients close, a
        // blocked read returns and the evidence is gone.
        let mut blocked = String::new();
        let run = {
            let service = &scenario.service;
            let options = &scenario.options;
            let oracle = scenario.oracle;
            let server_ref: &Server = server;
            let mut last_done = true;
            let mut ending_note = String::new();
            let run = live::run_play_then(
                &scenario.play,
                addr,
                &live_options,
                &mut |clients| {
                    settle_cpu.get_or_insert_with(|| server_ref.cpu());
                    last_done = !oracle || service.judge_all(options, &owed(clients)).is_ok();
                    last_done
                },
                &mut || ending_note = blocked_note(server_ref),
            );
            if run.failure.is_some() || !last_done {
                blocked = ending_note;
            }
            run
        };
        self.control.end();
        let elapsed = started.elapsed();
        let cpu_after = server.cpu();
        let events = server.events_settled(Duration::from_secs(2));
        let (faults, injected) = fault_lines(&events, epoch, &run, scenario);
        let owed_nothing = owed_nothing(&events, epoch, &run, scenario, &faults);
        let spun = spin_message(&events, epoch, "");
        let mut failure = self.judge(
            scenario,
            &run,
            elapsed,
            (cpu_before, cpu_after, settle_cpu.flatten()),
            &blocked,
            &owed_nothing,
        );
        // A client whose connection muxsim itself reset or aborted is owed nothing after
        // that: what it then saw is muxsim's doing, not the server's; so is one that could
        // not connect while muxsim held the server at its descriptor limit (a server may
        // stop listening then, as memcached does). A connection the server made that muxsim
        // refused or reset may have carried any client's request, so then no client is. What
        // the server does about it (survive, serve the others, free the socket) is judged
        // still.
        let upstream_lost = events
            .iter()
            .any(|e| matches!(e, Event::Outgoing { epoch: e, lossy: true, .. } if *e == epoch));
        if let Some((
            FailureKind::Mismatch
            | FailureKind::UnexpectedReset
            | FailureKind::Oracle
            | FailureKind::Hang
            | FailureKind::Connect,
            message,
        )) = &failure
            && (upstream_lost
                || owed_nothing
                    .iter()
                    .any(|name| message.starts_with(&format!("client {name}:"))))
        {
            failure = None;
        }
        // Spinning is judged by what the process did, not by the CPU share a loaded machine
        // happened to give it.
        if let Some(message) = spun
            && !matches!(failure, Some((FailureKind::Crash, _)))
        {
            failure = Some((FailureKind::BusyLoop, message));
        }
        if failure.is_none() {
            failure = self.after_clients_left(epoch)?;
        }
        let held_at_limit = faults
            .iter()
            .any(|f| matches!(f.spec, FaultSpec::AcceptEmfile(_)));
        if failure.is_none() && held_at_limit {
            failure = self.accepts_again(addr);
        }
        let output = self
            .server
            .as_ref()
            .map_or_else(Vec::new, |s| s.output_tail(12));
        if let Some((kind, _)) = &failure {
            match kind {
                FailureKind::Crash | FailureKind::Hang | FailureKind::BusyLoop => {
                    self.restart_later()
                }
                FailureKind::Leak => {
                    if let Some(s) = &self.server {
                        self.baseline = s.sockets().map_or(self.baseline, |s| s.len());
                    }
                }
                _ => {}
            }
        }
        Ok(Attempt {
            failure,
            faults,
            injected,
            output,
        })
    }

    /// Judges a seed's run: `cpu` is the server's CPU clock before the run, after it, and
    /// when the clients started waiting for what they were owed; `blocked` where it slept
    /// then.
    fn judge(
        &mut self,
        scenario: &Scenario,
        run: &LiveRun,
        elapsed: Duration,
        cpu: (Option<Duration>, Option<Duration>, Option<Duration>),
        blocked: &str,
        owed_nothing: &[String],
    ) -> Option<(FailureKind, String)> {
        let (cpu_before, cpu_after, settle_cpu) = cpu;
        if let Some(crash) = self.crashed(run.failure.is_some()) {
            return Some(crash);
        }
        self.server.as_ref()?;
        let spent = |from: Option<Duration>| match (from, cpu_after) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        };
        if let Some(f) = &run.failure {
            return Some(match f.kind {
                kind @ (FailureKind::Mismatch | FailureKind::UnexpectedReset) => {
                    (kind, format!("client {}: {}", f.client, f.message))
                }
                FailureKind::Connect => (
                    FailureKind::Connect,
                    format!("client {}: {}", f.client, f.message),
                ),
                _ => {
                    let cpu = spent(cpu_before);
                    let kind = if busy(cpu, elapsed) {
                        FailureKind::BusyLoop
                    } else {
                        FailureKind::Hang
                    };
                    (
                        kind,
                        format!(
                            "client {}: {} (the server used {} of CPU in {}{blocked})",
                            f.client,
                            f.message,
                            human_duration(cpu),
                            human_duration(elapsed),
                        ),
                    )
                }
            });
        }
        if !scenario.oracle {
            return None;
        }
        let mut clients = owed(&run.clients);
        for c in &mut clients {
            if owed_nothing.contains(&c.name) {
                c.disrupted = true;
                c.cut_unread_at = Some(crate::time::Instant::ZERO);
            }
        }
        let (client, detail) = scenario
            .service
            .judge_all(&scenario.options, &clients)
            .err()?;
        if let Some(crash) = self.crashed(true) {
            return Some(crash);
        }
        let prefix: Vec<ClientReport> = clients
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.disrupted = true;
                c
            })
            .collect();
        let only_missing = scenario
            .service
            .judge_all(&scenario.options, &prefix)
            .is_ok();
        if only_missing && !run.settled {
            let cpu = spent(settle_cpu);
            let (kind, what) = if busy(cpu, run.settling) {
                (FailureKind::BusyLoop, "burned")
            } else {
                (FailureKind::Hang, "used")
            };
            return Some((
                kind,
                format!(
                    "client {client} is owed bytes that never came: {detail} (the server {what} {} of CPU in the {} its clients waited{blocked})",
                    human_duration(cpu),
                    human_duration(run.settling),
                ),
            ));
        }
        Some((FailureKind::Oracle, format!("client {client}: {detail}")))
    }

    /// After muxsim held the server at its descriptor limit and the clients left: whether it
    /// accepts a new connection, as a server must once descriptors free up.
    fn accepts_again(&mut self, addr: SocketAddr) -> Option<(FailureKind, String)> {
        const WITHIN: Duration = Duration::from_secs(2);
        let server = self.server.as_mut()?;
        let probe = std::net::TcpStream::connect_timeout(&addr, WITHIN);
        let port = probe
            .as_ref()
            .ok()
            .and_then(|s| s.local_addr().ok())
            .map(|a| a.port());
        if port.is_some_and(|port| server.accepts(port, WITHIN)) {
            return None;
        }
        let why = match &probe {
            Err(e) => format!("a new connection failed: {e}"),
            Ok(_) => format!(
                "a new connection was not accepted within {}",
                human_duration(WITHIN)
            ),
        };
        Some((
            FailureKind::Hang,
            format!(
                "muxsim held the server at its descriptor limit (`accept-emfile`: every accept failed until it closed a descriptor); once the clients had left, {why}: it stopped accepting for good"
            ),
        ))
    }

    /// The checks once every client has left: the server is still there, it idles, and its
    /// sockets come back to their number.
    fn after_clients_left(&mut self, epoch: u64) -> Result<Option<(FailureKind, String)>, String> {
        let probe = self.config.idle_probe;
        let leak_wait = self.config.leak_wait;
        let baseline = self.baseline;
        let Some(server) = self.server.as_mut() else {
            return Ok(None);
        };
        let cpu_a = server.cpu();
        std::thread::sleep(probe);
        let cpu_b = server.cpu();
        if let Some(crash) = self.crashed(true) {
            return Ok(Some(crash));
        }
        let Some(server) = self.server.as_mut() else {
            return Ok(None);
        };
        let events = server.events_settled(Duration::from_secs(1));
        if let Some(message) = spin_message(&events, epoch, " after every client left") {
            return Ok(Some((FailureKind::BusyLoop, message)));
        }
        if let (Some(a), Some(b)) = (cpu_a, cpu_b) {
            let cpu = b.saturating_sub(a);
            if busy(cpu, probe) {
                return Ok(Some((
                    FailureKind::BusyLoop,
                    format!(
                        "busy loop: the server used {} of CPU in the {} after every client left",
                        human_duration(cpu),
                        human_duration(probe)
                    ),
                )));
            }
        }
        let deadline = Instant::now() + leak_wait;
        loop {
            let Some(sockets) = server.sockets() else {
                return Ok(None);
            };
            if sockets.len() <= baseline {
                return Ok(None);
            }
            if let Some(read) = blocked_reading_a_socket(server) {
                return Ok(Some((
                    FailureKind::Hang,
                    format!(
                        "hang: every client left, and the server sleeps in {read}: a blocking read that waits for bytes no client will send (a read after a readiness report that did not hold?)"
                    ),
                )));
            }
            if Instant::now() >= deadline {
                let shown: Vec<&str> = sockets.iter().map(String::as_str).take(6).collect();
                return Ok(Some((
                    FailureKind::Leak,
                    format!(
                        "descriptor leak: {} sockets open {} after every client left, {baseline} before the seed ({}{}){}",
                        sockets.len(),
                        human_duration(leak_wait),
                        shown.join(", "),
                        if sockets.len() > 6 { ", ..." } else { "" },
                        blocked_note(server)
                    ),
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Where a sleeping server is blocked, for messages: `; it is blocked in recvfrom on fd 7
/// (socket:[123])`, or nothing.
fn blocked_note(server: &Server) -> String {
    match server.blocked_in() {
        Some((call, Some(fd))) => format!(
            "; it is blocked in {call} on fd {fd}{}",
            server
                .fd_target(fd)
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        ),
        Some((call, None)) => format!("; it is blocked in {call}"),
        None => String::new(),
    }
}

/// Whether the server sleeps in a read of one of its sockets (not a listener: a read that
/// waits for bytes no client will send).
fn blocked_reading_a_socket(server: &Server) -> Option<String> {
    let (call, fd) = server.blocked_in()?;
    let fd = fd?;
    let target = server.fd_target(fd)?;
    (matches!(call, "read" | "recvfrom" | "recvmsg" | "readv") && target.starts_with("socket:"))
        .then(|| format!("{call} on fd {fd} ({target})"))
}

/// How the server died, with what it said of the cause (a panic's message, an exception).
fn crash_message(server: &Server, how: &str) -> String {
    match crash_cause(&server.output_tail(40)) {
        Some(cause) => format!("the server {how}: {cause}"),
        None => format!("the server {how}"),
    }
}

/// The line of a server's last output that names why it died: a Rust panic's location with
/// its message, a Python traceback's exception line, or else the last line that is not a
/// hint about backtraces.
fn crash_cause(lines: &[String]) -> Option<String> {
    let lines: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    // Rust: `thread 'main' panicked at src/main.rs:9:5:` and the message on the next line
    // (1.73 and later), or `thread 'main' panicked at 'message', src/main.rs:9:5` (before).
    if let Some(i) = lines
        .iter()
        .rposition(|l| l.starts_with("thread '") && l.contains("' panicked at "))
    {
        let head = lines[i].trim();
        return Some(match lines.get(i + 1) {
            Some(message) if head.ends_with(':') && !message.trim().is_empty() => {
                format!("{head} {}", message.trim())
            }
            _ => head.to_string(),
        });
    }
    // Python: the exception line closes the last traceback, after its indented frames.
    if let Some(i) = lines
        .iter()
        .rposition(|l| l.starts_with("Traceback (most recent call last)"))
        && let Some(exception) = lines[i + 1..]
            .iter()
            .find(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))
    {
        return Some(exception.trim().to_string());
    }
    lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .map(str::to_string)
}

/// The busy loop the library saw in `epoch`, if it saw one, in words (`when` after "busy
/// loop").
fn spin_message(events: &[Event], epoch: u64, when: &str) -> Option<String> {
    events.iter().find_map(|event| match event {
        Event::Spin {
            epoch: e,
            calls,
            nanos,
            kinds,
        } if *e == epoch => {
            let names = ["waits", "failed accepts", "empty reads", "empty writes"];
            let parts: Vec<String> = kinds
                .iter()
                .zip(names)
                .filter(|(n, _)| **n > 0)
                .map(|(n, name)| format!("{n} {name}"))
                .collect();
            // Accepts that keep failing are a server retrying at its descriptor limit: say
            // what it must do instead.
            let accepting = kinds[1] > 0 && kinds[1] >= kinds[2] + kinds[3];
            Some(format!(
                "busy loop{when}: the server made {calls} calls in {} that moved no byte and accepted or closed nothing ({}){}; muxsim injected no more faults into it",
                human_duration(Duration::from_nanos(*nanos)),
                parts.join(", "),
                if accepting {
                    ": at its descriptor limit (EMFILE) a server must stop watching the listener, or back off, until it closes a descriptor, not retry the accept at once"
                } else {
                    ""
                }
            ))
        }
        _ => None,
    })
}

/// The clients owed nothing by the server in `epoch`, as muxsim's own doing: those whose
/// connection it reset (an injected `read-reset` or `write-reset`) or aborted before the
/// server accepted it, and those that connected while it held the server at its descriptor
/// limit (an injected `accept-emfile`: accepted late, or shed, or never).
fn owed_nothing(
    events: &[Event],
    epoch: u64,
    run: &LiveRun,
    scenario: &Scenario,
    faults: &[FaultLine],
) -> Vec<String> {
    let mut names: Vec<String> = faults
        .iter()
        .filter(|f| matches!(f.spec.name(), "read-reset" | "write-reset"))
        .filter_map(|f| f.client.clone())
        .collect();
    let client_at = |port: &u16| run.ports.iter().position(|p| *p == Some(*port));
    let mut at_limit = false;
    let mut accepted_before = vec![false; run.ports.len()];
    for event in events {
        match event {
            Event::Abort {
                epoch: e,
                port: Some(port),
            } if *e == epoch => {
                if let Some(c) = client_at(port) {
                    names.push(scenario.play.clients[c].name.clone());
                }
            }
            Event::Fault { epoch: e, spec, .. }
                if *e == epoch && matches!(spec, FaultSpec::AcceptEmfile(_)) =>
            {
                at_limit = true
            }
            Event::Accept {
                epoch: e,
                port: Some(port),
                ..
            } if *e == epoch && !at_limit => {
                if let Some(c) = client_at(port) {
                    accepted_before[c] = true;
                }
            }
            _ => {}
        }
    }
    if at_limit {
        for (c, accepted) in accepted_before.iter().enumerate() {
            if !accepted && run.ports[c].is_some() {
                names.push(scenario.play.clients[c].name.clone());
            }
        }
    }
    names
}

/// The faults the library reported for `epoch`, as transcript lines naming the clients, and
/// their kinds for the tally.
fn fault_lines(
    events: &[Event],
    epoch: u64,
    run: &LiveRun,
    scenario: &Scenario,
) -> (Vec<FaultLine>, Vec<String>) {
    let mut by_index: BTreeMap<u64, String> = BTreeMap::new();
    for event in events {
        if let Event::Accept {
            epoch: e,
            idx,
            port: Some(port),
        } = event
            && *e == epoch
            && let Some(c) = run.ports.iter().position(|p| *p == Some(*port))
        {
            by_index.insert(*idx, scenario.play.clients[c].name.clone());
        }
    }
    let mut lines = Vec::new();
    let mut kinds = Vec::new();
    for event in events {
        if let Event::Outgoing { epoch: e, name, .. } = event
            && *e == epoch
        {
            // A connection the server made is no client's: tallied, not a transcript line.
            kinds.push(format!("{name} (outgoing)"));
            continue;
        }
        let Event::Fault {
            epoch: e,
            who,
            call,
            spec,
        } = event
        else {
            continue;
        };
        if *e != epoch {
            continue;
        }
        kinds.push(spec.name().to_string());
        let client = match who {
            Some(idx) => match by_index.get(idx) {
                Some(name) => Some(name.clone()),
                // A connection that is not one of this seed's clients.
                None => continue,
            },
            None => None,
        };
        lines.push(FaultLine {
            client,
            spec: *spec,
            at: Some(*call),
        });
    }
    (lines, kinds)
}

/// Runs the campaign. `Err` when the server cannot be run at all (it will not start, the
/// library cannot reach it); failures of the server are in the report.
pub(crate) fn run(
    config: &RunConfig,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunReport, String> {
    let program = config.command.first().ok_or("no command to run")?;
    if let Some(why) = binary::bypasses_libc(program) {
        return Err(format!("{why}; `muxsim run` cannot inject faults into it"));
    }
    if binary::resolve(program).is_none() {
        return Err(format!(
            "cannot find `{}` (not a file, and not on PATH)",
            program.to_string_lossy()
        ));
    }
    let library = library_file()?;
    let work = WorkDir::new()?;
    let control = Control::create(work.0.join("control"))
        .map_err(|e| format!("cannot create the control page: {e}"))?;
    let mut runner = Runner {
        config,
        library,
        control,
        server: None,
        epoch: 0,
        baseline: 0,
        restarts: 0,
        started: 0,
        injected: BTreeMap::new(),
        tally: true,
    };
    runner.server()?;
    let mut report = RunReport {
        command: config
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        clients: match &config.target {
            RunTarget::Generated(c) => format!("service {}", c.service().name()),
            RunTarget::Fixtures(f) => format!("{} fixture(s)", f.len()),
        },
        rss_start: runner.server.as_ref().and_then(Server::rss),
        ..RunReport::default()
    };
    let walk = Walk {
        start: config.start,
        count: Some(config.count),
        shard: (1, 1),
        deadline: None,
        stop: config.stop.as_deref(),
        max_failures: config.max_failures,
    };
    let mut swept = sweep(vec![runner], &walk, progress);
    let mut runner = swept.jobs.pop().expect("one job");
    report.seeds_run = swept.seeds_run;
    report.failed_seeds = swept.failed_seeds;
    report.interrupted = swept.broken || (swept.stopped && report.seeds_run < config.count);
    report.injected = std::mem::take(&mut runner.injected);
    // Faults the shrinker injects are not the campaign's: the tally is of the seeds run.
    runner.tally = false;
    let ctrl_c = config
        .stop
        .as_ref()
        .is_some_and(|s| s.load(Ordering::Relaxed));
    let mut buckets: BTreeMap<String, RunBucket> = BTreeMap::new();
    for (signature, acc) in swept.buckets {
        let hit = acc.lowest;
        let example = if hit.fixture.is_none() && !swept.broken && !ctrl_c {
            hit.shrunk(&mut runner, &signature, config.shrink_attempts)?
        } else {
            hit.example()
        };
        buckets.insert(
            signature.clone(),
            RunBucket {
                signature,
                count: acc.count,
                seeds: acc.seeds.into_iter().collect(),
                example: RunExample {
                    seed: hit.seed,
                    fixture: hit.fixture,
                    kind: hit.failure.kind(),
                    transcript: example.transcript.to_string(),
                    message: example.message,
                    output: example.played.notes().to_vec(),
                },
            },
        );
    }
    report.rss_end = runner.server.as_ref().and_then(Server::rss);
    report.restarts = runner.restarts;
    if let (Some(a), Some(b)) = (report.rss_start, report.rss_end)
        && b > a.saturating_add(config.rss_growth)
    {
        let message = format!(
            "memory: the server's resident memory grew from {} to {} over {} seeds (bound: {} more)",
            megabytes(a),
            megabytes(b),
            report.seeds_run,
            megabytes(config.rss_growth)
        );
        let seed = config
            .start
            .wrapping_add(report.seeds_run.saturating_sub(1));
        buckets.insert(
            "memory".to_string(),
            RunBucket {
                signature: "memory".to_string(),
                count: 1,
                seeds: vec![seed],
                example: RunExample {
                    seed,
                    fixture: None,
                    kind: FailureKind::Memory,
                    message,
                    transcript: String::new(),
                    output: Vec::new(),
                },
            },
        );
    }
    runner.restart_later();
    let mut buckets: Vec<RunBucket> = buckets.into_values().collect();
    buckets.sort_by(|a, b| b.count.cmp(&a.count).then(a.seeds[0].cmp(&b.seeds[0])));
    report.buckets = buckets;
    Ok(report)
}

/// Where `run` writes a bucket's transcript: `DIR/NAME-KIND-SEED.txn`.
pub(crate) fn example_path(dir: &Path, name: &str, example: &RunExample) -> PathBuf {
    dir.join(format!("{name}-{}-{}.txn", example.kind, example.seed))
}

#[cfg(test)]
mod crash_tests {
    use super::crash_cause;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_rust_panic_is_quoted_with_its_message_not_the_backtrace_hint() {
        let out = lines(
            "listening on 127.0.0.1:4000\n\
             thread 'main' panicked at src/main.rs:41:27:\n\
             called `Option::unwrap()` on a `None` value\n\
             note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        );
        assert_eq!(
            crash_cause(&out).as_deref(),
            Some(
                "thread 'main' panicked at src/main.rs:41:27: called `Option::unwrap()` on a `None` value"
            )
        );
        let old = lines(
            "thread 'main' panicked at 'index out of bounds', src/main.rs:9:5\n\
             note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        );
        assert_eq!(
            crash_cause(&old).as_deref(),
            Some("thread 'main' panicked at 'index out of bounds', src/main.rs:9:5")
        );
    }

    #[test]
    fn a_python_traceback_is_quoted_by_its_exception_line() {
        let out = lines(
            "Traceback (most recent call last):\n\
             \x20 File \"server.py\", line 40, in <module>\n\
             \x20   main()\n\
             \x20 File \"server.py\", line 31, in main\n\
             \x20   del queues[sock]\n\
             KeyError: <socket.socket fd=7>",
        );
        assert_eq!(
            crash_cause(&out).as_deref(),
            Some("KeyError: <socket.socket fd=7>")
        );
    }

    #[test]
    fn other_output_is_quoted_by_its_last_line() {
        assert_eq!(
            crash_cause(&lines("starting\nsegfault in handler\n")).as_deref(),
            Some("segfault in handler")
        );
        assert_eq!(crash_cause(&[]), None);
    }
}
