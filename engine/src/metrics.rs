//! The cache's counters and latency histograms.

use crate::reclaim::CallCounter;
use crate::RemovalCause;
use clockwise_stats::{CounterSet, Histogram, HistogramConfig, Snapshot};

/// Counter indices; the names are in [`NAMES`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    /// Calls of `get`, bumped before the lookup; its per-thread value picks
    /// the sampled calls. Counted in [`Metrics::calls`] when the cache has
    /// one, here otherwise; a snapshot adds both.
    Get,
    /// Never bumped: a hit writes only `Get`, and snapshots report
    /// `get - miss_absent - miss_expired` under this name.
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
    LoadSuccess,
    LoadFailure,
    LoaderPanic,
    CoalescedWaiters,
    WaitTimeout,
    StaleHit,
    RefreshStarted,
    RefreshSucceeded,
    RefreshFailed,
    NegativeHit,
}

const N: usize = 22;

const NAMES: [&str; N] = [
    "get",
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
    "load_success",
    "load_failure",
    "loader_panic",
    "coalesced_waiters",
    "wait_timeout",
    "stale_hit",
    "refresh_started",
    "refresh_succeeded",
    "refresh_failed",
    "negative_hit",
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
    /// Where gets are counted: a column of the reclamation records, so a
    /// `get` bumps a cell in the line its pin already holds, with no second
    /// thread-local lookup. `None` when every column is taken (more than
    /// [`CALL_COUNTERS`](crate::reclaim::CALL_COUNTERS) caches with metrics
    /// alive at once): gets then go to [`Counter::Get`].
    pub(crate) calls: Option<CallCounter>,
    pub(crate) get_latency: Histogram,
    pub(crate) insert_latency: Histogram,
    /// Every load is timed: loads are slow, so the clock reads are noise.
    pub(crate) load_latency: Histogram,
    /// `sample_every - 1`, a power of two minus one: a call is timed when
    /// its thread's call number has these bits clear.
    pub(crate) sample_mask: u64,
}

impl Metrics {
    pub(crate) fn new(sample_every: u32, clock: clockwise_stats::Clock) -> Metrics {
        let every = sample_every
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(1 << 31);
        let config = HistogramConfig::default().sample_every(every);
        let histogram =
            || Histogram::new(config, clock.clone()).expect("the default layout is valid");
        Metrics {
            counters: CounterSet::new(NAMES).expect("the counter names are valid and distinct"),
            calls: CallCounter::new(),
            get_latency: histogram(),
            insert_latency: histogram(),
            load_latency: Histogram::new(HistogramConfig::default(), clock.clone())
                .expect("the default layout is valid"),
            sample_mask: u64::from(every) - 1,
        }
    }

    pub(crate) fn snapshot_into(&self, snap: &mut Snapshot) {
        let mut values = self.counters.values();
        if let Some(calls) = &self.calls {
            values[Counter::Get as usize] = values[Counter::Get as usize].wrapping_add(calls.sum());
        }
        // Exact once writers are quiet. While they run, a miss may be seen
        // before its call (no ordering across cells), so saturate.
        let misses = values[Counter::MissAbsent as usize]
            .wrapping_add(values[Counter::MissExpired as usize]);
        values[Counter::Hit as usize] = values[Counter::Get as usize].saturating_sub(misses);
        for (name, value) in self.counters.names().iter().zip(values) {
            snap.set_counter((*name).to_owned(), value);
        }
        snap.set_histogram("get_latency", self.get_latency.snapshot());
        snap.set_histogram("insert_latency", self.insert_latency.snapshot());
        snap.set_histogram("load_latency", self.load_latency.snapshot());
    }
}
