//! The real backend: TCP sockets and epoll (kqueue elsewhere) through mio.
//!
//! mio is edge-triggered, which is why the driver drains every socket (until `WouldBlock`, or
//! on Linux until a short read) and keeps a ready list: see the contract in [`super`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Poll, Waker};

use super::{Backend, Event, Interest, Token};
use crate::time::Instant;

/// Events fetched per `epoll_wait`. 1024 covers a full accept burst or a busy turn of a
/// thousand connections in one call.
const EVENTS_PER_POLL: usize = 1024;

/// Real sockets on a real selector.
pub struct MioBackend {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    local_addr: SocketAddr,
    start: std::time::Instant,
    waker: Arc<Waker>,
    socket_buffer: Option<usize>,
}

fn mio_interest(interest: Interest) -> mio::Interest {
    match (interest.is_readable(), interest.is_writable()) {
        (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
        (true, false) => mio::Interest::READABLE,
        _ => mio::Interest::WRITABLE,
    }
}

impl MioBackend {
    /// Binds a listening socket on `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        poll.registry().register(
            &mut listener,
            mio::Token(Token::LISTENER.0 as usize),
            mio::Interest::READABLE,
        )?;
        let waker = Arc::new(Waker::new(
            poll.registry(),
            mio::Token(Token::WAKER.0 as usize),
        )?);
        Ok(MioBackend {
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            listener,
            local_addr,
            start: std::time::Instant::now(),
            waker,
            socket_buffer: None,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Gives every accepted connection send and receive buffers of about `bytes` (the kernel
    /// rounds up to its minimum and doubles): small buffers make a slow reader's answers pile
    /// up in the server after a few kilobytes instead of megabytes.
    pub fn set_socket_buffer(&mut self, bytes: Option<usize>) {
        self.socket_buffer = bytes;
    }

    /// A handle that wakes a blocked [`Backend::poll`] from another thread (or a signal
    /// handler thread); the wake-up arrives as an empty poll.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }
}

impl Backend for MioBackend {
    type Stream = TcpStream;

    fn now(&self) -> Instant {
        Instant::from_start(self.start.elapsed())
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        self.poll.poll(&mut self.events, timeout)?;
        for event in self.events.iter() {
            let token = Token(event.token().0 as u64);
            if token == Token::WAKER {
                continue;
            }
            let broken = event.is_error();
            events.push(Event {
                token,
                readable: event.is_readable() || event.is_read_closed() || broken,
                writable: event.is_writable() || event.is_write_closed() || broken,
                read_closed: event.is_read_closed() || broken,
            });
        }
        Ok(())
    }

    fn accept(&mut self) -> io::Result<TcpStream> {
        let (stream, _) = self.listener.accept()?;
        // Answers are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        super::size_buffers(&stream, self.socket_buffer);
        Ok(stream)
    }

    fn set_accepting(&mut self, on: bool) -> io::Result<()> {
        if on {
            self.poll.registry().register(
                &mut self.listener,
                mio::Token(Token::LISTENER.0 as usize),
                mio::Interest::READABLE,
            )
        } else {
            self.poll.registry().deregister(&mut self.listener)
        }
    }

    fn register(
        &mut self,
        stream: &mut TcpStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll
            .registry()
            .register(stream, mio::Token(token.0 as usize), mio_interest(interest))
    }

    fn reregister(
        &mut self,
        stream: &mut TcpStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll.registry().reregister(
            stream,
            mio::Token(token.0 as usize),
            mio_interest(interest),
        )
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

    fn close(&mut self, mut stream: TcpStream) {
        // Deregistering a socket the peer already reset can fail; it is closed either way.
        let _ = self.poll.registry().deregister(&mut stream);
    }

    fn describe(&self, stream: &TcpStream) -> String {
        super::peer_label(stream.peer_addr())
    }

    /// On Linux mio registers sockets with `EPOLLET | EPOLLRDHUP`, and the kernel raises an
    /// edge on every arrival of data, so a short read proves the socket drained. Elsewhere
    /// (kqueue) only the portable contract holds.
    fn may_stop_at_short_io(&self) -> bool {
        cfg!(target_os = "linux")
    }
}
