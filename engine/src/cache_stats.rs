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
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.snapshot().counter("hit"), 1);
    /// ```
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The generic snapshot, by value.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.into_snapshot().counter("insert"), 1);
    /// ```
    pub fn into_snapshot(self) -> Snapshot {
        self.snapshot
    }

    /// Time since the cache was built.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert!(stats.uptime() < std::time::Duration::from_secs(3_600));
    /// ```
    pub fn uptime(&self) -> Duration {
        self.snapshot.uptime()
    }

    /// Calls of `get` (and the loaders' lookups): hits plus misses.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.gets(), 2);
    /// ```
    pub fn gets(&self) -> u64 {
        self.count(Counter::Get)
    }

    /// Lookups that found a live entry.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.hits(), 1);
    /// ```
    pub fn hits(&self) -> u64 {
        self.count(Counter::Hit)
    }

    /// Lookups that found no entry.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.misses_absent(), 1);
    /// ```
    pub fn misses_absent(&self) -> u64 {
        self.count(Counter::MissAbsent)
    }

    /// Lookups that found an entry past its time to live.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.misses_expired(), 0);
    /// ```
    pub fn misses_expired(&self) -> u64 {
        self.count(Counter::MissExpired)
    }

    /// Lookups that missed, for either reason.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.misses(), 1);
    /// ```
    pub fn misses(&self) -> u64 {
        self.misses_absent() + self.misses_expired()
    }

    /// Hits over lookups, or `None` before the first lookup.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.hit_ratio(), Some(0.5));
    /// ```
    pub fn hit_ratio(&self) -> Option<f64> {
        let (hits, total) = (self.hits(), self.hits() + self.misses());
        (total > 0).then(|| hits as f64 / total as f64)
    }

    /// Writes that added a key.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.inserts(), 1);
    /// ```
    pub fn inserts(&self) -> u64 {
        self.count(Counter::Insert)
    }

    /// Writes that replaced a present key's value.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.updates(), 1);
    /// ```
    pub fn updates(&self) -> u64 {
        self.count(Counter::Update)
    }

    /// Entries refused for weighing more than the capacity (by `insert`,
    /// a load, or `try_insert`).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.rejected(), 0);
    /// ```
    pub fn rejected(&self) -> u64 {
        self.count(Counter::Rejected)
    }

    /// Entries that left for `cause`. `Rejected` counts the entries
    /// [`rejected`](Self::rejected) counts.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.removals(RemovalCause::Replaced), 1);
    /// ```
    pub fn removals(&self, cause: RemovalCause) -> u64 {
        self.count(Counter::from(cause))
    }

    /// Eviction-listener calls that panicked (caught).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.listener_panics(), 0);
    /// ```
    pub fn listener_panics(&self) -> u64 {
        self.count(Counter::ListenerPanic)
    }

    /// Loader calls that returned a value (or `None` for
    /// `optionally_get_with`).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.load_successes(), 0);
    /// ```
    pub fn load_successes(&self) -> u64 {
        self.count(Counter::LoadSuccess)
    }

    /// Loader calls that returned an error.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.load_failures(), 0);
    /// ```
    pub fn load_failures(&self) -> u64 {
        self.count(Counter::LoadFailure)
    }

    /// Loader calls that panicked (caught, and handed to the waiters).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.loader_panics(), 0);
    /// ```
    pub fn loader_panics(&self) -> u64 {
        self.count(Counter::LoaderPanic)
    }

    /// Callers that waited for another caller's load of the same key.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.coalesced_waiters(), 0);
    /// ```
    pub fn coalesced_waiters(&self) -> u64 {
        self.count(Counter::CoalescedWaiters)
    }

    /// Waiters that gave up after `load_wait_timeout`.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.wait_timeouts(), 0);
    /// ```
    pub fn wait_timeouts(&self) -> u64 {
        self.count(Counter::WaitTimeout)
    }

    /// Loader hits on entries older than `refresh_after`.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.stale_hits(), 0);
    /// ```
    pub fn stale_hits(&self) -> u64 {
        self.count(Counter::StaleHit)
    }

    /// Refresh-ahead reloads started.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.refreshes_started(), 0);
    /// ```
    pub fn refreshes_started(&self) -> u64 {
        self.count(Counter::RefreshStarted)
    }

    /// Refresh-ahead reloads that stored a new value.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.refreshes_succeeded(), 0);
    /// ```
    pub fn refreshes_succeeded(&self) -> u64 {
        self.count(Counter::RefreshSucceeded)
    }

    /// Refresh-ahead reloads that failed, panicked or were dropped.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.refreshes_failed(), 0);
    /// ```
    pub fn refreshes_failed(&self) -> u64 {
        self.count(Counter::RefreshFailed)
    }

    /// Lookups answered by a remembered absence (`negative_ttl`).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.negative_hits(), 0);
    /// ```
    pub fn negative_hits(&self) -> u64 {
        self.count(Counter::NegativeHit)
    }

    /// Entries held, those past their time to live not yet removed
    /// included.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.entries(), 1);
    /// ```
    pub fn entries(&self) -> u64 {
        self.level(gauge::ENTRIES)
    }

    /// Total weight held (entries, without a weigher).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.weighted_size(), 1);
    /// ```
    pub fn weighted_size(&self) -> u64 {
        self.level(gauge::WEIGHTED_SIZE)
    }

    /// The capacity.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.capacity(), 2);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.level(gauge::CAPACITY)
    }

    /// Weight of the resident hot entries (CLOCK-Pro).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert!(stats.hot_size() + stats.cold_size() + stats.window_size() == 1);
    /// ```
    pub fn hot_size(&self) -> u64 {
        self.level(gauge::HOT_SIZE)
    }

    /// Weight of the resident cold entries (CLOCK-Pro).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert!(stats.hot_size() + stats.cold_size() + stats.window_size() == 1);
    /// ```
    pub fn cold_size(&self) -> u64 {
        self.level(gauge::COLD_SIZE)
    }

    /// Weight remembered for non-resident keys in their test period
    /// (CLOCK-Pro ghosts: metadata only).
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.test_size(), 0);
    /// ```
    pub fn test_size(&self) -> u64 {
        self.level(gauge::TEST_SIZE)
    }

    /// Weight of the entries in the admission window: new entries wait
    /// there before the clock admits them or turns them away (see
    /// [`CacheBuilder::admission_window`](crate::CacheBuilder::admission_window)).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(100).build();
    /// cache.insert(1, 1);
    /// // The newest entry waits in the window.
    /// assert_eq!(cache.stats().window_size(), 1);
    /// ```
    pub fn window_size(&self) -> u64 {
        self.level(gauge::WINDOW_SIZE)
    }

    /// Latency of `get`, in nanoseconds (sampled); `None` with metrics off.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.get_latency().unwrap().count(), 2);
    /// ```
    pub fn get_latency(&self) -> Option<&HistogramSnapshot> {
        self.snapshot.histogram(histogram::GET_LATENCY)
    }

    /// Latency of `insert`, in nanoseconds (sampled); `None` with metrics
    /// off.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.insert_latency().unwrap().count(), 2);
    /// ```
    pub fn insert_latency(&self) -> Option<&HistogramSnapshot> {
        self.snapshot.histogram(histogram::INSERT_LATENCY)
    }

    /// Duration of loader calls, in nanoseconds (every call); `None` with
    /// metrics off.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(2).latency_sample_every(1).build();
    /// cache.insert(1, 1);
    /// cache.insert(1, 2);
    /// cache.get(&1);
    /// cache.get(&9);
    /// let stats = cache.stats();
    /// assert_eq!(stats.load_latency().unwrap().count(), 0);
    /// ```
    pub fn load_latency(&self) -> Option<&HistogramSnapshot> {
        self.snapshot.histogram(histogram::LOAD_LATENCY)
    }
}
