//! The clock of this crate's API (and the engine's): a monotonic clock
//! read in a few nanoseconds, from the TSC where the kernel trusts it
//! (through `quanta`), with a mock for tests. A type of its own, so that
//! the public API does not name a dependency (or its version); under loom
//! and Miri, which cannot run `rdtsc`, it wraps a deterministic stand-in.

#[cfg(any(clockwise_loom, miri))]
use crate::loom_clock as imp;
#[cfg(not(any(clockwise_loom, miri)))]
use quanta as imp;
use std::sync::Arc;
use std::time::Duration;

/// A monotonic clock. Clones share the time source (and a mock's time).
///
/// ```
/// use std::time::Duration;
/// let (clock, mock) = clockwise_stats::Clock::mock();
/// let start = clock.now();
/// mock.increment(Duration::from_secs(2));
/// assert_eq!(clock.now().saturating_duration_since(start), Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clock(imp::Clock);

/// A point in time on a [`Clock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(imp::Instant);

/// Moves a [`Clock::mock`] clock.
#[derive(Debug)]
pub struct Mock(Arc<imp::Mock>);

impl Clock {
    /// The real clock.
    pub fn new() -> Clock {
        Clock(imp::Clock::new())
    }

    /// A clock that stands still until its [`Mock`] moves it.
    pub fn mock() -> (Clock, Arc<Mock>) {
        let (clock, mock) = imp::Clock::mock();
        (Clock(clock), Arc::new(Mock(mock)))
    }

    /// The current time.
    #[inline]
    pub fn now(&self) -> Instant {
        Instant(self.0.now())
    }

    /// The current time, or a recent one where an upkeep thread keeps a
    /// coarse clock current; never later than [`now`](Self::now).
    #[inline]
    pub fn recent(&self) -> Instant {
        Instant(self.0.recent())
    }

    /// A raw reading, for [`delta_as_nanos`](Self::delta_as_nanos): cheaper
    /// than [`now`](Self::now) where only differences matter.
    #[inline]
    pub fn raw(&self) -> u64 {
        self.0.raw()
    }

    /// Nanoseconds between two [`raw`](Self::raw) readings.
    #[inline]
    pub fn delta_as_nanos(&self, start: u64, end: u64) -> u64 {
        self.0.delta_as_nanos(start, end)
    }
}

impl Instant {
    /// This plus `d`, if representable.
    #[inline]
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }

    /// Time from `earlier` to this, or zero if `earlier` is later.
    #[inline]
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// Time from `earlier` to this, if `earlier` is not later.
    #[inline]
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }
}

impl Mock {
    /// Moves the clock forward by `d`.
    pub fn increment(&self, d: Duration) {
        self.0.increment(d);
    }

    /// Moves the clock back by `d` (a real clock never does: for tests of
    /// what a backward step must not break).
    pub fn decrement(&self, d: Duration) {
        self.0.decrement(d);
    }
}
