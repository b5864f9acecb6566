//! Real-network tools: the server loop behind `muxsim serve`, an in-process server for
//! tests, the interactive `muxsim client`, and replaying transcripts against any TCP server.
//!
//! Every wait here is bounded: connects, reads and the server's shutdown all have deadlines.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::backend::level::{LevelBackend, Mechanism};
use crate::backend::mio::MioBackend;
use crate::core::Service;
use crate::driver::{Config, Driver};
use crate::fault::FaultSpec;
use crate::transcript::{Item, Step, Transcript, quote};

/// The real backends a server can run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RealBackend {
    /// epoll through mio (edge-triggered)
    #[default]
    Mio,
    /// poll(2), level-triggered
    Poll,
    /// select(2), level-triggered, descriptors below FD_SETSIZE only
    Select,
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
    match kind {
        RealBackend::Mio => {
            let backend = MioBackend::bind(addr)?;
            let waker = backend.waker();
            ready(backend.local_addr(), Arc::new(move || waker.wake()));
            serve(backend, service, config, stop, log)
        }
        RealBackend::Poll | RealBackend::Select => {
            let mechanism = if kind == RealBackend::Poll {
                Mechanism::Poll
            } else {
                Mechanism::Select
            };
            let backend = LevelBackend::bind(addr, mechanism)?;
            let waker = backend.waker();
            ready(backend.local_addr(), Arc::new(move || waker.wake()));
            serve(backend, service, config, stop, log)
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
    while !stop.load(Ordering::Relaxed) {
        driver.turn(None)?;
        while let Some(line) = driver.poll_log() {
            let _ = writeln!(log, "{line}");
        }
    }
    Ok(())
}

/// A server running on a thread of this process, for tests and `replay --backend mio`.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: WakeFn,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// Starts `service` on mio, on 127.0.0.1 with a free port.
    pub fn start<S: Service + Send + 'static>(service: S, config: Config) -> io::Result<Self> {
        ServerHandle::start_on(RealBackend::Mio, service, config)
    }

    /// Starts `service` on the chosen backend, on 127.0.0.1 with a free port.
    pub fn start_on<S: Service + Send + 'static>(
        kind: RealBackend,
        service: S,
        config: Config,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("muxsim-server".to_string())
            .spawn(move || {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let ready_tx = tx.clone();
                let result = serve_on(
                    kind,
                    any,
                    service,
                    config,
                    &flag,
                    &mut io::sink(),
                    |addr, wake| {
                        let _ = ready_tx.send(Ok((addr, wake)));
                    },
                );
                if let Err(e) = &result {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
                result
            })?;
        let (addr, waker) = rx
            .recv()
            .map_err(|_| io::Error::other("the server thread ended before it was ready"))??;
        Ok(ServerHandle {
            addr,
            stop,
            waker,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        (self.waker)()?;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// How `muxsim client` ends each line it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LineEnding {
    /// Send the line as typed, like the seed's client.
    None,
    Lf,
    Crlf,
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
    if !read_some(&mut stream, out, wait)? {
        return Ok(());
    }
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
            LineEnding::None => {}
            LineEnding::Lf => bytes.push(b'\n'),
            LineEnding::Crlf => bytes.extend_from_slice(b"\r\n"),
        }
        if bytes.is_empty() {
            continue;
        }
        if let Err(e) = stream.write_all(&bytes) {
            writeln!(out, "(server went away: {e})")?;
            return Ok(());
        }
        if !read_some(&mut stream, out, wait)? {
            return Ok(());
        }
    }
    // Input is over: say so, and print what the server still owes until it closes.
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if !read_some(&mut stream, out, deadline - Instant::now())? {
            break;
        }
    }
    Ok(())
}

/// Reads what arrives within `wait` and prints it; false when the server closed.
fn read_some(stream: &mut TcpStream, out: &mut dyn Write, wait: Duration) -> io::Result<bool> {
    stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
    let mut buf = [0u8; 16 * 1024];
    match stream.read(&mut buf) {
        Ok(0) => {
            writeln!(out, "(server closed the connection)")?;
            Ok(false)
        }
        Ok(n) => {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.ends_with('\n') {
                write!(out, "{text}")?;
            } else {
                writeln!(out, "{text}")?;
            }
            out.flush()?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            Ok(true)
        }
        Err(e) => {
            writeln!(out, "(server went away: {e})")?;
            Ok(false)
        }
    }
}

/// Options of a replay over real TCP.
#[derive(Clone, Debug)]
pub struct TcpReplayOptions {
    /// How long a `recv` waits for its bytes.
    pub timeout: Duration,
    /// Longest real sleep a `wait` step or a `delay` fault takes; longer ones are cut short
    /// and reported.
    pub max_wait: Duration,
    /// Send every `send` in pieces of at most this many bytes (1: byte by byte).
    pub split: Option<usize>,
}

impl Default for TcpReplayOptions {
    fn default() -> Self {
        TcpReplayOptions {
            timeout: Duration::from_secs(2),
            max_wait: Duration::from_secs(5),
            split: None,
        }
    }
}

/// The result of replaying a transcript over real TCP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpReplay {
    /// The first failure, with its transcript line.
    pub failure: Option<TcpFailure>,
    /// What could not be done from outside the server, one entry per line.
    pub skipped: Vec<String>,
    /// Per client: (name, sent, received, closed by itself or reset).
    pub clients: Vec<(String, Vec<u8>, Vec<u8>, bool)>,
}

/// A failed step of a replay over real TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpFailure {
    pub line: usize,
    pub client: String,
    pub message: String,
    /// Expected and received bytes, for a side-by-side view.
    pub expected: Option<Vec<u8>>,
    pub received: Option<Vec<u8>>,
}

struct RealClient {
    name: String,
    stream: Option<TcpStream>,
    inbox: Vec<u8>,
    sent: Vec<u8>,
    received: Vec<u8>,
    eof: bool,
    reset: bool,
    closed: bool,
    delay: Duration,
    /// Hold the next send back (`MSG_MORE`) so it leaves with the close that follows.
    cork: bool,
}

/// Replays a transcript's lines in file order against the server at `addr`.
///
/// Client actions happen as written; `recv` waits (bounded) for its bytes; `delay` faults
/// hold back the next send. Faults only the server's own kernel could cause (short reads,
/// `EINTR`, accept errors...) are reported in [`TcpReplay::skipped`], never silently dropped.
pub fn replay_tcp(t: &Transcript, addr: SocketAddr, options: &TcpReplayOptions) -> TcpReplay {
    let mut result = TcpReplay::default();
    let mut clients: Vec<RealClient> = Vec::new();
    for (index, line) in t.lines.iter().enumerate() {
        let line_no = index + 1;
        match &line.item {
            Item::Step { client, step } => {
                let c = match clients.iter().position(|c| &c.name == client) {
                    Some(c) => c,
                    None => {
                        clients.push(RealClient {
                            name: client.clone(),
                            stream: None,
                            inbox: Vec::new(),
                            sent: Vec::new(),
                            received: Vec::new(),
                            eof: false,
                            reset: false,
                            closed: false,
                            delay: Duration::ZERO,
                            cork: false,
                        });
                        clients.len() - 1
                    }
                };
                // A send right before this client's close goes out with the FIN in one segment,
                // so the server sees "data, then EOF" at once, as the transcript says.
                let closes_next = matches!(step, Step::Send(_))
                    && t.lines[index + 1..]
                        .iter()
                        .find_map(|l| match &l.item {
                            Item::Step { client: other, step } if other == client => Some(step),
                            _ => None,
                        })
                        .is_some_and(|next| matches!(next, Step::Close | Step::Shutdown));
                clients[c].cork = closes_next;
                if let Err(message) = real_step(&mut clients[c], step, addr, options, &mut result) {
                    let (expected, received) = match step {
                        Step::Recv(bytes) | Step::Got(bytes) => {
                            (Some(bytes.clone()), Some(clients[c].inbox.clone()))
                        }
                        _ => (None, None),
                    };
                    result.failure = Some(TcpFailure {
                        line: line_no,
                        client: client.clone(),
                        message,
                        expected,
                        received,
                    });
                    break;
                }
            }
            Item::Fault(fault) => match (fault.spec, &fault.client) {
                (FaultSpec::Delay(d), Some(name)) => {
                    if let Some(c) = clients.iter_mut().find(|c| &c.name == name) {
                        c.delay = d;
                    }
                }
                (spec, _) => result.skipped.push(format!(
                    "line {line_no}: `{spec}` happens inside the server and cannot be caused from outside"
                )),
            },
            _ => {}
        }
    }
    if result.failure.is_none() && t.oracle() {
        // No expectations of their own: collect what each client is still owed.
        for c in clients.iter_mut() {
            collect_rest(c, options.timeout);
        }
    }
    result.clients = clients
        .into_iter()
        .map(|c| (c.name, c.sent, c.received, c.closed || c.reset))
        .collect();
    result
}

fn collect_rest(c: &mut RealClient, timeout: Duration) {
    let Some(stream) = &mut c.stream else { return };
    if c.closed || c.eof || c.reset {
        return;
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        match stream.read(&mut buf) {
            Ok(0) => {
                c.eof = true;
                return;
            }
            Ok(n) => c.received.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return;
            }
            Err(_) => {
                c.reset = true;
                return;
            }
        }
    }
}

/// What one bounded read found.
enum Got {
    Bytes,
    Eof,
    Nothing,
    Failed(io::Error),
}

/// Reads once, waiting at most `left`, appending what came to `inbox` and `received`.
fn read_into(
    stream: &mut TcpStream,
    inbox: &mut Vec<u8>,
    received: &mut Vec<u8>,
    buf: &mut [u8],
    left: Duration,
) -> Got {
    let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
    match stream.read(buf) {
        Ok(0) => Got::Eof,
        Ok(n) => {
            inbox.extend_from_slice(&buf[..n]);
            received.extend_from_slice(&buf[..n]);
            Got::Bytes
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            Got::Nothing
        }
        Err(e) => Got::Failed(e),
    }
}

/// Sends all of `bytes` with `MSG_MORE`: the kernel holds them until the next send without
/// it, or the close.
fn send_more(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    while !bytes.is_empty() {
        match socket.send_with_flags(bytes, libc::MSG_MORE) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn real_step(
    c: &mut RealClient,
    step: &Step,
    addr: SocketAddr,
    options: &TcpReplayOptions,
    result: &mut TcpReplay,
) -> Result<(), String> {
    if *step == Step::Connect {
        let stream = TcpStream::connect_timeout(&addr, options.timeout)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        c.stream = Some(stream);
        return Ok(());
    }
    if let Step::Wait(d) = step {
        if *d > options.max_wait {
            result.skipped.push(format!(
                "client {}: `wait {}` cut to {}",
                c.name,
                crate::transcript::format_duration(*d),
                crate::transcript::format_duration(options.max_wait)
            ));
        }
        std::thread::sleep((*d).min(options.max_wait));
        return Ok(());
    }
    let Some(stream) = c.stream.as_mut() else {
        return Err(if c.closed {
            "the client already closed its connection".to_string()
        } else {
            "the client has not connected".to_string()
        });
    };
    match step {
        Step::Connect => unreachable!("handled above"),
        Step::Send(bytes) => {
            if !c.delay.is_zero() {
                std::thread::sleep(c.delay.min(options.max_wait));
                c.delay = Duration::ZERO;
            }
            let piece = options.split.unwrap_or(bytes.len()).max(1);
            for chunk in bytes.chunks(piece) {
                // A server that closed on us makes sends fail; the transcript's expectations
                // say whether that is right, so a failed send is not itself a failure.
                let sent = if c.cork {
                    send_more(stream, chunk)
                } else {
                    stream.write_all(chunk)
                };
                if sent.is_err() {
                    break;
                }
                c.sent.extend_from_slice(chunk);
            }
        }
        Step::Recv(expected) | Step::Got(expected) => {
            let deadline = Instant::now() + options.timeout;
            let mut buf = [0u8; 16 * 1024];
            while c.inbox.len() < expected.len() {
                if !expected.starts_with(&c.inbox) {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!(
                        "timed out after {} waiting for {}",
                        crate::transcript::format_duration(options.timeout),
                        quote(expected)
                    ));
                }
                match read_into(stream, &mut c.inbox, &mut c.received, &mut buf, left) {
                    Got::Bytes | Got::Nothing => {}
                    Got::Eof => {
                        c.eof = true;
                        return Err(format!(
                            "the server closed the connection before sending {}",
                            quote(expected)
                        ));
                    }
                    Got::Failed(e) => {
                        c.reset = true;
                        return Err(format!("the connection failed: {e}"));
                    }
                }
            }
            let n = expected.len().min(c.inbox.len());
            if c.inbox[..n] != expected[..n] || n < expected.len() {
                return Err(format!("expected {}", quote(expected)));
            }
            c.inbox.drain(..n);
        }
        Step::RecvEof | Step::RecvReset | Step::GotEof | Step::GotReset => {
            let want_reset = matches!(step, Step::RecvReset | Step::GotReset);
            let deadline = Instant::now() + options.timeout;
            let mut buf = [0u8; 4096];
            loop {
                if !c.inbox.is_empty() {
                    return Err(format!(
                        "expected {} but {} came first",
                        if want_reset {
                            "a reset"
                        } else {
                            "the server's close"
                        },
                        quote(&c.inbox)
                    ));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err("timed out waiting for the server to close".to_string());
                }
                match read_into(stream, &mut c.inbox, &mut c.received, &mut buf, left) {
                    Got::Bytes | Got::Nothing => {}
                    Got::Eof if !want_reset => {
                        c.eof = true;
                        return Ok(());
                    }
                    Got::Eof => return Err("expected a reset, got a clean close".to_string()),
                    Got::Failed(e) if want_reset && e.kind() == io::ErrorKind::ConnectionReset => {
                        c.reset = true;
                        return Ok(());
                    }
                    Got::Failed(e) => return Err(format!("the connection failed: {e}")),
                }
            }
        }
        Step::Shutdown => {
            let _ = stream.shutdown(Shutdown::Write);
        }
        Step::Close => {
            c.closed = true;
            c.stream = None;
        }
        Step::Reset => {
            let socket = socket2::SockRef::from(&*stream);
            let _ = socket.set_linger(Some(Duration::ZERO));
            c.closed = true;
            c.stream = None;
        }
        // Not reading is what a paused client does; reads happen only at `recv` steps.
        Step::Pause | Step::Resume => {}
        Step::Wait(_) => unreachable!("handled above"),
    }
    Ok(())
}
