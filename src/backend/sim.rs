//! The simulated backend: virtual sockets, a virtual clock and readiness under a chosen
//! [`Semantics`], with faults injected at every call.
//!
//! [`SimBackend`] implements [`Backend`] over a [`Net`]: the listener, its backlog, and one
//! [`Pipe`] per connection holding both directions' bytes. The world ([`crate::world`]) plays
//! the clients on the other end of the pipes through [`Net`]'s client methods. Nothing here
//! reads the wall clock or an unseeded RNG, and every collection is iterated in a fixed order.
//!
//! # TCP as modelled
//!
//! - Each direction has a buffer of [`SimConfig::buffer`] bytes (send and receive buffers
//!   together). A full buffer makes the writer's call return `WouldBlock` (server) or block
//!   (client). Bytes of one stream arrive in order; a delayed send holds back the bytes after
//!   it, never reorders them.
//! - A FIN makes reads return 0 once the bytes before it are read.
//! - Closing a socket whose input is unread, or writing to a peer that has closed, resets the
//!   connection. A reset the server causes erases what the client had not read yet (the
//!   harshest thing a TCP stack may do); after a reset the client caused, the server reads
//!   what had arrived and then `ECONNRESET`, as Linux does.
//! - The server's descriptors are numbered like a kernel's: lowest free first, the listener
//!   at 3. So 1,100 clients reach `select`'s [`FD_SETSIZE`].
//!
//! # Readiness
//!
//! Level-triggered semantics report every registered descriptor that is ready on every poll.
//! Edge-triggered semantics keep mio's documented contract: a descriptor is reported once, and
//! then not again for that direction until a call on it returned `WouldBlock` or it was
//! re-registered. The order of events within one poll is descriptor order for `select` and
//! `poll` and drawn from the seed for epoll, whose ready list has no promised order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::time::Duration;

use super::{Backend, Event, Interest, Token};
use crate::fault::{Family, FaultPlan, FaultSpec, Op};
use crate::rng::{SimRng, Stream};
use crate::semantics::{FD_SETSIZE, Semantics};
use crate::time::Instant;
use crate::transcript::{Step, quote};

/// Index of a client in the world.
pub type ClientIdx = usize;
/// Index of a connection (a pipe) in the net; never reused.
pub type PipeId = usize;

/// The simulated network's knobs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub semantics: Semantics,
    /// Bytes in flight per direction per connection. 64 KiB is a typical loopback socket
    /// buffer; fixtures set it lower to make slow readers fill it quickly.
    pub buffer: usize,
    /// Connections the listener queues before clients' connects wait. 128 is Linux's old
    /// `somaxconn` default.
    pub backlog: usize,
    /// Trace every server call, poll and accept, not just what clients see.
    pub detail: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            semantics: Semantics::EpollEt,
            buffer: 64 * 1024,
            backlog: 128,
            detail: false,
        }
    }
}

/// One entry of a run's trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    pub at: Instant,
    pub kind: TraceKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A client acted or observed something; observations carry what was received.
    Client { client: ClientIdx, step: Step },
    /// A fault fired on operation number `at` of its kind.
    Fault {
        client: Option<ClientIdx>,
        spec: FaultSpec,
        at: u64,
    },
    /// A server-side call (only with [`SimConfig::detail`]).
    Server(String),
    /// A line of the driver's or the service's log.
    Log(String),
}

enum Segment {
    Data(Vec<u8>),
    Fin,
}

/// One connection: both directions' bytes and the state of both ends.
pub struct Pipe {
    pub client: ClientIdx,
    /// The server's descriptor, from accept until the server closes it.
    fd: Option<u32>,
    token: Option<Token>,
    c2s: VecDeque<u8>,
    inflight: VecDeque<(Instant, Segment)>,
    inflight_bytes: usize,
    c2s_fin: bool,
    s2c: VecDeque<u8>,
    s2c_fin: bool,
    reset: bool,
    client_closed: bool,
    server_closed: bool,
    accepted: bool,
    reads: u64,
    writes: u64,
    sends: u64,
}

/// What a client's read found.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientRead {
    Data(Vec<u8>),
    Eof,
    Reset,
    Nothing,
}

#[derive(Clone, Copy, Debug)]
struct Registration {
    token: Token,
    interest: Interest,
    armed_read: bool,
    armed_write: bool,
}

/// Counters of the simulated network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    pub polls: u64,
    pub events: u64,
    /// Descriptors examined by polls: `select` and `poll` scan every watched descriptor,
    /// epoll only the ready ones.
    pub scanned: u64,
    pub faults: u64,
    /// Zero-length reads or writes the server attempted (a bug: `read() == 0` would look like
    /// EOF).
    pub empty_buffer_calls: u64,
}

struct Faults {
    plan: FaultPlan,
    rng: SimRng,
    /// Drawn faults fire only while this is true; the world turns it off to let the run heal.
    active: bool,
    /// Scripted faults on an exact operation: (client, op, index) → fault.
    anchored: BTreeMap<(Option<ClientIdx>, Op, u64), Vec<FaultSpec>>,
    /// Scripted faults for the next operation of a kind.
    armed: BTreeMap<(Option<ClientIdx>, Op), VecDeque<FaultSpec>>,
    /// Scripted per-client poll faults (spurious, stale) not yet fired.
    scripted_polls: usize,
    emfile_left: u32,
}

/// The simulated network: listener, descriptors, pipes, readiness, faults and the trace.
pub struct Net {
    config: SimConfig,
    now: Instant,
    pipes: Vec<Pipe>,
    backlog: VecDeque<PipeId>,
    accepting: bool,
    listener_reg: Option<Registration>,
    fds: BTreeMap<u32, PipeId>,
    free_fds: BTreeSet<u32>,
    next_fd: u32,
    regs: BTreeMap<u32, Registration>,
    /// Tokens of connections the server closed, by client, for stale-event faults.
    retired: BTreeMap<ClientIdx, Token>,
    faults: Faults,
    order_rng: SimRng,
    polls: u64,
    accepts: u64,
    disrupted: BTreeSet<ClientIdx>,
    pub stats: NetStats,
    pub trace: Vec<TraceEvent>,
}

/// The listener's descriptor: 0, 1 and 2 are the standard streams.
const LISTENER_FD: u32 = 3;

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl Net {
    pub fn new(config: SimConfig, seed: u64, plan: FaultPlan) -> Self {
        Net {
            config,
            now: Instant::ZERO,
            pipes: Vec::new(),
            backlog: VecDeque::new(),
            accepting: true,
            listener_reg: Some(Registration {
                token: Token::LISTENER,
                interest: Interest::READABLE,
                armed_read: true,
                armed_write: false,
            }),
            fds: BTreeMap::new(),
            free_fds: BTreeSet::new(),
            next_fd: LISTENER_FD + 1,
            regs: BTreeMap::new(),
            retired: BTreeMap::new(),
            faults: Faults {
                plan,
                rng: SimRng::new(seed, Stream::Faults),
                active: true,
                anchored: BTreeMap::new(),
                armed: BTreeMap::new(),
                scripted_polls: 0,
                emfile_left: 0,
            },
            order_rng: SimRng::new(seed, Stream::Network),
            polls: 0,
            accepts: 0,
            disrupted: BTreeSet::new(),
            stats: NetStats::default(),
            trace: Vec::new(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves the clock forward (never back) and delivers what is due.
    pub fn advance_to(&mut self, at: Instant) {
        if at > self.now {
            self.now = at;
        }
        self.deliver();
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.faults.plan
    }

    /// Draws a client-side fault (reset, close or half-close) to replace a client's action,
    /// while drawn faults are active.
    pub fn draw_client_fault(&mut self, shut: bool) -> Option<Step> {
        let faults = &mut self.faults;
        if !faults.active || faults.plan.is_calm() {
            return None;
        }
        let (plan, rng) = (&faults.plan, &mut faults.rng);
        if plan.fires(Family::Reset, rng) {
            return Some(Step::Reset);
        }
        if plan.fires(Family::Close, rng) {
            return Some(Step::Close);
        }
        if !shut && plan.fires(Family::HalfClose, rng) {
            return Some(Step::Shutdown);
        }
        None
    }

    /// Stops drawn faults; scripted ones still fire.
    pub fn heal(&mut self) {
        self.faults.active = false;
    }

    pub fn is_healed(&self) -> bool {
        !self.faults.active
    }

    /// Scripted fault on operation `at` (from 1) of its kind.
    pub fn anchor_fault(&mut self, client: Option<ClientIdx>, spec: FaultSpec, at: u64) {
        if client.is_some() && spec.op() == Op::Poll {
            self.faults.scripted_polls += 1;
        }
        self.faults
            .anchored
            .entry((client, spec.op(), at))
            .or_default()
            .push(spec);
    }

    /// Scripted fault on the next operation of its kind.
    pub fn arm_fault(&mut self, client: Option<ClientIdx>, spec: FaultSpec) {
        if client.is_some() && spec.op() == Op::Poll {
            self.faults.scripted_polls += 1;
        }
        self.faults
            .armed
            .entry((client, spec.op()))
            .or_default()
            .push_back(spec);
    }

    /// Clients a fault cut off (reset or aborted): their answers are no longer owed.
    pub fn disrupted(&self) -> &BTreeSet<ClientIdx> {
        &self.disrupted
    }

    pub fn push_trace(&mut self, kind: TraceKind) {
        self.trace.push(TraceEvent { at: self.now, kind });
    }

    fn detail(&mut self, text: impl FnOnce() -> String) {
        if self.config.detail {
            let line = text();
            self.push_trace(TraceKind::Server(line));
        }
    }

    /// Picks the fault for an operation: scripted on this index, then scripted for the next
    /// operation, then drawn from the plan.
    fn fault_for(
        &mut self,
        client: Option<ClientIdx>,
        op: Op,
        index: u64,
        draw: impl FnOnce(&FaultPlan, &mut SimRng) -> Option<FaultSpec>,
    ) -> Option<FaultSpec> {
        self.fault_where(client, op, index, |_| true, draw)
    }

    /// Like [`Net::fault_for`], but a scripted fault for "the next operation" waits while
    /// `applicable` says it could not happen now (an abort with nothing to abort).
    fn fault_where(
        &mut self,
        client: Option<ClientIdx>,
        op: Op,
        index: u64,
        applicable: impl Fn(FaultSpec) -> bool,
        draw: impl FnOnce(&FaultPlan, &mut SimRng) -> Option<FaultSpec>,
    ) -> Option<FaultSpec> {
        let faults = &mut self.faults;
        let scripted = faults
            .anchored
            .get_mut(&(client, op, index))
            .and_then(|list| (!list.is_empty()).then(|| list.remove(0)))
            .or_else(|| {
                let queue = faults.armed.get_mut(&(client, op))?;
                let next = *queue.front()?;
                applicable(next).then(|| queue.pop_front()).flatten()
            });
        if scripted.is_some_and(|s| client.is_some() && s.op() == Op::Poll) {
            faults.scripted_polls -= 1;
        }
        let spec = match scripted {
            Some(spec) => Some(spec),
            None if faults.active && !faults.plan.is_calm() => draw(&faults.plan, &mut faults.rng),
            None => None,
        }?;
        self.stats.faults += 1;
        self.push_trace(TraceKind::Fault {
            client,
            spec,
            at: index,
        });
        Some(spec)
    }

    // ----- clients' side -----------------------------------------------------------------

    /// Whether the listen backlog has room for another connection.
    pub fn can_connect(&self) -> bool {
        self.backlog.len() < self.config.backlog
    }

    /// Queues a connection from `client`; `None` while the backlog is full.
    pub fn connect(&mut self, client: ClientIdx) -> Option<PipeId> {
        if self.backlog.len() >= self.config.backlog {
            return None;
        }
        let id = self.pipes.len();
        self.pipes.push(Pipe {
            client,
            fd: None,
            token: None,
            c2s: VecDeque::new(),
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            c2s_fin: false,
            s2c: VecDeque::new(),
            s2c_fin: false,
            reset: false,
            client_closed: false,
            server_closed: false,
            accepted: false,
            reads: 0,
            writes: 0,
            sends: 0,
        });
        self.backlog.push_back(id);
        Some(id)
    }

    /// Room for a client's send right now.
    pub fn send_room(&self, pipe: PipeId) -> usize {
        let p = &self.pipes[pipe];
        if p.reset || p.server_closed {
            // The send "succeeds" and the peer answers with a reset.
            return usize::MAX;
        }
        self.config
            .buffer
            .saturating_sub(p.c2s.len() + p.inflight_bytes)
    }

    /// A client sends; returns how many bytes the network took.
    pub fn client_send(&mut self, pipe: PipeId, bytes: &[u8]) -> usize {
        let client = self.pipes[pipe].client;
        self.pipes[pipe].sends += 1;
        let index = self.pipes[pipe].sends;
        let delay = match self.fault_for(Some(client), Op::Send, index, |plan, rng| {
            plan.fires(Family::Delay, rng)
                .then(|| FaultSpec::Delay(Duration::from_millis(rng.between(1, 20))))
        }) {
            Some(FaultSpec::Delay(d)) => d,
            _ => Duration::ZERO,
        };
        let room = self.send_room(pipe);
        let now = self.now;
        let p = &mut self.pipes[pipe];
        if p.reset {
            return bytes.len();
        }
        if p.server_closed {
            // Data to a closed socket: the server's kernel answers with a reset.
            p.reset = true;
            p.s2c.clear();
            return bytes.len();
        }
        let n = room.min(bytes.len());
        if n == 0 {
            return 0;
        }
        let last = p.inflight.back().map(|(at, _)| *at).unwrap_or(now);
        p.inflight
            .push_back((last.max(now + delay), Segment::Data(bytes[..n].to_vec())));
        p.inflight_bytes += n;
        self.deliver_pipe(pipe);
        n
    }

    /// Reads everything a client can read now.
    pub fn client_read(&mut self, pipe: PipeId) -> ClientRead {
        let p = &mut self.pipes[pipe];
        if p.reset {
            return ClientRead::Reset;
        }
        if !p.s2c.is_empty() {
            return ClientRead::Data(Vec::from(std::mem::take(&mut p.s2c)));
        }
        if p.s2c_fin {
            return ClientRead::Eof;
        }
        ClientRead::Nothing
    }

    /// Whether a client's read would find something (bytes, EOF or a reset).
    pub fn client_readable(&self, pipe: PipeId) -> bool {
        let p = &self.pipes[pipe];
        p.reset || !p.s2c.is_empty() || p.s2c_fin
    }

    /// The client shuts down its write side.
    pub fn client_shutdown(&mut self, pipe: PipeId) {
        let now = self.now;
        let p = &mut self.pipes[pipe];
        let last = p.inflight.back().map(|(at, _)| *at).unwrap_or(now);
        p.inflight.push_back((last.max(now), Segment::Fin));
        self.deliver_pipe(pipe);
    }

    /// The client closes its socket: a FIN, or a reset if answers are unread.
    pub fn client_close(&mut self, pipe: PipeId) {
        let p = &mut self.pipes[pipe];
        p.client_closed = true;
        if !p.s2c.is_empty() && !p.reset {
            p.reset = true;
            p.inflight.clear();
            p.inflight_bytes = 0;
            return;
        }
        if !p.c2s_fin && !p.inflight.iter().any(|(_, s)| matches!(s, Segment::Fin)) {
            self.client_shutdown(pipe);
        }
    }

    /// The client aborts the connection (`SO_LINGER 0`).
    pub fn client_reset(&mut self, pipe: PipeId) {
        let p = &mut self.pipes[pipe];
        p.client_closed = true;
        p.reset = true;
        p.inflight.clear();
        p.inflight_bytes = 0;
    }

    /// Whether the server still holds the connection open.
    pub fn server_holds(&self, pipe: PipeId) -> bool {
        let p = &self.pipes[pipe];
        !p.server_closed && (p.accepted || !p.reset)
    }

    /// Whether the server accepted the connection.
    pub fn is_accepted(&self, pipe: PipeId) -> bool {
        self.pipes[pipe].accepted
    }

    /// When the next delayed segment arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.pipes
            .iter()
            .filter_map(|p| p.inflight.front().map(|(at, _)| *at))
            .min()
    }

    fn deliver(&mut self) {
        for pipe in 0..self.pipes.len() {
            if !self.pipes[pipe].inflight.is_empty() {
                self.deliver_pipe(pipe);
            }
        }
    }

    fn deliver_pipe(&mut self, pipe: PipeId) {
        let now = self.now;
        let p = &mut self.pipes[pipe];
        while p.inflight.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, segment)) = p.inflight.pop_front() else {
                break;
            };
            match segment {
                Segment::Data(bytes) => {
                    p.inflight_bytes -= bytes.len();
                    if p.server_closed {
                        p.reset = true;
                        p.s2c.clear();
                    } else {
                        p.c2s.extend(bytes);
                    }
                }
                Segment::Fin => p.c2s_fin = true,
            }
        }
    }

    // ----- readiness ---------------------------------------------------------------------

    fn readiness(&self, fd: u32) -> (bool, bool) {
        readiness(&self.fds, &self.pipes, self.config.buffer, fd)
    }

    fn listener_ready(&self) -> bool {
        self.accepting && !self.backlog.is_empty()
    }

    /// Whether a poll now would report anything (faults aside).
    pub fn server_ready(&self) -> bool {
        let level = self.config.semantics.is_level_triggered();
        if let Some(reg) = &self.listener_reg
            && self.listener_ready()
            && (level || reg.armed_read)
        {
            return true;
        }
        self.regs.iter().any(|(&fd, reg)| {
            let (r, w) = self.readiness(fd);
            (r && reg.interest.readable && (level || reg.armed_read))
                || (w && reg.interest.writable && (level || reg.armed_write))
        })
    }

    fn collect_events(&mut self, events: &mut Vec<Event>) {
        let level = self.config.semantics.is_level_triggered();
        if self.listener_ready()
            && let Some(reg) = &mut self.listener_reg
            && (level || reg.armed_read)
        {
            reg.armed_read = false;
            events.push(Event {
                token: Token::LISTENER,
                readable: true,
                writable: false,
            });
        }
        if level {
            self.stats.scanned += self.regs.len() as u64 + 1;
        }
        let (fds, pipes, buffer) = (&self.fds, &self.pipes, self.config.buffer);
        for (fd, reg) in self.regs.iter_mut() {
            let (r, w) = readiness(fds, pipes, buffer, *fd);
            let readable = r && reg.interest.readable && (level || reg.armed_read);
            let writable = w && reg.interest.writable && (level || reg.armed_write);
            if readable {
                reg.armed_read = false;
            }
            if writable {
                reg.armed_write = false;
            }
            if readable || writable {
                if !level {
                    self.stats.scanned += 1;
                }
                events.push(Event {
                    token: reg.token,
                    readable,
                    writable,
                });
            }
        }
    }

    fn client_of_fd(&self, fd: u32) -> Option<ClientIdx> {
        self.fds.get(&fd).map(|&p| self.pipes[p].client)
    }

    fn fd_of_client(&self, client: ClientIdx) -> Option<u32> {
        self.pipes
            .iter()
            .rev()
            .find(|p| p.client == client)
            .and_then(|p| p.fd)
    }

    fn alloc_fd(&mut self) -> u32 {
        match self.free_fds.pop_first() {
            Some(fd) => fd,
            None => {
                self.next_fd += 1;
                self.next_fd - 1
            }
        }
    }
}

/// Whether the server's descriptor `fd` is readable and writable now.
fn readiness(fds: &BTreeMap<u32, PipeId>, pipes: &[Pipe], buffer: usize, fd: u32) -> (bool, bool) {
    let Some(&pipe) = fds.get(&fd) else {
        return (false, false);
    };
    let p = &pipes[pipe];
    let readable = p.reset || !p.c2s.is_empty() || p.c2s_fin;
    let writable = p.reset || p.s2c_fin || p.s2c.len() < buffer;
    (readable, writable)
}

/// A server-side connection of the simulated network.
#[derive(Debug)]
pub struct SimStream {
    fd: u32,
    pipe: PipeId,
}

impl SimStream {
    /// The descriptor number the server holds.
    pub fn fd(&self) -> u32 {
        self.fd
    }
}

/// The simulated [`Backend`]: the server's view of a [`Net`].
pub struct SimBackend {
    pub net: Net,
}

impl SimBackend {
    pub fn new(net: Net) -> Self {
        SimBackend { net }
    }
}

impl Backend for SimBackend {
    type Stream = SimStream;

    fn now(&self) -> Instant {
        self.net.now
    }

    fn poll(&mut self, events: &mut Vec<Event>, _timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let net = &mut self.net;
        net.polls += 1;
        net.stats.polls += 1;
        let index = net.polls;
        let has_regs = !net.regs.is_empty();
        let has_retired = !net.retired.is_empty();
        let fault = net.fault_for(None, Op::Poll, index, |plan, rng| {
            if plan.fires(Family::Eintr, rng) {
                return Some(FaultSpec::PollEintr);
            }
            None
        });
        if fault == Some(FaultSpec::PollEintr) {
            return Err(errno(libc::EINTR));
        }
        // Spurious and stale events name a client, so they are drawn per client; skip the
        // walk when none can fire.
        let mut extra = Vec::new();
        let may_fire = net.faults.scripted_polls > 0
            || (net.faults.active && net.faults.plan.rate(Family::Spurious) > 0);
        let clients: Vec<ClientIdx> = if may_fire && (has_regs || has_retired) {
            let mut c: BTreeSet<ClientIdx> = net
                .regs
                .keys()
                .filter_map(|fd| net.client_of_fd(*fd))
                .collect();
            c.extend(net.retired.keys().copied());
            c.into_iter().collect()
        } else {
            Vec::new()
        };
        for client in clients {
            let retired = net.retired.get(&client).copied();
            let registered = net
                .fd_of_client(client)
                .and_then(|fd| net.regs.get(&fd).copied());
            let spec = net.fault_for(Some(client), Op::Poll, index, |plan, rng| {
                if !plan.fires(Family::Spurious, rng) {
                    return None;
                }
                match (registered.is_some(), retired.is_some()) {
                    (true, true) => Some(if rng.chance(500_000) {
                        FaultSpec::Spurious
                    } else {
                        FaultSpec::Stale
                    }),
                    (true, false) => Some(FaultSpec::Spurious),
                    (false, true) => Some(FaultSpec::Stale),
                    (false, false) => None,
                }
            });
            match spec {
                Some(FaultSpec::Spurious) => {
                    if let Some(reg) = registered {
                        extra.push(Event {
                            token: reg.token,
                            readable: reg.interest.readable,
                            writable: reg.interest.writable,
                        });
                    }
                }
                Some(FaultSpec::Stale) => {
                    if let Some(token) = retired {
                        extra.push(Event {
                            token,
                            readable: true,
                            writable: true,
                        });
                    }
                }
                _ => {}
            }
        }
        net.collect_events(events);
        events.extend(extra);
        if !net.config.semantics.is_level_triggered() && events.len() > 1 {
            // epoll's ready list promises no order: let the seed choose one.
            for i in (1..events.len()).rev() {
                let j = net.order_rng.below(i as u64 + 1) as usize;
                events.swap(i, j);
            }
        }
        net.stats.events += events.len() as u64;
        if net.config.detail && !events.is_empty() {
            let list: Vec<String> = events
                .iter()
                .map(|e| {
                    let who = if e.token == Token::LISTENER {
                        "listener".to_string()
                    } else {
                        format!("token {:#x}", e.token.0)
                    };
                    let how = match (e.readable, e.writable) {
                        (true, true) => "rw",
                        (true, false) => "r",
                        _ => "w",
                    };
                    format!("{who} {how}")
                })
                .collect();
            net.push_trace(TraceKind::Server(format!("poll: {}", list.join(", "))));
        }
        Ok(())
    }

    fn accept(&mut self) -> io::Result<SimStream> {
        let net = &mut self.net;
        net.accepts += 1;
        let index = net.accepts;
        let head_pending = !net.backlog.is_empty();
        let fault = if net.faults.emfile_left > 0 {
            None
        } else {
            let applicable = |spec| head_pending || spec != FaultSpec::AcceptAborted;
            net.fault_where(None, Op::Accept, index, applicable, |plan, rng| {
                if plan.fires(Family::Eintr, rng) {
                    return Some(FaultSpec::AcceptEintr);
                }
                if head_pending && plan.fires(Family::Accept, rng) {
                    return Some(if rng.chance(500_000) {
                        FaultSpec::AcceptEmfile(rng.between(1, 3) as u32)
                    } else {
                        FaultSpec::AcceptAborted
                    });
                }
                None
            })
        };
        match fault {
            Some(FaultSpec::AcceptEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::AcceptEmfile(k)) => net.faults.emfile_left = k,
            Some(FaultSpec::AcceptAborted) => {
                if let Some(pipe) = net.backlog.pop_front() {
                    let p = &mut net.pipes[pipe];
                    p.reset = true;
                    p.server_closed = true;
                    let client = p.client;
                    net.disrupted.insert(client);
                    net.detail(|| format!("accept: connection of client {client} aborted"));
                    return Err(errno(libc::ECONNABORTED));
                }
            }
            _ => {}
        }
        if net.faults.emfile_left > 0 {
            net.faults.emfile_left -= 1;
            net.detail(|| "accept: EMFILE".to_string());
            return Err(errno(libc::EMFILE));
        }
        let Some(pipe) = net.backlog.pop_front() else {
            if let Some(reg) = &mut net.listener_reg {
                reg.armed_read = true;
            }
            return Err(would_block());
        };
        let fd = net.alloc_fd();
        net.fds.insert(fd, pipe);
        let p = &mut net.pipes[pipe];
        p.fd = Some(fd);
        p.accepted = true;
        let client = p.client;
        net.detail(|| format!("accept: fd {fd} for client {client}"));
        Ok(SimStream { fd, pipe })
    }

    fn set_accepting(&mut self, on: bool) -> io::Result<()> {
        let net = &mut self.net;
        net.accepting = on;
        if on && let Some(reg) = &mut net.listener_reg {
            reg.armed_read = true;
        }
        Ok(())
    }

    fn register(
        &mut self,
        stream: &mut SimStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let net = &mut self.net;
        if net.config.semantics == Semantics::Select && stream.fd >= FD_SETSIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "select(2) cannot watch descriptor {}: it is not below FD_SETSIZE ({FD_SETSIZE})",
                    stream.fd
                ),
            ));
        }
        if net.regs.contains_key(&stream.fd) {
            return Err(errno(libc::EEXIST));
        }
        net.pipes[stream.pipe].token = Some(token);
        net.regs.insert(
            stream.fd,
            Registration {
                token,
                interest,
                armed_read: true,
                armed_write: true,
            },
        );
        Ok(())
    }

    fn reregister(
        &mut self,
        stream: &mut SimStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let net = &mut self.net;
        let Some(reg) = net.regs.get_mut(&stream.fd) else {
            return Err(errno(libc::ENOENT));
        };
        *reg = Registration {
            token,
            interest,
            armed_read: true,
            armed_write: true,
        };
        net.pipes[stream.pipe].token = Some(token);
        Ok(())
    }

    fn read(&mut self, stream: &mut SimStream, buf: &mut [u8]) -> io::Result<usize> {
        let net = &mut self.net;
        if buf.is_empty() {
            net.stats.empty_buffer_calls += 1;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "read into an empty buffer",
            ));
        }
        let pipe = stream.pipe;
        let client = net.pipes[pipe].client;
        net.pipes[pipe].reads += 1;
        let index = net.pipes[pipe].reads;
        let available = net.pipes[pipe].c2s.len().min(buf.len());
        let fault = net.fault_for(Some(client), Op::Read, index, |plan, rng| {
            if plan.fires(Family::Eintr, rng) {
                return Some(FaultSpec::ReadEintr);
            }
            if plan.fires(Family::Reset, rng) {
                return Some(FaultSpec::ReadReset);
            }
            if available > 1 && plan.fires(Family::ShortIo, rng) {
                return Some(FaultSpec::ShortRead(
                    rng.between(1, available as u64 - 1) as u32
                ));
            }
            None
        });
        let mut limit = buf.len();
        if let Some(spec) = fault
            && !matches!(spec, FaultSpec::ShortRead(_))
        {
            net.detail(|| format!("read client {client}: {spec}"));
        }
        match fault {
            Some(FaultSpec::ReadEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::ReadReset) => {
                let p = &mut net.pipes[pipe];
                p.reset = true;
                p.s2c.clear();
                net.disrupted.insert(client);
                return Err(errno(libc::ECONNRESET));
            }
            Some(FaultSpec::ShortRead(n)) => limit = (n as usize).max(1),
            _ => {}
        }
        let p = &mut net.pipes[pipe];
        let result = if !p.c2s.is_empty() {
            let n = p.c2s.len().min(limit).min(buf.len());
            let (front, back) = p.c2s.as_slices();
            let first = front.len().min(n);
            buf[..first].copy_from_slice(&front[..first]);
            buf[first..n].copy_from_slice(&back[..n - first]);
            p.c2s.drain(..n);
            Ok(n)
        } else if p.reset {
            Err(errno(libc::ECONNRESET))
        } else if p.c2s_fin {
            Ok(0)
        } else {
            if let Some(reg) = net.regs.get_mut(&stream.fd) {
                reg.armed_read = true;
            }
            Err(would_block())
        };
        net.detail(|| match &result {
            Ok(n) => format!("read client {client}: {}", quote(&buf[..*n])),
            Err(e) => format!("read client {client}: {e}"),
        });
        result
    }

    fn write(&mut self, stream: &mut SimStream, buf: &[u8]) -> io::Result<usize> {
        let net = &mut self.net;
        if buf.is_empty() {
            net.stats.empty_buffer_calls += 1;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write from an empty buffer",
            ));
        }
        let pipe = stream.pipe;
        let client = net.pipes[pipe].client;
        net.pipes[pipe].writes += 1;
        let index = net.pipes[pipe].writes;
        let len = buf.len();
        let fault = net.fault_for(Some(client), Op::Write, index, |plan, rng| {
            if plan.fires(Family::Eintr, rng) {
                return Some(FaultSpec::WriteEintr);
            }
            if plan.fires(Family::Reset, rng) {
                return Some(FaultSpec::WriteReset);
            }
            if plan.fires(Family::WouldBlock, rng) {
                return Some(FaultSpec::WriteBlock);
            }
            if len > 1 && plan.fires(Family::ShortIo, rng) {
                return Some(FaultSpec::ShortWrite(rng.between(1, len as u64 - 1) as u32));
            }
            None
        });
        let mut limit = len;
        if let Some(spec) = fault
            && !matches!(spec, FaultSpec::ShortWrite(_))
        {
            net.detail(|| format!("write client {client}: {spec}"));
        }
        match fault {
            Some(FaultSpec::WriteEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::WriteReset) => {
                let p = &mut net.pipes[pipe];
                p.reset = true;
                p.s2c.clear();
                net.disrupted.insert(client);
                return Err(errno(libc::EPIPE));
            }
            Some(FaultSpec::WriteBlock) | Some(FaultSpec::ShortWrite(0)) => {
                if let Some(reg) = net.regs.get_mut(&stream.fd) {
                    reg.armed_write = true;
                }
                return Err(would_block());
            }
            Some(FaultSpec::ShortWrite(n)) => limit = n as usize,
            _ => {}
        }
        let capacity = net.config.buffer;
        let p = &mut net.pipes[pipe];
        let result = if p.reset || p.s2c_fin {
            Err(errno(libc::EPIPE))
        } else if p.client_closed {
            // The client's kernel takes the bytes and answers with a reset.
            p.reset = true;
            Ok(len.min(limit))
        } else {
            let n = capacity.saturating_sub(p.s2c.len()).min(limit).min(len);
            if n == 0 {
                if let Some(reg) = net.regs.get_mut(&stream.fd) {
                    reg.armed_write = true;
                }
                Err(would_block())
            } else {
                p.s2c.extend(&buf[..n]);
                Ok(n)
            }
        };
        net.detail(|| match &result {
            Ok(n) => format!("write client {client}: {}", quote(&buf[..*n])),
            Err(e) => format!("write client {client}: {e}"),
        });
        result
    }

    fn shutdown_write(&mut self, stream: &mut SimStream) -> io::Result<()> {
        let p = &mut self.net.pipes[stream.pipe];
        if !p.reset {
            p.s2c_fin = true;
        }
        Ok(())
    }

    fn close(&mut self, stream: SimStream) {
        let net = &mut self.net;
        net.regs.remove(&stream.fd);
        net.fds.remove(&stream.fd);
        net.free_fds.insert(stream.fd);
        let p = &mut net.pipes[stream.pipe];
        p.fd = None;
        p.server_closed = true;
        let client = p.client;
        if let Some(token) = p.token {
            net.retired.insert(client, token);
        }
        let unread = !p.c2s.is_empty() || p.inflight_bytes > 0;
        if p.reset {
            // Already broken: nothing more is sent.
        } else if unread {
            // Closing with unread input sends an RST, which erases what the client had not
            // read yet.
            p.reset = true;
            p.s2c.clear();
        } else {
            p.s2c_fin = true;
        }
        net.detail(|| format!("close client {client} (fd {})", stream.fd));
    }

    fn describe(&self, stream: &SimStream) -> String {
        format!(
            "client {} (fd {})",
            self.net.pipes[stream.pipe].client, stream.fd
        )
    }
}
