//! [`CacheStats`]: a cache's metrics at one moment, read by name-checked
//! methods rather than by strings.

use crate::metrics::{gauge, histogram, Counter};
use crate::RemovalCause;
use clockwise_stats::{HistogramSnapshot, Snapshot};
use std::time::Duration;

/// A cache's metrics merged at one moment ([`Cache::stats`]): every counter,
/// gauge and latency histogram behind a method, so a misspelt metric is a
/// compile error rather than a silent 0. [`snapshot`](Self::snapshot) gives
/// the generic form the exporters and windows take.
///
/// Counters count from the cache's creation; use
/// [`clockwise_stats::Windows`] or [`Snapshot::delta`] for rates. With
/// [`stats(false)`](crate::CacheBuilder::stats), counters read 0 and the
/// histograms are absent; the gauges are always kept.
///
/// [`Cache::stats`]: crate::Cache::stats
///
/// Exporters (through a [`registry`](crate::CacheBuilder::registry)) show
/// these metrics as follows, the engine telling them so (its schema);
/// every sample is labelled `cache="<name>"`:
///
/// | metrics | Prometheus family | extra label |
/// |---|---|---|
/// | hits, misses absent and expired | `clockwise_cache_requests_total` | `result` |
/// | removals by cause (`capacity`, `expired`, `explicit`, `replaced`) | `clockwise_cache_removals_total` | `cause` |
/// | load successes and failures | `clockwise_cache_loads_total` | `result` |
/// | refreshes started, succeeded, failed | `clockwise_cache_refreshes_total` | `result` |
/// | inserts, updates, rejected, listener panics, … | `clockwise_cache_inserts_total`, `_updates_total`, `_rejections_total`, `_listener_panics_total`, … | |
/// | gauge `x` | `clockwise_cache_x` | |
/// | latency `x` | `clockwise_cache_x_seconds` (summary) | `quantile` |
///
/// ```
/// use clockwise::RemovalCause;
/// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(100);
/// cache.insert(1, 1);
/// cache.get(&1);
/// cache.get(&2);
/// cache.remove(&1);
/// let stats = cache.stats();
/// assert_eq!((stats.hits(), stats.misses()), (1, 1));
/// assert_eq!(stats.hit_ratio(), Some(0.5));
/// assert_eq!(stats.removals(RemovalCause::Explicit), 1);
/// assert_eq!(stats.entries(), 0);
/// assert!(stats.get_latency().is_some());
/// ```
#[derive(Clone, Debug)]
pub struct CacheStats {
    snapshot: Snapshot,
}

impl CacheStats {
    pub(crate) fn new(snapshot: Snapshot) -> CacheStats {
        CacheStats { snapshot }
    }

    fn count(&self, counter: Counter) -> u64 {
        self.snapshot.counter(counter.name())
    }

    fn level(&self, name: &str) -> u64 {
        // Gauges are non-negative levels, always set by the cache.
        self.snapshot
            .gauge(name)
            .map_or(0, |g| u64::try_from(g).unwrap_or(0))
    }

    /// The generic snapshot: what exporters, [`clockwise_stats::Windows`]
    /// and JSON take.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The generic snapshot, by value.
    pub fn into_snapshot(self) -> Snapshot {
        self.snapshot
    }

    /// Time since the cache was built.
    pub fn uptime(&self) -> Duration {
        self.snapshot.uptime()
    }

    /// Calls of `get` (and the loaders' lookups): hits plus misses.
    pub fn gets(&self) -> u64 {
        self.count(Counter::Get)
    }

    /// Lookups that found a live entry.
    pub fn hits(&self) -> u64 {
        self.count(Counter::Hit)
    }

    /// Lookups that found no entry.
    pub fn misses_absent(&self) -> u64 {
        self.count(Counter::MissAbsent)
    }

    /// Lookups that found an entry past its time to live.
    pub fn misses_expired(&self) -> u64 {
        self.count(Counter::MissExpired)
    }

    /// Lookups that missed, for either reason.
    pub fn misses(&self) -> u64 {
        self.misses_absent() + self.misses_expired()
    }

    /// Hits over lookups, or `None` before the first lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        let (hits, total) = (self.hits(), self.hits() + self.misses());
        (total > 0).then(|| hits as f64 / total as f64)
    }

    /// Writes that added a key.
    pub fn inserts(&self) -> u64 {
        self.count(Counter::Insert)
    }

    /// Writes that replaced a present key's value.
    pub fn updates(&self) -> u64 {
        self.count(Counter::Update)
    }

    /// Entries refused for weighing more than the capacity (by `insert`,
    /// a load, or `try_insert`).
    pub fn rejected(&self) -> u64 {
        self.count(Counter::Rejected)
    }

    /// Entries that left for `cause`. `Rejected` counts the entries
    /// [`rejected`](Self::rejected) counts.
    pub fn removals(&self, cause: RemovalCause) -> u64 {
        self.count(Counter::from(cause))
    }

    /// Eviction-listener calls that panicked (caught).
    pub fn listener_panics(&self) -> u64 {
        self.count(Counter::ListenerPanic)
    }

    /// Loader calls that returned a value (or `None` for
    /// `optionally_get_with`).
    pub fn load_successes(&self) -> u64 {
        self.count(Counter::LoadSuccess)
    }

    /// Loader calls that returned an error.
    pub fn load_failures(&self) -> u64 {
        self.count(Counter::LoadFailure)
    }

    /// Loader calls that panicked (caught, and handed to the waiters).
    pub fn loader_panics(&self) -> u64 {
        self.count(Counter::LoaderPanic)
    }

    /// Callers that waited for another caller's load of the same key.
    pub fn coalesced_waiters(&self) -> u64 {
        self.count(Counter::CoalescedWaiters)
    }

    /// Waiters that gave up after `load_wait_timeout`.
    pub fn wait_timeouts(&self) -> u64 {
        self.count(Counter::WaitTimeout)
    }

    /// Loader hits on entries older than `refresh_after`.
    pub fn stale_hits(&self) -> u64 {
        self.count(Counter::StaleHit)
    }

    /// Refresh-ahead reloads started.
    pub fn refreshes_started(&self) -> u64 {
        self.count(Counter::RefreshStarted)
    }

    /// Refresh-ahead reloads that stored a new value.
    pub fn refreshes_succeeded(&self) -> u64 {
        self.count(Counter::RefreshSucceeded)
    }

    /// Refresh-ahead reloads that failed, panicked or were dropped.
    pub fn refreshes_failed(&self) -> u64 {
        self.count(Counter::RefreshFailed)
    }

    /// Lookups answered by a remembered absence (`negative_ttl`).
    pub fn negative_hits(&self) -> u64 {
        self.count(Counter::NegativeHit)
    }

    /// Entries held, those past their time to live not yet removed
    /// included.
    pub fn entries(&self) -> u64 {
        self.level(gauge::ENTRIES)
    }

    /// Total weight held (entries, without a weigher).
    pub fn weighted_size(&self) -> u64 {
        self.level(gauge::WEIGHTED_SIZE)
    }

    /// The capacity.
    pub fn capacity(&self) -> u64 {
        self.level(gauge::CAPACITY)
    }

    /// Weight of the resident hot entries (CLOCK-Pro).
    pub fn hot_size(&self) -> u64 {
        self.level(gauge::HOT_SIZE)
    }

    /// Weight of the resident cold entries (CLOCK-Pro).
    pub fn cold_size(&self) -> u64 {
        self.level(gauge::COLD_SIZE)
    }

    /// Weight remembered for non-resident keys in their test period
    /// (CLOCK-Pro ghosts: metadata only).
    pub fn test_size(&self) -> u64 {
        self.level(gauge::TEST_SIZE)
    }

    /// Latency of `get`, in nanoseconds (sampled); `None` with metrics off.
    pub fn get_latency(&self) -> Option<&HistogramSnapshot> {
        self.snapshot.histogram(histogram::GET_LATENCY)
    }

    /// Latency of `insert`, in nanoseconds (sampled); `None` with metrics
    /// off.
    pub fn insert_latency(&self) -> Option<&HistogramSnapshot> {
        self.snapshot.histogram(histogram::INSERT_LATENCY)
    }

    /// Duration of loader calls, in nanoseconds (every call); `None` with
    /// metrics off.
    pub fn load_latency(&self) -> Option<&HistogramSnapshot> {
        self.snapshot.histogram(histogram::LOAD_LATENCY)
    }
}
