//! Transcripts: one text format for fixtures, recorded runs and snapshots.
//!
//! A transcript is a list of lines: header lines (`service`, `semantics`, `seed`, `faults`,
//! `limit`, `expect`, `oracle`, `clients`), client steps (`a send "ping"`), fault lines
//! (`! a short-read 2 at 3`), time marks (`@ 1.5s`), comments and blank lines. The grammar,
//! with examples, is in `docs/transcript.md`.
//!
//! The format stands on the client-step vocabulary of [`crate::script`] and the fault table of
//! [`crate::fault`]: it reads and writes them, and knows nothing of the simulator that runs
//! them. A fixture is a client script plus expectations (`recv`, `recv-eof`, ...); a recorded
//! run is the same format with every client event written in the order it happened.
//!
//! Parsing never panics; errors carry the line and column ([`ParseError`]). Rendering is
//! canonical, and `parse(render(t)) == t` for every transcript.

mod files;
mod parse;
mod render;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

pub use files::{FileError, find, load, load_from};
pub use parse::{MAX_SIZE, ParseError, parse};
pub use render::render_item;

pub use crate::text::{
    DurationError, format_duration, human_duration, inline_diff, parse_duration, quote,
    quote_short, shorten, side_by_side,
};

use crate::failure::FailureKind;
use crate::fault::{FaultFamilies, FaultSpec};
use crate::script::Step;
use crate::semantics::Semantics;

/// A whole transcript: its lines in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The lines.
    pub lines: Vec<Line>,
}

/// One line and the comment that may trail it.
#[derive(Clone, Debug)]
pub struct Line {
    /// What the line says.
    pub(crate) item: Item,
    /// Text after `#` on a line that also holds an item.
    pub(crate) comment: Option<String>,
    /// Columns of the line's tokens, as parsed (empty for lines made in code): where to
    /// point when a later check finds something wrong with one of them.
    columns: Vec<usize>,
}

impl Line {
    /// What the line says.
    pub fn item(&self) -> &Item {
        &self.item
    }

    /// Text after `#` on a line that also holds an item.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The same line with this trailing comment (`None`: none).
    pub fn with_comment(mut self, comment: Option<String>) -> Self {
        self.comment = comment;
        self
    }
}

impl Line {
    /// A line made in code.
    pub fn new(item: Item) -> Self {
        Line {
            item,
            comment: None,
            columns: Vec::new(),
        }
    }

    /// The 1-based column of the line's `token`-th token (0 is the first), or 1 when the
    /// line was not parsed.
    pub fn column(&self, token: usize) -> usize {
        self.columns.get(token).copied().unwrap_or(1)
    }
}

/// Lines are equal when they say the same thing; where their tokens stood does not count.
impl PartialEq for Line {
    fn eq(&self, other: &Self) -> bool {
        self.item == other.item && self.comment == other.comment
    }
}

impl Eq for Line {}

/// What a line says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// An empty line.
    Blank,
    /// A whole-line comment, without the `#`.
    Comment(String),
    /// A header line.
    Header(Header),
    /// `@ 1.5s`: the virtual time when the lines below happened. Informational: replay does
    /// not wait for it.
    At(Duration),
    /// A client's step.
    Step {
        /// The client.
        client: String,
        /// The step.
        step: Step,
    },
    /// A fault line.
    Fault(FaultLine),
}

/// A header line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Header {
    /// `service NAME`.
    Service(String),
    /// `semantics S`.
    Semantics(Semantics),
    /// `seed N`.
    Seed(u64),
    /// `faults F`: the fault families the seed may switch on.
    Faults(FaultFamilies),
    /// `limit NAME VALUE`: a limit of the driver, the simulated network or the service.
    Limit(String, u64),
    /// `expect E`.
    Expect(Expect),
    /// `clients a b c`: the clients in scheduling order (by default, order of appearance).
    /// Recorded runs list them, since the order is part of what the seed decides.
    Clients(Vec<String>),
    /// `oracle on`: judge what clients receive by the service's oracle as well.
    Oracle(bool),
}

/// The header keywords: one table for the parser, the renderer and error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderKind {
    /// `service`
    Service,
    /// `semantics`
    Semantics,
    /// `seed`
    Seed,
    /// `faults`
    Faults,
    /// `limit`
    Limit,
    /// `expect`
    Expect,
    /// `oracle`
    Oracle,
    /// `clients`
    Clients,
}

impl HeaderKind {
    /// Every header keyword.
    pub const ALL: [HeaderKind; 8] = [
        HeaderKind::Service,
        HeaderKind::Semantics,
        HeaderKind::Seed,
        HeaderKind::Faults,
        HeaderKind::Limit,
        HeaderKind::Expect,
        HeaderKind::Oracle,
        HeaderKind::Clients,
    ];

    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            HeaderKind::Service => "service",
            HeaderKind::Semantics => "semantics",
            HeaderKind::Seed => "seed",
            HeaderKind::Faults => "faults",
            HeaderKind::Limit => "limit",
            HeaderKind::Expect => "expect",
            HeaderKind::Oracle => "oracle",
            HeaderKind::Clients => "clients",
        }
    }

    /// The kind of the keyword `word`.
    pub fn from_name(word: &str) -> Option<HeaderKind> {
        HeaderKind::ALL.into_iter().find(|k| k.name() == word)
    }

    /// Every keyword, for messages: `service, semantics, ...`.
    pub fn names() -> String {
        HeaderKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Header {
    /// The header's keyword.
    pub fn kind(&self) -> HeaderKind {
        match self {
            Header::Service(_) => HeaderKind::Service,
            Header::Semantics(_) => HeaderKind::Semantics,
            Header::Seed(_) => HeaderKind::Seed,
            Header::Faults(_) => HeaderKind::Faults,
            Header::Limit(..) => HeaderKind::Limit,
            Header::Expect(_) => HeaderKind::Expect,
            Header::Clients(_) => HeaderKind::Clients,
            Header::Oracle(_) => HeaderKind::Oracle,
        }
    }
}

/// What a replay of this transcript must end in. Fixtures that exhibit a bug expect it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// Every check holds.
    Pass,
    /// The service panics.
    Panic,
    /// Some client receives bytes other than those the transcript expects.
    Mismatch,
    /// Some client waits forever.
    Stall,
}

impl Expect {
    /// Every expectation.
    pub const ALL: [Expect; 4] = [Expect::Pass, Expect::Panic, Expect::Mismatch, Expect::Stall];

    /// The name in `expect` lines.
    pub fn name(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Panic => "panic",
            Expect::Mismatch => "mismatch",
            Expect::Stall => "stall",
        }
    }

    /// The expectation named `word`.
    pub fn from_name(word: &str) -> Option<Expect> {
        Expect::ALL.into_iter().find(|e| e.name() == word)
    }

    /// The expectation a run that failed with `kind` meets, whichever target played it: a
    /// crash of the server process is the `panic` of the simulator's service, a client owed
    /// bytes that never come is a `stall`. Other kinds (a leak, a refused connection...) meet
    /// none: they fail whatever the transcript expects.
    pub fn of(kind: FailureKind) -> Option<Expect> {
        match kind {
            FailureKind::Panic | FailureKind::Crash => Some(Expect::Panic),
            FailureKind::Mismatch | FailureKind::UnexpectedReset => Some(Expect::Mismatch),
            FailureKind::Stall | FailureKind::Hang | FailureKind::Timeout => Some(Expect::Stall),
            _ => None,
        }
    }
}

/// A fault line: `! [client] kind [arg] [at N]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultLine {
    /// The client whose connection it hits; `None` for faults of the whole server.
    pub(crate) client: Option<String>,
    /// The fault.
    pub(crate) spec: FaultSpec,
    /// Which operation it hits, counted from 1 (reads or writes on the client's connection,
    /// polls, accepts, or the client's sends, by kind). `None`: the next such operation after
    /// the client's script reaches this line.
    pub(crate) at: Option<u64>,
}

impl FaultLine {
    /// A fault line made in code: `spec` hits `client`'s connection (`None`: the whole
    /// server) at its `at`-th operation of the fault's kind (`None`: the next one).
    pub fn new(client: Option<String>, spec: FaultSpec, at: Option<u64>) -> Self {
        FaultLine { client, spec, at }
    }

    /// The client whose connection it hits; `None` for faults of the whole server.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// The fault.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    /// Which operation it hits, counted from 1 (reads or writes on the client's connection,
    /// polls, accepts, or the client's sends, by kind). `None`: the next such operation after
    /// the client's script reaches this line.
    pub fn at(&self) -> Option<u64> {
        self.at
    }
}

impl Transcript {
    /// The header lines, in file order.
    pub fn headers(&self) -> impl Iterator<Item = &Header> {
        self.lines.iter().filter_map(|l| match &l.item {
            Item::Header(h) => Some(h),
            _ => None,
        })
    }

    /// The line (1-based) of the first header of `kind`, and the line itself.
    pub fn header_line(&self, kind: HeaderKind) -> Option<(usize, &Line)> {
        self.lines
            .iter()
            .enumerate()
            .find(|(_, l)| matches!(&l.item, Item::Header(h) if h.kind() == kind))
            .map(|(i, l)| (i + 1, l))
    }

    /// The `service` line's name.
    pub fn service(&self) -> Option<&str> {
        self.headers().find_map(|h| match h {
            Header::Service(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The `semantics` line's semantics.
    pub fn semantics(&self) -> Option<Semantics> {
        self.headers().find_map(|h| match h {
            Header::Semantics(s) => Some(*s),
            _ => None,
        })
    }

    /// The `seed` line's seed.
    pub fn seed(&self) -> Option<u64> {
        self.headers().find_map(|h| match h {
            Header::Seed(s) => Some(*s),
            _ => None,
        })
    }

    /// The `faults` line's families.
    pub fn faults(&self) -> Option<FaultFamilies> {
        self.headers().find_map(|h| match h {
            Header::Faults(f) => Some(*f),
            _ => None,
        })
    }

    /// The `expect` line's expectation (`pass` without one).
    pub fn expect(&self) -> Expect {
        self.headers()
            .find_map(|h| match h {
                Header::Expect(e) => Some(*e),
                _ => None,
            })
            .unwrap_or(Expect::Pass)
    }

    /// Whether an `oracle on` line is present.
    pub fn oracle(&self) -> bool {
        self.headers().any(|h| matches!(h, Header::Oracle(true)))
    }

    /// The `limit` lines: (line number, name, value).
    pub fn limits(&self) -> impl Iterator<Item = (usize, &str, u64)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.item {
                Item::Header(Header::Limit(name, value)) => Some((i + 1, name.as_str(), *value)),
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
        self.lines.push(Line::new(item));
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render::render(self))
    }
}
