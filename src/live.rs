//! Clients over real sockets: the one client engine every real-socket target shares. A
//! [`Play`] runs against a server at an address as the simulator runs it against a core, and
//! a transcript replays there in file order.
//!
//! Each client follows its part — connect, send, wait, pause, shut down, close, reset, and
//! the expectations of a fixture. Clients read whenever bytes arrive (unless paused), so a
//! client never deadlocks the server by not reading, and sends never block the others: every
//! socket is non-blocking, and one `poll(2)` drives them all. Every event lands on the
//! client's timeline ([`ClientReport`]) with the time since the run began.
//!
//! Two orders:
//! - **Concurrent** ([`run_play_then`]): each client follows its own script while the others
//!   follow theirs; nobody waits for anybody else but where an `after` step says so.
//! - **File order** ([`run_in_file_order`]): the transcript's lines are taken one at a time,
//!   as written, and a line waits until the one above it is done (its bytes all sent, its
//!   expectation met, its `wait` over). Fault lines the server's side must cause reach the
//!   caller's [`Side`] when the file reaches them; failures name their line.
//!
//! When the parts are done, the run settles: it keeps reading until the caller's
//! [`Side::settled`] says the clients have what they are owed (an oracle), every stream has
//! ended, or the time is up.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::failure::FailureKind;
use crate::fault::FaultSpec;
use crate::script::{Entry, Expectation, MatchError, Matcher, Step};
use crate::text::{first_difference, format_duration, quote_short};
use crate::timeline::{ClientReport, EventKind};
use crate::transcript::{Item, Transcript};
use crate::world::Play;

/// How long a run may take, and how its clients use their sockets.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) struct LiveOptions {
    /// How long an expectation waits for its bytes, and the run settles at most.
    pub timeout: Duration,
    /// The longest a `wait` step (or a `delay` fault) really waits.
    pub max_wait: Duration,
    /// How long a connect may take.
    pub connect_timeout: Duration,
    /// Send in pieces of at most this many bytes (1: byte by byte).
    pub split: Option<usize>,
    /// The clients' socket buffers, about this many bytes (set before connecting).
    pub socket_buffer: Option<usize>,
    /// Settling ends after this long without a byte for anybody (`None`: `timeout`).
    pub settle_quiet: Option<Duration>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            timeout: Duration::from_secs(2),
            max_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            split: None,
            socket_buffer: None,
            settle_quiet: None,
        }
    }
}

/// The first thing that went wrong for a client, against its script.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct LiveFailure {
    /// The client.
    pub client: String,
    /// What kind of failure.
    pub kind: FailureKind,
    /// What went wrong.
    pub message: String,
    /// The transcript line of the step that failed (file order; 0 otherwise).
    pub line: usize,
    /// The bytes expected and those received, for a side-by-side view.
    pub expected: Option<Vec<u8>>,
    /// See `expected`.
    pub received: Option<Vec<u8>>,
}

/// A run over real sockets.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub(crate) struct LiveRun {
    /// Per client, what it did and saw.
    pub clients: Vec<ClientReport>,
    /// Each client's local port, once it connected: how the server's side names it.
    pub ports: Vec<Option<u16>>,
    /// The first script failure, if any.
    pub failure: Option<LiveFailure>,
    /// Things done otherwise than written (waits cut short).
    pub notes: Vec<String>,
    /// How long the settling took: the time the clients only waited for what they were owed.
    pub settling: Duration,
    /// Whether the run settled (the `settled` test held, or every stream ended) rather than
    /// running out of time.
    pub settled: bool,
}

/// What the caller's side of a run hears and decides: the server's side of the clients'
/// doings. Every method has a default that does nothing (settling ends at once).
pub(crate) trait Side {
    /// Client `client` (its index) is about to connect.
    fn connecting(&mut self, _client: usize) {}

    /// Client `client`'s connect failed: the server will not accept it.
    fn connect_failed(&mut self, _client: usize) {}

    /// A fault line only the server's side can cause, reached by the script: on `client`'s
    /// connection (`None`: the whole server), at operation `at` of its kind (`None`: the
    /// next), from transcript line `line` (0 outside file order).
    fn server_fault(
        &mut self,
        _client: Option<usize>,
        _spec: FaultSpec,
        _at: Option<u64>,
        _line: usize,
    ) {
    }

    /// A `wait` step began (`true`) or ended (`false`). In file order nothing but reading
    /// happens meanwhile.
    fn waiting(&mut self, _begins: bool) {}

    /// Whether the clients have what they are owed, once their parts are done.
    fn settled(&mut self, _clients: &[ClientReport]) -> bool {
        true
    }

    /// The run is over; the clients' sockets are still open.
    fn ending(&mut self) {}
}

/// One entry of a client's part, with where the transcript has it.
#[derive(Clone, Debug)]
struct Cue {
    entry: Entry,
    /// The transcript line (file order), or 0.
    line: usize,
    /// For a fault line: which operation of its kind it hits.
    at: Option<u64>,
}

/// The clients of a run and their parts.
struct Cast {
    names: Vec<String>,
    parts: Vec<Vec<Cue>>,
    /// File order only: fault lines of the whole server.
    server: Vec<Cue>,
    file_order: bool,
}

impl Cast {
    fn of_play(play: &Play) -> Self {
        Cast {
            names: play.clients.iter().map(|s| s.name.clone()).collect(),
            parts: play
                .clients
                .iter()
                .map(|s| {
                    let cue = |entry: &Entry| Cue {
                        entry: entry.clone(),
                        line: 0,
                        at: None,
                    };
                    s.entries.iter().map(cue).collect()
                })
                .collect(),
            server: Vec::new(),
            file_order: false,
        }
    }

    /// The transcript's clients (in its scheduling order) with their lines, and its
    /// server-wide fault lines.
    fn of_transcript(t: &Transcript) -> Self {
        let names = t.clients();
        let mut parts: Vec<Vec<Cue>> = vec![Vec::new(); names.len()];
        let mut server = Vec::new();
        let index = |name: &str| names.iter().position(|n| n == name);
        for (i, line) in t.lines.iter().enumerate() {
            let (who, cue) = match &line.item {
                Item::Step { client, step } => (
                    index(client),
                    Cue {
                        entry: Entry::Step(step.clone()),
                        line: i + 1,
                        at: None,
                    },
                ),
                Item::Fault(fault) => (
                    fault.client.as_deref().and_then(index),
                    Cue {
                        entry: Entry::Fault(fault.spec),
                        line: i + 1,
                        at: fault.at,
                    },
                ),
                _ => continue,
            };
            match who {
                Some(c) => parts[c].push(cue),
                None => server.push(cue),
            }
        }
        Cast {
            names,
            parts,
            server,
            file_order: true,
        }
    }
}

struct Client {
    /// Its index among the run's clients.
    index: usize,
    cues: Vec<Cue>,
    pos: usize,
    stream: Option<TcpStream>,
    report: ClientReport,
    port: Option<u16>,
    /// Bytes received that an expectation has not taken yet (kept only while one is ahead).
    inbox: Vec<u8>,
    paused: bool,
    /// A `wait` (or a delayed send) in progress: when it ends.
    until: Option<Instant>,
    /// A send in progress: its bytes, how many are sent, and whether they are held back
    /// (`MSG_MORE`) to leave with the close that follows.
    sending: Option<(Vec<u8>, usize, bool)>,
    /// The next send is held back this long.
    delay: Duration,
    /// The expectation in progress, with its deadline.
    matcher: Option<(Matcher, Instant)>,
    /// The stream ended (EOF or reset) or the client closed it.
    ended: bool,
    reset: bool,
}

impl Client {
    /// How many of its steps it has taken (faults not counted).
    fn steps_done(&self) -> u64 {
        let taken = &self.cues[..self.pos.min(self.cues.len())];
        taken
            .iter()
            .filter(|c| matches!(c.entry, Entry::Step(_)))
            .count() as u64
    }

    fn new(index: usize, name: &str, cues: Vec<Cue>) -> Self {
        Client {
            index,
            cues,
            pos: 0,
            stream: None,
            report: ClientReport::new(name),
            port: None,
            inbox: Vec::new(),
            paused: false,
            until: None,
            sending: None,
            delay: Duration::ZERO,
            matcher: None,
            ended: false,
            reset: false,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.cues.len() && self.sending.is_none()
    }

    /// The transcript line of the entry it is at.
    fn line(&self) -> usize {
        self.cues.get(self.pos).map_or(0, |c| c.line)
    }

    fn expects_more(&self) -> bool {
        self.cues[self.pos.min(self.cues.len())..]
            .iter()
            .any(|c| matches!(&c.entry, Entry::Step(step) if step.is_expectation()))
    }

    /// Whether its next step after the one it is at closes or shuts down its connection.
    fn closes_next(&self) -> bool {
        self.cues[self.pos + 1..]
            .iter()
            .find_map(|c| match &c.entry {
                Entry::Step(step) => Some(step),
                Entry::Fault(_) => None,
            })
            .is_some_and(|step| matches!(step, Step::Close | Step::Shutdown))
    }
}

/// How many timeouts settling may last in all while bytes keep coming.
const SETTLE_CAP: u32 = 10;

/// The clock of the run: times since it began.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> crate::time::Instant {
        crate::time::Instant::from_start(self.0.elapsed())
    }
}

/// A [`Side`] made of a settling test and an ending hook.
struct Hooks<'a> {
    settled: &'a mut dyn FnMut(&[ClientReport]) -> bool,
    ending: &'a mut dyn FnMut(),
}

impl Side for Hooks<'_> {
    fn settled(&mut self, clients: &[ClientReport]) -> bool {
        (self.settled)(clients)
    }

    fn ending(&mut self) {
        (self.ending)()
    }
}

/// Runs `play` against the server at `addr`. Faults in the scripts that a client can cause
/// (`delay`, `client-close`, `client-reset`, `client-shutdown`) are applied where they stand;
/// the server-side ones are the server's business and are passed over.
#[cfg(test)]
pub(crate) fn run_play(
    play: &Play,
    addr: SocketAddr,
    options: &LiveOptions,
    settled: &mut dyn FnMut(&[ClientReport]) -> bool,
) -> LiveRun {
    run_play_then(play, addr, options, settled, &mut || {})
}

/// Runs `play` against the server at `addr` as `run_play` does, calling `ending` once the run
/// is over but before the clients' sockets close: a server blocked on one of them is still
/// blocked then.
pub(crate) fn run_play_then(
    play: &Play,
    addr: SocketAddr,
    options: &LiveOptions,
    settled: &mut dyn FnMut(&[ClientReport]) -> bool,
    ending: &mut dyn FnMut(),
) -> LiveRun {
    let mut side = Hooks { settled, ending };
    run(Cast::of_play(play), addr, options, &mut side)
}

/// Replays transcript `t` against the server at `addr` in file order (see the module docs).
/// A send right before its client's close goes out with the close (`MSG_MORE`), so the
/// server sees "data, then EOF" at once, as the transcript says; `got` lines of a recording
/// wait for their bytes where the recording saw them.
pub(crate) fn run_in_file_order(
    t: &Transcript,
    addr: SocketAddr,
    options: &LiveOptions,
    side: &mut dyn Side,
) -> LiveRun {
    run(Cast::of_transcript(t), addr, options, side)
}

/// What every step of a turn needs to know.
struct Turn<'a> {
    addr: SocketAddr,
    options: &'a LiveOptions,
    clock: Clock,
    now: Instant,
    file_order: bool,
    /// The clients' names and how many steps each has taken, for `after` (concurrent
    /// order, and only a play that has them).
    names: &'a [String],
    done: &'a [u64],
}

fn run(cast: Cast, addr: SocketAddr, options: &LiveOptions, side: &mut dyn Side) -> LiveRun {
    let clock = Clock(Instant::now());
    let Cast {
        names,
        parts,
        server,
        file_order,
    } = cast;
    let mut clients: Vec<Client> = parts
        .into_iter()
        .enumerate()
        .map(|(i, cues)| Client::new(i, &names[i], cues))
        .collect();
    let ordered = !file_order
        && clients.iter().any(|c| {
            c.cues
                .iter()
                .any(|cue| matches!(cue.entry, Entry::Step(Step::After { .. })))
        });
    let mut server_pos = 0;
    let mut run = LiveRun::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut settle_from: Option<Instant> = None;
    let mut last_judged = 0usize;
    // Settling gives up after `timeout` without a byte for anybody (a server still working
    // through a backlog is not hung), and after a hard cap in any case.
    let mut last_progress = Instant::now();
    let mut received_total = 0usize;
    let mut last_mark = (0, 0);
    let mut last_motion = Instant::now();
    loop {
        let now = Instant::now();
        if file_order {
            let turn = Turn {
                addr,
                options,
                clock,
                now,
                file_order,
                names: &names,
                done: &[],
            };
            let server = (server.as_slice(), &mut server_pos);
            if let Err(failure) = in_file_order(&mut clients, server, &turn, &mut run.notes, side) {
                run.failure.get_or_insert(failure);
            }
        } else {
            for i in 0..clients.len() {
                let done: Vec<u64> = if ordered {
                    clients.iter().map(Client::steps_done).collect()
                } else {
                    Vec::new()
                };
                let turn = Turn {
                    addr,
                    options,
                    clock,
                    now,
                    file_order,
                    names: &names,
                    done: &done,
                };
                if let Err(failure) = advance(&mut clients[i], &turn, &mut run.notes, side) {
                    run.failure.get_or_insert(failure);
                }
            }
        }
        if run.failure.is_some() {
            break;
        }
        // A part that cannot go on (a send the server never takes, an `after` never reached)
        // fails once no step was taken and no byte moved for longer than any one step may
        // wait: the run is bounded whatever the server does.
        let mark = motion(&clients, server_pos);
        if mark != last_mark {
            last_mark = mark;
            last_motion = now;
        } else if now - last_motion > options.timeout + options.max_wait
            && let Some(c) = clients
                .iter()
                .filter(|c| !c.done())
                .min_by_key(|c| c.line())
        {
            run.failure = Some(stuck(c, now - last_motion));
            break;
        }
        let received: usize = clients.iter().map(|c| c.report.received.len()).sum();
        if received != received_total {
            received_total = received;
            last_progress = now;
        }
        if clients.iter().all(Client::done) && server_pos >= server.len() {
            let started = *settle_from.get_or_insert(now);
            let all_ended = clients.iter().all(|c| c.ended || c.stream.is_none());
            // Judge only when something new arrived since the last look.
            let mut ok = all_ended;
            if !ok && (received != last_judged || now == started) {
                last_judged = received;
                let reports: Vec<ClientReport> = clients.iter().map(|c| c.report.clone()).collect();
                ok = side.settled(&reports);
            }
            if ok {
                run.settled = true;
                run.settling = now - started;
                break;
            }
            let quiet = now - last_progress.max(started);
            let enough = options.settle_quiet.unwrap_or(options.timeout);
            if quiet >= enough || now - started >= options.timeout * SETTLE_CAP {
                run.settling = now - started;
                break;
            }
        }
        let wait = next_deadline(&clients, now);
        wait_for_io(&mut clients, clock, &mut buf, wait);
    }
    side.ending();
    for c in clients.iter_mut() {
        // What is left of the connection goes with the run.
        c.stream = None;
    }
    run.ports = clients.iter().map(|c| c.port).collect();
    run.clients = clients.into_iter().map(|c| c.report).collect();
    run
}

/// How far the run has come: steps taken (and fault lines passed) and bytes sent. (Bytes
/// received extend nothing: an expectation's deadline runs from its start.)
fn motion(clients: &[Client], server_pos: usize) -> (usize, usize) {
    clients.iter().fold((server_pos, 0), |(pos, sent), c| {
        (pos + c.pos, sent + c.report.sent.len())
    })
}

/// The failure of a client that could not go on for `quiet`.
fn stuck(c: &Client, quiet: Duration) -> LiveFailure {
    let message = match (&c.sending, c.cues.get(c.pos)) {
        (Some((bytes, at, _)), _) => format!(
            "the server took {at} of the {} bytes of a send, then nothing for {}",
            bytes.len(),
            format_duration(quiet)
        ),
        (
            None,
            Some(Cue {
                entry: Entry::Step(step),
                ..
            }),
        ) => format!(
            "could not go on from `{}` for {}",
            crate::text::shorten(&step.to_string()),
            format_duration(quiet)
        ),
        _ => format!("could not go on for {}", format_duration(quiet)),
    };
    failure(c, FailureKind::Timeout, message)
}

/// Takes the transcript's lines in file order as far as it can without waiting: the
/// lowest line not done is the only one that may go.
fn in_file_order(
    clients: &mut [Client],
    (server, server_pos): (&[Cue], &mut usize),
    turn: &Turn<'_>,
    notes: &mut Vec<String>,
    side: &mut dyn Side,
) -> Result<(), LiveFailure> {
    loop {
        let next_client = clients
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.done())
            .min_by_key(|(_, c)| c.line())
            .map(|(i, c)| (i, c.line()));
        let next_server = server.get(*server_pos);
        match (next_client, next_server) {
            (Some((_, line)), Some(cue)) if cue.line < line => {}
            (None, Some(_)) => {}
            (Some((i, _)), _) => {
                let c = &mut clients[i];
                if c.sending.is_some() || !take(c, turn, notes, side)? {
                    return Ok(());
                }
                continue;
            }
            (None, None) => return Ok(()),
        }
        // A fault line of the whole server is next.
        let cue = &server[*server_pos];
        if let Entry::Fault(spec) = cue.entry {
            side.server_fault(None, spec, cue.at, cue.line);
        }
        *server_pos += 1;
    }
}

/// The soonest time a client wants to act, at most 20 ms away.
fn next_deadline(clients: &[Client], now: Instant) -> Duration {
    let mut wait = Duration::from_millis(20);
    for c in clients {
        if let Some(until) = c.until {
            wait = wait.min(until.saturating_duration_since(now));
        }
        if let Some((_, deadline)) = &c.matcher {
            wait = wait.min(deadline.saturating_duration_since(now));
        }
    }
    wait
}

/// Polls every open stream (readable unless paused, writable while sending) for at most
/// `wait`, then reads and writes what is ready.
fn wait_for_io(clients: &mut [Client], clock: Clock, buf: &mut [u8], wait: Duration) {
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(clients.len());
    let mut owners: Vec<usize> = Vec::with_capacity(clients.len());
    for (i, c) in clients.iter().enumerate() {
        let Some(stream) = &c.stream else { continue };
        let mut events = 0;
        if !c.paused && !c.ended {
            events |= libc::POLLIN;
        }
        if c.sending.is_some() {
            events |= libc::POLLOUT;
        }
        if events != 0 {
            fds.push(libc::pollfd {
                fd: stream.as_raw_fd(),
                events,
                revents: 0,
            });
            owners.push(i);
        }
    }
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
    if fds.is_empty() {
        std::thread::sleep(Duration::from_millis(ms as u64));
        return;
    }
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd entries.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return;
    }
    for (p, &i) in fds.iter().zip(&owners) {
        let c = &mut clients[i];
        if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !c.paused {
            read_ready(c, clock, buf);
        }
        if p.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0 && c.sending.is_some() {
            write_ready(c, clock, None);
        }
    }
}

/// Reads what the stream has, up to 1 MiB a turn.
fn read_ready(c: &mut Client, clock: Clock, buf: &mut [u8]) {
    let keep = c.expects_more();
    let mut total = 0;
    while total < 1 << 20 {
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        match stream.read(buf) {
            Ok(0) => {
                c.ended = true;
                c.report.record(clock.now(), EventKind::Eof);
                return;
            }
            Ok(n) => {
                total += n;
                c.report.record_received(clock.now(), &buf[..n]);
                if keep {
                    c.inbox.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                c.ended = true;
                c.reset = true;
                c.report.record(clock.now(), EventKind::Reset);
                return;
            }
        }
    }
}

/// Writes what the send in progress has left, as far as the socket takes it, in pieces of
/// at most `split` bytes.
fn write_ready(c: &mut Client, clock: Clock, split: Option<usize>) {
    let Some((bytes, mut at, more)) = c.sending.take() else {
        return;
    };
    let Some(stream) = c.stream.as_mut() else {
        return;
    };
    let piece = split.unwrap_or(usize::MAX).max(1);
    while at < bytes.len() {
        let chunk = &bytes[at..bytes.len().min(at.saturating_add(piece))];
        let written = if more {
            socket2::SockRef::from(&*stream).send_with_flags(chunk, libc::MSG_MORE)
        } else {
            stream.write(chunk)
        };
        match written {
            Ok(0) => break,
            Ok(n) => {
                c.report.record_sent(clock.now(), &chunk[..n]);
                at += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.sending = Some((bytes, at, more));
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The server reset the connection: the rest goes nowhere. The kernel reports a
            // reset once, here, and later reads only see an end.
            Err(_) => {
                if !c.ended {
                    c.ended = true;
                    c.reset = true;
                    c.report.record(clock.now(), EventKind::Reset);
                }
                break;
            }
        }
    }
    c.pos += 1;
}

/// Bytes waiting to be read on `stream` (0 when that cannot be told).
fn unread_bytes(stream: &TcpStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`, on a descriptor `stream` owns.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r == 0 {
        usize::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

/// Connects to `addr` within `timeout`, giving back a non-blocking stream and the local
/// port, known as soon as the connect began: a connection reset before the handshake's
/// answer is seen still names its port, by which the server's side knows it. The socket's
/// buffers are sized first when `buffer` says so (a receive buffer must be set before the
/// connection's window is agreed).
fn connect(
    addr: SocketAddr,
    timeout: Duration,
    buffer: Option<usize>,
) -> (io::Result<TcpStream>, Option<u16>) {
    use socket2::{Domain, Socket, Type};
    let socket = match Socket::new(Domain::for_address(addr), Type::STREAM, None) {
        Ok(socket) => socket,
        Err(e) => return (Err(e), None),
    };
    if let Some(bytes) = buffer {
        let _ = socket.set_recv_buffer_size(bytes);
        let _ = socket.set_send_buffer_size(bytes);
    }
    if let Err(e) = socket.set_nonblocking(true) {
        return (Err(e), None);
    }
    let started = socket.connect(&addr.into());
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .filter(|p| *p != 0);
    let in_progress = |e: &io::Error| {
        e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EINPROGRESS)
    };
    match started {
        Ok(()) => return (Ok(socket.into()), port),
        Err(e) if !in_progress(&e) => return (Err(e), port),
        Err(_) => {}
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let e = io::Error::new(io::ErrorKind::TimedOut, "connection timed out");
            return (Err(e), port);
        }
        let mut pfd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: polling one descriptor we own.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return (Err(e), port);
        }
        if n == 0 {
            continue;
        }
        return match socket.take_error() {
            Ok(Some(e)) | Err(e) => (Err(e), port),
            Ok(None) => (Ok(socket.into()), port),
        };
    }
}

fn failure(c: &Client, kind: FailureKind, message: String) -> LiveFailure {
    LiveFailure {
        client: c.report.name.clone(),
        kind,
        message,
        line: c.line(),
        expected: None,
        received: None,
    }
}

/// Takes the client's steps as far as it can without waiting (concurrent order).
fn advance(
    c: &mut Client,
    turn: &Turn<'_>,
    notes: &mut Vec<String>,
    side: &mut dyn Side,
) -> Result<(), LiveFailure> {
    while c.pos < c.cues.len() && c.sending.is_none() {
        if !take(c, turn, notes, side)? {
            break;
        }
    }
    Ok(())
}

/// Takes the entry the client is at: `true` when it is done with it, `false` while it waits
/// (for time, bytes, room to send, or another client).
fn take(
    c: &mut Client,
    turn: &Turn<'_>,
    notes: &mut Vec<String>,
    side: &mut dyn Side,
) -> Result<bool, LiveFailure> {
    let (now, clock, options) = (turn.now, turn.clock, turn.options);
    if let Some(until) = c.until {
        if now < until {
            return Ok(false);
        }
        c.until = None;
        // A finished `wait` moves on; a delayed send goes out now.
        if matches!(c.cues[c.pos].entry, Entry::Step(Step::Wait(_))) {
            side.waiting(false);
            c.pos += 1;
            return Ok(true);
        }
    }
    let cue = c.cues[c.pos].clone();
    match cue.entry {
        Entry::Fault(spec) => {
            match spec {
                FaultSpec::Delay(d) => c.delay = d,
                FaultSpec::ClientClose => act(c, &Step::Close, clock),
                FaultSpec::ClientReset => act(c, &Step::Reset, clock),
                FaultSpec::ClientShutdown => act(c, &Step::Shutdown, clock),
                // The server's own faults are its side's business.
                spec => side.server_fault(Some(c.index), spec, cue.at, cue.line),
            }
        }
        Entry::Step(Step::Connect) => {
            side.connecting(c.index);
            let (stream, port) = connect(turn.addr, options.connect_timeout, options.socket_buffer);
            c.port = port;
            match stream {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    c.stream = Some(stream);
                    c.report.record(clock.now(), EventKind::Connected);
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    // Aborted before the server accepted it: the client sees a reset.
                    c.report.record(clock.now(), EventKind::Connected);
                    c.report.record(clock.now(), EventKind::Reset);
                    c.ended = true;
                    c.reset = true;
                }
                Err(e) => {
                    side.connect_failed(c.index);
                    let addr = turn.addr;
                    return Err(failure(
                        c,
                        FailureKind::Connect,
                        format!("cannot connect to {addr}: {e}"),
                    ));
                }
            }
        }
        Entry::Step(Step::After { client, steps }) => {
            // In file order the lines above are done already.
            let reached = turn.file_order
                || turn
                    .names
                    .iter()
                    .position(|name| *name == client)
                    .and_then(|o| turn.done.get(o))
                    .is_none_or(|n| *n >= steps.unwrap_or(0));
            if !reached {
                return Ok(false);
            }
        }
        Entry::Step(Step::Wait(d)) => {
            if d > options.max_wait {
                notes.push(format!(
                    "client {}: `wait {}` cut to {}",
                    c.report.name,
                    format_duration(d),
                    format_duration(options.max_wait)
                ));
            }
            side.waiting(true);
            c.until = Some(now + d.min(options.max_wait));
            return Ok(false);
        }
        Entry::Step(Step::Send(bytes)) => {
            if !c.delay.is_zero() {
                c.until = Some(now + c.delay.min(options.max_wait));
                c.delay = Duration::ZERO;
                return Ok(false);
            }
            if c.stream.is_none() {
                // Closed already: the bytes go nowhere.
                c.pos += 1;
                return Ok(true);
            }
            let more = turn.file_order && c.closes_next();
            c.sending = Some((bytes, 0, more));
            write_ready(c, clock, options.split);
            return Ok(c.sending.is_none());
        }
        Entry::Step(step) if step.is_expectation() => {
            // Observations of a recorded run are what the oracle judges; in file order they
            // wait for their bytes where the recording saw them.
            let observed = matches!(step, Step::Got(_) | Step::GotEof | Step::GotReset);
            if !observed || turn.file_order {
                if !expect(c, &step, options, now)? {
                    return Ok(false);
                }
                c.matcher = None;
            }
        }
        Entry::Step(step) => act(c, &step, clock),
    }
    c.pos += 1;
    Ok(true)
}

/// A step that acts on the connection at once.
fn act(c: &mut Client, step: &Step, clock: Clock) {
    match step {
        Step::Pause => {
            c.paused = true;
            c.report.record(clock.now(), EventKind::Paused);
        }
        Step::Resume => {
            c.paused = false;
            c.report.record(clock.now(), EventKind::Resumed);
        }
        Step::Shutdown => {
            if let Some(stream) = &c.stream {
                let _ = stream.shutdown(Shutdown::Write);
                c.report.record(clock.now(), EventKind::Shutdown);
            }
        }
        Step::Close => {
            if let Some(stream) = c.stream.take() {
                let now = clock.now();
                // Closed with bytes unread, the connection is reset, and the server loses
                // what it had not read yet of the client's last sends.
                if unread_bytes(&stream) > 0 {
                    c.report.cut_unread_at = Some(now);
                }
                c.report.record(now, EventKind::Closed);
            }
            c.sending = None;
        }
        Step::Reset => {
            if let Some(stream) = c.stream.take() {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                c.report.record(clock.now(), EventKind::Aborted);
            }
            c.sending = None;
        }
        _ => {}
    }
}

/// Whether the expectation at the client's position is met; `Err` when it cannot be.
fn expect(
    c: &mut Client,
    step: &Step,
    options: &LiveOptions,
    now: Instant,
) -> Result<bool, LiveFailure> {
    let Some(expectation) = Expectation::of(step) else {
        return Ok(true);
    };
    if c.stream.is_none() && !c.ended {
        // Nothing can come: the client never connected, or closed its connection itself.
        let message = if c.report.closed {
            "the client already closed its connection"
        } else {
            "the client has not connected"
        };
        return Err(failure(
            c,
            FailureKind::UnexpectedReset,
            message.to_string(),
        ));
    }
    let (matcher, deadline) = c
        .matcher
        .get_or_insert_with(|| (Matcher::new(expectation.clone()), now + options.timeout));
    let deadline = *deadline;
    if expectation.is_end() {
        if !c.inbox.is_empty() {
            let message = format!(
                "expected {} but {} came first",
                expectation.end_name(),
                quote_short(&c.inbox)
            );
            return Err(failure(c, FailureKind::Mismatch, message));
        }
        let met = match expectation {
            Expectation::Reset => c.reset,
            _ => c.ended && !c.reset,
        };
        if met {
            return Ok(true);
        }
        if c.ended {
            let message = format!(
                "expected {} but the connection was {}",
                expectation.end_name(),
                if c.reset { "reset" } else { "closed" }
            );
            return Err(failure(c, ended_kind(c), message));
        }
    } else {
        match matcher.feed(&mut c.inbox) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(MatchError::Bytes { expected, got }) => {
                // Bounded: a recorded reply may be hundreds of kilobytes.
                let at = first_difference(&expected, &got);
                let message = format!(
                    "expected {}, received {} (first difference at byte {at})",
                    quote_short(&expected),
                    quote_short(&got)
                );
                return Err(LiveFailure {
                    expected: Some(expected),
                    received: Some(got),
                    ..failure(c, FailureKind::Mismatch, message)
                });
            }
            Err(_) => {
                let message = format!(
                    "received {} where `{}` was expected",
                    quote_short(&matcher.so_far()),
                    crate::text::shorten(&step.to_string())
                );
                return Err(LiveFailure {
                    received: Some(matcher.so_far()),
                    ..failure(c, FailureKind::Mismatch, message)
                });
            }
        }
        if c.ended {
            let message = format!(
                "the server {} the connection before `{step}`",
                if c.reset { "reset" } else { "closed" }
            );
            let so_far = matcher.so_far();
            return Err(with_bytes(failure(c, ended_kind(c), message), step, so_far));
        }
    }
    if now >= deadline {
        let message = format!(
            "timed out after {} waiting for `{step}`",
            format_duration(options.timeout)
        );
        let so_far = c
            .matcher
            .as_ref()
            .map(|(m, _)| m.so_far())
            .unwrap_or_default();
        return Err(with_bytes(
            failure(c, FailureKind::Timeout, message),
            step,
            so_far,
        ));
    }
    Ok(false)
}

/// What a stream that ended before its expectation was met is: a reset where none was
/// expected, or a close (the client received less than its script says).
fn ended_kind(c: &Client) -> FailureKind {
    if c.reset {
        FailureKind::UnexpectedReset
    } else {
        FailureKind::Mismatch
    }
}

/// A failure with the bytes `step` expects and those `received`, for a side-by-side view.
fn with_bytes(failure: LiveFailure, step: &Step, received: Vec<u8>) -> LiveFailure {
    let expected = match step {
        Step::Recv(b) | Step::Got(b) => Some(b.clone()),
        _ => None,
    };
    LiveFailure {
        expected,
        received: Some(received),
        ..failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Script;
    use std::net::TcpListener;

    /// An echo server on a thread: answers each read with the same bytes, closes on EOF.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn clients_run_at_once_and_expectations_wait_for_their_bytes() {
        let addr = echo_server();
        let a = Script::new("a")
            .then(Step::Connect)
            .then(Step::Wait(Duration::from_millis(30)))
            .then(Step::Send(b"late".to_vec()))
            .then(Step::Recv(b"late".to_vec()))
            .then(Step::Close);
        // `b` is listed second but does not wait for `a`'s wait.
        let b = Script::new("b")
            .then(Step::Connect)
            .then(Step::Send(b"early".to_vec()))
            .then(Step::Recv(b"early".to_vec()))
            .then(Step::Shutdown)
            .then(Step::RecvEof);
        let play = Play {
            clients: vec![a, b],
            faults: Vec::new(),
        };
        let run = run_play(&play, addr, &LiveOptions::default(), &mut |_| true);
        assert_eq!(run.failure, None);
        let sent_at = |c: &ClientReport| c.sent_at(0).unwrap();
        assert!(sent_at(&run.clients[1]) < sent_at(&run.clients[0]));
        assert!(run.clients[1].saw_eof);
        assert!(run.ports.iter().all(Option::is_some));
    }

    #[test]
    fn a_close_with_bytes_unread_marks_the_clients_last_sends_as_maybe_never_read() {
        let addr = echo_server();
        // `a` stops reading, so its echo waits unread when it closes: the kernel resets the
        // connection, and the server may lose what it had not read yet.
        let a = Script::new("a")
            .then(Step::Connect)
            .then(Step::Pause)
            .then(Step::Send(b"x".to_vec()))
            .then(Step::Wait(Duration::from_millis(50)))
            .then(Step::Close);
        let b = Script::new("b")
            .then(Step::Connect)
            .then(Step::Send(b"y".to_vec()))
            .then(Step::Recv(b"y".to_vec()))
            .then(Step::Close);
        let play = Play {
            clients: vec![a, b],
            faults: Vec::new(),
        };
        let run = run_play(&play, addr, &LiveOptions::default(), &mut |_| true);
        assert_eq!(run.failure, None);
        let closed_at = run.clients[0].timeline.last().unwrap().at;
        assert_eq!(run.clients[0].cut_unread_at, Some(closed_at));
        assert_eq!(run.clients[1].cut_unread_at, None);
    }

    #[test]
    fn a_wrong_answer_and_a_missing_one_are_failures() {
        let addr = echo_server();
        let wrong = Play {
            clients: vec![
                Script::new("a")
                    .then(Step::Connect)
                    .then(Step::Send(b"ping".to_vec()))
                    .then(Step::Recv(b"pong".to_vec())),
            ],
            faults: Vec::new(),
        };
        let run = run_play(&wrong, addr, &LiveOptions::default(), &mut |_| true);
        let f = run.failure.expect("a mismatch");
        assert_eq!(f.kind, FailureKind::Mismatch);
        assert!(f.message.contains("expected \"pong\""), "{}", f.message);

        let options = LiveOptions {
            timeout: Duration::from_millis(100),
            ..LiveOptions::default()
        };
        let silent = Play {
            clients: vec![
                Script::new("a")
                    .then(Step::Connect)
                    .then(Step::Recv(b"hello".to_vec())),
            ],
            faults: Vec::new(),
        };
        let run = run_play(&silent, addr, &options, &mut |_| true);
        assert_eq!(run.failure.expect("a timeout").kind, FailureKind::Timeout);
    }

    #[test]
    fn settling_waits_for_what_is_owed_and_no_longer() {
        let addr = echo_server();
        let play = Play {
            clients: vec![
                Script::new("a")
                    .then(Step::Connect)
                    .then(Step::Send(vec![b'x'; 300_000])),
            ],
            faults: Vec::new(),
        };
        let run = run_play(&play, addr, &LiveOptions::default(), &mut |clients| {
            clients[0].received.len() == 300_000
        });
        assert!(run.settled);
        assert_eq!(run.clients[0].received.len(), 300_000);
    }

    /// Every hook a run calls, in order, as text.
    #[derive(Default)]
    struct Heard(Vec<String>);

    impl Side for Heard {
        fn connecting(&mut self, client: usize) {
            self.0.push(format!("connecting {client}"));
        }

        fn server_fault(
            &mut self,
            client: Option<usize>,
            spec: FaultSpec,
            at: Option<u64>,
            line: usize,
        ) {
            self.0
                .push(format!("fault {client:?} `{spec}` at {at:?} line {line}"));
        }

        fn waiting(&mut self, begins: bool) {
            self.0.push(format!("waiting {begins}"));
        }
    }

    fn transcript(text: &str) -> Transcript {
        crate::transcript::parse(text).unwrap()
    }

    #[test]
    fn file_order_takes_the_lines_as_written_across_clients() {
        let addr = echo_server();
        let t = transcript(
            "a connect\nb connect\nb wait 40ms\na send \"one\"\nb send \"two\"\na recv \"one\"\nb recv \"two\"\n",
        );
        let run = run_in_file_order(&t, addr, &LiveOptions::default(), &mut Heard::default());
        assert_eq!(run.failure, None);
        let (a, b) = (&run.clients[0], &run.clients[1]);
        assert_eq!((a.name.as_str(), b.name.as_str()), ("a", "b"));
        // `a` sends after `b`'s wait, and `b` after `a`.
        let a_sent = a.sent_at(0).unwrap();
        assert!(a_sent >= crate::time::Instant::from_start(Duration::from_millis(40)));
        assert!(a_sent <= b.sent_at(0).unwrap());

        // The same scripts run concurrently: `a` does not wait for `b`'s wait.
        let play = Play {
            clients: vec![
                Script::new("a")
                    .then(Step::Connect)
                    .then(Step::Send(b"one".to_vec()))
                    .then(Step::Recv(b"one".to_vec())),
                Script::new("b")
                    .then(Step::Connect)
                    .then(Step::Wait(Duration::from_millis(40)))
                    .then(Step::Send(b"two".to_vec()))
                    .then(Step::Recv(b"two".to_vec())),
            ],
            faults: Vec::new(),
        };
        let run = run_play(&play, addr, &LiveOptions::default(), &mut |_| true);
        assert_eq!(run.failure, None);
        assert!(run.clients[0].sent_at(0).unwrap() < run.clients[1].sent_at(0).unwrap());
    }

    #[test]
    fn file_order_hands_each_server_fault_line_to_the_side_when_it_reaches_it() {
        let addr = echo_server();
        let t = transcript(
            "a connect\n! a short-read 2\n! poll-eintr\nb connect\n! b read-reset at 3\na send \"x\"\na wait 1ms\na recv \"x\"\n",
        );
        let mut heard = Heard::default();
        let run = run_in_file_order(&t, addr, &LiveOptions::default(), &mut heard);
        assert_eq!(run.failure, None);
        assert_eq!(
            heard.0,
            [
                "connecting 0",
                "fault Some(0) `short-read 2` at None line 2",
                "fault None `poll-eintr` at None line 3",
                "connecting 1",
                "fault Some(1) `read-reset` at Some(3) line 5",
                "waiting true",
                "waiting false",
            ]
        );
    }

    #[test]
    fn a_failure_in_file_order_names_its_line_and_keeps_both_sides_bytes() {
        let addr = echo_server();
        let t = transcript("a connect\na send \"ping\"\n\na recv \"pong\"\na close\n");
        let run = run_in_file_order(&t, addr, &LiveOptions::default(), &mut Heard::default());
        let f = run.failure.expect("a mismatch");
        assert_eq!(
            (f.kind, f.line, f.client.as_str()),
            (FailureKind::Mismatch, 4, "a")
        );
        assert_eq!(f.expected.as_deref(), Some(&b"pong"[..]));
        assert_eq!(f.received.as_deref(), Some(&b"ping"[..]));
    }

    #[test]
    fn a_recorded_got_line_waits_for_its_bytes_in_file_order_only() {
        let addr = echo_server();
        let options = LiveOptions {
            timeout: Duration::from_millis(300),
            ..LiveOptions::default()
        };
        let t = transcript("a connect\na send \"abc\"\na got \"abd\"\n");
        let run = run_in_file_order(&t, addr, &options, &mut Heard::default());
        let f = run.failure.expect("the recording does not match");
        assert_eq!((f.kind, f.line), (FailureKind::Mismatch, 3));

        // Concurrently, what a recording saw is the oracle's to judge.
        let play = Play {
            clients: vec![
                Script::new("a")
                    .then(Step::Connect)
                    .then(Step::Send(b"abc".to_vec()))
                    .then(Step::Got(b"abd".to_vec())),
            ],
            faults: Vec::new(),
        };
        let run = run_play(&play, addr, &options, &mut |_| true);
        assert_eq!(run.failure, None);
    }

    #[test]
    fn sends_go_in_pieces_of_the_split_size() {
        let addr = echo_server();
        let t = transcript("a connect\na send \"abcdefg\"\na recv \"abcdefg\"\n");
        let options = LiveOptions {
            split: Some(3),
            ..LiveOptions::default()
        };
        let run = run_in_file_order(&t, addr, &options, &mut Heard::default());
        assert_eq!(run.failure, None);
        let pieces: Vec<usize> = run.clients[0]
            .timeline
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Sent(range) => Some(range.len()),
                _ => None,
            })
            .collect();
        assert_eq!(pieces, [3, 3, 1]);
    }

    #[test]
    fn an_expectation_after_the_clients_own_close_fails_at_once() {
        let addr = echo_server();
        let t = transcript("a connect\na close\na recv \"x\"\n");
        let run = run_in_file_order(&t, addr, &LiveOptions::default(), &mut Heard::default());
        let f = run.failure.expect("nothing can come");
        assert_eq!((f.kind, f.line), (FailureKind::UnexpectedReset, 3));
        assert!(f.message.contains("already closed"), "{}", f.message);
    }

    #[test]
    fn a_reset_before_the_bytes_came_is_an_unexpected_reset_and_a_close_a_mismatch() {
        // A server that reads one request, then resets or closes the connection.
        fn ender(reset: bool) -> SocketAddr {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            std::thread::spawn(move || {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let _ = stream.read(&mut [0u8; 64]);
                if reset {
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                }
            });
            addr
        }
        let t = transcript("a connect\na send \"hi\"\na recv \"hi\"\n");
        for (reset, kind) in [
            (true, FailureKind::UnexpectedReset),
            (false, FailureKind::Mismatch),
        ] {
            let run = run_in_file_order(
                &t,
                ender(reset),
                &LiveOptions::default(),
                &mut Heard::default(),
            );
            let f = run.failure.expect("the answer never came");
            assert_eq!((f.kind, f.line), (kind, 3), "{}", f.message);
        }
    }

    #[test]
    fn a_send_before_its_clients_close_leaves_with_the_close_in_file_order() {
        // What the first connection's server side reads within 150 ms, then in all.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut a, _) = listener.accept().unwrap();
            let _b = listener.accept().unwrap();
            a.set_read_timeout(Some(Duration::from_millis(150)))
                .unwrap();
            let mut buf = [0u8; 16];
            let early = a.read(&mut buf).ok();
            a.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut all = Vec::new();
            let _ = a.read_to_end(&mut all);
            (early, all)
        });
        // `b`'s wait stands between `a`'s send and `a`'s close.
        let t = transcript("a connect\nb connect\na send \"x\"\nb wait 400ms\na close\n");
        let run = run_in_file_order(&t, addr, &LiveOptions::default(), &mut Heard::default());
        assert_eq!(run.failure, None);
        let (early, all) = server.join().unwrap();
        assert_eq!(early, None, "the byte left before the close");
        assert_eq!(all, b"x");
    }

    #[test]
    fn a_part_that_cannot_go_on_fails_in_bounded_time() {
        // A server that accepts and never reads: a large send can never finish.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(2).collect();
            std::thread::sleep(Duration::from_secs(5));
            drop(held);
        });
        let options = LiveOptions {
            timeout: Duration::from_millis(200),
            max_wait: Duration::from_millis(100),
            ..LiveOptions::default()
        };
        let big = format!("a connect\na send \"{}\"\na close\n", "x".repeat(1 << 24));
        let run = run_in_file_order(&transcript(&big), addr, &options, &mut Heard::default());
        let f = run.failure.expect("the send never finishes");
        assert_eq!((f.kind, f.line), (FailureKind::Timeout, 2), "{}", f.message);
        assert!(f.message.starts_with("the server took "), "{}", f.message);

        // An `after` that is never reached.
        let play = Play {
            clients: vec![
                Script::new("a").then(Step::Connect).then(Step::After {
                    client: "b".to_string(),
                    steps: Some(5),
                }),
                Script::new("b").then(Step::Connect),
            ],
            faults: Vec::new(),
        };
        let run = run_play(&play, addr, &options, &mut |_| true);
        let f = run.failure.expect("`a` waits for ever");
        assert_eq!(
            (f.kind, f.client.as_str()),
            (FailureKind::Timeout, "a"),
            "{}",
            f.message
        );
        assert!(f.message.contains("`after b 5`"), "{}", f.message);
    }

    #[test]
    fn a_run_longer_than_the_bound_passes_while_its_steps_go_on() {
        let addr = echo_server();
        let options = LiveOptions {
            timeout: Duration::from_millis(60),
            max_wait: Duration::from_millis(60),
            ..LiveOptions::default()
        };
        // Five waits of 50 ms: 250 ms in all, past the 120 ms a stuck part may stand still.
        let t = transcript(
            "a connect\na wait 50ms\na send \"1\"\na wait 50ms\na recv \"1\"\na wait 50ms\na wait 50ms\na wait 50ms\na send \"2\"\na recv \"2\"\n",
        );
        let run = run_in_file_order(&t, addr, &options, &mut Heard::default());
        assert_eq!(run.failure, None);
    }
}
