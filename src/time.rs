//! Time as the core and the driver see it: an [`Instant`] measured from the start of the
//! backend's clock.
//!
//! The real backend maps it onto `std::time::Instant`; the simulator advances it by hand and
//! never reads the wall clock. Services receive `now` with every input and never ask for it.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time, as the duration since the backend's clock started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The moment the clock started.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `since_start` after the clock started.
    pub const fn from_start(since_start: Duration) -> Self {
        Instant(since_start)
    }

    /// How long after the clock started this instant is.
    pub const fn since_start(self) -> Duration {
        self.0
    }

    /// Whole nanoseconds since the clock started (saturating at `u64::MAX`, 584 years).
    pub fn as_nanos(self) -> u64 {
        u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `nanos` nanoseconds after the clock started.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(Duration::from_nanos(nanos))
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

/// Seconds since the clock started, to the microsecond: `12.345678s`.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0.as_secs(), self.0.subsec_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_print_as_seconds() {
        assert_eq!(
            Instant::from_start(Duration::from_millis(1500)).to_string(),
            "1.500000s"
        );
        assert_eq!(Instant::from_nanos(304_568_262).to_string(), "0.304568s");
        assert_eq!(
            Instant::ZERO + Duration::MAX,
            Instant::from_start(Duration::MAX)
        );
    }
}
