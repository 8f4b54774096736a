//! The cache's counters and latency histograms.

use crate::RemovalCause;
use clockwise_stats::{CounterSet, Histogram, HistogramConfig, Snapshot};

/// Counter indices; the names are in [`NAMES`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Hit,
    MissAbsent,
    MissExpired,
    Insert,
    Update,
    Rejected,
    RemovedCapacity,
    RemovedExpired,
    RemovedExplicit,
    RemovedReplaced,
    ListenerPanic,
}

const N: usize = 11;

const NAMES: [&str; N] = [
    "hit",
    "miss_absent",
    "miss_expired",
    "insert",
    "update",
    "rejected",
    "removed_capacity",
    "removed_expired",
    "removed_explicit",
    "removed_replaced",
    "listener_panic",
];

impl From<RemovalCause> for Counter {
    fn from(cause: RemovalCause) -> Counter {
        match cause {
            RemovalCause::Capacity => Counter::RemovedCapacity,
            RemovalCause::Expired => Counter::RemovedExpired,
            RemovalCause::Explicit => Counter::RemovedExplicit,
            RemovalCause::Replaced => Counter::RemovedReplaced,
        }
    }
}

pub(crate) struct Metrics {
    pub(crate) counters: CounterSet<N>,
    pub(crate) get_latency: Histogram,
    pub(crate) insert_latency: Histogram,
}

impl Metrics {
    pub(crate) fn new(sample_every: u32, clock: quanta::Clock) -> Metrics {
        let config = HistogramConfig::default().sample_every(sample_every.max(1));
        let histogram =
            || Histogram::new(config, clock.clone()).expect("the default layout is valid");
        Metrics {
            counters: CounterSet::new(NAMES).expect("the counter names are valid and distinct"),
            get_latency: histogram(),
            insert_latency: histogram(),
        }
    }

    pub(crate) fn snapshot_into(&self, snap: &mut Snapshot) {
        self.counters.snapshot_into("", snap);
        snap.set_histogram("get_latency", self.get_latency.snapshot());
        snap.set_histogram("insert_latency", self.insert_latency.snapshot());
    }
}
