//! Configuration of a [`Cache`].

use crate::cache::{Cache, Settings};
use crate::config::{ConfigError, Loading, Registered};
use crate::stats_source::StatsSource;
use crate::RemovalCause;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Cache`]; see [`Cache::builder`].
///
/// ```
/// use std::time::Duration;
/// let cache: clockwise::Cache<u64, String> = clockwise::Cache::builder()
///     .max_capacity(1_000)
///     .time_to_live(Duration::from_secs(60))
///     .name("sessions")
///     .try_build()
///     .unwrap();
/// assert_eq!(cache.capacity(), 1_000);
/// ```
pub struct CacheBuilder<K, V, S = ahash::RandomState> {
    /// Everything the cache is built from.
    pub(crate) settings: Settings<K, V, S>,
    /// Where the built cache lists its stats, if anywhere.
    pub(crate) registry: Option<clockwise_stats::Registry>,
}

impl<K, V, S> fmt::Debug for CacheBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_capacity", &self.settings.max_capacity)
            .field("weigher", &self.settings.weigher.is_some())
            .field("ttl", &self.settings.ttl)
            .field("time_to_idle", &self.settings.idle)
            .field("shards", &self.settings.shards)
            .field("stats", &self.settings.stats)
            .field("name", &self.settings.name)
            .field("reloader", &self.settings.reloader.is_some())
            .field(
                "refresh_executor",
                &self.settings.refresh_executor.is_some(),
            )
            .finish_non_exhaustive()
    }
}

impl<K, V> Cache<K, V> {
    /// A builder; see [`CacheBuilder`].
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .weigher(|k: &String, _v: &u32| k.len() as u32)
    ///     .build();
    /// assert_eq!(cache.capacity(), 10);
    /// ```
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::new()
    }
}

impl<K, V> Cache<K, V>
where
    K: Eq + std::hash::Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache of `max_capacity` entries with every other setting at its
    /// default, as moka's `Cache::new`: the same as
    /// `Cache::builder().max_capacity(max_capacity).build()`.
    ///
    /// ```
    /// let cache: clockwise::Cache<&str, u32> = clockwise::Cache::new(100);
    /// cache.insert("a", 1);
    /// assert_eq!(cache.get("a"), Some(1));
    /// assert_eq!(cache.capacity(), 100);
    /// ```
    pub fn new(max_capacity: u64) -> Self {
        Cache::builder().max_capacity(max_capacity).build()
    }
}

impl<K, V> CacheBuilder<K, V> {
    fn new() -> Self {
        CacheBuilder {
            settings: Settings {
                max_capacity: None,
                weigher: None,
                ttl: None,
                idle: None,
                shards: None,
                stats: true,
                adapt: true,
                window: true,
                sample_every: None,
                name: "default".to_owned(),
                listener: None,
                expiry: None,
                clock: None,
                hasher: ahash::RandomState::new(),
                loading: Loading::default(),
                reloader: None,
                refresh_executor: None,
            },
            registry: None,
        }
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// Required: the most entries the cache holds, or the most total weight
    /// when a [`weigher`](Self::weigher) is set (there is no default, since
    /// it would mean entries or weight units depending on the weigher). All
    /// of it is usable however the
    /// keys fall on the shards: `n` distinct keys inserted into an empty
    /// cache of capacity `n` are all kept, since shards lend each other
    /// what they do not use.
    ///
    /// ```
    /// let cache: clockwise::Cache<u64, u64> = clockwise::Cache::builder()
    ///     .max_capacity(1_000)
    ///     .shards(8)
    ///     .build();
    /// for k in 0..1_000 {
    ///     cache.insert(k, k);
    /// }
    /// assert_eq!(cache.len(), 1_000);
    /// ```
    pub fn max_capacity(mut self, capacity: u64) -> Self {
        self.settings.max_capacity = Some(capacity);
        self
    }

    /// Weighs each entry (0 counts as 1). Capacity is then total weight. An
    /// entry may weigh up to the whole capacity (the other shards then
    /// evict to make room); a heavier one is refused: see
    /// [`Cache::insert`] and [`Cache::try_insert`].
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, String> = clockwise::Cache::builder()
    ///     .max_capacity(1_024) // bytes
    ///     .weigher(|_, v: &String| v.len() as u32)
    ///     .build();
    /// cache.insert(1, "x".repeat(1_000));
    /// assert_eq!(cache.weighted_size(), 1_000);
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.settings.weigher = Some(Arc::new(weigher));
        self
    }

    /// Every entry expires this long after its insert, unless inserted with
    /// [`Cache::insert_with_ttl`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let (clock, mock) = clockwise::stats::Clock::mock();
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .time_to_live(Duration::from_secs(60))
    ///     .clock(clock)
    ///     .build();
    /// cache.insert(1, 1);
    /// mock.increment(Duration::from_secs(60));
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.settings.ttl = Some(ttl);
        self
    }

    /// Every entry expires this long after its last read (`get`, a
    /// loader's hit) or write, and at its time to live at the latest. A
    /// read moves the deadline only when it would move by more than 1/32 of
    /// the time to idle, so a hit on a hot entry writes its line at most
    /// that often, and an idle entry expires between 31/32 and all of the
    /// time to idle after its last read. `peek`, `contains_key` and
    /// iteration are not reads here. Entries written with
    /// [`Cache::insert_with_ttl`] keep their own deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (clock, mock) = clockwise::stats::Clock::mock();
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .clock(clock)
    ///     .build();
    /// cache.insert(1, 1);
    /// mock.increment(Duration::from_secs(50));
    /// assert_eq!(cache.get(&1), Some(1)); // read: idle again from here
    /// mock.increment(Duration::from_secs(50));
    /// assert_eq!(cache.get(&1), Some(1));
    /// mock.increment(Duration::from_secs(61));
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.settings.idle = Some(idle);
        self
    }

    /// Each entry's time to live is `expiry`'s to decide, when it is
    /// created, updated and read: see [`Expiry`](crate::Expiry). Not with
    /// [`time_to_live`](Self::time_to_live) or
    /// [`time_to_idle`](Self::time_to_idle)
    /// ([`ConfigError::ExpiryWithTimeToLive`]). Every hit then reads the
    /// clock and calls `expire_after_read`.
    ///
    /// ```
    /// use clockwise::{stats::Instant, Expiry};
    /// use std::time::Duration;
    /// struct TenSeconds;
    /// impl Expiry<u32, u32> for TenSeconds {
    ///     fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    /// }
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .expire_after(TenSeconds)
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn expire_after(mut self, expiry: impl crate::Expiry<K, V> + 'static) -> Self {
        self.settings.expiry = Some(Arc::new(expiry));
        self
    }

    /// Number of shards (rounded up to a power of two, and down to at most
    /// the capacity so that every shard holds something). Default: four per
    /// hardware thread, fewer if shards would hold under 64 entries each.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(1_000)
    ///     .shards(4)
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.len(), 1);
    /// ```
    pub fn shards(mut self, shards: usize) -> Self {
        self.settings.shards = Some(shards);
        self
    }

    /// Whether eviction adapts its cold allocation to the workload
    /// (default true). CLOCK-Pro keeps new pages in a small cold part of the
    /// cache and the rest hot; on recency-heavy workloads a larger cold part
    /// wins. With adaptation, miniature simulations of the policy at six
    /// cold floors (1 % to 99 % of the capacity) replay a sample of the
    /// keys, about 128 per simulation and at most a quarter of them, and
    /// the floor that missed least becomes the cache's. A hit costs nothing
    /// more (a sampled key's hit writes a note in its thread's own ring,
    /// and only when it sets the reference bit); a write of a sampled key
    /// replays the notes. Off, the policy is the CLOCK-Pro authors'
    /// simulator's, and writes skip the simulations. A cache with a
    /// [`weigher`](Self::weigher) does not adapt.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .adapt_cold_floor(false)
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn adapt_cold_floor(mut self, on: bool) -> Self {
        self.settings.adapt = on;
        self
    }

    /// Whether new entries pass an admission window (default true). A new
    /// key waits in a FIFO in front of the CLOCK-Pro clock; when the
    /// window overflows, its oldest entry enters
    /// the clock if a frequency sketch has seen its key more often than
    /// the key of the entry it would displace, and is evicted otherwise.
    /// The test's bias tunes itself: keys turned away that come back make
    /// it more lenient, admitted keys evicted unused make it stricter. It
    /// keeps one-off keys (scans) from displacing entries worth keeping.
    /// The window starts at 2 % of the capacity, and its size climbs on
    /// the cache's hit ratio (0.5 % to 80 %: larger where keys come back
    /// soon after their first use, smaller where frequency decides),
    /// when the cache keeps its [`stats`](Self::stats) (the default);
    /// otherwise it stays at 2 %.
    /// A hit costs nothing more: the sketch counts a hit when the policy
    /// clears the reference bit it set. An insert that evicts costs about a
    /// quarter more, and the sketch takes 4 to 8 bytes an entry (at most
    /// 16 MiB a shard). Off, the policy is CLOCK-Pro's alone.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(100)
    ///     .admission_window(false)
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.stats().window_size(), 0);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn admission_window(mut self, on: bool) -> Self {
        self.settings.window = on;
        self
    }

    /// Whether to record metrics (default true). Turning them off exists to
    /// measure what they cost; it also fixes the
    /// [admission window](Self::admission_window)'s size, which climbs on
    /// the hit ratio the metrics count. With metrics, a cache holds two latency
    /// histograms (three once it loads) of 30 KiB per thread slot (three
    /// slots per hardware thread): 371 KiB for an empty cache on 2 cores.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .stats(false)
    ///     .build();
    /// cache.get(&1);
    /// assert_eq!(cache.stats().gets(), 0);
    /// assert!(cache.stats().get_latency().is_none());
    /// ```
    pub fn stats(mut self, on: bool) -> Self {
        self.settings.stats = on;
        self
    }

    /// Time one `get` and one `insert` in `n` per thread, `n` rounded up to
    /// a power of two (1 times all). By default 1 `get` in
    /// [`DEFAULT_GET_SAMPLE_EVERY`](crate::DEFAULT_GET_SAMPLE_EVERY) (1,024) and 1 `insert` in
    /// [`DEFAULT_SAMPLE_EVERY`](crate::DEFAULT_SAMPLE_EVERY) (64).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .latency_sample_every(1) // time every call
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.stats().insert_latency().unwrap().count(), 1);
    /// ```
    pub fn latency_sample_every(mut self, n: u32) -> Self {
        self.settings.sample_every = Some(n);
        self
    }

    /// The name exporters label this cache with.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .name("users")
    ///     .build();
    /// assert_eq!(cache.name(), "users");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.settings.name = name.into();
        self
    }

    /// Called after an entry leaves the cache, outside any lock, with why.
    /// A panic in it is caught and counted (`listener_panic`).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let evicted = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&evicted);
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .eviction_listener(move |k, _, cause| sink.lock().unwrap().push((*k, cause)))
    ///     .build();
    /// cache.insert(1, 1);
    /// cache.invalidate(&1);
    /// assert_eq!(*evicted.lock().unwrap(), [(1, clockwise::RemovalCause::Explicit)]);
    /// ```
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(&K, &V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.settings.listener = Some(Arc::new(listener));
        self
    }

    /// Lists the cache in `registry` under its [`name`](Self::name), so
    /// exporters (Prometheus, StatsD, JSON) walking the registry report it
    /// with label `cache="<name>"`. It stays listed until the last clone of
    /// the cache is dropped. [`try_build`](Self::try_build) fails with
    /// [`ConfigError::Registry`] if a live cache in the registry has the same
    /// name or the name is not one the registry takes (empty, a control
    /// character, over 128 bytes), and [`build`](Self::build) panics.
    ///
    /// ```
    /// use clockwise_stats::Registry;
    /// let registry = Registry::new();
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(100)
    ///     .name("users")
    ///     .registry(&registry)
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// let text = clockwise_stats::export::prometheus::render(&registry.gather());
    /// assert!(text.contains("clockwise_cache_requests_total{cache=\"users\",result=\"hit\"} 1"));
    /// ```
    pub fn registry(mut self, registry: &clockwise_stats::Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Remembers a `None` from [`optionally_get_with`](Cache::optionally_get_with)
    /// for `ttl`, so repeated lookups of an unknown key do not call the
    /// loader each time. Absences are kept in a bounded side cache (at most
    /// `min(max_capacity, 65,536)` keys, CLOCK-Pro evicted) and cleared by an
    /// insert, `remove` or `invalidate` of the key.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: clockwise::Cache<u32, String> = clockwise::Cache::builder()
    ///     .max_capacity(100)
    ///     .negative_ttl(Duration::from_secs(5))
    ///     .build();
    /// assert_eq!(cache.optionally_get_with(7, || None), None);
    /// // Remembered: this loader is not called.
    /// assert_eq!(cache.optionally_get_with(7, || unreachable!()), None);
    /// assert_eq!(cache.stats().negative_hits(), 1);
    /// ```
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.settings.loading.negative_ttl = Some(ttl);
        self
    }

    /// Entries older than this are reloaded by the next `*_get_with` hit on
    /// them (a *stale hit*): exactly one caller, the one whose hit found the
    /// entry due, runs its loader and gets the fresh value; every other
    /// caller meanwhile gets the current value at once. A failed reload
    /// keeps the old value (until its TTL). Plain [`get`](Cache::get) never
    /// reloads.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (clock, mock) = clockwise::stats::Clock::mock();
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(100)
    ///     .refresh_after(Duration::from_secs(60))
    ///     .clock(clock)
    ///     .build();
    /// assert_eq!(cache.get_with(1, || 10), 10);
    /// mock.increment(Duration::from_secs(61));
    /// assert_eq!(cache.get_with(1, || 11), 11); // this caller reloaded
    /// assert_eq!(cache.get(&1), Some(11));
    /// assert_eq!(cache.stats().refreshes_succeeded(), 1);
    /// ```
    pub fn refresh_after(mut self, age: Duration) -> Self {
        self.settings.loading.refresh_after = Some(age);
        self
    }

    /// The function that reloads entries due for refresh
    /// ([`refresh_after`](Self::refresh_after)), instead of the caller's
    /// loader: `Some(v)` replaces the value, `None` keeps the old one (until
    /// its TTL) and counts a failed refresh, as does a panic, which is
    /// caught. It runs on the thread whose `*_get_with` hit found the entry
    /// due, after that hit has its value, or on the
    /// [`refresh_executor`](Self::refresh_executor). Set any
    /// [`hasher`](Self::hasher) before it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (clock, mock) = clockwise::stats::Clock::mock();
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(100)
    ///     .refresh_after(Duration::from_secs(60))
    ///     .reloader(|k: &u32| Some(k * 100))
    ///     .clock(clock)
    ///     .build();
    /// assert_eq!(cache.get_with(1, || 10), 10);
    /// mock.increment(Duration::from_secs(61));
    /// assert_eq!(cache.get_with(1, || unreachable!()), 10); // stale, reloaded after
    /// assert_eq!(cache.get(&1), Some(100));
    /// ```
    pub fn reloader(mut self, reload: impl Fn(&K) -> Option<V> + Send + Sync + 'static) -> Self
    where
        K: Eq + std::hash::Hash + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        S: BuildHasher + Send + Sync + 'static,
    {
        self.settings.reloader = Some(Arc::new(reload));
        self
    }

    /// Runs reloads on `executor` instead of the triggering thread: it gets
    /// each reload as a boxed task and must run it (on any thread) or drop
    /// it; a dropped task (or an executor that panics) ends that reload,
    /// and the next stale hit starts another. There is no hidden thread
    /// pool: pass your runtime's spawn, a channel to your workers, or a
    /// thread per task. Needs a [`reloader`](Self::reloader).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(100)
    ///     .refresh_after(Duration::from_secs(60))
    ///     .reloader(|k: &u32| Some(k * 100))
    ///     .refresh_executor(|task| {
    ///         std::thread::spawn(task);
    ///     })
    ///     .build();
    /// # let _ = cache;
    /// ```
    pub fn refresh_executor(
        mut self,
        executor: impl Fn(Box<dyn FnOnce() + Send>) + Send + Sync + 'static,
    ) -> Self {
        self.settings.refresh_executor = Some(Arc::new(executor));
        self
    }

    /// A caller waiting for another caller's load gives up after this long
    /// (counted as `wait_timeout`): `try_get_with` returns
    /// [`LoadError::WaitTimeout`](crate::LoadError::WaitTimeout),
    /// `get_with` runs its own loader instead. Default: wait as long as the
    /// load takes, as does a timeout too long to add to the clock
    /// (`Duration::MAX`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .load_wait_timeout(Duration::from_millis(100))
    ///     .build();
    /// assert_eq!(cache.get_with(1, || 1), 1);
    /// ```
    pub fn load_wait_timeout(mut self, timeout: Duration) -> Self {
        self.settings.loading.wait_timeout = Some(timeout);
        self
    }

    /// The clock for TTLs and latency (tests pass [`Clock::mock`](clockwise_stats::Clock::mock)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (clock, mock) = clockwise::stats::Clock::mock();
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .clock(clock)
    ///     .build();
    /// cache.insert_with_ttl(1, 1, Duration::from_secs(1));
    /// mock.increment(Duration::from_secs(1));
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn clock(mut self, clock: clockwise_stats::Clock) -> Self {
        self.settings.clock = Some(clock);
        self
    }

    /// The hasher (default `ahash::RandomState`, randomly seeded per cache).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32, std::collections::hash_map::RandomState> =
    ///     clockwise::Cache::builder()
    ///         .max_capacity(10)
    ///         .hasher(std::collections::hash_map::RandomState::new())
    ///         .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn hasher<S2: BuildHasher>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            settings: self.settings.with_hasher(hasher),
            registry: self.registry,
        }
    }

    /// Checks the configuration and builds the cache.
    ///
    /// ```
    /// let refused = clockwise::Cache::<u32, u32>::builder().max_capacity(0).try_build();
    /// assert_eq!(refused.unwrap_err(), clockwise::ConfigError::ZeroCapacity);
    /// let cache = clockwise::Cache::<u32, u32>::builder().max_capacity(10).try_build().unwrap();
    /// assert_eq!(cache.capacity(), 10);
    /// ```
    pub fn try_build(self) -> Result<Cache<K, V, S>, ConfigError>
    where
        K: Eq + std::hash::Hash + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        S: BuildHasher,
    {
        let capacity = self
            .settings
            .max_capacity
            .ok_or(ConfigError::MissingCapacity)?;
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if let Some(n) = self.settings.shards {
            if n == 0 || n > 65_536 {
                return Err(ConfigError::Shards(n));
            }
        }
        if self.settings.expiry.is_some()
            && (self.settings.ttl.is_some() || self.settings.idle.is_some())
        {
            return Err(ConfigError::ExpiryWithTimeToLive);
        }
        if self.settings.ttl == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroTimeToLive);
        }
        if self.settings.sample_every == Some(0) {
            return Err(ConfigError::ZeroSampleEvery);
        }
        let l = self.settings.loading;
        for (value, what) in [
            (self.settings.idle, "time_to_idle"),
            (l.negative_ttl, "negative_ttl"),
            (l.refresh_after, "refresh_after"),
            (l.wait_timeout, "load_wait_timeout"),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(ConfigError::ZeroDuration(what));
            }
        }
        if self.settings.refresh_executor.is_some() && self.settings.reloader.is_none() {
            return Err(ConfigError::Refresh("refresh_executor needs a reloader"));
        }
        if self.settings.reloader.is_some() && l.refresh_after.is_none() {
            return Err(ConfigError::Refresh("reloader needs refresh_after"));
        }
        let CacheBuilder { settings, registry } = self;
        Cache::from_settings(settings, |stats, name| register(registry, stats, name))
    }

    /// Builds the cache.
    ///
    /// # Panics
    ///
    /// On any configuration [`try_build`](Self::try_build) refuses, with
    /// its [`ConfigError`] (which names the setting): a bad configuration
    /// is a programming error, like a `RefCell` borrowed twice, and is not
    /// repaired behind the caller's back. Use `try_build` where the
    /// settings come from outside the program.
    ///
    /// ```should_panic
    /// // max_capacity was not set
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().build();
    /// ```
    #[track_caller]
    pub fn build(self) -> Cache<K, V, S>
    where
        K: Eq + std::hash::Hash + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        S: BuildHasher,
    {
        match self.try_build() {
            Ok(cache) => cache,
            Err(e) => panic!("invalid cache configuration: {e}"),
        }
    }
}

/// Lists `stats` in `registry` (if any) as `name`; the registry's refusal
/// is the error.
fn register(
    registry: Option<clockwise_stats::Registry>,
    stats: &Arc<StatsSource>,
    name: &str,
) -> Result<Registered, ConfigError> {
    let Some(registry) = registry else {
        return Ok(Registered::unlisted(name));
    };
    let source: Arc<dyn clockwise_stats::Source> = stats.clone();
    let registration = registry
        .register_source("cache", name, &source)
        .map_err(ConfigError::Registry)?;
    Ok(Registered {
        name: name.to_owned(),
        registration: Some(registration),
    })
}
