//! The one vocabulary of failures: every way of playing a scenario (the simulator, real
//! sockets, a server process with faults injected inside it) names what it found with a
//! [`FailureKind`], and reports, bucket signatures and file names use its [`name`].
//!
//! [`name`]: FailureKind::name

use std::fmt;

/// What kind of check a failing run failed, whichever target played it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The service panicked (in the simulator, or in muxsim's own server).
    Panic,
    /// The server process exited or was killed.
    Crash,
    /// A client received other bytes than its script allows (or fewer: the server closed).
    Mismatch,
    /// The run ended with clients still waiting (in the simulator).
    Stall,
    /// A client is owed bytes that never came while the server process slept.
    Hang,
    /// The expected bytes did not come in time over a real socket.
    Timeout,
    /// The server ran without progress, or burned CPU while every client waited.
    BusyLoop,
    /// The server kept a connection (or a descriptor) its client had ended.
    Leak,
    /// The service keeps state for more connections than are open.
    ServiceLeak,
    /// A second run of the same play left the service's heap larger.
    HeapLeak,
    /// The server process's memory grew past its bound.
    Memory,
    /// The service sent to a connection after it was closed.
    SendAfterClose,
    /// The driver read or wrote with an empty buffer.
    EmptyBuffer,
    /// The step limit was reached.
    StepLimit,
    /// The server's poll failed.
    PollFailed,
    /// The play cannot run as written.
    BadScript,
    /// An oracle found what a client received wrong.
    Oracle,
    /// Two runs of the same seed went differently.
    Nondeterministic,
    /// A client could not connect.
    Connect,
    /// A connection was reset where no reset was expected.
    UnexpectedReset,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 20] = [
        FailureKind::Panic,
        FailureKind::Crash,
        FailureKind::Mismatch,
        FailureKind::Stall,
        FailureKind::Hang,
        FailureKind::Timeout,
        FailureKind::BusyLoop,
        FailureKind::Leak,
        FailureKind::ServiceLeak,
        FailureKind::HeapLeak,
        FailureKind::Memory,
        FailureKind::SendAfterClose,
        FailureKind::EmptyBuffer,
        FailureKind::StepLimit,
        FailureKind::PollFailed,
        FailureKind::BadScript,
        FailureKind::Oracle,
        FailureKind::Nondeterministic,
        FailureKind::Connect,
        FailureKind::UnexpectedReset,
    ];

    /// Its name in reports, signatures and file names; stable across releases.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Crash => "crash",
            FailureKind::Mismatch => "mismatch",
            FailureKind::Stall => "stall",
            FailureKind::Hang => "hang",
            FailureKind::Timeout => "timeout",
            FailureKind::BusyLoop => "busy-loop",
            FailureKind::Leak => "leak",
            FailureKind::ServiceLeak => "service-leak",
            FailureKind::HeapLeak => "heap-leak",
            FailureKind::Memory => "memory",
            FailureKind::SendAfterClose => "send-after-close",
            FailureKind::EmptyBuffer => "empty-buffer",
            FailureKind::StepLimit => "step-limit",
            FailureKind::PollFailed => "poll-failed",
            FailureKind::BadScript => "bad-script",
            FailureKind::Oracle => "oracle",
            FailureKind::Nondeterministic => "nondeterministic",
            FailureKind::Connect => "connect",
            FailureKind::UnexpectedReset => "unexpected-reset",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<str> for FailureKind {
    fn eq(&self, other: &str) -> bool {
        self.name() == other
    }
}

impl PartialEq<&str> for FailureKind {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl serde::Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_name_and_is_found_by_it() {
        let mut names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.name()).collect();
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::from_name(kind.name()), Some(kind));
            assert_eq!(kind, kind.name());
            assert_eq!(kind, *kind.name());
            assert_eq!(kind.to_string(), kind.name());
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert_ne!(FailureKind::Panic, "crash");
        assert_ne!(FailureKind::Panic, *"crash");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FailureKind::ALL.len());
        assert_eq!(FailureKind::from_name("no-such-kind"), None);
    }
}
