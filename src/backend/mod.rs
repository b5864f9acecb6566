//! The seam between the driver and the sockets: one trait, [`Backend`], with real
//! implementations and a simulated one.
//!
//! Real backends: [`MioBackend`] (epoll, edge-triggered) and [`LevelBackend`] (`poll(2)` and
//! `select(2)`, level-triggered).
//!
//! A backend owns the listening socket and the readiness selector; the driver owns the
//! accepted streams and hands them back for every call. A backend holds no protocol logic and
//! no driver logic (draining, buffering, closing): those live in [`crate::driver`] so that the
//! simulator runs the very code that production runs.
//!
//! # What every backend provides
//!
//! - **Readiness**, reported by [`Backend::poll`] as [`Event`]s tagged with the [`Token`] the
//!   driver registered. Readiness is a hint:
//!   - *Spurious events*: an event may come for a socket on which the call then returns
//!     `WouldBlock`. Every backend may do this, at any time.
//!   - *Draining*: a backend may be edge-triggered (mio is). After an event, the driver must
//!     keep calling [`Backend::read`] (or [`Backend::write`], or [`Backend::accept`]) until it
//!     returns `WouldBlock`, or remember the socket as still ready; otherwise it may never hear
//!     of that socket again.
//!   - *Coalescing*: several changes between two polls may give one event.
//!   - *Stale tokens*: an event may name a token that the driver already deregistered; the
//!     driver ignores tokens it does not know.
//! - **I/O** with `std::io` results. `WouldBlock` is control flow, not an error. `Interrupted`
//!   may come from any call and means "call again" (from `poll`: "poll again").
//!   `Ok(0)` from `read` with a non-empty buffer means the peer shut down its write side.
//! - **Short I/O**: [`Backend::may_stop_at_short_io`] says whether a short read or write is
//!   as good as `WouldBlock` (level-triggered backends and Linux epoll) or not (the portable
//!   edge-triggered contract).
//! - **Accepting** until `WouldBlock`; [`Backend::set_accepting`] stops and restarts reports
//!   for the listener so a driver backing off from `EMFILE` does not spin.
//! - **A clock**, [`Backend::now`], the only time the driver and the service ever see.

pub(crate) mod faults;
pub(crate) mod faulty;
#[doc(hidden)]
pub mod level;
#[doc(hidden)]
pub mod mio;
pub(crate) mod sim;

pub use level::{LevelBackend, Mechanism, Wake};
pub use mio::MioBackend;

use std::fmt;
use std::io;
use std::time::Duration;

use crate::time::Instant;

/// What the driver registers a socket under; comes back in every [`Event`] for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub u64);

impl Token {
    /// The token of the listening socket. (`u64::MAX` is left alone: mio reserves it.)
    pub const LISTENER: Token = Token(u64::MAX - 1);
    /// A token no socket has; backends use it for their own wake-ups.
    pub const WAKER: Token = Token(u64::MAX - 2);
}

/// Which readiness the driver wants to hear about: readable, writable or both, never
/// nothing (a registration that asks for nothing is a deregistration, and says so).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Reading (or accepting) may make progress.
    pub const READABLE: Interest = Interest(1);
    /// Writing may make progress.
    pub const WRITABLE: Interest = Interest(2);
    /// Both.
    pub const BOTH: Interest = Interest(3);

    /// Whether readability is asked for.
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether writability is asked for.
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// This interest without `other`; `None` when nothing would be left.
    pub fn remove(self, other: Interest) -> Option<Interest> {
        let left = self.0 & !other.0;
        (left != 0).then_some(Interest(left))
    }
}

/// Both interests: `Interest::READABLE | Interest::WRITABLE`.
impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("rw"),
            (true, false) => f.write_str("r"),
            _ => f.write_str("w"),
        }
    }
}

/// One readiness report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the socket was registered under.
    pub token: Token,
    /// Reading (or accepting, for the listener) may make progress; also set on errors and
    /// hang-ups, which a read reports.
    pub readable: bool,
    /// Writing may make progress; also set on errors, which a write reports.
    pub writable: bool,
    /// The peer hung up: it shut down its write side or reset the connection (`EPOLLRDHUP`,
    /// `EPOLLHUP`, `EPOLLERR`; mio's `is_read_closed` and `is_error`), so a read after the
    /// bytes before it will find EOF or the error. Best effort: a backend may leave it unset,
    /// never set it wrongly.
    pub read_closed: bool,
}

impl Event {
    /// A readable event for `token`.
    pub fn readable(token: Token) -> Event {
        Event {
            token,
            readable: true,
            writable: false,
            read_closed: false,
        }
    }
}

/// A source of readiness and socket I/O. See the module docs for the contract.
pub trait Backend {
    /// An accepted connection, owned by the driver between calls.
    type Stream;

    /// The backend's clock.
    fn now(&self) -> Instant;

    /// Replaces `events` with the readiness reports available, waiting at most `timeout`
    /// (`None`: until something happens). `Interrupted` means an empty wake-up.
    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()>;

    /// Accepts one pending connection; `WouldBlock` when none is pending.
    fn accept(&mut self) -> io::Result<Self::Stream>;

    /// Stops (`false`) or restarts (`true`) readiness reports for the listener. Restarting
    /// reports the listener again if connections are pending.
    fn set_accepting(&mut self, on: bool) -> io::Result<()>;

    /// Starts reporting readiness of `stream` under `token`.
    fn register(
        &mut self,
        stream: &mut Self::Stream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()>;

    /// Changes what is reported for an already registered `stream`. Like `epoll_ctl(MOD)`, a
    /// socket that is ready for the new interest is reported again.
    fn reregister(
        &mut self,
        stream: &mut Self::Stream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()>;

    /// Reads into a non-empty `buf`.
    fn read(&mut self, stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes from a non-empty `buf`; may write fewer bytes than given.
    fn write(&mut self, stream: &mut Self::Stream, buf: &[u8]) -> io::Result<usize>;

    /// Shuts down the write side (sends FIN); reading goes on.
    fn shutdown_write(&mut self, stream: &mut Self::Stream) -> io::Result<()>;

    /// Deregisters and closes `stream`. Closing with unread input resets the connection, as
    /// TCP does.
    fn close(&mut self, stream: Self::Stream);

    /// A short description of the peer, for logs.
    fn describe(&self, stream: &Self::Stream) -> String;

    /// Whether a read that returned fewer bytes than asked proves the socket drained at that
    /// moment (and a short write proves the send buffer full), so that a later poll is
    /// guaranteed to report what arrives next: then the driver may stop there instead of
    /// calling again until `WouldBlock`.
    ///
    /// True for epoll on Linux, where every arrival of data raises a new edge. False for the
    /// portable edge-triggered contract (mio's documentation, kqueue), where only `WouldBlock`
    /// re-arms a socket, and for `poll`/`select`, where a short read proves nothing (the
    /// default). Even where it holds, the peer's hang-up arrives with the data before it in one
    /// edge: when an event carries [`Event::read_closed`] the driver reads on to EOF.
    fn may_stop_at_short_io(&self) -> bool {
        false
    }
}

/// Whether an error is `WouldBlock`: not an error, the call has nothing to do now.
pub fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// Whether an error is `EINTR`: the call should simply be made again.
pub fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

/// The raw error numbers `accept(2)` says to treat like `EAGAIN` and retry: errors of the
/// connection being accepted, not of the listener (Linux man page, "Error handling").
pub const ACCEPT_RETRY_ERRNOS: &[i32] = &[
    libc::ECONNABORTED,
    libc::ENETDOWN,
    libc::EPROTO,
    libc::ENOPROTOOPT,
    libc::EHOSTDOWN,
    libc::ENONET,
    libc::EHOSTUNREACH,
    libc::EOPNOTSUPP,
    libc::ENETUNREACH,
];

/// Whether an accept error belongs to the one connection and the listener can go on.
pub fn is_accept_retry(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::ConnectionAborted
        || err
            .raw_os_error()
            .is_some_and(|n| ACCEPT_RETRY_ERRNOS.contains(&n))
}

/// Whether an accept error means the process or system is out of descriptors (`EMFILE`,
/// `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`): the connection stays queued, so accepting again
/// at once would spin.
pub fn is_accept_exhausted(err: &io::Error) -> bool {
    err.raw_os_error().is_some_and(|n| {
        n == libc::EMFILE || n == libc::ENFILE || n == libc::ENOBUFS || n == libc::ENOMEM
    })
}

/// Sets a socket's send and receive buffers to about `bytes`, when given. Best effort: the
/// kernel may round the size, and a failure leaves the default.
pub fn size_buffers<S: std::os::fd::AsFd>(socket: &S, bytes: Option<usize>) {
    if let Some(bytes) = bytes {
        let socket = socket2::SockRef::from(socket);
        let _ = socket.set_send_buffer_size(bytes);
        let _ = socket.set_recv_buffer_size(bytes);
    }
}

/// How logs name a peer: its address, or a note that it is gone.
pub fn peer_label(addr: io::Result<std::net::SocketAddr>) -> String {
    match addr {
        Ok(addr) => addr.to_string(),
        Err(_) => "a vanished peer".to_string(),
    }
}
