//! `get` and miss counts stay exact however they are recorded: in the
//! per-thread reclamation records (a column for a cache's gets and one for
//! its misses of absent keys, while columns last), in the counter stripes
//! (caches beyond the columns, including one that got a column for its gets
//! but none for its misses), from threads that have exited, and from a
//! thread's own teardown.

use clockwise::Cache;
use std::cell::RefCell;

fn cache() -> Cache<u64, u64> {
    let cache = Cache::builder().max_capacity(1_000).build();
    for k in 0..100 {
        cache.insert(k, k);
    }
    cache
}

/// `hits` gets of present keys and `misses` of absent ones.
fn read(cache: &Cache<u64, u64>, hits: u64, misses: u64) {
    for i in 0..hits {
        assert!(cache.get(&(i % 100)).is_some());
    }
    for i in 0..misses {
        assert!(cache.get(&(1_000 + i)).is_none());
    }
}

fn assert_counts(cache: &Cache<u64, u64>, hits: u64, misses: u64, what: &str) {
    let s = cache.stats();
    assert_eq!(s.gets(), hits + misses, "{what}: gets");
    assert_eq!(s.hits(), hits, "{what}: hits");
    assert_eq!(s.misses_absent(), misses, "{what}: misses");
}

#[test]
fn gets_are_exact_with_more_caches_than_record_columns() {
    // 100 caches with metrics alive at once, two columns each: more than
    // the records have (61 and a scratch one), so the later ones count
    // their misses, then their gets too, in their stripes.
    let caches: Vec<_> = (0..100).map(|_| cache()).collect();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let caches = &caches;
            s.spawn(move || {
                for (i, c) in caches.iter().enumerate() {
                    read(c, 10 + i as u64 + t, 3);
                }
            });
        }
    });
    for (i, c) in caches.iter().enumerate() {
        let i = i as u64;
        assert_counts(c, 2 * (10 + i) + 1, 6, &format!("cache {i}"));
    }
}

#[test]
fn a_new_cache_counts_from_zero_in_a_reused_column() {
    for round in 0..70u64 {
        // Each cache's column goes back when it is dropped and the next
        // cache likely takes it, with the old counts still in the records.
        let c = cache();
        read(&c, round, 1);
        assert_counts(&c, round, 1, &format!("round {round}"));
    }
}

#[test]
fn gets_of_exited_threads_stay_counted() {
    let c = cache();
    for t in 0..20u64 {
        std::thread::scope(|s| {
            s.spawn(|| read(&c, 50 + t, 2));
        });
    }
    // The threads' records went back and may serve other threads now.
    let hits: u64 = (0..20).map(|t| 50 + t).sum();
    assert_counts(&c, hits, 40, "after 20 threads");
    read(&c, 5, 0);
    assert_counts(&c, hits + 5, 40, "after more gets here");
}

/// Reads its cache when its thread's locals are destroyed.
struct ReadAtExit(Option<Cache<u64, u64>>);

impl Drop for ReadAtExit {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            read(&c, 7, 1);
        }
    }
}

thread_local! {
    static READ_AT_EXIT: RefCell<ReadAtExit> = const { RefCell::new(ReadAtExit(None)) };
}

#[test]
#[cfg_attr(miri, ignore = "thread-local destructor order is the platform's")]
fn gets_during_thread_teardown_are_counted() {
    let c = cache();
    let theirs = c.clone();
    std::thread::spawn(move || {
        // Registered before the thread's first pin, so destroyed after the
        // reclamation's own thread-local: these gets take a record for
        // their own duration.
        READ_AT_EXIT.with(|r| r.borrow_mut().0 = Some(theirs.clone()));
        read(&theirs, 3, 0);
    })
    .join()
    .unwrap();
    assert_counts(&c, 10, 1, "with the teardown's gets");
}

#[test]
#[cfg_attr(miri, ignore = "600k operations: minutes under Miri")]
fn gets_are_exact_under_writes_invalidation_and_thread_churn() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let cache: Cache<u64, u64> = Cache::builder().max_capacity(2_000).build();
    let (gets, hits) = (AtomicU64::new(0), AtomicU64::new(0));
    // Fresh threads every round: records change hands all the time.
    for round in 0..30u64 {
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (cache, gets, hits) = (&cache, &gets, &hits);
                s.spawn(move || {
                    let mut x = (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ round;
                    for _ in 0..5_000 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = x % 5_000;
                        match x >> 60 {
                            0..=9 => {
                                gets.fetch_add(1, Ordering::Relaxed);
                                if let Some(v) = cache.get(&k) {
                                    assert_eq!(v >> 20, k, "a value of another key");
                                    hits.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            10..=13 => cache.insert(k, k << 20 | (x & 0xfffff)),
                            14 => drop(cache.remove(&k)),
                            _ if x & 0x3ff == 0 => cache.invalidate_all(),
                            _ => {}
                        }
                    }
                });
            }
        });
    }
    let s = cache.stats();
    assert_eq!(s.gets(), gets.into_inner());
    assert_eq!(s.hits(), hits.into_inner());
}
