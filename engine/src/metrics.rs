//! The cache's counters and latency histograms. Why a hit writes only
//! its own record line, and how snapshots merge: `docs/design/metrics.md`.

use crate::reclaim::Column;
use crate::sync::OnceLock;
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
    /// Counted in [`Metrics::misses`] when the cache has that column, here
    /// otherwise; a snapshot adds both.
    MissAbsent,
    MissExpired,
    Insert,
    Update,
    // The removals, then `Rejected`, in `RemovalCause`'s order: counting a
    // removal is an add to the cause, not a branch.
    RemovedCapacity,
    RemovedExpired,
    RemovedExplicit,
    RemovedReplaced,
    Rejected,
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
    "removed_capacity",
    "removed_expired",
    "removed_explicit",
    "removed_replaced",
    "rejected",
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

impl Counter {
    /// The counter's name in snapshots.
    pub(crate) fn name(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// The gauges' names in snapshots.
pub(crate) mod gauge {
    pub(crate) const ENTRIES: &str = "entries";
    pub(crate) const WEIGHTED_SIZE: &str = "weighted_size";
    pub(crate) const CAPACITY: &str = "capacity";
    pub(crate) const HOT_SIZE: &str = "hot_size";
    pub(crate) const COLD_SIZE: &str = "cold_size";
    pub(crate) const TEST_SIZE: &str = "test_size";
}

/// The histograms' names in snapshots.
pub(crate) mod histogram {
    pub(crate) const GET_LATENCY: &str = "get_latency";
    pub(crate) const INSERT_LATENCY: &str = "insert_latency";
    pub(crate) const LOAD_LATENCY: &str = "load_latency";
}

impl From<RemovalCause> for Counter {
    fn from(cause: RemovalCause) -> Counter {
        match cause {
            RemovalCause::Capacity => Counter::RemovedCapacity,
            RemovalCause::Expired => Counter::RemovedExpired,
            RemovalCause::Explicit => Counter::RemovedExplicit,
            RemovalCause::Replaced => Counter::RemovedReplaced,
            RemovalCause::Rejected => Counter::Rejected,
        }
    }
}

pub(crate) struct Metrics {
    pub(crate) counters: CounterSet<N>,
    /// Where gets are counted: a column of the reclamation records, so a
    /// `get` bumps a cell in the line its pin already holds, with no second
    /// thread-local lookup. When every column is taken (more than
    /// [`COLUMNS`](crate::reclaim::COLUMNS)` - 1` caches with
    /// metrics alive at once) it is the scratch column, and gets are
    /// counted again in [`Counter::Get`] (see `fast_mask`).
    pub(crate) calls: Column,
    /// Where gets of absent keys are counted, beside `calls` in the
    /// record's line; when it is the scratch column they are counted in
    /// [`Counter::MissAbsent`].
    pub(crate) misses: Column,
    pub(crate) get_latency: Histogram,
    pub(crate) insert_latency: Histogram,
    /// Every load is timed: loads are slow, so the clock reads are noise.
    /// Created by the cache's first load, so caches that never load do not
    /// pay for it; see [`load_latency`](Self::load_latency).
    load_latency: OnceLock<Histogram>,
    clock: clockwise_stats::Clock,
    /// The get-sampling period minus one (a power of two minus one): a
    /// `get` is timed when its thread's call number has these bits clear.
    pub(crate) sample_mask: u64,
    /// What a `get` tests its call number against to leave the straight
    /// path: `sample_mask`, or 0 (every call) when `calls` is the scratch
    /// column, so those gets take the out-of-line path that counts them in
    /// the stripes.
    pub(crate) fast_mask: u64,
}

/// The latency histograms' layout: 1 ns to 60 s with two significant
/// digits, so a quantile is off by at most 1 %. Three digits took 7.2 times
/// the memory (27,648 counts per thread stripe instead of 3,840, 216 KiB
/// against 30 KiB), and a cache has a stripe per owned and shared slot
/// (6 on 2 cores, 192 on 64) in each histogram.
fn latency_layout() -> HistogramConfig {
    HistogramConfig::default().significant_digits(2)
}

impl Metrics {
    /// Metrics timing one `get` in `get_every` and one `insert` in
    /// `insert_every` per thread (each rounded up to a power of two).
    pub(crate) fn new(get_every: u32, insert_every: u32, clock: clockwise_stats::Clock) -> Metrics {
        let period = |n: u32| n.max(1).checked_next_power_of_two().unwrap_or(1 << 31);
        let (get_every, insert_every) = (period(get_every), period(insert_every));
        let histogram = |every| {
            Histogram::new(latency_layout().sample_every(every), clock.clone())
                .expect("the layout is valid")
        };
        let calls = Column::new();
        let sample_mask = u64::from(get_every) - 1;
        Metrics {
            counters: CounterSet::new(NAMES).expect("the counter names are valid and distinct"),
            fast_mask: if calls.exclusive() { sample_mask } else { 0 },
            calls,
            misses: Column::new(),
            get_latency: histogram(get_every),
            insert_latency: histogram(insert_every),
            load_latency: OnceLock::new(),
            clock,
            sample_mask,
        }
    }

    /// The load-latency histogram, created by the first call (a load: off
    /// every read and write path).
    pub(crate) fn load_latency(&self) -> &Histogram {
        self.load_latency.get_or_init(|| {
            Histogram::new(latency_layout(), self.clock.clone()).expect("the layout is valid")
        })
    }

    pub(crate) fn snapshot_into(&self, snap: &mut Snapshot) {
        let mut values = self.counters.values();
        for (column, counter) in [
            (&self.calls, Counter::Get),
            (&self.misses, Counter::MissAbsent),
        ] {
            if column.exclusive() {
                values[counter as usize] = values[counter as usize].wrapping_add(column.sum());
            }
        }
        // Exact once writers are quiet. While they run, a miss may be seen
        // before its call (no ordering across cells), so saturate.
        let misses = values[Counter::MissAbsent as usize]
            .wrapping_add(values[Counter::MissExpired as usize]);
        values[Counter::Hit as usize] = values[Counter::Get as usize].saturating_sub(misses);
        for (name, value) in self.counters.names().iter().zip(values) {
            snap.set_counter((*name).to_owned(), value);
        }
        snap.set_histogram(histogram::GET_LATENCY, self.get_latency.snapshot());
        snap.set_histogram(histogram::INSERT_LATENCY, self.insert_latency.snapshot());
        let load = match self.load_latency.get() {
            Some(h) => h.snapshot(),
            None => Histogram::empty_snapshot(latency_layout()).expect("the layout is valid"),
        };
        snap.set_histogram(histogram::LOAD_LATENCY, load);
    }
}
