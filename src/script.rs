//! What simulated and real clients do: the step vocabulary ([`Step`]), the entries of a
//! client's script ([`Entry`]) and the scripts themselves ([`Script`]).
//!
//! This is data below both the world that runs scripts and the transcript format that reads
//! and writes them. Every step kind has one row in [`StepKind::ALL`]: its name, the argument
//! it takes, and whether it is an expectation; the parser, the renderer and error messages
//! read that one table.

use std::fmt;
use std::time::Duration;

use crate::fault::FaultSpec;
use crate::text::{format_duration, quote};

/// One simulated client, by its index in the run (order of the `clients` line, or of first
/// appearance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

impl ClientId {
    /// The index as a `usize`, for indexing.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The client at `index`.
    pub fn from_index(index: usize) -> Self {
        ClientId(u32::try_from(index).unwrap_or(u32::MAX))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.0)
    }
}

/// A regular expression that a whole line (up to and including `\n`) must match, kept with
/// the text it was written as.
#[derive(Clone, Debug)]
pub struct LinePattern {
    source: String,
    regex: regex::bytes::Regex,
}

impl LinePattern {
    /// Compiles `source`; the line must match it from start to end (the `\n` included, so
    /// patterns usually end in `\n` or `.*\n`).
    pub fn new(source: &str) -> Result<Self, String> {
        let anchored = format!("\\A(?:{source})\\z");
        regex::bytes::RegexBuilder::new(&anchored)
            .size_limit(1 << 20)
            .build()
            .map(|regex| LinePattern {
                source: source.to_string(),
                regex,
            })
            .map_err(|e| format!("bad pattern: {e}"))
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `line` matches the whole pattern.
    pub fn is_match(&self, line: &[u8]) -> bool {
        self.regex.is_match(line)
    }
}

impl PartialEq for LinePattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for LinePattern {}

/// A client's step: an action it takes, or an observation it expects.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Connect; the client's first action, taken once.
    Connect,
    /// Send these bytes.
    Send(Vec<u8>),
    /// Expect exactly these bytes next in the stream (however the network splits them), and
    /// take no further step until they have arrived.
    Recv(Vec<u8>),
    /// Expect any bytes up to and including this delimiter, and wait for them.
    RecvUntil(Vec<u8>),
    /// Expect this many bytes of any content, and wait for them.
    RecvLen(u64),
    /// Expect a line (up to and including `\n`) that matches this pattern, and wait for it.
    RecvLine(LinePattern),
    /// Expect each of these byte strings exactly once, in any order, and wait for them all:
    /// for replies whose parts come in an order the server does not promise.
    RecvSet(Vec<Vec<u8>>),
    /// Expect the server to close the stream (read returns 0) with nothing more before it,
    /// and wait for it.
    RecvEof,
    /// Expect the connection to be reset by the server, and wait for it.
    RecvReset,
    /// An observation of a recorded run: these bytes arrived here. Checked in stream order
    /// like `recv`, but later steps do not wait for it, so a replay is scheduled exactly as
    /// the recorded run was.
    Got(Vec<u8>),
    /// An observation: the server closed the stream here.
    GotEof,
    /// An observation: the connection was reset here.
    GotReset,
    /// Shut down the write side (half-close); keep reading.
    Shutdown,
    /// Close the socket (an RST if answers are still unread, as TCP does).
    Close,
    /// Abort the connection: `SO_LINGER 0` then close, which sends an RST.
    Reset,
    /// Stop reading (a slow reader); the server's writes fill the buffers.
    Pause,
    /// Start reading again.
    Resume,
    /// Do nothing for this long (virtual time in the simulator, real time on sockets).
    Wait(Duration),
    /// Take no further step until client `client` has taken its first `steps` steps (its
    /// actions done, its expectations met): the order between clients a session had. In a
    /// transcript, `a after b` with no count waits for every step of `b` written above it.
    After {
        /// The client waited for.
        client: String,
        /// How many of its steps; `None` until a transcript's position decides it.
        steps: Option<u64>,
    },
}

/// A step without its argument: the unit of the step table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum StepKind {
    /// See [`Step::Connect`].
    Connect,
    /// See [`Step::Send`].
    Send,
    /// See [`Step::Recv`].
    Recv,
    /// See [`Step::RecvUntil`].
    RecvUntil,
    /// See [`Step::RecvLen`].
    RecvLen,
    /// See [`Step::RecvLine`].
    RecvLine,
    /// See [`Step::RecvSet`].
    RecvSet,
    /// See [`Step::RecvEof`].
    RecvEof,
    /// See [`Step::RecvReset`].
    RecvReset,
    /// See [`Step::Got`].
    Got,
    /// See [`Step::GotEof`].
    GotEof,
    /// See [`Step::GotReset`].
    GotReset,
    /// See [`Step::Shutdown`].
    Shutdown,
    /// See [`Step::Close`].
    Close,
    /// See [`Step::Reset`].
    Reset,
    /// See [`Step::Pause`].
    Pause,
    /// See [`Step::Resume`].
    Resume,
    /// See [`Step::Wait`].
    Wait,
    /// See [`Step::After`].
    After,
}

/// The argument a step takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepArg {
    /// None.
    None,
    /// One non-empty quoted string.
    Bytes,
    /// One or more non-empty quoted strings.
    ByteList,
    /// A quoted regular expression.
    Pattern,
    /// A whole number.
    Count,
    /// A duration such as `5ms`.
    Duration,
    /// A client's name, then an optional whole number.
    Peer,
}

/// A step's argument, as read; [`StepKind::build`] turns it into the step.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepValue {
    /// For [`StepArg::None`].
    None,
    /// For [`StepArg::Bytes`].
    Bytes(Vec<u8>),
    /// For [`StepArg::ByteList`].
    ByteList(Vec<Vec<u8>>),
    /// For [`StepArg::Pattern`].
    Pattern(LinePattern),
    /// For [`StepArg::Count`].
    Count(u64),
    /// For [`StepArg::Duration`].
    Duration(Duration),
    /// For [`StepArg::Peer`].
    Peer(String, Option<u64>),
}

impl StepKind {
    /// Every step kind, in the order help texts list them.
    pub const ALL: [StepKind; 19] = [
        StepKind::Connect,
        StepKind::Send,
        StepKind::Recv,
        StepKind::RecvUntil,
        StepKind::RecvLen,
        StepKind::RecvLine,
        StepKind::RecvSet,
        StepKind::RecvEof,
        StepKind::RecvReset,
        StepKind::Got,
        StepKind::GotEof,
        StepKind::GotReset,
        StepKind::Shutdown,
        StepKind::Close,
        StepKind::Reset,
        StepKind::Pause,
        StepKind::Resume,
        StepKind::Wait,
        StepKind::After,
    ];

    /// The step's name in transcripts.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Connect => "connect",
            StepKind::Send => "send",
            StepKind::Recv => "recv",
            StepKind::RecvUntil => "recv-until",
            StepKind::RecvLen => "recv-len",
            StepKind::RecvLine => "recv-line",
            StepKind::RecvSet => "recv-set",
            StepKind::RecvEof => "recv-eof",
            StepKind::RecvReset => "recv-reset",
            StepKind::Got => "got",
            StepKind::GotEof => "got-eof",
            StepKind::GotReset => "got-reset",
            StepKind::Shutdown => "shutdown",
            StepKind::Close => "close",
            StepKind::Reset => "reset",
            StepKind::Pause => "pause",
            StepKind::Resume => "resume",
            StepKind::Wait => "wait",
            StepKind::After => "after",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The argument the step takes.
    pub fn arg(self) -> StepArg {
        match self {
            StepKind::Send | StepKind::Recv | StepKind::RecvUntil | StepKind::Got => StepArg::Bytes,
            StepKind::RecvSet => StepArg::ByteList,
            StepKind::RecvLine => StepArg::Pattern,
            StepKind::RecvLen => StepArg::Count,
            StepKind::Wait => StepArg::Duration,
            StepKind::After => StepArg::Peer,
            _ => StepArg::None,
        }
    }

    /// What the argument is, for messages ("the bytes to send").
    pub fn arg_description(self) -> &'static str {
        match self {
            StepKind::Send => "the bytes to send",
            StepKind::Recv => "the bytes expected",
            StepKind::RecvUntil => "the delimiter that ends the bytes expected",
            StepKind::RecvLen => "how many bytes are expected",
            StepKind::RecvLine => "the pattern the line must match",
            StepKind::RecvSet => "the byte strings expected in any order",
            StepKind::Got => "the bytes observed",
            StepKind::Wait => "a duration",
            StepKind::After => "the client waited for (and how many of its steps)",
            _ => "nothing",
        }
    }

    /// Builds the step from its argument; `None` when the value is not of the kind's
    /// [`StepKind::arg`].
    pub fn build(self, value: StepValue) -> Option<Step> {
        Some(match (self, value) {
            (StepKind::Connect, StepValue::None) => Step::Connect,
            (StepKind::Send, StepValue::Bytes(b)) => Step::Send(b),
            (StepKind::Recv, StepValue::Bytes(b)) => Step::Recv(b),
            (StepKind::RecvUntil, StepValue::Bytes(b)) => Step::RecvUntil(b),
            (StepKind::RecvLen, StepValue::Count(n)) => Step::RecvLen(n),
            (StepKind::RecvLine, StepValue::Pattern(p)) => Step::RecvLine(p),
            (StepKind::RecvSet, StepValue::ByteList(list)) => Step::RecvSet(list),
            (StepKind::RecvEof, StepValue::None) => Step::RecvEof,
            (StepKind::RecvReset, StepValue::None) => Step::RecvReset,
            (StepKind::Got, StepValue::Bytes(b)) => Step::Got(b),
            (StepKind::GotEof, StepValue::None) => Step::GotEof,
            (StepKind::GotReset, StepValue::None) => Step::GotReset,
            (StepKind::Shutdown, StepValue::None) => Step::Shutdown,
            (StepKind::Close, StepValue::None) => Step::Close,
            (StepKind::Reset, StepValue::None) => Step::Reset,
            (StepKind::Pause, StepValue::None) => Step::Pause,
            (StepKind::Resume, StepValue::None) => Step::Resume,
            (StepKind::Wait, StepValue::Duration(d)) => Step::Wait(d),
            (StepKind::After, StepValue::Peer(client, steps)) => Step::After { client, steps },
            _ => return None,
        })
    }

    /// Every step name, for messages: `connect, send, ...`.
    pub fn names() -> String {
        StepKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Step {
    /// The step without its argument.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Connect => StepKind::Connect,
            Step::Send(_) => StepKind::Send,
            Step::Recv(_) => StepKind::Recv,
            Step::RecvUntil(_) => StepKind::RecvUntil,
            Step::RecvLen(_) => StepKind::RecvLen,
            Step::RecvLine(_) => StepKind::RecvLine,
            Step::RecvSet(_) => StepKind::RecvSet,
            Step::RecvEof => StepKind::RecvEof,
            Step::RecvReset => StepKind::RecvReset,
            Step::Got(_) => StepKind::Got,
            Step::GotEof => StepKind::GotEof,
            Step::GotReset => StepKind::GotReset,
            Step::Shutdown => StepKind::Shutdown,
            Step::Close => StepKind::Close,
            Step::Reset => StepKind::Reset,
            Step::Pause => StepKind::Pause,
            Step::Resume => StepKind::Resume,
            Step::Wait(_) => StepKind::Wait,
            Step::After { .. } => StepKind::After,
        }
    }

    /// Whether the step is an expectation or observation rather than an action.
    pub fn is_expectation(&self) -> bool {
        matches!(
            self,
            Step::Recv(_)
                | Step::RecvUntil(_)
                | Step::RecvLen(_)
                | Step::RecvLine(_)
                | Step::RecvSet(_)
                | Step::RecvEof
                | Step::RecvReset
                | Step::Got(_)
                | Step::GotEof
                | Step::GotReset
        )
    }

    /// Whether later steps wait for this expectation (every `recv` form does; `got` lines do
    /// not).
    pub fn is_barrier(&self) -> bool {
        self.is_expectation() && !matches!(self, Step::Got(_) | Step::GotEof | Step::GotReset)
    }

    /// Whether the expectation matches bytes other than exactly those written (a matcher):
    /// such a step accepts replies that vary between runs.
    pub fn is_matcher(&self) -> bool {
        matches!(
            self,
            Step::RecvUntil(_) | Step::RecvLen(_) | Step::RecvLine(_) | Step::RecvSet(_)
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().name())?;
        match self {
            Step::Send(b) | Step::Recv(b) | Step::RecvUntil(b) | Step::Got(b) => {
                write!(f, " {}", quote(b))
            }
            Step::RecvLen(n) => write!(f, " {n}"),
            Step::RecvLine(p) => write!(f, " {}", quote(p.source().as_bytes())),
            Step::RecvSet(list) => {
                for item in list {
                    write!(f, " {}", quote(item))?;
                }
                Ok(())
            }
            Step::Wait(d) => write!(f, " {}", format_duration(*d)),
            Step::After { client, steps } => {
                write!(f, " {client}")?;
                match steps {
                    Some(n) => write!(f, " {n}"),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// What a client expects of its stream at one point: bytes, a matcher, or the end.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expectation {
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// Any bytes up to and including this delimiter.
    Until(Vec<u8>),
    /// This many bytes of any content.
    Len(u64),
    /// A line matching this pattern.
    Line(LinePattern),
    /// These byte strings, each once, in any order.
    Set(Vec<Vec<u8>>),
    /// The server's close.
    Eof,
    /// A reset.
    Reset,
}

impl Expectation {
    /// What an expectation step expects; `None` for an action.
    pub fn of(step: &Step) -> Option<Expectation> {
        Some(match step {
            Step::Recv(b) | Step::Got(b) => Expectation::Bytes(b.clone()),
            Step::RecvUntil(d) => Expectation::Until(d.clone()),
            Step::RecvLen(n) => Expectation::Len(*n),
            Step::RecvLine(p) => Expectation::Line(p.clone()),
            Step::RecvSet(items) => Expectation::Set(items.clone()),
            Step::RecvEof | Step::GotEof => Expectation::Eof,
            Step::RecvReset | Step::GotReset => Expectation::Reset,
            _ => return None,
        })
    }

    /// Whether it expects the end of the stream (EOF or a reset).
    pub fn is_end(&self) -> bool {
        matches!(self, Expectation::Eof | Expectation::Reset)
    }

    /// What the stream's end is called in messages.
    pub fn end_name(&self) -> &'static str {
        match self {
            Expectation::Reset => "a reset",
            _ => "the server's close (EOF)",
        }
    }
}

/// Why received bytes do not fit an expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchError {
    /// Other bytes than the exact ones expected: `got` is what arrived in their place.
    Bytes {
        /// The bytes expected.
        expected: Vec<u8>,
        /// What arrived instead (as much as the expected length).
        got: Vec<u8>,
    },
    /// Bytes a matcher does not accept.
    Matcher {
        /// What arrived.
        got: Vec<u8>,
    },
    /// Bytes arrived where the end of the stream was expected.
    NotEnd,
}

/// Matches received bytes against one expectation, as they arrive.
#[derive(Clone, Debug)]
pub struct Matcher {
    expect: Expectation,
    /// Bytes collected (`Until`, `Line`, `Set`).
    bytes: Vec<u8>,
    /// Bytes matched (`Bytes`, `Len`).
    count: u64,
    /// Items of a `Set` not seen yet.
    set_left: Option<Vec<Vec<u8>>>,
}

impl Matcher {
    /// A matcher for `expect`, at its start.
    pub fn new(expect: Expectation) -> Self {
        Matcher {
            expect,
            bytes: Vec::new(),
            count: 0,
            set_left: None,
        }
    }

    /// What it matches.
    pub fn expectation(&self) -> &Expectation {
        &self.expect
    }

    /// Whether any bytes were matched or collected yet.
    pub fn has_started(&self) -> bool {
        self.count > 0 || !self.bytes.is_empty()
    }

    /// The bytes matched so far, for messages.
    pub fn so_far(&self) -> Vec<u8> {
        match &self.expect {
            Expectation::Bytes(want) => want[..self.count as usize].to_vec(),
            _ => self.bytes.clone(),
        }
    }

    /// Takes what it can from the front of `inbox`. `Ok(true)` once the expectation is met
    /// (bytes after it stay in `inbox`), `Ok(false)` while it needs more.
    pub fn feed(&mut self, inbox: &mut Vec<u8>) -> Result<bool, MatchError> {
        match &self.expect {
            Expectation::Eof | Expectation::Reset => {
                if inbox.is_empty() {
                    Ok(false)
                } else {
                    Err(MatchError::NotEnd)
                }
            }
            Expectation::Bytes(want) => {
                let done = self.count as usize;
                let rest = &want[done..];
                let n = rest.len().min(inbox.len());
                if inbox[..n] != rest[..n] {
                    let mut got = want[..done].to_vec();
                    got.extend_from_slice(&inbox[..n]);
                    return Err(MatchError::Bytes {
                        expected: want.clone(),
                        got,
                    });
                }
                inbox.drain(..n);
                self.count += n as u64;
                Ok(done + n == want.len())
            }
            Expectation::Len(want) => {
                let left = want - self.count;
                let n = left.min(inbox.len() as u64) as usize;
                inbox.drain(..n);
                self.count += n as u64;
                Ok(self.count == *want)
            }
            Expectation::Until(delimiter) => {
                let start = self
                    .bytes
                    .len()
                    .saturating_sub(delimiter.len().saturating_sub(1));
                let before = self.bytes.len();
                self.bytes.extend_from_slice(inbox);
                let found = self.bytes[start..]
                    .windows(delimiter.len().max(1))
                    .position(|w| w == delimiter.as_slice());
                match found {
                    Some(at) => {
                        let end = start + at + delimiter.len();
                        inbox.drain(..end - before);
                        self.bytes.truncate(end);
                        Ok(true)
                    }
                    None => {
                        inbox.clear();
                        Ok(false)
                    }
                }
            }
            Expectation::Line(pattern) => match inbox.iter().position(|b| *b == b'\n') {
                Some(at) => {
                    self.bytes.extend(inbox.drain(..=at));
                    if pattern.is_match(&self.bytes) {
                        Ok(true)
                    } else {
                        Err(MatchError::Matcher {
                            got: self.bytes.clone(),
                        })
                    }
                }
                None => {
                    self.bytes.append(inbox);
                    Ok(false)
                }
            },
            Expectation::Set(items) => {
                let left = self.set_left.get_or_insert_with(|| items.clone());
                self.bytes.append(inbox);
                loop {
                    if left.is_empty() {
                        // Bytes past the set belong to the next expectation.
                        *inbox = std::mem::take(&mut self.bytes);
                        return Ok(true);
                    }
                    let have = &self.bytes;
                    let whole = left
                        .iter()
                        .enumerate()
                        .filter(|(_, item)| have.starts_with(item))
                        .max_by_key(|(_, item)| item.len())
                        .map(|(i, _)| i);
                    if let Some(i) = whole {
                        let item = left.remove(i);
                        self.bytes.drain(..item.len());
                        continue;
                    }
                    if left.iter().any(|item| item.starts_with(have)) {
                        return Ok(false);
                    }
                    return Err(MatchError::Matcher {
                        got: self.bytes.clone(),
                    });
                }
            }
        }
    }
}

/// One entry of a client's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A step.
    Step(Step),
    /// A fault armed for the next operation of its kind when the script reaches it.
    Fault(FaultSpec),
}

/// A client and what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The client's name (`a`, `b`, ...).
    pub name: String,
    /// Its steps and armed faults, in order.
    pub entries: Vec<Entry>,
}

impl Script {
    /// A client with no steps yet.
    pub fn new(name: impl Into<String>) -> Self {
        Script {
            name: name.into(),
            entries: Vec::new(),
        }
    }

    /// Appends a step.
    pub fn then(mut self, step: Step) -> Self {
        self.entries.push(Entry::Step(step));
        self
    }

    /// Appends a fault armed for the next operation of its kind.
    pub fn fault(mut self, spec: FaultSpec) -> Self {
        self.entries.push(Entry::Fault(spec));
        self
    }

    /// The client's steps, without its faults.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Step(step) => Some(step),
            Entry::Fault(_) => None,
        })
    }
}

/// The client name for index `i`: `a`..`z`, then `c26`, `c27`...
pub fn client_name(i: usize) -> String {
    if i < 26 {
        ((b'a' + i as u8) as char).to_string()
    } else {
        format!("c{i}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_name_an_argument_and_builds() {
        for kind in StepKind::ALL {
            assert_eq!(StepKind::from_name(kind.name()), Some(kind));
            let value = match kind.arg() {
                StepArg::None => StepValue::None,
                StepArg::Bytes => StepValue::Bytes(b"x".to_vec()),
                StepArg::ByteList => StepValue::ByteList(vec![b"x".to_vec()]),
                StepArg::Pattern => StepValue::Pattern(LinePattern::new("x\n").unwrap()),
                StepArg::Count => StepValue::Count(3),
                StepArg::Duration => StepValue::Duration(Duration::from_millis(1)),
                StepArg::Peer => StepValue::Peer("b".to_string(), Some(2)),
            };
            let step = kind
                .build(value)
                .expect("the table's argument builds the step");
            assert_eq!(step.kind(), kind);
            assert!(step.to_string().starts_with(kind.name()));
        }
        assert_eq!(StepKind::Send.build(StepValue::None), None);
    }

    fn feed_all(expect: Expectation, chunks: &[&[u8]]) -> (Result<bool, MatchError>, Vec<u8>) {
        let mut m = Matcher::new(expect);
        let mut inbox = Vec::new();
        let mut last = Ok(false);
        for chunk in chunks {
            inbox.extend_from_slice(chunk);
            last = m.feed(&mut inbox);
            if last != Ok(false) {
                break;
            }
        }
        (last, inbox)
    }

    #[test]
    fn matchers_take_what_they_match_across_chunks_and_leave_the_rest() {
        let (r, rest) = feed_all(Expectation::Until(b"\r\n".to_vec()), &[b"ab\r", b"\ncd"]);
        assert_eq!((r, rest), (Ok(true), b"cd".to_vec()));
        let (r, rest) = feed_all(Expectation::Len(3), &[b"a", b"bcd"]);
        assert_eq!((r, rest), (Ok(true), b"d".to_vec()));
        let (r, rest) = feed_all(
            Expectation::Set(vec![b"x".to_vec(), b"yy".to_vec()]),
            &[b"y", b"yxz"],
        );
        assert_eq!((r, rest), (Ok(true), b"z".to_vec()));
        let (r, _) = feed_all(Expectation::Set(vec![b"x".to_vec()]), &[b"q"]);
        assert!(matches!(r, Err(MatchError::Matcher { .. })));
        let pattern = LinePattern::new("[0-9]+\n").unwrap();
        let (r, rest) = feed_all(Expectation::Line(pattern.clone()), &[b"12", b"3\nx"]);
        assert_eq!((r, rest), (Ok(true), b"x".to_vec()));
        let (r, _) = feed_all(Expectation::Line(pattern), &[b"1a\n"]);
        assert!(matches!(r, Err(MatchError::Matcher { .. })));
        let (r, _) = feed_all(Expectation::Bytes(b"abc".to_vec()), &[b"ab", b"x"]);
        assert_eq!(
            r,
            Err(MatchError::Bytes {
                expected: b"abc".to_vec(),
                got: b"abx".to_vec()
            })
        );
        let (r, _) = feed_all(Expectation::Eof, &[b"x"]);
        assert_eq!(r, Err(MatchError::NotEnd));
    }

    #[test]
    fn line_patterns_match_whole_lines() {
        let p = LinePattern::new("\\+OK .*\n").unwrap();
        assert!(p.is_match(b"+OK ready\n"));
        assert!(!p.is_match(b"-ERR no\n"));
        assert!(!p.is_match(b"x+OK ready\n"));
        assert!(LinePattern::new("(").is_err());
    }
}
