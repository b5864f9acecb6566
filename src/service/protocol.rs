//! What a service says about its protocol: how messages are framed, what they are made of,
//! the limits and deadlines it enforces. The generator reads it to send what the protocol
//! makes interesting (messages just under, at and over the declared limit, CRLF endings,
//! dictionary tokens, idles as long as the declared deadlines, streams that end mid-message);
//! the request/response oracle reads it to know what the service must answer and when it may
//! close.

use std::fmt;
use std::time::Duration;

/// How a stream is cut into messages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// No framing: the service answers whatever chunks it reads (the seed's servers).
    Chunks,
    /// Messages end with this delimiter (`\n` for line protocols).
    Delimited(Vec<u8>),
    /// Each message is preceded by its length, `width` bytes (1, 2, 4 or 8) in big- or
    /// little-endian order, counting the payload only.
    LengthPrefixed {
        /// Bytes of the length header.
        width: u8,
        /// Network byte order (big-endian) or not.
        big_endian: bool,
    },
}

/// A deadline the service enforces by closing the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadline {
    kind: DeadlineKind,
    after: Duration,
    reply: Vec<u8>,
}

/// What a deadline counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadlineKind {
    /// Since the last byte the client sent (or its connect): an idle timeout.
    Idle,
    /// Since the first byte of a message still incomplete: a request timeout (slowloris).
    Incomplete,
    /// Since the connect: a session limit.
    Session,
}

impl Deadline {
    /// An idle timeout: the service closes a connection that sent nothing for `after`.
    pub fn idle(after: Duration) -> Self {
        Deadline {
            kind: DeadlineKind::Idle,
            after,
            reply: Vec::new(),
        }
    }

    /// A request timeout: the service closes a connection whose message stayed incomplete
    /// for `after`.
    pub fn incomplete(after: Duration) -> Self {
        Deadline {
            kind: DeadlineKind::Incomplete,
            after,
            reply: Vec::new(),
        }
    }

    /// A session limit: the service closes every connection `after` its connect.
    pub fn session(after: Duration) -> Self {
        Deadline {
            kind: DeadlineKind::Session,
            after,
            reply: Vec::new(),
        }
    }

    /// What the service sends before it closes for this deadline.
    pub fn reply(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.reply = bytes.into();
        self
    }

    /// What it counts from.
    pub fn kind(&self) -> DeadlineKind {
        self.kind
    }

    /// How long.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// What is sent before the close, as set by [`Deadline::reply`].
    pub fn get_reply(&self) -> &[u8] {
        &self.reply
    }
}

/// Bytes generated messages are made of by default: printable letters and digits without
/// `r` (so `response` markers stay unambiguous in echoed streams), a space, a tab, a NUL and
/// a high byte.
pub const DEFAULT_ALPHABET: &[u8] = b"abcdefghijklmnopqstuvwxyz0123456789 \t\x00\xff";

/// A description of a service's protocol. Build it with the methods below; every field has
/// a default that fits an unframed chunk protocol. Each setting has one name: the builder
/// method sets it (`clients(5)`) and `get_` reads it back (`get_clients()`), as
/// `std::process::Command` has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    framing: Framing,
    greeting: Vec<u8>,
    alphabet: Vec<u8>,
    tokens: Vec<Vec<u8>>,
    endings: Vec<Vec<u8>>,
    max_message: Option<usize>,
    too_long_reply: Vec<u8>,
    deadlines: Vec<Deadline>,
    ends_mid_message: bool,
    answers_unterminated: bool,
    clients: usize,
    churn: usize,
    session: Option<SessionFn>,
}

type Propose = dyn Fn(&mut Next<'_>) -> Vec<u8> + Send + Sync;

/// A client session of the protocol (see [`Protocol::session`]), compared by identity.
#[derive(Clone)]
struct SessionFn(std::sync::Arc<Propose>);

impl PartialEq for SessionFn {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SessionFn {}

impl fmt::Debug for SessionFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("session")
    }
}

/// What a session sees when it proposes a client's next message: which client, what it has
/// sent so far, and the seed's randomness (so a seed makes the same session everywhere).
pub struct Next<'a> {
    client: usize,
    sent: &'a [Vec<u8>],
    rng: &'a mut crate::rng::SimRng,
}

impl<'a> Next<'a> {
    pub(crate) fn new(client: usize, sent: &'a [Vec<u8>], rng: &'a mut crate::rng::SimRng) -> Self {
        Next { client, sent, rng }
    }

    /// The client's index in the scenario (0 for the first).
    pub fn client(&self) -> usize {
        self.client
    }

    /// The payloads this session proposed to the client before, in order.
    pub fn sent(&self) -> &[Vec<u8>] {
        self.sent
    }

    /// Whether one of them starts with `prefix` (`NICK ` sent yet?).
    pub fn has_sent(&self, prefix: &[u8]) -> bool {
        self.sent.iter().any(|m| m.starts_with(prefix))
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.rng.below(n) }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.rng.chance(percent.min(100) * 10_000)
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        self.rng.pick(items)
    }
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol::chunks()
    }
}

impl Protocol {
    /// An unframed protocol: the service answers chunks as it reads them.
    pub fn chunks() -> Self {
        Protocol {
            framing: Framing::Chunks,
            greeting: Vec::new(),
            alphabet: DEFAULT_ALPHABET.to_vec(),
            tokens: Vec::new(),
            endings: Vec::new(),
            max_message: None,
            too_long_reply: Vec::new(),
            deadlines: Vec::new(),
            ends_mid_message: true,
            answers_unterminated: false,
            clients: 3,
            churn: 0,
            session: None,
        }
    }

    /// A line protocol: messages end with `\n`; the generator ends some with `\r\n` too.
    pub fn lines() -> Self {
        Protocol {
            framing: Framing::Delimited(b"\n".to_vec()),
            endings: vec![b"\n".to_vec(), b"\r\n".to_vec()],
            alphabet: b"abcdefghijklmnopqstuvwxyz0123456789 \t".to_vec(),
            ..Protocol::chunks()
        }
    }

    /// Messages end with `delimiter`.
    pub fn delimited(delimiter: impl Into<Vec<u8>>) -> Self {
        let delimiter = delimiter.into();
        Protocol {
            framing: Framing::Delimited(delimiter.clone()),
            endings: vec![delimiter],
            ..Protocol::chunks()
        }
    }

    /// Messages carry a `width`-byte length header.
    pub fn length_prefixed(width: u8, big_endian: bool) -> Self {
        Protocol {
            framing: Framing::LengthPrefixed { width, big_endian },
            ..Protocol::chunks()
        }
    }

    /// What the server sends first on every connection.
    pub fn greeting(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.greeting = bytes.into();
        self
    }

    /// The bytes generated messages are made of (never empty: an empty alphabet keeps the
    /// default).
    pub fn alphabet(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        if !bytes.is_empty() {
            self.alphabet = bytes;
        }
        self
    }

    /// Adds a dictionary token that generated messages splice in (`GET `, `\r`, a keyword).
    pub fn token(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        if !bytes.is_empty() {
            self.tokens.push(bytes);
        }
        self
    }

    /// The terminators the generator ends delimited messages with (by default the
    /// delimiter alone; [`Protocol::lines`] uses `\n` and `\r\n`).
    pub fn endings<I, B>(mut self, endings: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: Into<Vec<u8>>,
    {
        let endings: Vec<Vec<u8>> = endings.into_iter().map(Into::into).collect();
        if !endings.is_empty() {
            self.endings = endings;
        }
        self
    }

    /// The longest message the service accepts (payload, delimiter excluded); a longer one
    /// gets `reply` and the connection is closed. The generator sends messages of exactly
    /// the limit, one byte under and one over, and far over.
    pub fn max_message(mut self, bytes: usize, reply: impl Into<Vec<u8>>) -> Self {
        self.max_message = Some(bytes);
        self.too_long_reply = reply.into();
        self
    }

    /// A deadline the service enforces by closing.
    pub fn deadline(mut self, deadline: Deadline) -> Self {
        self.deadlines.push(deadline);
        self
    }

    /// Whether the generator may end a stream in the middle of a message (default: yes).
    pub fn ends_mid_message(mut self, yes: bool) -> Self {
        self.ends_mid_message = yes;
        self
    }

    /// Whether the service answers a last message left unterminated when the client shuts
    /// down its side (default: no, it is an incomplete request).
    pub fn answers_unterminated(mut self, yes: bool) -> Self {
        self.answers_unterminated = yes;
        self
    }

    /// How many clients a generated scenario has (default 3).
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients.max(1);
        self
    }

    /// How many extra short-lived clients may come and go during a scenario (default 0).
    pub fn churn(mut self, clients: usize) -> Self {
        self.churn = clients;
        self
    }

    /// A client session: `propose` gives the payload (framing left out) of a client's next
    /// message from what the client sent before (`NICK` first, then `MSG` or `QUIT`;
    /// `SUBSCRIBE` before `PUBLISH`). Generated clients send mostly what it proposes, and
    /// sometimes random messages of the alphabet as before, so that malformed input is still
    /// tried.
    pub fn session(
        mut self,
        propose: impl Fn(&mut Next<'_>) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        self.session = Some(SessionFn(std::sync::Arc::new(propose)));
        self
    }

    /// The client's next message under the session, if the protocol has one.
    pub(crate) fn propose(&self, next: &mut Next<'_>) -> Option<Vec<u8>> {
        self.session.as_ref().map(|s| (s.0)(next))
    }

    /// Whether the protocol has a client session.
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// The framing.
    pub fn framing(&self) -> &Framing {
        &self.framing
    }

    /// The greeting, as set by [`Protocol::greeting`].
    pub fn get_greeting(&self) -> &[u8] {
        &self.greeting
    }

    /// The alphabet, as set by [`Protocol::alphabet`].
    pub fn get_alphabet(&self) -> &[u8] {
        &self.alphabet
    }

    /// The dictionary tokens, as added by [`Protocol::token`].
    pub fn get_tokens(&self) -> &[Vec<u8>] {
        &self.tokens
    }

    /// The terminators of delimited messages, as set by [`Protocol::endings`].
    pub fn get_endings(&self) -> &[Vec<u8>] {
        &self.endings
    }

    /// The message limit and what a longer message gets, as set by [`Protocol::max_message`].
    pub fn get_max_message(&self) -> Option<(usize, &[u8])> {
        self.max_message
            .map(|limit| (limit, self.too_long_reply.as_slice()))
    }

    /// The deadlines, as added by [`Protocol::deadline`].
    pub fn get_deadlines(&self) -> &[Deadline] {
        &self.deadlines
    }

    /// Whether streams may end mid-message, as set by [`Protocol::ends_mid_message`].
    pub fn get_ends_mid_message(&self) -> bool {
        self.ends_mid_message
    }

    /// Whether an unterminated last message is answered at EOF, as set by
    /// [`Protocol::answers_unterminated`].
    pub fn get_answers_unterminated(&self) -> bool {
        self.answers_unterminated
    }

    /// The number of clients of a generated scenario, as set by [`Protocol::clients`].
    pub fn get_clients(&self) -> usize {
        self.clients
    }

    /// The number of churning clients, as set by [`Protocol::churn`].
    pub fn get_churn(&self) -> usize {
        self.churn
    }

    /// Frames `payload` as one complete message (for delimited framing, with `ending`, or
    /// the first ending when `None`).
    pub(crate) fn frame(&self, payload: &[u8], ending: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + 8);
        match &self.framing {
            Framing::Chunks => out.extend_from_slice(payload),
            Framing::Delimited(delimiter) => {
                out.extend_from_slice(payload);
                let end = ending
                    .or_else(|| self.endings.first().map(Vec::as_slice))
                    .unwrap_or(delimiter);
                out.extend_from_slice(end);
            }
            Framing::LengthPrefixed { width, big_endian } => {
                let len = payload.len() as u64;
                let bytes = if *big_endian {
                    len.to_be_bytes()
                } else {
                    len.to_le_bytes()
                };
                let width = usize::from((*width).clamp(1, 8));
                if *big_endian {
                    out.extend_from_slice(&bytes[8 - width..]);
                } else {
                    out.extend_from_slice(&bytes[..width]);
                }
                out.extend_from_slice(payload);
            }
        }
        out
    }

    /// Cuts `stream` into messages: the complete ones (payload ranges, and where each ends in
    /// the stream), and the start of an incomplete last one, if any bytes follow.
    pub(crate) fn split(&self, stream: &[u8]) -> Split {
        let mut messages = Vec::new();
        let mut at = 0;
        match &self.framing {
            Framing::Chunks => {
                return Split {
                    messages,
                    partial: (!stream.is_empty()).then_some(0),
                };
            }
            Framing::Delimited(delimiter) if !delimiter.is_empty() => {
                while let Some(pos) = find(&stream[at..], delimiter) {
                    let end = at + pos + delimiter.len();
                    messages.push(Message {
                        payload: at..at + pos,
                        end,
                    });
                    at = end;
                }
            }
            Framing::Delimited(_) => {}
            Framing::LengthPrefixed { width, big_endian } => {
                let width = usize::from((*width).clamp(1, 8));
                while stream.len() - at >= width {
                    let header = &stream[at..at + width];
                    let mut len: u64 = 0;
                    for i in 0..width {
                        let byte = if *big_endian {
                            header[i]
                        } else {
                            header[width - 1 - i]
                        };
                        len = (len << 8) | u64::from(byte);
                    }
                    let start = at + width;
                    let Some(end) = usize::try_from(len)
                        .ok()
                        .and_then(|len| start.checked_add(len))
                        .filter(|end| *end <= stream.len())
                    else {
                        break;
                    };
                    messages.push(Message {
                        payload: start..end,
                        end,
                    });
                    at = end;
                }
            }
        }
        Split {
            messages,
            partial: (at < stream.len()).then_some(at),
        }
    }

    /// How many payload bytes of an incomplete message starting at `start` of `stream` the
    /// service has seen: for delimited framing everything after `start`, for length prefixes
    /// what follows the header (or the length the header announces, when it is complete).
    pub(crate) fn partial_payload_len(&self, stream: &[u8], start: usize) -> usize {
        let rest = stream.len() - start;
        match &self.framing {
            Framing::LengthPrefixed { width, .. } => rest.saturating_sub(usize::from(*width)),
            _ => rest,
        }
    }
}

/// One complete message of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    /// Where its payload is in the stream.
    pub payload: std::ops::Range<usize>,
    /// Where the message (framing included) ends in the stream.
    pub end: usize,
}

/// A stream cut into messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// The complete messages, in order.
    pub messages: Vec<Message>,
    /// Where an incomplete last message starts, if bytes follow the last complete one.
    pub partial: Option<usize>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_newlines_and_keep_the_carriage_return() {
        let p = Protocol::lines();
        let s = p.split(b"ab\ncd\r\nef");
        assert_eq!(s.messages.len(), 2);
        assert_eq!(s.messages[1].payload, 3..6);
        assert_eq!(s.partial, Some(7));
        assert_eq!(p.frame(b"x", Some(b"\r\n")), b"x\r\n");
    }

    #[test]
    fn length_prefixes_frame_and_split_both_ways() {
        for big_endian in [true, false] {
            let p = Protocol::length_prefixed(2, big_endian);
            let mut stream = p.frame(b"hello", None);
            stream.extend(p.frame(b"", None));
            stream.extend(&p.frame(b"abc", None)[..3]);
            let s = p.split(&stream);
            assert_eq!(s.messages.len(), 2);
            assert_eq!(&stream[s.messages[0].payload.clone()], b"hello");
            assert_eq!(s.partial, Some(9));
            assert_eq!(p.partial_payload_len(&stream, 9), 1);
        }
    }

    #[test]
    fn chunks_have_no_messages() {
        let s = Protocol::chunks().split(b"abc");
        assert!(s.messages.is_empty());
        assert_eq!(s.partial, Some(0));
    }
}
