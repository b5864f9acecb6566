//! Real-network tools: the server loop behind `muxsim serve`, an in-process server for
//! tests, the interactive `muxsim client`, and replaying transcripts against any TCP server.
//!
//! Every wait here is bounded: connects, reads and the server's shutdown all have deadlines.
//!
//! # Verdicts over TCP
//!
//! A replay over real sockets sees only what a client sees. Faults that only the server's own
//! kernel can cause (short reads, `EINTR`, accept errors...) cannot be applied and are listed
//! as skipped. [`TcpReplay::verdict`] judges with the same rule as the simulator: the steps'
//! expectations, the service's oracle for `oracle on`, and the transcript's `expect` line, with
//! one addition made necessary by what cannot be done: a transcript that expects a failure
//! whose fault was skipped is [`TcpOutcome::Inconclusive`], never a pass, since any server (a
//! fixed one, another protocol) would "fail" it.

use std::fmt;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::backend::faulty::{Faulty, ServerFaults};
use crate::backend::level::{LevelBackend, Mechanism};
use crate::backend::mio::MioBackend;
use crate::core::Service;
use crate::driver::{Config, Driver};
use crate::failure::FailureKind;
use crate::fault::FaultSpec;
use crate::live::{self, LiveOptions, Side};
use crate::scenario::{self, Outcome, fails_as_expected};
use crate::script::ClientId;
use crate::service::{ServiceDescriptor, ServiceOptions};
use crate::text::format_duration;
use crate::timeline::{ClientReport, owed};
use crate::transcript::{Expect, Transcript};
use crate::world::{Failure, Verdict};

/// The real backends a server can run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RealBackend {
    /// epoll through mio (edge-triggered).
    #[default]
    Mio,
    /// `poll(2)`, level-triggered.
    Poll,
    /// `select(2)`, level-triggered, descriptors below `FD_SETSIZE` only.
    Select,
}

impl RealBackend {
    /// Every real backend.
    pub const ALL: [RealBackend; 3] = [RealBackend::Mio, RealBackend::Poll, RealBackend::Select];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RealBackend::Mio => "mio",
            RealBackend::Poll => "poll",
            RealBackend::Select => "select",
        }
    }

    /// What it is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            RealBackend::Mio => "epoll (mio)",
            RealBackend::Poll => "poll(2)",
            RealBackend::Select => "select(2)",
        }
    }
}

impl FromStr for RealBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RealBackend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown backend `{s}` (expected mio, poll or select)"))
    }
}

/// Wakes a server loop blocked in its poll.
pub type WakeFn = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Binds `addr` on the chosen backend and runs `service` until `stop` is set; `ready` gets
/// the bound address and a way to wake the loop before serving starts.
pub fn serve_on<S: Service>(
    kind: RealBackend,
    addr: SocketAddr,
    service: S,
    config: Config,
    stop: &AtomicBool,
    log: &mut dyn Write,
    ready: impl FnOnce(SocketAddr, WakeFn),
) -> io::Result<()> {
    serve_sized(kind, addr, service, config, None, None, stop, log, ready)
}

/// Server-side faults for an in-process server: the shared book and the scenario's rule for
/// short I/O (see [`Faulty`]).
#[derive(Clone, Debug)]
pub(crate) struct Faulting {
    pub(crate) book: ServerFaults,
    pub(crate) short_io_drains: bool,
}

/// Runs `service` on `backend`, under `faults` when given.
fn serve_faulting<S: Service, B: Backend>(
    backend: B,
    faults: Option<Faulting>,
    service: S,
    config: Config,
    stop: &AtomicBool,
    log: &mut dyn Write,
) -> io::Result<()>
where
    B::Stream: std::os::fd::AsFd,
{
    match faults {
        Some(f) => serve(
            Faulty::new(backend, f.book, f.short_io_drains),
            service,
            config,
            stop,
            log,
        ),
        None => serve(backend, service, config, stop, log),
    }
}

/// [`serve_on`], with the accepted sockets' buffers set to about `socket_buffer` bytes.
#[allow(clippy::too_many_arguments)]
fn serve_sized<S: Service>(
    kind: RealBackend,
    addr: SocketAddr,
    service: S,
    config: Config,
    socket_buffer: Option<usize>,
    faults: Option<Faulting>,
    stop: &AtomicBool,
    log: &mut dyn Write,
    ready: impl FnOnce(SocketAddr, WakeFn),
) -> io::Result<()> {
    match kind {
        RealBackend::Mio => {
            let mut backend = MioBackend::bind(addr)?;
            backend.set_socket_buffer(socket_buffer);
            let waker = backend.waker();
            ready(backend.local_addr(), Arc::new(move || waker.wake()));
            serve_faulting(backend, faults, service, config, stop, log)
        }
        RealBackend::Poll | RealBackend::Select => {
            let mechanism = if kind == RealBackend::Poll {
                Mechanism::Poll
            } else {
                Mechanism::Select
            };
            let mut backend = LevelBackend::bind(addr, mechanism)?;
            backend.set_socket_buffer(socket_buffer);
            let waker = backend.waker();
            ready(backend.local_addr(), Arc::new(move || waker.wake()));
            serve_faulting(backend, faults, service, config, stop, log)
        }
    }
}

/// Runs `service` on `backend` until `stop` is set, writing the log to `log`.
pub fn serve<S: Service, B: Backend>(
    backend: B,
    service: S,
    config: Config,
    stop: &AtomicBool,
    log: &mut dyn Write,
) -> io::Result<()> {
    let mut driver = Driver::new(backend, service, config);
    // A turn's log lines leave in one write: stderr is unbuffered, and a line formatted
    // piece by piece would cost a system call per piece.
    let mut text = String::new();
    while !stop.load(Ordering::Relaxed) {
        driver.turn(None)?;
        text.clear();
        while let Some(line) = driver.poll_log() {
            let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{line}\n"));
        }
        if !text.is_empty() {
            let _ = log.write_all(text.as_bytes());
        }
    }
    Ok(())
}

/// How an in-process server ended badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The service panicked; the server stopped.
    #[error("the service panicked: {0}")]
    Panicked(String),
    /// The server's loop failed.
    #[error("the server failed: {0}")]
    Io(#[from] io::Error),
    /// The server did not stop within the time allowed: it is stuck inside one turn.
    #[error("the server did not stop within {0:?}: it is stuck inside one turn of its loop")]
    Stuck(Duration),
}

/// How long [`ServerHandle::stop`] waits for the server's thread: a turn that has been woken
/// ends in microseconds, so ten seconds means a loop that never ends.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A server running on a thread of this process, for tests and `replay --backend mio`.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: WakeFn,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
    /// The server thread's CPU clock.
    clock: Option<libc::clockid_t>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Starts `service` on mio, on 127.0.0.1 with a free port.
    pub fn start<S: Service + Send + 'static>(service: S, config: Config) -> io::Result<Self> {
        ServerHandle::start_on(RealBackend::Mio, service, config)
    }

    /// Starts `service` on the chosen backend, on 127.0.0.1 with a free port. A panic of the
    /// service stops the server quietly; [`ServerHandle::stop`] reports it.
    pub fn start_on<S: Service + Send + 'static>(
        kind: RealBackend,
        service: S,
        config: Config,
    ) -> io::Result<Self> {
        ServerHandle::start_sized(kind, service, config, None)
    }

    /// [`ServerHandle::start_on`], with every accepted socket's send and receive buffers set
    /// to about `socket_buffer` bytes (a transcript's `limit buffer`, applied to real sockets
    /// as well as the kernel allows).
    pub fn start_sized<S: Service + Send + 'static>(
        kind: RealBackend,
        service: S,
        config: Config,
        socket_buffer: Option<usize>,
    ) -> io::Result<Self> {
        ServerHandle::start_faulting(kind, service, config, socket_buffer, None)
    }

    /// [`ServerHandle::start_sized`], with server-side faults injected into the backend.
    pub(crate) fn start_faulting<S: Service + Send + 'static>(
        kind: RealBackend,
        service: S,
        config: Config,
        socket_buffer: Option<usize>,
        faults: Option<Faulting>,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("muxsim-server".to_string())
            .spawn(move || {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let ready_tx = tx.clone();
                let result = crate::panics::catch_quietly(|| {
                    serve_sized(
                        kind,
                        any,
                        service,
                        config,
                        socket_buffer,
                        faults,
                        &flag,
                        &mut io::sink(),
                        |addr, wake| {
                            let _ = ready_tx.send(Ok((addr, wake)));
                        },
                    )
                });
                match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                        Err(ServerError::Io(e))
                    }
                    Err(message) => Err(ServerError::Panicked(message)),
                }
            })?;
        let (addr, waker) = rx
            .recv()
            .map_err(|_| io::Error::other("the server thread ended before it was ready"))??;
        let clock = thread_clock(&thread);
        Ok(ServerHandle {
            addr,
            stop,
            waker,
            thread: Some(thread),
            clock,
        })
    }

    /// The CPU time the server's thread has used so far (`None` where it cannot be read).
    pub fn cpu_time(&self) -> Option<Duration> {
        let clock = self.clock.filter(|_| self.is_running())?;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a live local clock_gettime writes to; the clock belongs to the
        // server thread, which is still running (checked above), so the id is valid.
        let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server is still serving (it stops when its service panics).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the server and waits for its thread; how it ended.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ServerError> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = (self.waker)();
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // Bounded: a server stuck inside one turn is reported, not waited for forever.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return Err(ServerError::Stuck(STOP_TIMEOUT));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        thread
            .join()
            .unwrap_or_else(|_| Err(ServerError::Panicked("the server thread".to_string())))
    }
}

/// The CPU clock of a running thread.
fn thread_clock<T>(thread: &JoinHandle<T>) -> Option<libc::clockid_t> {
    use std::os::unix::thread::JoinHandleExt;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the pthread_t comes from a live JoinHandle (the thread has not been joined), and
    // `clock` is a local the call writes to.
    let rc = unsafe { libc::pthread_getcpuclockid(thread.as_pthread_t(), &mut clock) };
    (rc == 0).then_some(clock)
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// How `muxsim client` ends each line it sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineEnding {
    /// `\n` when the server's greeting ends with a newline (a line protocol), else nothing.
    #[default]
    Auto,
    /// Send the line as typed, like the seed's client.
    None,
    /// `\n`.
    Lf,
    /// `\r\n`.
    Crlf,
}

impl LineEnding {
    /// Every ending.
    pub const ALL: [LineEnding; 4] = [
        LineEnding::Auto,
        LineEnding::None,
        LineEnding::Lf,
        LineEnding::Crlf,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LineEnding::Auto => "auto",
            LineEnding::None => "none",
            LineEnding::Lf => "lf",
            LineEnding::Crlf => "crlf",
        }
    }
}

/// The seed's client done properly: prints the greeting, sends each line of `input`, prints
/// what comes back, and ends when input ends or the server goes away.
pub fn client(
    addr: SocketAddr,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    ending: LineEnding,
    wait: Duration,
) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    let _ = stream.set_nodelay(true);
    let prompt = io::stdin().is_terminal();
    let mut greeting = Vec::new();
    if !read_some(&mut stream, out, wait, &mut greeting)? {
        return Ok(());
    }
    let ending = match ending {
        LineEnding::Auto if greeting.ends_with(b"\n") => LineEnding::Lf,
        LineEnding::Auto => LineEnding::None,
        other => other,
    };
    let mut line = String::new();
    loop {
        if prompt {
            write!(out, ">> ")?;
            out.flush()?;
        }
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        let mut bytes = text.as_bytes().to_vec();
        match ending {
            LineEnding::Lf => bytes.push(b'\n'),
            LineEnding::Crlf => bytes.extend_from_slice(b"\r\n"),
            _ => {}
        }
        if bytes.is_empty() {
            continue;
        }
        if let Err(e) = stream.write_all(&bytes) {
            writeln!(out, "(server went away: {e})")?;
            return Ok(());
        }
        let mut answer = Vec::new();
        if !read_some(&mut stream, out, wait, &mut answer)? {
            return Ok(());
        }
        if answer.is_empty() && ending == LineEnding::None {
            writeln!(
                out,
                "(no answer within {}; if the server reads lines, try --eol lf)",
                format_duration(wait)
            )?;
        }
    }
    // Input is over: say so, and print what the server still owes until it closes.
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if !read_some(&mut stream, out, deadline - Instant::now(), &mut Vec::new())? {
            break;
        }
    }
    Ok(())
}

/// Reads what arrives within `wait`, prints it and appends it to `got`; false when the
/// server closed.
fn read_some(
    stream: &mut TcpStream,
    out: &mut dyn Write,
    wait: Duration,
    got: &mut Vec<u8>,
) -> io::Result<bool> {
    stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
    let mut buf = [0u8; 16 * 1024];
    match stream.read(&mut buf) {
        Ok(0) => {
            writeln!(out, "(server closed the connection)")?;
            Ok(false)
        }
        Ok(n) => {
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.ends_with('\n') {
                write!(out, "{text}")?;
            } else {
                writeln!(out, "{text}")?;
            }
            out.flush()?;
            Ok(true)
        }
        Err(e) if is_timeout(&e) => Ok(true),
        Err(e) => {
            writeln!(out, "(server went away: {e})")?;
            Ok(false)
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut
}

/// Options of a replay over real TCP.
#[derive(Clone, Debug)]
pub struct TcpReplayOptions {
    /// How long an expectation waits for its bytes.
    pub timeout: Duration,
    /// Longest real sleep a `wait` step or a `delay` fault takes; longer ones are cut short
    /// and reported.
    pub max_wait: Duration,
    /// Send every `send` in pieces of at most this many bytes (1: byte by byte).
    pub split: Option<usize>,
    /// The clients' socket buffers, about this many bytes (a transcript's `limit buffer`).
    pub socket_buffer: Option<usize>,
}

impl Default for TcpReplayOptions {
    fn default() -> Self {
        TcpReplayOptions {
            timeout: Duration::from_secs(2),
            max_wait: Duration::from_secs(5),
            split: None,
            socket_buffer: None,
        }
    }
}

impl TcpReplayOptions {
    /// Options with this expectation timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        TcpReplayOptions {
            timeout,
            ..TcpReplayOptions::default()
        }
    }
}

/// What kind of thing went wrong at a step over TCP: the kinds every target shares.
#[deprecated(note = "use `FailureKind`, the one vocabulary of every target")]
pub type TcpFailureKind = FailureKind;

/// A failed step of a replay over real TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpFailure {
    /// The transcript line.
    pub(crate) line: usize,
    /// The client.
    pub(crate) client: String,
    /// What kind of failure.
    pub(crate) kind: FailureKind,
    /// What went wrong.
    pub(crate) message: String,
    /// Expected and received bytes, for a side-by-side view.
    pub(crate) expected: Option<Vec<u8>>,
    /// See `expected`.
    pub(crate) received: Option<Vec<u8>>,
}

impl TcpFailure {
    /// The transcript line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The client.
    pub fn client(&self) -> &str {
        &self.client
    }

    /// What kind of failure.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Expected and received bytes, for a side-by-side view.
    pub fn expected(&self) -> Option<&[u8]> {
        self.expected.as_deref()
    }

    /// See `expected`.
    pub fn received(&self) -> Option<&[u8]> {
        self.received.as_deref()
    }
}

/// The result of replaying a transcript over real TCP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpReplay {
    /// The first failure, with its transcript line.
    pub(crate) failure: Option<TcpFailure>,
    /// Faults only the server's kernel could cause, by line, with what they are.
    pub(crate) skipped_faults: Vec<(usize, FaultSpec)>,
    /// Other things that could not be done as written (waits cut short).
    pub(crate) notes: Vec<String>,
    /// Per client, what it did and saw (times since the replay began).
    pub(crate) clients: Vec<ClientReport>,
    /// While the clients waited (`wait` steps): the server's CPU time and the time waited,
    /// when the server's CPU clock could be read.
    pub(crate) idle_cpu: Option<(Duration, Duration)>,
}

impl TcpReplay {
    /// The first failure, with its transcript line.
    pub fn failure(&self) -> Option<&TcpFailure> {
        self.failure.as_ref()
    }

    /// Faults only the server's kernel could cause, by line, with what they are.
    pub fn skipped_faults(&self) -> &[(usize, FaultSpec)] {
        &self.skipped_faults
    }

    /// Other things that could not be done as written (waits cut short).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Per client, what it did and saw (times since the replay began).
    pub fn clients(&self) -> &[ClientReport] {
        &self.clients
    }

    /// While the clients waited (`wait` steps): the server's CPU time and the time waited,
    /// when the server's CPU clock could be read.
    pub fn idle_cpu(&self) -> Option<(Duration, Duration)> {
        self.idle_cpu
    }
}

/// A server that used at least half of the clients' waiting time as CPU, over at least
/// 100 ms of waiting, was spinning: a correct server has nothing to do while every client
/// waits, and a loaded machine only makes its share smaller.
const BUSY_SHARE: f64 = 0.5;
const BUSY_MIN_WAIT: Duration = Duration::from_millis(100);

impl TcpReplay {
    /// Why the server looks busy-looping while the clients waited, if it does.
    pub fn busy_loop(&self) -> Option<String> {
        let (cpu, waited) = self.idle_cpu?;
        (waited >= BUSY_MIN_WAIT && cpu.as_secs_f64() >= BUSY_SHARE * waited.as_secs_f64()).then(
            || {
                format!(
                    "busy loop: the server used {} of CPU while the clients waited {}",
                    crate::text::human_duration(cpu),
                    crate::text::human_duration(waited)
                )
            },
        )
    }
}

/// How a replay over TCP ended, judged against the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpOutcome {
    /// Every step passed, or it failed as the transcript expects.
    Pass {
        /// Why, when the transcript expected a failure.
        note: Option<String>,
    },
    /// It did not end as the transcript expects.
    Fail(String),
    /// It cannot be told over TCP: the failure the transcript expects depends on faults that
    /// could not be applied.
    Inconclusive(String),
}

impl TcpOutcome {
    /// Whether the replay ended as the transcript expects.
    pub fn is_pass(&self) -> bool {
        matches!(self, TcpOutcome::Pass { .. })
    }

    /// What went wrong, when the replay did not end as expected.
    pub fn failure(&self) -> Option<&str> {
        match self {
            TcpOutcome::Fail(message) | TcpOutcome::Inconclusive(message) => Some(message),
            TcpOutcome::Pass { .. } => None,
        }
    }
}

/// Replays a transcript's lines in file order against the server at `addr`.
///
/// Client actions happen as written; expectations wait (bounded) for their bytes; `delay`
/// faults hold back the next send. Faults only the server's own kernel could cause are
/// listed in [`TcpReplay::skipped_faults`], never silently dropped.
pub fn replay_tcp(t: &Transcript, addr: SocketAddr, options: &TcpReplayOptions) -> TcpReplay {
    replay_tcp_watched(t, addr, options, None)
}

/// [`replay_tcp`], reading the server's CPU clock with `server_cpu` around every `wait`, so
/// that a server spinning while its clients wait shows ([`TcpReplay::busy_loop`]).
pub fn replay_tcp_watched(
    t: &Transcript,
    addr: SocketAddr,
    options: &TcpReplayOptions,
    server_cpu: Option<&dyn Fn() -> Option<Duration>>,
) -> TcpReplay {
    play(t, addr, options, server_cpu, None, None)
}

/// [`replay_tcp`], with the transcript's clients given time at the end, under `oracle on`,
/// to receive what `service`'s oracle says they are owed.
pub(crate) fn replay_judged(
    t: &Transcript,
    addr: SocketAddr,
    options: &TcpReplayOptions,
    service: Option<(&ServiceDescriptor, &ServiceOptions)>,
) -> TcpReplay {
    play(t, addr, options, None, None, service)
}

/// How long a replay under `oracle on` without the service's oracle at hand reads after the
/// last line, once the server has gone quiet.
const ORACLE_QUIET: Duration = Duration::from_millis(200);

/// The server's side of a file-order replay: with a fault book, the server runs in this
/// process under faults and takes the transcript's server-side fault lines (instead of
/// skipping them) and learns which client each connection is.
struct ServerSide<'a> {
    book: Option<&'a ServerFaults>,
    server_cpu: Option<&'a dyn Fn() -> Option<Duration>>,
    /// Under `oracle on`: the oracle that says when the clients have what they are owed
    /// (`None`: they read until the server is quiet).
    judge: Option<(&'a ServiceDescriptor, &'a ServiceOptions)>,
    oracle: bool,
    skipped: Vec<(usize, FaultSpec)>,
    /// The server's CPU clock and the time when the `wait` in progress began.
    wait_began: Option<(Duration, Instant)>,
    /// The server's CPU time and the time waited, over every `wait`.
    idle: Option<(Duration, Duration)>,
}

impl Side for ServerSide<'_> {
    fn connecting(&mut self, client: usize) {
        if let Some(book) = self.book {
            book.connecting(ClientId::from_index(client));
        }
    }

    fn connect_failed(&mut self, client: usize) {
        if let Some(book) = self.book {
            book.connect_failed(ClientId::from_index(client));
        }
    }

    fn server_fault(
        &mut self,
        client: Option<usize>,
        spec: FaultSpec,
        at: Option<u64>,
        line: usize,
    ) {
        let Some(book) = self.book else {
            self.skipped.push((line, spec));
            return;
        };
        let client = client.map(ClientId::from_index);
        match at {
            Some(at) => book.anchor(client, spec, at),
            None => book.arm(client, spec),
        }
    }

    fn waiting(&mut self, begins: bool) {
        let cpu = self.server_cpu.and_then(|cpu| cpu());
        if begins {
            self.wait_began = cpu.map(|cpu| (cpu, Instant::now()));
        } else if let (Some((cpu0, wall0)), Some(cpu1)) = (self.wait_began.take(), cpu) {
            let (used, waited) = self.idle.get_or_insert((Duration::ZERO, Duration::ZERO));
            *used += cpu1.saturating_sub(cpu0);
            *waited += wall0.elapsed();
        }
    }

    fn settled(&mut self, clients: &[ClientReport]) -> bool {
        match self.judge {
            Some((service, options)) => service.judge_all(options, &owed(clients)).is_ok(),
            None => !self.oracle,
        }
    }
}

/// The replay, on the one client engine in file order (see [`ServerSide`] for `book`).
fn play(
    t: &Transcript,
    addr: SocketAddr,
    options: &TcpReplayOptions,
    server_cpu: Option<&dyn Fn() -> Option<Duration>>,
    book: Option<&ServerFaults>,
    service: Option<(&ServiceDescriptor, &ServiceOptions)>,
) -> TcpReplay {
    let live = LiveOptions {
        timeout: options.timeout,
        max_wait: options.max_wait,
        connect_timeout: options.timeout,
        split: options.split,
        socket_buffer: options.socket_buffer,
        // Under `oracle on` with no oracle at hand, the clients take what the server sends
        // until it has been quiet a while, for whoever judges them later.
        settle_quiet: Some(ORACLE_QUIET).filter(|_| service.is_none()),
    };
    let mut side = ServerSide {
        book,
        server_cpu,
        judge: service.filter(|_| t.oracle()),
        oracle: t.oracle(),
        skipped: Vec::new(),
        wait_began: None,
        idle: None,
    };
    let run = live::run_in_file_order(t, addr, &live, &mut side);
    let clients = run
        .clients
        .into_iter()
        .enumerate()
        .map(|(i, mut report)| {
            // A client whose connection a fault reset or aborted is owed nothing after it.
            if let Some(book) = book {
                report.disrupted |= book.is_disrupted(ClientId::from_index(i));
            }
            report
        })
        .collect();
    TcpReplay {
        failure: run.failure.map(|f| TcpFailure {
            line: f.line,
            client: f.client,
            kind: f.kind,
            message: f.message,
            expected: f.expected,
            received: f.received,
        }),
        skipped_faults: side.skipped,
        notes: run.notes,
        clients,
        idle_cpu: side.idle,
    }
}

/// A transcript replayed against a server of this process on a real backend: what the
/// clients saw, how the server ended, and the faults that fired inside it.
#[derive(Debug)]
pub(crate) struct InProcessReplay {
    pub(crate) replay: TcpReplay,
    /// What the replay saw, and how that meets the transcript's `expect`.
    pub(crate) verdict: Verdict,
    pub(crate) outcome: TcpOutcome,
    /// Each fault that fired: the client's name (`None`: the whole server), the fault, and
    /// the operation it hit.
    pub(crate) fired: Vec<(Option<String>, FaultSpec, u64)>,
}

/// Replays `t` against `service` served by a real backend of this process: the transcript's
/// server-side fault lines and the faults the seed draws under `world.faults` happen inside
/// that server, from the same picker as the simulator's; short I/O follows the rule of
/// `world.sim.semantics` where it is weaker than the kernel's.
pub(crate) fn replay_in_process(
    kind: RealBackend,
    t: &Transcript,
    service: (&ServiceDescriptor, &ServiceOptions),
    world: &crate::world::WorldConfig,
    options: &TcpReplayOptions,
) -> io::Result<InProcessReplay> {
    let mut config = world.driver.clone();
    // Real sockets have no virtual clock: keep the server's timers short.
    config.linger = config.linger.min(Duration::from_millis(500));
    // A transcript's `limit buffer` sizes the real sockets too, as far as the kernel allows.
    let buffer = t
        .limits()
        .find(|(_, name, _)| *name == "buffer")
        .map(|_| world.sim.buffer);
    let book = ServerFaults::new(world.seed, world.fault_plan());
    let faulting = Faulting {
        book: book.clone(),
        short_io_drains: world.sim.semantics.short_io_drains(),
    };
    let server = ServerHandle::start_faulting(
        kind,
        service.0.build(service.1),
        config,
        buffer,
        Some(faulting),
    )?;
    let options = TcpReplayOptions {
        socket_buffer: buffer,
        ..options.clone()
    };
    let cpu = || server.cpu_time();
    let replay = play(
        t,
        server.addr(),
        &options,
        Some(&cpu),
        Some(&book),
        Some(service),
    );
    let crashed = server.stop().err().map(|e| e.to_string());
    let (verdict, outcome) = replay.judge(t, Some(service), crashed.as_deref());
    let names = t.clients();
    let fired = book
        .fired()
        .into_iter()
        .map(|f| {
            let name = f.client.and_then(|c| names.get(c.index()).cloned());
            (name, f.spec, f.at)
        })
        .collect();
    Ok(InProcessReplay {
        replay,
        verdict,
        outcome,
        fired,
    })
}

impl TcpReplay {
    /// Judges the replay against the transcript it replayed: its steps, the service's oracle
    /// when the transcript says `oracle on` (and `service` is given), the server's death when
    /// `crashed` says how it died, and the `expect` line. See the module docs.
    pub fn verdict(
        &self,
        t: &Transcript,
        service: Option<(&ServiceDescriptor, &ServiceOptions)>,
        crashed: Option<&str>,
    ) -> TcpOutcome {
        self.judge(t, service, crashed).1
    }

    /// What the replay saw, in the words every target shares, and the outcome against the
    /// transcript's `expect` line by the simulator's rule ([`scenario::outcome`]), with one
    /// addition: a failure the transcript expects that depends on skipped faults cannot be
    /// told.
    pub(crate) fn judge(
        &self,
        t: &Transcript,
        service: Option<(&ServiceDescriptor, &ServiceOptions)>,
        crashed: Option<&str>,
    ) -> (Verdict, TcpOutcome) {
        let step = self.failure.as_ref().map(|f| {
            let message = format!("line {}: client {}: {}", f.line, f.client, f.message);
            (f, message)
        });
        let failure = if let Some(busy) = self.busy_loop() {
            Some(Failure::observed(FailureKind::BusyLoop, None, busy))
        } else if let Some(how) = crashed {
            let message = match &step {
                Some((_, step)) => format!("{how}; {step}"),
                None => how.to_string(),
            };
            Some(Failure::observed(FailureKind::Crash, None, message))
        } else if let Some((f, message)) = step {
            Some(Failure::observed(f.kind, Some(&f.client), message))
        } else if let (true, Some((service, options))) = (t.oracle(), service) {
            service
                .judge_all(options, &owed(&self.clients))
                .err()
                .map(|(client, detail)| Failure::Oracle { client, detail })
        } else {
            None
        };
        let verdict = failure.map_or(Verdict::Pass, Verdict::Fail);
        let expect = t.expect();
        let busy = verdict
            .failure()
            .is_some_and(|f| f.kind() == FailureKind::BusyLoop);
        if expect != Expect::Pass && !busy && !self.skipped_faults.is_empty() {
            let faults: Vec<String> = self
                .skipped_faults
                .iter()
                .map(|(line, spec)| format!("line {line}: `{spec}`"))
                .collect();
            let why = format!(
                "the transcript expects `{}`, which depends on faults only the server's kernel can cause ({}); over TCP they could not be applied",
                expect.name(),
                faults.join(", ")
            );
            return (verdict, TcpOutcome::Inconclusive(why));
        }
        let outcome = match (scenario::outcome(&verdict, expect), verdict.failure()) {
            (Outcome::AsExpected, failure) => TcpOutcome::Pass {
                note: failure.map(|f| fails_as_expected(f)),
            },
            (Outcome::Failed, Some(failure)) if expect == Expect::Pass => {
                TcpOutcome::Fail(failure.to_string())
            }
            (Outcome::Failed, Some(failure)) => {
                TcpOutcome::Fail(format!("expected `{}`, but: {failure}", expect.name()))
            }
            (outcome, _) => TcpOutcome::Fail(outcome.to_string()),
        };
        (verdict, outcome)
    }
}
