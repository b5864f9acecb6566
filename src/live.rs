//! Clients over real sockets, all at once: a [`Play`] run against a server at an address, as
//! the simulator runs it against a core.
//!
//! Each client follows its script in order — connect, send, wait, pause, shut down, close,
//! reset, and the expectations of a fixture — while the others follow theirs; nobody waits
//! for anybody else. Clients read whenever bytes arrive (unless paused), so a client never
//! deadlocks the server by not reading, and sends never block the others: every socket is
//! non-blocking, and one `poll(2)` drives them all. Every event lands on the client's
//! timeline ([`ClientReport`]) with the time since the run began.
//!
//! When the scripts are done, the run settles: it keeps reading until the caller's `settled`
//! test says the clients have what they are owed (an oracle), every stream has ended, or the
//! time is up.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::failure::FailureKind;
use crate::fault::FaultSpec;
use crate::script::{Entry, Expectation, MatchError, Matcher, Step};
use crate::text::{first_difference, format_duration, quote_short};
use crate::timeline::{ClientReport, EventKind};
use crate::world::Play;

/// How long a run may take, and what it does with long waits.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) struct LiveOptions {
    /// How long an expectation waits for its bytes, and the run settles at most.
    pub timeout: Duration,
    /// The longest a `wait` step (or a `delay` fault) really waits.
    pub max_wait: Duration,
    /// How long a connect may take.
    pub connect_timeout: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            timeout: Duration::from_secs(2),
            max_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
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

struct Client {
    entries: Vec<Entry>,
    pos: usize,
    stream: Option<TcpStream>,
    report: ClientReport,
    port: Option<u16>,
    /// Bytes received that an expectation has not taken yet (kept only while one is ahead).
    inbox: Vec<u8>,
    paused: bool,
    /// A `wait` (or a delayed send) in progress: when it ends.
    until: Option<Instant>,
    /// A send in progress: its bytes and how many left.
    sending: Option<(Vec<u8>, usize)>,
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
        let taken = &self.entries[..self.pos.min(self.entries.len())];
        taken.iter().filter(|e| matches!(e, Entry::Step(_))).count() as u64
    }

    fn new(name: &str, entries: Vec<Entry>) -> Self {
        Client {
            entries,
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
        self.pos >= self.entries.len() && self.sending.is_none()
    }

    fn expects_more(&self) -> bool {
        self.entries[self.pos.min(self.entries.len())..]
            .iter()
            .any(|e| matches!(e, Entry::Step(step) if step.is_expectation()))
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

/// Runs `play` against the server at `addr` as `run_play` does, calling `ending` once the run is over but before the clients' sockets
/// close: a server blocked on one of them is still blocked then.
pub(crate) fn run_play_then(
    play: &Play,
    addr: SocketAddr,
    options: &LiveOptions,
    settled: &mut dyn FnMut(&[ClientReport]) -> bool,
    ending: &mut dyn FnMut(),
) -> LiveRun {
    let clock = Clock(Instant::now());
    let mut clients: Vec<Client> = play
        .clients
        .iter()
        .map(|s| Client::new(&s.name, s.entries.clone()))
        .collect();
    let names: Vec<String> = play.clients.iter().map(|s| s.name.clone()).collect();
    let ordered = play
        .clients
        .iter()
        .any(|s| s.steps().any(|step| matches!(step, Step::After { .. })));
    let mut run = LiveRun::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut settle_from: Option<Instant> = None;
    let mut last_judged = 0usize;
    // Settling gives up after `timeout` without a byte for anybody (a server still working
    // through a backlog is not hung), and after a hard cap in any case.
    let mut last_progress = Instant::now();
    let mut received_total = 0usize;
    loop {
        let now = Instant::now();
        for i in 0..clients.len() {
            // What each client has done, for `after` steps (only a play that has them).
            let done: Vec<u64> = if ordered {
                clients.iter().map(Client::steps_done).collect()
            } else {
                Vec::new()
            };
            let c = &mut clients[i];
            let order = (names.as_slice(), done.as_slice());
            if let Err(failure) = advance(c, addr, options, clock, &mut run.notes, now, order) {
                run.failure.get_or_insert(failure);
            }
        }
        if run.failure.is_some() {
            break;
        }
        let received: usize = clients.iter().map(|c| c.report.received.len()).sum();
        if received != received_total {
            received_total = received;
            last_progress = now;
        }
        if clients.iter().all(Client::done) {
            let started = *settle_from.get_or_insert(now);
            let all_ended = clients.iter().all(|c| c.ended || c.stream.is_none());
            // Judge only when something new arrived since the last look.
            let mut ok = all_ended;
            if !ok && (received != last_judged || now == started) {
                last_judged = received;
                let reports: Vec<ClientReport> = clients.iter().map(|c| c.report.clone()).collect();
                ok = settled(&reports);
            }
            if ok {
                run.settled = true;
                run.settling = now - started;
                break;
            }
            let quiet = now - last_progress.max(started);
            if quiet >= options.timeout || now - started >= options.timeout * SETTLE_CAP {
                run.settling = now - started;
                break;
            }
        }
        let wait = next_deadline(&clients, now);
        wait_for_io(&mut clients, clock, &mut buf, wait);
    }
    ending();
    for c in clients.iter_mut() {
        // What is left of the connection goes with the run.
        c.stream = None;
    }
    run.ports = clients.iter().map(|c| c.port).collect();
    run.clients = clients.into_iter().map(|c| c.report).collect();
    run
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
            write_ready(c, clock);
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

/// Writes what the send in progress has left, as far as the socket takes it.
fn write_ready(c: &mut Client, clock: Clock) {
    let Some((bytes, mut at)) = c.sending.take() else {
        return;
    };
    let Some(stream) = c.stream.as_mut() else {
        return;
    };
    while at < bytes.len() {
        match stream.write(&bytes[at..]) {
            Ok(0) => break,
            Ok(n) => {
                c.report.record_sent(clock.now(), &bytes[at..at + n]);
                at += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.sending = Some((bytes, at));
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

/// Connects to `addr` within `timeout`, giving back a non-blocking stream and the local
/// port, known as soon as the connect began: a connection reset before the handshake's
/// answer is seen still names its port, by which the server's side knows it.
fn connect(addr: SocketAddr, timeout: Duration) -> (io::Result<TcpStream>, Option<u16>) {
    use socket2::{Domain, Socket, Type};
    let socket = match Socket::new(Domain::for_address(addr), Type::STREAM, None) {
        Ok(socket) => socket,
        Err(e) => return (Err(e), None),
    };
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
    }
}

/// Takes the client's steps as far as it can without waiting; `order` names the clients and
/// says how many steps each has taken, for `after`.
fn advance(
    c: &mut Client,
    addr: SocketAddr,
    options: &LiveOptions,
    clock: Clock,
    notes: &mut Vec<String>,
    now: Instant,
    order: (&[String], &[u64]),
) -> Result<(), LiveFailure> {
    while c.pos < c.entries.len() && c.sending.is_none() {
        if let Some(until) = c.until {
            if now < until {
                return Ok(());
            }
            c.until = None;
            // A finished `wait` moves on; a delayed send goes out now.
            if matches!(c.entries[c.pos], Entry::Step(Step::Wait(_))) {
                c.pos += 1;
                continue;
            }
        }
        match c.entries[c.pos].clone() {
            Entry::Fault(spec) => {
                match spec {
                    FaultSpec::Delay(d) => c.delay = d,
                    FaultSpec::ClientClose => act(c, &Step::Close, clock),
                    FaultSpec::ClientReset => act(c, &Step::Reset, clock),
                    FaultSpec::ClientShutdown => act(c, &Step::Shutdown, clock),
                    // The server's own faults are the server's business.
                    _ => {}
                }
                c.pos += 1;
            }
            Entry::Step(Step::Connect) => {
                let (stream, port) = connect(addr, options.connect_timeout);
                c.port = port;
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                        // Aborted before the server accepted it: the client sees a reset.
                        c.report.record(clock.now(), EventKind::Connected);
                        c.report.record(clock.now(), EventKind::Reset);
                        c.ended = true;
                        c.reset = true;
                        c.pos += 1;
                        continue;
                    }
                    Err(e) => {
                        return Err(failure(
                            c,
                            FailureKind::Connect,
                            format!("cannot connect to {addr}: {e}"),
                        ));
                    }
                };
                let _ = stream.set_nodelay(true);
                c.stream = Some(stream);
                c.report.record(clock.now(), EventKind::Connected);
                c.pos += 1;
            }
            Entry::Step(Step::After { client, steps }) => {
                let (names, done) = order;
                let reached = names
                    .iter()
                    .position(|name| *name == client)
                    .and_then(|o| done.get(o))
                    .is_none_or(|n| *n >= steps.unwrap_or(0));
                if !reached {
                    return Ok(());
                }
                c.pos += 1;
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
                c.until = Some(now + d.min(options.max_wait));
                return Ok(());
            }
            Entry::Step(Step::Send(bytes)) => {
                if !c.delay.is_zero() {
                    c.until = Some(now + c.delay.min(options.max_wait));
                    c.delay = Duration::ZERO;
                    return Ok(());
                }
                if c.stream.is_none() {
                    // Closed already: the bytes go nowhere.
                    c.pos += 1;
                    continue;
                }
                c.sending = Some((bytes, 0));
                write_ready(c, clock);
            }
            Entry::Step(step) if step.is_expectation() => {
                if matches!(step, Step::Got(_) | Step::GotEof | Step::GotReset) {
                    // Observations of a recorded run: what the oracle judges, not a script.
                    c.pos += 1;
                    continue;
                }
                if !expect(c, &step, options, now)? {
                    return Ok(());
                }
                c.matcher = None;
                c.pos += 1;
            }
            Entry::Step(step) => {
                act(c, &step, clock);
                c.pos += 1;
            }
        }
    }
    Ok(())
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
            if c.stream.take().is_some() {
                c.report.record(clock.now(), EventKind::Closed);
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
            return Err(failure(c, FailureKind::Mismatch, message));
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
                return Err(failure(c, FailureKind::Mismatch, message));
            }
            Err(_) => {
                let message = format!(
                    "received {} where `{}` was expected",
                    quote_short(&matcher.so_far()),
                    crate::text::shorten(&step.to_string())
                );
                return Err(failure(c, FailureKind::Mismatch, message));
            }
        }
        if c.ended {
            let message = format!(
                "the server {} the connection before `{step}`",
                if c.reset { "reset" } else { "closed" }
            );
            return Err(failure(c, FailureKind::Mismatch, message));
        }
    }
    if now >= deadline {
        let message = format!(
            "timed out after {} waiting for `{step}`",
            format_duration(options.timeout)
        );
        return Err(failure(c, FailureKind::Timeout, message));
    }
    Ok(false)
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
}
