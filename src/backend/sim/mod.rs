//! The simulated backend: virtual sockets, a virtual clock and readiness under a chosen
//! [`Semantics`], with faults injected at every call.
//!
//! [`SimBackend`] implements [`Backend`] over a [`Net`]: the listener, its backlog, and one
//! pipe per connection holding both directions' bytes ([`net`]). The world plays the clients
//! on the other end of the pipes through [`Net`]'s client methods. Faults are picked by
//! [`faults`]; every fault that fires, and every server call when detail is asked for, is
//! reported as a [`NetEvent`] that the world drains into its trace. Nothing here reads the wall
//! clock or an unseeded RNG, and every collection is iterated in a fixed order.
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
//! `epoll-et` keeps mio's documented contract: a descriptor is reported once, and then not
//! again for that direction until a call on it returned `WouldBlock` or it was re-registered.
//! `epoll-linux` adds what Linux does: every arrival of data or of a FIN, and room freed in
//! the send buffer, raises a new edge; a short read or write that a fault causes stands for
//! "the rest arrives later", and raises one too. The order of events within one poll is
//! descriptor order for `select` and `poll` and drawn from the seed for epoll, whose ready
//! list has no promised order.

pub(crate) mod net;

use std::io;
use std::time::Duration;

use super::{Backend, Event, Interest, Token};
use crate::fault::{FaultSpec, Op};
use crate::script::ClientId;
use crate::semantics::{FD_SETSIZE, Semantics};
use crate::text::quote;
use crate::time::Instant;

pub(crate) use net::{ClientRead, Net, PipeId};
use net::{FdEntry, Registration};

/// The simulated network's knobs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How readiness is reported.
    pub semantics: Semantics,
    /// Bytes in flight per direction per connection. 64 KiB is a typical loopback socket
    /// buffer; fixtures set it lower to make slow readers fill it quickly.
    pub buffer: usize,
    /// Connections the listener queues before clients' connects wait. 128 is Linux's old
    /// `somaxconn` default.
    pub(crate) backlog: usize,
    /// Trace every server call, poll and accept, not just what clients see.
    pub detail: bool,
}

impl SimConfig {
    /// Connections the listener queues before clients' connects wait. 128 is Linux's old
    /// `somaxconn` default.
    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// The same configuration with [`SimConfig::backlog`] set.
    pub fn with_backlog(mut self, backlog: usize) -> Self {
        self.backlog = backlog;
        self
    }
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

/// Something the simulated network reports to the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NetEvent {
    /// A fault fired on operation number `at` of its kind.
    Fault {
        client: Option<ClientId>,
        spec: FaultSpec,
        at: u64,
    },
    /// A server-side call (only with [`SimConfig::detail`]).
    Detail(String),
}

/// Counters of the simulated network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetStats {
    /// Polls of the server's selector.
    pub(crate) polls: u64,
    /// Readiness events delivered.
    pub(crate) events: u64,
    /// Descriptors examined by polls: `select` and `poll` scan every watched descriptor,
    /// epoll only the ready ones.
    pub(crate) scanned: u64,
    /// Faults that fired.
    pub(crate) faults: u64,
    /// Zero-length reads or writes the server attempted (a bug: `read() == 0` would look like
    /// EOF).
    pub(crate) empty_buffer_calls: u64,
}

impl NetStats {
    /// Polls of the server's selector.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Readiness events delivered.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Descriptors examined by polls: `select` and `poll` scan every watched descriptor,
    /// epoll only the ready ones.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// Faults that fired.
    pub fn faults(&self) -> u64 {
        self.faults
    }

    /// Zero-length reads or writes the server attempted (a bug: `read() == 0` would look like
    /// EOF).
    pub fn empty_buffer_calls(&self) -> u64 {
        self.empty_buffer_calls
    }
}

/// Backend calls allowed between two polls. One turn of a correct driver makes a few per
/// connection it serves (a read budget of 64 KiB is at most a few hundred reads); a million
/// means the driver loops without ever polling again.
const CALLS_PER_TURN: u64 = 1_000_000;

/// The payload of the panic that stops a driver looping inside one turn.
#[derive(Debug)]
pub(crate) struct Runaway(pub(crate) u64);

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A server-side connection of the simulated network.
#[derive(Debug)]
pub(crate) struct SimStream {
    fd: u32,
    pipe: PipeId,
}

/// The simulated [`Backend`]: the server's view of a [`Net`].
pub(crate) struct SimBackend {
    pub(crate) net: Net,
}

impl SimBackend {
    pub(crate) fn new(net: Net) -> Self {
        SimBackend { net }
    }

    /// Counts a call; stops a driver that makes far more calls than a turn needs.
    fn call(&mut self) {
        self.net.calls_since_poll += 1;
        if self.net.calls_since_poll > CALLS_PER_TURN {
            std::panic::panic_any(Runaway(self.net.calls_since_poll));
        }
    }

    /// Extra events a poll reports because of spurious and stale faults, drawn per client
    /// with a connection or a retired token.
    fn injected_events(&mut self, index: u64) -> Vec<Event> {
        let net = &mut self.net;
        if !net.faults.polls_may_fire() {
            return Vec::new();
        }
        let mut extra = Vec::new();
        for c in 0..net.client_pipe.len().max(net.retired.len()) {
            let client = ClientId::from_index(c);
            let retired = net.retired.get(c).copied().flatten();
            let registered = net.registration_of(client);
            if retired.is_none() && registered.is_none() {
                continue;
            }
            let spec = net.fault(
                Some(client),
                Op::Poll,
                index,
                |_| true,
                |plan, rng| plan.draw_injected(registered.is_some(), retired.is_some(), rng),
            );
            match (spec, registered, retired) {
                (Some(FaultSpec::Spurious), Some(reg), _) => extra.push(Event {
                    token: reg.token,
                    readable: reg.interest.is_readable(),
                    writable: reg.interest.is_writable(),
                    read_closed: false,
                }),
                (Some(FaultSpec::Stale), _, Some(token)) => extra.push(Event {
                    token,
                    readable: true,
                    writable: true,
                    read_closed: false,
                }),
                _ => {}
            }
        }
        extra
    }

    /// The per-call preamble of reads and writes: counts the call on the connection, picks
    /// its fault, and traces a fault that is not a short read or write.
    fn call_fault(
        &mut self,
        stream: &SimStream,
        op: Op,
        draw: impl FnOnce(&crate::fault::FaultPlan, &mut crate::rng::SimRng) -> Option<FaultSpec>,
    ) -> (ClientId, Option<FaultSpec>) {
        let net = &mut self.net;
        let pipe = &mut net.pipes[stream.pipe.0 as usize];
        let client = pipe.client;
        let index = match op {
            Op::Read => {
                pipe.reads += 1;
                pipe.reads
            }
            _ => {
                pipe.writes += 1;
                pipe.writes
            }
        };
        let fault = net.fault(Some(client), op, index, |_| true, draw);
        if let Some(spec) = fault
            && !matches!(spec, FaultSpec::ShortRead(_) | FaultSpec::ShortWrite(_))
        {
            let verb = if op == Op::Read { "read" } else { "write" };
            net.detail(|net| format!("{verb} {}: {spec}", net.who(client)));
        }
        (client, fault)
    }

    /// Resets a connection because of a fault: the client loses what it had not read.
    fn reset_by_fault(&mut self, stream: &SimStream, client: ClientId) {
        let p = &mut self.net.pipes[stream.pipe.0 as usize];
        p.reset = true;
        p.s2c.clear();
        self.net.disrupt(client);
    }
}

impl Backend for SimBackend {
    type Stream = SimStream;

    fn now(&self) -> Instant {
        self.net.now
    }

    fn poll(&mut self, events: &mut Vec<Event>, _timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        self.net.calls_since_poll = 0;
        let net = &mut self.net;
        net.polls += 1;
        net.stats.polls += 1;
        let index = net.polls;
        let fault = net.fault(
            None,
            Op::Poll,
            index,
            |_| true,
            |plan, rng| plan.draw_poll(rng),
        );
        if fault == Some(FaultSpec::PollEintr) {
            return Err(errno(libc::EINTR));
        }
        let extra = self.injected_events(index);
        let net = &mut self.net;
        net.collect_events(events);
        events.extend(extra);
        if !net.config.semantics.is_ordered() {
            // epoll's ready list promises no order: let the seed choose one (Fisher-Yates).
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
                        match net.client_of_token(e.token) {
                            Some(client) => net.who(client),
                            None => format!("token {:#x}", e.token.0),
                        }
                    };
                    let how = match (e.readable, e.writable) {
                        (true, true) => "rw",
                        (true, false) => "r",
                        _ => "w",
                    };
                    format!("{who} {how}")
                })
                .collect();
            net.detail(|_| format!("poll: {}", list.join(", ")));
        }
        Ok(())
    }

    fn accept(&mut self) -> io::Result<SimStream> {
        self.call();
        let net = &mut self.net;
        net.accepts += 1;
        let index = net.accepts;
        let head_pending = !net.backlog.is_empty();
        let fault = if net.faults.emfile_left > 0 {
            None
        } else {
            let applicable = |spec| head_pending || spec != FaultSpec::AcceptAborted;
            net.fault(None, Op::Accept, index, applicable, |plan, rng| {
                plan.draw_accept(head_pending, rng)
            })
        };
        match fault {
            Some(FaultSpec::AcceptEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::AcceptEmfile(k)) => net.faults.emfile_left = k,
            Some(FaultSpec::AcceptAborted) => {
                if let Some(pipe) = net.backlog.pop_front() {
                    let p = &mut net.pipes[pipe.0 as usize];
                    p.reset = true;
                    p.server_closed = true;
                    let client = p.client;
                    net.disrupt(client);
                    net.detail(|net| format!("accept: connection of {} aborted", net.who(client)));
                    return Err(errno(libc::ECONNABORTED));
                }
            }
            _ => {}
        }
        if net.faults.emfile_left > 0 {
            net.faults.emfile_left -= 1;
            net.detail(|_| "accept: EMFILE".to_string());
            return Err(errno(libc::EMFILE));
        }
        let Some(pipe) = net.backlog.pop_front() else {
            net.listener.armed_read = true;
            return Err(would_block());
        };
        let fd = net.alloc_fd(pipe);
        let p = &mut net.pipes[pipe.0 as usize];
        p.fd = Some(fd);
        p.accepted = true;
        let client = p.client;
        net.detail(|net| format!("accept: fd {fd} for {}", net.who(client)));
        Ok(SimStream { fd, pipe })
    }

    fn set_accepting(&mut self, on: bool) -> io::Result<()> {
        let net = &mut self.net;
        net.accepting = on;
        if on {
            net.listener.armed_read = true;
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
        let Some(Some(entry)) = net.fds.get_mut(stream.fd as usize) else {
            return Err(errno(libc::EBADF));
        };
        if entry.reg.is_some() {
            return Err(errno(libc::EEXIST));
        }
        entry.reg = Some(Registration::new(token, interest));
        net.registered += 1;
        net.pipes[stream.pipe.0 as usize].token = Some(token);
        Ok(())
    }

    fn reregister(
        &mut self,
        stream: &mut SimStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.call();
        let net = &mut self.net;
        let Some(Some(FdEntry { reg: Some(reg), .. })) = net.fds.get_mut(stream.fd as usize) else {
            return Err(errno(libc::ENOENT));
        };
        *reg = Registration::new(token, interest);
        net.pipes[stream.pipe.0 as usize].token = Some(token);
        Ok(())
    }

    fn read(&mut self, stream: &mut SimStream, buf: &mut [u8]) -> io::Result<usize> {
        self.call();
        if buf.is_empty() {
            self.net.stats.empty_buffer_calls += 1;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "read into an empty buffer",
            ));
        }
        let available = self.net.pipes[stream.pipe.0 as usize]
            .c2s
            .len()
            .min(buf.len());
        let (client, fault) =
            self.call_fault(stream, Op::Read, |plan, rng| plan.draw_read(available, rng));
        let mut limit = buf.len();
        match fault {
            Some(FaultSpec::ReadEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::ReadReset) => {
                self.reset_by_fault(stream, client);
                return Err(errno(libc::ECONNRESET));
            }
            Some(FaultSpec::ShortRead(n)) => limit = (n as usize).max(1),
            Some(FaultSpec::ReadBlock) => {
                // The bytes stay; an edge-triggered selector is owed a report of them.
                self.net.arm(stream.fd, true, false);
                return Err(would_block());
            }
            _ => {}
        }
        let net = &mut self.net;
        let p = &mut net.pipes[stream.pipe.0 as usize];
        let result = if !p.c2s.is_empty() {
            let n = p.c2s.len().min(limit).min(buf.len());
            let (front, back) = p.c2s.as_slices();
            let first = front.len().min(n);
            buf[..first].copy_from_slice(&front[..first]);
            buf[first..n].copy_from_slice(&back[..n - first]);
            p.c2s.drain(..n);
            if matches!(fault, Some(FaultSpec::ShortRead(_))) && !p.c2s.is_empty() {
                // What the short read left "arrives later": on Linux that is a new edge.
                net.edge(stream.pipe);
            }
            Ok(n)
        } else if p.reset {
            Err(errno(libc::ECONNRESET))
        } else if p.c2s_fin {
            Ok(0)
        } else {
            net.arm(stream.fd, true, false);
            Err(would_block())
        };
        if net.config.detail {
            let text = match &result {
                Ok(n) => quote(&buf[..*n]),
                Err(e) => e.to_string(),
            };
            net.detail(|net| format!("read {}: {text}", net.who(client)));
        }
        result
    }

    fn write(&mut self, stream: &mut SimStream, buf: &[u8]) -> io::Result<usize> {
        self.call();
        if buf.is_empty() {
            self.net.stats.empty_buffer_calls += 1;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write from an empty buffer",
            ));
        }
        let len = buf.len();
        let (client, fault) =
            self.call_fault(stream, Op::Write, |plan, rng| plan.draw_write(len, rng));
        let mut limit = len;
        match fault {
            Some(FaultSpec::WriteEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::WriteReset) => {
                self.reset_by_fault(stream, client);
                return Err(errno(libc::EPIPE));
            }
            Some(FaultSpec::WriteBlock) | Some(FaultSpec::ShortWrite(0)) => {
                self.net.arm(stream.fd, false, true);
                return Err(would_block());
            }
            Some(FaultSpec::ShortWrite(n)) => limit = n as usize,
            _ => {}
        }
        let net = &mut self.net;
        let capacity = net.config.buffer;
        let p = &mut net.pipes[stream.pipe.0 as usize];
        let result = if p.reset || p.s2c_fin {
            Err(errno(libc::EPIPE))
        } else if p.client_closed {
            // The client's kernel takes the bytes and answers with a reset, whose arrival
            // wakes epoll.
            p.reset = true;
            net.edge(stream.pipe);
            Ok(len.min(limit))
        } else {
            let n = capacity.saturating_sub(p.s2c.len()).min(limit).min(len);
            if n == 0 {
                net.arm(stream.fd, false, true);
                Err(would_block())
            } else {
                p.s2c.extend(&buf[..n]);
                if matches!(fault, Some(FaultSpec::ShortWrite(_))) {
                    // The room the short write did not use is reported again on Linux.
                    net.edge(stream.pipe);
                }
                Ok(n)
            }
        };
        if net.config.detail {
            let text = match &result {
                Ok(n) => quote(&buf[..*n]),
                Err(e) => e.to_string(),
            };
            net.detail(|net| format!("write {}: {text}", net.who(client)));
        }
        result
    }

    fn shutdown_write(&mut self, stream: &mut SimStream) -> io::Result<()> {
        let p = &mut self.net.pipes[stream.pipe.0 as usize];
        if !p.reset {
            p.s2c_fin = true;
        }
        Ok(())
    }

    fn close(&mut self, stream: SimStream) {
        let net = &mut self.net;
        net.free_fd(stream.fd);
        let p = &mut net.pipes[stream.pipe.0 as usize];
        p.fd = None;
        p.server_closed = true;
        let client = p.client;
        let token = p.token;
        let unread = !p.c2s.is_empty() || p.has_inflight();
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
        if let Some(token) = token {
            let i = client.index();
            if net.retired.len() <= i {
                net.retired.resize(i + 1, None);
            }
            net.retired[i] = Some(token);
        }
        net.detail(|net| format!("close {} (fd {})", net.who(client), stream.fd));
    }

    fn describe(&self, stream: &SimStream) -> String {
        format!(
            "{} (fd {})",
            self.net.who(self.net.pipes[stream.pipe.0 as usize].client),
            stream.fd
        )
    }

    /// Only the Linux model promises a new edge for what a short read left: like the real
    /// backends, the others say no (a level-triggered poll would report the rest, but a short
    /// read proves nothing there, and the driver reads on as it does on real poll and select).
    fn may_stop_at_short_io(&self) -> bool {
        self.net.config.semantics.short_io_drains()
    }
}
