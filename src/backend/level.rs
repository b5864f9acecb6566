//! Real level-triggered backends: `poll(2)` and `select(2)`, the seed tutorial's mechanisms,
//! on the same [`Backend`] trait as mio so the same driver and services run on them.
//!
//! Both keep the registrations in user space and hand the kernel the whole set on every call:
//! that scan of every watched descriptor, idle or not, is the cost the seed document talks
//! about, and `docs/benchmarks.md` measures it. `select` also cannot watch a descriptor at or
//! above `FD_SETSIZE`: `FD_SET` on one would write past the `fd_set`, so registering it fails
//! with a clear error first and the driver closes that one connection.
//!
//! A wake-up pipe (a Unix socket pair) lets another thread interrupt a blocked call, as
//! mio's `Waker` does.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use super::{Backend, Event, Interest, Token};
use crate::semantics::FD_SETSIZE;
use crate::time::Instant;

/// Which system call waits for readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// `poll(2)`: no descriptor limit.
    Poll,
    /// `select(2)`: descriptors below `FD_SETSIZE` only.
    Select,
}

/// Wakes a blocked [`LevelBackend::poll`] from another thread.
#[derive(Clone, Debug)]
pub struct Wake(Arc<UnixStream>);

impl Wake {
    /// Wakes the poll.
    pub fn wake(&self) -> io::Result<()> {
        match (&*self.0).write(&[1]) {
            Ok(_) => Ok(()),
            // The pipe is full: a wake-up is already pending.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A real server socket set driven by `poll(2)` or `select(2)`.
pub struct LevelBackend {
    mechanism: Mechanism,
    listener: TcpListener,
    local_addr: SocketAddr,
    accepting: bool,
    regs: BTreeMap<RawFd, (Token, Interest)>,
    wake_rx: UnixStream,
    wake_tx: Arc<UnixStream>,
    start: std::time::Instant,
    pollfds: Vec<libc::pollfd>,
    socket_buffer: Option<usize>,
}

fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        // Round up, so a deadline 0.3 ms away does not turn into a busy loop of zero waits.
        Some(t) => t
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
    }
}

fn check_select_fd(fd: RawFd) -> io::Result<()> {
    if fd < 0 || fd as u32 >= FD_SETSIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "select(2) cannot watch descriptor {fd}: it is not below FD_SETSIZE ({FD_SETSIZE})"
            ),
        ));
    }
    Ok(())
}

impl LevelBackend {
    /// Binds a listening socket on `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr, mechanism: Mechanism) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        if mechanism == Mechanism::Select {
            check_select_fd(listener.as_raw_fd())?;
            check_select_fd(wake_rx.as_raw_fd())?;
        }
        Ok(LevelBackend {
            mechanism,
            listener,
            local_addr,
            accepting: true,
            regs: BTreeMap::new(),
            wake_rx,
            wake_tx: Arc::new(wake_tx),
            start: std::time::Instant::now(),
            pollfds: Vec::new(),
            socket_buffer: None,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Gives every accepted connection send and receive buffers of about `bytes` (see
    /// [`super::mio::MioBackend::set_socket_buffer`]).
    pub fn set_socket_buffer(&mut self, bytes: Option<usize>) {
        self.socket_buffer = bytes;
    }

    /// A handle that wakes a blocked poll from another thread.
    pub fn waker(&self) -> Wake {
        Wake(Arc::clone(&self.wake_tx))
    }

    fn drain_wake(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.wake_rx.read(&mut buf), Ok(n) if n > 0) {}
    }

    fn poll_with_poll(
        &mut self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.pollfds.clear();
        let entry = |fd: RawFd, interest: Interest| libc::pollfd {
            fd,
            events: (if interest.is_readable() {
                libc::POLLIN | libc::POLLRDHUP
            } else {
                0
            }) | (if interest.is_writable() {
                libc::POLLOUT
            } else {
                0
            }),
            revents: 0,
        };
        self.pollfds
            .push(entry(self.wake_rx.as_raw_fd(), Interest::READABLE));
        if self.accepting {
            self.pollfds
                .push(entry(self.listener.as_raw_fd(), Interest::READABLE));
        }
        for (&fd, &(_, interest)) in &self.regs {
            self.pollfds.push(entry(fd, interest));
        }
        // SAFETY: `pollfds` is a live, exclusively borrowed Vec of `len()` initialised pollfd
        // structs; poll(2) writes only their `revents` fields and keeps no pointer after it
        // returns.
        let n = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                timeout_ms(timeout),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let listener_fd = self.listener.as_raw_fd();
        let wake_fd = self.wake_rx.as_raw_fd();
        let mut woke = false;
        for p in &self.pollfds {
            if p.revents == 0 {
                continue;
            }
            let broken = p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
            let read_closed = p.revents & libc::POLLRDHUP != 0;
            let readable = p.revents & libc::POLLIN != 0 || read_closed || broken;
            let writable = p.revents & libc::POLLOUT != 0 || broken;
            if p.fd == wake_fd {
                woke = true;
            } else if p.fd == listener_fd {
                events.push(Event::readable(Token::LISTENER));
            } else if let Some(&(token, _)) = self.regs.get(&p.fd) {
                events.push(Event {
                    token,
                    readable,
                    writable,
                    read_closed,
                });
            }
        }
        if woke {
            self.drain_wake();
        }
        Ok(())
    }

    fn poll_with_select(
        &mut self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        // SAFETY: an all-zero fd_set is a valid empty set (FD_ZERO writes the same).
        let mut read_set: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut write_set: libc::fd_set = unsafe { std::mem::zeroed() };
        let mut max_fd: RawFd = -1;
        let mut watch = |fd: RawFd,
                         interest: Interest,
                         read_set: &mut libc::fd_set,
                         write_set: &mut libc::fd_set| {
            // Every descriptor here passed `check_select_fd` when it was registered, so
            // FD_SET stays inside the fd_set.
            debug_assert!((fd as u32) < FD_SETSIZE);
            if interest.is_readable() {
                // SAFETY: 0 <= fd < FD_SETSIZE (checked at registration) and `read_set` is a
                // valid fd_set.
                unsafe { libc::FD_SET(fd, read_set) };
            }
            if interest.is_writable() {
                // SAFETY: as above, for `write_set`.
                unsafe { libc::FD_SET(fd, write_set) };
            }
            max_fd = max_fd.max(fd);
        };
        watch(
            self.wake_rx.as_raw_fd(),
            Interest::READABLE,
            &mut read_set,
            &mut write_set,
        );
        if self.accepting {
            watch(
                self.listener.as_raw_fd(),
                Interest::READABLE,
                &mut read_set,
                &mut write_set,
            );
        }
        for (&fd, &(_, interest)) in &self.regs {
            watch(fd, interest, &mut read_set, &mut write_set);
        }
        let mut tv = timeout.map(|t| libc::timeval {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        });
        let tv_ptr = tv
            .as_mut()
            .map_or(std::ptr::null_mut(), |tv| tv as *mut libc::timeval);
        // SAFETY: the sets and the timeval are live locals select(2) may write to; nfds is one
        // past the largest descriptor set, which is below FD_SETSIZE.
        let n = unsafe {
            libc::select(
                max_fd + 1,
                &mut read_set,
                &mut write_set,
                std::ptr::null_mut(),
                tv_ptr,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY (all FD_ISSET below): each fd is below FD_SETSIZE and the sets are valid.
        let is_set = |fd: RawFd, set: &libc::fd_set| unsafe { libc::FD_ISSET(fd, set) };
        if is_set(self.wake_rx.as_raw_fd(), &read_set) {
            self.drain_wake();
        }
        if self.accepting && is_set(self.listener.as_raw_fd(), &read_set) {
            events.push(Event::readable(Token::LISTENER));
        }
        for (&fd, &(token, _)) in &self.regs {
            let readable = is_set(fd, &read_set);
            let writable = is_set(fd, &write_set);
            if readable || writable {
                events.push(Event {
                    token,
                    readable,
                    writable,
                    read_closed: false,
                });
            }
        }
        Ok(())
    }
}

impl Backend for LevelBackend {
    type Stream = TcpStream;

    fn now(&self) -> Instant {
        Instant::from_start(self.start.elapsed())
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        match self.mechanism {
            Mechanism::Poll => self.poll_with_poll(events, timeout),
            Mechanism::Select => self.poll_with_select(events, timeout),
        }
    }

    fn accept(&mut self) -> io::Result<TcpStream> {
        let (stream, _) = self.listener.accept()?;
        stream.set_nonblocking(true)?;
        let _ = stream.set_nodelay(true);
        super::size_buffers(&stream, self.socket_buffer);
        Ok(stream)
    }

    fn set_accepting(&mut self, on: bool) -> io::Result<()> {
        self.accepting = on;
        Ok(())
    }

    fn register(
        &mut self,
        stream: &mut TcpStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let fd = stream.as_raw_fd();
        if self.mechanism == Mechanism::Select {
            check_select_fd(fd)?;
        }
        if self.regs.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.regs.insert(fd, (token, interest));
        Ok(())
    }

    fn reregister(
        &mut self,
        stream: &mut TcpStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self.regs.get_mut(&stream.as_raw_fd()) {
            Some(entry) => {
                *entry = (token, interest);
                Ok(())
            }
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }

    fn read(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        stream.read(buf)
    }

    fn write(&mut self, stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
        stream.write(buf)
    }

    fn shutdown_write(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        stream.shutdown(Shutdown::Write)
    }

    fn close(&mut self, stream: TcpStream) {
        self.regs.remove(&stream.as_raw_fd());
    }

    fn describe(&self, stream: &TcpStream) -> String {
        super::peer_label(stream.peer_addr())
    }
}
