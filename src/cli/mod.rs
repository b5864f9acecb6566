//! The `muxsim` command line: parsing and printing only; the work is done by the library.
//!
//! A crate with services of its own builds its own `muxsim` by handing its registry to
//! [`run`]:
//!
//! ```no_run
//! // src/bin/muxsim.rs of your crate
//! use muxsim::{Registry, ServiceDescriptor};
//! # fn my_descriptor() -> ServiceDescriptor { unimplemented!() }
//!
//! fn main() -> std::process::ExitCode {
//!     muxsim::cli::run(Registry::builtin().with(my_descriptor()))
//! }
//! ```
//!
//! Every subcommand then knows those services, and the `reproduce:` lines it prints name that
//! command.
//!
//! Exit codes: 0 success; 1 a check failed (a replay mismatch, a failing seed, a failing
//! simulation, a measurement that measured nothing); 2 bad input (unreadable or malformed
//! files, bad flags, a busy port); 3 inconclusive (a replay over TCP whose expected failure
//! depends on faults only the server's kernel can cause); 130 a campaign stopped by Ctrl-C.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::check::{
    self, Campaign, FileOptions, FileOutcome, FileResult, FileTarget, ReportFile, Tally,
};

mod report;
use crate::driver::Config;
use crate::fault::FaultFamilies;
use crate::inject;
use crate::scenario::{Divergence, Scenario};
use crate::semantics::Semantics;
use crate::service::{Registry, ServiceDescriptor, ServiceOptions};
use crate::tcp::{self, LineEnding, RealBackend, TcpReplayOptions};
use crate::text::{DurationError, parse_duration};
use crate::transcript;
use crate::view;
use crate::world::{Limit, WorldConfig, limits::Scope};

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MUXSIM_COMMIT"), ")");

/// The longest wall-clock duration a flag accepts: a year bounds every campaign and every
/// measurement anyone runs, and keeps `now + duration` far from overflowing.
const MAX_WALL: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Parser, Debug)]
#[command(
    name = "muxsim",
    version = VERSION,
    about = "Protocol-testing harness and deterministic simulator for select/poll/epoll servers",
    after_help = "Exit codes: 0 success, 1 a check failed, 2 bad input, 3 inconclusive (TCP replay), 130 interrupted."
)]
struct Cli {
    /// When to colour PASS and FAIL: auto (a terminal, and NO_COLOR unset), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Print only results and errors (no progress, no server log).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a service on real sockets (epoll through mio, poll or select).
    Serve(ServeArgs),
    /// Talk to a server: print its greeting, send each input line, print the answers.
    Client(ClientArgs),
    /// List the services this command knows, or describe one.
    Services(ServicesArgs),
    /// List the limits transcripts and --limit can set.
    Limits(LimitsArgs),
    /// Run one generated scenario in the simulator; print its transcript and verdict.
    Sim(SimArgs),
    /// Replay transcripts in the simulator, on a real muxsim server, or against any server.
    Replay(ReplayArgs),
    /// Run a fuzz campaign: many seeds, failures grouped by signature and shrunk.
    Fuzz(FuzzArgs),
    /// Run an unmodified server with seeded faults injected into its socket calls, and judge it.
    Run(RunArgs),
    /// Merge the JSON reports of a campaign's shards into one bucketed report.
    Merge(MergeArgs),
    /// Forward TCP to a server and record the conversations as a transcript.
    Record(RecordArgs),
    /// Mix well-behaved and abusive clients against a live server; report lost answers.
    Chaos(ChaosArgs),
    /// Load a `lines` server: many connections, requests in flight, every answer checked.
    Load(LoadArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReplayFormat {
    Text,
    Json,
    Junit,
    /// A Mermaid sequence diagram of each simulated run.
    Mermaid,
    /// Trace Event Format JSON of one simulated run, for Perfetto or chrome://tracing.
    ChromeTrace,
}

/// What `sim` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SimFormat {
    /// The run as a transcript.
    Text,
    Json,
    /// A Mermaid sequence diagram (at most about 40 lines), for a pull request.
    Mermaid,
    /// Trace Event Format JSON, for Perfetto (ui.perfetto.dev) or chrome://tracing.
    ChromeTrace,
}

/// A wall-clock duration from the command line: `500ms`, `1.5s`, `2m`, `1h`, at least a
/// millisecond and at most a year.
fn wall_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text).map_err(|e| match e {
        DurationError::TooLong => format!("`{text}`: duration too long (at most a year)"),
        other => format!("`{text}`: {other}"),
    })?;
    if d > MAX_WALL {
        return Err(format!("`{text}`: duration too long (at most a year)"));
    }
    if d < Duration::from_millis(1) {
        return Err(format!("`{text}`: must be at least 1ms"));
    }
    Ok(d)
}

fn families(text: &str) -> Result<FaultFamilies, String> {
    text.parse()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SemanticsChoice {
    One(Semantics),
    All,
}

impl SemanticsChoice {
    fn list(self) -> Vec<Semantics> {
        match self {
            SemanticsChoice::One(s) => vec![s],
            SemanticsChoice::All => Semantics::ALL.to_vec(),
        }
    }
}

fn semantics_values() -> impl TypedValueParser<Value = SemanticsChoice> {
    let mut names: Vec<&'static str> = Semantics::ALL.iter().map(|s| s.name()).collect();
    names.push("all");
    PossibleValuesParser::new(names).map(|s| match s.parse::<Semantics>() {
        Ok(one) => SemanticsChoice::One(one),
        Err(_) => SemanticsChoice::All,
    })
}

fn backend_values() -> impl TypedValueParser<Value = RealBackend> {
    let names: Vec<&'static str> = RealBackend::ALL.iter().map(|b| b.name()).collect();
    PossibleValuesParser::new(names).map(|s| s.parse::<RealBackend>().unwrap_or_default())
}

fn eol_values() -> impl TypedValueParser<Value = LineEnding> {
    let names: Vec<&'static str> = LineEnding::ALL.iter().map(|e| e.name()).collect();
    PossibleValuesParser::new(names).map(|s| {
        LineEnding::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .unwrap_or_default()
    })
}

/// `NAME=VALUE` for `--limit`.
fn limit_pair(text: &str) -> Result<(String, u64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected NAME=VALUE, e.g. max-line=512"))?;
    let value = value
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("`{text}`: the value must be a whole number"))?;
    Ok((name.trim().to_string(), value))
}

#[derive(Args, Debug, Clone)]
struct DriverLimits {
    /// Connections served at once; later clients read a refusal and are closed.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_conns: u64,
    /// Close a connection idle this many milliseconds (0: never).
    #[arg(long, default_value_t = 300_000)]
    idle_timeout_ms: u64,
    /// Stop reading a connection with this many bytes of output pending.
    #[arg(long, default_value_t = 256 * 1024)]
    high_water: u64,
    /// Cut a connection with this many bytes of output pending.
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    hard_limit: u64,
    /// Bytes read from one connection per turn.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    read_budget: u64,
}

impl DriverLimits {
    fn pairs(&self) -> [(&'static str, u64); 5] {
        [
            ("max-conns", self.max_conns),
            ("idle-timeout-ms", self.idle_timeout_ms),
            ("high-water", self.high_water),
            ("hard-limit", self.hard_limit),
            ("read-budget", self.read_budget),
        ]
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The service to run (see `services`).
    #[arg(long)]
    service: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9999")]
    addr: String,
    /// The readiness mechanism: mio (epoll), poll or select.
    #[arg(long, value_parser = backend_values(), default_value = "mio")]
    backend: RealBackend,
    #[command(flatten)]
    driver: DriverLimits,
    /// A limit of the service, NAME=VALUE (repeatable; see `services NAME`), e.g. max-line=512.
    #[arg(long = "limit", value_name = "NAME=VALUE", value_parser = limit_pair)]
    limits: Vec<(String, u64)>,
    /// How much of the server's log to print: off, warn (errors, refusals, limits) or info
    /// (also each connection's comings and goings). `-q` is `off`.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
}

/// How much of the server's log `serve` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogLevel {
    Off,
    Warn,
    Info,
}

/// The starts of the driver's log lines that report a problem; every other line is a
/// connection coming, going, pausing or resuming.
const LOG_PROBLEMS: &[&str] = &[
    "accept:",
    "listener:",
    "cannot watch",
    "output limit:",
    "read:",
    "write:",
    "shutdown:",
    "reregister:",
    "refused",
    "service sent",
];

/// Whether a log line (`[0.304568s] conn 3.1: text` or `[0.304568s] text`) reports a problem.
fn is_log_problem(line: &str) -> bool {
    let text = line.split_once("] ").map_or(line, |(_, t)| t);
    let text = match text.strip_prefix("conn ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, t)| t),
        None => text,
    };
    LOG_PROBLEMS.iter().any(|p| text.starts_with(p))
}

/// Passes on only the log lines that report a problem.
struct ProblemsOnly<W>(W);

impl<W: Write> Write for ProblemsOnly<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let kept: String = text
            .split_inclusive('\n')
            .filter(|line| is_log_problem(line))
            .collect();
        self.0.write_all(kept.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[derive(Args, Debug)]
struct ClientArgs {
    /// The server's address, HOST:PORT.
    addr: String,
    /// What to append to each line sent: auto (a newline when the greeting ends with one),
    /// none, lf or crlf.
    #[arg(long, value_parser = eol_values(), default_value = "auto")]
    eol: LineEnding,
    /// How long to wait for an answer after each line, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    wait_ms: u64,
}

#[derive(Args, Debug)]
struct ServicesArgs {
    /// A service to describe: its limits, protocol and oracle.
    name: Option<String>,
}

#[derive(Args, Debug)]
struct LimitsArgs {
    /// Also list the limits this service declares.
    #[arg(long)]
    service: Option<String>,
}

#[derive(Args, Debug)]
struct SimArgs {
    /// The service to simulate (see `services`).
    #[arg(long)]
    service: String,
    /// The seed: it decides the scenario, the schedule and the faults.
    #[arg(long, env = "MUXSIM_SEED")]
    seed: u64,
    /// Readiness semantics; `all` lets the seed pick one as `fuzz` does, so that seed N here
    /// is the run a campaign calls seed N (with the same --faults, --clients and --limit).
    #[arg(long, value_parser = semantics_values(), default_value = "all")]
    semantics: SemanticsChoice,
    /// Clients in the scenario (default: the service's protocol says).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    clients: Option<u64>,
    /// Fault families the seed may switch on: none, all, linux (what Linux itself does: all but
    /// would-block and spurious), or a list (short-io,would-block,...).
    #[arg(long, value_parser = families, default_value = "all")]
    faults: FaultFamilies,
    /// A limit of the run or the service, NAME=VALUE (repeatable; see `limits`).
    #[arg(long = "limit", value_name = "NAME=VALUE", value_parser = limit_pair)]
    limits: Vec<(String, u64)>,
    /// Also show every server call, poll and log line.
    #[arg(long)]
    trace: bool,
    /// Run the seed twice and compare the traces.
    #[arg(long)]
    check_determinism: bool,
    /// With --check-determinism, make the second run in a fresh process of this command, so
    /// that what a service fixes once per process (a static seeded at start-up, an address)
    /// shows too.
    #[arg(long, requires = "check_determinism")]
    fresh_process: bool,
    /// Do not play a passing run a second time to find heap the service keeps for
    /// connections that are gone.
    #[arg(long)]
    no_heap_check: bool,
    /// Output: text (the transcript), json, mermaid (a sequence diagram) or chrome-trace
    /// (for Perfetto).
    #[arg(long, value_enum, default_value_t = SimFormat::Text)]
    format: SimFormat,
    /// Also write the run's timeline page (one self-contained HTML file) here.
    #[arg(long, value_name = "FILE.html")]
    timeline: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// The simulator.
    Sim,
    /// A server of the service in-process on epoll (mio).
    Mio,
    /// A server of the service in-process on poll(2).
    Poll,
    /// A server of the service in-process on select(2).
    Select,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// Transcript files, directories searched for `*.txn`, or `-` for standard input.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Where the server runs: the simulator, or a server of the service on real sockets.
    #[arg(long, value_enum, default_value_t = BackendArg::Sim)]
    backend: BackendArg,
    /// Replay against this TCP server instead (black box).
    #[arg(long, conflicts_with = "backend")]
    target: Option<String>,
    /// The service, for transcripts without a `service` line (naming another is an error).
    #[arg(long)]
    service: Option<String>,
    /// Run transcripts written for another service against --service (a variant against
    /// the original's fixtures); each such file says so.
    #[arg(long, requires = "service")]
    any_service: bool,
    /// On real sockets: how long an expectation waits, in milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: u64,
    /// On real sockets: send in pieces of at most this many bytes.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    split: Option<u64>,
    /// Fail a transcript whose fault lines never fire (a warning otherwise).
    #[arg(long)]
    strict: bool,
    /// Stop at the first transcript that fails or cannot be read.
    #[arg(long)]
    fail_fast: bool,
    /// Print each run's transcript.
    #[arg(short, long)]
    verbose: bool,
    /// In the simulator, print each run's transcript with every server call, poll and log
    /// line as comments.
    #[arg(long)]
    trace: bool,
    /// Output: text, json, or junit (XML for CI systems).
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    format: ReplayFormat,
    /// Also write each run's timeline page (one self-contained HTML file): to FILE.html for
    /// one transcript, or into the directory FILE, one page per transcript, for several.
    #[arg(long, value_name = "FILE.html")]
    timeline: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct FuzzArgs {
    /// The service to fuzz (see `services`).
    #[arg(long)]
    service: String,
    /// Number of seeds (default 1000 unless --duration is given).
    #[arg(long, env = "MUXSIM_SEEDS", conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    seeds: Option<u64>,
    /// Run seeds until this much time has passed, e.g. 60s or 5m.
    #[arg(long, value_parser = wall_duration)]
    duration: Option<Duration>,
    /// Worker threads (default: all cores; never more than seeds).
    #[arg(long, env = "MUXSIM_JOBS", value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// Readiness semantics to cycle through, by seed.
    #[arg(long, value_parser = semantics_values(), default_value = "all")]
    semantics: SemanticsChoice,
    /// Fault families seeds may switch on: none, all, linux (what Linux itself does: all but
    /// would-block and spurious), or a list (short-io,would-block,...).
    #[arg(long, value_parser = families, default_value = "all")]
    faults: FaultFamilies,
    /// The first seed.
    #[arg(long, env = "MUXSIM_SEED", default_value_t = 0)]
    start_seed: u64,
    /// Run only shard I of N (I/N, from 1), or `auto` to take it from the environment
    /// (MUXSIM_SHARD, CI matrices, Kubernetes Indexed Jobs: see docs/scale.md).
    #[arg(long)]
    shard: Option<String>,
    /// Clients per scenario (default: the service's protocol says).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    clients: Option<u64>,
    /// A limit of the run or the service, NAME=VALUE (repeatable; see `limits`).
    #[arg(long = "limit", value_name = "NAME=VALUE", value_parser = limit_pair)]
    limits: Vec<(String, u64)>,
    /// Fixtures to start one scenario in three from, mutated (files or directories).
    #[arg(long)]
    fixtures: Vec<PathBuf>,
    /// Take fixtures written for another service too (a variant fuzzed from the original's
    /// fixtures); each such file is named on standard error.
    #[arg(long, requires = "fixtures")]
    any_service: bool,
    /// Where the minimal failing transcripts (one per distinct failure) are written.
    #[arg(long, default_value = "target/muxsim/regressions")]
    out: PathBuf,
    /// Also write the report as JSON to this file (for `merge`).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Output: text, or json (the report, as `--report` writes it).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Stop after this many failing seeds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_failures: Option<u64>,
    /// Stop at the first failure (--max-failures 1).
    #[arg(long)]
    stop_on_failure: bool,
    /// Do not shrink failures.
    #[arg(long)]
    no_shrink: bool,
    /// Run every seed twice and compare the runs event by event; a seed whose runs differ
    /// fails as nondeterministic, with the first difference. (Failing seeds are always run
    /// again before they are reported.)
    #[arg(long)]
    check_determinism: bool,
    /// Do not play a passing seed a second time on the same service to find heap it keeps
    /// for connections that are gone (state that grows by design, such as a history).
    #[arg(long)]
    no_heap_check: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  muxsim run --service echo --seeds 50 -- python3 fixtures/peers/seed4.py 0
  muxsim run --service lines -- ./my-server --port 0
  muxsim run fixtures/lines.txn --seeds 20 -- ./my-server --port 0

The server's listening address comes from its listen(2) call (no port flag needed); --addr
names it when the server listens on a socket it inherited. See docs/run.md.")]
struct RunArgs {
    /// The service the server speaks: clients are generated from its protocol and judged by
    /// its oracle (see `services`). With fixtures: the service of those without a `service`
    /// line.
    #[arg(long, required_unless_present = "fixtures")]
    service: Option<String>,
    /// Fixtures to run under every seed instead (files or directories).
    fixtures: Vec<PathBuf>,
    /// Run fixtures written for another service as --service's (each such file says so).
    #[arg(long, requires_all = ["service", "fixtures"])]
    any_service: bool,
    /// Number of seeds.
    #[arg(long, env = "MUXSIM_SEEDS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// The first seed.
    #[arg(long, env = "MUXSIM_SEED", default_value_t = 0)]
    start_seed: u64,
    /// Run this one seed (as a `reproduce:` line does).
    #[arg(long, conflicts_with_all = ["start_seed", "seeds"])]
    seed: Option<u64>,
    /// Fault families seeds may switch on: none, all, linux (what Linux itself does: all but
    /// would-block and spurious), or a list (short-io,would-block,eintr,spurious,accept,reset,...).
    #[arg(long, value_parser = families, default_value = "all")]
    faults: FaultFamilies,
    /// Which of the server's connections take faults: those it accepted from the clients,
    /// those it makes itself (to an upstream or a backend: refused, EINPROGRESS, then the
    /// faults of any connection), or all.
    #[arg(long, value_enum, default_value_t = inject::FaultsOn::All)]
    faults_on: inject::FaultsOn,
    /// A limit of the service (it must match the server's), NAME=VALUE (repeatable).
    #[arg(long = "limit", value_name = "NAME=VALUE", value_parser = limit_pair)]
    limits: Vec<(String, u64)>,
    /// Clients per generated scenario (default: the service's protocol says).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    clients: Option<u64>,
    /// Where the server listens, when it does not say through listen(2).
    #[arg(long)]
    addr: Option<String>,
    /// How long the server may take to start listening.
    #[arg(long, value_parser = wall_duration, default_value = "10s")]
    startup_timeout: Duration,
    /// How long a client waits for what it is owed.
    #[arg(long, value_parser = wall_duration, default_value = "2s")]
    timeout: Duration,
    /// The longest a client's `wait` really waits.
    #[arg(long, value_parser = wall_duration, default_value = "1s")]
    max_wait: Duration,
    /// How much the server's resident memory may grow over the campaign, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    max_rss_growth: u64,
    /// Extra runs shrinking each distinct failure may take (0: do not shrink).
    #[arg(long, default_value_t = 16)]
    shrink_attempts: u64,
    /// Stop after this many failing seeds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_failures: Option<u64>,
    /// Where each distinct failure's transcript is written.
    #[arg(long, default_value = "target/muxsim/run")]
    out: PathBuf,
    /// Also write the timeline page of the first failure's repro here (the run's clients and
    /// faults; one page per repro is written beside it in --out anyway).
    #[arg(long, value_name = "FILE.html")]
    timeline: Option<PathBuf>,
    /// Output: text, or json (the report).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Show the server's output as it comes (on stderr, prefixed `server:`).
    #[arg(short, long)]
    verbose: bool,
    /// The server's command line, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// The shards' reports (`fuzz --report FILE`).
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// Write the merged report (JSON) to this file.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Output: text, or json (the merged report).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// Address the proxy listens on; port 0 picks a free port.
    #[arg(long)]
    listen: String,
    /// The server to forward to.
    #[arg(long)]
    upstream: String,
    /// The transcript to write (created at once; every line is written as it happens).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Stop after this many connections have ended (default: run until Ctrl-C / SIGTERM).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Write a `service` line, when the upstream runs a known service.
    #[arg(long)]
    service: Option<String>,
}

#[derive(Args, Debug)]
struct ChaosArgs {
    /// The server, HOST:PORT.
    #[arg(long)]
    target: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    clients: u64,
    /// How long to run, e.g. 30s or 2m.
    #[arg(long, default_value = "10s", value_parser = wall_duration)]
    duration: Duration,
    /// The service the server runs: its protocol frames the requests, its oracle checks the
    /// answers.
    #[arg(long, default_value = "echo")]
    service: String,
    /// A limit of the service, NAME=VALUE (repeatable).
    #[arg(long = "limit", value_name = "NAME=VALUE", value_parser = limit_pair)]
    limits: Vec<(String, u64)>,
    /// The seed of the clients' choices.
    #[arg(long, env = "MUXSIM_SEED", default_value_t = 0)]
    seed: u64,
    /// Output: text or json.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// The server, HOST:PORT.
    addr: String,
    /// Connections sending requests (0 with --idle: only hold idle connections, to measure
    /// what they cost the server).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    conns: u64,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    depth: u64,
    /// Bytes per request line (at least 16).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    size: u64,
    /// How long to measure, e.g. 10s.
    #[arg(long, default_value = "5s", value_parser = wall_duration)]
    duration: Duration,
    /// Connections that connect and then only hold their socket.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    idle: u64,
    /// Longest time to connect everything before measuring (it starts as soon as every
    /// connection is greeted).
    #[arg(long, default_value = "10s", value_parser = wall_duration)]
    warmup: Duration,
    /// Output: text or json.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args, Debug)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// What the command prints with: the program's name (for `reproduce:` lines) and colours.
struct App {
    registry: Registry,
    program: String,
    color: bool,
    quiet: bool,
}

type CliResult = Result<i32, String>;

/// Runs the command line with `registry`'s services; returns the exit code.
pub fn run(registry: Registry) -> ExitCode {
    ExitCode::from(run_with_args(registry, std::env::args_os()).clamp(0, 255) as u8)
}

/// [`run`] with the built-in services.
pub fn main() -> i32 {
    run_with_args(Registry::builtin(), std::env::args_os())
}

/// Runs the command line on `args` (the first is the program's name); returns the exit code.
pub fn run_with_args(registry: Registry, args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let program = args
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "muxsim".to_string());
    let name = Path::new(&program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "muxsim".to_string());
    let command = Cli::command().name(name.clone()).bin_name(name);
    let cli = match command
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => io::stdout().is_terminal() && !no_color,
    };
    let app = App {
        registry,
        program,
        color,
        quiet: cli.quiet,
    };
    let result = match cli.command {
        Command::Serve(args) => app.serve(args),
        Command::Client(args) => app.client(args),
        Command::Services(args) => app.services(args),
        Command::Limits(args) => app.limits(args),
        Command::Sim(args) => app.sim(args),
        Command::Replay(args) => app.replay(args),
        Command::Fuzz(args) => app.fuzz(args),
        Command::Run(args) => app.run(args),
        Command::Merge(args) => app.merge(args),
        Command::Record(args) => app.record(args),
        Command::Chaos(args) => app.chaos(args),
        Command::Load(args) => app.load(args),
        Command::Completions(args) => app.completions(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(io::stderr(), "{}: {message}", app.name());
            2
        }
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("bad address `{addr}`: {e}"))?
        .next()
        .ok_or_else(|| format!("bad address `{addr}`: it resolves to nothing"))
}

/// Sets `stop` and wakes the loop on SIGINT or SIGTERM.
fn stop_on_signals(stop: &Arc<AtomicBool>, wake: tcp::WakeFn) -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| format!("cannot handle signals: {e}"))?;
    let flag = Arc::clone(stop);
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            flag.store(true, Ordering::Relaxed);
            let _ = wake();
        }
    });
    Ok(())
}

/// A word as a shell reads it back: as is when it is plain, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A run's view in the format asked for, if a view was asked for.
fn view_of(format: ReplayFormat, timeline: &view::Timeline) -> Option<String> {
    match format {
        ReplayFormat::Mermaid => Some(view::mermaid(timeline)),
        ReplayFormat::ChromeTrace => Some(view::chrome_trace(timeline) + "\n"),
        ReplayFormat::Text | ReplayFormat::Json | ReplayFormat::Junit => None,
    }
}

/// A replayed file's timeline page, titled by the file and how it ended.
fn page_of(path: &Path, timeline: &view::Timeline) -> String {
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let verdict = if timeline.failed() { "FAIL" } else { "pass" };
    view::page(timeline, &format!("{name}: {verdict}"))
}

/// How `serve` ended: stopped (0), the service panicked (1), or the address could not be
/// served (an error).
fn served_exit(name: &str, addr: SocketAddr, served: Result<io::Result<()>, String>) -> CliResult {
    match served {
        Err(message) => {
            let _ = writeln!(io::stderr(), "{name}: the service panicked: {message}");
            Ok(1)
        }
        Ok(Ok(())) => {
            let _ = writeln!(io::stderr(), "{name}: stopped");
            Ok(0)
        }
        Ok(Err(e))
            if e.kind() == io::ErrorKind::AddrInUse
                || e.kind() == io::ErrorKind::AddrNotAvailable =>
        {
            Err(format!("cannot listen on {addr}: {e}"))
        }
        Ok(Err(e)) => Err(format!("the server failed on {addr}: {e}")),
    }
}

/// Ctrl-C and SIGTERM: the flag a campaign polls to finish the seed under way, shrink what
/// it found and print the summary. A second signal ends the process at once (exit 130).
fn interrupt_flag() -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ =
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&interrupted));
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }
    interrupted
}

/// `--out` names a directory, or nothing yet.
fn out_dir(out: &Path, what: &str) -> Result<(), String> {
    if out.exists() && !out.is_dir() {
        return Err(format!(
            "--out {}: not a directory ({what} go there)",
            out.display()
        ));
    }
    Ok(())
}

/// `count` seeds from `start` stay within `u64`.
fn seed_range(start: u64, count: u64) -> Result<(), String> {
    match start.checked_add(count.saturating_sub(1)) {
        Some(_) => Ok(()),
        None => Err(format!(
            "--start-seed {start} with --seeds {count} runs past the last seed ({})",
            u64::MAX
        )),
    }
}

/// A repro's diagram (`.mmd`) and timeline page (`.html`) beside its transcript.
fn write_views(transcript: &Path, diagram: &str, page: &str) -> Result<(), String> {
    for (extension, text) in [("mmd", diagram), ("html", page)] {
        let path = transcript.with_extension(extension);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Writes a timeline page, making its directory; says where on standard error.
fn write_page(path: &Path, page: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(path, page).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("timeline: {}", path.display());
    Ok(())
}

fn json<T: Serialize>(value: &T) -> String {
    // Serializing plain data to a string cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

impl App {
    fn name(&self) -> String {
        Path::new(&self.program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "muxsim".to_string())
    }

    fn paint(&self, text: &str, good: bool) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = if good { "32" } else { "31" };
        format!("\x1b[1;{code}m{text}\x1b[0m")
    }

    fn service(&self, name: &str) -> Result<&ServiceDescriptor, String> {
        self.registry.lookup(name).map_err(|e| e.to_string())
    }

    /// Applies `--limit` pairs: a limit of the run (its scope allowing) or of the service.
    fn apply_limits(
        &self,
        pairs: &[(String, u64)],
        service: &ServiceDescriptor,
        config: &mut WorldConfig,
        options: &mut ServiceOptions,
        real: bool,
    ) -> Result<(), String> {
        for (name, value) in pairs {
            match Limit::find(name) {
                Some(limit) if real && limit.scope == Scope::Simulator => {
                    return Err(format!(
                        "--limit {name}: a limit of the simulator, not of a real server"
                    ));
                }
                Some(limit) => limit
                    .apply(config, *value)
                    .map_err(|e| format!("--limit {e}"))?,
                None => service.set_option(options, name, *value).map_err(|e| {
                    format!(
                        "--limit {name}: {e} (limits of the run: {})",
                        Limit::names()
                    )
                })?,
            }
        }
        Ok(())
    }

    fn serve(&self, args: ServeArgs) -> CliResult {
        let service = self.service(&args.service)?.clone();
        let addr = resolve(&args.addr)?;
        let (mut config, options) = self.serve_config(&args, &service)?;
        let level = if self.quiet {
            LogLevel::Off
        } else {
            args.log_level
        };
        config.log = level != LogLevel::Off;
        let stop = Arc::new(AtomicBool::new(false));
        let mut signal_error = None;
        let mut all = io::stderr();
        let mut problems = ProblemsOnly(io::stderr());
        let stderr: &mut dyn Write = if level == LogLevel::Warn {
            &mut problems
        } else {
            &mut all
        };
        let name = self.name();
        let built = service.build(&options);
        let served = crate::panics::catch_quietly(|| {
            tcp::serve_on(
                args.backend,
                addr,
                built,
                config,
                &stop.clone(),
                stderr,
                |local, wake| {
                    if let Err(e) = stop_on_signals(&stop, wake) {
                        signal_error = Some(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                    // A closed stderr must not kill the server: log writes ignore errors.
                    let _ = writeln!(
                        io::stderr(),
                        "{name}: serving {} with {} on {local}",
                        service.name(),
                        args.backend.describe()
                    );
                },
            )
        });
        if let Some(e) = signal_error {
            return Err(e);
        }
        served_exit(&name, addr, served)
    }

    /// The driver's configuration and the service's options `serve` runs with: defaults,
    /// then the driver's flags, then `--limit`.
    fn serve_config(
        &self,
        args: &ServeArgs,
        service: &ServiceDescriptor,
    ) -> Result<(Config, ServiceOptions), String> {
        let mut world = WorldConfig {
            driver: Config::default(),
            ..WorldConfig::default()
        };
        for (name, value) in args.driver.pairs() {
            if let Some(limit) = Limit::find(name) {
                limit
                    .apply(&mut world, value)
                    .map_err(|e| format!("--{e}"))?;
            }
        }
        let mut options = service.defaults();
        self.apply_limits(&args.limits, service, &mut world, &mut options, true)?;
        Ok((world.driver, options))
    }

    fn client(&self, args: ClientArgs) -> CliResult {
        let addr = resolve(&args.addr)?;
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let mut out = io::stdout();
        match tcp::client(
            addr,
            &mut input,
            &mut out,
            args.eol,
            Duration::from_millis(args.wait_ms),
        ) {
            Ok(()) => Ok(0),
            Err(e) => Err(format!("{addr}: {e}")),
        }
    }

    fn services(&self, args: ServicesArgs) -> CliResult {
        let mut out = io::stdout().lock();
        let Some(name) = args.name else {
            let width = self
                .registry
                .iter()
                .map(|s| s.name().len())
                .max()
                .unwrap_or(0);
            for service in self.registry.iter() {
                let exhibit = if service.is_exhibit() {
                    "BUG EXHIBIT: "
                } else {
                    ""
                };
                let line = format!(
                    "{:<width$}  {exhibit}{}",
                    service.name(),
                    service.description()
                );
                // A closed pipe (`muxsim services | head -1`) is not an error worth a panic.
                if writeln!(out, "{}", line.trim_end()).is_err() {
                    break;
                }
            }
            return Ok(0);
        };
        let _ = write!(out, "{}", report::describe_service(self.service(&name)?));
        Ok(0)
    }

    fn limits(&self, args: LimitsArgs) -> CliResult {
        let mut text = String::from(
            "limits of a run (`limit NAME VALUE` in transcripts, --limit NAME=VALUE):\n",
        );
        let sim = WorldConfig::default();
        let real = WorldConfig {
            driver: Config::default(),
            ..WorldConfig::default()
        };
        for limit in crate::world::limits::LIMITS {
            let defaults = match limit.scope {
                Scope::Driver if limit.value(&sim) != limit.value(&real) => format!(
                    "[default: {} in the simulator, {} on real sockets]",
                    limit.value(&sim),
                    limit.value(&real)
                ),
                Scope::Driver => format!("[default: {}]", limit.value(&sim)),
                _ => format!("[default: {}; simulator only]", limit.value(&sim)),
            };
            let _ = writeln!(text, "  {:<18} {} {defaults}", limit.name, limit.help);
        }
        if let Some(name) = args.service {
            let service = self.service(&name)?;
            let _ = writeln!(text, "limits of service `{}`:", service.name());
            for o in service.options() {
                let _ = writeln!(text, "  {:<18} {} [default: {}]", o.name, o.help, o.default);
            }
        }
        let _ = write!(io::stdout(), "{text}");
        Ok(0)
    }

    fn campaign(
        &self,
        service: &ServiceDescriptor,
        limits: &[(String, u64)],
    ) -> Result<Campaign, String> {
        let mut campaign = Campaign::new(service.clone());
        for (name, value) in limits {
            campaign = campaign
                .try_limit(name, *value)
                .map_err(|e| format!("--limit {name}: {e}"))?;
        }
        Ok(campaign)
    }

    fn sim(&self, args: SimArgs) -> CliResult {
        let service = self.service(&args.service)?;
        let mut campaign = self
            .campaign(service, &args.limits)?
            .faults(args.faults)
            .semantics(args.semantics.list())
            .check_determinism(args.check_determinism)
            .check_heap(!args.no_heap_check);
        if let Some(clients) = args.clients {
            campaign = campaign.clients(clients as usize);
        }
        // The trace shows every server call.
        let detail = args.trace || args.format == SimFormat::ChromeTrace || args.timeline.is_some();
        let mut played = campaign.play_seed(args.seed, detail);
        if args.fresh_process && !played.nondeterministic() {
            played.diverged(fresh_process_divergence(&played.scenario)?);
        }
        let (run, verdict) = (&played.run, &played.verdict);
        let failed = !verdict.is_pass();
        let timeline = || view::Timeline::of_run(run, verdict.failure());
        if let Some(path) = &args.timeline {
            let title = format!(
                "{} seed {} ({}): {}",
                service.name(),
                run.seed,
                run.semantics.name(),
                if failed { "FAIL" } else { "pass" }
            );
            write_page(path, &view::page(&timeline(), &title))?;
        }
        let transcript = played.scenario.recorded(run, args.trace);
        let determinism = args.check_determinism.then_some(!played.nondeterministic());
        let mut out = io::stdout().lock();
        let _ = match args.format {
            SimFormat::Mermaid => write!(out, "{}", view::mermaid(&timeline())),
            SimFormat::ChromeTrace => writeln!(out, "{}", view::chrome_trace(&timeline())),
            SimFormat::Json => {
                report::print_sim_json(&mut out, service, &played, &transcript, determinism)
            }
            SimFormat::Text => report::print_sim_text(&mut out, &played, &transcript, determinism),
        };
        Ok(i32::from(failed))
    }

    fn replay(&self, args: ReplayArgs) -> CliResult {
        let files = self.replay_files(&args)?;
        let service = args
            .service
            .as_deref()
            .map(|name| self.service(name))
            .transpose()?;
        let target = match (&args.target, args.backend) {
            (Some(addr), _) => FileTarget::Address(resolve(addr)?),
            (None, BackendArg::Sim) => FileTarget::Simulator,
            (None, BackendArg::Poll) => FileTarget::Backend(RealBackend::Poll),
            (None, BackendArg::Select) => FileTarget::Backend(RealBackend::Select),
            (None, BackendArg::Mio) => FileTarget::Backend(RealBackend::Mio),
        };
        let views = args.format == ReplayFormat::ChromeTrace || args.timeline.is_some();
        let options = FileOptions {
            service,
            any_service: args.any_service,
            strict: args.strict,
            tcp: TcpReplayOptions {
                timeout: Duration::from_millis(args.timeout_ms),
                split: args.split.map(|n| n as usize),
                ..TcpReplayOptions::default()
            },
            timeline: views || args.format == ReplayFormat::Mermaid,
            detail: args.trace || views,
            recorded: (args.verbose || args.trace).then_some(args.trace),
        };
        let results = self.play_files(&files, target, &options, &args)?;
        let tally = Tally::of(&results);
        self.print_replay(&args, &results, tally);
        Ok(tally.exit_code())
    }

    /// The transcripts `replay` plays: the files found under its paths, then standard input
    /// for `-`.
    fn replay_files(&self, args: &ReplayArgs) -> Result<Vec<PathBuf>, String> {
        let (stdin, paths): (Vec<PathBuf>, Vec<PathBuf>) = args
            .paths
            .iter()
            .cloned()
            .partition(|p| p == Path::new("-"));
        let mut files = transcript::find(&paths).map_err(|e| e.to_string())?;
        files.extend(stdin);
        if files.is_empty() {
            return Err("no transcripts found (files ending in .txn)".to_string());
        }
        if args.format == ReplayFormat::ChromeTrace && files.len() != 1 {
            return Err(format!(
                "--format chrome-trace draws one run: give one transcript ({} found)",
                files.len()
            ));
        }
        if args.split.is_some() && args.target.is_none() && args.backend == BackendArg::Sim {
            let _ = writeln!(
                io::stderr(),
                "{}: warning: --split applies over real sockets only; the simulator ignores it",
                self.name()
            );
        }
        Ok(files)
    }

    /// Plays each file, writing its timeline page and printing its line as it goes.
    fn play_files(
        &self,
        files: &[PathBuf],
        target: FileTarget,
        options: &FileOptions<'_>,
        args: &ReplayArgs,
    ) -> Result<Vec<FileResult>, String> {
        let mut results: Vec<FileResult> = Vec::new();
        for path in files {
            let started = std::time::Instant::now();
            let mut result = check::play_file(path, &self.registry, target, options);
            result.seconds = started.elapsed().as_secs_f64();
            if let (Some(to), Some(timeline)) = (&args.timeline, &result.timeline) {
                let to = if files.len() == 1 {
                    to.clone()
                } else {
                    let stem = path.file_stem().unwrap_or(path.as_os_str());
                    to.join(stem).with_extension("html")
                };
                write_page(&to, &page_of(path, timeline))?;
            }
            if args.format == ReplayFormat::Text {
                self.print_result(&result, args.verbose);
            }
            let stop =
                args.fail_fast && matches!(result.outcome, FileOutcome::Fail | FileOutcome::Error);
            results.push(result);
            if stop {
                break;
            }
        }
        Ok(results)
    }

    /// The name `replay`'s report gives its target.
    fn replay_target(args: &ReplayArgs) -> String {
        match (&args.target, args.backend) {
            (Some(addr), _) => addr.clone(),
            (None, BackendArg::Sim) => "simulator".to_string(),
            (None, backend) => clap::ValueEnum::to_possible_value(&backend)
                .map_or_else(String::new, |v| v.get_name().to_string()),
        }
    }

    /// The command that plays one file again as this replay did.
    fn replay_again(&self, args: &ReplayArgs, path: &str) -> String {
        let mut again = vec![self.program.clone(), "replay".to_string(), shell_word(path)];
        if let Some(addr) = &args.target {
            again.extend(["--target".to_string(), addr.clone()]);
        } else if args.backend != BackendArg::Sim {
            again.extend(["--backend".to_string(), Self::replay_target(args)]);
        }
        if let Some(service) = &args.service {
            again.extend(["--service".to_string(), service.clone()]);
            if args.any_service {
                again.push("--any-service".to_string());
            }
        }
        again.join(" ")
    }

    fn print_replay(&self, args: &ReplayArgs, results: &[FileResult], tally: Tally) {
        let failing: Vec<report::Failed<'_>> = results
            .iter()
            .filter(|r| r.outcome == FileOutcome::Fail)
            .map(|r| report::Failed {
                path: &r.path,
                seed: r.seed.unwrap_or(0),
                kind: r.kind,
                signature: r.signature.as_deref().filter(|_| r.kind != "unfired-fault"),
                message: r.message.as_deref().unwrap_or_default(),
            })
            .collect();
        let file = report::of_replay(
            &Self::replay_target(args),
            args.service.as_deref().unwrap_or_default(),
            (results.len() - tally.errors) as u64,
            &failing,
            &|path| self.replay_again(args, path),
        );
        let mut out = io::stdout().lock();
        let _ = match args.format {
            ReplayFormat::Text => {
                report::print_replay_text(&mut out, &file, &self.paint("FAIL", false), tally)
            }
            ReplayFormat::Json => report::print_replay_json(&mut out, &file, tally, results),
            ReplayFormat::Junit => write!(out, "{}", report::junit(results)),
            ReplayFormat::Mermaid | ReplayFormat::ChromeTrace => {
                let several = results.len() > 1;
                results.iter().try_for_each(|r| {
                    let Some(view) = r.timeline.as_ref().and_then(|t| view_of(args.format, t))
                    else {
                        return Ok(());
                    };
                    if several {
                        // A Mermaid comment names each file's diagram.
                        writeln!(out, "%% {}", r.path)?;
                    }
                    write!(out, "{view}")
                })
            }
        };
    }

    fn print_result(&self, r: &FileResult, verbose: bool) {
        let mut out = io::stdout().lock();
        if let Some(t) = &r.transcript {
            let _ = write!(out, "{t}");
        }
        let path = &r.path;
        let _ = match r.outcome {
            FileOutcome::Pass => match &r.note {
                Some(note) => writeln!(out, "{} {path} ({note})", self.paint("PASS", true)),
                None => writeln!(out, "{} {path}", self.paint("PASS", true)),
            },
            FileOutcome::Fail => writeln!(
                out,
                "{} {path}: {}",
                self.paint("FAIL", false),
                r.message.as_deref().unwrap_or_default()
            ),
            FileOutcome::Inconclusive => writeln!(
                out,
                "INCONCLUSIVE {path}: {}",
                r.message.as_deref().unwrap_or_default()
            ),
            // A file that cannot be read is bad input: one line on stderr, as every other
            // error of this command is, and the run goes on with the next file.
            FileOutcome::Error => writeln!(
                io::stderr(),
                "{}: {}",
                self.name(),
                r.message.as_deref().unwrap_or_default()
            ),
        };
        if !self.quiet || verbose {
            for w in &r.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
        }
    }

    fn fuzz(&self, args: FuzzArgs) -> CliResult {
        let service = self.service(&args.service)?;
        let shard = match args.shard.as_deref() {
            None => (1, 1),
            Some("auto") => check::shard_from_env(|k| std::env::var(k).ok())?,
            Some(text) => check::parse_shard(text)?,
        };
        out_dir(&args.out, "the minimal transcripts")?;
        let interrupted = interrupt_flag();
        let started = std::time::Instant::now();
        let (campaign, total) = self.fuzz_campaign(service, &args, shard, started)?;
        let campaign = campaign.stop_on(Arc::clone(&interrupted));
        let bar = self.progress(args.format, total);
        let report = campaign.run_with_progress(&|p| {
            if let Some(bar) = &bar {
                bar.set_position(p.done);
                // The same rate as the summary: seeds over wall time since the start.
                let rate = p.done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "{rate:.0} seeds/s, {} failed, {} distinct",
                    p.failed, p.distinct
                ));
            }
        });
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let mut file = report.to_file(shard);
        self.write_fuzz_examples(service, &args.out, &mut file)?;
        if let Some(path) = &args.report {
            fs::write(path, json(&file) + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let stopped_by_signal = interrupted.load(Ordering::Relaxed);
        match args.format {
            Format::Json => {
                let _ = writeln!(io::stdout(), "{}", json(&file));
            }
            Format::Text => {
                let rate = report.seeds_run as f64 / elapsed;
                let jobs = campaign.job_count();
                let _ = report::print_fuzz_text(
                    &mut io::stdout().lock(),
                    &file,
                    &self.paint("FAIL", false),
                    format!(
                        "{rate:.0} seeds/s on {jobs} job{}",
                        if jobs == 1 { "" } else { "s" }
                    ),
                    stopped_by_signal,
                    !self.quiet,
                );
            }
        }
        Ok(check::campaign_exit_code(
            report.is_clean(),
            stopped_by_signal,
        ))
    }

    /// `fuzz`'s campaign, and how many seeds it plays when that is known in advance.
    fn fuzz_campaign(
        &self,
        service: &ServiceDescriptor,
        args: &FuzzArgs,
        shard: (u64, u64),
        started: std::time::Instant,
    ) -> Result<(Campaign, Option<u64>), String> {
        let mut campaign = self
            .campaign(service, &args.limits)?
            .faults(args.faults)
            .semantics(args.semantics.list())
            .shard(shard.0, shard.1)
            .shrink(!args.no_shrink)
            .check_determinism(args.check_determinism)
            .check_heap(!args.no_heap_check)
            .max_failures(if args.stop_on_failure {
                Some(1)
            } else {
                args.max_failures
            });
        if let Some(clients) = args.clients {
            campaign = campaign.clients(clients as usize);
        }
        if !args.fixtures.is_empty() {
            let fixtures = self.fixtures(&args.fixtures, Some(service), args.any_service, None)?;
            campaign = campaign.fixtures(fixtures.into_iter().map(|(_, s)| s).collect::<Vec<_>>());
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = args.jobs.map_or(cores, |j| j as usize);
        let Some(d) = args.duration else {
            let count = args.seeds.unwrap_or(1000);
            seed_range(args.start_seed, count)?;
            campaign = campaign.seeds(args.start_seed, count);
            let n = campaign.shard_seeds().len() as u64;
            return Ok((campaign.jobs(jobs.min(n.max(1) as usize)), Some(n)));
        };
        Ok((
            campaign.until(args.start_seed, started + d).jobs(jobs),
            None,
        ))
    }

    /// Transcripts found under `paths` and their scenarios (see [`check::fixture_scenario`]),
    /// each warning on standard error.
    fn fixtures(
        &self,
        paths: &[PathBuf],
        given: Option<&ServiceDescriptor>,
        any_service: bool,
        black_box: Option<&ServiceDescriptor>,
    ) -> Result<Vec<(PathBuf, Scenario)>, String> {
        let mut fixtures = Vec::new();
        for path in transcript::find(paths).map_err(|e| e.to_string())? {
            let t = check::read_transcript(&path).map_err(|e| e.to_string())?;
            let (scenario, warning) =
                check::fixture_scenario(&t, &path, &self.registry, given, any_service, black_box)?;
            if let Some(warning) = warning {
                let _ = writeln!(
                    io::stderr(),
                    "{}: {}: {warning}",
                    self.name(),
                    path.display()
                );
            }
            fixtures.push((path, scenario));
        }
        if fixtures.is_empty() {
            return Err("no transcripts (*.txn) among the fixtures given".to_string());
        }
        Ok(fixtures)
    }

    /// One minimal transcript per distinct failure, its diagram and its timeline page beside
    /// it, the diagram in the CI step's summary; each bucket then names its file and the
    /// replay that plays it.
    fn write_fuzz_examples(
        &self,
        service: &ServiceDescriptor,
        out: &Path,
        file: &mut ReportFile,
    ) -> Result<(), String> {
        for bucket in &mut file.buckets {
            let Some(text) = &bucket.example.transcript else {
                continue;
            };
            fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
            let name = format!(
                "{}-{}-{}.txn",
                file.service, bucket.kind, bucket.example.seed
            );
            let path = out.join(name);
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            let again = format!("{} replay {}", self.program, path.display());
            let title = format!("{}: {}", path.display(), bucket.kind);
            if let Some((diagram, page)) = view::repro_views(service, text, &title) {
                write_views(&path, &diagram, &page)?;
                let title = format!("muxsim fuzz: {}", bucket.signature);
                view::summarize_for_ci(&title, &diagram, &again);
            }
            bucket.example.path = Some(path.display().to_string());
            bucket.reproduce = Some(again);
        }
        Ok(())
    }

    fn run(&self, args: RunArgs) -> CliResult {
        out_dir(&args.out, "the failures' transcripts")?;
        let (start, count) = match args.seed {
            Some(seed) => (seed, 1),
            None => (args.start_seed, args.seeds),
        };
        seed_range(start, count)?;
        let (target, name) = self.run_target(&args)?;
        let mut config = inject::RunConfig::new(args.command.clone(), target, start, count);
        config.faults = args.faults;
        config.faults_on = args.faults_on;
        config.addr = args.addr.as_deref().map(resolve).transpose()?;
        config.startup_timeout = args.startup_timeout;
        config.live.timeout = args.timeout;
        config.live.max_wait = args.max_wait;
        config.rss_growth = args.max_rss_growth << 20;
        config.shrink_attempts = usize::try_from(args.shrink_attempts).unwrap_or(usize::MAX);
        config.max_failures = args.max_failures;
        config.echo_output = args.verbose;
        let interrupted = interrupt_flag();
        config.stop = Some(Arc::clone(&interrupted));
        let bar = self.progress(args.format, Some(count));
        let mut report = inject::run(&config, &|p| {
            if let Some(bar) = &bar {
                bar.set_position(p.done());
                bar.set_message(format!("{} failed, {} distinct", p.failed(), p.distinct()));
            }
        })?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let again = self.run_again(&args);
        let transcripts = self.write_run_examples(&args, &report, &name, &again)?;
        let stopped_by_signal = interrupted.load(Ordering::Relaxed);
        report.interrupted |= stopped_by_signal;
        let file = report::of_run(&report, &transcripts, &|seed| again(seed));
        let mut out = io::stdout().lock();
        let _ = match args.format {
            Format::Json => report::print_run_json(&mut out, &file, &report, transcripts),
            Format::Text => {
                report::print_run_text(&mut out, &file, &report, &self.paint("FAIL", false))
            }
        };
        Ok(check::campaign_exit_code(
            report.is_clean(),
            stopped_by_signal,
        ))
    }

    /// What `run` plays: a generated campaign of `--service`, or the fixtures given, and the
    /// name its transcripts are filed under.
    fn run_target(&self, args: &RunArgs) -> Result<(inject::RunTarget, String), String> {
        if let Some(name) = args.service.as_ref().filter(|_| args.fixtures.is_empty()) {
            let service = self.service(name)?;
            let mut campaign = self.campaign(service, &args.limits)?.faults(args.faults);
            if let Some(clients) = args.clients {
                campaign = campaign.clients(clients as usize);
            }
            return Ok((
                inject::RunTarget::Generated(Box::new(campaign)),
                name.clone(),
            ));
        }
        let given = args
            .service
            .as_deref()
            .map(|n| self.service(n))
            .transpose()?;
        let black_box = check::black_box();
        let mut fixtures =
            self.fixtures(&args.fixtures, given, args.any_service, Some(&black_box))?;
        for (path, s) in &mut fixtures {
            // Options of the service are the server's own settings: a fixture cannot impose
            // them on a server muxsim did not build.
            let defaults = s.service.defaults();
            for (name, value) in s.options.iter() {
                if defaults.iter().any(|(n, v)| n == name && v != value) {
                    let _ = writeln!(
                        io::stderr(),
                        "{}: warning: {}: `limit {name} {value}` cannot be imposed on the server; it is judged as if the server ran with it (start the server so)",
                        self.name(),
                        path.display()
                    );
                }
            }
            for (limit, value) in &args.limits {
                s.service
                    .set_option(&mut s.options, limit, *value)
                    .map_err(|e| format!("--limit {limit}: {e}"))?;
            }
        }
        let name = match fixtures.as_slice() {
            [(path, _)] => path.file_stem().map_or_else(
                || "fixture".to_string(),
                |s| s.to_string_lossy().into_owned(),
            ),
            _ => "fixtures".to_string(),
        };
        Ok((inject::RunTarget::Fixtures(fixtures), name))
    }

    /// The reproduce line of a `run` seed: this command, that seed, the same clients and
    /// server.
    fn run_again(&self, args: &RunArgs) -> impl Fn(u64) -> String + use<> {
        let mut again = vec![self.program.clone(), "run".to_string()];
        match &args.service {
            Some(service) => again.extend(["--service".to_string(), service.clone()]),
            None => again.extend(
                args.fixtures
                    .iter()
                    .map(|p| shell_word(&p.display().to_string())),
            ),
        }
        if args.faults != FaultFamilies::ALL {
            again.extend(["--faults".to_string(), args.faults.to_string()]);
        }
        if args.faults_on != inject::FaultsOn::All {
            let on = clap::ValueEnum::to_possible_value(&args.faults_on)
                .map_or_else(String::new, |v| v.get_name().to_string());
            again.extend(["--faults-on".to_string(), on]);
        }
        for (limit, value) in &args.limits {
            again.extend(["--limit".to_string(), format!("{limit}={value}")]);
        }
        if let Some(clients) = args.clients {
            again.extend(["--clients".to_string(), clients.to_string()]);
        }
        if let Some(addr) = &args.addr {
            again.extend(["--addr".to_string(), addr.clone()]);
        }
        let server: Vec<String> = args
            .command
            .iter()
            .map(|a| shell_word(&a.to_string_lossy()))
            .collect();
        let (again, server) = (again.join(" "), server.join(" "));
        move |seed| format!("{again} --seed {seed} -- {server}")
    }

    /// Each bucket's transcript in `--out`, its diagram and its timeline page beside it, the
    /// diagram in the CI step's summary, the first page at `--timeline`: where each went.
    fn write_run_examples(
        &self,
        args: &RunArgs,
        report: &inject::RunReport,
        name: &str,
        again: &dyn Fn(u64) -> String,
    ) -> Result<Vec<Option<String>>, String> {
        let mut paths: Vec<Option<String>> = Vec::new();
        for bucket in &report.buckets {
            if bucket.example.transcript.is_empty() {
                paths.push(None);
                continue;
            }
            fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
            let path = inject::example_path(&args.out, name, &bucket.example);
            fs::write(&path, &bucket.example.transcript)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if let Ok(t) = transcript::parse(&bucket.example.transcript) {
                let timeline = view::Timeline::of_transcript(&t, Some(&bucket.example.message));
                let diagram = view::mermaid(&timeline);
                let title = format!("{}: {}", path.display(), bucket.example.kind.name());
                let page = view::page(&timeline, &title);
                write_views(&path, &diagram, &page)?;
                if let Some(to) = args
                    .timeline
                    .as_ref()
                    .filter(|_| paths.iter().all(Option::is_none))
                {
                    write_page(to, &page)?;
                }
                let title = format!("muxsim run: {}", bucket.signature);
                view::summarize_for_ci(&title, &diagram, &again(bucket.example.seed));
            }
            paths.push(Some(path.display().to_string()));
        }
        Ok(paths)
    }

    /// A progress bar on standard error for text output to a terminal, unless `--quiet`;
    /// a spinner when the total is not known.
    fn progress(&self, format: Format, total: Option<u64>) -> Option<indicatif::ProgressBar> {
        let show = format == Format::Text && !self.quiet && io::stderr().is_terminal();
        show.then(|| {
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} seeds {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        })
    }

    fn merge(&self, args: MergeArgs) -> CliResult {
        let mut files = Vec::new();
        for path in &args.reports {
            let text = read_small(path)?;
            let file: ReportFile = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{}:{}:{}: not a muxsim report: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                )
            })?;
            files.push(file);
        }
        let merged = check::merge(&files).map_err(|e| e.to_string())?;
        if let Some(path) = &args.output {
            fs::write(path, json(&merged) + "\n")
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        match args.format {
            Format::Json => {
                let _ = writeln!(io::stdout(), "{}", json(&merged));
            }
            Format::Text => {
                let mut out = io::stdout().lock();
                let _ =
                    report::print_buckets(&mut out, &merged, &self.paint("FAIL", false), &|_| {
                        Vec::new()
                    });
                let _ = writeln!(
                    out,
                    "{} seeds ({}) over shards {}, {} failed, {} distinct failure(s)",
                    merged.seeds_run,
                    merged.service,
                    merged.shards.join(" "),
                    merged.failed_seeds,
                    merged.buckets.len()
                );
                let _ = report::print_reach(&mut out, &merged);
            }
        }
        Ok(i32::from(merged.failed_seeds > 0))
    }

    fn record(&self, args: RecordArgs) -> CliResult {
        let listen = resolve(&args.listen)?;
        let upstream = resolve(&args.upstream)?;
        // Created before anything is proxied: a bad path fails now, not at the end.
        let file = fs::File::create(&args.output)
            .map_err(|e| format!("{}: {e}", args.output.display()))?;
        let options = crate::record::RecordOptions {
            upstream,
            count: args.count.map(|n| n as usize),
            service: args.service.clone(),
        };
        let name = self.name();
        let warn = Box::new(move |w: String| {
            let _ = writeln!(io::stderr(), "{name}: warning: {w}");
        });
        let recorder =
            crate::record::Recorder::bind(listen, options, io::BufWriter::new(file), warn)
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let local = recorder
            .local_addr()
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let waker = recorder.waker();
        stop_on_signals(&stop, Arc::new(move || waker.wake()))?;
        let _ = writeln!(
            io::stderr(),
            "{}: recording on {local}, forwarding to {upstream}, writing {}",
            self.name(),
            args.output.display()
        );
        recorder
            .run(&stop)
            .map_err(|e| format!("the recording failed: {e}"))?;
        let _ = writeln!(
            io::stderr(),
            "{}: wrote {}",
            self.name(),
            args.output.display()
        );
        Ok(0)
    }

    fn chaos(&self, args: ChaosArgs) -> CliResult {
        let service = self.service(&args.service)?;
        let mut options = service.defaults();
        self.apply_limits(
            &args.limits,
            service,
            &mut WorldConfig::default(),
            &mut options,
            true,
        )?;
        let chaos = crate::chaos::ChaosOptions {
            target: resolve(&args.target)?,
            clients: args.clients as usize,
            duration: args.duration,
            seed: args.seed,
            service: service.clone(),
            options,
        };
        let report = crate::chaos::run(&chaos)?;
        match args.format {
            Format::Json => {
                #[derive(Serialize)]
                struct Out<'a> {
                    clean: bool,
                    lost: u64,
                    #[serde(flatten)]
                    report: &'a crate::chaos::ChaosReport,
                }
                let out = Out {
                    clean: report.is_clean(),
                    lost: report.lost(),
                    report: &report,
                };
                let _ = writeln!(io::stdout(), "{}", json(&out));
            }
            Format::Text => {
                let _ = writeln!(io::stdout(), "{report}");
            }
        }
        Ok(i32::from(!report.is_clean()))
    }

    fn load(&self, args: LoadArgs) -> CliResult {
        if args.conns == 0 && args.idle == 0 {
            return Err(
                "--conns 0 and no --idle connections: nothing to measure (--conns 0 only makes sense with --idle N)"
                    .to_string(),
            );
        }
        let options = crate::load::LoadOptions {
            target: resolve(&args.addr)?,
            conns: args.conns as usize,
            depth: args.depth as usize,
            size: args.size as usize,
            duration: args.duration,
            idle: args.idle as usize,
            warmup: args.warmup,
        };
        let report = crate::load::run(&options).map_err(|e| format!("{}: {e}", args.addr))?;
        let problem = report.problem(&options);
        match args.format {
            Format::Json => {
                let _ = writeln!(io::stdout(), "{}", json(&report));
            }
            Format::Text => {
                let _ = write!(io::stdout(), "{report}");
            }
        }
        if let Some(problem) = problem {
            let _ = writeln!(io::stderr(), "{}: {problem}", self.name());
            return Ok(1);
        }
        Ok(0)
    }

    fn completions(&self, args: CompletionsArgs) -> CliResult {
        let name = self.name();
        let mut command = Cli::command().name(name.clone()).bin_name(name.clone());
        clap_complete::generate(args.shell, &mut command, name, &mut io::stdout());
        Ok(0)
    }
}

/// Reads a small file (a report), refusing what is not a regular file or is too large.
fn read_small(path: &Path) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > transcript::MAX_SIZE {
        return Err(format!("{}: too large", path.display()));
    }
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Set in the environment of the fresh process `sim --fresh-process` starts.
const FRESH_CHILD: &str = "MUXSIM_FRESH_PROCESS_CHILD";

/// Runs this `sim` again in a fresh process of the same command (its arguments, traced, as
/// JSON) and compares its recorded run with this process's: where they first differ.
fn fresh_process_divergence(scenario: &Scenario) -> Result<Option<Divergence>, String> {
    if std::env::var_os(FRESH_CHILD).is_some() {
        return Ok(None);
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this command to start it again: {e}"))?;
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut skip = false;
    for arg in std::env::args_os().skip(1) {
        if std::mem::take(&mut skip) {
            continue;
        }
        let text = arg.to_string_lossy();
        match text.as_ref() {
            "--fresh-process" | "--check-determinism" | "--trace" => continue,
            // Its output and page are this process's to write, not the child's.
            "--format" | "--timeline" => {
                skip = true;
                continue;
            }
            t if t.starts_with("--format=") || t.starts_with("--timeline=") => continue,
            _ => args.push(arg),
        }
    }
    args.extend(["--trace", "--format", "json"].map(Into::into));
    let output = std::process::Command::new(&exe)
        .args(&args)
        .env(FRESH_CHILD, "1")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let child: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "the fresh process printed no run ({e}): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    let theirs = child["transcript"].as_str().unwrap_or_default();
    let mut s = scenario.clone();
    s.config.record = true;
    s.config.sim.detail = true;
    let ours = s.recorded(&s.run(), true).to_string();
    Ok(Divergence::between(scenario.config.seed, &ours, theirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_durations_are_bounded() {
        assert_eq!(wall_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(wall_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(wall_duration("0s").unwrap_err().contains("at least 1ms"));
        assert!(
            wall_duration("18446744073709551615s")
                .unwrap_err()
                .contains("too long")
        );
        assert!(wall_duration("400d").is_err());
    }

    #[test]
    fn the_warn_log_level_keeps_problems_and_drops_comings_and_goings() {
        for problem in [
            "[0.1s] accept: Too many open files (os error 24); pausing accepts for 100ms",
            "[0.1s] listener: Bad file descriptor",
            "[0.1s] conn 3.1: read: Connection reset by peer (os error 104)",
            "[0.1s] conn 3.1: write: Broken pipe (os error 32)",
            "[0.1s] conn 3.1: output limit: 9000 bytes pending, limit 8192; closing",
            "[0.1s] conn 3.1: refused 127.0.0.1:9: 1 connections is the limit",
            "[0.1s] conn 3.1: service sent 4 bytes after close; dropped",
            "[0.1s] conn 3.1: cannot watch 127.0.0.1:9: EBADF; closing it",
        ] {
            assert!(is_log_problem(problem), "{problem}");
        }
        for news in [
            "[0.1s] conn 3.1: open from 127.0.0.1:9",
            "[0.1s] conn 3.1: closed",
            "[0.1s] conn 3.1: closed by peer",
            "[0.1s] conn 3.1: idle for 5m: closing",
            "[0.1s] conn 3.1: 300 bytes pending, over 256: pausing reads",
            "[0.1s] conn 3.1: 20 bytes pending, at most half of 256: resuming reads",
        ] {
            assert!(!is_log_problem(news), "{news}");
        }
        let mut out = ProblemsOnly(Vec::new());
        let text = "[0.1s] conn 0.0: open from x\n[0.2s] accept: EMFILE; pausing\n";
        assert_eq!(out.write(text.as_bytes()).unwrap(), text.len());
        assert_eq!(out.0, b"[0.2s] accept: EMFILE; pausing\n");
    }

    #[test]
    fn junit_escapes_and_counts() {
        let mut fail = FileResult::new(Path::new("a<b>.txn")).fail("x \"y\"\nmore".to_string());
        fail.seconds = 0.5;
        let xml = report::junit(&[fail, FileResult::new(Path::new("ok.txn")).pass()]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"a&lt;b&gt;.txn\""), "{xml}");
        assert!(xml.contains("message=\"x &quot;y&quot;\""), "{xml}");
    }
}
