//! The public cache handle.

use crate::adapt::Adapt;
use crate::config::{
    shard_count, ConfigError, Executor, ExpiryRef, Listener, Loading, Registered, Weigher,
    DEFAULT_GET_SAMPLE_EVERY, DEFAULT_SAMPLE_EVERY,
};
use crate::entry::{idle_deadline, own_deadline, Entry, EntryRef, NewEntry, NEVER};
use crate::flight::Flights;
use crate::lending::Lending;
use crate::metrics::{Counter, Metrics};
use crate::reclaim::Guard;
use crate::shard::{Shard, Unlinked, Written};
use crate::stats_source::StatsSource;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::window_climb::{Held, WindowClimb};
use crate::Equivalent;
use crate::{CacheStats, Expiry, InsertError, RemovalCause};
use clockwise_stats::ThreadSlot;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

/// A concurrent cache with lock-free reads, CLOCK-Pro eviction, optional
/// weights and time to live, and built-in metrics.
///
/// Cloning is cheap: clones share the same cache.
///
/// Keys and values are `Send + Sync + 'static`: a removed entry is freed by
/// whichever thread next collects retired entries, which may be after the
/// cache itself is gone, so it must not borrow anything:
///
/// ```compile_fail
/// let local = String::from("borrowed");
/// let cache: clockwise::Cache<u32, &str> = clockwise::Cache::builder().max_capacity(10).build();
/// cache.insert(1, local.as_str()); // error: `local` does not live long enough
/// ```
///
/// ```
/// let cache: clockwise::Cache<u64, &str> = clockwise::Cache::builder().max_capacity(100).build();
/// cache.insert(1, "one");
/// assert_eq!(cache.get(&1), Some("one"));
/// assert_eq!(cache.remove(&1), Some("one"));
/// assert_eq!(cache.get(&1), None);
/// let stats = cache.stats();
/// assert_eq!((stats.hits(), stats.misses_absent()), (1, 1));
/// ```
pub struct Cache<K, V, S = ahash::RandomState> {
    pub(crate) inner: Arc<Inner<K, V, S>>,
}

pub(crate) struct Inner<K, V, S> {
    shards: Box<[Shard<K, V>]>,
    /// Whether a shard may have capacity to lend (see `crate::lending`).
    lending: Lending,
    hasher: S,
    /// The whole capacity: what an entry may weigh at most. Changed only by
    /// [`Cache::set_capacity`], which lowers it before the shards shrink
    /// and raises it after they grow, so the shards' capacities always sum
    /// to at least this (what `Shard::insert_heavy` relies on).
    capacity: AtomicU64,
    /// Held by [`Cache::set_capacity`]: one resize at a time.
    resize: std::sync::Mutex<()>,
    weigher: Option<Weigher<K, V>>,
    /// The cold floor's adaptation (`crate::adapt`); none if turned off,
    /// with a weigher (the simulations count entries, not weight), and
    /// under loom (whose models of the ring of notes are `reclaim`'s).
    adapt: Option<Adapt>,
    /// The admission window's climb (`crate::window_climb`); none when the
    /// window is off.
    climb: Option<WindowClimb>,
    ttl: Option<Duration>,
    /// The time to idle, if set.
    idle: Option<Idle>,
    /// Some write needs the time: a cache-wide TTL or `refresh_after` is
    /// set, or an entry was ever written with a TTL. Until then an insert
    /// reads no clock (a `clock_gettime` system call where the TSC is not
    /// trusted, as under some hypervisors), and every entry it
    /// writes never expires, so a hand or sweep has nothing to compare.
    /// Set once, never cleared; `Relaxed`: a write that misses the store
    /// only leaves the clock read to the next one, and an entry's own TTL
    /// is always written with a real time (see `write_with`).
    timed: AtomicBool,
    listener: Option<Listener<K, V>>,
    /// Decides each entry's time to live, if set (see [`Expiry`]).
    pub(crate) expiry: Option<ExpiryRef<K, V>>,
    clock: clockwise_stats::Clock,
    origin: clockwise_stats::Instant,
    pub(crate) stats: Arc<StatsSource>,
    name: String,
    pub(crate) flights: Arc<Flights<K, V>>,
    /// Remembered absences (`negative_ttl`), keyed like the cache.
    pub(crate) negative: Option<Cache<K, ()>>,
    pub(crate) loading: Loading,
    /// Refresh-ahead through the builder's reloader and executor.
    pub(crate) reloader: Option<Reload<K, V>>,
    pub(crate) refresh_executor: Option<Executor>,
    /// Keeps `stats` listed in the registry given to the builder.
    _registration: Option<clockwise_stats::Registration>,
}

impl<K, V, S> Inner<K, V, S> {
    /// The counters and histograms, unless built with `stats(false)`.
    #[inline]
    pub(crate) fn stats_metrics(&self) -> Option<&Metrics> {
        self.stats.metrics.as_ref()
    }
}

impl<K, V, S> Clone for Cache<K, V, S> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.capacity.load(Ordering::Relaxed))
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

/// A time to idle, in nanoseconds, and how far a read must move an entry's
/// deadline before it writes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Idle {
    pub(crate) nanos: u64,
    /// A [`GRAINS`]th of `nanos`: entries expire between `nanos - grain`
    /// and `nanos` after their last read.
    pub(crate) grain: u64,
}

/// Parts of the time to idle by which a read may leave an entry's
/// deadline unmoved: a hot entry's line is written once per 1/32 of the
/// time to idle, not on every hit, at the price of expiring up to 3% early.
const GRAINS: u64 = 32;

impl Idle {
    pub(crate) fn new(idle: Duration) -> Idle {
        let nanos = nanos(idle);
        Idle {
            nanos,
            grain: nanos / GRAINS,
        }
    }
}

/// The deadline of an entry without one in a cache with an [`Expiry`]:
/// not [`NEVER`], so that its reads reach `after_read`; 584 years after the
/// cache was built.
const UNLIMITED: u64 = NEVER - 1;

/// What an entry expiring at `at` has left at `now` (`None`: no limit).
fn left(at: u64, now: u64) -> Option<Duration> {
    (at < UNLIMITED).then(|| Duration::from_nanos(at.saturating_sub(now)))
}

/// Why a lookup missed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Miss {
    Absent,
    Expired,
}

/// What a cache is built from: the builder's settings, checked or
/// resolved by `try_build` or `build`.
pub(crate) struct Settings<K, V, S> {
    pub(crate) max_capacity: Option<u64>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) ttl: Option<Duration>,
    pub(crate) idle: Option<Duration>,
    pub(crate) shards: Option<usize>,
    pub(crate) stats: bool,
    /// Whether the cold floor adapts (see `crate::adapt`).
    pub(crate) adapt: bool,
    /// Whether new entries pass the admission window
    /// (`clock_pro::window`).
    pub(crate) window: bool,
    /// For gets and inserts alike; `None` means the defaults.
    pub(crate) sample_every: Option<u32>,
    pub(crate) name: String,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) expiry: Option<ExpiryRef<K, V>>,
    pub(crate) clock: Option<clockwise_stats::Clock>,
    pub(crate) hasher: S,
    pub(crate) loading: Loading,
    pub(crate) reloader: Option<Reload<K, V>>,
    pub(crate) refresh_executor: Option<Executor>,
}

impl<K, V, S> Settings<K, V, S> {
    /// The same settings with another hasher.
    pub(crate) fn with_hasher<S2>(self, hasher: S2) -> Settings<K, V, S2> {
        Settings {
            max_capacity: self.max_capacity,
            weigher: self.weigher,
            ttl: self.ttl,
            idle: self.idle,
            shards: self.shards,
            stats: self.stats,
            adapt: self.adapt,
            window: self.window,
            sample_every: self.sample_every,
            name: self.name,
            listener: self.listener,
            expiry: self.expiry,
            clock: self.clock,
            hasher,
            loading: self.loading,
            reloader: self.reloader,
            refresh_executor: self.refresh_executor,
        }
    }
}

/// The builder-level reload function: `None` means the reload failed.
pub(crate) type Reload<K, V> = Arc<dyn Fn(&K) -> Option<V> + Send + Sync>;

/// `d` in nanoseconds, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether a `get` whose call number left the straight path is timed. A
/// cache with its own call-counter column left it to be sampled; one on the
/// scratch column (no free column) leaves it on every call, to be counted
/// here in its stripes and sampled by that count.
#[cold]
#[inline(never)]
fn off_path_timed(m: &Metrics) -> bool {
    m.calls.exclusive()
        || m.counters.local().add_and_get(Counter::Get as usize, 1) & m.sample_mask == 0
}

/// Counts each removal and tells `listener` of it, a panic in the listener
/// caught and counted. Called with no lock held and not pinned.
fn tell<K, V>(listener: &Listener<K, V>, metrics: Option<&Metrics>, removed: &Unlinked<K, V>) {
    for (entry, cause) in removed.iter() {
        if let Some(m) = metrics {
            m.counters.add(Counter::from(cause) as usize, 1);
        }
        let call = AssertUnwindSafe(|| listener(&entry.key, &entry.value, cause));
        if catch_unwind(call).is_err() {
            if let Some(m) = metrics {
                m.counters.add(Counter::ListenerPanic as usize, 1);
            }
        }
    }
}

/// Counts a miss, on this thread's stripe.
#[cold]
fn count_miss(m: &Metrics, miss: Miss, guard: &Guard) {
    match miss {
        // In the record line the pin holds, like the call itself: no
        // thread-slot lookup for the commonest miss.
        Miss::Absent if m.misses.exclusive() => {
            guard.bump(&m.misses);
        }
        Miss::Absent => m.counters.local().add(Counter::MissAbsent as usize, 1),
        Miss::Expired => m.counters.local().add(Counter::MissExpired as usize, 1),
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// Builds the cache; `register` is told its stats source and name (see
    /// `CacheBuilder::try_build`).
    pub(crate) fn from_settings(
        b: Settings<K, V, S>,
        register: impl FnOnce(&Arc<StatsSource>, &str) -> Result<Registered, ConfigError>,
    ) -> Result<Self, ConfigError> {
        // Settle the reclamation's fence choice now, not at the first `get`:
        // registering for `membarrier` takes ~8 µs in a single-threaded
        // process but 4–15 ms once other threads run (the kernel waits for an
        // RCU grace period), and every thread's first pin would wait for it.
        crate::reclaim::asymmetric();
        let capacity = b
            .max_capacity
            .expect("try_build refuses a cache without max_capacity");
        let n = shard_count(b.shards, capacity);
        let per = capacity / n as u64;
        let extra = capacity % n as u64;
        let shards: Box<[Shard<K, V>]> = (0..n as u64)
            .map(|i| Shard::new(per + u64::from(i < extra), b.window))
            .collect();
        let clock = b.clock.unwrap_or_default();
        let origin = clock.now();
        let (get_every, insert_every) = match b.sample_every {
            Some(n) => (n, n),
            None => (DEFAULT_GET_SAMPLE_EVERY, DEFAULT_SAMPLE_EVERY),
        };
        let metrics = b
            .stats
            .then(|| Metrics::new(get_every, insert_every, clock.clone()));
        let gauges = shards.iter().map(|s| Arc::clone(&s.gauges)).collect();
        let stats = Arc::new(StatsSource::new(
            metrics,
            gauges,
            capacity,
            clock.clone(),
            origin,
        ));
        let Registered { name, registration } = register(&stats, &b.name)?;
        let negative = b.loading.negative_ttl.map(|ttl| {
            let settings = Settings {
                max_capacity: Some(capacity.clamp(1, 65_536)),
                weigher: None,
                ttl: Some(ttl),
                idle: None,
                shards: None,
                stats: false,
                adapt: true,
                window: true,
                sample_every: None,
                name: String::new(),
                listener: None,
                expiry: None,
                // The cache's own clock, so that remembered absences age
                // with its entries (a mock clock included).
                clock: Some(clock.clone()),
                hasher: ahash::RandomState::new(),
                loading: Loading::default(),
                reloader: None,
                refresh_executor: None,
            };
            // A fn item, not a closure: a closure here would be a new type
            // in every instantiation, and this one would never end.
            fn unlisted(_: &Arc<StatsSource>, name: &str) -> Result<Registered, ConfigError> {
                Ok(Registered::unlisted(name))
            }
            Cache::from_settings(settings, unlisted)
                .unwrap_or_else(|_| unreachable!("an unlisted cache is always built"))
        });
        Ok(Cache {
            inner: Arc::new(Inner {
                shards,
                lending: Lending::new(),
                hasher: b.hasher,
                capacity: AtomicU64::new(capacity),
                resize: std::sync::Mutex::new(()),
                adapt: (b.adapt && b.weigher.is_none() && !crate::sync::LOOM)
                    .then(|| Adapt::new(capacity)),
                climb: (b.window && !crate::sync::LOOM).then(WindowClimb::new),
                weigher: b.weigher,
                ttl: b.ttl,
                idle: b.idle.map(Idle::new),
                timed: AtomicBool::new(
                    b.ttl.is_some()
                        || b.idle.is_some()
                        || b.expiry.is_some()
                        || b.loading.refresh_after.is_some(),
                ),
                listener: b.listener,
                expiry: b.expiry,
                clock,
                origin,
                stats,
                name,
                flights: Arc::new(Flights::new(n)),
                negative,
                loading: b.loading,
                reloader: b.reloader,
                refresh_executor: b.refresh_executor,
                _registration: registration,
            }),
        })
    }

    /// `key`'s hash, through the hasher's `write` calls, never its
    /// `hash_one`: a `BuildHasher` may give `hash_one` a path of its own for
    /// some types (ahash does for integers and strings where the compiler
    /// allows specialization), and then a key and an [`Equivalent`] of
    /// another type, which hash alike through `write`, would not.
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        let mut h = self.inner.hasher.build_hasher();
        key.hash(&mut h);
        std::hash::Hasher::finish(&h)
    }

    /// The shard of `hash`, by multiply-shift range reduction on the hash's
    /// high bits (the table uses the low ones).
    #[inline(always)]
    pub(crate) fn shard(&self, hash: u64) -> &Shard<K, V> {
        let i = self.shard_index(hash);
        // SAFETY: `shard_index` is below the number of shards.
        unsafe { self.inner.shards.get_unchecked(i) }
    }

    /// Shard number `i`, if there is one.
    pub(crate) fn shard_at(&self, i: usize) -> Option<&Shard<K, V>> {
        self.inner.shards.get(i)
    }

    /// The index of `hash`'s shard: `hash * len / 2^64 < len`.
    #[inline(always)]
    pub(crate) fn shard_index(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.inner.shards.len() as u128) >> 64) as usize
    }

    /// Nanoseconds since the cache was built, from the coarse clock when an
    /// upkeep thread keeps it current, else from a TSC read (no syscall).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        let clock = &self.inner.clock;
        let t = clock
            .recent()
            .checked_duration_since(self.inner.origin)
            .unwrap_or_else(|| clock.now().saturating_duration_since(self.inner.origin));
        nanos(t)
    }

    /// The time, where some entry may have a time to live; else 0 (no
    /// entry expires, and no clock is read).
    pub(crate) fn now_if_timed(&self) -> u64 {
        if self.inner.timed.load(Ordering::Relaxed) {
            self.now()
        } else {
            0
        }
    }

    /// The value for `key`, if present and not expired. `key` may be any
    /// [`Equivalent`] of `K`: a borrowed form (`&str` for `String`) or a
    /// type of your own, so the owned key need not be built to look it up.
    ///
    /// Lock-free: takes no lock, never waits for a writer, and writes no
    /// shared line except the entry's reference bit when it is clear.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u32> = clockwise::Cache::new(10);
    /// cache.insert("a".to_owned(), 1);
    /// assert_eq!(cache.get("a"), Some(1)); // any borrowed form of the key
    /// assert_eq!(cache.get("b"), None);
    /// ```
    // Always inlined: left to the inliner, a change elsewhere in the crate
    // (the write path's) turned it into a call in the benchmark harness, ten
    // instructions more per hit.
    #[inline(always)]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let guard = crate::reclaim::pin();
        self.lookup(self.hash(key), key, &guard)
            .map(|e| e.value.clone())
    }

    /// `get`'s lookup, counted in the metrics, returning the entry itself.
    // An expired entry is removed in `read`, under this pin, since the
    // removal needs the entry and its shard; only telling the listener
    // waits for the unpin. Leaving the whole removal to the caller after
    // the unpin kept the key (or hash) alive across every probe, which
    // cost instructions on every hit.
    #[inline(always)]
    pub(crate) fn lookup<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<EntryRef<'g, K, V>>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let shard = self.shard(hash);
        let Some(m) = &self.inner.stats.metrics else {
            return self.read(shard, shard.find(hash, key, guard), guard).ok();
        };
        // Bump this thread's call number for the cache (which also picks the
        // sampled calls), in the record the pin holds. A hit writes nothing
        // else: hits are derived at snapshot time as calls minus misses, and
        // only a miss bumps its own counter. The timed calls and the misses
        // take their own, out-of-line paths, so a hit's path is straight.
        let call = guard.bump(&m.calls);
        if call & m.fast_mask == 0 && off_path_timed(m) {
            return self.lookup_timed(shard, hash, key, guard, m);
        }
        match self.read(shard, shard.find(hash, key, guard), guard) {
            Ok(entry) => Some(entry),
            Err(miss) => {
                // Through `self`, not `m`: keeping `m` for the miss would
                // hold it in a register (or the stack) across the probe.
                self.count_miss(miss, guard);
                None
            }
        }
    }

    /// A sampled `get`'s lookup: timed into the get-latency histogram.
    #[inline(never)]
    fn lookup_timed<'g, Q>(
        &self,
        shard: &Shard<K, V>,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
        m: &Metrics,
    ) -> Option<EntryRef<'g, K, V>>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let sample = m.get_latency.start_always();
        let found = self.read(shard, shard.find(hash, key, guard), guard);
        if let Err(miss) = found {
            count_miss(m, miss, guard);
        }
        m.get_latency.finish(sample);
        found.ok()
    }

    /// Counts a miss of a cache with metrics.
    #[cold]
    #[inline(never)]
    fn count_miss(&self, miss: Miss, guard: &Guard) {
        if let Some(m) = &self.inner.stats.metrics {
            count_miss(m, miss, guard);
        }
    }

    /// `key`'s entry if present and not expired, without counting or
    /// touching anything; the clock is read only for an entry with a TTL.
    fn find_live<'g, Q>(&self, hash: u64, key: &Q, guard: &'g Guard) -> Option<EntryRef<'g, K, V>>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.shard(hash).find(hash, key, guard).filter(|e| {
            // The clock is read only for an entry with a deadline.
            let at = e.expires_at();
            at == NEVER || at > self.now()
        })
    }

    /// The live value of `key`, without counting or touching anything: the
    /// loaders' re-check under the flights lock, and [`peek`](Self::peek).
    pub(crate) fn peek_hashed<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let guard = crate::reclaim::pin();
        self.find_live(hash, key, &guard).map(|e| e.value.clone())
    }

    /// The outcome of a lookup that found `entry`.
    #[inline(always)]
    fn read<'g>(
        &self,
        shard: &Shard<K, V>,
        entry: Option<EntryRef<'g, K, V>>,
        guard: &Guard,
    ) -> Result<EntryRef<'g, K, V>, Miss> {
        let Some(entry) = entry else {
            crate::entry::forget_access(guard);
            return Err(Miss::Absent);
        };
        if entry.stamped() {
            // SAFETY: the entry has stamps.
            let stamps = unsafe { entry.stamps_unchecked() };
            if stamps.expires_at() != NEVER {
                let now = self.now();
                if stamps.expires_at() <= now {
                    crate::entry::forget_access(guard);
                    self.expired(shard, entry, now, guard);
                    return Err(Miss::Expired);
                }
                if let Some(idle) = &self.inner.idle {
                    let cap = match self.inner.ttl {
                        Some(ttl) => stamps.written_at().saturating_add(nanos(ttl)),
                        None => NEVER,
                    };
                    stamps.extend(now, idle.nanos, cap, idle.grain);
                } else if let Some(expiry) = &self.inner.expiry {
                    self.after_read(expiry.as_ref(), entry, now);
                }
            }
        }
        // A hit right after this thread's own access to the same entry (a
        // read-through's insert, then its re-read) is one use, not two: the
        // bit is left for the next, separate access, as the simulator whose
        // hit ratios are the bar skips repeated requests.
        if !entry.referenced() && !entry.repeats_access(guard) {
            entry.touch();
            // The simulations hear of a sampled key's hit when it sets the
            // bit, as the hands do: once per lap, not per hit, so a hit on a
            // set bit stays a read, and a run of hits fits in the ring of
            // notes (see `crate::adapt`).
            if entry.sampled() {
                self.sampled_hit(entry.get(), guard);
            }
        }
        entry.note_access(guard);
        Ok(entry)
    }

    /// A reader found `entry` expired: removes it, if the shard's lock is
    /// free now (never waits), under the reader's pin; the listener is told
    /// at the reader's unpin.
    #[cold]
    #[inline(never)]
    fn expired(&self, shard: &Shard<K, V>, entry: EntryRef<'_, K, V>, now: u64, guard: &Guard) {
        let mut removed = Unlinked::new();
        shard.remove_expired(&self.inner.lending, entry, now, guard, &mut removed);
        if removed.is_empty() {
            return;
        }
        let Some(listener) = &self.inner.listener else {
            return self.retire_counted(&mut removed, guard);
        };
        let (listener, stats) = (Arc::clone(listener), Arc::clone(&self.inner.stats));
        guard.defer_unpinned(Box::new(move || {
            tell(&listener, stats.metrics.as_ref(), &removed);
            // Dropping `removed` retires its entries under a new pin.
        }));
    }

    /// The value for `key`, if present and not expired, without counting as
    /// a use: the entry's reference bit is left as it is (so eviction sees
    /// no access) and no metric is counted. An expired entry reads as
    /// absent and is left for the hands and the sweep to free. Lock-free
    /// like [`get`](Self::get).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, &str> = clockwise::Cache::builder().max_capacity(10).build();
    /// cache.insert(1, "one");
    /// assert_eq!(cache.peek(&1), Some("one"));
    /// assert_eq!(cache.peek(&2), None);
    /// assert_eq!(cache.stats().gets(), 0);
    /// ```
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.peek_hashed(self.hash(key), key)
    }

    /// True if `key` (any [`Equivalent`] of `K`, as for [`get`](Self::get))
    /// is present and not expired. Does not count as a use.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// cache.insert(1, 1);
    /// assert!(cache.contains_key(&1) && !cache.contains_key(&2));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let guard = crate::reclaim::pin();
        self.find_live(self.hash(key), key, &guard).is_some()
    }

    /// Inserts or replaces `key`'s value, with the cache's time to live. A
    /// load of `key` running meanwhile still hands its value to its callers
    /// but does not store it over this newer one.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, &str> = clockwise::Cache::builder().max_capacity(10).build();
    /// cache.insert(1, "one");
    /// assert_eq!(cache.get(&1), Some("one"));
    /// ```
    ///
    /// An entry may weigh up to the whole capacity: shards lend each other
    /// capacity, and take it back by evicting, so one shard's share is no
    /// limit. A heavier one is not stored: the listener hears of it with
    /// cause [`Rejected`](crate::RemovalCause::Rejected), the `rejected`
    /// counter counts it, and `key`'s previous value is removed (cause
    /// `Replaced`), so no read returns a value older than the last write.
    /// [`try_insert`](Self::try_insert) hands such an entry back instead.
    pub fn insert(&self, key: K, value: V) {
        self.write(key, value, None);
    }

    /// [`insert`](Self::insert), unless the entry weighs more than the
    /// whole capacity: then nothing changes (`key`'s previous value stays,
    /// the listener is not called) and the key and value come back in the
    /// error. Counted as `rejected` either way.
    ///
    /// ```
    /// let cache: clockwise::Cache<&str, String> = clockwise::Cache::builder()
    ///     .max_capacity(8)
    ///     .weigher(|_, v: &String| v.len() as u32)
    ///     .build();
    /// assert!(cache.try_insert("short", "12345678".to_owned()).is_ok());
    /// let err = cache.try_insert("long", "123456789".to_owned()).unwrap_err();
    /// assert_eq!(err.to_string(), "an entry of weight 9 is over the cache's capacity of 8");
    /// assert_eq!(cache.get("short").as_deref(), Some("12345678"));
    /// assert_eq!(cache.stats().rejected(), 1);
    /// ```
    pub fn try_insert(&self, key: K, value: V) -> Result<(), InsertError<K, V>> {
        let weight = self.weigh(&key, &value);
        if self.too_heavy(weight) {
            if let Some(m) = &self.inner.stats.metrics {
                m.counters.add(Counter::Rejected as usize, 1);
            }
            return Err(InsertError::new(key, value, weight, self.capacity()));
        }
        self.write_weighed(key, value, weight, None);
        Ok(())
    }

    /// Whether an entry of `weight` is over the whole capacity.
    #[inline(always)]
    fn too_heavy(&self, weight: u32) -> bool {
        // Relaxed: a resize orders its own stores (see `Inner::capacity`).
        u64::from(weight.max(1)) > self.inner.capacity.load(Ordering::Relaxed)
    }

    /// Inserts or replaces `key`'s value, expiring after `ttl`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (clock, mock) = clockwise::stats::Clock::mock();
    /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::builder().max_capacity(8).clock(clock).build();
    /// cache.insert_with_ttl(1, 1, Duration::from_secs(5));
    /// mock.increment(Duration::from_secs(5));
    /// assert_eq!(cache.get(&1), None);
    /// assert_eq!(cache.stats().misses_expired(), 1);
    /// ```
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) {
        self.write(key, value, Some(ttl));
    }

    /// Writes `key`, expiring after `own_ttl` if given, else by the cache's
    /// time to live and time to idle.
    fn write(&self, key: K, value: V, own_ttl: Option<Duration>) {
        // The weigher is the user's code: run it before pinning.
        let weight = self.weigh(&key, &value);
        self.write_weighed(key, value, weight, own_ttl);
    }

    /// [`write`](Self::write) with `key`'s weight known.
    #[inline(always)]
    fn write_weighed(&self, key: K, value: V, weight: u32, own_ttl: Option<Duration>) {
        if own_ttl.is_none() && self.inner.expiry.is_some() {
            return self.write_expiring(key, value, weight);
        }
        self.write_timed(key, value, weight, own_ttl);
    }

    /// [`write_weighed`](Self::write_weighed) in a cache with an expiry,
    /// which is the user's code too: run before pinning.
    #[cold]
    #[inline(never)]
    fn write_expiring(&self, key: K, value: V, weight: u32) {
        let expiry = self.inner.expiry.as_deref().expect("called with an expiry");
        let hash = self.hash(&key);
        let ttl = self.expire_after_write(expiry, hash, &key, &value);
        self.write_hashed(hash, key, value, weight, Some(ttl));
    }

    /// [`write_weighed`](Self::write_weighed) with the entry's own time to
    /// live known.
    #[inline(always)]
    fn write_timed(&self, key: K, value: V, weight: u32, own_ttl: Option<Duration>) {
        self.write_hashed(self.hash(&key), key, value, weight, own_ttl);
    }

    /// [`write_timed`](Self::write_timed) of a key whose hash is `hash`.
    #[inline(always)]
    fn write_hashed(&self, hash: u64, key: K, value: V, weight: u32, own_ttl: Option<Duration>) {
        let guard = crate::reclaim::pin();
        let mut removed = Unlinked::new();
        let shard = self.shard_index(hash);
        // The two calls of `write_with` are spelled out: one closure
        // serving both branches kept the write from being inlined into the
        // common one, which callgrind's `insert_loop` counts.
        if self.inner.flights.running(shard) {
            // A load of this key may be running: this insert supersedes it,
            // so the load must not store its (older) value over this one.
            self.inner.flights.supersede(shard, key, |key| {
                self.write_with(
                    hash,
                    key,
                    value,
                    weight,
                    own_ttl,
                    &guard,
                    &mut removed,
                    None,
                )
            });
        } else {
            self.write_with(
                hash,
                key,
                value,
                weight,
                own_ttl,
                &guard,
                &mut removed,
                None,
            );
        }
        self.report(removed, guard);
    }

    /// `value`'s weight: the weigher's, or 1.
    #[inline]
    pub(crate) fn weigh(&self, key: &K, value: &V) -> u32 {
        self.inner.weigher.as_ref().map_or(1, |w| w(key, value))
    }

    /// Inserts without telling the listener: the caller passes `removed` to
    /// [`report`](Self::report) once it holds no lock. `hash` is `key`'s,
    /// `weight` [`weigh`](Self::weigh)'s.
    // Inlined into `write`, its one caller: a call's prologue, epilogue and
    // argument passing are a visible share of an evicting insert.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_with(
        &self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        own_ttl: Option<Duration>,
        guard: &Guard,
        removed: &mut Unlinked<K, V>,
        compute: Option<u64>,
    ) {
        if let Some(negative) = &self.inner.negative {
            negative.remove(&key);
        }
        if self.too_heavy(weight) {
            return self.refuse(hash, key, value, weight, guard, removed, compute);
        }
        let slot = ThreadSlot::current();
        let sample = self
            .inner
            .stats
            .metrics
            .as_ref()
            .and_then(|m| m.insert_latency.start_at(slot));
        let timed = self.inner.timed.load(Ordering::Relaxed);
        if own_ttl.is_some() && !timed {
            self.inner.timed.store(true, Ordering::Relaxed);
        }
        // Until `timed`, no entry of this cache expires and none is
        // refreshed by age: no clock read.
        // Entries written then carry no stamps.
        let (now, stamps) = if own_ttl.is_some() || timed {
            let now = self.now();
            (now, Some((self.deadline(now, own_ttl), now)))
        } else {
            (0, None)
        };
        let (shards, me, lending) = (
            &self.inner.shards,
            self.shard_index(hash),
            &self.inner.lending,
        );
        // SAFETY: `shard_index` is below the number of shards.
        let shard = unsafe { shards.get_unchecked(me) };
        let sampled = self.inner.adapt.as_ref().is_some_and(|a| a.sampled(hash));
        let written = match shard.insert(
            shards, me, lending, hash, key, value, stamps, weight, sampled, now, guard, removed,
            compute,
        ) {
            Ok(written) => written,
            Err(entry) => {
                match Shard::insert_heavy(
                    shards, me, lending, hash, entry, weight, now, guard, removed, compute,
                ) {
                    Ok(written) => written,
                    // A resize shrank the cache below the entry since the
                    // check above: refused like any entry over the capacity.
                    Err(entry) => {
                        return self.refuse_entry(hash, entry, weight, guard, removed, compute)
                    }
                }
            }
        };
        if sampled && written != Written::Superseded {
            self.sampled_write(hash, guard);
        }
        if WindowClimb::due(hash) && written == Written::Inserted {
            self.climb_write();
        }
        if let Some(m) = &self.inner.stats.metrics {
            let counter = match written {
                Written::Inserted => Counter::Insert,
                Written::Updated => Counter::Update,
                Written::Superseded => return,
            };
            m.counters.at(slot).add(counter as usize, 1);
            if let Some(sample) = sample {
                m.insert_latency.finish_at(slot, sample);
            }
        }
    }

    /// The cold floor's adaptation, for tests.
    #[cfg(test)]
    pub(crate) fn adapt(&self) -> Option<&Adapt> {
        self.inner.adapt.as_ref()
    }

    /// A write of a key the simulations follow (see `crate::adapt`).
    #[cold]
    #[inline(never)]
    fn sampled_write(&self, hash: u64, guard: &Guard) {
        if let Some(adapt) = &self.inner.adapt {
            adapt.write(hash, guard, &self.inner.shards);
        }
    }

    /// An insert that counts toward a look at the hit ratio, on which the
    /// admission window climbs (see `crate::window_climb`).
    #[cold]
    #[inline(never)]
    fn climb_write(&self) {
        if let Some(climb) = &self.inner.climb {
            let capacity = self.inner.capacity.load(Ordering::Relaxed);
            let held = || Held {
                entries: self.len(),
                weight: self.weighted_size(),
            };
            climb.write(&self.inner.shards, capacity, held, || {
                self.inner.stats.metrics.as_ref()?.lookups()
            });
        }
    }

    /// The admission window's climb, for tests.
    #[cfg(test)]
    pub(crate) fn climb(&self) -> Option<&WindowClimb> {
        self.inner.climb.as_ref()
    }

    /// A hit that set the bit of an entry the simulations follow: its key
    /// is hashed again here, off the hit path, rather than kept through
    /// the probe.
    #[cold]
    #[inline(never)]
    fn sampled_hit(&self, entry: &Entry<K, V>, guard: &Guard) {
        if let Some(adapt) = &self.inner.adapt {
            adapt.hit(self.hash(&entry.key), guard);
        }
    }

    /// Refuses an entry heavier than the whole capacity: `key`'s previous
    /// value leaves (`Replaced`), and the refused entry goes to `removed`
    /// to be reported (`Rejected`) and freed.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        guard: &Guard,
        removed: &mut Unlinked<K, V>,
        compute: Option<u64>,
    ) {
        let entry = NewEntry::new(key, value, None, weight.max(1), false);
        self.refuse_entry(hash, entry, weight, guard, removed, compute);
    }

    /// [`refuse`](Self::refuse) for an entry already allocated.
    #[cold]
    #[inline(never)]
    fn refuse_entry(
        &self,
        hash: u64,
        entry: NewEntry<K, V>,
        weight: u32,
        guard: &Guard,
        removed: &mut Unlinked<K, V>,
        compute: Option<u64>,
    ) {
        let cause = RemovalCause::Replaced;
        self.remove_hashed(hash, &entry.key, cause, guard, removed, compute);
        removed.push_refused(entry, weight);
    }

    /// When an entry written at `now` expires: after `own_ttl` if given
    /// (a deadline reads never move), else after the cache's time to live
    /// or time to idle, whichever is sooner.
    #[inline]
    fn deadline(&self, now: u64, own_ttl: Option<Duration>) -> u64 {
        let own = own_ttl.map(|t| now.saturating_add(nanos(t)));
        match (&self.inner.idle, own) {
            // Below `NEVER` in a cache with an expiry, so that every read
            // of every entry reaches `after_read`.
            (None, Some(at)) if self.inner.expiry.is_some() => at.min(UNLIMITED),
            (None, Some(at)) => at,
            (Some(_), Some(at)) => own_deadline(at),
            (None, None) => self
                .inner
                .ttl
                .map_or(NEVER, |t| now.saturating_add(nanos(t))),
            // The time to idle is at least 1 ns: the deadline is too.
            (Some(idle), None) => {
                let at = self
                    .inner
                    .ttl
                    .map_or(NEVER, |t| now.saturating_add(nanos(t)));
                idle_deadline(at.min(now.saturating_add(idle.nanos)))
            }
        }
    }

    /// The instant `nanos` after the cache's clock origin.
    fn instant(&self, nanos: u64) -> clockwise_stats::Instant {
        let origin = self.inner.origin;
        origin
            .checked_add(Duration::from_nanos(nanos))
            .unwrap_or(origin)
    }

    /// What `expiry` gives a write of `key` (whose hash is `hash`):
    /// `expire_after_update` with what the present value has left, or
    /// `expire_after_create`; `Duration::MAX` for no limit. Called before
    /// pinning or locking.
    pub(crate) fn expire_after_write(
        &self,
        expiry: &dyn Expiry<K, V>,
        hash: u64,
        key: &K,
        value: &V,
    ) -> Duration {
        let now = self.now();
        let left = {
            let guard = crate::reclaim::pin();
            self.find_live(hash, key, &guard)
                .map(|e| left(e.expires_at(), now))
        };
        let at = self.instant(now);
        let ttl = match left {
            Some(left) => expiry.expire_after_update(key, value, at, left),
            None => expiry.expire_after_create(key, value, at),
        };
        ttl.unwrap_or(Duration::MAX)
    }

    /// A hit at `now` on `entry` of a cache with `expiry`: its deadline
    /// becomes what `expire_after_read` says, written only if it changed.
    #[cold]
    #[inline(never)]
    fn after_read(&self, expiry: &dyn Expiry<K, V>, entry: EntryRef<'_, K, V>, now: u64) {
        let at = entry.expires_at();
        let (read_at, modified) = (self.instant(now), self.instant(entry.written_at()));
        let ttl =
            expiry.expire_after_read(&entry.key, &entry.value, read_at, left(at, now), modified);
        let to = ttl.map_or(UNLIMITED, |t| now.saturating_add(nanos(t)).min(UNLIMITED));
        if let Some(stamps) = entry.stamps().filter(|_| to != at) {
            stamps.set_expires_at(to);
        }
    }

    /// Removes `key`, whose hash is `hash`, for `cause` (`Expired` if it
    /// had expired); whether it was there. Reported with `removed`. For a
    /// compute (its ticket), nothing if a write superseded it.
    pub(crate) fn remove_hashed<Q>(
        &self,
        hash: u64,
        key: &Q,
        cause: RemovalCause,
        guard: &Guard,
        removed: &mut Unlinked<K, V>,
        compute: Option<u64>,
    ) -> bool
    where
        Q: Equivalent<K> + ?Sized,
    {
        let now = self.now_if_timed();
        let lending = &self.inner.lending;
        self.shard(hash)
            .remove(lending, hash, now, key, cause, guard, removed, compute)
    }

    /// Removes `key` (any [`Equivalent`] of `K`, as for [`get`](Self::get)),
    /// returning its value if it was present (even if expired). A load of `key` running meanwhile does not insert its value
    /// (see [`invalidate`](Self::invalidate)).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, &str> = clockwise::Cache::new(10);
    /// cache.insert(1, "one");
    /// assert_eq!(cache.remove(&1), Some("one"));
    /// assert_eq!(cache.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.remove_then(key, |e| e.map(|e| e.value.clone()))
    }

    /// Removes `key` as `remove` and `invalidate` do, handing the removed
    /// entry (if any) to `then` after the listener is told and the removal
    /// counted, so a panic in `then` (a `V::clone`) loses neither.
    fn remove_then<Q, R>(&self, key: &Q, then: impl FnOnce(Option<&Entry<K, V>>) -> R) -> R
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = self.hash(key);
        let guard = crate::reclaim::pin();
        let mut removed = Unlinked::new();
        let found = self
            .inner
            .flights
            .invalidate(self.shard_index(hash), key, || {
                self.remove_hashed(
                    hash,
                    key,
                    RemovalCause::Explicit,
                    &guard,
                    &mut removed,
                    None,
                )
            });
        if let Some(negative) = &self.inner.negative {
            negative.remove(key);
        }
        self.report_then(removed, guard, |removed| {
            then(if found { removed.first() } else { None })
        })
    }

    /// Removes `key` (cause `Explicit`) and any remembered absence of it. A
    /// load of `key` running meanwhile still hands its value to its callers
    /// but does not insert it, since it may predate the invalidation.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(10).build();
    /// cache.insert(1, 1);
    /// cache.invalidate(&1);
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn invalidate<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.remove_then(key, |_| ());
    }

    /// Removes every entry (cause `Explicit`) and remembered absence; loads
    /// running meanwhile do not insert their values.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// cache.insert(1, 1);
    /// cache.insert(2, 2);
    /// cache.invalidate_all();
    /// assert!(cache.is_empty());
    /// ```
    pub fn invalidate_all(&self) {
        let now = self.now_if_timed();
        for (i, shard) in self.inner.shards.iter().enumerate() {
            let guard = crate::reclaim::pin();
            let mut removed = Unlinked::new();
            self.inner.flights.invalidate_shard(i, || {
                shard.retain(&self.inner.lending, None, now, &guard, &mut removed)
            });
            self.report(removed, guard);
        }
        if let Some(negative) = &self.inner.negative {
            negative.invalidate_all();
        }
    }

    /// Keeps only the entries for which `keep` returns true; the others are
    /// removed (cause `Explicit`). `keep` runs under each shard's write lock,
    /// so it must not call back into this cache. If it panics, the shard it
    /// was examining is left unchanged.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// for k in 0..4 {
    ///     cache.insert(k, k);
    /// }
    /// cache.retain(|k, _| k % 2 == 0);
    /// assert_eq!((cache.get(&1), cache.get(&2)), (None, Some(2)));
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let now = self.now_if_timed();
        for shard in self.inner.shards.iter() {
            let guard = crate::reclaim::pin();
            let mut removed = Unlinked::new();
            shard.retain(
                &self.inner.lending,
                Some(&mut keep),
                now,
                &guard,
                &mut removed,
            );
            self.report(removed, guard);
        }
    }

    /// Counts removals and tells the listener, outside every lock, then
    /// retires the removed entries. `guard` is the writer's pin: released
    /// before the listener runs, so a slow listener holds back no thread's
    /// reclamation (the entries stay valid meanwhile: `removed` owns them).
    // Always inlined: left to the inliner, the write path's growth turned
    // it into a call in `insert`, ten instructions more per insert.
    #[inline(always)]
    pub(crate) fn report(&self, mut removed: Unlinked<K, V>, guard: Guard) {
        if removed.is_empty() {
            return;
        }
        if self.inner.listener.is_some() {
            self.report_then(removed, guard, |_| ());
            return;
        }
        // No listener: count and retire in one pass, still pinned.
        self.retire_counted(&mut removed, &guard);
    }

    /// Counts `removed`'s entries and retires them under `guard`.
    #[inline]
    fn retire_counted(&self, removed: &mut Unlinked<K, V>, guard: &Guard) {
        match &self.inner.stats.metrics {
            Some(m) => removed.retire_each(guard, |cause| {
                m.counters.add(Counter::from(cause) as usize, 1);
            }),
            None => removed.retire(guard),
        }
    }

    /// [`report`](Self::report), then `then` on the removed entries before
    /// they are retired.
    pub(crate) fn report_then<R>(
        &self,
        mut removed: Unlinked<K, V>,
        guard: Guard,
        then: impl FnOnce(&Unlinked<K, V>) -> R,
    ) -> R {
        let metrics = self.inner.stats.metrics.as_ref();
        let guard = match &self.inner.listener {
            Some(listener) if !removed.is_empty() => {
                drop(guard);
                tell(listener, metrics, &removed);
                None
            }
            _ => {
                if let Some(m) = metrics {
                    for (_, cause) in removed.iter() {
                        m.counters.add(Counter::from(cause) as usize, 1);
                    }
                }
                Some(guard)
            }
        };
        let out = then(&removed);
        // Still pinned (no listener): retire under that pin. Otherwise
        // dropping `removed` retires under a new one.
        if let Some(guard) = guard {
            removed.retire(&guard);
        }
        out
    }

    /// Entries not yet removed, those past their time to live included
    /// until a read, the sweep or the hands remove them. A level, read
    /// without a lock: exact whenever no write is under way.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// cache.insert(1, 1);
    /// cache.insert(2, 2);
    /// assert_eq!(cache.len(), 2);
    /// ```
    pub fn len(&self) -> u64 {
        self.inner.stats.gauge(|g| &g.len)
    }

    /// [`len`](Self::len), under moka's name.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// cache.insert(1, 1);
    /// assert_eq!(cache.entry_count(), cache.len());
    /// ```
    pub fn entry_count(&self) -> u64 {
        self.len()
    }

    /// True if the cache holds no entry.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// assert!(cache.is_empty());
    /// cache.insert(1, 1);
    /// assert!(!cache.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total weight of the entries (their number without a weigher).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, Vec<u8>> = clockwise::Cache::builder()
    ///     .max_capacity(100)
    ///     .weigher(|_, v: &Vec<u8>| v.len() as u32)
    ///     .build();
    /// cache.insert(1, vec![0; 30]);
    /// assert_eq!(cache.weighted_size(), 30);
    /// ```
    pub fn weighted_size(&self) -> u64 {
        self.inner.stats.gauge(|g| &g.weight)
    }

    /// The capacity: [`max_capacity`](crate::CacheBuilder::max_capacity),
    /// or the last [`set_capacity`](Self::set_capacity).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// assert_eq!(cache.capacity(), 10);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.inner.capacity.load(Ordering::Relaxed)
    }

    /// Changes the capacity at run time. Growing applies at once: the new
    /// room is spread over the shards, lendable like any unused capacity.
    /// Shrinking evicts the excess (cause `Capacity`) before it returns,
    /// shard by shard, each lock held for at most a sixteenth of its
    /// shard's capacity (or 64 units) at a time, so writers of the same
    /// shard wait for one step, not the whole shrink; the listener hears
    /// of each step's evictions as it ends. Entries heavier than the new
    /// capacity are refused from the start. One resize runs at a time.
    ///
    /// ```
    /// let cache: clockwise::Cache<u64, u64> = clockwise::Cache::new(1_000);
    /// for k in 0..1_000 {
    ///     cache.insert(k, k);
    /// }
    /// cache.set_capacity(100).unwrap();
    /// assert_eq!((cache.capacity(), cache.len()), (100, 100));
    /// assert_eq!(cache.stats().capacity(), 100);
    /// assert!(cache.set_capacity(0).is_err());
    /// ```
    pub fn set_capacity(&self, capacity: u64) -> Result<(), ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        // A panic in a listener is caught in `report`; a poisoned lock can
        // only come from a bug here, and guards nothing but mutual exclusion.
        let _one = self.inner.resize.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.capacity();
        let shards = &self.inner.shards;
        let (n, lending) = (shards.len() as u64, &self.inner.lending);
        if capacity > old {
            let add = capacity - old;
            for (i, shard) in shards.iter().enumerate() {
                let share = add / n + u64::from((i as u64) < add % n);
                shard.grow_by(lending, share);
            }
            self.publish_capacity(capacity);
        } else if capacity < old {
            self.publish_capacity(capacity);
            let mut left = old - capacity;
            // Rounds of even parts of what is left, each shard giving what
            // it has up to its part: the shards' capacities sum to at least
            // `left`, and every round takes at least one unit.
            while left > 0 {
                let part = left.div_ceil(n);
                for shard in shards.iter() {
                    let mut want = part.min(left);
                    while want > 0 {
                        let guard = crate::reclaim::pin();
                        let mut removed = Unlinked::new();
                        let took = shard.shrink_step(
                            lending,
                            want,
                            self.now_if_timed(),
                            &guard,
                            &mut removed,
                        );
                        self.report(removed, guard);
                        if took == 0 {
                            break;
                        }
                        (want, left) = (want - took, left - took);
                    }
                }
            }
        }
        // The simulations start over only if their size changed: a resize
        // to the same capacity keeps what they have learned.
        if let (Some(adapt), true) = (&self.inner.adapt, capacity != old) {
            adapt.resize(capacity);
        }
        Ok(())
    }

    /// Stores the capacity where inserts and snapshots read it.
    fn publish_capacity(&self, capacity: u64) {
        // Relaxed: see `Inner::capacity`; the resize lock orders resizes.
        self.inner.capacity.store(capacity, Ordering::Relaxed);
        self.inner.stats.set_capacity(capacity);
    }

    /// The name exporters use for this cache.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// assert_eq!(cache.name(), "default");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    crate::sync::checking! {
        /// Checks every internal invariant of every shard; panics with what
        /// is broken. For tests and fuzzing only (`cfg(fuzzing)`).
        pub fn validate(&self) {
            let capacity: u64 = self.inner.shards.iter().map(Shard::validate).sum();
            if let Some(adapt) = &self.inner.adapt {
                adapt.validate();
            }
            assert_eq!(capacity, self.capacity(), "the shards' capacities");
            if self.inner.lending.is_dry() {
                for (i, shard) in self.inner.shards.iter().enumerate() {
                    let lendable = shard.gauges.lendable.load(Ordering::Relaxed);
                    assert_eq!(lendable, 0, "shard {i} has {lendable} to lend, the hint says none");
                }
            }
        }
    }

    /// Every metric, merged now, behind typed methods ([`CacheStats`]).
    /// In the generic [`snapshot`](CacheStats::snapshot) the counters are
    /// named `get`, `hit`, `miss_absent`, `miss_expired`, `insert`,
    /// `update`, `removed_capacity`, `removed_expired`, `removed_explicit`,
    /// `removed_replaced`, `rejected`, `listener_panic`, and the loaders'
    /// `load_success`, `load_failure`, `loader_panic`, `coalesced_waiters`,
    /// `wait_timeout`, `stale_hit`, `refresh_started`, `refresh_succeeded`,
    /// `refresh_failed`, `negative_hit`; the gauges `entries`,
    /// `weighted_size`, `capacity`, `hot_size`, `cold_size`, `test_size`
    /// (in weight); the histograms `get_latency`, `insert_latency`
    /// (nanoseconds, sampled) and `load_latency` (every load; empty until
    /// the first), 1 ns to 60 s with two significant digits (quantiles
    /// within 1 %).
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
    /// cache.insert(1, 1);
    /// assert_eq!(cache.stats().inserts(), 1);
    /// assert_eq!(cache.stats().snapshot().counter("insert"), 1);
    /// ```
    pub fn stats(&self) -> CacheStats {
        CacheStats::new(self.inner.stats.snapshot())
    }
}
