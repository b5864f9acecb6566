//! A real backend under faults: the simulator's server-side faults (short reads and writes,
//! `EINTR`, `WouldBlock` after readiness, resets, `EMFILE`, aborted accepts, spurious and
//! stale events) injected into muxsim's own server on real sockets, from the same picker and
//! the same draws as the simulator.
//!
//! [`Faulty`] wraps a real [`Backend`]; a [`ServerFaults`] book is shared with the clients'
//! side, which arms a transcript's fault lines as its script reaches them and announces each
//! connection before it makes it, so that the server knows which client an accepted socket
//! belongs to (the listen queue is first in, first out).
//!
//! A fault keeps the backend contract: where an injected `WouldBlock` or short I/O leaves
//! bytes or room that an edge-triggered selector would never report again, the wrapper owes
//! that report and delivers it at the next poll, as the simulator's models do. A reset is a
//! real one: the socket is set to linger 0, so the driver's close sends an RST.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::faults::Faults;
use super::{Backend, Event, Interest, Token};
use crate::fault::{FaultPlan, FaultSpec, Op};
use crate::script::ClientId;
use crate::time::Instant;

/// A fault that fired, on operation number `at` of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fired {
    pub(crate) client: Option<ClientId>,
    pub(crate) spec: FaultSpec,
    pub(crate) at: u64,
}

struct Book {
    faults: Faults,
    /// Clients that announced a connection the server has not accepted yet, in order.
    connecting: VecDeque<ClientId>,
    fired: Vec<Fired>,
    disrupted: Vec<ClientId>,
}

impl Book {
    fn record(&mut self, client: Option<ClientId>, spec: FaultSpec, at: u64) {
        self.fired.push(Fired { client, spec, at });
    }

    /// Picks the fault for an operation, recording it when one fires.
    fn fault(
        &mut self,
        client: Option<ClientId>,
        op: Op,
        index: u64,
        applicable: impl Fn(FaultSpec) -> bool,
        draw: impl FnOnce(&FaultPlan, &mut crate::rng::SimRng) -> Option<FaultSpec>,
    ) -> Option<FaultSpec> {
        let spec = self.faults.pick(client, op, index, applicable, draw)?;
        self.record(client, spec, index);
        Some(spec)
    }
}

/// The faults of one real run, shared by the server's backend and the clients' side.
#[derive(Clone)]
pub(crate) struct ServerFaults(Arc<Mutex<Book>>);

impl std::fmt::Debug for ServerFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFaults").finish_non_exhaustive()
    }
}

impl ServerFaults {
    /// Faults drawn from `plan` with the seed's fault stream, plus whatever is scripted.
    pub(crate) fn new(seed: u64, plan: FaultPlan) -> Self {
        ServerFaults(Arc::new(Mutex::new(Book {
            faults: Faults::new(seed, plan),
            connecting: VecDeque::new(),
            fired: Vec::new(),
            disrupted: Vec::new(),
        })))
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic on the server's thread poisons nothing the book promises: keep going.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A scripted fault on the next operation of its kind.
    pub(crate) fn arm(&self, client: Option<ClientId>, spec: FaultSpec) {
        self.book().faults.arm(client, spec);
    }

    /// A scripted fault on operation `at` (from 1) of its kind.
    pub(crate) fn anchor(&self, client: Option<ClientId>, spec: FaultSpec, at: u64) {
        self.book().faults.anchor(client, spec, at);
    }

    /// `client` is about to connect: the next connection accepted is its.
    pub(crate) fn connecting(&self, client: ClientId) {
        self.book().connecting.push_back(client);
    }

    /// `client`'s connect failed: no connection of its will be accepted.
    pub(crate) fn connect_failed(&self, client: ClientId) {
        let mut book = self.book();
        if let Some(i) = book.connecting.iter().rposition(|c| *c == client) {
            book.connecting.remove(i);
        }
    }

    /// The faults that fired, in order.
    pub(crate) fn fired(&self) -> Vec<Fired> {
        self.book().fired.clone()
    }

    /// Whether a fault cut `client` off (reset or aborted): it is owed nothing after that.
    pub(crate) fn is_disrupted(&self, client: ClientId) -> bool {
        self.book().disrupted.contains(&client)
    }
}

/// One accepted connection's counters.
struct Conn {
    client: Option<ClientId>,
    reads: u64,
    writes: u64,
}

/// A real backend with faults injected into its calls. See the module docs.
pub(crate) struct Faulty<B: Backend> {
    inner: B,
    book: ServerFaults,
    /// Whether a short read or write may end a drain (the inner backend's rule, weakened to
    /// the portable contract when the scenario's semantics say so).
    stop_at_short_io: bool,
    conns: HashMap<RawFd, Conn>,
    registered: BTreeMap<ClientId, (Token, Interest)>,
    retired: BTreeMap<ClientId, Token>,
    polls: u64,
    accepts: u64,
    /// Reports owed to an edge-triggered selector for bytes or room a fault hid.
    owed: Vec<Event>,
}

impl<B: Backend> Faulty<B>
where
    B::Stream: AsFd,
{
    /// Wraps `inner`; `short_io_drains` is the scenario's rule for short I/O (see
    /// [`Backend::may_stop_at_short_io`]), kept only where the inner backend agrees.
    pub(crate) fn new(inner: B, book: ServerFaults, short_io_drains: bool) -> Self {
        let stop_at_short_io = short_io_drains && inner.may_stop_at_short_io();
        Faulty {
            inner,
            book,
            stop_at_short_io,
            conns: HashMap::new(),
            registered: BTreeMap::new(),
            retired: BTreeMap::new(),
            polls: 0,
            accepts: 0,
            owed: Vec::new(),
        }
    }

    fn owe(&mut self, stream: &B::Stream, readable: bool, writable: bool) {
        let Some(client) = self.client(stream) else {
            return;
        };
        if let Some((token, _)) = self.registered.get(&client) {
            self.owed.push(Event {
                token: *token,
                readable,
                writable,
                read_closed: false,
            });
        }
    }

    /// Keeps what a client's connection is registered under, for the reports it may be owed.
    fn remember(&mut self, stream: &B::Stream, token: Token, interest: Interest) {
        if let Some(client) = self.client(stream) {
            self.registered.insert(client, (token, interest));
        }
    }

    fn client(&self, stream: &B::Stream) -> Option<ClientId> {
        self.conns
            .get(&stream.as_fd().as_raw_fd())
            .and_then(|c| c.client)
    }

    /// Counts a read or write on `stream` and picks its fault.
    fn pick(
        &mut self,
        stream: &B::Stream,
        op: Op,
        draw: impl FnOnce(&FaultPlan, &mut crate::rng::SimRng) -> Option<FaultSpec>,
    ) -> Option<FaultSpec> {
        let conn = self.conns.get_mut(&stream.as_fd().as_raw_fd())?;
        let index = if op == Op::Read {
            conn.reads += 1;
            conn.reads
        } else {
            conn.writes += 1;
            conn.writes
        };
        let client = conn.client?;
        self.book
            .book()
            .fault(Some(client), op, index, |_| true, draw)
    }

    /// Resets the connection for real: the driver's close after the error sends an RST.
    fn reset(&mut self, stream: &B::Stream) {
        let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
        if let Some(client) = self.client(stream) {
            self.book.book().disrupted.push(client);
        }
    }

    /// Spurious and stale reports for this poll, picked per client as the simulator does.
    fn injected(&mut self, index: u64, events: &mut Vec<Event>) {
        let mut book = self.book.book();
        if !book.faults.polls_may_fire() {
            return;
        }
        let clients: Vec<ClientId> = {
            let mut all: Vec<ClientId> = self.registered.keys().copied().collect();
            all.extend(self.retired.keys().copied());
            all.sort();
            all.dedup();
            all
        };
        for client in clients {
            let registered = self.registered.get(&client).copied();
            let retired = self.retired.get(&client).copied();
            // A scripted report waits for a poll at which it can be made: over real sockets
            // a client's steps may all pass inside one turn of the server, with no poll.
            let applicable = |spec| match spec {
                FaultSpec::Spurious => registered.is_some(),
                FaultSpec::Stale => retired.is_some(),
                _ => true,
            };
            let spec = book.fault(Some(client), Op::Poll, index, applicable, |plan, rng| {
                plan.draw_injected(registered.is_some(), retired.is_some(), rng)
            });
            let event = match (spec, registered, retired) {
                (Some(FaultSpec::Spurious), Some((token, interest)), _) => Event {
                    token,
                    readable: interest.is_readable(),
                    writable: interest.is_writable(),
                    read_closed: false,
                },
                (Some(FaultSpec::Stale), _, Some(token)) => Event {
                    token,
                    readable: true,
                    writable: true,
                    read_closed: false,
                },
                _ => continue,
            };
            events.push(event);
        }
    }
}

/// Adds `event` to `events`, folding it into a report for the same token.
fn merge(events: &mut Vec<Event>, event: Event) {
    match events.iter_mut().find(|e| e.token == event.token) {
        Some(e) => {
            e.readable |= event.readable;
            e.writable |= event.writable;
            e.read_closed |= event.read_closed;
        }
        None => events.push(event),
    }
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl<B: Backend> Backend for Faulty<B>
where
    B::Stream: AsFd,
{
    type Stream = B::Stream;

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        self.polls += 1;
        let index = self.polls;
        let fault = self.book.book().fault(
            None,
            Op::Poll,
            index,
            |_| true,
            |plan, rng| plan.draw_poll(rng),
        );
        if fault == Some(FaultSpec::PollEintr) {
            events.clear();
            return Err(errno(libc::EINTR));
        }
        // What is owed is ready now: the wait must not block.
        let timeout = if self.owed.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        self.inner.poll(events, timeout)?;
        for event in std::mem::take(&mut self.owed) {
            merge(events, event);
        }
        let mut extra = Vec::new();
        self.injected(index, &mut extra);
        for event in extra {
            merge(events, event);
        }
        Ok(())
    }

    fn accept(&mut self) -> io::Result<B::Stream> {
        self.accepts += 1;
        let index = self.accepts;
        let fault = {
            let mut book = self.book.book();
            if book.faults.emfile_left > 0 {
                None
            } else {
                let head_pending = !book.connecting.is_empty();
                let applicable = |spec| head_pending || spec != FaultSpec::AcceptAborted;
                book.faults
                    .pick(None, Op::Accept, index, applicable, |plan, rng| {
                        plan.draw_accept(head_pending, rng)
                    })
            }
        };
        let fired = |book: &ServerFaults, spec| book.book().record(None, spec, index);
        match fault {
            Some(spec @ FaultSpec::AcceptEintr) => {
                fired(&self.book, spec);
                return Err(errno(libc::EINTR));
            }
            Some(spec @ FaultSpec::AcceptEmfile(k)) => {
                fired(&self.book, spec);
                self.book.book().faults.emfile_left = k;
            }
            Some(spec @ FaultSpec::AcceptAborted) => {
                return match self.inner.accept() {
                    Ok(stream) => {
                        fired(&self.book, spec);
                        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                        let mut book = self.book.book();
                        if let Some(client) = book.connecting.pop_front() {
                            book.disrupted.push(client);
                        }
                        drop(book);
                        // Closing it unregistered and with linger 0: the client sees a reset.
                        drop(stream);
                        Err(errno(libc::ECONNABORTED))
                    }
                    Err(e) => {
                        // The connection has not reached the queue yet: abort the next one.
                        if crate::backend::would_block(&e) {
                            self.book.arm(None, spec);
                        }
                        Err(e)
                    }
                };
            }
            _ => {}
        }
        {
            let mut book = self.book.book();
            if book.faults.emfile_left > 0 {
                book.faults.emfile_left -= 1;
                return Err(errno(libc::EMFILE));
            }
        }
        let stream = self.inner.accept()?;
        let client = self.book.book().connecting.pop_front();
        self.conns.insert(
            stream.as_fd().as_raw_fd(),
            Conn {
                client,
                reads: 0,
                writes: 0,
            },
        );
        Ok(stream)
    }

    fn set_accepting(&mut self, on: bool) -> io::Result<()> {
        self.inner.set_accepting(on)
    }

    fn register(
        &mut self,
        stream: &mut B::Stream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.inner.register(stream, token, interest)?;
        self.remember(stream, token, interest);
        Ok(())
    }

    fn reregister(
        &mut self,
        stream: &mut B::Stream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.inner.reregister(stream, token, interest)?;
        self.remember(stream, token, interest);
        Ok(())
    }

    fn read(&mut self, stream: &mut B::Stream, buf: &mut [u8]) -> io::Result<usize> {
        // What is waiting: the draws need it, as the simulator's do.
        let available = waiting(stream).min(buf.len());
        let fault = self.pick(stream, Op::Read, |plan, rng| plan.draw_read(available, rng));
        let mut limit = buf.len();
        match fault {
            Some(FaultSpec::ReadEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::ReadReset) => {
                self.reset(stream);
                return Err(errno(libc::ECONNRESET));
            }
            Some(FaultSpec::ReadBlock) => {
                self.owe(stream, true, false);
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            Some(FaultSpec::ShortRead(n)) => limit = (n as usize).clamp(1, buf.len()),
            _ => {}
        }
        let n = self.inner.read(stream, &mut buf[..limit])?;
        if self.stop_at_short_io && limit < buf.len() && n == limit {
            // Where a short read ends a drain, what it left "arrives later": a new edge.
            self.owe(stream, true, false);
        }
        Ok(n)
    }

    fn write(&mut self, stream: &mut B::Stream, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        let fault = self.pick(stream, Op::Write, |plan, rng| plan.draw_write(len, rng));
        let mut limit = len;
        match fault {
            Some(FaultSpec::WriteEintr) => return Err(errno(libc::EINTR)),
            Some(FaultSpec::WriteReset) => {
                self.reset(stream);
                return Err(errno(libc::EPIPE));
            }
            Some(FaultSpec::WriteBlock) | Some(FaultSpec::ShortWrite(0)) => {
                self.owe(stream, false, true);
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            Some(FaultSpec::ShortWrite(n)) => limit = (n as usize).min(len),
            _ => {}
        }
        let n = self.inner.write(stream, &buf[..limit])?;
        if self.stop_at_short_io && limit < len && n == limit {
            // The room a short write left is reported again, as Linux raises a new edge.
            self.owe(stream, false, true);
        }
        Ok(n)
    }

    fn shutdown_write(&mut self, stream: &mut B::Stream) -> io::Result<()> {
        self.inner.shutdown_write(stream)
    }

    fn close(&mut self, stream: B::Stream) {
        if let Some(conn) = self.conns.remove(&stream.as_fd().as_raw_fd())
            && let Some(client) = conn.client
            && let Some((token, _)) = self.registered.remove(&client)
        {
            self.retired.insert(client, token);
        }
        self.inner.close(stream);
    }

    fn describe(&self, stream: &B::Stream) -> String {
        self.inner.describe(stream)
    }

    fn may_stop_at_short_io(&self) -> bool {
        self.stop_at_short_io
    }
}

/// How many bytes a read would find now (`FIONREAD`; 0 when none, or on an error the read
/// itself will report).
fn waiting<S: AsFd>(stream: &S) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: the descriptor is borrowed from a live stream and `n` is a live local the call
    // writes one int to, as FIONREAD does.
    let rc = unsafe { libc::ioctl(stream.as_fd().as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc == 0 {
        usize::try_from(n).unwrap_or(0)
    } else {
        0
    }
}
