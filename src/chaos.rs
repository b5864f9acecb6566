//! `muxsim chaos`: a bounded real-network chaos client.
//!
//! Worker threads run sessions against a target until the duration ends. Most sessions are
//! well-behaved: they send requests framed as the service's protocol frames them — of every
//! size from one byte to a mebibyte, one at a time or pipelined in bursts — and check every
//! answer with the service's oracle, so an answer that never comes is counted as lost and a
//! wrong one as wrong. Large requests and bursts are what expose a server that ignores a short
//! `send()` or reads once per edge; slow readers (a small receive buffer, a burst, a pause
//! before reading) make the server's `send()` take only part of what it is given. The other sessions abuse the server: abrupt resets,
//! half-closes, byte drips, clients that never read, junk, and clients that connect and
//! vanish. At the end a fresh client checks that the server still answers.
//!
//! Everything is bounded: sessions, reads and writes have timeouts, and the run stops at its
//! duration, or as soon as the server stops accepting connections (the report says when).
//! Choices come from a seeded generator, so two runs with one seed try the same mix (the
//! network decides the rest).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::rng::{SimRng, Stream};
use crate::service::{Protocol, ServiceDescriptor, ServiceOptions};
use crate::text::quote_short;
use crate::timeline::{ClientReport, EventKind};

/// How long a well-behaved client waits for its answers before counting them lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a slow reader waits for its mebibytes of answers: a correct server busy with
/// many clients may take a while; a server that lost bytes is caught by the first wrong one.
const SLOW_READER_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest request a session sends: 1 MiB, far past any socket buffer, so a server that
/// writes without checking how much was taken loses part of the answer.
const MAX_REQUEST: usize = 1 << 20;

/// What a chaos run is told.
#[derive(Clone, Debug)]
pub(crate) struct ChaosOptions {
    pub(crate) target: SocketAddr,
    pub(crate) clients: usize,
    pub(crate) duration: Duration,
    pub(crate) seed: u64,
    pub(crate) service: ServiceDescriptor,
    pub(crate) options: ServiceOptions,
}

/// What a chaos run saw.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ChaosReport {
    /// Sessions that connected, by behaviour.
    pub(crate) sessions: BTreeMap<&'static str, u64>,
    /// Requests sent by well-behaved and half-closing clients, and how many were answered.
    pub(crate) owed: u64,
    pub(crate) answered: u64,
    /// Requests whose answer arrived but was wrong.
    pub(crate) wrong: u64,
    /// Connects that failed.
    pub(crate) failed_connects: u64,
    /// The largest request sent, in bytes.
    pub(crate) largest_request: u64,
    /// A few examples of what went wrong.
    pub(crate) examples: Vec<String>,
    /// Whether a fresh client was still greeted at the end.
    pub(crate) survived: bool,
    /// When the server stopped accepting connections, if it did, in seconds from the start.
    pub(crate) died_after_s: Option<f64>,
}

impl ChaosReport {
    pub(crate) fn lost(&self) -> u64 {
        self.owed - self.answered - self.wrong
    }

    /// Zero lost, zero wrong, and the server still up.
    pub(crate) fn is_clean(&self) -> bool {
        self.lost() == 0 && self.wrong == 0 && self.failed_connects == 0 && self.survived
    }

    fn absorb(&mut self, other: ChaosReport) {
        for (k, v) in other.sessions {
            *self.sessions.entry(k).or_default() += v;
        }
        self.owed += other.owed;
        self.answered += other.answered;
        self.wrong += other.wrong;
        self.failed_connects += other.failed_connects;
        self.largest_request = self.largest_request.max(other.largest_request);
        for e in other.examples {
            if self.examples.len() < 5 {
                self.examples.push(e);
            }
        }
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sessions: Vec<String> = self
            .sessions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(f, "sessions: {}", sessions.join(", "))?;
        writeln!(
            f,
            "requests owed an answer {}, answered {}, lost {}, wrong {}; largest request {} bytes; failed connects {}",
            self.owed,
            self.answered,
            self.lost(),
            self.wrong,
            self.largest_request,
            self.failed_connects
        )?;
        for e in &self.examples {
            writeln!(f, "  e.g. {e}")?;
        }
        if let Some(at) = self.died_after_s {
            writeln!(
                f,
                "the server stopped accepting connections after {at:.1} s"
            )?;
        }
        write!(
            f,
            "server {}",
            if self.survived {
                "survived"
            } else {
                "did NOT survive: a fresh client got no greeting"
            }
        )
    }
}

fn connect(target: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A connection whose receive buffer is as small as the kernel allows, set before the
/// connection's window is agreed.
fn connect_small(target: SocketAddr) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(target),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    let _ = socket.set_recv_buffer_size(4096);
    socket.connect_timeout(&target.into(), Duration::from_secs(2))?;
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A request payload: the protocol's next session message most of the time when it has a
/// session (`sent` is what this session said before), else mostly small, sometimes of any
/// size up to [`MAX_REQUEST`] (log-uniform), from the protocol's alphabet (no delimiter
/// bytes).
fn payload(rng: &mut SimRng, protocol: &Protocol, sent: &mut Vec<Vec<u8>>) -> Vec<u8> {
    if protocol.has_session() && rng.chance(800_000) {
        let mut next = crate::service::protocol::Next::new(0, sent, rng);
        if let Some(message) = protocol.propose(&mut next) {
            sent.push(message.clone());
            return message;
        }
    }
    let len = if rng.chance(200_000) {
        // 2^k for k in 5..=20, then anywhere below the next power: every size class.
        let k = rng.between(5, 20);
        rng.between(1 << (k - 1), 1 << k) as usize
    } else {
        rng.between(1, 32) as usize
    };
    let len = match protocol.get_max_message() {
        Some((limit, _)) => len.min(limit),
        None => len,
    }
    .clamp(1, MAX_REQUEST);
    let mut alphabet: Vec<u8> = protocol.get_alphabet().to_vec();
    if let crate::service::Framing::Delimited(d) = protocol.framing() {
        alphabet.retain(|b| !d.contains(b));
    }
    if alphabet.is_empty() {
        alphabet.push(b'a');
    }
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        let word = rng.next_u64().to_le_bytes();
        for b in word.into_iter().take(len - bytes.len()) {
            bytes.push(alphabet[usize::from(b) % alphabet.len()]);
        }
    }
    bytes
}

struct Session<'a> {
    options: &'a ChaosOptions,
    protocol: Protocol,
    started: Instant,
}

impl Session<'_> {
    fn now(&self) -> crate::time::Instant {
        crate::time::Instant::from_start(self.started.elapsed())
    }

    fn judge(&self, report: &ClientReport) -> Result<(), String> {
        self.options.service.judge(&self.options.options, report)
    }

    /// Reads until the oracle says the client has all it is owed, or `timeout`.
    fn await_answers(
        &self,
        stream: &mut TcpStream,
        report: &mut ClientReport,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 64 * 1024];
        // Judging costs as much as the bytes received: judge again when a quarter more has
        // come, or when the stream went quiet, so mebibytes of answers stay cheap.
        let mut judged: Option<usize> = None;
        let mut quiet = true;
        loop {
            let len = report.received.len();
            let due =
                judged.is_none_or(|j| len != j && (quiet || len < 256 << 10 || len >= j + j / 4));
            if due {
                judged = Some(len);
                if self.judge(report).is_ok() {
                    return Ok(());
                }
                // Not complete: still a fair prefix of the answers, or already wrong?
                let mut so_far = report.clone();
                so_far.disrupted = true;
                if let Err(e) = self.judge(&so_far) {
                    return Err(format!("wrong answer: {e}"));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no complete answer within {} s: received {}",
                    timeout.as_secs(),
                    quote_short(&report.received)
                ));
            }
            match stream.read(&mut buf) {
                Ok(0) => {
                    report.record(self.now(), EventKind::Eof);
                    // A close the oracle accepts (a declared deadline) ends the session.
                    return self
                        .judge(report)
                        .map_err(|e| format!("the server closed the connection: {e}"));
                }
                Ok(n) => {
                    quiet = false;
                    report.record_received(self.now(), &buf[..n]);
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    quiet = true;
                }
                Err(e) => return Err(format!("the connection failed: {e}")),
            }
        }
    }

    /// A slow reader: a small receive buffer, a burst of large requests, a pause before it
    /// reads. The answers pile up in the server, whose `send()` then takes only part of what
    /// it is given: a server that does not keep the rest loses it. Every answer is checked.
    fn slow_reader(&self, rng: &mut SimRng, out: &mut ChaosReport) -> bool {
        let Ok(mut stream) = connect_small(self.options.target) else {
            out.failed_connects += 1;
            return false;
        };
        *out.sessions.entry("slow-reader").or_default() += 1;
        let mut report = ClientReport::new("chaos");
        report.record(self.now(), EventKind::Connected);
        // Mebibytes of answers: more than the server's send buffer holds while the client's
        // window is shut.
        let burst = rng.between(64, 128);
        let limit = self
            .protocol
            .get_max_message()
            .map_or(MAX_REQUEST, |(l, _)| l);
        let mut bytes = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..burst {
            let len = (rng.between(32 << 10, 64 << 10) as usize).min(limit).max(1);
            let mut request = payload(rng, &self.protocol, &mut sent);
            request.resize(len, *request.first().unwrap_or(&b'a'));
            out.largest_request = out.largest_request.max(request.len() as u64);
            bytes.extend(self.protocol.frame(&request, None));
        }
        out.owed += burst;
        let sender = stream.try_clone().ok().map(|mut w| {
            let bytes = bytes.clone();
            std::thread::spawn(move || w.write_all(&bytes))
        });
        report.record_sent(self.now(), &bytes);
        // Not reading for a while: the server's writes run into a full socket. Then a
        // normal buffer, so the answers drain at loopback speed.
        std::thread::sleep(Duration::from_millis(300));
        let _ = socket2::SockRef::from(&stream).set_recv_buffer_size(4 << 20);
        let result = self.await_answers(&mut stream, &mut report, SLOW_READER_TIMEOUT);
        if let Some(sender) = sender {
            let _ = sender.join();
        }
        self.tally(result, burst, out);
        true
    }

    /// One well-behaved (or half-closing) session; updates `out`. False when the server
    /// refused the connection.
    fn polite(&self, rng: &mut SimRng, half_close: bool, out: &mut ChaosReport) -> bool {
        let Ok(mut stream) = connect(self.options.target) else {
            out.failed_connects += 1;
            return false;
        };
        *out.sessions
            .entry(if half_close {
                "half-close"
            } else {
                "well-behaved"
            })
            .or_default() += 1;
        let mut report = ClientReport::new("chaos");
        report.record(self.now(), EventKind::Connected);
        let rounds = rng.between(1, 4);
        let mut sent = Vec::new();
        for round in 0..rounds {
            // A burst of pipelined requests in one write, or a single one.
            let burst = if rng.chance(300_000) {
                rng.between(2, 16)
            } else {
                1
            };
            let mut bytes = Vec::new();
            for _ in 0..burst {
                let request = payload(rng, &self.protocol, &mut sent);
                out.largest_request = out.largest_request.max(request.len() as u64);
                bytes.extend(self.protocol.frame(&request, None));
            }
            out.owed += burst;
            let writer = stream.try_clone().ok();
            // Write from a helper thread: a megabyte of requests must not wait for the
            // client to read the answers the server is already sending.
            let sender = writer.map(|mut w| {
                let bytes = bytes.clone();
                std::thread::spawn(move || w.write_all(&bytes))
            });
            report.record_sent(self.now(), &bytes);
            if half_close && round + 1 == rounds {
                if let Some(sender) = sender {
                    let _ = sender.join();
                }
                let _ = stream.shutdown(Shutdown::Write);
                report.record(self.now(), EventKind::Shutdown);
                let result = self.await_answers(&mut stream, &mut report, ANSWER_TIMEOUT);
                self.tally(result, burst, out);
                return true;
            }
            let result = self.await_answers(&mut stream, &mut report, ANSWER_TIMEOUT);
            if let Some(sender) = sender {
                let _ = sender.join();
            }
            if !self.tally(result, burst, out) {
                return true;
            }
        }
        true
    }

    /// Counts a burst's result; false when the session should end.
    fn tally(&self, result: Result<(), String>, burst: u64, out: &mut ChaosReport) -> bool {
        match result {
            Ok(()) => {
                out.answered += burst;
                true
            }
            Err(e) if e.starts_with("wrong") => {
                out.wrong += burst;
                out.examples.push(e);
                false
            }
            Err(e) => {
                out.examples.push(e);
                false
            }
        }
    }

    fn abusive(&self, rng: &mut SimRng, kind: &'static str, out: &mut ChaosReport) -> bool {
        let Ok(mut stream) = connect(self.options.target) else {
            out.failed_connects += 1;
            return false;
        };
        *out.sessions.entry(kind).or_default() += 1;
        match kind {
            "reset" => {
                let _ = stream.write_all(b"half a requ");
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            }
            "drip" => {
                for _ in 0..rng.between(3, 10) {
                    if stream.write_all(b"d").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            "never-read" => {
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..16 {
                    if stream.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }
            "junk" => {
                let len = rng.between(1, 64 * 1024) as usize;
                let junk: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                let _ = stream.write_all(&junk);
            }
            // "vanish": connect and go, without a word.
            _ => {}
        }
        true
    }
}

/// Whether a fresh client is greeted as the protocol says.
pub(crate) fn is_up(target: SocketAddr, protocol: &Protocol) -> bool {
    let Ok(mut stream) = connect(target) else {
        return false;
    };
    let want = protocol.get_greeting();
    if want.is_empty() {
        return true;
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let mut buf = [0u8; 64];
    while got.len() < want.len() && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(_) => return false,
        }
    }
    got.starts_with(want)
}

/// Runs the chaos clients and reports. An error when the target cannot be reached at all.
pub(crate) fn run(options: &ChaosOptions) -> Result<ChaosReport, String> {
    const ABUSES: [&str; 5] = ["reset", "drip", "never-read", "junk", "vanish"];
    if !options.service.has_oracle() {
        return Err(format!(
            "chaos checks answers with the service's oracle, and `{}` has none",
            options.service.name()
        ));
    }
    if let Err(e) = connect(options.target) {
        return Err(format!("cannot connect to {}: {e}", options.target));
    }
    let protocol = options.service.protocol_for(&options.options);
    let started = Instant::now();
    let total = Mutex::new(ChaosReport::default());
    let deadline = started + options.duration;
    let dead = AtomicBool::new(false);
    let died_at: Mutex<Option<Duration>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for worker in 0..options.clients {
            let (total, dead, died_at, protocol) = (&total, &dead, &died_at, &protocol);
            scope.spawn(move || {
                let session = Session {
                    options,
                    protocol: protocol.clone(),
                    started,
                };
                let mut rng =
                    SimRng::new(options.seed.wrapping_add(worker as u64), Stream::Scenario);
                let mut mine = ChaosReport::default();
                while Instant::now() < deadline && !dead.load(Ordering::Relaxed) {
                    let roll = rng.below(100);
                    let connected = match roll {
                        0..=46 => session.polite(&mut rng, false, &mut mine),
                        47..=49 => session.slow_reader(&mut rng, &mut mine),
                        50..=59 => session.polite(&mut rng, true, &mut mine),
                        _ => {
                            let kind = ABUSES[(roll as usize - 60) % ABUSES.len()];
                            session.abusive(&mut rng, kind, &mut mine)
                        }
                    };
                    if !connected && !is_up(options.target, protocol) {
                        // The server is gone: say when, and stop hammering it.
                        let mut at = died_at.lock().unwrap_or_else(|e| e.into_inner());
                        at.get_or_insert(started.elapsed());
                        dead.store(true, Ordering::Relaxed);
                    }
                }
                total.lock().unwrap_or_else(|e| e.into_inner()).absorb(mine);
            });
        }
    });
    let mut report = total.into_inner().unwrap_or_else(|e| e.into_inner());
    report.survived = is_up(options.target, &protocol);
    report.died_after_s = died_at
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .map(|d| d.as_secs_f64());
    Ok(report)
}
