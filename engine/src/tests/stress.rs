//! Threads reading (`get`, `peek`, `iter`), writing, removing and
//! invalidating at once, bounded in
//! operation count. Values encode their key, so a torn or misplaced read
//! shows; `validate()` checks every invariant after the threads are joined.

use crate::{Cache, RemovalCause};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

const KEYS: u64 = 512;

fn value(key: u64, version: u64) -> u64 {
    (key << 32) | (version & 0xffff_ffff)
}

fn hammer(cache: Cache<u64, u64>, threads: usize, ops: u64) {
    let barrier = Arc::new(Barrier::new(threads));
    let initial = cache.capacity();
    let removed = Arc::new(AtomicU64::new(0));
    // Gets and hits the threads saw.
    let seen = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, barrier, removed, seen) = (
                cache.clone(),
                Arc::clone(&barrier),
                Arc::clone(&removed),
                Arc::clone(&seen),
            );
            thread::spawn(move || {
                barrier.wait();
                let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t as u64 + 1);
                for i in 0..ops {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = x % KEYS;
                    match (t, x % 100) {
                        (0, 0) if i % 4096 == 0 => cache.invalidate_all(),
                        // Resizes racing every other operation: between
                        // the initial capacity and about half of it.
                        (1, 0) => {
                            let half = initial / 2 + 1;
                            let to = if cache.capacity() == initial {
                                half
                            } else {
                                initial
                            };
                            cache.set_capacity(to).unwrap();
                        }
                        (_, 0..=54) => {
                            seen[0].fetch_add(1, Ordering::Relaxed);
                            if let Some(v) = cache.get(&key) {
                                seen[1].fetch_add(1, Ordering::Relaxed);
                                assert_eq!(v >> 32, key, "read another key's value");
                            }
                        }
                        (_, 55..=59) => {
                            if let Some(v) = cache.peek(&key) {
                                assert_eq!(v >> 32, key, "peeked another key's value");
                            }
                        }
                        (_, 60..=89) => cache.insert(key, value(key, i)),
                        (_, 90..=97) => {
                            if let Some(v) = cache.remove(&key) {
                                assert_eq!(v >> 32, key);
                                removed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        (_, 98) => cache.retain(|k, v| v >> 32 == *k && k % 7 != 0),
                        _ => {
                            let mut keys = std::collections::HashSet::new();
                            for (k, v) in cache.iter() {
                                assert_eq!(v >> 32, k, "iterated another key's value");
                                assert!(keys.insert(k), "key {k} iterated twice");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    cache.validate();
    assert!(cache.len() <= cache.capacity());
    if cache.inner.stats.metrics.is_none() {
        return;
    }
    let stats = cache.stats();
    let (gets, hits) = (
        seen[0].load(Ordering::Relaxed),
        seen[1].load(Ordering::Relaxed),
    );
    assert_eq!(stats.gets(), gets);
    assert_eq!(stats.hits(), hits);
    assert_eq!(stats.misses_absent() + stats.misses_expired(), gets - hits);
    assert!(stats.removals(RemovalCause::Explicit) >= removed.load(Ordering::Relaxed));
}

/// The stress mix, small enough for Miri (`.ci/run` runs it under Miri with
/// Tree Borrows): publication, lookup, replacement, eviction, removal,
/// `retain` and `invalidate_all` from two threads on one small shard, so
/// that the unsafe table, entry and reclamation code is exercised with
/// real concurrency and checked for undefined behaviour.
#[test]
fn miri_smoke() {
    // Without stats: their histograms are megabytes of atomics that Miri
    // would zero one by one, and that code has no `unsafe` to check.
    let cache = Cache::builder()
        .max_capacity(8)
        .shards(1)
        .stats(false)
        .build();
    hammer(cache, 2, 800);
}

/// `miri_smoke` on entries with stamps in front (a time to idle that
/// nothing reaches): their blocks are reached from the entry pointer and
/// freed through it, and reads move their deadlines. Entries written
/// before the cache kept times (no stamps) live beside them.
#[test]
fn miri_smoke_with_stamps() {
    let cache = Cache::builder()
        .max_capacity(8)
        .shards(1)
        .stats(false)
        .build();
    for k in 0..4 {
        cache.insert(k, value(k, 0));
    }
    // From here on, entries carry stamps.
    cache.insert_with_ttl(4, value(4, 0), std::time::Duration::from_secs(3600));
    hammer(cache, 2, 400);
    let cache = Cache::builder()
        .max_capacity(8)
        .shards(1)
        .stats(false)
        .time_to_idle(std::time::Duration::from_secs(3600))
        .build();
    hammer(cache, 2, 400);
}

#[test]
#[cfg_attr(miri, ignore = "minutes under Miri; miri_smoke covers the same code")]
fn readers_writers_removers_and_invalidation_at_once() {
    let cache = Cache::builder().max_capacity(256).shards(4).build();
    hammer(cache, 4, 40_000);
}

#[test]
#[cfg_attr(miri, ignore = "minutes under Miri; miri_smoke covers the same code")]
fn one_small_shard_under_heavy_eviction() {
    let cache = Cache::builder().max_capacity(16).shards(1).build();
    hammer(cache, 3, 40_000);
}

#[test]
#[cfg_attr(miri, ignore = "minutes under Miri; miri_smoke covers the same code")]
fn weighted_entries_under_contention() {
    let cache = Cache::builder()
        .max_capacity(300)
        .shards(2)
        .weigher(|k: &u64, _: &u64| (k % 5 + 1) as u32)
        .build();
    hammer(cache, 4, 30_000);
    // `hammer` validated; weights must respect the capacity too.
}

/// Short-lived threads come and go while others read and write: records
/// are handed back and reused, bags of exiting threads are handed over,
/// and every value is freed exactly once.
#[test]
#[cfg_attr(miri, ignore = "hundreds of threads: minutes under Miri")]
fn threads_that_come_and_go_free_every_value_once() {
    use std::sync::atomic::AtomicUsize;

    /// Counts its live copies; encodes its key.
    struct Tracked(u64, Arc<AtomicUsize>);
    impl Clone for Tracked {
        fn clone(&self) -> Self {
            self.1.fetch_add(1, Ordering::SeqCst);
            Tracked(self.0, Arc::clone(&self.1))
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
    }

    let live = Arc::new(AtomicUsize::new(0));
    let cache: Cache<u64, Tracked> = Cache::builder().max_capacity(64).shards(2).build();
    let steady = {
        let (cache, live) = (cache.clone(), Arc::clone(&live));
        thread::spawn(move || {
            for i in 0..50_000u64 {
                let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 256;
                if let Some(v) = cache.get(&key) {
                    assert_eq!(v.0, key, "read another key's value");
                }
                if i % 3 == 0 {
                    live.fetch_add(1, Ordering::SeqCst);
                    cache.insert(key, Tracked(key, Arc::clone(&live)));
                }
            }
        })
    };
    for round in 0..200u64 {
        let (cache, live) = (cache.clone(), Arc::clone(&live));
        thread::spawn(move || {
            for i in 0..200u64 {
                let key = (round * 31 + i * 7) % 256;
                live.fetch_add(1, Ordering::SeqCst);
                cache.insert(key, Tracked(key, Arc::clone(&live)));
                if let Some(v) = cache.get(&((key + 1) % 256)) {
                    assert_eq!(v.0, (key + 1) % 256);
                }
            }
        })
        .join()
        .unwrap();
    }
    steady.join().unwrap();
    cache.validate();
    drop(cache);
    // Other tests' readers can hold a batch back for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while live.load(Ordering::SeqCst) != 0 && std::time::Instant::now() < deadline {
        crate::collect_garbage();
        thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "a value leaked or was freed twice"
    );
}
