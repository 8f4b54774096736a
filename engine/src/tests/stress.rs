//! Threads reading, writing, removing and invalidating at once, bounded in
//! operation count. Values encode their key, so a torn or misplaced read
//! shows; `validate()` checks every invariant after the threads are joined.

use crate::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

const KEYS: u64 = 512;

/// Operations per thread: Miri (`.ci/run`) interprets every instruction and
/// checks every access, so it runs a short version of each test.
const fn ops(n: u64) -> u64 {
    if cfg!(miri) {
        n / 200
    } else {
        n
    }
}

fn value(key: u64, version: u64) -> u64 {
    (key << 32) | (version & 0xffff_ffff)
}

fn hammer(cache: Cache<u64, u64>, threads: usize, ops: u64) {
    let barrier = Arc::new(Barrier::new(threads));
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
                        (_, 0..=59) => {
                            seen[0].fetch_add(1, Ordering::Relaxed);
                            if let Some(v) = cache.get(&key) {
                                seen[1].fetch_add(1, Ordering::Relaxed);
                                assert_eq!(v >> 32, key, "read another key's value");
                            }
                        }
                        (_, 60..=89) => cache.insert(key, value(key, i)),
                        (_, 90..=97) => {
                            if let Some(v) = cache.remove(&key) {
                                assert_eq!(v >> 32, key);
                                removed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => cache.retain(|k, v| v >> 32 == *k && k % 7 != 0),
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
    let stats = cache.stats();
    let (gets, hits) = (seen[0].load(Ordering::Relaxed), seen[1].load(Ordering::Relaxed));
    assert_eq!(stats.counter("get"), gets);
    assert_eq!(stats.counter("hit"), hits);
    assert_eq!(
        stats.counter("miss_absent") + stats.counter("miss_expired"),
        gets - hits
    );
    assert!(stats.counter("removed_explicit") >= removed.load(Ordering::Relaxed));
}

#[test]
fn readers_writers_removers_and_invalidation_at_once() {
    let cache = Cache::builder().max_capacity(256).shards(4).build();
    hammer(cache, 4, ops(40_000));
}

#[test]
fn one_small_shard_under_heavy_eviction() {
    let cache = Cache::builder().max_capacity(16).shards(1).build();
    hammer(cache, 3, ops(40_000));
}

#[test]
fn weighted_entries_under_contention() {
    let cache = Cache::builder()
        .max_capacity(300)
        .shards(2)
        .weigher(|k: &u64, _: &u64| (k % 5 + 1) as u32)
        .build();
    hammer(cache, 4, ops(30_000));
    // `hammer` validated; weights must respect the capacity too.
}
