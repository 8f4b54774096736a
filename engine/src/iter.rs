//! Iteration over a cache's entries: [`Cache::iter`].
//!
//! Lock-free like `get`: each shard's table is read under one reclamation
//! pin, without its write lock, and its live entries (each key once) are
//! cloned into a buffer that the iterator then hands out. So writers never wait for an
//! iteration, an iteration never sees a half-published entry, and it holds
//! no pin between calls to `next` (a slow consumer does not hold back the
//! reclamation of removed entries). Reading does not count as a use: no
//! reference bit is set and no metric is counted.

use crate::cache::Cache;
use crate::entry::EntryRef;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hash};

/// An iterator over a cache's unexpired entries, as `(key, value)` clones;
/// made by [`Cache::iter`].
///
/// Weakly consistent: each shard is read in one pass, so an entry present
/// for the whole iteration is yielded exactly once, while one inserted or
/// removed meanwhile may or may not be; no key is yielded twice. The order
/// is unspecified. The iterator buffers one shard's entries at a time.
pub struct Iter<'a, K, V, S> {
    cache: &'a Cache<K, V, S>,
    /// The next shard to read.
    shard: usize,
    /// The entries read from the shard before it, not yet yielded.
    buffer: std::vec::IntoIter<(K, V)>,
}

impl<K, V, S> std::fmt::Debug for Iter<'_, K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("cache", self.cache)
            .field("next_shard", &self.shard)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// Iterates over the unexpired entries, cloning each key and value.
    /// Takes no lock and does not count as a use of the entries; see
    /// [`Iter`] for what a concurrent iteration sees.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, &str> = clockwise::Cache::builder().max_capacity(10).build();
    /// cache.insert(1, "one");
    /// cache.insert(2, "two");
    /// let mut all: Vec<(u32, &str)> = cache.iter().collect();
    /// all.sort();
    /// assert_eq!(all, [(1, "one"), (2, "two")]);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, S>
    where
        K: Clone,
    {
        Iter {
            cache: self,
            shard: 0,
            buffer: Vec::new().into_iter(),
        }
    }
}

impl<K, V, S> Iterator for Iter<'_, K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(item) = self.buffer.next() {
                return Some(item);
            }
            let shard = self.cache.shard_at(self.shard)?;
            self.shard += 1;
            let now = self.cache.now();
            let guard = crate::reclaim::pin();
            // A key removed and inserted again while the pass runs can sit
            // in two slots of it: behind the pass, then ahead of it, where
            // its probe sequence wraps around the table's end. So a set of
            // keys keeps the first one seen. The entries are listed first
            // and the set sized for them: growing it would rehash every key
            // read so far, each a miss into its entry. (Listing and
            // deduplicating in one pass was slower for that reason.)
            let found: Vec<EntryRef<'_, K, V>> =
                shard.entries(&guard).filter(|e| !e.expired(now)).collect();
            let mut keys: HashSet<&K, ahash::RandomState> =
                HashSet::with_capacity_and_hasher(found.len(), ahash::RandomState::new());
            let live: Vec<(K, V)> = found
                .into_iter()
                .filter(|e| keys.insert(&e.get().key))
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect();
            self.buffer = live.into_iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Cache;
    use std::collections::HashSet;
    use std::time::Duration;

    #[test]
    fn yields_every_live_entry_once_and_skips_expired_ones() {
        let (clock, mock) = clockwise_stats::Clock::mock();
        let cache: Cache<u32, u32> = Cache::builder()
            .max_capacity(1_000)
            .shards(8)
            .clock(clock)
            .build();
        for k in 0..500 {
            cache.insert(k, k * 10);
        }
        for k in 500..600 {
            cache.insert_with_ttl(k, k * 10, Duration::from_secs(1));
        }
        let all: Vec<(u32, u32)> = cache.iter().collect();
        assert_eq!(all.len(), 600);
        let keys: HashSet<u32> = all.iter().map(|&(k, _)| k).collect();
        assert_eq!(keys.len(), 600, "a key yielded twice");
        assert!(all.iter().all(|&(k, v)| v == k * 10));
        mock.increment(Duration::from_secs(2));
        let live: HashSet<u32> = cache.iter().map(|(k, _)| k).collect();
        assert_eq!(live, (0..500).collect());
    }

    #[test]
    fn reading_is_not_a_use() {
        let cache: Cache<u32, u32> = Cache::builder().max_capacity(100).build();
        cache.insert(1, 1);
        let before = cache.stats();
        assert_eq!(cache.iter().count(), 1);
        let after = cache.stats();
        assert_eq!(after.gets(), before.gets());
        assert_eq!(after.hits(), before.hits());
    }

    #[test]
    fn runs_beside_writers() {
        let cache: Cache<u64, u64> = Cache::builder().max_capacity(2_000).shards(4).build();
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..20_000u64 {
                    let k = i % 5_000;
                    if i % 3 == 0 {
                        cache.remove(&k);
                    } else {
                        cache.insert(k, k + 1);
                    }
                }
            });
            for _ in 0..20 {
                let mut seen = HashSet::new();
                for (k, v) in cache.iter() {
                    assert_eq!(v, k + 1, "a value not written for its key");
                    assert!(seen.insert(k), "key {k} yielded twice");
                }
                // No bound by the capacity: a pass over a shard can meet
                // entries inserted ahead of it after others it already read
                // were evicted.
            }
        });
    }
}
