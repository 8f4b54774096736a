//! Rolling views of the last minute, hour and day, built from interval deltas
//! in fixed rings: 60 × 1 s, 60 × 1 min and 24 × 1 h.
//!
//! Each [`Windows::tick`] takes a snapshot of the source, subtracts the
//! previous one and adds the difference to the current slot of every ring.
//! Activity is attributed to the tick that observed it, so a window is exact
//! to one resolution step only when ticks come at least once per second; the
//! [`Ticker`](crate::Ticker) does that on a background thread. Memory is fixed: at most
//! 144 slots, each one interval snapshot (sparse histograms).

use crate::{MergeError, Snapshot};
use std::time::Duration;

/// Which rolling window to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// The last 60 seconds, at 1 s resolution.
    Minute,
    /// The last 60 minutes, at 1 min resolution.
    Hour,
    /// The last 24 hours, at 1 h resolution.
    Day,
}

impl Span {
    fn ring(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
struct Ring {
    resolution: Duration,
    /// `(epoch, delta)`: the slot's step number since the first tick, and the
    /// activity observed during that step.
    slots: Box<[Option<(u64, Snapshot)>]>,
}

impl Ring {
    fn new(resolution: Duration, len: usize) -> Ring {
        Ring {
            resolution,
            slots: (0..len).map(|_| None).collect(),
        }
    }

    fn epoch(&self, t: Duration) -> u64 {
        (t.as_nanos() / self.resolution.as_nanos()) as u64
    }

    fn add(&mut self, t: Duration, delta: &Snapshot) -> Result<(), MergeError> {
        let epoch = self.epoch(t);
        let slot = &mut self.slots[(epoch % self.slots.len() as u64) as usize];
        match slot {
            Some((e, s)) if *e == epoch => s.append(delta)?,
            _ => *slot = Some((epoch, delta.clone())),
        }
        Ok(())
    }

    fn view(&self, t: Duration) -> Result<Snapshot, MergeError> {
        let now = self.epoch(t);
        let len = self.slots.len() as u64;
        let mut live: Vec<&(u64, Snapshot)> = self
            .slots
            .iter()
            .flatten()
            .filter(|(e, _)| *e <= now && now - *e < len)
            .collect();
        live.sort_by_key(|(e, _)| *e);
        let mut out = Snapshot::new(t);
        out.set_interval(Duration::ZERO);
        for (_, delta) in live {
            out.append(delta)?;
        }
        Ok(out)
    }
}

/// Rolling last-minute, last-hour and last-day views of a metrics source.
///
/// ```
/// use clockwise_stats::{CounterSet, Snapshot, Span, Windows};
/// use std::{sync::Arc, time::Duration};
///
/// let counters = Arc::new(CounterSet::new(["hit"]).unwrap());
/// let source = counters.clone();
/// let mut windows = Windows::new(move || {
///     let mut s = Snapshot::new(Duration::ZERO);
///     source.snapshot_into("", &mut s);
///     s
/// });
/// let (clock, mock) = clockwise_stats::Clock::mock();
/// windows.tick(clock.now()).unwrap(); // baseline
/// counters.add(0, 5);
/// mock.increment(Duration::from_secs(1));
/// windows.tick(clock.now()).unwrap();
/// assert_eq!(windows.view(Span::Minute).unwrap().counter("hit"), 5);
/// ```
pub struct Windows {
    source: Box<dyn FnMut() -> Snapshot + Send>,
    origin: Option<crate::Instant>,
    /// Latest tick time since `origin`; never decreases.
    latest: Duration,
    last: Option<Snapshot>,
    rings: [Ring; 3],
}

impl std::fmt::Debug for Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Windows")
            .field("latest", &self.latest)
            .field("rings", &self.rings)
            .finish_non_exhaustive()
    }
}

impl Windows {
    /// Windows over `source`, a function returning cumulative snapshots.
    pub fn new(source: impl FnMut() -> Snapshot + Send + 'static) -> Windows {
        Windows {
            source: Box::new(source),
            origin: None,
            latest: Duration::ZERO,
            last: None,
            rings: [
                Ring::new(Duration::from_secs(1), 60),
                Ring::new(Duration::from_secs(60), 60),
                Ring::new(Duration::from_secs(3600), 24),
            ],
        }
    }

    /// Takes a snapshot of the source at `now` and adds what changed since the
    /// previous tick. The first tick only sets the baseline. A `now` earlier
    /// than a previous tick's is treated as that tick's time.
    pub fn tick(&mut self, now: crate::Instant) -> Result<(), MergeError> {
        let snapshot = (self.source)();
        let origin = *self.origin.get_or_insert(now);
        let previous_tick = self.latest;
        self.latest = self.latest.max(now.saturating_duration_since(origin));
        let delta = match &self.last {
            Some(previous) => Some(snapshot.delta(previous)?),
            None => None,
        };
        self.last = Some(snapshot);
        let Some(mut delta) = delta else {
            return Ok(());
        };
        delta.set_interval(self.latest - previous_tick);
        for ring in &mut self.rings {
            ring.add(self.latest, &delta)?;
        }
        Ok(())
    }

    /// How many ring slots hold a delta: at most 60 + 60 + 24 = 144, however
    /// long the windows run.
    pub fn retained(&self) -> usize {
        self.rings
            .iter()
            .map(|r| r.slots.iter().flatten().count())
            .sum()
    }

    /// Everything observed in `span`, ending at the latest tick. Its
    /// [`interval`](Snapshot::interval) is the time between the ticks that
    /// contributed, so [`Snapshot::rate`] gives per-second rates.
    pub fn view(&self, span: Span) -> Result<Snapshot, MergeError> {
        self.rings[span.ring()].view(self.latest)
    }
}
