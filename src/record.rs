//! The recording proxy behind `muxsim record`: forwards TCP both ways between clients and an
//! upstream server and writes what it saw as a transcript.
//!
//! Each client connection becomes a client of the transcript (`a`, `b`, ...): bytes it sent
//! become `send` lines, bytes the server answered `recv` lines, a half-close `shutdown`, the
//! server's close `recv-eof`, resets `reset` / `recv-reset`. An action that follows another
//! client's step is preceded by `after` that client, so the order between clients the session
//! had holds in every replay. Replaying the file against a server (`muxsim replay --target`)
//! then checks that the server still answers the same.
//!
//! Every line goes to the output as it happens (and is flushed), so the recording costs no
//! memory beyond the bounded pipe buffers, and a proxy killed mid-session leaves everything
//! up to that moment on disk.
//!
//! One thread, mio, edge-triggered: every event on a pair of sockets pumps the pair until no
//! more progress is possible, and a pair's buffers are bounded so a slow side slows the other.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::script::{Step, client_name};
use crate::transcript::{Header, Item, render_item};

/// Bytes buffered per direction before the proxy stops reading that side.
const PIPE_LIMIT: usize = 64 * 1024;
const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// What the proxy is told.
#[derive(Clone, Debug)]
pub(crate) struct RecordOptions {
    pub(crate) upstream: SocketAddr,
    /// Stop after this many client connections have ended (`None`: run until stopped).
    pub(crate) count: Option<usize>,
    /// The `service` line to write, when the upstream runs a known service.
    pub(crate) service: Option<String>,
}

struct Pair {
    name: String,
    client: TcpStream,
    upstream: TcpStream,
    to_upstream: Vec<u8>,
    to_client: Vec<u8>,
    client_eof: bool,
    upstream_eof: bool,
    /// The EOF was passed on to the other side.
    client_eof_sent: bool,
    upstream_eof_sent: bool,
    broken: bool,
}

/// A running proxy.
pub(crate) struct Recorder<W: Write> {
    poll: Poll,
    listener: TcpListener,
    waker: std::sync::Arc<Waker>,
    options: RecordOptions,
    pairs: BTreeMap<usize, Pair>,
    next: usize,
    finished: usize,
    out: W,
    /// The first error writing the output, which ends the recording.
    out_error: Option<io::Error>,
    warn: Box<dyn FnMut(String)>,
    started: Instant,
    last_mark: Duration,
    /// The client of the last step line written.
    last_client: Option<String>,
}

impl<W: Write> Recorder<W> {
    /// Listens on `listen` (port 0 picks a free port) and writes the transcript's header to
    /// `out`; `warn` hears of trouble with the upstream.
    pub(crate) fn bind(
        listen: SocketAddr,
        options: RecordOptions,
        out: W,
        warn: Box<dyn FnMut(String)>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = std::sync::Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut recorder = Recorder {
            poll,
            listener,
            waker,
            pairs: BTreeMap::new(),
            next: 0,
            finished: 0,
            out,
            out_error: None,
            warn,
            started: Instant::now(),
            last_mark: Duration::ZERO,
            last_client: None,
            options,
        };
        recorder.write(&Item::Comment(format!(
            " recorded by muxsim record in front of {}",
            recorder.options.upstream
        )));
        if let Some(service) = recorder.options.service.clone() {
            recorder.write(&Item::Header(Header::Service(service)));
        }
        recorder.write(&Item::Blank);
        if let Some(e) = recorder.out_error.take() {
            return Err(e);
        }
        Ok(recorder)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Wakes [`Recorder::run`] from another thread so it can see its stop flag.
    pub(crate) fn waker(&self) -> std::sync::Arc<Waker> {
        std::sync::Arc::clone(&self.waker)
    }

    /// Writes one line of the transcript, at once.
    fn write(&mut self, item: &Item) {
        if self.out_error.is_some() {
            return;
        }
        let result = writeln!(self.out, "{}", render_item(item)).and_then(|()| self.out.flush());
        if let Err(e) = result {
            self.out_error = Some(e);
        }
    }

    /// Forwards until `stop` is set or the connection count is reached. An error when the
    /// proxy or the output failed.
    pub(crate) fn run(mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        while !stop.load(Ordering::Relaxed) && self.options.count.is_none_or(|n| self.finished < n)
        {
            match self
                .poll
                .poll(&mut events, Some(Duration::from_millis(200)))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
            for token in tokens {
                match token {
                    LISTENER => self.accept()?,
                    WAKER => {}
                    Token(t) => self.pump((t - 2) / 2),
                }
            }
            if let Some(e) = self.out_error.take() {
                return Err(e);
            }
        }
        Ok(())
    }

    fn mark(&mut self) {
        let now = self.started.elapsed();
        let ms = Duration::from_millis(now.as_millis() as u64);
        if ms > self.last_mark {
            self.last_mark = ms;
            self.write(&Item::At(ms));
        }
    }

    fn note(&mut self, name: String, step: Step) {
        self.mark();
        // An action that followed another client's step waits for it in a replay: the order
        // between clients the session had (b connects once a was greeted, b's message goes
        // out once a is there to receive it) holds under every seed.
        if !step.is_expectation()
            && let Some(last) = self.last_client.clone()
            && last != name
        {
            self.write(&Item::Step {
                client: name.clone(),
                step: Step::After {
                    client: last,
                    steps: None,
                },
            });
        }
        self.last_client = Some(name.clone());
        self.write(&Item::Step { client: name, step });
    }

    fn accept(&mut self) -> io::Result<()> {
        loop {
            let (mut client, _) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if crate::backend::is_accept_retry(&e) => continue,
                Err(e) => return Err(e),
            };
            let index = self.next;
            self.next += 1;
            let mut upstream = TcpStream::connect(self.options.upstream)?;
            let _ = client.set_nodelay(true);
            let both = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut client, Token(2 + 2 * index), both)?;
            self.poll
                .registry()
                .register(&mut upstream, Token(3 + 2 * index), both)?;
            let name = client_name(index);
            self.note(name.clone(), Step::Connect);
            self.pairs.insert(
                index,
                Pair {
                    name,
                    client,
                    upstream,
                    to_upstream: Vec::new(),
                    to_client: Vec::new(),
                    client_eof: false,
                    upstream_eof: false,
                    client_eof_sent: false,
                    upstream_eof_sent: false,
                    broken: false,
                },
            );
        }
    }

    /// Moves bytes both ways until nothing more can move, recording as it goes.
    fn pump(&mut self, index: usize) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(pair) = self.pairs.get_mut(&index) else {
                return;
            };
            let mut notes: Vec<Step> = Vec::new();
            let mut warning = None;
            let mut progress = false;
            // Client → upstream.
            while !pair.client_eof && !pair.broken && pair.to_upstream.len() < PIPE_LIMIT {
                match pair.client.read(&mut buf) {
                    Ok(0) => {
                        pair.client_eof = true;
                        notes.push(Step::Shutdown);
                    }
                    Ok(n) => {
                        pair.to_upstream.extend_from_slice(&buf[..n]);
                        notes.push(Step::Send(buf[..n].to_vec()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        pair.broken = true;
                        notes.push(Step::Reset);
                    }
                }
                progress = true;
            }
            progress |= flush(&mut pair.upstream, &mut pair.to_upstream, &mut pair.broken);
            if pair.client_eof && pair.to_upstream.is_empty() && !pair.client_eof_sent {
                let _ = pair.upstream.shutdown(Shutdown::Write);
                pair.client_eof_sent = true;
            }
            // Upstream → client.
            while !pair.upstream_eof && !pair.broken && pair.to_client.len() < PIPE_LIMIT {
                match pair.upstream.read(&mut buf) {
                    Ok(0) => {
                        pair.upstream_eof = true;
                        notes.push(Step::RecvEof);
                    }
                    Ok(n) => {
                        pair.to_client.extend_from_slice(&buf[..n]);
                        notes.push(Step::Recv(buf[..n].to_vec()));
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::NotConnected =>
                    {
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        pair.broken = true;
                        if e.kind() == io::ErrorKind::ConnectionRefused {
                            warning = Some(format!(
                                "the upstream {} refused the connection of client {}",
                                self.options.upstream, pair.name
                            ));
                        }
                        notes.push(Step::RecvReset);
                    }
                }
                progress = true;
            }
            progress |= flush(&mut pair.client, &mut pair.to_client, &mut pair.broken);
            if pair.upstream_eof && pair.to_client.is_empty() && !pair.upstream_eof_sent {
                let _ = pair.client.shutdown(Shutdown::Write);
                pair.upstream_eof_sent = true;
            }
            let done = pair.broken || (pair.client_eof_sent && pair.upstream_eof_sent);
            let name = pair.name.clone();
            if let Some(warning) = warning {
                (self.warn)(warning);
            }
            for step in notes {
                self.note(name.clone(), step);
            }
            if done {
                if let Some(mut pair) = self.pairs.remove(&index) {
                    let _ = self.poll.registry().deregister(&mut pair.client);
                    let _ = self.poll.registry().deregister(&mut pair.upstream);
                    if !pair.broken {
                        self.note(name, Step::Close);
                    }
                }
                self.finished += 1;
                return;
            }
            if !progress {
                return;
            }
        }
    }
}

/// Writes what it can of `pending`; true when anything moved.
fn flush(stream: &mut TcpStream, pending: &mut Vec<u8>, broken: &mut bool) -> bool {
    let mut moved = false;
    while !pending.is_empty() && !*broken {
        match stream.write(pending) {
            Ok(0) => break,
            Ok(n) => {
                pending.drain(..n);
                moved = true;
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::NotConnected =>
            {
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => *broken = true,
        }
    }
    moved
}
