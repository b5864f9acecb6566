//! `muxsim load`: a load generator for the `lines` protocol, one thread on mio.
//!
//! Each active connection keeps `depth` requests in flight; every request is a line of `size`
//! bytes naming its connection and sequence number, and every answer is checked byte for byte
//! (`LINEresponse\n`), so the load doubles as a correctness check. Idle connections connect,
//! read their greeting and then only hold their socket, to measure what idle clients cost a
//! server. Latency goes into an HDR histogram; the generator's own CPU time is reported so a
//! benchmark can tell when the load, not the server, is the bottleneck.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct LoadOptions {
    pub(crate) target: SocketAddr,
    /// Connections sending requests.
    pub(crate) conns: usize,
    /// Requests in flight per connection.
    pub(crate) depth: usize,
    /// Bytes per request line, newline excluded (at least 16).
    pub(crate) size: usize,
    pub(crate) duration: Duration,
    /// Connections that only hold their socket.
    pub(crate) idle: usize,
    /// Longest ramp-up: measuring starts once every connection is greeted, or after this.
    pub(crate) warmup: Duration,
}

/// What a load run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct LoadReport {
    pub(crate) requests: u64,
    pub(crate) seconds: f64,
    /// Requests per second while measuring.
    pub(crate) req_per_s: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    pub(crate) errors: u64,
    /// The first few errors, for the operator.
    pub(crate) examples: Vec<String>,
    pub(crate) connected: usize,
    pub(crate) idle_connected: usize,
    /// The load generator's own user and system CPU time.
    pub(crate) cpu_user_s: f64,
    pub(crate) cpu_system_s: f64,
}

impl LoadReport {
    pub(crate) fn rate(&self) -> f64 {
        self.req_per_s
    }

    /// Why the run measured nothing worth reporting, if it did not: a tool that measures
    /// fails when it measured nothing.
    pub(crate) fn problem(&self, options: &LoadOptions) -> Option<String> {
        if self.connected == 0 && options.conns > 0 {
            return Some(format!(
                "no connection was greeted with `hello\\n` within the {} s warm-up: is this a `lines` server?",
                options.warmup.as_secs_f64()
            ));
        }
        if self.requests == 0 && options.conns > 0 {
            return Some("no request was answered while measuring".to_string());
        }
        if self.errors > 0 {
            return Some(format!("{} connection(s) failed", self.errors));
        }
        None
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} requests in {:.2} s: {:.0} req/s; latency p50 {:.0} us, p99 {:.0} us, p999 {:.0} us",
            self.requests,
            self.seconds,
            self.rate(),
            self.p50_us,
            self.p99_us,
            self.p999_us
        )?;
        writeln!(
            f,
            "{} active and {} idle connections; {} errors; load generator CPU {:.2} s user, {:.2} s system",
            self.connected, self.idle_connected, self.errors, self.cpu_user_s, self.cpu_system_s
        )?;
        for e in &self.examples {
            writeln!(f, "  e.g. {e}")?;
        }
        Ok(())
    }
}

struct Conn {
    stream: TcpStream,
    id: usize,
    greeted: bool,
    idle: bool,
    out: Vec<u8>,
    inbox: Vec<u8>,
    /// Send times of requests in flight, oldest first, with their sequence numbers.
    inflight: std::collections::VecDeque<(Instant, u64)>,
    next_seq: u64,
    broken: bool,
}

fn request(id: usize, seq: u64, size: usize) -> Vec<u8> {
    let mut line = format!("c{id}-s{seq}-").into_bytes();
    while line.len() < size {
        line.push(b'a' + (line.len() % 26) as u8);
    }
    line.push(b'\n');
    line
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own and keeps no pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// Runs the load and reports.
pub(crate) fn run(options: &LoadOptions) -> io::Result<LoadReport> {
    let size = options.size.max(16);
    let mut poll = Poll::new()?;
    let total = options.conns + options.idle;
    let mut conns: Vec<Conn> = Vec::with_capacity(total);
    // Connections are opened a batch at a time while few are still waiting for their
    // greeting: a thousand SYNs at once overflow the listen queue and then wait out TCP's
    // one-second retransmission.
    let open_more = |conns: &mut Vec<Conn>, poll: &mut Poll| -> io::Result<()> {
        let waiting = conns.iter().filter(|c| !c.greeted && !c.broken).count();
        let room = 128usize.saturating_sub(waiting);
        for _ in 0..room.min(total - conns.len()) {
            let id = conns.len();
            let mut stream = TcpStream::connect(options.target)?;
            let _ = stream.set_nodelay(true);
            poll.registry().register(
                &mut stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(Conn {
                stream,
                id,
                greeted: false,
                idle: id >= options.conns,
                out: Vec::new(),
                inbox: Vec::new(),
                inflight: std::collections::VecDeque::new(),
                next_seq: 0,
                broken: false,
            });
        }
        Ok(())
    };
    open_more(&mut conns, &mut poll)?;
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let mut events = Events::with_capacity(1024);
    let mut errors = 0u64;
    let mut examples = Vec::new();
    let mut requests = 0u64;
    let (user0, system0) = cpu_times();
    let started = Instant::now();
    let warmup_end = started + options.warmup;
    let mut end = warmup_end + options.duration;
    let mut measuring = false;
    let mut measure_start = warmup_end;
    let mut buf = vec![0u8; 64 * 1024];
    let mut ready: Vec<usize> = (0..conns.len()).collect();
    let mut since_sweep = Instant::now();
    while Instant::now() < end {
        if conns.len() < total {
            let before = conns.len();
            open_more(&mut conns, &mut poll)?;
            ready.extend(before..conns.len());
        }
        if !measuring
            && (Instant::now() >= warmup_end
                || (conns.len() == total && conns.iter().all(|c| c.greeted || c.broken)))
        {
            measuring = true;
            measure_start = Instant::now();
            end = measure_start + options.duration;
            requests = 0;
            histogram.reset();
        }
        for &i in &ready {
            let c = &mut conns[i];
            if c.broken {
                continue;
            }
            if let Err(e) = pump(c, &mut buf, options.depth, size, &mut |latency| {
                if measuring {
                    requests += 1;
                    let _ = histogram.record(latency.as_micros().max(1) as u64);
                }
            }) {
                errors += 1;
                if examples.len() < 5 {
                    examples.push(format!("connection {}: {e}", c.id));
                }
                c.broken = true;
                let _ = poll.registry().deregister(&mut c.stream);
            }
        }
        ready.clear();
        let wait = end
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50));
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        ready.extend(events.iter().map(|e| e.token().0));
        if !measuring && since_sweep.elapsed() >= Duration::from_millis(100) {
            // While ramping up, now and then also look at every connection still waiting for
            // its greeting, in case its only edge came before it was ready to be read.
            since_sweep = Instant::now();
            ready.extend(
                conns
                    .iter()
                    .filter(|c| !c.greeted && !c.broken)
                    .map(|c| c.id),
            );
        }
    }
    let seconds = measure_start.elapsed().as_secs_f64();
    let (user1, system1) = cpu_times();
    let q = |p: f64| histogram.value_at_quantile(p) as f64;
    Ok(LoadReport {
        requests,
        seconds,
        req_per_s: requests as f64 / seconds.max(1e-9),
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        errors,
        examples,
        connected: conns
            .iter()
            .filter(|c| !c.idle && c.greeted && !c.broken)
            .count(),
        idle_connected: conns
            .iter()
            .filter(|c| c.idle && c.greeted && !c.broken)
            .count(),
        cpu_user_s: user1 - user0,
        cpu_system_s: system1 - system0,
    })
}

/// Reads, checks, refills and writes one connection until it would block.
fn pump(
    c: &mut Conn,
    buf: &mut [u8],
    depth: usize,
    size: usize,
    record: &mut dyn FnMut(Duration),
) -> Result<(), String> {
    loop {
        match c.stream.read(buf) {
            Ok(0) => return Err("the server closed the connection".to_string()),
            Ok(n) => c.inbox.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut consumed = 0;
    while let Some(nl) = c.inbox[consumed..].iter().position(|b| *b == b'\n') {
        let line = &c.inbox[consumed..consumed + nl];
        consumed += nl + 1;
        if !c.greeted {
            if line != b"hello" {
                return Err(format!(
                    "expected the greeting, got {:?}",
                    String::from_utf8_lossy(line)
                ));
            }
            c.greeted = true;
            continue;
        }
        let Some((sent_at, seq)) = c.inflight.pop_front() else {
            return Err("an answer to nothing".to_string());
        };
        let mut want = request(c.id, seq, size);
        want.pop();
        want.extend_from_slice(b"response");
        if line != want.as_slice() {
            return Err(format!(
                "request {seq}: wrong answer {:?}",
                String::from_utf8_lossy(&line[..line.len().min(60)])
            ));
        }
        record(sent_at.elapsed());
    }
    c.inbox.drain(..consumed);
    if c.greeted && !c.idle {
        let now = Instant::now();
        while c.inflight.len() < depth {
            let seq = c.next_seq;
            c.next_seq += 1;
            c.out.extend_from_slice(&request(c.id, seq, size));
            c.inflight.push_back((now, seq));
        }
    }
    while !c.out.is_empty() {
        match c.stream.write(&c.out) {
            Ok(0) => return Err("the server stopped reading".to_string()),
            Ok(n) => {
                c.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}
