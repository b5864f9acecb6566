//! Faults: what can go wrong on a socket, as data.
//!
//! A fault is either scripted (a `!` line of a transcript, firing on an exact operation) or
//! drawn from the seed. Drawn faults follow FoundationDB's "buggify": per run each allowed
//! [`Family`] is switched on with probability one half, and an active family fires with a
//! rate drawn per run from a short ladder, so some runs are calm and some are storms. Every
//! fault that fires is traced as the `!` line that would replay it.
//!
//! Each concept has one table: [`FaultKind::ALL`] with [`FaultKind::name`],
//! [`FaultKind::arg`] and [`FaultKind::op`] is what the parser, the renderer, the simulator
//! and the help text all read; [`Family::ALL`] with [`Family::name`] likewise.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::rng::{SimRng, Stream};
use crate::text::format_duration;

/// One fault, with its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultSpec {
    /// The server's read returns at most this many bytes (at least 1).
    ShortRead(u32),
    /// The server's write takes at most this many bytes (0 means `WouldBlock`).
    ShortWrite(u32),
    /// The server's write returns `WouldBlock` though the buffer has room.
    WriteBlock,
    /// The server's read returns `WouldBlock` though bytes are waiting (an edge-triggered
    /// selector reports them again).
    ReadBlock,
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
    /// The client closes its socket instead of taking its next action (which it takes
    /// afterwards, and which then goes nowhere).
    ClientClose,
    /// The client aborts the connection (`SO_LINGER 0`) instead of taking its next action.
    ClientReset,
    /// The client shuts down its write side instead of taking its next action.
    ClientShutdown,
}

/// A fault without its argument: the unit of the fault table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// See [`FaultSpec::ShortRead`].
    ShortRead,
    /// See [`FaultSpec::ShortWrite`].
    ShortWrite,
    /// See [`FaultSpec::WriteBlock`].
    WriteBlock,
    /// See [`FaultSpec::ReadBlock`].
    ReadBlock,
    /// See [`FaultSpec::ReadReset`].
    ReadReset,
    /// See [`FaultSpec::WriteReset`].
    WriteReset,
    /// See [`FaultSpec::ReadEintr`].
    ReadEintr,
    /// See [`FaultSpec::WriteEintr`].
    WriteEintr,
    /// See [`FaultSpec::PollEintr`].
    PollEintr,
    /// See [`FaultSpec::AcceptEintr`].
    AcceptEintr,
    /// See [`FaultSpec::AcceptEmfile`].
    AcceptEmfile,
    /// See [`FaultSpec::AcceptAborted`].
    AcceptAborted,
    /// See [`FaultSpec::Spurious`].
    Spurious,
    /// See [`FaultSpec::Stale`].
    Stale,
    /// See [`FaultSpec::Delay`].
    Delay,
    /// See [`FaultSpec::ClientClose`].
    ClientClose,
    /// See [`FaultSpec::ClientReset`].
    ClientReset,
    /// See [`FaultSpec::ClientShutdown`].
    ClientShutdown,
}

/// The operation a fault hits, whose count `at N` refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
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
    /// The client's attempts to take an action (any step but a read).
    Act,
}

/// The kind of argument a fault takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arg {
    /// No argument.
    None,
    /// A whole number.
    Count,
    /// A duration such as `5ms`.
    Duration,
}

impl FaultKind {
    /// Whether Linux itself makes this fault on a TCP socket, or only POSIX allows it (an
    /// `EAGAIN` with bytes or room there, a ready report that is not): see
    /// [`Family::linux_makes`].
    pub fn linux_makes(self) -> bool {
        !matches!(
            self,
            FaultKind::ReadBlock | FaultKind::WriteBlock | FaultKind::Spurious
        )
    }

    /// Every fault kind, in the order help texts list them.
    pub const ALL: [FaultKind; 18] = [
        FaultKind::ShortRead,
        FaultKind::ShortWrite,
        FaultKind::WriteBlock,
        FaultKind::ReadBlock,
        FaultKind::ReadReset,
        FaultKind::WriteReset,
        FaultKind::ReadEintr,
        FaultKind::WriteEintr,
        FaultKind::PollEintr,
        FaultKind::AcceptEintr,
        FaultKind::AcceptEmfile,
        FaultKind::AcceptAborted,
        FaultKind::Spurious,
        FaultKind::Stale,
        FaultKind::Delay,
        FaultKind::ClientClose,
        FaultKind::ClientReset,
        FaultKind::ClientShutdown,
    ];

    /// The fault's name in transcripts.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ShortRead => "short-read",
            FaultKind::ShortWrite => "short-write",
            FaultKind::WriteBlock => "write-block",
            FaultKind::ReadBlock => "read-block",
            FaultKind::ReadReset => "read-reset",
            FaultKind::WriteReset => "write-reset",
            FaultKind::ReadEintr => "read-eintr",
            FaultKind::WriteEintr => "write-eintr",
            FaultKind::PollEintr => "poll-eintr",
            FaultKind::AcceptEintr => "accept-eintr",
            FaultKind::AcceptEmfile => "accept-emfile",
            FaultKind::AcceptAborted => "accept-aborted",
            FaultKind::Spurious => "spurious",
            FaultKind::Stale => "stale",
            FaultKind::Delay => "delay",
            FaultKind::ClientClose => "client-close",
            FaultKind::ClientReset => "client-reset",
            FaultKind::ClientShutdown => "client-shutdown",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The argument the fault takes.
    pub fn arg(self) -> Arg {
        match self {
            FaultKind::ShortRead | FaultKind::ShortWrite | FaultKind::AcceptEmfile => Arg::Count,
            FaultKind::Delay => Arg::Duration,
            _ => Arg::None,
        }
    }

    /// The operation the fault hits.
    pub fn op(self) -> Op {
        match self {
            FaultKind::ShortRead
            | FaultKind::ReadBlock
            | FaultKind::ReadReset
            | FaultKind::ReadEintr => Op::Read,
            FaultKind::ShortWrite
            | FaultKind::WriteBlock
            | FaultKind::WriteReset
            | FaultKind::WriteEintr => Op::Write,
            FaultKind::PollEintr | FaultKind::Spurious | FaultKind::Stale => Op::Poll,
            FaultKind::AcceptEintr | FaultKind::AcceptEmfile | FaultKind::AcceptAborted => {
                Op::Accept
            }
            FaultKind::Delay => Op::Send,
            FaultKind::ClientClose | FaultKind::ClientReset | FaultKind::ClientShutdown => Op::Act,
        }
    }

    /// Whether the fault names a client (its connection); the others hit the whole server.
    pub fn needs_client(self) -> bool {
        !matches!(
            self,
            FaultKind::PollEintr
                | FaultKind::AcceptEintr
                | FaultKind::AcceptEmfile
                | FaultKind::AcceptAborted
        )
    }

    /// The smallest count the fault accepts (for [`Arg::Count`]).
    pub fn min_count(self) -> u32 {
        match self {
            FaultKind::ShortWrite => 0,
            _ => 1,
        }
    }

    /// The fault with its argument: `count` for [`Arg::Count`], `duration` for
    /// [`Arg::Duration`]; the other is ignored.
    pub fn with(self, count: u32, duration: Duration) -> FaultSpec {
        match self {
            FaultKind::ShortRead => FaultSpec::ShortRead(count),
            FaultKind::ShortWrite => FaultSpec::ShortWrite(count),
            FaultKind::WriteBlock => FaultSpec::WriteBlock,
            FaultKind::ReadBlock => FaultSpec::ReadBlock,
            FaultKind::ReadReset => FaultSpec::ReadReset,
            FaultKind::WriteReset => FaultSpec::WriteReset,
            FaultKind::ReadEintr => FaultSpec::ReadEintr,
            FaultKind::WriteEintr => FaultSpec::WriteEintr,
            FaultKind::PollEintr => FaultSpec::PollEintr,
            FaultKind::AcceptEintr => FaultSpec::AcceptEintr,
            FaultKind::AcceptEmfile => FaultSpec::AcceptEmfile(count),
            FaultKind::AcceptAborted => FaultSpec::AcceptAborted,
            FaultKind::Spurious => FaultSpec::Spurious,
            FaultKind::Stale => FaultSpec::Stale,
            FaultKind::Delay => FaultSpec::Delay(duration),
            FaultKind::ClientClose => FaultSpec::ClientClose,
            FaultKind::ClientReset => FaultSpec::ClientReset,
            FaultKind::ClientShutdown => FaultSpec::ClientShutdown,
        }
    }

    /// Whether the fault can only happen inside the server's own kernel, so a client over
    /// real TCP cannot cause it.
    pub fn is_server_side(self) -> bool {
        !matches!(
            self,
            FaultKind::Delay
                | FaultKind::ClientClose
                | FaultKind::ClientReset
                | FaultKind::ClientShutdown
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FaultSpec {
    /// The fault without its argument.
    pub fn kind(self) -> FaultKind {
        match self {
            FaultSpec::ShortRead(_) => FaultKind::ShortRead,
            FaultSpec::ShortWrite(_) => FaultKind::ShortWrite,
            FaultSpec::WriteBlock => FaultKind::WriteBlock,
            FaultSpec::ReadBlock => FaultKind::ReadBlock,
            FaultSpec::ReadReset => FaultKind::ReadReset,
            FaultSpec::WriteReset => FaultKind::WriteReset,
            FaultSpec::ReadEintr => FaultKind::ReadEintr,
            FaultSpec::WriteEintr => FaultKind::WriteEintr,
            FaultSpec::PollEintr => FaultKind::PollEintr,
            FaultSpec::AcceptEintr => FaultKind::AcceptEintr,
            FaultSpec::AcceptEmfile(_) => FaultKind::AcceptEmfile,
            FaultSpec::AcceptAborted => FaultKind::AcceptAborted,
            FaultSpec::Spurious => FaultKind::Spurious,
            FaultSpec::Stale => FaultKind::Stale,
            FaultSpec::Delay(_) => FaultKind::Delay,
            FaultSpec::ClientClose => FaultKind::ClientClose,
            FaultSpec::ClientReset => FaultKind::ClientReset,
            FaultSpec::ClientShutdown => FaultKind::ClientShutdown,
        }
    }

    /// The fault's name in transcripts.
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    /// The operation the fault hits.
    pub fn op(self) -> Op {
        self.kind().op()
    }

    /// Whether the fault names a client (its connection); the others are global.
    pub fn needs_client(self) -> bool {
        self.kind().needs_client()
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            FaultSpec::ShortRead(n) | FaultSpec::ShortWrite(n) | FaultSpec::AcceptEmfile(n) => {
                write!(f, " {n}")
            }
            FaultSpec::Delay(d) => write!(f, " {}", format_duration(*d)),
            _ => Ok(()),
        }
    }
}

/// A family of faults, switched on and off together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Family {
    /// Short reads and short writes.
    ShortIo,
    /// Reads and writes that return `WouldBlock` though bytes or room are there.
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
    /// Every family, in the order help texts list them.
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

    /// The family's name on the command line and in `faults` lines.
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

    /// Whether Linux itself makes this family's faults on TCP sockets (`true`), or POSIX only
    /// allows them (`false`): Linux does not answer `EAGAIN` to a connection's only reader
    /// right after readiness said readable, nor report a socket ready that is not (`select`
    /// and `poll` over TCP), though a portable server must survive both.
    pub fn linux_makes(self) -> bool {
        !matches!(self, Family::WouldBlock | Family::Spurious)
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FaultFamilies(u16);

impl FaultFamilies {
    /// No family.
    pub const NONE: FaultFamilies = FaultFamilies(0);
    /// Every family.
    pub const ALL: FaultFamilies = FaultFamilies((1 << Family::ALL.len()) - 1);
    /// The families Linux itself makes ([`Family::linux_makes`]): everything but
    /// `would-block` and `spurious`.
    pub const LINUX: FaultFamilies = FaultFamilies(
        FaultFamilies::ALL.0 & !(1 << Family::WouldBlock as u16) & !(1 << Family::Spurious as u16),
    );

    /// This set and `family`.
    pub fn with(self, family: Family) -> Self {
        FaultFamilies(self.0 | family.bit())
    }

    /// This set without `family`.
    pub fn without(self, family: Family) -> Self {
        FaultFamilies(self.0 & !family.bit())
    }

    /// Whether `family` is in the set.
    pub fn contains(self, family: Family) -> bool {
        self.0 & family.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The families in the set, in table order.
    pub fn iter(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl FromIterator<Family> for FaultFamilies {
    fn from_iter<I: IntoIterator<Item = Family>>(iter: I) -> Self {
        iter.into_iter()
            .fold(FaultFamilies::NONE, FaultFamilies::with)
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
        if *self == FaultFamilies::LINUX {
            return f.write_str("linux");
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
            "linux" => return Ok(FaultFamilies::LINUX),
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
                        "unknown fault family `{part}` (expected none, all, linux, or a list of {})",
                        known.join(", ")
                    )
                })?;
            set = set.with(family);
        }
        Ok(set)
    }
}

/// The longest delay the simulator's `delay` family gives one send: what a judgment on the
/// virtual clock allows for bytes that may still have been on their way.
pub const MAX_DRAWN_DELAY: Duration = Duration::from_millis(20);

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
    pub(crate) fn draw(allowed: FaultFamilies, rng: &mut SimRng) -> Self {
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

    /// The plan of seed `seed`: drawn from the seed's own plan stream, so that the simulator,
    /// a real backend under faults and a server under `muxsim run` switch on the same
    /// families at the same rates for the same seed.
    pub fn for_seed(allowed: FaultFamilies, seed: u64) -> Self {
        FaultPlan::draw(allowed, &mut SimRng::new(seed, Stream::Plan))
    }

    /// Every allowed family active at the given rate (parts per million).
    pub fn every(allowed: FaultFamilies, per_million: u32) -> Self {
        let mut plan = FaultPlan::default();
        for family in allowed.iter() {
            plan.rates[family as usize] = per_million;
        }
        plan
    }

    /// The rate of `family`, in parts per million.
    pub fn rate(&self, family: Family) -> u32 {
        self.rates[family as usize]
    }

    /// Whether no family fires.
    pub fn is_calm(&self) -> bool {
        self.rates.iter().all(|r| *r == 0)
    }

    /// Whether a fault of `family` fires at this opportunity.
    pub fn fires(&self, family: Family, rng: &mut SimRng) -> bool {
        let rate = self.rate(family);
        rate > 0 && rng.chance(rate)
    }

    /// The active families.
    pub fn active(&self) -> FaultFamilies {
        Family::ALL
            .into_iter()
            .filter(|f| self.rate(*f) > 0)
            .collect()
    }

    // The draws of each server operation, one place for every backend that injects them (the
    // simulator and a real backend under faults): the order of the calls is what makes a
    // seed reproduce, so it is written once.

    /// The drawn fault of a server read with `available` bytes waiting.
    pub(crate) fn draw_read(&self, available: usize, rng: &mut SimRng) -> Option<FaultSpec> {
        if self.fires(Family::Eintr, rng) {
            return Some(FaultSpec::ReadEintr);
        }
        if self.fires(Family::Reset, rng) {
            return Some(FaultSpec::ReadReset);
        }
        if available > 1 && self.fires(Family::ShortIo, rng) {
            return Some(FaultSpec::ShortRead(
                rng.between(1, available as u64 - 1) as u32
            ));
        }
        if available > 0 && self.fires(Family::WouldBlock, rng) {
            return Some(FaultSpec::ReadBlock);
        }
        None
    }

    /// The drawn fault of a server write of `len` bytes.
    pub(crate) fn draw_write(&self, len: usize, rng: &mut SimRng) -> Option<FaultSpec> {
        if self.fires(Family::Eintr, rng) {
            return Some(FaultSpec::WriteEintr);
        }
        if self.fires(Family::Reset, rng) {
            return Some(FaultSpec::WriteReset);
        }
        if self.fires(Family::WouldBlock, rng) {
            return Some(FaultSpec::WriteBlock);
        }
        if len > 1 && self.fires(Family::ShortIo, rng) {
            return Some(FaultSpec::ShortWrite(rng.between(1, len as u64 - 1) as u32));
        }
        None
    }

    /// The drawn fault of a poll of the server's selector.
    pub(crate) fn draw_poll(&self, rng: &mut SimRng) -> Option<FaultSpec> {
        self.fires(Family::Eintr, rng)
            .then_some(FaultSpec::PollEintr)
    }

    /// The drawn fault of an accept, `head_pending` when a connection is queued.
    pub(crate) fn draw_accept(&self, head_pending: bool, rng: &mut SimRng) -> Option<FaultSpec> {
        if self.fires(Family::Eintr, rng) {
            return Some(FaultSpec::AcceptEintr);
        }
        if head_pending && self.fires(Family::Accept, rng) {
            return Some(if rng.chance(500_000) {
                FaultSpec::AcceptEmfile(rng.between(1, 3) as u32)
            } else {
                FaultSpec::AcceptAborted
            });
        }
        None
    }

    /// The drawn injected event of a poll for one client: `registered` when its connection
    /// is registered, `retired` when it had a token the server closed.
    pub(crate) fn draw_injected(
        &self,
        registered: bool,
        retired: bool,
        rng: &mut SimRng,
    ) -> Option<FaultSpec> {
        if !self.fires(Family::Spurious, rng) {
            return None;
        }
        match (registered, retired) {
            (true, true) => Some(if rng.chance(500_000) {
                FaultSpec::Spurious
            } else {
                FaultSpec::Stale
            }),
            (true, false) => Some(FaultSpec::Spurious),
            (false, true) => Some(FaultSpec::Stale),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name_and_spec() {
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::from_name(kind.name()), Some(kind));
            let spec = kind.with(3, Duration::from_millis(5));
            assert_eq!(spec.kind(), kind);
            assert!(spec.to_string().starts_with(kind.name()));
        }
    }

    #[test]
    fn families_parse_and_print() {
        let set: FaultFamilies = "short-io,eintr".parse().unwrap();
        assert_eq!(set.to_string(), "short-io,eintr");
        assert_eq!("all".parse::<FaultFamilies>(), Ok(FaultFamilies::ALL));
        // The Linux preset: everything but what POSIX alone allows; it prints as itself.
        let linux: FaultFamilies = "linux".parse().unwrap();
        assert!(!linux.contains(Family::WouldBlock) && !linux.contains(Family::Spurious));
        assert!(linux.contains(Family::ShortIo) && linux.contains(Family::Reset));
        assert_eq!(linux.to_string(), "linux");
        assert_eq!(linux.iter().count(), Family::ALL.len() - 2);
        assert!("nope".parse::<FaultFamilies>().is_err());
    }
}
