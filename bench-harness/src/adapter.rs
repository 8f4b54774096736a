//! The caches under test, behind one trait.

use std::num::NonZeroUsize;
use std::sync::Mutex;

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

/// The built-in engines.
pub mod adapters {
    use super::*;

    /// Names accepted by [`build`].
    pub const NAMES: [&str; 4] = ["clockwise", "moka", "quick_cache", "lru"];

    struct Clockwise(clockwise::Cache<u64, u64>);
    impl CacheAdapter for Clockwise {
        fn name(&self) -> &str {
            "clockwise"
        }
        fn get(&self, key: u64) -> Option<u64> {
            self.0.get(&key)
        }
        fn insert(&self, key: u64, value: u64) {
            self.0.insert(key, value)
        }
    }

    struct Moka(moka::sync::Cache<u64, u64>);
    impl CacheAdapter for Moka {
        fn name(&self) -> &str {
            "moka"
        }
        fn get(&self, key: u64) -> Option<u64> {
            self.0.get(&key)
        }
        fn insert(&self, key: u64, value: u64) {
            self.0.insert(key, value)
        }
    }

    struct QuickCache(quick_cache::sync::Cache<u64, u64>);
    impl CacheAdapter for QuickCache {
        fn name(&self) -> &str {
            "quick_cache"
        }
        fn get(&self, key: u64) -> Option<u64> {
            self.0.get(&key)
        }
        fn insert(&self, key: u64, value: u64) {
            self.0.insert(key, value)
        }
    }

    /// `lru::LruCache` behind a mutex: the textbook baseline.
    struct Lru(Mutex<lru::LruCache<u64, u64>>);
    impl CacheAdapter for Lru {
        fn name(&self) -> &str {
            "lru"
        }
        fn get(&self, key: u64) -> Option<u64> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .copied()
        }
        fn insert(&self, key: u64, value: u64) {
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
        Ok(Box::new(Clockwise(cache)))
    }

    /// An engine by name, sized for `capacity` entries, each configured as
    /// its documentation recommends for an entry-count bound.
    pub fn build(name: &str, capacity: u64) -> Result<Box<dyn CacheAdapter>, crate::Error> {
        build_with_ttl(name, capacity, None)
    }

    /// [`build`] with every entry expiring `ttl` after its insert; engines
    /// without a time to live (quick_cache, lru) refuse one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use clockwise_bench::adapters::build_with_ttl;
    /// assert!(build_with_ttl("moka", 10, Some(Duration::from_secs(1))).is_ok());
    /// assert!(build_with_ttl("lru", 10, Some(Duration::from_secs(1))).is_err());
    /// ```
    pub fn build_with_ttl(
        name: &str,
        capacity: u64,
        ttl: Option<std::time::Duration>,
    ) -> Result<Box<dyn CacheAdapter>, crate::Error> {
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
                Box::new(Clockwise(builder.build()))
            }
            "moka" => {
                let mut builder = moka::sync::Cache::builder().max_capacity(capacity);
                if let Some(ttl) = ttl {
                    builder = builder.time_to_live(ttl);
                }
                Box::new(Moka(builder.build()))
            }
            "quick_cache" => {
                no_ttl(name)?;
                Box::new(QuickCache(quick_cache::sync::Cache::new(cap.get())))
            }
            "lru" => {
                no_ttl(name)?;
                Box::new(Lru(Mutex::new(lru::LruCache::new(cap))))
            }
            other => return Err(crate::Error::UnknownEngine(other.to_owned())),
        })
    }
}
