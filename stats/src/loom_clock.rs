//! The clock under `cfg(clockwise_loom)`: no lock-free protocol here
//! depends on time, so models use this deterministic stand-in with
//! quanta's methods instead of a real clock. Time stands still
//! unless a test moves a mock clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A point on a [`Clock`], in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(u64);

impl Instant {
    /// This plus `d`, if representable.
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_add(n))
            .map(Instant)
    }

    /// Time from `earlier` to this, or zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Time from `earlier` to this, if `earlier` is not later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }
}

/// A settable source of time, shared by its clones.
#[derive(Debug, Default)]
pub struct Mock(AtomicU64);

impl Mock {
    /// Moves the clock forward.
    pub fn increment(&self, d: Duration) {
        // Std atomics on purpose: time is outside the modelled protocols.
        self.0.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Moves the clock back.
    pub fn decrement(&self, d: Duration) {
        self.0.fetch_sub(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// The stand-in clock.
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<Mock>);

impl Clock {
    /// A clock at zero.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// A clock and the handle that moves it.
    pub fn mock() -> (Clock, Arc<Mock>) {
        let mock = Arc::new(Mock::default());
        (Clock(Arc::clone(&mock)), mock)
    }

    /// The current time, in nanoseconds.
    pub fn raw(&self) -> u64 {
        self.0 .0.load(Ordering::Relaxed)
    }

    /// Nanoseconds between two raw readings.
    pub fn delta_as_nanos(&self, start: u64, end: u64) -> u64 {
        end.saturating_sub(start)
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        Instant(self.raw())
    }

    /// The current time (no coarse variant here).
    pub fn recent(&self) -> Instant {
        self.now()
    }
}
