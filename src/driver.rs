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
//!   Where the backend guarantees that a later poll reports what is left
//!   ([`Backend::may_stop_at_short_io`]: level-triggered backends and Linux epoll), a read
//!   that returns fewer bytes than asked ends the drain: the read that would only say
//!   `WouldBlock` is skipped — unless the peer's hang-up came with the event, whose EOF no
//!   later event announces.
//! - **Writing** optimistically, straight from the buffer the service wrote its answers into;
//!   only what the socket does not take is copied into the connection's output buffer, and
//!   `WRITABLE` interest is registered only while output is pending (the seed's read/write
//!   separation).
//! - **Backpressure**: above [`Config::out_high_water`] pending bytes the connection is not
//!   read until it drains to half that; above [`Config::out_hard_limit`] it is cut.
//! - **Closing**: `read() == 0` means the peer shut its write side: the service is told, what
//!   is owed is flushed, then the connection closes. `ECONNRESET`, `EPIPE` and any other error
//!   close it at once. A close the service asks for flushes, shuts the write side and keeps
//!   reading and discarding until EOF or [`Config::linger`] (a lingering close), because
//!   closing with unread input sends an RST that can erase the answer the client has not read.
//! - **Deadlines**: an idle connection is closed after [`Config::idle_timeout`]. Connections
//!   sit on a list ordered by their last input, so checking the deadline costs nothing per
//!   idle connection.
//! - **Tokens** are slot index plus generation, so an event queued for a connection that has
//!   since closed can never reach the connection that reused its slot.
//! - `EINTR` from any call is retried; from `poll` it is an empty wake-up.
//!
//! # Interest follows the connection's state
//!
//! A connection asks to hear only about what it will act on: readable while it reads (open or
//! lingering), writable while output is pending. A paused or closing connection does not
//! read, so it does not ask for readability: under level-triggered readiness a socket whose
//! input nobody reads would be reported on every poll, and the loop would spin.
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
use crate::heap::{self, Call};
use crate::text::format_duration;
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
    /// Deliberate defects, for tests that prove the simulator catches them.
    #[cfg(test)]
    pub(crate) defect: Option<Defect>,
}

/// A deliberate defect of the driver, compiled only into the crate's own tests: each one
/// proves that a check of the simulator fails when the thing it checks breaks.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    /// Read once per readiness event instead of draining: correct under level-triggered
    /// readiness, stalls under edge-triggered readiness.
    ReadOncePerEvent,
    /// Stop at a short read or write whatever the backend says: correct on Linux epoll and
    /// level-triggered backends, stalls under the portable edge-triggered contract.
    StopAtShortIo,
    /// Take the shortcut but ignore the hang-up an event carries: data and FIN that arrive
    /// together leave the EOF unread under Linux epoll.
    IgnoreHangUp,
    /// Read again after `WouldBlock`: the loop never leaves the turn.
    RetryWouldBlock,
    /// Read into an empty buffer, whose `Ok(0)` would look like the peer's EOF.
    EmptyRead,
    /// Write an empty buffer before each read.
    EmptyWrite,
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
            #[cfg(test)]
            defect: None,
        }
    }
}

/// Counters kept by the driver, for logs, checks and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Polls of the backend.
    pub(crate) polls: u64,
    /// Connections admitted and shown to the service.
    pub(crate) accepted: u64,
    /// Connections turned away by the connection limit.
    pub(crate) refused: u64,
    /// Connections closed, for any reason.
    pub(crate) closed: u64,
    /// Connections closed by a reset or an I/O error.
    pub(crate) resets: u64,
    /// Read calls made.
    pub(crate) reads: u64,
    /// Write calls made.
    pub(crate) writes: u64,
    /// Bytes read.
    pub(crate) bytes_read: u64,
    /// Bytes written.
    pub(crate) bytes_written: u64,
    /// Times accepting stopped because descriptors ran out.
    pub(crate) accept_backoffs: u64,
    /// Registrations the backend refused (for example a descriptor past `select`'s limit).
    pub(crate) register_failures: u64,
    /// Outputs that named a connection that was already gone, or that the service had
    /// already asked to close: a bug in the service.
    pub(crate) sends_to_closed: u64,
    /// Events for tokens the driver no longer knows (stale or spurious).
    pub(crate) stale_events: u64,
    /// Connections cut by a limit (output hard limit, idle timeout).
    pub(crate) limited: u64,
}

impl Stats {
    /// Polls of the backend.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Connections admitted and shown to the service.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Connections turned away by the connection limit.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Connections closed, for any reason.
    pub fn closed(&self) -> u64 {
        self.closed
    }

    /// Connections closed by a reset or an I/O error.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Read calls made.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Write calls made.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Bytes read.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes written.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Times accepting stopped because descriptors ran out.
    pub fn accept_backoffs(&self) -> u64 {
        self.accept_backoffs
    }

    /// Registrations the backend refused (for example a descriptor past `select`'s limit).
    pub fn register_failures(&self) -> u64 {
        self.register_failures
    }

    /// Outputs that named a connection that was already gone, or that the service had
    /// already asked to close: a bug in the service.
    pub fn sends_to_closed(&self) -> u64 {
        self.sends_to_closed
    }

    /// Events for tokens the driver no longer knows (stale or spurious).
    pub fn stale_events(&self) -> u64 {
        self.stale_events
    }

    /// Connections cut by a limit (output hard limit, idle timeout).
    pub fn limited(&self) -> u64 {
        self.limited
    }
}

/// One line of the driver's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When it happened.
    pub(crate) at: Instant,
    /// The connection it is about, if any.
    pub(crate) conn: Option<ConnId>,
    /// What happened.
    pub(crate) text: String,
}

impl LogLine {
    /// When it happened.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// The connection it is about, if any.
    pub fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    /// What happened.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.conn {
            Some(conn) => write!(f, "[{}] {conn}: {}", self.at, self.text),
            None => write!(f, "[{}] {}", self.at, self.text),
        }
    }
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading and writing.
    Open,
    /// Output above the high-water mark: not read until it drains to half.
    Paused,
    /// The peer shut its write side: flush what is owed, then close.
    PeerClosed,
    /// The service asked to close: flush, then shut the write side and linger (or close at
    /// once when the peer has already closed its side).
    Closing { peer_closed: bool },
    /// Write side shut: input is read and discarded until EOF or the linger deadline.
    Lingering,
}

impl State {
    /// Whether the service may still send on the connection.
    fn takes_output(self) -> bool {
        matches!(self, State::Open | State::Paused | State::PeerClosed)
    }
}

/// Output written only in part: `buf[pos..]` is pending.
struct Pending {
    buf: Vec<u8>,
    pos: usize,
}

impl Pending {
    fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn push(&mut self, bytes: &[u8]) {
        // The written part is dropped once it is the larger half, so the buffer holds at most
        // twice what is pending.
        if self.pos > self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }
}

/// No link in the idle list.
const NIL: u32 = u32::MAX;

const QUEUED: u8 = 1;
const REFUSAL: u8 = 2;
const HUNG_UP: u8 = 4;

struct Conn<T> {
    stream: T,
    /// Output not yet written; allocated only when a write falls short.
    out: Option<Box<Pending>>,
    /// Nanoseconds since the clock started when the connection last sent something.
    last_active: u64,
    /// Neighbours in the idle list (slot indices), oldest first.
    prev: u32,
    next: u32,
    state: State,
    registered: Interest,
    /// `QUEUED` (on the ready list), `REFUSAL` (turned away: never shown to the service),
    /// `HUNG_UP` (an event carried the peer's hang-up).
    flags: u8,
}

impl<T> Conn<T> {
    fn pending(&self) -> usize {
        self.out.as_ref().map_or(0, |p| p.len())
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn wanted_interest(&self) -> Interest {
        match self.state {
            State::Open if self.pending() > 0 => Interest::BOTH,
            State::Open | State::Lingering => Interest::READABLE,
            // Not reading: wait only for room to write.
            State::Paused | State::PeerClosed | State::Closing { .. } => Interest::WRITABLE,
        }
    }
}

struct Slot<T> {
    generation: u32,
    conn: Option<Conn<T>>,
}

/// What became of a connection after an operation on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// Connections accepted in this turn, whichever path accepted them.
    accepted_in_turn: usize,
    ready: VecDeque<ConnId>,
    /// Oldest and newest entries of the idle list.
    idle_head: u32,
    idle_tail: u32,
    /// Deadlines of lingering closes.
    lingering: BTreeSet<(Instant, ConnId)>,
    events: Vec<Event>,
    /// Where reads land.
    buf: Vec<u8>,
    /// Where the service writes its answers; `tx_conn` is whose they are.
    tx: Vec<u8>,
    tx_conn: Option<ConnId>,
    accept_pending: bool,
    backoff_until: Option<Instant>,
    stats: Stats,
    log: VecDeque<LogLine>,
    /// Connections closed whose service has not yet been told: outputs it queued for them
    /// before hearing of the close are dropped without blame (unless it had asked for the
    /// close itself).
    dying: Vec<(ConnId, CloseReason)>,
    /// The backend's clock, read once per turn (after the poll): everything in one turn
    /// happens at one instant, and the clock is not read per request.
    now: Instant,
    stop_at_short_io: bool,
    /// The generation of a new slot (see [`Driver::first_generation`]).
    first_generation: u32,
    /// What the service was told, when kept (see [`Driver::keep_journal`]).
    journal_of: Option<Vec<(Instant, ConnId, Seen)>>,
}

/// One thing the service was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A connection was accepted.
    Connected,
    /// Bytes were read from it.
    Received(Vec<u8>),
    /// Its peer shut down its side.
    PeerClosed,
    /// The service asked to close it.
    Closing,
    /// It is gone.
    Closed,
}

/// The live connection `id` names, if its slot still holds that generation. A free function
/// so that callers can borrow the backend alongside.
fn lookup<T>(slots: &mut [Slot<T>], id: ConnId) -> Option<&mut Conn<T>> {
    let slot = slots.get_mut(id.slot())?;
    if slot.generation != id.generation() {
        return None;
    }
    slot.conn.as_mut()
}

/// Writes `bytes` until all are written, the socket would block, or (where `stop_short`) a
/// write takes fewer bytes than offered. Returns how many were written, or the error that
/// broke the connection.
fn write_some<B: Backend>(
    backend: &mut B,
    stream: &mut B::Stream,
    bytes: &[u8],
    stats: &mut Stats,
    stop_short: bool,
) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        stats.writes += 1;
        match backend.write(stream, &bytes[done..]) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                stats.bytes_written += n as u64;
                // Where the backend says so (Linux epoll), a write that took less than it was
                // offered proves the send buffer full: stop rather than make the write that
                // would block. (A write that took everything ends the loop anyway.)
                if stop_short {
                    break;
                }
            }
            Err(e) if would_block(&e) => break,
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl<B: Backend, S: Service> Driver<B, S> {
    /// A driver serving `service` over `backend`.
    pub fn new(backend: B, service: S, config: Config) -> Self {
        let buf = vec![0; config.read_chunk.max(1)];
        #[allow(unused_mut)]
        let mut stop_at_short_io = backend.may_stop_at_short_io();
        #[cfg(test)]
        if config.defect == Some(Defect::StopAtShortIo) {
            stop_at_short_io = true;
        }
        Driver {
            backend,
            service,
            config,
            slots: Vec::new(),
            free: Vec::new(),
            served: 0,
            refusing: 0,
            accepted_in_turn: 0,
            ready: VecDeque::new(),
            idle_head: NIL,
            idle_tail: NIL,
            lingering: BTreeSet::new(),
            events: Vec::new(),
            buf,
            tx: Vec::new(),
            tx_conn: None,
            accept_pending: true,
            backoff_until: None,
            stats: Stats::default(),
            log: VecDeque::new(),
            dying: Vec::new(),
            now: Instant::ZERO,
            stop_at_short_io,
            first_generation: 0,
            journal_of: None,
        }
    }

    /// Numbers connections from generation `first` on: a service that served another driver
    /// before sees ids it has never seen (the heap check's second run).
    pub(crate) fn first_generation(mut self, first: u32) -> Self {
        self.first_generation = first;
        self
    }

    /// Keeps a journal of what the service is told, in order (see [`Driver::take_journal`]).
    pub(crate) fn keep_journal(mut self) -> Self {
        self.journal_of = Some(Vec::new());
        self
    }

    /// What the service was told so far, in the order it was told, with the time: accepts,
    /// the bytes of each read, EOFs and closes, per connection.
    pub(crate) fn take_journal(&mut self) -> Vec<(Instant, ConnId, Seen)> {
        self.journal_of
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn journal(&mut self, id: ConnId, seen: Seen) {
        if let Some(journal) = &mut self.journal_of {
            journal.push((self.now, id, seen));
        }
    }

    /// The backend, the service, and the first generation no connection of this driver had.
    pub(crate) fn into_parts(self) -> (B, S, u32) {
        let next = self
            .slots
            .iter()
            .map(|s| s.generation.wrapping_add(1))
            .fold(self.first_generation, u32::max);
        (self.backend, self.service, next)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The service.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
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
            || self.is_accept_due()
            || self
                .next_deadline()
                .is_some_and(|d| d <= self.backend.now())
    }

    fn is_accept_due(&self) -> bool {
        self.accept_pending && self.backoff_until.is_none()
    }

    /// The earliest time the driver wants to run again with no event.
    pub fn next_deadline(&self) -> Option<Instant> {
        let idle = self.config.idle_timeout.and_then(|idle| {
            let head = self.slots.get(self.idle_head as usize)?.conn.as_ref()?;
            Some(Instant::from_nanos(head.last_active) + idle)
        });
        [
            self.service.poll_timeout(),
            self.lingering.first().map(|d| d.0),
            self.backoff_until,
            idle,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One turn of the loop: poll (waiting at most `max_wait`, and never past the next
    /// deadline), handle every event, serve the ready list, fire due deadlines.
    ///
    /// Returns an error only when the poll itself fails; every error of a single connection
    /// is handled by closing that connection.
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        let now = self.backend.now();
        self.now = now;
        self.accepted_in_turn = 0;
        let mut timeout = self
            .next_deadline()
            .map(|deadline| deadline.saturating_since(now));
        if !self.ready.is_empty() || self.is_accept_due() {
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
        if self.is_accept_due() {
            self.accept_ready();
        }
        self.serve_ready_list();
        self.fire_deadlines();
        Ok(())
    }

    fn handle_event(&mut self, event: Event) {
        if event.token == Token::LISTENER {
            // A listener is only ever reported readable. While accepting is paused it is not
            // reported at all; an event queued before the pause waits for its end.
            if self.backoff_until.is_none() {
                self.accept_ready();
            }
            return;
        }
        let id = ConnId::from_raw(event.token.0);
        let Some(conn) = lookup(&mut self.slots, id) else {
            // Spurious, or for a connection that closed after the event was queued.
            self.stats.stale_events += 1;
            return;
        };
        if event.read_closed {
            conn.flags |= HUNG_UP;
        }
        if event.writable && self.flush(id) == Fate::Gone {
            self.drain_service();
            return;
        }
        if event.readable {
            self.read_from(id);
        }
        self.drain_service();
    }

    fn note(&mut self, conn: Option<ConnId>, text: impl FnOnce() -> String) {
        if !self.config.log {
            return;
        }
        let at = self.now;
        self.log.push_back(LogLine {
            at,
            conn,
            text: text(),
        });
    }

    fn queue_ready(&mut self, id: ConnId) {
        if let Some(conn) = lookup(&mut self.slots, id)
            && !conn.has(QUEUED)
        {
            conn.flags |= QUEUED;
            self.ready.push_back(id);
        }
    }

    // ----- the idle list -----------------------------------------------------------------

    fn idle_unlink(&mut self, index: u32) {
        let Some(conn) = self.slots[index as usize].conn.as_mut() else {
            return;
        };
        let (prev, next) = (conn.prev, conn.next);
        if prev == NIL && next == NIL && self.idle_head != index {
            return;
        }
        conn.prev = NIL;
        conn.next = NIL;
        match self
            .slots
            .get_mut(prev as usize)
            .and_then(|s| s.conn.as_mut())
        {
            Some(p) => p.next = next,
            None => self.idle_head = next,
        }
        match self
            .slots
            .get_mut(next as usize)
            .and_then(|s| s.conn.as_mut())
        {
            Some(n) => n.prev = prev,
            None => self.idle_tail = prev,
        }
    }

    /// Marks the connection in `index` active now: last in the idle list.
    fn idle_touch(&mut self, index: u32) {
        if self.config.idle_timeout.is_none() {
            return;
        }
        self.idle_unlink(index);
        let now = self.now.as_nanos();
        let tail = self.idle_tail;
        if let Some(conn) = self.slots[index as usize].conn.as_mut() {
            conn.last_active = now;
            conn.prev = tail;
        }
        match self
            .slots
            .get_mut(tail as usize)
            .and_then(|s| s.conn.as_mut())
        {
            Some(t) => t.next = index,
            None => self.idle_head = index,
        }
        self.idle_tail = index;
    }

    // ----- accepting -------------------------------------------------------------------

    fn accept_ready(&mut self) {
        self.accept_pending = false;
        while self.accepted_in_turn < self.config.accept_per_turn {
            match self.backend.accept() {
                Ok(stream) => {
                    self.accepted_in_turn += 1;
                    self.admit(stream);
                }
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(e) if crate::backend::is_accept_retry(&e) => {
                    self.note(None, || format!("accept: {e}; continuing"));
                }
                Err(e) => {
                    // EMFILE, ENFILE and anything unknown: the connection stays queued, so
                    // accepting again now would spin. Stop and retry after a pause, or as
                    // soon as a connection closes.
                    let backoff = self.config.accept_backoff;
                    self.note(None, || {
                        format!(
                            "accept: {e}; pausing accepts for {}",
                            format_duration(backoff)
                        )
                    });
                    self.stats.accept_backoffs += 1;
                    self.backoff_until = Some(self.now + backoff);
                    self.accept_pending = true;
                    if let Err(e) = self.backend.set_accepting(false) {
                        self.note(None, || format!("listener: {e}"));
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
                self.note(None, || format!("listener: {e}"));
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
                    generation: self.first_generation,
                    conn: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let id = ConnId::new(index, self.slots[index as usize].generation);
        let peer = if self.config.log {
            self.backend.describe(&stream)
        } else {
            String::new()
        };
        if let Err(e) = self
            .backend
            .register(&mut stream, Token(id.to_raw()), Interest::READABLE)
        {
            self.stats.register_failures += 1;
            self.note(Some(id), || format!("cannot watch {peer}: {e}; closing it"));
            self.backend.close(stream);
            self.free.push(index);
            return;
        }
        self.slots[index as usize].conn = Some(Conn {
            stream,
            out: None,
            last_active: self.now.as_nanos(),
            prev: NIL,
            next: NIL,
            state: State::Open,
            registered: Interest::READABLE,
            flags: if is_refusal { REFUSAL } else { 0 },
        });
        self.idle_touch(index);
        if is_refusal {
            self.stats.refused += 1;
            self.refusing += 1;
            let limit = self.config.max_conns;
            self.note(Some(id), || {
                format!("refused {peer}: {limit} connections is the limit")
            });
            self.tx.extend_from_slice(&self.config.refusal);
            self.tx_conn = Some(id);
            self.flush_tx();
            self.close_requested(id);
            return;
        }
        self.stats.accepted += 1;
        self.served += 1;
        self.note(Some(id), || format!("open from {peer}"));
        let now = self.now;
        self.journal(id, Seen::Connected);
        let service = &mut self.service;
        heap::within(Call::Connected, Some(id), now, || {
            service.handle_connected(now, id)
        });
        self.drain_service();
    }

    // ----- reading ---------------------------------------------------------------------

    fn read_from(&mut self, id: ConnId) {
        let mut budget = self.config.read_budget;
        loop {
            let Some(conn) = lookup(&mut self.slots, id) else {
                return;
            };
            let lingering = conn.state == State::Lingering;
            if !lingering && conn.state != State::Open {
                return;
            }
            if budget == 0 {
                self.queue_ready(id);
                return;
            }
            let hung_up = conn.has(HUNG_UP);
            let refusal = conn.has(REFUSAL);
            let want = budget.min(self.buf.len());
            #[cfg(test)]
            let want = match self.config.defect {
                Some(Defect::EmptyRead) => 0,
                Some(Defect::EmptyWrite) => {
                    let _ = self.backend.write(&mut conn.stream, &[]);
                    want
                }
                _ => want,
            };
            self.stats.reads += 1;
            match self.backend.read(&mut conn.stream, &mut self.buf[..want]) {
                Ok(0) => {
                    if lingering {
                        self.close_conn(id, CloseReason::Requested);
                        return;
                    }
                    conn.state = State::PeerClosed;
                    if !refusal {
                        let now = self.now;
                        self.journal(id, Seen::PeerClosed);
                        let service = &mut self.service;
                        heap::within(Call::PeerClosed, Some(id), now, || {
                            service.handle_peer_closed(now, id)
                        });
                        self.drain_service();
                    }
                    self.after_progress(id);
                    return;
                }
                Ok(n) => {
                    budget -= n;
                    self.stats.bytes_read += n as u64;
                    if !lingering {
                        self.idle_touch(id.slot() as u32);
                        if !refusal {
                            let now = self.now;
                            if let Some(journal) = &mut self.journal_of {
                                let bytes = self.buf[..n].to_vec();
                                journal.push((now, id, Seen::Received(bytes)));
                            }
                            let (service, bytes) = (&mut self.service, &self.buf[..n]);
                            heap::within(Call::Received, Some(id), now, || {
                                service.handle_received(now, id, bytes)
                            });
                            self.drain_service();
                        }
                    }
                    if self.stops_after(n, want, hung_up) {
                        return;
                    }
                }
                Err(e) if would_block(&e) => {
                    #[cfg(test)]
                    if self.config.defect == Some(Defect::RetryWouldBlock) {
                        continue;
                    }
                    return;
                }
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    self.note(Some(id), || format!("read: {e}"));
                    self.close_conn(id, CloseReason::Reset);
                    return;
                }
            }
        }
    }

    /// Whether a read of `n` of `want` bytes ends this drain.
    fn stops_after(&self, n: usize, want: usize, hung_up: bool) -> bool {
        #[cfg(test)]
        match self.config.defect {
            Some(Defect::ReadOncePerEvent) => return true,
            Some(Defect::IgnoreHangUp) => return n < want,
            _ => {}
        }
        // A short read proves the socket drained only where the backend says so, and never
        // when the peer's FIN came with the data: no later event would announce the EOF.
        n < want && self.stop_at_short_io && !hung_up
    }

    fn serve_ready_list(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let Some(conn) = lookup(&mut self.slots, id) else {
                continue;
            };
            conn.flags &= !QUEUED;
            self.read_from(id);
            self.drain_service();
        }
    }

    // ----- the service's outputs ---------------------------------------------------------

    fn drain_service(&mut self) {
        loop {
            let mark = self.tx.len();
            let (service, tx) = (&mut self.service, &mut self.tx);
            let output = heap::within(Call::Output, None, self.now, || service.poll_output(tx));
            let Some(output) = output else {
                self.tx.truncate(mark);
                self.flush_tx();
                // Tell the service of closes only once it has nothing queued, so that what
                // it sent before it knew is not mistaken for a send after the close.
                if self.dying.is_empty() {
                    return;
                }
                let now = self.now;
                for (id, reason) in std::mem::take(&mut self.dying) {
                    self.journal(id, Seen::Closed);
                    let service = &mut self.service;
                    heap::within(Call::Closed, Some(id), now, || {
                        service.handle_closed(now, id, reason)
                    });
                }
                continue;
            };
            match output {
                Output::Send { conn } => self.take_send(conn, mark),
                Output::Close { conn } => {
                    self.flush_tx();
                    self.journal(conn, Seen::Closing);
                    self.close_requested(conn);
                }
                Output::Log { conn, line } => self.note(Some(conn), || line),
            }
        }
    }

    /// Takes the bytes of a send, `tx[mark..]`, for `conn`.
    fn take_send(&mut self, conn: ConnId, mut mark: usize) {
        if self.tx.len() == mark {
            return;
        }
        if let Some(previous) = self.tx_conn.filter(|c| *c != conn) {
            // Another connection's answers are waiting in front: they leave first.
            self.tx_conn = None;
            self.output(previous, mark);
            self.tx.drain(..mark);
            mark = 0;
        }
        let state = lookup(&mut self.slots, conn).map(|c| c.state);
        let blame = match state {
            Some(state) if state.takes_output() => {
                self.tx_conn = Some(conn);
                return;
            }
            // The service asked for the close itself, then sent.
            Some(_) => true,
            None => match self.dying.iter().find(|(id, _)| *id == conn) {
                // Closed before the service heard of it: its answer is simply too late.
                Some((_, reason)) => *reason == CloseReason::Requested,
                None => true,
            },
        };
        let dropped = self.tx.drain(mark..).len();
        if blame {
            self.stats.sends_to_closed += 1;
            self.note(Some(conn), || {
                format!("service sent {dropped} bytes after close; dropped")
            });
        }
    }

    /// Hands the answers in `tx` to their connection and empties `tx`.
    fn flush_tx(&mut self) {
        if let Some(id) = self.tx_conn.take()
            && !self.tx.is_empty()
        {
            self.output(id, self.tx.len());
        }
        self.tx.clear();
    }

    /// New output for `id`, in `tx[..end]`: written at once when nothing is pending, else
    /// queued behind what is; backpressure and the hard limit apply.
    fn output(&mut self, id: ConnId, end: usize) {
        let high_water = self.config.out_high_water;
        let hard_limit = self.config.out_hard_limit;
        let stop_short = self.stop_at_short_io;
        let Some(conn) = lookup(&mut self.slots, id) else {
            return;
        };
        let new = &self.tx[..end];
        let total = conn.pending() + new.len();
        if total > hard_limit {
            self.stats.limited += 1;
            self.note(Some(id), || {
                format!("output limit: {total} bytes pending, limit {hard_limit}; closing")
            });
            self.close_conn(id, CloseReason::Limit);
            return;
        }
        let mut written = 0;
        if conn.out.is_none() {
            match write_some(
                &mut self.backend,
                &mut conn.stream,
                new,
                &mut self.stats,
                stop_short,
            ) {
                Ok(n) => written = n,
                Err(e) => {
                    self.note(Some(id), || format!("write: {e}"));
                    self.close_conn(id, CloseReason::Reset);
                    return;
                }
            }
        }
        let rest = &new[written..];
        if !rest.is_empty() {
            match &mut conn.out {
                Some(pending) => pending.push(rest),
                None => {
                    conn.out = Some(Box::new(Pending {
                        buf: rest.to_vec(),
                        pos: 0,
                    }))
                }
            }
        }
        let pending = conn.pending();
        if pending > high_water && conn.state == State::Open {
            conn.state = State::Paused;
            self.note(Some(id), || {
                format!("{pending} bytes pending, over {high_water}: pausing reads")
            });
        }
        self.after_progress(id);
    }

    /// The service asked to close `id` (or a refusal was queued): flush, then linger.
    fn close_requested(&mut self, id: ConnId) {
        let Some(conn) = lookup(&mut self.slots, id) else {
            return;
        };
        conn.state = match conn.state {
            State::Open | State::Paused => State::Closing { peer_closed: false },
            State::PeerClosed => State::Closing { peer_closed: true },
            closing => closing,
        };
        self.flush(id);
    }

    // ----- writing ---------------------------------------------------------------------

    /// Writes what is pending for `id`.
    fn flush(&mut self, id: ConnId) -> Fate {
        let stop_short = self.stop_at_short_io;
        let Some(conn) = lookup(&mut self.slots, id) else {
            return Fate::Gone;
        };
        if let Some(pending) = &mut conn.out {
            let result = write_some(
                &mut self.backend,
                &mut conn.stream,
                &pending.buf[pending.pos..],
                &mut self.stats,
                stop_short,
            );
            match result {
                Ok(n) => pending.pos += n,
                Err(e) => {
                    self.note(Some(id), || format!("write: {e}"));
                    self.close_conn(id, CloseReason::Reset);
                    return Fate::Gone;
                }
            }
            if pending.len() == 0 {
                conn.out = None;
            }
        }
        self.after_progress(id)
    }

    /// After a read or write: resume reading, finish a close, and bring the registered
    /// interest up to date.
    fn after_progress(&mut self, id: ConnId) -> Fate {
        let high_water = self.config.out_high_water;
        let Some(conn) = lookup(&mut self.slots, id) else {
            return Fate::Gone;
        };
        let pending = conn.pending();
        if conn.state == State::Paused && pending <= high_water / 2 {
            conn.state = State::Open;
            self.note(Some(id), || {
                format!("{pending} bytes pending, at most half of {high_water}: resuming reads")
            });
            // Input may be waiting, and an edge-triggered backend will not report it again.
            self.queue_ready(id);
        }
        let Some(conn) = lookup(&mut self.slots, id) else {
            return Fate::Gone;
        };
        if pending == 0 {
            match conn.state {
                State::PeerClosed => {
                    self.close_conn(id, CloseReason::Finished);
                    return Fate::Gone;
                }
                State::Closing { peer_closed: true } => {
                    self.close_conn(id, CloseReason::Requested);
                    return Fate::Gone;
                }
                State::Closing { peer_closed: false } => {
                    if let Err(e) = self.backend.shutdown_write(&mut conn.stream) {
                        self.note(Some(id), || format!("shutdown: {e}"));
                        self.close_conn(id, CloseReason::Requested);
                        return Fate::Gone;
                    }
                    conn.state = State::Lingering;
                    self.idle_unlink(id.slot() as u32);
                    self.lingering.insert((self.now + self.config.linger, id));
                    // Input may already be waiting, and an edge-triggered backend will not
                    // report it again.
                    self.queue_ready(id);
                }
                _ => {}
            }
        }
        self.update_interest(id)
    }

    fn update_interest(&mut self, id: ConnId) -> Fate {
        let Some(conn) = lookup(&mut self.slots, id) else {
            return Fate::Gone;
        };
        let wanted = conn.wanted_interest();
        if wanted == conn.registered {
            return Fate::Alive;
        }
        match self
            .backend
            .reregister(&mut conn.stream, Token(id.to_raw()), wanted)
        {
            Ok(()) => {
                conn.registered = wanted;
                Fate::Alive
            }
            Err(e) => {
                self.note(Some(id), || format!("reregister: {e}"));
                self.close_conn(id, CloseReason::Reset);
                Fate::Gone
            }
        }
    }

    // ----- closing and deadlines ---------------------------------------------------------

    /// Closes `id` at once. The service is told at the next drain of its outputs.
    fn close_conn(&mut self, id: ConnId, reason: CloseReason) {
        // Every caller holds a live id; a stale one would close nothing.
        if lookup(&mut self.slots, id).is_none() {
            return;
        }
        let index = id.slot();
        self.idle_unlink(index as u32);
        let slot = &mut self.slots[index];
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
        if conn.flags & REFUSAL != 0 {
            self.refusing -= 1;
        } else {
            self.served -= 1;
            self.note(Some(id), || {
                match reason {
                    CloseReason::Finished => "closed by peer",
                    CloseReason::Requested => "closed",
                    CloseReason::Reset => "reset",
                    _ => "cut by a limit",
                }
                .to_string()
            });
            self.dying.push((id, reason));
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
            let service = &mut self.service;
            heap::within(Call::Timeout, None, now, || service.handle_timeout(now));
            self.drain_service();
        }
        while let Some(&(at, id)) = self.lingering.first() {
            if at > now {
                break;
            }
            self.lingering.remove(&(at, id));
            if lookup(&mut self.slots, id).is_some_and(|c| c.state == State::Lingering) {
                self.close_conn(id, CloseReason::Requested);
            }
        }
        if let Some(idle) = self.config.idle_timeout {
            while let Some(head) = self.slots.get(self.idle_head as usize) {
                let Some(conn) = head.conn.as_ref() else {
                    break;
                };
                if Instant::from_nanos(conn.last_active) + idle > now {
                    break;
                }
                let id = ConnId::new(self.idle_head, head.generation);
                self.stats.limited += 1;
                self.note(Some(id), || {
                    format!("idle for {}: closing", format_duration(idle))
                });
                self.close_conn(id, CloseReason::Limit);
            }
        }
        self.drain_service();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_read_with_the_time_and_the_connection() {
        let line = LogLine {
            at: Instant::from_nanos(304_568_262),
            conn: Some(ConnId::new(3, 1)),
            text: "open from 127.0.0.1:9".to_string(),
        };
        assert_eq!(
            line.to_string(),
            "[0.304568s] conn 3.1: open from 127.0.0.1:9"
        );
        let line = LogLine {
            conn: None,
            text: "accept: EMFILE".to_string(),
            ..line
        };
        assert_eq!(line.to_string(), "[0.304568s] accept: EMFILE");
    }

    #[test]
    fn a_partly_written_buffer_drops_its_written_part_once_it_is_the_larger_half() {
        let mut p = Pending {
            buf: Vec::new(),
            pos: 0,
        };
        p.push(&[1; 100]);
        // 60 of 100 written: the written part is the larger half, so it goes.
        p.pos = 60;
        p.push(&[2; 10]);
        assert_eq!((p.pos, p.buf.len()), (0, 50));
        assert_eq!(&p.buf[..40], &[1; 40]);
        assert_eq!(&p.buf[40..], &[2; 10]);
        // Exactly half written: kept (the buffer is twice what is pending, the bound).
        p.pos = 25;
        p.push(&[3; 5]);
        assert_eq!((p.pos, p.buf.len(), p.len()), (25, 55, 30));
        // 10 of 55 written: kept.
        p.pos = 10;
        p.push(&[4; 1]);
        assert_eq!((p.pos, p.buf.len()), (10, 56));
        assert_eq!(p.len(), 46);
    }

    #[test]
    fn only_open_paused_and_half_closed_connections_take_output() {
        assert!(State::Open.takes_output());
        assert!(State::Paused.takes_output());
        assert!(State::PeerClosed.takes_output());
        assert!(!State::Closing { peer_closed: false }.takes_output());
        assert!(!State::Closing { peer_closed: true }.takes_output());
        assert!(!State::Lingering.takes_output());
    }
}
