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

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::transcript::format_duration(self.0))
    }
}
