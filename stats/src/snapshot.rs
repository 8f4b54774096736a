//! Owned, serializable snapshots of metrics, with interval and aggregation
//! algebra.

use crate::{HistogramSnapshot, MergeError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every counter, gauge and histogram of a source at one moment, or over an
/// interval after [`delta`](Self::delta).
///
/// - Counters are monotonic totals: `delta` subtracts, `merge` adds (both
///   wrapping, so `a.merge(&b)?.delta(&b)? == a` on counters and histograms).
/// - Gauges are levels at the moment taken: `delta` keeps the later level,
///   `merge` adds (the entries of two caches are the entries of both).
/// - Histograms: `delta` subtracts bucket counts, `merge` adds them.
/// - Time: `uptime` is when the snapshot was taken, on the source's clock;
///   `interval` is the time its counts cover (the uptime for a cumulative
///   snapshot, the time between the two for a delta). `merge` keeps the larger
///   of each, since merged snapshots cover the same stretch of time in
///   different places.
///
/// ```
/// use clockwise_stats::Snapshot;
/// use std::time::Duration;
///
/// let mut earlier = Snapshot::new(Duration::from_secs(10));
/// earlier.set_counter("hit", 80);
/// earlier.set_counter("miss_absent", 20);
/// let mut later = Snapshot::new(Duration::from_secs(20));
/// later.set_counter("hit", 170);
/// later.set_counter("miss_absent", 30);
///
/// let interval = later.delta(&earlier).unwrap();
/// assert_eq!(interval.counter("hit"), 90);
/// assert_eq!(interval.interval(), Duration::from_secs(10));
/// assert_eq!(interval.rate("hit"), 9.0);
/// assert_eq!(interval.share("hit", &["miss_absent"]), Some(0.9));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    uptime_nanos: u64,
    interval_nanos: u64,
    counters: BTreeMap<String, u64>,
    /// `i128`: any `u64` level (a configured capacity of `u64::MAX`) or
    /// signed delta fits as it is.
    gauges: BTreeMap<String, i128>,
    histograms: BTreeMap<String, HistogramSnapshot>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Snapshot {
    /// An empty cumulative snapshot taken `uptime` after its source started.
    pub fn new(uptime: Duration) -> Snapshot {
        Snapshot {
            uptime_nanos: nanos(uptime),
            interval_nanos: nanos(uptime),
            ..Snapshot::default()
        }
    }

    /// When the snapshot was taken, on its source's clock.
    pub fn uptime(&self) -> Duration {
        Duration::from_nanos(self.uptime_nanos)
    }

    /// The time the counts cover.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos)
    }

    /// Sets the time the counts cover.
    pub(crate) fn set_interval(&mut self, interval: Duration) {
        self.interval_nanos = nanos(interval);
    }

    /// Sets a counter.
    pub fn set_counter(&mut self, name: impl Into<String>, value: u64) {
        self.counters.insert(name.into(), value);
    }

    /// Sets a gauge.
    pub fn set_gauge(&mut self, name: impl Into<String>, value: impl Into<i128>) {
        self.gauges.insert(name.into(), value.into());
    }

    /// Sets a histogram.
    pub fn set_histogram(&mut self, name: impl Into<String>, value: HistogramSnapshot) {
        self.histograms.insert(name.into(), value);
    }

    /// A counter's value; 0 if the snapshot has no such counter.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// A gauge's value, if present.
    pub fn gauge(&self, name: &str) -> Option<i128> {
        self.gauges.get(name).copied()
    }

    /// A histogram, if present.
    pub fn histogram(&self, name: &str) -> Option<&HistogramSnapshot> {
        self.histograms.get(name)
    }

    /// All counters, by name.
    pub fn counters(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counters.iter().map(|(k, &v)| (k.as_str(), v))
    }

    /// All gauges, by name.
    pub fn gauges(&self) -> impl Iterator<Item = (&str, i128)> {
        self.gauges.iter().map(|(k, &v)| (k.as_str(), v))
    }

    /// All histograms, by name.
    pub fn histograms(&self) -> impl Iterator<Item = (&str, &HistogramSnapshot)> {
        self.histograms.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// A counter per second over [`interval`](Self::interval); 0 for an empty
    /// interval.
    pub fn rate(&self, name: &str) -> f64 {
        let secs = self.interval().as_secs_f64();
        if secs == 0.0 {
            return 0.0;
        }
        self.counter(name) as f64 / secs
    }

    /// Counter `part` over itself plus the counters `others` (a hit ratio
    /// is `share("hit", &["miss"])`, in a source's own names); `None` when
    /// all are zero. The names are the caller's: this crate knows none.
    pub fn share(&self, part: &str, others: &[&str]) -> Option<f64> {
        let part = self.counter(part);
        let total = others
            .iter()
            .map(|o| self.counter(o))
            .fold(part, u64::wrapping_add);
        (total > 0).then(|| part as f64 / total as f64)
    }

    /// What happened since `earlier`, an earlier snapshot of the same source.
    pub fn delta(&self, earlier: &Snapshot) -> Result<Snapshot, MergeError> {
        let mut out = self.clone();
        out.interval_nanos = self.uptime_nanos.saturating_sub(earlier.uptime_nanos);
        for (name, value) in &mut out.counters {
            *value = value.wrapping_sub(earlier.counter(name));
        }
        for (name, value) in &mut out.histograms {
            if let Some(old) = earlier.histograms.get(name) {
                *value = value.delta(old)?;
            }
        }
        Ok(out)
    }

    /// Both snapshots aggregated: counters and gauges add, histograms merge.
    pub fn merge(&self, other: &Snapshot) -> Result<Snapshot, MergeError> {
        let mut out = self.clone();
        out.uptime_nanos = self.uptime_nanos.max(other.uptime_nanos);
        out.interval_nanos = self.interval_nanos.max(other.interval_nanos);
        out.add_values(other)?;
        Ok(out)
    }

    /// Adds `later`, the interval right after this one: counts add, gauges
    /// take `later`'s level, the interval grows by `later`'s.
    pub(crate) fn append(&mut self, later: &Snapshot) -> Result<(), MergeError> {
        let gauges = later.gauges.clone();
        self.add_values(later)?;
        self.gauges = gauges;
        self.uptime_nanos = self.uptime_nanos.max(later.uptime_nanos);
        self.interval_nanos = self.interval_nanos.saturating_add(later.interval_nanos);
        Ok(())
    }

    fn add_values(&mut self, other: &Snapshot) -> Result<(), MergeError> {
        for (name, &value) in &other.counters {
            let mine = self.counters.entry(name.clone()).or_insert(0);
            *mine = mine.wrapping_add(value);
        }
        for (name, &value) in &other.gauges {
            let mine = self.gauges.entry(name.clone()).or_insert(0);
            *mine = mine.wrapping_add(value);
        }
        for (name, value) in &other.histograms {
            let merged = match self.histograms.get(name) {
                Some(mine) => mine.merge(value)?,
                None => value.clone(),
            };
            self.histograms.insert(name.clone(), merged);
        }
        Ok(())
    }
}
