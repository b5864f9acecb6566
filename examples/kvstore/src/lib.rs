//! `kvstore`: a small line-framed key-value service, written sans-IO and tested with muxsim.
//!
//! The protocol: on connect the server sends `hello kvstore\r\n`. Each line (`\n`-terminated,
//! a `\r` before the `\n` ignored) is one command, answered in order:
//!
//! | command | answer |
//! |---|---|
//! | `PING` | `PONG` |
//! | `SET key value` | `OK` (the value is the rest of the line, spaces included) |
//! | `GET key` | `VALUE value`, or `NIL` |
//! | `DEL key` | `DELETED`, or `NIL` |
//! | `QUIT` | `BYE`, then the server closes |
//! | an empty line | `ERR empty line` |
//! | anything else | `ERR unknown command`, or `ERR usage: …` for a known command without its arguments |
//!
//! Every answer ends with `\r\n`. Each connection has its own keys. A line longer than
//! `max-line` bytes (not counting its `\n`) gets `ERR line too long\r\n` and a close; a
//! connection that sends nothing for `idle-ms` milliseconds gets `ERR idle timeout\r\n` and a
//! close; when the client shuts down its side, an unterminated last line is answered, then
//! the server closes.
//!
//! [`descriptor`] tells muxsim all of that: how to build the service from its options, its
//! protocol (framing, greeting, alphabet and command words, line limit, idle deadline) and
//! its oracle (the [`spec`] model, written apart from the service). [`Bug`] lists single-bug
//! variants, each registered as its own service, that the tests show muxsim finds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::time::Instant;
use muxsim::{Deadline, Protocol, Registry, ServiceDescriptor};

pub mod spec;

/// The greeting.
pub const GREETING: &[u8] = b"hello kvstore\r\n";
/// The answer to a line over the limit, before the close.
pub const TOO_LONG: &[u8] = b"ERR line too long\r\n";
/// The answer to an idle connection, before the close.
pub const IDLE: &[u8] = b"ERR idle timeout\r\n";
/// The default longest line, in bytes.
pub const DEFAULT_MAX_LINE: usize = 512;
/// The default idle timeout, in milliseconds.
pub const DEFAULT_IDLE_MS: u64 = 1_000;

/// A single bug, planted in an otherwise correct kvstore: the mistakes people make in line
/// servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Strips the `\r` of a `\r\n` only when both bytes arrive in the same read.
    CrlfSplit,
    /// Refuses a line of exactly `max-line` bytes (`>=` where `>` was meant).
    OffByOne,
    /// Counts the idle timeout from the connect instead of from the last byte received.
    IdleFromConnect,
    /// Drops an unterminated last line when the client shuts down its side.
    DropsLastLine,
    /// Keeps one partial-line buffer for all connections instead of one per connection.
    CrossTalk,
    /// Answers only the first complete line of each read, dropping pipelined ones.
    FirstLineOnly,
    /// Answers a line over the limit with the error but keeps the connection open.
    NoCloseOnLimit,
    /// Answers `DEL` with `DELETED` without deleting the key.
    DelKeeps,
    /// Goes on answering the lines pipelined after `QUIT`, after asking to close.
    AnswersAfterQuit,
    /// Forgets to free a connection's state when the client resets it.
    LeaksOnReset,
}

impl Bug {
    /// Every bug.
    pub const ALL: [Bug; 10] = [
        Bug::CrlfSplit,
        Bug::OffByOne,
        Bug::IdleFromConnect,
        Bug::DropsLastLine,
        Bug::CrossTalk,
        Bug::FirstLineOnly,
        Bug::NoCloseOnLimit,
        Bug::DelKeeps,
        Bug::AnswersAfterQuit,
        Bug::LeaksOnReset,
    ];

    /// The name of the variant's service: `kvstore-` and the bug.
    pub fn service_name(self) -> &'static str {
        match self {
            Bug::CrlfSplit => "kvstore-crlf-split",
            Bug::OffByOne => "kvstore-off-by-one",
            Bug::IdleFromConnect => "kvstore-idle-from-connect",
            Bug::DropsLastLine => "kvstore-drops-last-line",
            Bug::CrossTalk => "kvstore-cross-talk",
            Bug::FirstLineOnly => "kvstore-first-line-only",
            Bug::NoCloseOnLimit => "kvstore-no-close-on-limit",
            Bug::DelKeeps => "kvstore-del-keeps",
            Bug::AnswersAfterQuit => "kvstore-answers-after-quit",
            Bug::LeaksOnReset => "kvstore-leaks-on-reset",
        }
    }

    /// What the bug is, in a line.
    pub fn about(self) -> &'static str {
        match self {
            Bug::CrlfSplit => "strips \\r only when \\r\\n arrive in one read",
            Bug::OffByOne => "refuses a line of exactly max-line bytes",
            Bug::IdleFromConnect => "counts the idle timeout from the connect",
            Bug::DropsLastLine => "drops an unterminated last line at EOF",
            Bug::CrossTalk => "one partial-line buffer shared by all connections",
            Bug::FirstLineOnly => "answers only the first line of each read",
            Bug::NoCloseOnLimit => "does not close after a line over the limit",
            Bug::DelKeeps => "DEL answers DELETED but keeps the key",
            Bug::AnswersAfterQuit => "answers lines pipelined after QUIT",
            Bug::LeaksOnReset => "keeps a connection's state after a reset",
        }
    }
}

/// One connection's state.
#[derive(Debug, Default)]
struct Conn {
    /// The line in progress.
    partial: Vec<u8>,
    /// The connection's keys.
    store: BTreeMap<Vec<u8>, Vec<u8>>,
    /// When the idle timer fires, if one is set.
    deadline: Option<Instant>,
    /// The service asked to close: read nothing more.
    closing: bool,
}

/// The kvstore service (or one of its bug variants).
#[derive(Debug)]
pub struct KvStore {
    bug: Option<Bug>,
    max_line: usize,
    idle: Option<Duration>,
    conns: BTreeMap<ConnId, Conn>,
    timers: BTreeSet<(Instant, ConnId)>,
    /// The partial line of every connection, under [`Bug::CrossTalk`].
    shared_partial: Vec<u8>,
    out: Outbox,
}

impl KvStore {
    /// A correct kvstore: lines up to `max_line` bytes, idle connections closed after `idle`
    /// (never, with `None`).
    pub fn new(max_line: usize, idle: Option<Duration>) -> Self {
        KvStore {
            bug: None,
            max_line,
            idle,
            conns: BTreeMap::new(),
            timers: BTreeSet::new(),
            shared_partial: Vec::new(),
            out: Outbox::default(),
        }
    }

    /// The same, with `bug` planted.
    pub fn with_bug(mut self, bug: Option<Bug>) -> Self {
        self.bug = bug;
        self
    }

    fn has(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// Sets `conn`'s idle timer to fire `idle` after `now`.
    fn arm(&mut self, now: Instant, conn: ConnId) {
        let Some(idle) = self.idle else { return };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(old) = c.deadline.take() {
            self.timers.remove(&(old, conn));
        }
        let at = now + idle;
        c.deadline = Some(at);
        self.timers.insert((at, conn));
    }

    fn disarm(&mut self, conn: ConnId) {
        if let Some(at) = self.conns.get_mut(&conn).and_then(|c| c.deadline.take()) {
            self.timers.remove(&(at, conn));
        }
    }

    /// Answers with `message` and closes; nothing more is read.
    fn close_with(&mut self, conn: ConnId, message: &[u8]) {
        self.disarm(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            c.partial = Vec::new();
        }
        self.out.send(conn, message);
        self.out.close(conn);
    }

    fn partial_mut(&mut self, conn: ConnId) -> Option<&mut Vec<u8>> {
        if self.bug == Some(Bug::CrossTalk) {
            return Some(&mut self.shared_partial);
        }
        self.conns.get_mut(&conn).map(|c| &mut c.partial)
    }

    /// Answers one complete line (its `\n` removed; `cr_seen` says whether a `\r` before it
    /// is to be ignored). Returns whether the connection is closing.
    fn line(&mut self, conn: ConnId, mut line: Vec<u8>, strip_cr: bool) -> bool {
        if strip_cr && line.last() == Some(&b'\r') {
            line.pop();
        }
        let del_keeps = self.has(Bug::DelKeeps);
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        let mut words = line.splitn(3, |&b| b == b' ');
        let command = words.next().unwrap_or_default();
        let key = words.next();
        let value = words.next();
        let answer: Vec<u8> = match (command, key, value) {
            (b"", None, None) => b"ERR empty line".to_vec(),
            (b"PING", None, None) => b"PONG".to_vec(),
            (b"SET", Some(key), Some(value)) => {
                c.store.insert(key.to_vec(), value.to_vec());
                b"OK".to_vec()
            }
            (b"SET", _, _) => b"ERR usage: SET key value".to_vec(),
            (b"GET", Some(key), None) => match c.store.get(key) {
                Some(value) => [b"VALUE ", value.as_slice()].concat(),
                None => b"NIL".to_vec(),
            },
            (b"GET", _, _) => b"ERR usage: GET key".to_vec(),
            (b"DEL", Some(key), None) => {
                let found = if del_keeps {
                    c.store.contains_key(key)
                } else {
                    c.store.remove(key).is_some()
                };
                if found {
                    b"DELETED".to_vec()
                } else {
                    b"NIL".to_vec()
                }
            }
            (b"DEL", _, _) => b"ERR usage: DEL key".to_vec(),
            (b"QUIT", None, None) => {
                self.out.send(conn, b"BYE\r\n");
                self.out.close(conn);
                if self.bug == Some(Bug::AnswersAfterQuit) {
                    return false;
                }
                self.disarm(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.closing = true;
                }
                return true;
            }
            _ => b"ERR unknown command".to_vec(),
        };
        self.out.send_with(conn, |buf| {
            buf.extend_from_slice(&answer);
            buf.extend_from_slice(b"\r\n");
        });
        false
    }

    /// Whether a line of `len` bytes is over the limit.
    fn too_long(&self, len: usize) -> bool {
        if self.has(Bug::OffByOne) {
            len >= self.max_line
        } else {
            len > self.max_line
        }
    }

    /// The line over the limit: refused, and (unless [`Bug::NoCloseOnLimit`]) closed.
    fn refuse(&mut self, conn: ConnId) {
        if self.has(Bug::NoCloseOnLimit) {
            if let Some(partial) = self.partial_mut(conn) {
                partial.clear();
            }
            self.out.send(conn, TOO_LONG);
        } else {
            self.close_with(conn, TOO_LONG);
        }
    }
}

impl Service for KvStore {
    fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.conns.insert(conn, Conn::default());
        self.out.send(conn, GREETING);
        self.arm(now, conn);
    }

    fn handle_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        if self.conns.get(&conn).is_none_or(|c| c.closing) {
            return;
        }
        if !self.has(Bug::IdleFromConnect) {
            self.arm(now, conn);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some(at) = rest.iter().position(|&b| b == b'\n') else {
                let Some(partial) = self.partial_mut(conn) else {
                    return;
                };
                partial.extend_from_slice(rest);
                let len = partial.len();
                if self.too_long(len) {
                    self.refuse(conn);
                }
                return;
            };
            let piece = &rest[..at];
            // The `\r` of a `\r\n` may have ended the previous read.
            let strip_cr = !self.has(Bug::CrlfSplit) || (at > 0 && rest[at - 1] == b'\r');
            let Some(partial) = self.partial_mut(conn) else {
                return;
            };
            let mut line = std::mem::take(partial);
            line.extend_from_slice(piece);
            if self.too_long(line.len()) {
                self.refuse(conn);
                if self.conns.get(&conn).is_none_or(|c| c.closing) {
                    return;
                }
            } else if self.line(conn, line, strip_cr) {
                return;
            }
            if self.has(Bug::FirstLineOnly) {
                return;
            }
            rest = &rest[at + 1..];
        }
    }

    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        if self.conns.get(&conn).is_none_or(|c| c.closing) {
            return;
        }
        let last = match self.partial_mut(conn) {
            Some(partial) => std::mem::take(partial),
            None => return,
        };
        if !last.is_empty() && !self.has(Bug::DropsLastLine) && self.line(conn, last, true) {
            return;
        }
        self.disarm(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
        }
        self.out.close(conn);
    }

    fn handle_closed(&mut self, _now: Instant, conn: ConnId, reason: CloseReason) {
        self.disarm(conn);
        if self.has(Bug::LeaksOnReset) && reason == CloseReason::Reset {
            return;
        }
        self.conns.remove(&conn);
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, conn)) = self.timers.first() {
            if at > now {
                break;
            }
            self.out.log(conn, "idle: closing");
            self.close_with(conn, IDLE);
        }
    }

    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    fn tracked_connections(&self) -> usize {
        self.conns.len()
    }
}

/// The protocol muxsim generates clients from, for these options: lines ending in `\n` or
/// `\r\n`, made of a small alphabet (so keys repeat) with the command words spliced in, up
/// to and over `max-line`, idles as long as `idle-ms`, last lines left unterminated.
pub fn protocol(max_line: usize, idle: Option<Duration>) -> Protocol {
    let mut protocol = Protocol::lines()
        .greeting(GREETING)
        .endings([&b"\n"[..], b"\r\n"])
        .alphabet(b"ab1 ".to_vec())
        .token(b"GET a".to_vec())
        .token(b"SET a ".to_vec())
        .token(b"DEL a".to_vec())
        .token(b"PING".to_vec())
        .token(b"QUIT".to_vec())
        .token(b"\r".to_vec())
        .max_message(max_line, TOO_LONG)
        .ends_mid_message(true)
        .answers_unterminated(true)
        .clients(3);
    if let Some(idle) = idle {
        protocol = protocol.deadline(Deadline::idle(idle).reply(IDLE));
    }
    protocol
}

/// kvstore's options, with `idle-ms` defaulting to `idle_ms`.
fn with_options(descriptor: ServiceDescriptor, idle_ms: u64) -> ServiceDescriptor {
    descriptor
        .option(
            "max-line",
            DEFAULT_MAX_LINE as u64,
            "longest line accepted, in bytes; a longer one gets an error and a close",
        )
        .option(
            "idle-ms",
            idle_ms,
            "how long a connection may stay silent, in milliseconds (0: forever)",
        )
}

/// The service's descriptor, or a bug variant's: how to build it, its options, protocol and
/// oracle.
pub fn descriptor(bug: Option<Bug>) -> ServiceDescriptor {
    let (name, about) = match bug {
        None => (
            "kvstore",
            "line-framed key-value store: PING, SET, GET, DEL, QUIT",
        ),
        Some(bug) => (bug.service_name(), bug.about()),
    };
    let descriptor = with_options(
        ServiceDescriptor::new(name, move |options| {
            KvStore::new(options.usize("max-line"), options.millis("idle-ms")).with_bug(bug)
        })
        .about(about),
        DEFAULT_IDLE_MS,
    )
    .protocol_with(|options| protocol(options.usize("max-line"), options.millis("idle-ms")))
    .oracle(spec::model());
    match bug {
        None => descriptor,
        Some(_) => descriptor.exhibit(),
    }
}

/// kvstore judged by the reference model [`spec::KvModel`] instead of [`spec::model`], with
/// no idle timeout by default (the model does not predict the idle reply).
pub fn descriptor_with_model() -> ServiceDescriptor {
    let plain = descriptor(None);
    with_options(
        ServiceDescriptor::new("kvstore-model", |options| {
            KvStore::new(options.usize("max-line"), options.millis("idle-ms"))
        })
        .about("kvstore judged by a reference model of the whole run"),
        0,
    )
    .protocol_with(move |options| plain.protocol_for(options))
    .oracle(muxsim::service::ModelOracle::new(|_| {
        spec::KvModel::default()
    }))
}

/// muxsim's built-in services, kvstore (also judged by a model), and every bug variant.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin()
        .with(descriptor(None))
        .with(descriptor_with_model());
    for bug in Bug::ALL {
        registry.register(descriptor(Some(bug)));
    }
    registry
}
