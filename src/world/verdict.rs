//! How a run ends: [`Verdict`], and the [`Failure`] it names when it fails.

use std::fmt;

pub use crate::failure::FailureKind;
use crate::text::{quote_short, shorten};

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The service panicked.
    Panic {
        /// The panic's message.
        message: String,
    },
    /// A client received bytes other than those its script expects.
    Mismatch {
        /// The client.
        client: String,
        /// What the script expects at this point.
        expected: Vec<u8>,
        /// What arrived.
        got: Vec<u8>,
    },
    /// A client received bytes that a matcher of its script (`recv-until`, `recv-line`,
    /// `recv-set`...) does not accept.
    NoMatch {
        /// The client.
        client: String,
        /// The step that did not match, as written.
        expected: String,
        /// What arrived.
        got: Vec<u8>,
    },
    /// A client's stream ended (EOF or reset) other than as its script expects.
    UnexpectedEnd {
        /// The client.
        client: String,
        /// What the script expects.
        expected: String,
        /// What happened.
        got: String,
    },
    /// The run ended with clients still waiting.
    Stalled {
        /// What each waits for.
        waiting: Vec<String>,
    },
    /// The driver kept calling the backend without ever polling again: it loops inside one
    /// turn.
    Runaway {
        /// Calls made since the last poll.
        calls: u64,
    },
    /// The server ran many turns without any progress.
    BusyLoop {
        /// Turns in a row without progress.
        turns: u64,
    },
    /// The server kept a connection its client had closed or shut down.
    Leak {
        /// The client.
        client: String,
    },
    /// The service keeps state for more connections than are open.
    ServiceLeak {
        /// Connections it tracks.
        tracked: usize,
        /// Connections open.
        live: usize,
    },
    /// The same play, run a second time on the same service, left its heap larger than the
    /// first run did: the service keeps something for connections that are gone.
    HeapLeak {
        /// Blocks the service held after the second run beyond those it held after the first.
        more: u64,
        /// The client whose connection's calls allocated the blocks left, if a connection's.
        client: Option<String>,
        /// Blocks those calls allocated that were never freed.
        blocks: u64,
        /// Their bytes.
        bytes: u64,
        /// The earliest call that allocated one, and when (`handle_connected at 1.2ms`).
        call: String,
    },
    /// The service sent to a connection after it was closed, or after asking to close it.
    SendAfterClose {
        /// How many times.
        count: u64,
    },
    /// The driver read or wrote with an empty buffer.
    EmptyBuffer,
    /// The step limit was reached.
    StepLimit {
        /// Steps taken.
        steps: u64,
    },
    /// The server's poll failed.
    PollFailed {
        /// The error.
        error: String,
    },
    /// The play cannot run (a client acts before it connects, a fault names no client...).
    BadScript {
        /// What is wrong.
        message: String,
    },
    /// An oracle found what a client received wrong.
    Oracle {
        /// The client.
        client: String,
        /// What is wrong.
        detail: String,
    },
    /// Two runs of the same seed went differently: the service depends on something the seed
    /// does not decide (a `HashMap`'s order, the wall clock, an unseeded RNG), so its failures
    /// do not reproduce.
    Nondeterministic {
        /// Where the runs first differ, or how their verdicts did.
        detail: String,
    },
    /// A failure seen from outside the server, over real sockets or of its process (a
    /// crash, a hang, a refused connection, a descriptor leak, memory growth...), worded by
    /// the target that saw it.
    Observed {
        /// What kind of check failed.
        kind: FailureKind,
        /// The client it is about, if one.
        client: Option<String>,
        /// What went wrong.
        message: String,
    },
}

impl Failure {
    /// The kind of failure, in the vocabulary every target shares (its
    /// [`name`](FailureKind::name) is stable across runs and releases).
    pub fn kind(&self) -> FailureKind {
        match self {
            Failure::Panic { .. } => FailureKind::Panic,
            Failure::Mismatch { .. } | Failure::NoMatch { .. } | Failure::UnexpectedEnd { .. } => {
                FailureKind::Mismatch
            }
            Failure::Stalled { .. } => FailureKind::Stall,
            Failure::BusyLoop { .. } | Failure::Runaway { .. } => FailureKind::BusyLoop,
            Failure::Leak { .. } => FailureKind::Leak,
            Failure::ServiceLeak { .. } => FailureKind::ServiceLeak,
            Failure::HeapLeak { .. } => FailureKind::HeapLeak,
            Failure::SendAfterClose { .. } => FailureKind::SendAfterClose,
            Failure::EmptyBuffer => FailureKind::EmptyBuffer,
            Failure::StepLimit { .. } => FailureKind::StepLimit,
            Failure::PollFailed { .. } => FailureKind::PollFailed,
            Failure::BadScript { .. } => FailureKind::BadScript,
            Failure::Oracle { .. } => FailureKind::Oracle,
            Failure::Nondeterministic { .. } => FailureKind::Nondeterministic,
            Failure::Observed { kind, .. } => *kind,
        }
    }

    /// A failure seen from outside the server, of `kind`, worded `message`.
    pub fn observed(kind: FailureKind, client: Option<&str>, message: impl Into<String>) -> Self {
        Failure::Observed {
            kind,
            client: client.map(str::to_string),
            message: message.into(),
        }
    }

    /// The client the failure is about, if it is about one.
    pub fn client(&self) -> Option<&str> {
        match self {
            Failure::Mismatch { client, .. }
            | Failure::NoMatch { client, .. }
            | Failure::UnexpectedEnd { client, .. }
            | Failure::Leak { client }
            | Failure::Oracle { client, .. } => Some(client),
            Failure::HeapLeak { client, .. } | Failure::Observed { client, .. } => {
                client.as_deref()
            }
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panic { message } => write!(f, "the service panicked: {message}"),
            Failure::Mismatch {
                client,
                expected,
                got,
            } => write!(
                f,
                "client {client} expected {} but got {}",
                quote_short(expected),
                quote_short(got)
            ),
            Failure::NoMatch {
                client,
                expected,
                got,
            } => write!(
                f,
                "client {client} expected `{}` but got {}",
                shorten(expected),
                quote_short(got)
            ),
            Failure::UnexpectedEnd {
                client,
                expected,
                got,
            } => write!(
                f,
                "client {client} expected {} but got {}",
                shorten(expected),
                shorten(got)
            ),
            Failure::Stalled { waiting } => write!(f, "stalled: {}", waiting.join("; ")),
            Failure::Runaway { calls } => write!(
                f,
                "busy loop: the driver made {calls} calls without polling again (it loops inside one turn)"
            ),
            Failure::BusyLoop { turns } => write!(
                f,
                "busy loop: the server ran {turns} turns in a row without progress"
            ),
            Failure::Leak { client } => write!(
                f,
                "leak: client {client} ended its side of the connection but the server still holds it"
            ),
            Failure::ServiceLeak { tracked, live } => write!(
                f,
                "leak: the service keeps state for {tracked} connections but only {live} are open"
            ),
            Failure::HeapLeak {
                more,
                client,
                blocks,
                bytes,
                call,
            } => {
                write!(
                    f,
                    "heap leak: a second run of the same play left the service holding {more} block(s) more than the first; {blocks} block(s) ({bytes} bytes) allocated by {call}"
                )?;
                match client {
                    Some(client) => write!(
                        f,
                        " for client {client} were never freed after its connection closed"
                    ),
                    None => f.write_str(" were never freed"),
                }
            }
            Failure::SendAfterClose { count } => {
                write!(f, "the service sent to a closed connection {count} time(s)")
            }
            Failure::EmptyBuffer => f.write_str("the driver read or wrote with an empty buffer"),
            Failure::StepLimit { steps } => write!(f, "no end after {steps} steps"),
            Failure::PollFailed { error } => write!(f, "poll failed: {error}"),
            Failure::BadScript { message } => write!(f, "the scripts cannot run: {message}"),
            Failure::Oracle { client, detail } => write!(f, "client {client}: {detail}"),
            Failure::Nondeterministic { detail } => write!(f, "nondeterministic: {detail}"),
            Failure::Observed { message, .. } => f.write_str(message),
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// A check failed.
    Fail(Failure),
}

impl Verdict {
    /// Whether every check held.
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    /// The failure, if the run failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Verdict::Pass => None,
            Verdict::Fail(f) => Some(f),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Fail(failure) => write!(f, "FAIL: {failure}"),
        }
    }
}
