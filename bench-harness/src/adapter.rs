//! The caches under test, behind one trait.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A cache the harness can drive: `u64` keys and values, shared by threads.
///
/// ```
/// use clockwise_bench::{adapters, CacheAdapter};
/// let cache = adapters::build("clockwise", 100).unwrap();
/// cache.insert(1, 10);
/// assert_eq!(cache.get(1), Some(10));
/// ```
pub trait CacheAdapter: Send + Sync {
    /// The engine's name in reports.
    fn name(&self) -> &str;
    /// Looks `key` up.
    fn get(&self, key: u64) -> Option<u64>;
    /// Inserts or replaces `key`.
    fn insert(&self, key: u64, value: u64);
}

/// A value the built-in adapters store: a plain `u64`, or a heap payload
/// of `--value-size` bytes whose first eight bytes hold the `u64`.
///
/// Larger values cost what they cost a real user: an allocation per insert,
/// a reference-count update per clone on a hit, and memory per entry.
trait Payload: Clone + Send + Sync + 'static {
    fn wrap(value: u64, size: usize) -> Self;
    fn unwrap(&self) -> u64;
}

impl Payload for u64 {
    fn wrap(value: u64, _: usize) -> u64 {
        value
    }
    fn unwrap(&self) -> u64 {
        *self
    }
}

impl Payload for Arc<[u8]> {
    fn wrap(value: u64, size: usize) -> Arc<[u8]> {
        let mut bytes = vec![0u8; size.max(8)];
        bytes[..8].copy_from_slice(&value.to_le_bytes());
        bytes.into()
    }
    fn unwrap(&self) -> u64 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self[..8]);
        u64::from_le_bytes(head)
    }
}

/// The built-in engines.
pub mod adapters {
    use super::*;

    /// Names accepted by [`build`].
    pub const NAMES: [&str; 4] = ["clockwise", "moka", "quick_cache", "lru"];

    /// How to size and configure a built-in engine.
    ///
    /// ```
    /// use clockwise_bench::adapters::{build_with, EngineOptions};
    /// let options = EngineOptions { value_size: 1024, ..EngineOptions::new(100) };
    /// let cache = build_with("quick_cache", &options).unwrap();
    /// cache.insert(7, 70);
    /// assert_eq!(cache.get(7), Some(70));
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct EngineOptions {
        /// Capacity in entries.
        pub capacity: u64,
        /// Every entry expires this long after its insert (clockwise and
        /// moka only; the others refuse it).
        pub ttl: Option<Duration>,
        /// Bytes per value. Up to 8 stores a plain `u64`; more stores an
        /// `Arc<[u8]>` of that many bytes, allocated on every insert.
        pub value_size: usize,
        /// Bound total weight instead of entries: `capacity` is then a sum
        /// of weights, and the value inserted under a key *is* that entry's
        /// weight (0 counts as 1), as a trace's object size would be.
        /// Needs `value_size` up to 8.
        pub weighted: bool,
    }

    impl EngineOptions {
        /// `capacity` entries of `u64` values without a time to live.
        pub fn new(capacity: u64) -> EngineOptions {
            EngineOptions {
                capacity,
                ttl: None,
                value_size: 8,
                weighted: false,
            }
        }
    }

    /// `engine` as [`build`] builds it, but with fixed hash seeds (lru has
    /// none), so that a loop probes the same table layout in every run and
    /// its counts repeat, and a trace replayed twice hits the same requests.
    ///
    /// ```
    /// let a = clockwise_bench::adapters::build_seeded("moka", 10).unwrap();
    /// a.insert(1, 1);
    /// assert_eq!(a.get(1), Some(1));
    /// ```
    pub fn build_seeded(
        engine: &str,
        capacity: u64,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        seeded(engine, capacity, None)
    }

    /// `engine` as [`build_seeded`] builds it, on one shard where the
    /// engine has shards (clockwise and quick_cache; moka and lru have
    /// none): its hit ratios then depend on the policy alone, not on how
    /// many hardware threads the machine has.
    ///
    /// ```
    /// let a = clockwise_bench::adapters::build_seeded_one_shard("quick_cache", 10).unwrap();
    /// a.insert(1, 1);
    /// assert_eq!(a.get(1), Some(1));
    /// ```
    pub fn build_seeded_one_shard(
        engine: &str,
        capacity: u64,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        seeded(engine, capacity, Some(1))
    }

    /// [`build_seeded`] with `shards` pinned where the engine has shards
    /// (`None`: the engine's default).
    fn seeded(
        engine: &str,
        capacity: u64,
        shards: Option<usize>,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        let capacity = capacity.max(1);
        Ok(match engine {
            // Each with its default hash function, seeded: ahash for
            // clockwise, foldhash for quick_cache; moka's SipHash cannot be
            // seeded, so moka gets ahash.
            "clockwise" => {
                let mut builder = clockwise::Cache::builder().max_capacity(capacity);
                if let Some(n) = shards {
                    builder = builder.shards(n);
                }
                Box::new(Clockwise::<u64, _>(
                    builder
                        .name("bench")
                        .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4))
                        .build(),
                    8,
                ))
            }
            "quick_cache" => {
                let mut options = quick_cache::OptionsBuilder::new();
                options
                    .estimated_items_capacity(capacity as usize)
                    .weight_capacity(capacity);
                if let Some(n) = shards {
                    options.shards(n);
                }
                let options = options
                    .build()
                    .map_err(|e| crate::Error::Config(format!("quick_cache options: {e:?}")))?;
                Box::new(QuickCache::<u64, _, _>(
                    quick_cache::sync::Cache::with_options(
                        options,
                        quick_cache::UnitWeighter,
                        foldhash::fast::FixedState::with_seed(1),
                        Default::default(),
                    ),
                    8,
                ))
            }
            "moka" => Box::new(Moka::<u64, _>(
                moka::sync::Cache::builder()
                    .max_capacity(capacity)
                    .build_with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
                8,
            )),
            other => build(other, capacity)?,
        })
    }

    /// Largest accepted `value_size`: 64 MiB.
    pub const MAX_VALUE_SIZE: usize = 64 << 20;

    struct Clockwise<V, S = ahash::RandomState>(clockwise::Cache<u64, V, S>, usize);
    impl<V: Payload, S> CacheAdapter for Clockwise<V, S>
    where
        S: std::hash::BuildHasher + Send + Sync + 'static,
    {
        fn name(&self) -> &str {
            "clockwise"
        }
        fn get(&self, key: u64) -> Option<u64> {
            self.0.get(&key).map(|v| v.unwrap())
        }
        fn insert(&self, key: u64, value: u64) {
            self.0.insert(key, V::wrap(value, self.1))
        }
    }

    struct Moka<V, S = std::collections::hash_map::RandomState>(
        moka::sync::Cache<u64, V, S>,
        usize,
    );
    impl<V: Payload, S> CacheAdapter for Moka<V, S>
    where
        S: std::hash::BuildHasher + Clone + Send + Sync + 'static,
    {
        fn name(&self) -> &str {
            "moka"
        }
        fn get(&self, key: u64) -> Option<u64> {
            self.0.get(&key).map(|v| v.unwrap())
        }
        fn insert(&self, key: u64, value: u64) {
            self.0.insert(key, V::wrap(value, self.1))
        }
    }

    struct QuickCache<V, W = quick_cache::UnitWeighter, B = quick_cache::DefaultHashBuilder>(
        quick_cache::sync::Cache<u64, V, W, B>,
        usize,
    );
    impl<V: Payload, W, B> CacheAdapter for QuickCache<V, W, B>
    where
        W: quick_cache::Weighter<u64, V> + Clone + Send + Sync,
        B: std::hash::BuildHasher + Clone + Send + Sync,
    {
        fn name(&self) -> &str {
            "quick_cache"
        }
        fn get(&self, key: u64) -> Option<u64> {
            self.0.get(&key).map(|v| v.unwrap())
        }
        fn insert(&self, key: u64, value: u64) {
            self.0.insert(key, V::wrap(value, self.1))
        }
    }

    /// `lru::LruCache` behind a mutex: the textbook baseline.
    struct Lru<V>(Mutex<lru::LruCache<u64, V>>, usize);
    impl<V: Payload> CacheAdapter for Lru<V> {
        fn name(&self) -> &str {
            "lru"
        }
        fn get(&self, key: u64) -> Option<u64> {
            // Cloned under the lock, read after it, as a user would.
            let value = self
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned();
            value.map(|v| v.unwrap())
        }
        fn insert(&self, key: u64, value: u64) {
            let value = V::wrap(value, self.1);
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(key, value);
        }
    }

    /// A clockwise cache of `capacity` entries listed in `registry` as
    /// `name`, so exporters see it while the harness drives it.
    ///
    /// ```
    /// use clockwise_stats::Registry;
    /// let registry = Registry::new();
    /// let cache = clockwise_bench::adapters::clockwise_in(&registry, "bench", 100).unwrap();
    /// cache.insert(1, 1);
    /// assert!(registry.contains("cache", "bench"));
    /// ```
    pub fn clockwise_in(
        registry: &clockwise_stats::Registry,
        name: &str,
        capacity: u64,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        if capacity == 0 {
            return Err(crate::Error::ZeroCapacity);
        }
        let cache = clockwise::Cache::builder()
            .max_capacity(capacity)
            .name(name)
            .registry(registry)
            .try_build()
            .map_err(|e| crate::Error::Config(e.to_string()))?;
        Ok(Box::new(Clockwise::<u64>(cache, 8)))
    }

    /// An engine by name, sized for `capacity` entries of `u64` values,
    /// each configured as its documentation recommends for an entry-count
    /// bound.
    pub fn build(name: &str, capacity: u64) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        build_with(name, &EngineOptions::new(capacity))
    }

    /// [`build`] with a time to live and a value size; engines without a
    /// time to live (quick_cache, lru) refuse one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use clockwise_bench::adapters::{build_with, EngineOptions};
    /// let ttl = EngineOptions { ttl: Some(Duration::from_secs(1)), ..EngineOptions::new(10) };
    /// assert!(build_with("moka", &ttl).is_ok());
    /// assert!(build_with("lru", &ttl).is_err());
    /// ```
    pub fn build_with(
        name: &str,
        options: &EngineOptions,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        if options.value_size > MAX_VALUE_SIZE {
            return Err(crate::Error::Config(format!(
                "value size {} is over the limit of {MAX_VALUE_SIZE} bytes",
                options.value_size
            )));
        }
        if options.weighted {
            if options.value_size > 8 {
                return Err(crate::Error::Config(
                    "weighted caches store each entry's weight as its value; --value-size does not apply".into(),
                ));
            }
            build_weighted(name, options)
        } else if options.value_size <= 8 {
            build_typed::<u64>(name, options)
        } else {
            build_typed::<Arc<[u8]>>(name, options)
        }
    }

    fn build_typed<V: Payload>(
        name: &str,
        options: &EngineOptions,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        let EngineOptions {
            capacity,
            ttl,
            value_size: size,
            ..
        } = *options;
        if ttl.is_some_and(|t| t.is_zero()) {
            return Err(crate::Error::Config("ttl must be longer than zero".into()));
        }
        let cap = NonZeroUsize::new(capacity as usize).ok_or(crate::Error::ZeroCapacity)?;
        let no_ttl = |engine: &str| match ttl {
            Some(_) => Err(crate::Error::Config(format!(
                "{engine} has no time to live"
            ))),
            None => Ok(()),
        };
        Ok(match name {
            "clockwise" => {
                let mut builder = clockwise::Cache::builder()
                    .max_capacity(capacity)
                    .name("bench");
                if let Some(ttl) = ttl {
                    builder = builder.time_to_live(ttl);
                }
                Box::new(Clockwise::<V>(builder.build(), size))
            }
            "moka" => {
                let mut builder = moka::sync::Cache::builder().max_capacity(capacity);
                if let Some(ttl) = ttl {
                    builder = builder.time_to_live(ttl);
                }
                Box::new(Moka::<V>(builder.build(), size))
            }
            "quick_cache" => {
                no_ttl(name)?;
                Box::new(QuickCache::<V>(
                    quick_cache::sync::Cache::new(cap.get()),
                    size,
                ))
            }
            "lru" => {
                no_ttl(name)?;
                Box::new(Lru::<V>(Mutex::new(lru::LruCache::new(cap)), size))
            }
            other => return Err(crate::Error::UnknownEngine(other.to_owned())),
        })
    }

    /// The weight a weighted adapter gives the value `v`.
    fn weight_of(v: u64) -> u32 {
        v.clamp(1, u64::from(u32::MAX)) as u32
    }

    #[derive(Clone)]
    struct ValueIsWeight;
    impl quick_cache::Weighter<u64, u64> for ValueIsWeight {
        fn weight(&self, _: &u64, v: &u64) -> u64 {
            u64::from(weight_of(*v))
        }
    }

    /// `lru::LruCache` bounded by total weight, behind a mutex: evicts the
    /// least recently used entries until the new one fits.
    struct WeightedLru(Mutex<(lru::LruCache<u64, u64>, u64)>, u64);
    impl CacheAdapter for WeightedLru {
        fn name(&self) -> &str {
            "lru"
        }
        fn get(&self, key: u64) -> Option<u64> {
            let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
            guard.0.get(&key).copied()
        }
        fn insert(&self, key: u64, value: u64) {
            let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let (lru, total) = &mut *guard;
            if let Some(old) = lru.pop(&key) {
                *total -= u64::from(weight_of(old));
            }
            let weight = u64::from(weight_of(value));
            if weight > self.1 {
                return; // heavier than the whole cache: not admitted
            }
            while *total + weight > self.1 {
                let (_, v) = lru.pop_lru().expect("over capacity means non-empty");
                *total -= u64::from(weight_of(v));
            }
            lru.put(key, value);
            *total += weight;
        }
    }

    fn build_weighted(
        name: &str,
        options: &EngineOptions,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        let capacity = options.capacity;
        if capacity == 0 {
            return Err(crate::Error::ZeroCapacity);
        }
        if options.ttl.is_some() {
            return Err(crate::Error::Config(
                "weighted replay takes no time to live".into(),
            ));
        }
        Ok(match name {
            "clockwise" => Box::new(Clockwise::<u64>(
                clockwise::Cache::builder()
                    .max_capacity(capacity)
                    .weigher(|_, v: &u64| weight_of(*v))
                    .name("bench")
                    .build(),
                8,
            )),
            "moka" => Box::new(Moka::<u64>(
                moka::sync::Cache::builder()
                    .max_capacity(capacity)
                    .weigher(|_, v: &u64| weight_of(*v))
                    .build(),
                8,
            )),
            "quick_cache" => Box::new(QuickCache::<u64, ValueIsWeight>(
                // The item estimate only sizes its first allocation.
                quick_cache::sync::Cache::with_weighter(
                    (capacity / 1024).clamp(64, 1 << 20) as usize,
                    capacity,
                    ValueIsWeight,
                ),
                8,
            )),
            "lru" => Box::new(WeightedLru(
                Mutex::new((lru::LruCache::unbounded(), 0)),
                capacity,
            )),
            other => return Err(crate::Error::UnknownEngine(other.to_owned())),
        })
    }
}
