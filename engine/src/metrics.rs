//! The cache's counters and latency histograms. Why a hit writes only
//! its own record line, and how snapshots merge: `docs/design/metrics.md`.

use crate::reclaim::Column;
use crate::sync::OnceLock;
use crate::RemovalCause;
use clockwise_stats::{
    CounterSet, CounterSpec, Histogram, HistogramConfig, Schema, Snapshot, Spec,
};

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

const REQUESTS: &str = "Lookups by result: hit, miss_absent (no entry), \
                        miss_expired (the entry had outlived its time to live).";
const REMOVALS: &str = "Entries removed, by cause: capacity (evicted to make room), \
                        expired (time to live), explicit (remove, retain, invalidate), \
                        replaced (overwritten by a newer value).";
const LOADS: &str = "Loader calls that finished, by result: success or failure.";
const REFRESHES: &str = "Refresh-ahead reloads by outcome: started, succeeded, failed.";

/// Each counter's snapshot name and how exporters show it, in [`Counter`]'s
/// order: the one place the engine's metric vocabulary is written (the
/// exporters in `clockwise-stats` know none of it). Read outcomes, removal
/// causes, load and refresh results are one family each, told apart by a
/// label, so PromQL can `sum by (cache)` them.
const COUNTERS: [CounterSpec; N] = [
    // The sum of the three request results: not exported.
    CounterSpec::hidden("get"),
    CounterSpec::labelled("hit", "requests", ("result", "hit"), REQUESTS).with_unit("{request}"),
    CounterSpec::labelled(
        "miss_absent",
        "requests",
        ("result", "miss_absent"),
        REQUESTS,
    )
    .with_unit("{request}"),
    CounterSpec::labelled(
        "miss_expired",
        "requests",
        ("result", "miss_expired"),
        REQUESTS,
    )
    .with_unit("{request}"),
    CounterSpec::plain("insert", "inserts", "New entries inserted.").with_unit("{entry}"),
    CounterSpec::plain(
        "update",
        "updates",
        "Inserts that replaced the value of a present key.",
    )
    .with_unit("{entry}"),
    CounterSpec::labelled(
        "removed_capacity",
        "removals",
        ("cause", "capacity"),
        REMOVALS,
    )
    .with_unit("{entry}"),
    CounterSpec::labelled(
        "removed_expired",
        "removals",
        ("cause", "expired"),
        REMOVALS,
    )
    .with_unit("{entry}"),
    CounterSpec::labelled(
        "removed_explicit",
        "removals",
        ("cause", "explicit"),
        REMOVALS,
    )
    .with_unit("{entry}"),
    CounterSpec::labelled(
        "removed_replaced",
        "removals",
        ("cause", "replaced"),
        REMOVALS,
    )
    .with_unit("{entry}"),
    CounterSpec::plain(
        "rejected",
        "rejections",
        "Entries refused because they weigh more than the capacity.",
    )
    .with_unit("{entry}"),
    CounterSpec::plain(
        "listener_panic",
        "listener_panics",
        "Eviction listener calls that panicked (caught).",
    )
    .with_unit("{call}"),
    CounterSpec::labelled("load_success", "loads", ("result", "success"), LOADS)
        .with_unit("{load}"),
    CounterSpec::labelled("load_failure", "loads", ("result", "failure"), LOADS)
        .with_unit("{load}"),
    CounterSpec::plain(
        "loader_panic",
        "loader_panics",
        "Loader closures that panicked.",
    )
    .with_unit("{call}"),
    CounterSpec::plain(
        "coalesced_waiters",
        "coalesced_waiters",
        "Callers that waited for another caller's load of the same key instead of loading.",
    )
    .with_unit("{caller}"),
    CounterSpec::plain(
        "wait_timeout",
        "load_wait_timeouts",
        "Waiters that gave up after load_wait_timeout.",
    )
    .with_unit("{caller}"),
    CounterSpec::plain(
        "stale_hit",
        "stale_hits",
        "Hits on entries older than refresh_after (a reload was due).",
    )
    .with_unit("{request}"),
    CounterSpec::labelled(
        "refresh_started",
        "refreshes",
        ("result", "started"),
        REFRESHES,
    )
    .with_unit("{refresh}"),
    CounterSpec::labelled(
        "refresh_succeeded",
        "refreshes",
        ("result", "succeeded"),
        REFRESHES,
    )
    .with_unit("{refresh}"),
    CounterSpec::labelled(
        "refresh_failed",
        "refreshes",
        ("result", "failed"),
        REFRESHES,
    )
    .with_unit("{refresh}"),
    CounterSpec::plain(
        "negative_hit",
        "negative_hits",
        "Lookups answered by a remembered absence (negative caching).",
    )
    .with_unit("{request}"),
];

/// The counters' names, from [`COUNTERS`].
const NAMES: [&str; N] = {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = COUNTERS[i].name();
        i += 1;
    }
    names
};

/// What the engine tells exporters about a cache's metrics.
pub(crate) static SCHEMA: Schema = Schema::new(
    "cache",
    &COUNTERS,
    &[
        Spec::new(gauge::ENTRIES, "Entries held now.").with_unit("{entry}"),
        Spec::new(
            gauge::WEIGHTED_SIZE,
            "Total weight held now (entries when no weigher is set).",
        )
        .with_unit("{weight}"),
        Spec::new(gauge::CAPACITY, "Most total weight the cache holds.").with_unit("{weight}"),
        Spec::new(
            gauge::HOT_SIZE,
            "Weight of resident hot entries (CLOCK-Pro).",
        )
        .with_unit("{weight}"),
        Spec::new(
            gauge::COLD_SIZE,
            "Weight of resident cold entries (CLOCK-Pro).",
        )
        .with_unit("{weight}"),
        Spec::new(
            gauge::WINDOW_SIZE,
            "Weight of entries in the admission window, not yet admitted to the clock.",
        )
        .with_unit("{weight}"),
        Spec::new(
            gauge::TEST_SIZE,
            "Weight remembered for non-resident test entries (CLOCK-Pro, metadata only).",
        )
        .with_unit("{weight}"),
    ],
    &[
        Spec::new(
            histogram::GET_LATENCY,
            "Latency of get, in seconds (sampled; not corrected for coordinated omission).",
        ),
        Spec::new(
            histogram::INSERT_LATENCY,
            "Latency of insert, in seconds (sampled).",
        ),
        Spec::new(
            histogram::LOAD_LATENCY,
            "Duration of loader calls, in seconds (every load).",
        ),
    ],
);

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
    pub(crate) const WINDOW_SIZE: &str = "window_size";
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

    /// Gets and gets of absent keys so far, `(gets, misses)`, from the
    /// columns alone: `None` when either is the scratch column (the counts
    /// are then in the stripes, which only a snapshot merges).
    pub(crate) fn lookups(&self) -> Option<(u64, u64)> {
        (self.calls.exclusive() && self.misses.exclusive())
            .then(|| (self.calls.sum(), self.misses.sum()))
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
