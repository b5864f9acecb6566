//! The one event loop: runs a [`Service`] over any [`Backend`].
//!
//! Everything between readiness and protocol lives here, so the simulator exercises exactly
//! the code that serves real sockets:
//!
//! - **Accepting** until `WouldBlock`, at most [`Config::accept_per_turn`] per turn (the rest
//!   is remembered, not left to a new edge). `ECONNABORTED` and the other per-connection errors
//!   of `accept(2)` are skipped. `EMFILE`/`ENFILE` stop accepting for
//!   [`Config::accept_backoff`] instead of spinning on a listener that stays readable; a closed
//!   connection restarts accepting at once.
//! - **Reading** until `WouldBlock`, at most [`Config::read_budget`] bytes per connection per
//!   turn, so one fire-hose client cannot starve the others (epoll(7), "Starvation"). A
//!   connection that still had input when its budget ran out goes on a ready list and is read
//!   next turn without waiting for an event that edge-triggered readiness would never send.
//! - **Writing** optimistically, right after the service answers; what does not fit stays in
//!   the connection's output buffer and `WRITABLE` interest is registered only while output
//!   is pending (the seed's read/write separation).
//! - **Backpressure**: above [`Config::out_high_water`] pending bytes the connection is not
//!   read until it drains to half that; above [`Config::out_hard_limit`] it is cut.
//! - **Closing**: `read() == 0` means the peer shut its write side: the service is told, what
//!   is owed is flushed, then the connection closes. `ECONNRESET`, `EPIPE` and any other error
//!   close it at once. A close the service asks for flushes, shuts the write side and keeps
//!   reading and discarding until EOF or [`Config::linger`] (a lingering close), because
//!   closing with unread input sends an RST that can erase the answer the client has not read.
//! - **Tokens** are slot index plus generation, so an event queued for a connection that has
//!   since closed can never reach the connection that reused its slot.
//! - `EINTR` from any call is retried; from `poll` it is an empty wake-up.
//!
//! # Run loop
//!
//! ```no_run
//! # use muxsim::{driver::{Driver, Config}, backend::mio::MioBackend, core::echo::Echo};
//! let backend = MioBackend::bind("127.0.0.1:9999".parse().unwrap()).unwrap();
//! let mut driver = Driver::new(backend, Echo::default(), Config::default());
//! loop {
//!     driver.turn(None).unwrap();
//!     while let Some(line) = driver.poll_log() {
//!         eprintln!("{line}");
//!     }
//! }
//! ```

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::time::Duration;

use crate::backend::{Backend, Event, Interest, Token, interrupted, would_block};
use crate::core::{CloseReason, ConnId, Output, Service};
use crate::time::Instant;

/// The driver's limits. Every default says why it has that value.
#[derive(Clone, Debug)]
pub struct Config {
    /// Connections served at once; past it a new client gets [`Config::refusal`] and is
    /// closed. 10,000 is Redis's `maxclients`.
    pub max_conns: usize,
    /// Connections accepted per turn before the loop turns to reading. 64 keeps a connect
    /// storm from delaying established clients by more than a few hundred microseconds.
    pub accept_per_turn: usize,
    /// Bytes read from one connection per turn. 64 KiB is four of Redis's 16 KiB reads: large
    /// enough that a busy client needs few turns, small enough that it cannot starve others.
    pub read_budget: usize,
    /// Size of one read. 16 KiB is Redis's I/O buffer and a common socket receive chunk.
    pub read_chunk: usize,
    /// Pending output above which the connection is no longer read (backpressure). 256 KiB
    /// rides out a burst without stalling a healthy client.
    pub out_high_water: usize,
    /// Pending output at which the connection is cut. 4 MiB bounds what one slow reader can
    /// make the server hold, well above what the high-water mark lets through.
    pub out_hard_limit: usize,
    /// How long to stop accepting after `EMFILE`/`ENFILE`. 50 ms lets descriptors free up
    /// without a noticeable pause for new clients, and costs nothing while saturated.
    pub accept_backoff: Duration,
    /// How long a lingering close waits for the peer's EOF. 2 s is long enough for the peer
    /// to read the last answer on any working network and short enough not to hoard sockets.
    pub linger: Duration,
    /// A connection that sends nothing for this long is closed (`None`: never). 300 s matches
    /// the TCP keepalive Redis uses to find peers that vanished without a FIN.
    pub idle_timeout: Option<Duration>,
    /// What a client turned away by [`Config::max_conns`] reads before the close.
    pub refusal: Vec<u8>,
    /// Whether to keep a log (see [`Driver::poll_log`]). The simulator turns it off unless a
    /// trace is asked for: formatting lines nobody reads is most of a small run's cost.
    pub log: bool,
    /// A defect kept for demonstrations: read once per readiness event instead of draining
    /// until `WouldBlock`. Correct under level-triggered readiness, stalls under
    /// edge-triggered readiness. Never set it in a real server.
    pub read_once_per_event: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_conns: 10_000,
            accept_per_turn: 64,
            read_budget: 64 * 1024,
            read_chunk: 16 * 1024,
            out_high_water: 256 * 1024,
            out_hard_limit: 4 * 1024 * 1024,
            accept_backoff: Duration::from_millis(50),
            linger: Duration::from_secs(2),
            idle_timeout: Some(Duration::from_secs(300)),
            refusal: b"error: max number of clients reached\n".to_vec(),
            log: true,
            read_once_per_event: false,
        }
    }
}

/// Counters kept by the driver, for logs, checks and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub polls: u64,
    pub accepted: u64,
    pub refused: u64,
    pub closed: u64,
    pub resets: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Times accepting stopped because descriptors ran out.
    pub accept_backoffs: u64,
    /// Registrations the backend refused (for example a descriptor past `select`'s limit).
    pub register_failures: u64,
    /// Outputs that named a connection that was already gone: a bug in the service.
    pub sends_to_closed: u64,
    /// Events for tokens the driver no longer knows (stale or spurious).
    pub stale_events: u64,
    /// Connections cut by a limit (output hard limit, idle timeout).
    pub limited: u64,
}

/// One line of the driver's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub at: Instant,
    pub conn: Option<ConnId>,
    pub text: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.conn {
            Some(conn) => write!(f, "[{}] {conn}: {}", self.at, self.text),
            None => write!(f, "[{}] {}", self.at, self.text),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    /// The service asked to close: flush, then shut down the write side and linger.
    Closing,
    /// Write side shut; input is read and discarded until EOF or the deadline.
    Lingering {
        until: Instant,
    },
}

struct Conn<T> {
    stream: T,
    /// Output not yet written is `out[out_pos..]`; allocated only when a write falls short.
    out: Vec<u8>,
    out_pos: usize,
    registered: Interest,
    peer_fin: bool,
    paused: bool,
    queued: bool,
    phase: Phase,
    last_active: Instant,
    /// Turned away by the connection limit: never shown to the service.
    is_refusal: bool,
}

impl<T> Conn<T> {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    fn wanted_interest(&self) -> Interest {
        let lingering = matches!(self.phase, Phase::Lingering { .. });
        Interest {
            readable: lingering || (!self.paused && !self.peer_fin),
            writable: self.pending() > 0,
        }
    }
}

struct Slot<T> {
    generation: u32,
    conn: Option<Conn<T>>,
}

/// What became of a connection after an operation on it.
enum Fate {
    Alive,
    Gone,
}

/// The event loop. See the module docs for what it guarantees.
pub struct Driver<B: Backend, S: Service> {
    backend: B,
    service: S,
    config: Config,
    slots: Vec<Slot<B::Stream>>,
    free: Vec<u32>,
    served: usize,
    refusing: usize,
    ready: VecDeque<ConnId>,
    /// Connection deadlines (idle or linger), checked lazily against the connection's state.
    deadlines: BTreeSet<(Instant, ConnId)>,
    events: Vec<Event>,
    buf: Vec<u8>,
    accept_pending: bool,
    backoff_until: Option<Instant>,
    stats: Stats,
    log: VecDeque<LogLine>,
    /// Connections closed whose service has not yet been told: outputs it queued for them
    /// before hearing of the close are dropped without blame.
    dying: Vec<(ConnId, CloseReason)>,
    /// Connections with output queued by the service and not yet written.
    unflushed: Vec<ConnId>,
    /// The backend's clock, read once per turn (after the poll): everything in one turn
    /// happens at one instant, and the clock is not read per request.
    now: Instant,
}

fn conn_id(slot: u32, generation: u32) -> ConnId {
    ConnId(u64::from(generation) << 32 | u64::from(slot))
}

fn split(id: ConnId) -> (usize, u32) {
    ((id.0 & 0xffff_ffff) as usize, (id.0 >> 32) as u32)
}

/// The live connection `id` names, if its slot still holds that generation. A free function
/// so that callers can borrow the backend alongside.
fn lookup<T>(slots: &mut [Slot<T>], id: ConnId) -> Option<&mut Conn<T>> {
    let (index, generation) = split(id);
    let slot = slots.get_mut(index)?;
    if slot.generation != generation {
        return None;
    }
    slot.conn.as_mut()
}

impl<B: Backend, S: Service> Driver<B, S> {
    /// A driver serving `service` over `backend`.
    pub fn new(backend: B, service: S, config: Config) -> Self {
        let buf = vec![0; config.read_chunk.max(1)];
        Driver {
            backend,
            service,
            config,
            slots: Vec::new(),
            free: Vec::new(),
            served: 0,
            refusing: 0,
            ready: VecDeque::new(),
            deadlines: BTreeSet::new(),
            events: Vec::new(),
            buf,
            accept_pending: true,
            backoff_until: None,
            stats: Stats::default(),
            log: VecDeque::new(),
            dying: Vec::new(),
            unflushed: Vec::new(),
            now: Instant::ZERO,
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub fn service(&self) -> &S {
        &self.service
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Connections the service currently knows about.
    pub fn live_connections(&self) -> usize {
        self.served
    }

    /// Bytes of output waiting to be written, over all connections.
    pub fn pending_output(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .map(Conn::pending)
            .sum()
    }

    /// The next line of the driver's log.
    pub fn poll_log(&mut self) -> Option<LogLine> {
        self.log.pop_front()
    }

    /// Whether the driver has work it can do without a new readiness event: a connection
    /// left over its read budget, connections left in the accept queue, or a deadline that
    /// has passed.
    pub fn has_work(&self) -> bool {
        !self.ready.is_empty()
            || (self.accept_pending && self.backoff_until.is_none())
            || self
                .next_deadline()
                .is_some_and(|d| d <= self.backend.now())
    }

    /// The earliest time the driver wants to run again with no event.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next = self.service.poll_timeout();
        for candidate in [self.deadlines.first().map(|d| d.0), self.backoff_until] {
            next = match (next, candidate) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        next
    }

    /// One turn of the loop: poll (waiting at most `max_wait`, and never past the next
    /// deadline), handle every event, serve the ready list, fire due deadlines.
    ///
    /// Returns an error only when the poll itself fails; every error of a single connection
    /// is handled by closing that connection.
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        let now = self.backend.now();
        self.now = now;
        let mut timeout = self
            .next_deadline()
            .map(|deadline| deadline.saturating_since(now));
        if !self.ready.is_empty() || (self.accept_pending && self.backoff_until.is_none()) {
            timeout = Some(Duration::ZERO);
        }
        timeout = match (timeout, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut events = std::mem::take(&mut self.events);
        self.stats.polls += 1;
        match self.backend.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if interrupted(&e) => events.clear(),
            Err(e) => {
                self.events = events;
                return Err(e);
            }
        }
        self.now = self.backend.now();
        for event in &events {
            self.handle_event(*event);
        }
        self.events = events;
        if self.accept_pending && self.backoff_until.is_none() {
            self.accept_ready();
        }
        self.serve_ready_list();
        self.fire_deadlines();
        Ok(())
    }

    fn handle_event(&mut self, event: Event) {
        if event.token == Token::LISTENER {
            if event.readable && self.backoff_until.is_none() {
                self.accept_ready();
            }
            return;
        }
        let id = ConnId(event.token.0);
        if self.conn_mut(id).is_none() {
            // Spurious, or for a connection that closed after the event was queued.
            self.stats.stale_events += 1;
            return;
        }
        if event.writable && matches!(self.flush(id), Fate::Gone) {
            return;
        }
        if event.readable {
            self.read_from(id);
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn<B::Stream>> {
        lookup(&mut self.slots, id)
    }

    fn note(&mut self, conn: Option<ConnId>, text: String) {
        if !self.config.log {
            return;
        }
        let at = self.now;
        self.log.push_back(LogLine { at, conn, text });
    }

    // ----- accepting -------------------------------------------------------------------

    fn accept_ready(&mut self) {
        self.accept_pending = false;
        let mut accepted = 0;
        while accepted < self.config.accept_per_turn {
            match self.backend.accept() {
                Ok(stream) => {
                    accepted += 1;
                    self.admit(stream);
                }
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => continue,
                Err(e) if crate::backend::is_accept_retry(&e) => {
                    self.note(None, format!("accept: {e}; continuing"));
                }
                Err(e) => {
                    // EMFILE, ENFILE and anything unknown: the connection stays queued, so
                    // accepting again now would spin. Stop and retry after a pause, or as
                    // soon as a connection closes.
                    let until = self.now + self.config.accept_backoff;
                    self.note(
                        None,
                        format!(
                            "accept: {e}; pausing accepts for {}",
                            crate::transcript::format_duration(self.config.accept_backoff)
                        ),
                    );
                    self.stats.accept_backoffs += 1;
                    self.backoff_until = Some(until);
                    self.accept_pending = true;
                    if let Err(e) = self.backend.set_accepting(false) {
                        self.note(None, format!("listener: {e}"));
                    }
                    return;
                }
            }
        }
        // Budget spent with connections possibly still queued: come back next turn.
        self.accept_pending = true;
    }

    fn resume_accepting(&mut self) {
        if self.backoff_until.take().is_some() {
            if let Err(e) = self.backend.set_accepting(true) {
                self.note(None, format!("listener: {e}"));
            }
            self.accept_pending = true;
        }
    }

    fn admit(&mut self, mut stream: B::Stream) {
        let is_refusal = self.served >= self.config.max_conns;
        if is_refusal && self.refusing >= self.config.max_conns.max(64) {
            // A flood of refused clients: do not hold sockets open to say so politely.
            self.stats.refused += 1;
            self.backend.close(stream);
            return;
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[index as usize].generation;
        let id = conn_id(index, generation);
        let log = self.config.log;
        let peer = if log {
            self.backend.describe(&stream)
        } else {
            String::new()
        };
        if let Err(e) = self
            .backend
            .register(&mut stream, Token(id.0), Interest::READABLE)
        {
            self.stats.register_failures += 1;
            self.note(Some(id), format!("cannot watch {peer}: {e}; closing it"));
            self.backend.close(stream);
            self.free.push(index);
            return;
        }
        let now = self.now;
        self.slots[index as usize].conn = Some(Conn {
            stream,
            out: Vec::new(),
            out_pos: 0,
            registered: Interest::READABLE,
            peer_fin: false,
            paused: false,
            queued: false,
            phase: Phase::Open,
            last_active: now,
            is_refusal,
        });
        if is_refusal {
            self.stats.refused += 1;
            self.refusing += 1;
            self.note(
                Some(id),
                format!(
                    "refused {peer}: {} connections is the limit",
                    self.config.max_conns
                ),
            );
            let refusal = self.config.refusal.clone();
            self.queue_output(id, refusal);
            if let Some(conn) = self.conn_mut(id) {
                conn.phase = Phase::Closing;
            }
            self.flush(id);
            return;
        }
        self.stats.accepted += 1;
        self.served += 1;
        if log {
            self.note(Some(id), format!("open from {peer}"));
        }
        if let Some(idle) = self.config.idle_timeout {
            self.deadlines.insert((now + idle, id));
        }
        self.service.handle_connected(now, id);
        self.drain_service();
    }

    // ----- reading ---------------------------------------------------------------------

    fn read_from(&mut self, id: ConnId) {
        let mut budget = self.config.read_budget;
        let read_once = self.config.read_once_per_event;
        loop {
            let Some(conn) = lookup(&mut self.slots, id) else {
                return;
            };
            let lingering = matches!(conn.phase, Phase::Lingering { .. });
            if !lingering && (conn.paused || conn.peer_fin || conn.phase != Phase::Open) {
                return;
            }
            if budget == 0 {
                if !conn.queued {
                    conn.queued = true;
                    self.ready.push_back(id);
                }
                return;
            }
            let want = budget.min(self.buf.len());
            let result = self.backend.read(&mut conn.stream, &mut self.buf[..want]);
            match result {
                Ok(0) => {
                    conn.peer_fin = true;
                    if lingering {
                        self.close_conn(id, CloseReason::Requested);
                        return;
                    }
                    if !conn.is_refusal {
                        let now = self.now;
                        self.service.handle_peer_closed(now, id);
                        self.drain_service();
                    }
                    self.after_progress(id);
                    return;
                }
                Ok(n) => {
                    budget -= n;
                    let now = self.now;
                    conn.last_active = now;
                    self.stats.bytes_read += n as u64;
                    if !lingering && !conn.is_refusal {
                        self.service.handle_received(now, id, &self.buf[..n]);
                        self.drain_service();
                    }
                    if read_once {
                        return;
                    }
                }
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    self.note(Some(id), format!("read: {e}"));
                    self.close_conn(id, CloseReason::Reset);
                    return;
                }
            }
        }
    }

    fn serve_ready_list(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let Some(conn) = self.conn_mut(id) else {
                continue;
            };
            if !conn.queued {
                continue;
            }
            conn.queued = false;
            self.read_from(id);
        }
    }

    // ----- the service's outputs ---------------------------------------------------------

    fn drain_service(&mut self) {
        loop {
            let Some(output) = self.service.poll_output() else {
                if !self.unflushed.is_empty() {
                    for conn in std::mem::take(&mut self.unflushed) {
                        self.flush(conn);
                    }
                    continue;
                }
                // Tell the service of closes only once it has nothing queued, so that what
                // it sent before it knew is not mistaken for a send after the close.
                if self.dying.is_empty() {
                    return;
                }
                let now = self.now;
                for (id, reason) in std::mem::take(&mut self.dying) {
                    self.service.handle_closed(now, id, reason);
                }
                continue;
            };
            match output {
                Output::Send { conn, bytes } => {
                    if self.dying.iter().any(|(id, _)| *id == conn) {
                        continue;
                    }
                    if self.conn_mut(conn).is_none_or(|c| c.phase != Phase::Open) {
                        self.stats.sends_to_closed += 1;
                        self.note(
                            Some(conn),
                            format!("service sent {} bytes after close; dropped", bytes.len()),
                        );
                        continue;
                    }
                    if bytes.is_empty() {
                        continue;
                    }
                    // Written once the service has said all it has to say: sixteen
                    // pipelined answers leave in one write, not sixteen.
                    self.queue_output(conn, bytes);
                    if !self.unflushed.contains(&conn) {
                        self.unflushed.push(conn);
                    }
                }
                Output::Close { conn } => {
                    let Some(c) = self.conn_mut(conn) else {
                        continue;
                    };
                    if c.phase == Phase::Open {
                        c.phase = Phase::Closing;
                        self.flush(conn);
                    }
                }
                Output::Log { conn, line } => self.note(Some(conn), line),
            }
        }
    }

    fn queue_output(&mut self, id: ConnId, bytes: Vec<u8>) {
        let high_water = self.config.out_high_water;
        let hard_limit = self.config.out_hard_limit;
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        if conn.pending() + bytes.len() > hard_limit {
            let pending = conn.pending();
            self.stats.limited += 1;
            self.note(
                Some(id),
                format!(
                    "output limit: {} bytes pending, limit {hard_limit}; closing",
                    pending + bytes.len()
                ),
            );
            self.close_conn(id, CloseReason::Limit);
            return;
        }
        if conn.out_pos == conn.out.len() {
            // Nothing pending: take the service's buffer as it is, no copy.
            conn.out = bytes;
            conn.out_pos = 0;
        } else {
            if conn.out_pos > conn.out.len() / 2 {
                conn.out.drain(..conn.out_pos);
                conn.out_pos = 0;
            }
            conn.out.extend_from_slice(&bytes);
        }
        if conn.pending() > high_water && !conn.paused {
            conn.paused = true;
            let pending = conn.pending();
            self.note(
                Some(id),
                format!("{pending} bytes pending, over {high_water}: pausing reads"),
            );
        }
    }

    // ----- writing ---------------------------------------------------------------------

    fn flush(&mut self, id: ConnId) -> Fate {
        loop {
            let Some(conn) = lookup(&mut self.slots, id) else {
                return Fate::Gone;
            };
            if conn.pending() == 0 {
                break;
            }
            let result = self
                .backend
                .write(&mut conn.stream, &conn.out[conn.out_pos..]);
            match result {
                Ok(n) => {
                    conn.out_pos += n;
                    self.stats.bytes_written += n as u64;
                    if n == 0 {
                        break;
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    self.note(Some(id), format!("write: {e}"));
                    self.close_conn(id, CloseReason::Reset);
                    return Fate::Gone;
                }
            }
        }
        self.after_progress(id)
    }

    /// After a read or write: release memory, resume reading, finish a close, and bring the
    /// registered interest up to date.
    fn after_progress(&mut self, id: ConnId) -> Fate {
        let high_water = self.config.out_high_water;
        let linger = self.config.linger;
        let now = self.now;
        let Some(conn) = self.conn_mut(id) else {
            return Fate::Gone;
        };
        let mut resumed = false;
        if conn.pending() == 0 {
            conn.out = Vec::new();
            conn.out_pos = 0;
        }
        if conn.paused && conn.pending() <= high_water / 2 {
            conn.paused = false;
            resumed = true;
            if !conn.queued {
                conn.queued = true;
                self.ready.push_back(id);
            }
        }
        let Some(conn) = lookup(&mut self.slots, id) else {
            return Fate::Gone;
        };
        if conn.pending() == 0 {
            match conn.phase {
                Phase::Closing if conn.peer_fin => {
                    self.close_conn(id, CloseReason::Requested);
                    return Fate::Gone;
                }
                Phase::Closing => {
                    let until = now + linger;
                    conn.phase = Phase::Lingering { until };
                    if let Err(e) = self.backend.shutdown_write(&mut conn.stream) {
                        self.note(Some(id), format!("shutdown: {e}"));
                        self.close_conn(id, CloseReason::Requested);
                        return Fate::Gone;
                    }
                    self.deadlines.insert((until, id));
                    // Input may already be waiting, and an edge-triggered backend will not
                    // report it again.
                    if let Some(conn) = self.conn_mut(id)
                        && !conn.queued
                    {
                        conn.queued = true;
                        self.ready.push_back(id);
                    }
                }
                Phase::Open if conn.peer_fin => {
                    self.close_conn(id, CloseReason::Finished);
                    return Fate::Gone;
                }
                _ => {}
            }
        }
        if resumed {
            self.note(Some(id), "output drained: resuming reads".to_string());
        }
        self.update_interest(id)
    }

    fn update_interest(&mut self, id: ConnId) -> Fate {
        let Some(conn) = lookup(&mut self.slots, id) else {
            return Fate::Gone;
        };
        let wanted = conn.wanted_interest();
        if wanted == conn.registered || wanted.is_empty() {
            return Fate::Alive;
        }
        let result = self
            .backend
            .reregister(&mut conn.stream, Token(id.0), wanted);
        match result {
            Ok(()) => {
                conn.registered = wanted;
                Fate::Alive
            }
            Err(e) => {
                self.note(Some(id), format!("reregister: {e}"));
                self.close_conn(id, CloseReason::Reset);
                Fate::Gone
            }
        }
    }

    // ----- closing and deadlines ---------------------------------------------------------

    fn close_conn(&mut self, id: ConnId, reason: CloseReason) {
        let (index, generation) = split(id);
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        let Some(conn) = slot.conn.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index as u32);
        self.backend.close(conn.stream);
        self.stats.closed += 1;
        if reason == CloseReason::Reset {
            self.stats.resets += 1;
        }
        if conn.is_refusal {
            self.refusing -= 1;
        } else {
            self.served -= 1;
            let how = match reason {
                CloseReason::Finished => "closed by peer",
                CloseReason::Requested => "closed",
                CloseReason::Reset => "reset",
                CloseReason::Limit => "cut by a limit",
            };
            if self.config.log {
                self.note(Some(id), how.to_string());
            }
            self.dying.push((id, reason));
            self.drain_service();
        }
        // Descriptors just freed up: a paused listener can try again.
        self.resume_accepting();
    }

    fn fire_deadlines(&mut self) {
        let now = self.now;
        if self.backoff_until.is_some_and(|until| until <= now) {
            self.resume_accepting();
            self.accept_ready();
        }
        if self.service.poll_timeout().is_some_and(|t| t <= now) {
            self.service.handle_timeout(now);
            self.drain_service();
        }
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, id));
            let idle = self.config.idle_timeout;
            let Some(conn) = self.conn_mut(id) else {
                continue;
            };
            match conn.phase {
                Phase::Lingering { until } if until <= now => {
                    self.close_conn(id, CloseReason::Requested);
                }
                Phase::Lingering { .. } => {}
                _ => {
                    let Some(idle) = idle else { continue };
                    let due = conn.last_active + idle;
                    if due > now {
                        self.deadlines.insert((due, id));
                    } else {
                        self.stats.limited += 1;
                        self.note(
                            Some(id),
                            format!(
                                "idle for {}: closing",
                                crate::transcript::format_duration(idle)
                            ),
                        );
                        self.close_conn(id, CloseReason::Limit);
                    }
                }
            }
        }
        self.drain_service();
    }
}
