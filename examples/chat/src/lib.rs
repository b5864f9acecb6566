//! `chat`: a broadcast chat service with rooms, written sans-IO and tested with muxsim against
//! a reference model of the protocol between its connections.
//!
//! The protocol: on connect the server sends `welcome\n` and puts the client in room `lobby`.
//! Each line (`\n`-terminated, a `\r` before the `\n` ignored) is one command:
//!
//! | command | effect |
//! |---|---|
//! | `NICK name` | sets the client's name (1 to 16 letters and digits); answers `ok` |
//! | `JOIN room` | leaves the current room for `room` (1 to 16 letters and digits); answers `ok` |
//! | `MSG text` | every *other* client in the room receives `name: text`; no answer (`ERR no nick` without a name) |
//! | `QUIT` | answers `bye`, then the server closes; nothing after it is read |
//! | anything else | `ERR unknown command` (`ERR bad nick`, `ERR bad room` for a bad argument) |
//!
//! Every line the server sends ends with `\n`. A line longer than `max-line` bytes (not
//! counting its `\n` and a `\r` before it) gets `ERR too long\n` and a close; a client that
//! sends nothing for `idle-ms` milliseconds is closed without a word; a client that ends its
//! stream leaves (an unterminated last line is dropped).
//!
//! [`model`] is the protocol written apart from the service, as muxsim's reference model:
//! it is fed what the server read, in the order it read it, and says what every connection
//! must receive. [`Bug`] lists single-bug variants that only show between connections.

use std::collections::BTreeMap;
use std::time::Duration;

use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::service::ModelOracle;
use muxsim::time::Instant;
use muxsim::{Deadline, Protocol, Registry, ServiceDescriptor};

pub mod model;

/// The greeting.
pub const GREETING: &[u8] = b"welcome\n";
/// The answer to a line over the limit, before the close.
pub const TOO_LONG: &[u8] = b"ERR too long\n";
/// The default longest line, in bytes.
pub const DEFAULT_MAX_LINE: usize = 256;
/// The default idle timeout, in milliseconds.
pub const DEFAULT_IDLE_MS: u64 = 2_000;
/// The room a client starts in.
pub const LOBBY: &[u8] = b"lobby";

/// A single bug, planted in an otherwise correct chat: mistakes that only show between
/// connections, so that no check of one connection alone finds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Picks a line's recipients when its first byte arrives: a client that connects (or
    /// joins the room) while the sender is mid-line misses that line.
    LateJoiner,
    /// Sends a message back to its sender too.
    EchoToSender,
    /// Goes on reading the lines pipelined after `QUIT`, so their messages are delivered
    /// after the sender left.
    AfterQuit,
    /// `JOIN` adds the client to the new room without taking it out of the old one: messages
    /// of a room it left leak to it.
    StaleRoom,
    /// Skips a recipient that is in the middle of typing a line (has a partial line
    /// buffered): a slow sender loses what others said meanwhile.
    TypingLoses,
    /// Sends the first message of a read twice when the read holds several lines.
    BurstTwice,
}

impl Bug {
    /// Every bug.
    pub const ALL: [Bug; 6] = [
        Bug::LateJoiner,
        Bug::EchoToSender,
        Bug::AfterQuit,
        Bug::StaleRoom,
        Bug::TypingLoses,
        Bug::BurstTwice,
    ];

    /// The name the variant is registered under.
    pub fn service_name(self) -> &'static str {
        match self {
            Bug::LateJoiner => "chat-late-joiner",
            Bug::EchoToSender => "chat-echo-to-sender",
            Bug::AfterQuit => "chat-after-quit",
            Bug::StaleRoom => "chat-stale-room",
            Bug::TypingLoses => "chat-typing-loses",
            Bug::BurstTwice => "chat-burst-twice",
        }
    }

    /// What the variant does wrong.
    pub fn about(self) -> &'static str {
        match self {
            Bug::LateJoiner => "BUG EXHIBIT: picks a line's recipients at its first byte",
            Bug::EchoToSender => "BUG EXHIBIT: sends a message back to its sender",
            Bug::AfterQuit => "BUG EXHIBIT: delivers lines pipelined after QUIT",
            Bug::StaleRoom => "BUG EXHIBIT: JOIN never leaves the old room",
            Bug::TypingLoses => "BUG EXHIBIT: skips a recipient with a partial line",
            Bug::BurstTwice => "BUG EXHIBIT: sends the first message of a burst twice",
        }
    }
}

#[derive(Debug)]
struct Member {
    nick: Option<Vec<u8>>,
    /// The room it is in; with [`Bug::StaleRoom`], every room it ever joined.
    rooms: Vec<Vec<u8>>,
    buf: Vec<u8>,
    last_input: Instant,
    /// It sent `QUIT` or ended its stream: nothing more is read or sent to it.
    leaving: bool,
    /// With [`Bug::LateJoiner`], the recipients picked when the line being read began.
    snapshot: Option<Vec<ConnId>>,
}

impl Member {
    fn room(&self) -> &[u8] {
        self.rooms.last().map_or(LOBBY, Vec::as_slice)
    }
}

/// The chat service.
#[derive(Debug)]
pub struct Chat {
    max_line: usize,
    idle: Option<Duration>,
    bug: Option<Bug>,
    members: BTreeMap<ConnId, Member>,
    out: Outbox,
}

/// A name or a room: 1 to 16 ASCII letters and digits.
fn valid_name(name: &[u8]) -> bool {
    (1..=16).contains(&name.len()) && name.iter().all(u8::is_ascii_alphanumeric)
}

impl Chat {
    /// A chat whose lines are at most `max_line` bytes, closing clients silent for `idle`.
    pub fn new(max_line: usize, idle: Option<Duration>) -> Self {
        Chat {
            max_line,
            idle,
            bug: None,
            members: BTreeMap::new(),
            out: Outbox::default(),
        }
    }

    /// The same chat with `bug` planted.
    pub fn with_bug(mut self, bug: Option<Bug>) -> Self {
        self.bug = bug;
        self
    }

    /// Who receives what `from` says now.
    fn recipients(&self, from: ConnId) -> Vec<ConnId> {
        let Some(sender) = self.members.get(&from) else {
            return Vec::new();
        };
        let room = sender.room();
        self.members
            .iter()
            .filter(|(id, m)| {
                let in_room = match self.bug {
                    Some(Bug::StaleRoom) => m.rooms.iter().any(|r| r == room),
                    _ => m.room() == room,
                };
                let me = **id == from && self.bug != Some(Bug::EchoToSender);
                let typing = self.bug == Some(Bug::TypingLoses) && !m.buf.is_empty();
                in_room && !me && !m.leaving && !typing
            })
            .map(|(id, _)| *id)
            .collect()
    }

    fn leave(&mut self, conn: ConnId) {
        if let Some(m) = self.members.get_mut(&conn) {
            m.leaving = true;
            m.buf.clear();
        }
        self.out.close(conn);
    }

    /// Runs one command of `conn` (without its line ending); whether it was a message.
    fn command(&mut self, conn: ConnId, line: &[u8]) -> Option<Vec<u8>> {
        let (word, rest) = match line.iter().position(|&b| b == b' ') {
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &b""[..]),
        };
        match word {
            b"NICK" if valid_name(rest) => {
                if let Some(m) = self.members.get_mut(&conn) {
                    m.nick = Some(rest.to_vec());
                }
                self.out.send(conn, &b"ok\n"[..]);
            }
            b"NICK" => self.out.send(conn, &b"ERR bad nick\n"[..]),
            b"JOIN" if valid_name(rest) => {
                let stale = self.bug == Some(Bug::StaleRoom);
                if let Some(m) = self.members.get_mut(&conn) {
                    if !stale {
                        m.rooms.clear();
                    }
                    m.rooms.push(rest.to_vec());
                }
                self.out.send(conn, &b"ok\n"[..]);
            }
            b"JOIN" => self.out.send(conn, &b"ERR bad room\n"[..]),
            b"MSG" => {
                let nick = self.members.get(&conn).and_then(|m| m.nick.clone());
                let Some(nick) = nick else {
                    self.out.send(conn, &b"ERR no nick\n"[..]);
                    return None;
                };
                let text = [&nick[..], b": ", rest, b"\n"].concat();
                let snapshot = self.members.get_mut(&conn).and_then(|m| m.snapshot.take());
                let to = match snapshot {
                    Some(to) if self.bug == Some(Bug::LateJoiner) => to,
                    _ => self.recipients(conn),
                };
                self.broadcast(&to, &text);
                return Some(text);
            }
            b"QUIT" if rest.is_empty() => {
                self.out.send(conn, &b"bye\n"[..]);
                if self.bug == Some(Bug::AfterQuit) {
                    // Asks to close but goes on with what is buffered, and keeps it in the
                    // room until the close.
                    self.out.close(conn);
                } else {
                    self.leave(conn);
                }
            }
            _ => self.out.send(conn, &b"ERR unknown command\n"[..]),
        }
        None
    }

    fn broadcast(&mut self, to: &[ConnId], text: &[u8]) {
        for &id in to {
            if self.members.get(&id).is_some_and(|m| !m.leaving) {
                self.out.send(id, text);
            }
        }
    }

    /// Whether the partial line `buf` is already over the limit (a `\r` of `\r\n` in flight
    /// does not count).
    fn partial_over(&self, buf: &[u8]) -> bool {
        buf.len() > self.max_line + 1
            || (buf.len() == self.max_line + 1 && buf.last() != Some(&b'\r'))
    }
}

impl Service for Chat {
    fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.members.insert(
            conn,
            Member {
                nick: None,
                rooms: vec![LOBBY.to_vec()],
                buf: Vec::new(),
                last_input: now,
                leaving: false,
                snapshot: None,
            },
        );
        self.out.send(conn, GREETING);
    }

    fn handle_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let late_joiner = self.bug == Some(Bug::LateJoiner);
        let begins = self.members.get(&conn).is_some_and(|m| m.buf.is_empty());
        // With the late-joiner bug, a line's recipients are picked when it begins.
        let snapshot = (late_joiner && begins).then(|| self.recipients(conn));
        let Some(m) = self.members.get_mut(&conn) else {
            return;
        };
        if m.leaving {
            return;
        }
        m.last_input = now;
        if snapshot.is_some() {
            m.snapshot = snapshot;
        }
        m.buf.extend_from_slice(bytes);
        let mut lines = 0;
        let mut first_message: Option<(Vec<ConnId>, Vec<u8>)> = None;
        loop {
            let Some(m) = self.members.get_mut(&conn) else {
                return;
            };
            if m.leaving {
                return;
            }
            let Some(end) = m.buf.iter().position(|&b| b == b'\n') else {
                break;
            };
            let mut line: Vec<u8> = m.buf.drain(..=end).collect();
            let next_begun = !m.buf.is_empty();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > self.max_line {
                self.out.send(conn, TOO_LONG);
                self.leave(conn);
                return;
            }
            let to = self.recipients(conn);
            lines += 1;
            if let Some(text) = self.command(conn, &line)
                && lines == 1
            {
                first_message = Some((to, text));
            }
            if late_joiner {
                let next = next_begun.then(|| self.recipients(conn));
                if let Some(m) = self.members.get_mut(&conn) {
                    m.snapshot = next;
                }
            }
        }
        if self.bug == Some(Bug::BurstTwice)
            && lines >= 2
            && let Some((to, text)) = first_message
        {
            self.broadcast(&to, &text);
        }
        let over = self
            .members
            .get(&conn)
            .is_some_and(|m| !m.leaving && self.partial_over(&m.buf));
        if over {
            self.out.send(conn, TOO_LONG);
            self.leave(conn);
        }
    }

    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        self.leave(conn);
    }

    fn handle_closed(&mut self, _now: Instant, conn: ConnId, _reason: CloseReason) {
        self.members.remove(&conn);
    }

    fn handle_timeout(&mut self, now: Instant) {
        let Some(idle) = self.idle else { return };
        let silent: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, m)| !m.leaving && m.last_input + idle <= now)
            .map(|(id, _)| *id)
            .collect();
        for conn in silent {
            self.leave(conn);
        }
    }

    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let idle = self.idle?;
        self.members
            .values()
            .filter(|m| !m.leaving)
            .map(|m| m.last_input + idle)
            .min()
    }

    fn tracked_connections(&self) -> usize {
        self.members.len()
    }
}

/// A client's session, as the generator plays it: a name first, then mostly messages, now
/// and then a change of room, a new name or `QUIT`.
fn session(next: &mut muxsim::service::Next<'_>) -> Vec<u8> {
    let me = next.client();
    if !next.has_sent(b"NICK ") {
        return format!("NICK u{me}").into_bytes();
    }
    let words = ["hi", "hello there", "ok", "see you", "x"];
    match next.below(100) {
        0..=69 => {
            let text = *next.pick(&words);
            format!("MSG {text} {}", next.sent().len()).into_bytes()
        }
        70..=81 => {
            let room = *next.pick(&["lobby", "dev"]);
            format!("JOIN {room}").into_bytes()
        }
        82..=86 => b"QUIT".to_vec(),
        87..=93 => format!("NICK v{me}").into_bytes(),
        _ => b"WHO".to_vec(),
    }
}

/// The protocol muxsim generates clients from: lines ending in `\n` or `\r\n`, sessions as
/// the session function below plays them, lines up to and over `max-line`, idles as long as `idle-ms`.
pub fn protocol(max_line: usize, idle: Option<Duration>) -> Protocol {
    let mut protocol = Protocol::lines()
        .greeting(GREETING)
        .endings([&b"\n"[..], b"\r\n"])
        .token(b"NICK u1".to_vec())
        .token(b"MSG ".to_vec())
        .token(b"JOIN dev".to_vec())
        .token(b"QUIT".to_vec())
        .max_message(max_line, TOO_LONG)
        .ends_mid_message(true)
        .session(session)
        .clients(4);
    if let Some(idle) = idle {
        protocol = protocol.deadline(Deadline::idle(idle));
    }
    protocol
}

/// The service's descriptor, or a bug variant's: how to build it, its options, protocol and
/// the model that judges it.
pub fn descriptor(bug: Option<Bug>) -> ServiceDescriptor {
    let (name, about) = match bug {
        None => ("chat", "broadcast chat with rooms: NICK, JOIN, MSG, QUIT"),
        Some(bug) => (bug.service_name(), bug.about()),
    };
    let descriptor = ServiceDescriptor::new(name, move |options| {
        Chat::new(options.usize("max-line"), options.millis("idle-ms")).with_bug(bug)
    })
    .about(about)
    .option(
        "max-line",
        DEFAULT_MAX_LINE as u64,
        "longest line accepted, in bytes; a longer one gets an error and a close",
    )
    .option(
        "idle-ms",
        DEFAULT_IDLE_MS,
        "how long a client may stay silent, in milliseconds (0: forever)",
    )
    .protocol_with(|options| protocol(options.usize("max-line"), options.millis("idle-ms")))
    .oracle(ModelOracle::new(|_options| model::ChatModel::default()));
    match bug {
        None => descriptor,
        Some(_) => descriptor.exhibit(),
    }
}

/// muxsim's built-in services, chat, and every bug variant.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin().with(descriptor(None));
    for bug in Bug::ALL {
        registry.register(descriptor(Some(bug)));
    }
    registry
}
