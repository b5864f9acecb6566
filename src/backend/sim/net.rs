//! The simulated network: the listener and its backlog, one pipe per connection with both
//! directions' bytes, the server's descriptors and their registrations, and the clients' side
//! of every pipe.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use super::{NetEvent, NetStats, SimConfig};
use crate::backend::faults::Faults;
use crate::backend::{Event, Interest, Token};
use crate::fault::{Family, FaultPlan, FaultSpec, Op};
use crate::rng::{SimRng, Stream};
use crate::script::ClientId;
use crate::time::Instant;

/// Index of a connection (a pipe) in the net; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PipeId(pub(crate) u32);

impl PipeId {
    fn index(self) -> usize {
        self.0 as usize
    }
}

enum Segment {
    Data(Vec<u8>),
    Fin,
}

/// One connection: both directions' bytes and the state of both ends.
pub(crate) struct Pipe {
    pub(crate) client: ClientId,
    /// The server's descriptor, from accept until the server closes it.
    pub(crate) fd: Option<u32>,
    pub(crate) token: Option<Token>,
    /// Bytes that reached the server and were not read yet.
    pub(crate) c2s: VecDeque<u8>,
    /// Bytes (and the FIN) on their way to the server, with their arrival times.
    inflight: VecDeque<(Instant, Segment)>,
    inflight_bytes: usize,
    pub(crate) c2s_fin: bool,
    /// Bytes the server wrote that the client has not read.
    pub(crate) s2c: VecDeque<u8>,
    pub(crate) s2c_fin: bool,
    pub(crate) reset: bool,
    pub(crate) client_closed: bool,
    pub(crate) server_closed: bool,
    pub(crate) accepted: bool,
    pub(crate) reads: u64,
    pub(crate) writes: u64,
    sends: u64,
}

impl Pipe {
    /// Whether the server's end is readable and writable now, for a send buffer of `buffer`
    /// bytes: a reset makes both, as on Linux.
    fn readiness(&self, buffer: usize) -> (bool, bool) {
        let readable = self.reset || !self.c2s.is_empty() || self.c2s_fin;
        let writable = self.reset || self.s2c_fin || self.s2c.len() < buffer;
        (readable, writable)
    }

    /// Whether bytes are still on their way to the server.
    pub(crate) fn has_inflight(&self) -> bool {
        self.inflight_bytes > 0
    }
}

/// What a client's read found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClientRead {
    /// This many bytes were appended to the caller's buffer.
    Data(usize),
    Eof,
    Reset,
    Nothing,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Registration {
    pub(crate) token: Token,
    pub(crate) interest: Interest,
    pub(crate) armed_read: bool,
    pub(crate) armed_write: bool,
}

impl Registration {
    pub(crate) fn new(token: Token, interest: Interest) -> Self {
        Registration {
            token,
            interest,
            armed_read: true,
            armed_write: true,
        }
    }
}

pub(crate) struct FdEntry {
    pub(crate) pipe: PipeId,
    pub(crate) reg: Option<Registration>,
}

/// The listener's descriptor: 0, 1 and 2 are the standard streams.
const LISTENER_FD: u32 = 3;

/// The simulated network: listener, descriptors, pipes, readiness and faults.
pub(crate) struct Net {
    pub(crate) config: SimConfig,
    pub(crate) now: Instant,
    pub(crate) pipes: Vec<Pipe>,
    pub(crate) backlog: VecDeque<PipeId>,
    pub(crate) accepting: bool,
    pub(crate) listener: Registration,
    /// The server's descriptors, by number.
    pub(crate) fds: Vec<Option<FdEntry>>,
    pub(crate) registered: usize,
    free_fds: BinaryHeap<Reverse<u32>>,
    next_fd: u32,
    /// Per client: its connection, and the token its connection had once the server closed it
    /// (for stale-event faults).
    pub(crate) client_pipe: Vec<Option<PipeId>>,
    pub(crate) retired: Vec<Option<Token>>,
    pub(crate) faults: Faults,
    pub(crate) order_rng: SimRng,
    pub(crate) polls: u64,
    pub(crate) accepts: u64,
    /// Backend calls since the last poll: a driver that never polls again is looping.
    pub(crate) calls_since_poll: u64,
    disrupted: Vec<bool>,
    pub(crate) stats: NetStats,
    /// Faults that fired and server calls (with [`SimConfig::detail`]), for the world to
    /// drain into its trace.
    pub(crate) events: Vec<NetEvent>,
    /// The clients' names, by index, for traces.
    pub(crate) names: Vec<String>,
}

impl Net {
    pub(crate) fn new(config: SimConfig, seed: u64, plan: FaultPlan) -> Self {
        Net {
            config,
            now: Instant::ZERO,
            pipes: Vec::new(),
            backlog: VecDeque::new(),
            accepting: true,
            listener: Registration::new(Token::LISTENER, Interest::READABLE),
            fds: Vec::new(),
            registered: 0,
            free_fds: BinaryHeap::new(),
            next_fd: LISTENER_FD + 1,
            client_pipe: Vec::new(),
            retired: Vec::new(),
            faults: Faults::new(seed, plan),
            order_rng: SimRng::new(seed, Stream::Network),
            polls: 0,
            accepts: 0,
            calls_since_poll: 0,
            disrupted: Vec::new(),
            stats: NetStats::default(),
            events: Vec::new(),
            names: Vec::new(),
        }
    }

    pub(crate) fn pipe(&self, id: PipeId) -> &Pipe {
        &self.pipes[id.index()]
    }

    fn pipe_mut(&mut self, id: PipeId) -> &mut Pipe {
        &mut self.pipes[id.index()]
    }

    /// Moves the clock forward (never back) and delivers what is due.
    pub(crate) fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
        for index in 0..self.pipes.len() {
            if !self.pipes[index].inflight.is_empty() {
                self.deliver(PipeId(index as u32));
            }
        }
    }

    /// Records a server call, when detail is asked for.
    pub(crate) fn detail(&mut self, text: impl FnOnce(&Net) -> String) {
        if self.config.detail {
            let line = text(self);
            self.events.push(NetEvent::Detail(line));
        }
    }

    /// The client's name for traces: its script name when the world gave names.
    pub(crate) fn who(&self, client: ClientId) -> String {
        match self.names.get(client.index()) {
            Some(name) => name.clone(),
            None => client.to_string(),
        }
    }

    /// The client whose connection the driver registered with `token`, if any did.
    pub(crate) fn client_of_token(&self, token: Token) -> Option<ClientId> {
        self.pipes
            .iter()
            .rev()
            .find(|p| p.token == Some(token))
            .map(|p| p.client)
    }

    /// Records a fault that fired.
    pub(crate) fn fired(&mut self, client: Option<ClientId>, spec: FaultSpec, at: u64) {
        self.stats.faults += 1;
        self.events.push(NetEvent::Fault { client, spec, at });
    }

    /// Picks the fault for an operation, recording it when one fires.
    pub(crate) fn fault(
        &mut self,
        client: Option<ClientId>,
        op: Op,
        index: u64,
        applicable: impl Fn(FaultSpec) -> bool,
        draw: impl FnOnce(&FaultPlan, &mut SimRng) -> Option<FaultSpec>,
    ) -> Option<FaultSpec> {
        let spec = self.faults.pick(client, op, index, applicable, draw)?;
        self.fired(client, spec, index);
        Some(spec)
    }

    pub(crate) fn disrupt(&mut self, client: ClientId) {
        let i = client.index();
        if self.disrupted.len() <= i {
            self.disrupted.resize(i + 1, false);
        }
        self.disrupted[i] = true;
    }

    /// Whether a fault cut `client` off (reset or aborted): its answers are no longer owed.
    pub(crate) fn is_disrupted(&self, client: ClientId) -> bool {
        self.disrupted.get(client.index()).copied().unwrap_or(false)
    }

    // ----- clients' side -----------------------------------------------------------------

    /// Whether the listen backlog has room for another connection.
    pub(crate) fn can_connect(&self) -> bool {
        self.backlog.len() < self.config.backlog
    }

    /// Queues a connection from `client`; `None` while the backlog is full.
    pub(crate) fn connect(&mut self, client: ClientId) -> Option<PipeId> {
        if !self.can_connect() {
            return None;
        }
        let id = PipeId(self.pipes.len() as u32);
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
        let i = client.index();
        if self.client_pipe.len() <= i {
            self.client_pipe.resize(i + 1, None);
        }
        self.client_pipe[i] = Some(id);
        self.backlog.push_back(id);
        Some(id)
    }

    /// Room for a client's send right now.
    pub(crate) fn send_room(&self, pipe: PipeId) -> usize {
        let p = self.pipe(pipe);
        if p.reset || p.server_closed {
            // The send "succeeds" and the peer answers with a reset.
            return usize::MAX;
        }
        self.config
            .buffer
            .saturating_sub(p.c2s.len() + p.inflight_bytes)
    }

    /// A client sends; returns how many bytes the network took.
    pub(crate) fn client_send(&mut self, pipe: PipeId, bytes: &[u8]) -> usize {
        let client = self.pipe(pipe).client;
        self.pipe_mut(pipe).sends += 1;
        let index = self.pipe(pipe).sends;
        let delay = match self.fault(
            Some(client),
            Op::Send,
            index,
            |_| true,
            |plan, rng| {
                plan.fires(Family::Delay, rng).then(|| {
                    let most = crate::fault::MAX_DRAWN_DELAY.as_millis() as u64;
                    FaultSpec::Delay(Duration::from_millis(rng.between(1, most)))
                })
            },
        ) {
            Some(FaultSpec::Delay(d)) => d,
            _ => Duration::ZERO,
        };
        let room = self.send_room(pipe);
        let now = self.now;
        let p = self.pipe_mut(pipe);
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
        self.deliver(pipe);
        n
    }

    /// Reads everything a client can read now, appending bytes to `into`.
    pub(crate) fn client_read(&mut self, pipe: PipeId, into: &mut Vec<u8>) -> ClientRead {
        let p = &mut self.pipes[pipe.index()];
        if p.reset {
            return ClientRead::Reset;
        }
        if !p.s2c.is_empty() {
            let n = p.s2c.len();
            let (front, back) = p.s2c.as_slices();
            into.extend_from_slice(front);
            into.extend_from_slice(back);
            p.s2c.clear();
            // Room in the send buffer: Linux raises a write edge.
            self.edge(pipe);
            return ClientRead::Data(n);
        }
        if p.s2c_fin {
            return ClientRead::Eof;
        }
        ClientRead::Nothing
    }

    /// Whether a client's read would find something (bytes, EOF or a reset).
    pub(crate) fn client_readable(&self, pipe: PipeId) -> bool {
        let p = self.pipe(pipe);
        p.reset || !p.s2c.is_empty() || p.s2c_fin
    }

    /// The client shuts down its write side.
    pub(crate) fn client_shutdown(&mut self, pipe: PipeId) {
        let now = self.now;
        let p = self.pipe_mut(pipe);
        let last = p.inflight.back().map(|(at, _)| *at).unwrap_or(now);
        p.inflight.push_back((last.max(now), Segment::Fin));
        self.deliver(pipe);
    }

    /// The client closes its socket: a FIN, or a reset if answers are unread.
    pub(crate) fn client_close(&mut self, pipe: PipeId) {
        let p = self.pipe_mut(pipe);
        p.client_closed = true;
        if !p.s2c.is_empty() && !p.reset {
            p.reset = true;
            p.inflight.clear();
            p.inflight_bytes = 0;
            self.edge(pipe);
            return;
        }
        if !p.c2s_fin && !p.inflight.iter().any(|(_, s)| matches!(s, Segment::Fin)) {
            self.client_shutdown(pipe);
        }
    }

    /// The client aborts the connection (`SO_LINGER 0`).
    pub(crate) fn client_reset(&mut self, pipe: PipeId) {
        let p = self.pipe_mut(pipe);
        p.client_closed = true;
        p.reset = true;
        p.inflight.clear();
        p.inflight_bytes = 0;
        self.edge(pipe);
    }

    /// Whether the server still holds the connection open.
    pub(crate) fn server_holds(&self, pipe: PipeId) -> bool {
        let p = self.pipe(pipe);
        !p.server_closed && (p.accepted || !p.reset)
    }

    /// When the next delayed segment arrives.
    pub(crate) fn next_delivery(&self) -> Option<Instant> {
        self.pipes
            .iter()
            .filter_map(|p| p.inflight.front().map(|(at, _)| *at))
            .min()
    }

    fn deliver(&mut self, pipe: PipeId) {
        let now = self.now;
        let p = &mut self.pipes[pipe.index()];
        let mut arrived = false;
        while p.inflight.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, segment)) = p.inflight.pop_front() else {
                break;
            };
            arrived = true;
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
        if arrived {
            self.edge(pipe);
        }
    }

    /// Something arrived on `pipe` or its send buffer gained room. Linux's `EPOLLET` raises a
    /// new edge for every such change; the portable contract promises none.
    pub(crate) fn edge(&mut self, pipe: PipeId) {
        if !self.config.semantics.short_io_drains() {
            return;
        }
        if let Some(fd) = self.pipes[pipe.index()].fd {
            self.arm(fd, true, true);
        }
    }

    /// Re-arms `fd`'s edge-triggered reports.
    pub(crate) fn arm(&mut self, fd: u32, read: bool, write: bool) {
        if let Some(Some(FdEntry { reg: Some(reg), .. })) = self.fds.get_mut(fd as usize) {
            reg.armed_read |= read;
            reg.armed_write |= write;
        }
    }

    // ----- descriptors -------------------------------------------------------------------

    pub(crate) fn alloc_fd(&mut self, pipe: PipeId) -> u32 {
        let fd = match self.free_fds.pop() {
            Some(Reverse(fd)) => fd,
            None => {
                self.next_fd += 1;
                self.next_fd - 1
            }
        };
        let i = fd as usize;
        if self.fds.len() <= i {
            self.fds.resize_with(i + 1, || None);
        }
        self.fds[i] = Some(FdEntry { pipe, reg: None });
        fd
    }

    pub(crate) fn free_fd(&mut self, fd: u32) {
        if let Some(entry) = self.fds.get_mut(fd as usize).and_then(Option::take) {
            if entry.reg.is_some() {
                self.registered -= 1;
            }
            self.free_fds.push(Reverse(fd));
        }
    }

    // ----- readiness ---------------------------------------------------------------------

    fn listener_ready(&self) -> bool {
        self.accepting && !self.backlog.is_empty()
    }

    /// Whether a poll now would report anything (faults aside).
    pub(crate) fn server_ready(&self) -> bool {
        let level = self.config.semantics.is_level_triggered();
        if self.listener_ready() && (level || self.listener.armed_read) {
            return true;
        }
        self.fds.iter().flatten().any(|entry| {
            let Some(reg) = &entry.reg else {
                return false;
            };
            let (r, w) = self.pipe(entry.pipe).readiness(self.config.buffer);
            (r && reg.interest.is_readable() && (level || reg.armed_read))
                || (w && reg.interest.is_writable() && (level || reg.armed_write))
        })
    }

    pub(crate) fn collect_events(&mut self, events: &mut Vec<Event>) {
        let level = self.config.semantics.is_level_triggered();
        if self.listener_ready() && (level || self.listener.armed_read) {
            self.listener.armed_read = false;
            events.push(Event::readable(Token::LISTENER));
        }
        if level {
            self.stats.scanned += self.registered as u64 + 1;
        }
        let buffer = self.config.buffer;
        let pipes = &self.pipes;
        for entry in self.fds.iter_mut().flatten() {
            let Some(reg) = &mut entry.reg else {
                continue;
            };
            let p = &pipes[entry.pipe.index()];
            let (r, w) = p.readiness(buffer);
            let readable = r && reg.interest.is_readable() && (level || reg.armed_read);
            let writable = w && reg.interest.is_writable() && (level || reg.armed_write);
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
                    // The peer's FIN or RST: what a read after the data will find.
                    read_closed: readable && (p.c2s_fin || p.reset),
                });
            }
        }
    }

    /// The registration of `client`'s connection, if the server holds one.
    pub(crate) fn registration_of(&self, client: ClientId) -> Option<Registration> {
        let pipe = (*self.client_pipe.get(client.index())?)?;
        let fd = self.pipe(pipe).fd?;
        self.fds.get(fd as usize)?.as_ref()?.reg
    }
}
