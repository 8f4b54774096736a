//! The part of a cache that reports its metrics: counters and histograms
//! ([`Metrics`]) and each shard's published gauges.
//!
//! It is not generic over key, value or hasher, so any cache can hand it to
//! a [`Registry`](clockwise_stats::Registry) as a `'static` source, and an
//! exporter walking the registry reads only these atomics: it never touches
//! a shard's table or takes its lock.

use crate::metrics::{gauge, Metrics};
use crate::shard::Gauges;
use crate::sync::Ordering;
use clockwise_stats::Snapshot;
use std::sync::Arc;

pub(crate) struct StatsSource {
    pub(crate) metrics: Option<Metrics>,
    gauges: Box<[Arc<Gauges>]>,
    capacity: crate::sync::AtomicU64,
    clock: clockwise_stats::Clock,
    origin: clockwise_stats::Instant,
}

impl StatsSource {
    pub(crate) fn new(
        metrics: Option<Metrics>,
        gauges: Box<[Arc<Gauges>]>,
        capacity: u64,
        clock: clockwise_stats::Clock,
        origin: clockwise_stats::Instant,
    ) -> StatsSource {
        StatsSource {
            metrics,
            gauges,
            capacity: crate::sync::AtomicU64::new(capacity),
            clock,
            origin,
        }
    }

    /// Sum over shards of one gauge.
    pub(crate) fn gauge(&self, pick: impl Fn(&Gauges) -> &crate::sync::AtomicU64) -> u64 {
        self.gauges
            .iter()
            // Relaxed: see `Gauges`.
            .map(|g| pick(g).load(Ordering::Relaxed))
            .sum()
    }

    /// The capacity gauge, after a resize.
    pub(crate) fn set_capacity(&self, capacity: u64) {
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let uptime = self.clock.now().saturating_duration_since(self.origin);
        let mut snap = Snapshot::new(uptime);
        if let Some(m) = &self.metrics {
            m.snapshot_into(&mut snap);
        }
        snap.set_gauge(gauge::ENTRIES, self.gauge(|g| &g.len));
        snap.set_gauge(gauge::WEIGHTED_SIZE, self.gauge(|g| &g.weight));
        // Relaxed: an independent level, as the shards' gauges.
        snap.set_gauge(gauge::CAPACITY, self.capacity.load(Ordering::Relaxed));
        snap.set_gauge(gauge::HOT_SIZE, self.gauge(|g| &g.hot));
        snap.set_gauge(gauge::COLD_SIZE, self.gauge(|g| &g.cold));
        snap.set_gauge(gauge::TEST_SIZE, self.gauge(|g| &g.test));
        snap.set_gauge(gauge::WINDOW_SIZE, self.gauge(|g| &g.window));
        snap
    }
}

impl clockwise_stats::Source for StatsSource {
    fn snapshot(&self) -> Snapshot {
        StatsSource::snapshot(self)
    }

    fn schema(&self) -> &'static clockwise_stats::Schema {
        &crate::metrics::SCHEMA
    }
}
