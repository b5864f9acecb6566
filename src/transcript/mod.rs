//! Transcripts: one text format for fixtures, recorded runs and snapshots.
//!
//! A transcript is a list of lines: header lines (`service`, `semantics`, `seed`, `faults`,
//! `limit`, `expect`), client steps (`a send "ping"`), fault lines (`! a short-read 2 at 3`),
//! time marks (`@ 1.5s`), comments and blank lines. The grammar, with examples, is in
//! `docs/transcript.md`.
//!
//! A fixture is a client script plus expectations (`recv`, `recv-eof`, `recv-reset`); a
//! recorded run is the same format with every client event written in the order it
//! happened. Replaying a recorded run under its seed reproduces it exactly: see
//! [`crate::world`] for why the scheduler makes that hold.
//!
//! Parsing never panics; errors carry the line and column ([`ParseError`]). Rendering is
//! canonical, and `parse(render(t)) == t` for every transcript.

mod parse;
mod render;

use std::fmt;
use std::time::Duration;

pub use parse::{ParseError, parse, parse_duration};
pub use render::{format_duration, quote, quote_short, render_item, render_step};

use crate::fault::{FaultFamilies, FaultSpec};
use crate::semantics::Semantics;

/// A whole transcript: its lines in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    pub lines: Vec<Line>,
}

/// One line and the comment that may trail it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub item: Item,
    /// Text after `#` on a line that also holds an item.
    pub comment: Option<String>,
}

/// What a line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Blank,
    /// A whole-line comment, without the `#`.
    Comment(String),
    Header(Header),
    /// `@ 1.5s`: the virtual time when the lines below happened. Informational: replay does
    /// not wait for it.
    At(Duration),
    Step {
        client: String,
        step: Step,
    },
    Fault(FaultLine),
}

/// A header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Header {
    Service(String),
    Semantics(Semantics),
    Seed(u64),
    Faults(FaultFamilies),
    Limit(Limit, u64),
    Expect(Expect),
    /// `clients a b c`: the clients in scheduling order (by default, order of appearance).
    /// Recorded runs list them, since the order is part of what the seed decides.
    Clients(Vec<String>),
    /// `oracle on`: judge what clients receive by the service's reference model; clients
    /// have no expectations of their own.
    Oracle(bool),
}

/// A tunable limit a transcript can set, by its name in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    /// `max-conns N`
    MaxConns,
    /// `read-budget BYTES`
    ReadBudget,
    /// `high-water BYTES`
    HighWater,
    /// `hard-limit BYTES`
    HardLimit,
    /// `idle-timeout MS` (0: never)
    IdleTimeoutMs,
    /// `linger MS`
    LingerMs,
    /// `buffer BYTES`: the simulated socket buffer, per direction
    Buffer,
    /// `backlog N`: the simulated listen backlog
    Backlog,
    /// `max-line BYTES` for the `lines` service
    MaxLine,
    /// `request-timeout-ms MS` for the `lines` service (0: never)
    RequestTimeoutMs,
    /// `steps N`: the simulator's step limit
    Steps,
}

impl Limit {
    pub const ALL: &[(Limit, &str)] = &[
        (Limit::MaxConns, "max-conns"),
        (Limit::ReadBudget, "read-budget"),
        (Limit::HighWater, "high-water"),
        (Limit::HardLimit, "hard-limit"),
        (Limit::IdleTimeoutMs, "idle-timeout-ms"),
        (Limit::LingerMs, "linger-ms"),
        (Limit::Buffer, "buffer"),
        (Limit::Backlog, "backlog"),
        (Limit::MaxLine, "max-line"),
        (Limit::RequestTimeoutMs, "request-timeout-ms"),
        (Limit::Steps, "steps"),
    ];

    pub fn name(self) -> &'static str {
        Limit::ALL
            .iter()
            .find(|(l, _)| *l == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    pub fn from_name(name: &str) -> Option<Limit> {
        Limit::ALL.iter().find(|(_, n)| *n == name).map(|(l, _)| *l)
    }
}

/// What a replay of this transcript must end in. Fixtures that exhibit a bug expect it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Pass,
    /// The service panics.
    Panic,
    /// Some client receives bytes other than those the transcript expects.
    Mismatch,
    /// Some client waits forever.
    Stall,
}

impl Expect {
    pub fn name(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Panic => "panic",
            Expect::Mismatch => "mismatch",
            Expect::Stall => "stall",
        }
    }
}

/// A client's step: an action it takes, or an observation it expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Connect,
    Send(Vec<u8>),
    /// Expect exactly these bytes next in the stream (however the network splits them), and
    /// take no further step until they have arrived.
    Recv(Vec<u8>),
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
    Resume,
    /// Do nothing for this long (virtual time in the simulator, real time on sockets).
    Wait(Duration),
}

impl Step {
    /// Whether the step is an expectation or observation rather than an action.
    pub fn is_expectation(&self) -> bool {
        matches!(
            self,
            Step::Recv(_)
                | Step::RecvEof
                | Step::RecvReset
                | Step::Got(_)
                | Step::GotEof
                | Step::GotReset
        )
    }

    /// Whether later steps wait for this expectation.
    pub fn is_barrier(&self) -> bool {
        matches!(self, Step::Recv(_) | Step::RecvEof | Step::RecvReset)
    }
}

/// A fault line: `! [client] kind [arg] [at N]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultLine {
    pub client: Option<String>,
    pub spec: FaultSpec,
    /// Which operation it hits, counted from 1 (reads or writes on the client's connection,
    /// polls, accepts, or the client's sends, by kind). `None`: the next such operation after
    /// the client's script reaches this line.
    pub at: Option<u64>,
}

impl Transcript {
    /// The header lines, in file order.
    pub fn headers(&self) -> impl Iterator<Item = &Header> {
        self.lines.iter().filter_map(|l| match &l.item {
            Item::Header(h) => Some(h),
            _ => None,
        })
    }

    pub fn service(&self) -> Option<&str> {
        self.headers().find_map(|h| match h {
            Header::Service(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn semantics(&self) -> Option<Semantics> {
        self.headers().find_map(|h| match h {
            Header::Semantics(s) => Some(*s),
            _ => None,
        })
    }

    pub fn seed(&self) -> Option<u64> {
        self.headers().find_map(|h| match h {
            Header::Seed(s) => Some(*s),
            _ => None,
        })
    }

    pub fn faults(&self) -> Option<FaultFamilies> {
        self.headers().find_map(|h| match h {
            Header::Faults(f) => Some(*f),
            _ => None,
        })
    }

    pub fn expect(&self) -> Expect {
        self.headers()
            .find_map(|h| match h {
                Header::Expect(e) => Some(*e),
                _ => None,
            })
            .unwrap_or(Expect::Pass)
    }

    pub fn oracle(&self) -> bool {
        self.headers().any(|h| matches!(h, Header::Oracle(true)))
    }

    pub fn limit(&self, limit: Limit) -> Option<u64> {
        self.headers().find_map(|h| match h {
            Header::Limit(l, v) if *l == limit => Some(*v),
            _ => None,
        })
    }

    /// The clients in scheduling order: the `clients` line's order, then the others in order
    /// of first appearance.
    pub fn clients(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .headers()
            .find_map(|h| match h {
                Header::Clients(list) => Some(list.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for line in &self.lines {
            let name = match &line.item {
                Item::Step { client, .. } => client,
                Item::Fault(FaultLine {
                    client: Some(client),
                    ..
                }) => client,
                _ => continue,
            };
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Appends a line with no trailing comment.
    pub fn push(&mut self, item: Item) {
        self.lines.push(Line {
            item,
            comment: None,
        });
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render::render(self))
    }
}

#[cfg(test)]
mod tests;
