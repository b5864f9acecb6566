//! The `muxsim` command line: parsing and printing only; the work is done by the library.
//!
//! Exit codes: 0 success; 1 a check failed (a replay mismatch, a failing seed, a failing
//! simulation); 2 bad input (unreadable or malformed files, bad flags, a busy port).

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::Campaign;
use crate::core;
use crate::driver::Config;
use crate::fault::FaultFamilies;
use crate::scenario::{Outcome, Scenario, ServiceOptions, make_service};
use crate::semantics::Semantics;
use crate::tcp::{self, LineEnding, RealBackend, ServerHandle, TcpReplayOptions};
use crate::transcript::{self, Header, Transcript, quote};
use crate::world::{Failure, Verdict};

#[derive(Parser, Debug)]
#[command(
    name = "muxsim",
    version,
    about = "Protocol-testing harness and deterministic simulator for select/poll/epoll servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a built-in service on real sockets (epoll through mio, poll or select).
    Serve(ServeArgs),
    /// Talk to a server: print its greeting, send each input line, print the answers.
    Client(ClientArgs),
    /// List the built-in services.
    Services,
    /// Run one generated scenario in the simulator and print its transcript and verdict.
    Sim(SimArgs),
    /// Replay transcripts in the simulator, on a real muxsim server, or against any server.
    Replay(ReplayArgs),
    /// Run a fuzz campaign: many seeds, each failure shrunk to a replayable transcript.
    Fuzz(FuzzArgs),
    /// Forward TCP to a server and record the conversations as a transcript.
    Record(RecordArgs),
    /// Mix well-behaved and abusive clients against a live server; report lost answers.
    Chaos(ChaosArgs),
    /// Load a `lines` server: many connections, requests in flight, every answer checked.
    Load(LoadArgs),
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// The server, HOST:PORT.
    addr: String,
    /// Connections sending requests.
    #[arg(long, default_value_t = 50)]
    conns: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Bytes per request line.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// How long to measure, e.g. 10s.
    #[arg(long, default_value = "5s")]
    duration: String,
    /// Connections that connect and then only hold their socket.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Longest time to connect everything before measuring (it starts as soon as every
    /// connection is greeted).
    #[arg(long, default_value = "10s")]
    warmup: String,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Args, Debug)]
struct ChaosArgs {
    /// The server, HOST:PORT.
    #[arg(long)]
    target: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// How long to run, e.g. 30s or 2m.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// The protocol the server speaks: echo, ack or lines.
    #[arg(long, default_value = "echo")]
    service: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// Address the proxy listens on; port 0 picks a free port.
    #[arg(long)]
    listen: String,
    /// The server to forward to.
    #[arg(long)]
    upstream: String,
    /// The transcript to write.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Stop after this many connections have ended (default: run until Ctrl-C / SIGTERM).
    #[arg(long)]
    count: Option<usize>,
    /// Write a `service` line, when the upstream runs a muxsim service.
    #[arg(long)]
    service: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct LimitArgs {
    /// Connections served at once; later clients are refused.
    #[arg(long)]
    max_conns: Option<usize>,
    /// Close a connection idle for this many milliseconds (0: never).
    #[arg(long)]
    idle_timeout_ms: Option<u64>,
    /// Stop reading a connection with this many bytes of output pending.
    #[arg(long)]
    high_water: Option<usize>,
    /// Close a connection with this many bytes of output pending.
    #[arg(long)]
    hard_limit: Option<usize>,
    /// Bytes read from one connection per turn.
    #[arg(long)]
    read_budget: Option<usize>,
    /// Longest line the `lines` service accepts.
    #[arg(long)]
    max_line: Option<usize>,
    /// How long a `lines` request may stay incomplete, in milliseconds (0: forever).
    #[arg(long)]
    request_timeout_ms: Option<u64>,
}

impl LimitArgs {
    fn apply(&self, config: &mut Config) {
        if let Some(n) = self.max_conns {
            config.max_conns = n;
        }
        if let Some(ms) = self.idle_timeout_ms {
            config.idle_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(n) = self.high_water {
            config.out_high_water = n;
        }
        if let Some(n) = self.hard_limit {
            config.out_hard_limit = n;
        }
        if let Some(n) = self.read_budget {
            config.read_budget = n.max(1);
        }
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The service to run (see `muxsim services`).
    #[arg(long)]
    service: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9999")]
    addr: String,
    /// The readiness mechanism: mio (epoll), poll or select.
    #[arg(long, value_enum, default_value = "mio")]
    backend: RealBackend,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args, Debug)]
struct ClientArgs {
    /// The server's address, HOST:PORT.
    addr: String,
    /// What to append to each line sent.
    #[arg(long, value_enum, default_value = "none")]
    eol: LineEnding,
    /// How long to wait for an answer after each line, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    wait_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SemanticsArg {
    Select,
    Poll,
    EpollLt,
    EpollEt,
    All,
}

impl SemanticsArg {
    fn list(self) -> Vec<Semantics> {
        match self {
            SemanticsArg::Select => vec![Semantics::Select],
            SemanticsArg::Poll => vec![Semantics::Poll],
            SemanticsArg::EpollLt => vec![Semantics::EpollLt],
            SemanticsArg::EpollEt => vec![Semantics::EpollEt],
            SemanticsArg::All => Semantics::ALL.to_vec(),
        }
    }
}

#[derive(Args, Debug)]
struct SimArgs {
    #[arg(long)]
    service: String,
    #[arg(long)]
    seed: u64,
    #[arg(long, value_enum, default_value = "epoll-et")]
    semantics: SemanticsArg,
    /// Number of simulated clients.
    #[arg(long, default_value_t = 3)]
    clients: usize,
    /// Fault families the seed may switch on: none, all, or a list (short-io,would-block,...).
    #[arg(long, default_value = "all")]
    faults: String,
    /// Also show every server call, poll and log line.
    #[arg(long)]
    trace: bool,
    /// Run the seed twice and compare the traces.
    #[arg(long)]
    check_determinism: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// The simulator.
    Sim,
    /// A muxsim server in-process on epoll (mio).
    Mio,
    /// A muxsim server in-process on poll(2).
    Poll,
    /// A muxsim server in-process on select(2).
    Select,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// Transcript files, or directories searched for `*.txn`.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Where the server runs: the simulator, or a muxsim server on real sockets (mio, poll,
    /// select).
    #[arg(long, value_enum, default_value = "sim")]
    backend: BackendArg,
    /// Replay against this TCP server instead (black box).
    #[arg(long, conflicts_with = "backend")]
    target: Option<String>,
    /// Use this service instead of the transcripts' `service` lines.
    #[arg(long)]
    service: Option<String>,
    /// On real sockets: how long a `recv` waits, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// On real sockets: send in pieces of at most this many bytes.
    #[arg(long)]
    split: Option<usize>,
    /// Print each run's transcript.
    #[arg(long)]
    verbose: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct FuzzArgs {
    #[arg(long)]
    service: String,
    /// Number of seeds (default 1000 unless --duration is given).
    #[arg(long, conflicts_with = "duration")]
    seeds: Option<u64>,
    /// Run seeds until this much time has passed, e.g. 60s or 5m.
    #[arg(long)]
    duration: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    #[arg(long, value_enum, default_value = "all")]
    semantics: SemanticsArg,
    #[arg(long, default_value = "all")]
    faults: String,
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Run only shard I of N: I/N.
    #[arg(long)]
    shard: Option<String>,
    #[arg(long, default_value_t = 3)]
    clients: usize,
    /// Where minimal failing transcripts are written.
    #[arg(long, default_value = "fixtures/regressions")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Stop at the first failure.
    #[arg(long)]
    stop_on_failure: bool,
    /// Do not shrink failures.
    #[arg(long)]
    no_shrink: bool,
}

/// Runs the command line; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Client(args) => client(args),
        Command::Services => services(),
        Command::Sim(args) => sim(args),
        Command::Replay(args) => replay(args),
        Command::Fuzz(args) => fuzz(args),
        Command::Record(args) => record(args),
        Command::Chaos(args) => chaos(args),
        Command::Load(args) => run_load(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(io::stderr(), "muxsim: {message}");
            2
        }
    }
}

type CliResult = Result<i32, String>;

fn check_service(name: &str) -> Result<(), String> {
    match core::lookup(name) {
        Some(_) => Ok(()),
        None => Err(format!(
            "unknown service `{name}` (expected one of {})",
            core::names()
        )),
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

fn run_load(args: LoadArgs) -> CliResult {
    let options = crate::load::LoadOptions {
        target: resolve(&args.addr)?,
        conns: args.conns,
        depth: args.depth.max(1),
        size: args.size,
        duration: parse_wall_duration(&args.duration)?,
        idle: args.idle,
        warmup: parse_wall_duration(&args.warmup)?,
    };
    let report = crate::load::run(&options).map_err(|e| format!("{}: {e}", args.addr))?;
    let text = match args.format {
        Format::Text => report.to_string(),
        Format::Json => format!("{}\n", report.json()),
    };
    let _ = write!(io::stdout(), "{text}");
    Ok(if report.errors == 0 { 0 } else { 1 })
}

fn chaos(args: ChaosArgs) -> CliResult {
    if !["echo", "ack", "lines"].contains(&args.service.as_str()) {
        return Err(format!(
            "chaos checks answers of echo, ack or lines, not `{}`",
            args.service
        ));
    }
    let options = crate::chaos::ChaosOptions {
        target: resolve(&args.target)?,
        clients: args.clients.max(1),
        duration: parse_wall_duration(&args.duration)?,
        seed: args.seed,
        service: args.service,
    };
    let report = crate::chaos::run(&options);
    let _ = writeln!(io::stdout(), "{report}");
    Ok(if report.is_clean() { 0 } else { 1 })
}

fn record(args: RecordArgs) -> CliResult {
    let listen = resolve(&args.listen)?;
    let upstream = resolve(&args.upstream)?;
    let options = crate::record::RecordOptions {
        upstream,
        count: args.count,
        service: args.service.clone(),
    };
    let recorder = crate::record::Recorder::bind(listen, options)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let local = recorder
        .local_addr()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let waker = recorder.waker();
    stop_on_signals(&stop, Arc::new(move || waker.wake()))?;
    let _ = writeln!(
        io::stderr(),
        "muxsim: recording on {local}, forwarding to {upstream}"
    );
    let t = recorder
        .run(&stop)
        .map_err(|e| format!("the proxy failed: {e}"))?;
    fs::write(&args.output, t.to_string())
        .map_err(|e| format!("{}: {e}", args.output.display()))?;
    let _ = writeln!(io::stderr(), "muxsim: wrote {}", args.output.display());
    Ok(0)
}

fn serve(args: ServeArgs) -> CliResult {
    check_service(&args.service)?;
    let addr = resolve(&args.addr)?;
    let mut config = Config::default();
    args.limits.apply(&mut config);
    let options = ServiceOptions {
        max_line: args.limits.max_line,
        request_timeout_ms: args.limits.request_timeout_ms,
    };
    let service = make_service(&args.service, &options);
    let stop = Arc::new(AtomicBool::new(false));
    let mut signal_error = None;
    let mut stderr = io::stderr();
    let result = tcp::serve_on(
        args.backend,
        addr,
        service,
        config,
        &stop.clone(),
        &mut stderr,
        |local, wake| {
            if let Err(e) = stop_on_signals(&stop, wake) {
                signal_error = Some(e);
                stop.store(true, Ordering::Relaxed);
            }
            // A closed stderr must not kill the server: log writes ignore errors.
            let mechanism = match args.backend {
                RealBackend::Mio => "epoll (mio)",
                RealBackend::Poll => "poll(2)",
                RealBackend::Select => "select(2)",
            };
            let _ = writeln!(
                io::stderr(),
                "muxsim: serving {} with {mechanism} on {local}",
                args.service
            );
        },
    );
    if let Some(e) = signal_error {
        return Err(e);
    }
    match result {
        Ok(()) => {
            let _ = writeln!(io::stderr(), "muxsim: stopped");
            Ok(0)
        }
        Err(e)
            if e.kind() == io::ErrorKind::AddrInUse
                || e.kind() == io::ErrorKind::AddrNotAvailable =>
        {
            Err(format!("cannot listen on {addr}: {e}"))
        }
        Err(e) => Err(format!("the server failed on {addr}: {e}")),
    }
}

fn client(args: ClientArgs) -> CliResult {
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

fn services() -> CliResult {
    let mut out = io::stdout().lock();
    for entry in core::CATALOG {
        // A closed pipe (`muxsim services | head -1`) is not an error worth a panic.
        if writeln!(out, "{:<14} {}", entry.name, entry.about).is_err() {
            break;
        }
    }
    Ok(0)
}

fn parse_faults(text: &str) -> Result<FaultFamilies, String> {
    text.parse::<FaultFamilies>()
}

fn sim(args: SimArgs) -> CliResult {
    check_service(&args.service)?;
    let faults = parse_faults(&args.faults)?;
    let semantics = args.semantics.list();
    let campaign = Campaign::builtin(&args.service)
        .ok_or_else(|| format!("unknown service `{}`", args.service))?
        .faults(faults)
        .clients(args.clients)
        .semantics(semantics.clone());
    let mut scenario = campaign.scenario(args.seed);
    scenario.config.sim.semantics = semantics[(args.seed % semantics.len() as u64) as usize];
    scenario.config.sim.detail = args.trace;
    let (run, verdict) = campaign.check(&scenario);
    let header = vec![
        Header::Service(args.service.clone()),
        Header::Semantics(run.semantics),
        Header::Seed(run.seed),
    ];
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "# seed {} (faults drawn: {})",
        run.seed,
        run.plan.active()
    );
    let _ = write!(out, "{}", run.transcript(header, args.trace));
    let _ = writeln!(
        out,
        "# {} steps, {} events, {} of virtual time",
        run.steps, run.net_stats.events, run.end
    );
    let mut code = 0;
    if args.check_determinism {
        let (again, _) = campaign.check(&scenario);
        if again.trace_hash() == run.trace_hash() {
            let _ = writeln!(
                out,
                "# determinism: same trace twice ({:016x})",
                run.trace_hash()
            );
        } else {
            let _ = writeln!(out, "# determinism: FAILED, the second run differs");
            code = 1;
        }
    }
    let _ = writeln!(out, "# seed {}: {verdict}", run.seed);
    if !verdict.is_pass() {
        code = 1;
    }
    Ok(code)
}

/// Transcript files under `paths`, sorted, directories searched for `*.txn`.
fn collect_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found).map_err(|e| format!("{}: {e}", path.display()))?;
            found.sort();
            out.extend(found);
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "txn") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads and parses a transcript file; errors name the file, line and column.
pub fn load(path: &Path) -> Result<Transcript, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
            return Err(format!(
                "{}:{line}:{column}: expected UTF-8 text (write other bytes as \\xNN inside quotes)",
                path.display()
            ));
        }
    };
    transcript::parse(text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Expected and received bytes side by side, the first difference, and an inline diff.
pub fn side_by_side(expected: &[u8], received: &[u8]) -> String {
    let e = quote(expected);
    let r = quote(received);
    let first = expected
        .iter()
        .zip(received)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(received.len()));
    let diff = similar::TextDiff::from_chars(e.as_str(), r.as_str());
    let mut inline = String::new();
    for change in diff.iter_all_changes() {
        let text = change.value();
        match change.tag() {
            similar::ChangeTag::Equal => inline.push_str(text),
            similar::ChangeTag::Delete => {
                inline.push_str("[-");
                inline.push_str(text);
                inline.push_str("-]");
            }
            similar::ChangeTag::Insert => {
                inline.push_str("{+");
                inline.push_str(text);
                inline.push_str("+}");
            }
        }
    }
    format!(
        "    expected: {e}\n    received: {r}\n    first difference at byte {first}\n    diff:     {inline}"
    )
}

fn describe_failure(failure: &Failure) -> String {
    match failure {
        Failure::Mismatch {
            client,
            expected,
            got,
        } => format!(
            "client {client} received other bytes than expected\n{}",
            side_by_side(expected, got)
        ),
        other => other.to_string(),
    }
}

fn replay(args: ReplayArgs) -> CliResult {
    if let Some(service) = &args.service {
        check_service(service)?;
    }
    let target = args.target.as_deref().map(resolve).transpose()?;
    let files = collect_paths(&args.paths)?;
    if files.is_empty() {
        return Err("no transcripts found (files ending in .txn)".to_string());
    }
    let mut loaded = Vec::new();
    for path in &files {
        let t = load(path)?;
        // Against a target the service is whatever runs there; the line is informational.
        let service = match (&args.service, target) {
            (Some(s), _) => Some(s.as_str()),
            (None, Some(_)) if t.service().is_none() => Some("echo"),
            (None, _) => None,
        };
        let scenario = Scenario::from_transcript(&t, service)
            .map_err(|e| format!("{}:{e}", path.display()))?;
        loaded.push((path, t, scenario));
    }
    let options = TcpReplayOptions {
        timeout: Duration::from_millis(args.timeout_ms),
        split: args.split,
        ..TcpReplayOptions::default()
    };
    let (mut passed, mut failed) = (0, 0);
    let mut out = io::stdout().lock();
    for (path, t, scenario) in &loaded {
        let ok = match (target, args.backend) {
            (None, BackendArg::Sim) => replay_sim(&mut out, path, scenario, args.verbose),
            (Some(addr), _) => replay_real(&mut out, path, t, scenario, addr, &options),
            (None, real) => {
                let kind = match real {
                    BackendArg::Poll => RealBackend::Poll,
                    BackendArg::Select => RealBackend::Select,
                    _ => RealBackend::Mio,
                };
                let mut config = scenario.config.driver.clone();
                // Real sockets have no virtual clock: keep the server's timers short.
                config.linger = config.linger.min(Duration::from_millis(500));
                let service = make_service(&scenario.service, &scenario.options);
                let server = ServerHandle::start_on(kind, service, config)
                    .map_err(|e| format!("cannot start a server: {e}"))?;
                let ok = replay_real(&mut out, path, t, scenario, server.addr(), &options);
                server
                    .stop()
                    .map_err(|e| format!("the server failed: {e}"))?;
                ok
            }
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}

fn replay_sim(out: &mut dyn Write, path: &Path, scenario: &Scenario, verbose: bool) -> bool {
    let run = scenario.run();
    let verdict = scenario.judge(&run);
    if verbose {
        let header = vec![
            Header::Service(scenario.service.clone()),
            Header::Semantics(run.semantics),
            Header::Seed(run.seed),
        ];
        let _ = write!(out, "{}", run.transcript(header, false));
    }
    match scenario.outcome(&run) {
        Outcome::AsExpected => {
            let note = match &verdict {
                Verdict::Pass => String::new(),
                Verdict::Fail(f) => format!(" (fails as expected: {f})"),
            };
            let _ = writeln!(out, "PASS {}{note}", path.display());
            true
        }
        Outcome::UnexpectedPass { expected } => {
            let _ = writeln!(
                out,
                "FAIL {}: expected the run to end in `{}` but it passed",
                path.display(),
                expected.name()
            );
            false
        }
        Outcome::Failed => {
            let failure = verdict.failure().map(describe_failure).unwrap_or_default();
            let _ = writeln!(
                out,
                "FAIL {} (seed {}): {failure}",
                path.display(),
                run.seed
            );
            false
        }
    }
}

fn replay_real(
    out: &mut dyn Write,
    path: &Path,
    t: &Transcript,
    scenario: &Scenario,
    addr: SocketAddr,
    options: &TcpReplayOptions,
) -> bool {
    let result = tcp::replay_tcp(t, addr, options);
    let mut ok = result.failure.is_none();
    let mut message = String::new();
    if let Some(f) = &result.failure {
        message = format!("line {}: client {}: {}", f.line, f.client, f.message);
        if let (Some(e), Some(r)) = (&f.expected, &f.received) {
            message.push('\n');
            message.push_str(&side_by_side(e, r));
        }
    } else if scenario.oracle {
        for (name, sent, received, closed) in &result.clients {
            let report = crate::world::ClientReport {
                closed: *closed,
                disrupted: *closed,
                ..crate::world::ClientReport::new(name.as_str(), sent, received)
            };
            if let Some(Err(detail)) =
                crate::check::oracle::judge(&scenario.service, &report, scenario.options.max_line)
            {
                ok = false;
                message = format!("client {name}: {detail}");
                break;
            }
        }
    }
    // Over real TCP only a mismatch can be seen; a transcript expecting a crash passes when
    // the server fails to answer as the transcript says.
    let expected_failure = scenario.expect != transcript::Expect::Pass;
    let passed = ok != expected_failure;
    let skipped = if result.skipped.is_empty() {
        String::new()
    } else {
        format!(" ({} steps skipped)", result.skipped.len())
    };
    if passed {
        let note = if expected_failure {
            format!(" (fails as expected: {message})")
        } else {
            String::new()
        };
        let _ = writeln!(out, "PASS {}{skipped}{note}", path.display());
    } else if ok {
        let _ = writeln!(
            out,
            "FAIL {}: expected `{}` but every step passed{skipped}",
            path.display(),
            scenario.expect.name()
        );
    } else {
        let _ = writeln!(out, "FAIL {}{skipped}: {message}", path.display());
    }
    for line in &result.skipped {
        let _ = writeln!(out, "  skipped {line}");
    }
    passed
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("bad shard `{text}`: expected I/N with 1 <= I <= N, e.g. 1/2");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.parse().map_err(|_| bad())?;
    let n: u64 = n.parse().map_err(|_| bad())?;
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

fn parse_wall_duration(text: &str) -> Result<Duration, String> {
    if let Some(minutes) = text.strip_suffix('m')
        && let Ok(n) = minutes.parse::<u64>()
    {
        return Ok(Duration::from_secs(n * 60));
    }
    transcript::parse_duration(text)
        .ok_or_else(|| format!("bad duration `{text}`: expected e.g. 60s, 5m or 500ms"))
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn fuzz(args: FuzzArgs) -> CliResult {
    check_service(&args.service)?;
    let faults = parse_faults(&args.faults)?;
    let (shard_index, shard_of) = match &args.shard {
        Some(text) => parse_shard(text)?,
        None => (1, 1),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut campaign = Campaign::builtin(&args.service)
        .ok_or_else(|| format!("unknown service `{}`", args.service))?
        .faults(faults)
        .clients(args.clients)
        .semantics(args.semantics.list())
        .shard(shard_index, shard_of)
        .jobs(jobs)
        .shrink(!args.no_shrink)
        .keep_going(!args.stop_on_failure);
    let started = std::time::Instant::now();
    let total = match &args.duration {
        Some(text) => {
            let d = parse_wall_duration(text)?;
            campaign = campaign.until(args.start_seed, started + d);
            None
        }
        None => {
            let count = args.seeds.unwrap_or(1000);
            campaign = campaign.seeds(args.start_seed, count);
            Some(campaign.shard_seeds().len() as u64)
        }
    };
    let show_bar = args.format == Format::Text && io::stderr().is_terminal();
    let bar = if show_bar {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} seeds {per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let report = campaign.run_with_progress(&|done, failures| {
        if let Some(bar) = &bar {
            bar.set_position(done);
            bar.set_message(format!("{failures} failures"));
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut out = io::stdout().lock();
    for found in &report.failures {
        let mut written = None;
        if let Some(t) = &found.minimal {
            fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
            let path = args
                .out
                .join(format!("{}-{}.txn", args.service, found.seed));
            fs::write(&path, t.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
            written = Some(path);
        }
        let reproduce = written
            .as_ref()
            .map(|p| format!("muxsim replay {}", p.display()));
        match args.format {
            Format::Text => {
                let _ = writeln!(
                    out,
                    "FAIL seed {} ({}): {}",
                    found.seed, found.semantics, found.failure
                );
                if let Some(cmd) = &reproduce {
                    let _ = writeln!(out, "  reproduce: {cmd}");
                }
            }
            Format::Json => {
                let _ = writeln!(
                    out,
                    "{{\"type\":\"failure\",\"seed\":{},\"semantics\":{},\"kind\":{},\"message\":{},\"transcript\":{},\"reproduce\":{}}}",
                    found.seed,
                    json_string(found.semantics.name()),
                    json_string(found.failure.kind()),
                    json_string(&found.failure.to_string()),
                    written.as_ref().map_or("null".to_string(), |p| json_string(
                        &p.display().to_string()
                    )),
                    reproduce.as_deref().map_or("null".to_string(), json_string),
                );
            }
        }
    }
    let rate = report.seeds_run as f64 / elapsed;
    match args.format {
        Format::Text => {
            let _ = writeln!(
                out,
                "{} seeds ({}), {} failures, {rate:.0} seeds/s on {jobs} jobs",
                report.seeds_run,
                args.service,
                report.failures.len()
            );
        }
        Format::Json => {
            let _ = writeln!(
                out,
                "{{\"type\":\"summary\",\"service\":{},\"seeds\":{},\"failures\":{},\"seconds\":{elapsed:.3},\"seeds_per_second\":{rate:.1},\"jobs\":{jobs}}}",
                json_string(&args.service),
                report.seeds_run,
                report.failures.len()
            );
        }
    }
    Ok(if report.failures.is_empty() { 0 } else { 1 })
}
