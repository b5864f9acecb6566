//! `muxsim chaos`: a bounded real-network chaos client.
//!
//! Worker threads run sessions against a target until the duration ends. Most sessions are
//! well-behaved: they send requests and check every answer with the service's reference
//! model, so an answer that never comes is counted as lost. The others abuse the server:
//! abrupt resets, half-closes, byte drips, clients that never read, junk, and clients that
//! connect and vanish. At the end a fresh client checks that the server still answers.
//!
//! Everything is bounded: sessions, reads and writes have timeouts, and the run stops at its
//! duration. Choices come from a seeded generator, so two runs with one seed try the same
//! mix (the network decides the rest).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::check::oracle;
use crate::rng::{SimRng, Stream};
use crate::world::ClientReport;

/// How long a well-behaved client waits for an answer before counting it lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// What a chaos run is told.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    pub target: SocketAddr,
    pub clients: usize,
    pub duration: Duration,
    pub seed: u64,
    /// The protocol spoken: `echo`, `ack` or `lines`.
    pub service: String,
}

/// What a chaos run saw.
#[derive(Clone, Debug, Default)]
pub struct ChaosReport {
    /// Sessions run, by behaviour.
    pub sessions: BTreeMap<&'static str, u64>,
    /// Answers owed to well-behaved and half-closing clients, and how many arrived whole.
    pub owed: u64,
    pub answered: u64,
    /// Answers that arrived but were wrong.
    pub wrong: u64,
    /// Connections the server refused or dropped for well-behaved clients.
    pub failed_connects: u64,
    /// A few examples of what went wrong.
    pub examples: Vec<String>,
    /// Whether a fresh client was still greeted at the end.
    pub survived: bool,
}

impl ChaosReport {
    pub fn lost(&self) -> u64 {
        self.owed - self.answered - self.wrong
    }

    /// Zero lost, zero wrong, and the server still up.
    pub fn is_clean(&self) -> bool {
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
            "answers owed {}, received {}, lost {}, wrong {}; failed connects {}",
            self.owed,
            self.answered,
            self.lost(),
            self.wrong,
            self.failed_connects
        )?;
        for e in &self.examples {
            writeln!(f, "  e.g. {e}")?;
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

fn greeting(service: &str) -> &'static [u8] {
    if service == "lines" {
        b"hello\n"
    } else {
        b"hello"
    }
}

fn connect(target: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.set_write_timeout(Some(Duration::from_millis(500)))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

fn payload(rng: &mut SimRng, service: &str) -> Vec<u8> {
    // No `r`, so echo answers can be told apart from their markers.
    const ALPHABET: &[u8] = b"abcdefghijklmnopqstuvwxyz0123456789";
    let len = rng.between(1, 32) as usize;
    let mut bytes: Vec<u8> = (0..len).map(|_| *rng.pick(ALPHABET)).collect();
    if service == "lines" {
        bytes.push(b'\n');
    }
    bytes
}

/// Reads until the reference model says the client has all it is owed, or the timeout.
fn await_answers(
    stream: &mut TcpStream,
    report: &mut ClientReport,
    service: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let mut buf = [0u8; 4096];
    loop {
        if oracle::judge(service, report, None) == Some(Ok(())) {
            return Ok(());
        }
        // Not complete: still a fair prefix of the answers, or already wrong?
        let so_far = ClientReport {
            closed: true,
            ..report.clone()
        };
        if let Some(Err(e)) = oracle::judge(service, &so_far, None) {
            return Err(format!("wrong answer: {e}"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no answer within {}s: {}",
                ANSWER_TIMEOUT.as_secs(),
                crate::transcript::quote_short(&report.received)
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err("the server closed the connection".to_string()),
            Ok(n) => report.received.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(e) => return Err(format!("the connection failed: {e}")),
        }
    }
}

/// One well-behaved (or half-closing) session; updates `out`.
fn polite(options: &ChaosOptions, rng: &mut SimRng, half_close: bool, out: &mut ChaosReport) {
    let Ok(mut stream) = connect(options.target) else {
        out.failed_connects += 1;
        // A server that is down refuses at once: do not spin on it.
        std::thread::sleep(Duration::from_millis(10));
        return;
    };
    let service = options.service.as_str();
    let mut report = ClientReport::new("chaos", &[], &[]);
    let requests = rng.between(1, 5);
    for i in 0..requests {
        let message = payload(rng, service);
        if stream.write_all(&message).is_err() {
            out.owed += 1;
            out.examples.push("a request could not be sent".to_string());
            return;
        }
        report.sent.extend_from_slice(&message);
        if half_close && i + 1 == requests {
            let _ = stream.shutdown(Shutdown::Write);
        }
        out.owed += 1;
        match await_answers(&mut stream, &mut report, service) {
            Ok(()) => out.answered += 1,
            Err(e) if e.starts_with("wrong") => {
                out.wrong += 1;
                out.examples.push(e);
                return;
            }
            Err(e) => {
                out.examples.push(e);
                return;
            }
        }
    }
    if report.received.len() < greeting(service).len() {
        out.examples.push("no greeting".to_string());
    }
}

fn abusive(options: &ChaosOptions, rng: &mut SimRng, kind: &'static str) {
    let Ok(mut stream) = connect(options.target) else {
        return;
    };
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
}

/// Whether a fresh client is greeted.
pub fn is_up(target: SocketAddr, service: &str) -> bool {
    let Ok(mut stream) = connect(target) else {
        return false;
    };
    let want = greeting(service);
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

/// Runs the chaos clients and reports.
pub fn run(options: &ChaosOptions) -> ChaosReport {
    const ABUSES: [&str; 5] = ["reset", "drip", "never-read", "junk", "vanish"];
    let total = Mutex::new(ChaosReport::default());
    let deadline = Instant::now() + options.duration;
    std::thread::scope(|scope| {
        for worker in 0..options.clients {
            let total = &total;
            scope.spawn(move || {
                let mut rng =
                    SimRng::new(options.seed.wrapping_add(worker as u64), Stream::Scenario);
                let mut mine = ChaosReport::default();
                while Instant::now() < deadline {
                    let roll = rng.below(100);
                    let kind: &'static str = match roll {
                        0..=49 => "well-behaved",
                        50..=59 => "half-close",
                        _ => ABUSES[(roll as usize - 60) % ABUSES.len()],
                    };
                    *mine.sessions.entry(kind).or_default() += 1;
                    match kind {
                        "well-behaved" => polite(options, &mut rng, false, &mut mine),
                        "half-close" => polite(options, &mut rng, true, &mut mine),
                        abuse => abusive(options, &mut rng, abuse),
                    }
                }
                total.lock().unwrap_or_else(|e| e.into_inner()).absorb(mine);
            });
        }
    });
    let mut report = total.into_inner().unwrap_or_else(|e| e.into_inner());
    report.survived = is_up(options.target, &options.service);
    report
}
