//! The readiness semantics the simulator models, one per mechanism the seed document
//! compares.

use std::fmt;
use std::str::FromStr;

/// `FD_SETSIZE` on Linux: `select(2)` can watch only descriptors below it. `FD_SET` on a larger
/// descriptor writes past the `fd_set`, so a correct backend refuses it first.
pub const FD_SETSIZE: u32 = 1024;

/// How readiness is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Semantics {
    /// `select(2)`: level-triggered; descriptors at or above [`FD_SETSIZE`] cannot be watched;
    /// every call scans every watched descriptor.
    Select,
    /// `poll(2)`: level-triggered, no descriptor limit, every call scans every descriptor.
    Poll,
    /// `epoll(7)` level-triggered: a descriptor is reported on every call while it is ready.
    EpollLt,
    /// `epoll(7)` edge-triggered (`EPOLLET`, what mio uses): a descriptor is reported once when
    /// it becomes ready, and not again until the caller has seen `WouldBlock` on it (or
    /// re-registers it). A caller that stops reading early waits forever.
    EpollEt,
}

impl Semantics {
    pub const ALL: [Semantics; 4] = [
        Semantics::Select,
        Semantics::Poll,
        Semantics::EpollLt,
        Semantics::EpollEt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Semantics::Select => "select",
            Semantics::Poll => "poll",
            Semantics::EpollLt => "epoll-lt",
            Semantics::EpollEt => "epoll-et",
        }
    }

    /// Whether readiness is reported on every poll while it holds.
    pub fn is_level_triggered(self) -> bool {
        self != Semantics::EpollEt
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
            .ok_or_else(|| {
                format!("unknown semantics `{s}` (expected select, poll, epoll-lt or epoll-et)")
            })
    }
}
