//! Faults: what can go wrong on a socket, as data.
//!
//! A fault is either scripted (a `!` line of a transcript, firing on an exact operation) or
//! drawn from the seed. Drawn faults follow FoundationDB's "buggify": per run each allowed
//! [`Family`] is switched on with probability one half, and an active family fires with a
//! rate drawn per run from a short ladder, so some runs are calm and some are storms. Every
//! fault that fires is traced as the `!` line that would replay it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::rng::SimRng;

/// One fault, with its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultSpec {
    /// The server's read returns at most this many bytes (at least 1).
    ShortRead(u32),
    /// The server's write takes at most this many bytes (0 means `WouldBlock`).
    ShortWrite(u32),
    /// The server's write returns `WouldBlock` though the buffer has room.
    WriteBlock,
    /// The server's read fails with `ECONNRESET`; the connection is reset.
    ReadReset,
    /// The server's write fails with `EPIPE`; the connection is reset.
    WriteReset,
    /// The server's read returns `EINTR`.
    ReadEintr,
    /// The server's write returns `EINTR`.
    WriteEintr,
    /// `poll` returns `EINTR`.
    PollEintr,
    /// `accept` returns `EINTR`.
    AcceptEintr,
    /// `accept` fails with `EMFILE` this many times in a row; the connection stays queued.
    AcceptEmfile(u32),
    /// The connection at the head of the accept queue is aborted; `accept` fails with
    /// `ECONNABORTED` and the client sees a reset.
    AcceptAborted,
    /// `poll` reports the client's connection ready although it is not.
    Spurious,
    /// `poll` reports an event under the token the client's connection had before the
    /// server closed it (whose slot may hold another connection by now).
    Stale,
    /// The client's next send reaches the server this much later (never overtaking earlier
    /// bytes of the same stream).
    Delay(Duration),
}

/// The operation a fault hits, whose count `at N` refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// Server reads on the client's connection.
    Read,
    /// Server writes on the client's connection.
    Write,
    /// Polls of the server's selector.
    Poll,
    /// Calls to accept.
    Accept,
    /// The client's sends.
    Send,
}

impl FaultSpec {
    pub fn name(self) -> &'static str {
        match self {
            FaultSpec::ShortRead(_) => "short-read",
            FaultSpec::ShortWrite(_) => "short-write",
            FaultSpec::WriteBlock => "write-block",
            FaultSpec::ReadReset => "read-reset",
            FaultSpec::WriteReset => "write-reset",
            FaultSpec::ReadEintr => "read-eintr",
            FaultSpec::WriteEintr => "write-eintr",
            FaultSpec::PollEintr => "poll-eintr",
            FaultSpec::AcceptEintr => "accept-eintr",
            FaultSpec::AcceptEmfile(_) => "accept-emfile",
            FaultSpec::AcceptAborted => "accept-aborted",
            FaultSpec::Spurious => "spurious",
            FaultSpec::Stale => "stale",
            FaultSpec::Delay(_) => "delay",
        }
    }

    pub fn op(self) -> Op {
        match self {
            FaultSpec::ShortRead(_) | FaultSpec::ReadReset | FaultSpec::ReadEintr => Op::Read,
            FaultSpec::ShortWrite(_)
            | FaultSpec::WriteBlock
            | FaultSpec::WriteReset
            | FaultSpec::WriteEintr => Op::Write,
            FaultSpec::PollEintr | FaultSpec::Spurious | FaultSpec::Stale => Op::Poll,
            FaultSpec::AcceptEintr | FaultSpec::AcceptEmfile(_) | FaultSpec::AcceptAborted => {
                Op::Accept
            }
            FaultSpec::Delay(_) => Op::Send,
        }
    }

    /// Whether the fault names a client (its connection); the others are global.
    pub fn needs_client(self) -> bool {
        !matches!(
            self,
            FaultSpec::PollEintr
                | FaultSpec::AcceptEintr
                | FaultSpec::AcceptEmfile(_)
                | FaultSpec::AcceptAborted
        )
    }

    /// Every fault name with the kind of argument it takes, for the parser and for errors.
    pub const NAMES: &[(&str, Arg)] = &[
        ("short-read", Arg::Count),
        ("short-write", Arg::Count),
        ("write-block", Arg::None),
        ("read-reset", Arg::None),
        ("write-reset", Arg::None),
        ("read-eintr", Arg::None),
        ("write-eintr", Arg::None),
        ("poll-eintr", Arg::None),
        ("accept-eintr", Arg::None),
        ("accept-emfile", Arg::Count),
        ("accept-aborted", Arg::None),
        ("spurious", Arg::None),
        ("stale", Arg::None),
        ("delay", Arg::Duration),
    ];

    /// Builds a fault from its name and argument (`None` where it takes none).
    pub fn build(name: &str, count: u32, duration: Duration) -> Option<FaultSpec> {
        Some(match name {
            "short-read" => FaultSpec::ShortRead(count),
            "short-write" => FaultSpec::ShortWrite(count),
            "write-block" => FaultSpec::WriteBlock,
            "read-reset" => FaultSpec::ReadReset,
            "write-reset" => FaultSpec::WriteReset,
            "read-eintr" => FaultSpec::ReadEintr,
            "write-eintr" => FaultSpec::WriteEintr,
            "poll-eintr" => FaultSpec::PollEintr,
            "accept-eintr" => FaultSpec::AcceptEintr,
            "accept-emfile" => FaultSpec::AcceptEmfile(count),
            "accept-aborted" => FaultSpec::AcceptAborted,
            "spurious" => FaultSpec::Spurious,
            "stale" => FaultSpec::Stale,
            "delay" => FaultSpec::Delay(duration),
            _ => return None,
        })
    }
}

/// The kind of argument a fault takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    None,
    Count,
    Duration,
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            FaultSpec::ShortRead(n) | FaultSpec::ShortWrite(n) | FaultSpec::AcceptEmfile(n) => {
                write!(f, " {n}")
            }
            FaultSpec::Delay(d) => write!(f, " {}", crate::transcript::format_duration(*d)),
            _ => Ok(()),
        }
    }
}

/// A family of faults, switched on and off together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// Short reads and short writes.
    ShortIo,
    /// Writes that return `WouldBlock` with room in the buffer.
    WouldBlock,
    /// Resets: `ECONNRESET` on read, `EPIPE` on write, clients that abort.
    Reset,
    /// Clients that close at a random point.
    Close,
    /// Clients that shut down their write side early.
    HalfClose,
    /// `EINTR` on poll, read, write and accept.
    Eintr,
    /// Spurious readiness and events for stale tokens.
    Spurious,
    /// `EMFILE` and `ECONNABORTED` from accept.
    Accept,
    /// Delays between connections (reordering across streams, never within one).
    Delay,
    /// Connect storms: dozens of extra clients that connect at once and leave at once.
    Storm,
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::ShortIo,
        Family::WouldBlock,
        Family::Reset,
        Family::Close,
        Family::HalfClose,
        Family::Eintr,
        Family::Spurious,
        Family::Accept,
        Family::Delay,
        Family::Storm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::ShortIo => "short-io",
            Family::WouldBlock => "would-block",
            Family::Reset => "reset",
            Family::Close => "close",
            Family::HalfClose => "half-close",
            Family::Eintr => "eintr",
            Family::Spurious => "spurious",
            Family::Accept => "accept",
            Family::Delay => "delay",
            Family::Storm => "storm",
        }
    }

    /// Whether the family can cut a client off (its answers are then no longer owed).
    pub fn is_disruptive(self) -> bool {
        matches!(self, Family::Reset | Family::Close)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of fault families: `none`, `all`, or a comma-separated list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultFamilies(u16);

impl FaultFamilies {
    pub const NONE: FaultFamilies = FaultFamilies(0);
    pub const ALL: FaultFamilies = FaultFamilies((1 << Family::ALL.len()) - 1);

    pub fn with(self, family: Family) -> Self {
        FaultFamilies(self.0 | family.bit())
    }

    pub fn without(self, family: Family) -> Self {
        FaultFamilies(self.0 & !family.bit())
    }

    pub fn contains(self, family: Family) -> bool {
        self.0 & family.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl fmt::Display for FaultFamilies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == FaultFamilies::NONE {
            return f.write_str("none");
        }
        if *self == FaultFamilies::ALL {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.iter().map(Family::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for FaultFamilies {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => return Ok(FaultFamilies::NONE),
            "all" => return Ok(FaultFamilies::ALL),
            _ => {}
        }
        let mut set = FaultFamilies::NONE;
        for part in s.split(',') {
            let family = Family::ALL
                .into_iter()
                .find(|f| f.name() == part)
                .ok_or_else(|| {
                    let known: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
                    format!(
                        "unknown fault family `{part}` (expected none, all, or a list of {})",
                        known.join(", ")
                    )
                })?;
            set = set.with(family);
        }
        Ok(set)
    }
}

/// Firing rates, in parts per million, a run draws from for each active family. The ladder
/// spans "one op in a hundred" to "every other op", so campaigns see rare faults and storms.
const RATE_LADDER: [u32; 4] = [10_000, 50_000, 200_000, 500_000];

/// Which families fire in one run, and how often: drawn once per run from the fault stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    rates: [u32; Family::ALL.len()],
}

impl FaultPlan {
    /// No drawn faults: only scripted ones fire.
    pub fn calm() -> Self {
        FaultPlan::default()
    }

    /// Draws a plan: each allowed family is active with probability one half.
    pub fn draw(allowed: FaultFamilies, rng: &mut SimRng) -> Self {
        let mut plan = FaultPlan::default();
        for family in Family::ALL {
            // Draw for every family, allowed or not, so one family's switch never shifts
            // another's rate.
            let on = rng.chance(500_000);
            let rate = *rng.pick(&RATE_LADDER);
            if on && allowed.contains(family) {
                plan.rates[family as usize] = rate;
            }
        }
        plan
    }

    /// Every allowed family active at the given rate (parts per million); for tests.
    pub fn every(allowed: FaultFamilies, per_million: u32) -> Self {
        let mut plan = FaultPlan::default();
        for family in allowed.iter() {
            plan.rates[family as usize] = per_million;
        }
        plan
    }

    pub fn rate(&self, family: Family) -> u32 {
        self.rates[family as usize]
    }

    pub fn is_calm(&self) -> bool {
        self.rates.iter().all(|r| *r == 0)
    }

    /// Whether a fault of `family` fires at this opportunity.
    pub fn fires(&self, family: Family, rng: &mut SimRng) -> bool {
        let rate = self.rate(family);
        rate > 0 && rng.chance(rate)
    }

    /// The active families, for the trace header.
    pub fn active(&self) -> FaultFamilies {
        let mut set = FaultFamilies::NONE;
        for family in Family::ALL {
            if self.rate(family) > 0 {
                set = set.with(family);
            }
        }
        set
    }
}
