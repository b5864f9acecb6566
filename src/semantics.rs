//! The readiness semantics the simulator models, one per mechanism the seed document
//! compares, plus edge-triggered epoll both as mio promises it and as Linux implements it.

use std::fmt;
use std::str::FromStr;

/// `FD_SETSIZE` on Linux: `select(2)` can watch only descriptors below it. `FD_SET` on a larger
/// descriptor writes past the `fd_set`, so a correct backend refuses it first.
pub const FD_SETSIZE: u32 = 1024;

/// How readiness is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Semantics {
    /// `select(2)`: level-triggered; descriptors at or above [`FD_SETSIZE`] cannot be watched;
    /// every call scans every watched descriptor.
    Select,
    /// `poll(2)`: level-triggered, no descriptor limit, every call scans every descriptor.
    Poll,
    /// `epoll(7)` level-triggered: a descriptor is reported on every call while it is ready.
    EpollLt,
    /// `epoll(7)` edge-triggered as mio documents it, the portable contract: a descriptor is
    /// reported once when it becomes ready, and not again until the caller has seen
    /// `WouldBlock` on it (or re-registers it). A caller that stops reading early waits
    /// forever.
    EpollEt,
    /// `epoll(7)` edge-triggered as Linux implements it: besides what [`Semantics::EpollEt`]
    /// reports, every arrival of data or of the peer's FIN raises a new edge, and data and a
    /// FIN that arrive together are reported in one event that carries the hang-up. So on
    /// Linux a read that returns fewer bytes than asked proves the socket drained, and a
    /// driver may skip the read that would return `WouldBlock` — unless the event carried the
    /// hang-up, whose EOF no later edge will announce.
    EpollLinux,
}

impl Semantics {
    /// Every semantics, in the order help texts list them.
    pub const ALL: [Semantics; 5] = [
        Semantics::Select,
        Semantics::Poll,
        Semantics::EpollLt,
        Semantics::EpollEt,
        Semantics::EpollLinux,
    ];

    /// The name in transcripts and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Semantics::Select => "select",
            Semantics::Poll => "poll",
            Semantics::EpollLt => "epoll-lt",
            Semantics::EpollEt => "epoll-et",
            Semantics::EpollLinux => "epoll-linux",
        }
    }

    /// Whether readiness is reported on every poll while it holds.
    pub fn is_level_triggered(self) -> bool {
        matches!(
            self,
            Semantics::Select | Semantics::Poll | Semantics::EpollLt
        )
    }

    /// Whether every arrival raises a new edge (Linux's `EPOLLET`), so a short read or write
    /// proves the socket drained or full.
    pub fn short_io_drains(self) -> bool {
        self == Semantics::EpollLinux
    }

    /// Whether the order of events within one poll is the descriptor order (`select`,
    /// `poll`) rather than an unpromised ready-list order (epoll).
    pub fn is_ordered(self) -> bool {
        matches!(self, Semantics::Select | Semantics::Poll)
    }

    /// The names of every semantics, for messages: `select, poll, ...`.
    pub fn names() -> String {
        Semantics::ALL
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Semantics {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Semantics::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown semantics `{s}` (expected {})", Semantics::names()))
    }
}
