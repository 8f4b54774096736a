//! The entry API: or-methods are the loaders with freshness told;
//! computes are atomic per key (serialized with each other, superseded by
//! any write they did not see), never wedged by a panic or a recursive
//! call.

mod support;

use clockwise::{Cache, CompResult, Entry, Op, RemovalCause, RECURSIVE_LOAD};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use support::CountedKey;

fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn sixty_four_or_insert_with_callers_run_one_init_and_one_is_fresh() {
    let c: Cache<u64, u64> = Cache::new(100);
    let barrier = Barrier::new(64);
    let inits = AtomicUsize::new(0);
    let entries: Vec<Entry<u64, u64>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..64)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    c.entry(7).or_insert_with(|| {
                        inits.fetch_add(1, Ordering::SeqCst);
                        until("63 waiters", || c.stats().coalesced_waiters() == 63);
                        70
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(inits.load(Ordering::SeqCst), 1);
    assert!(entries.iter().all(|e| *e.key() == 7 && *e.value() == 70));
    assert_eq!(entries.iter().filter(|e| e.is_fresh()).count(), 1);
    assert!(!c.entry(7).or_insert(71).is_fresh());
}

#[test]
fn concurrent_computes_lose_no_update_and_never_overlap() {
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 500;
    let c: Cache<u64, u64> = Cache::new(100);
    let inside = [AtomicUsize::new(0), AtomicUsize::new(0)];
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (c, inside) = (&c, &inside);
            s.spawn(move || {
                for i in 0..ROUNDS {
                    let key = (t + i) % 2;
                    let step = |e: Option<Entry<u64, u64>>| {
                        assert_eq!(inside[key as usize].fetch_add(1, Ordering::SeqCst), 0);
                        let next = e.map_or(1, |e| e.into_value() + 1);
                        inside[key as usize].fetch_sub(1, Ordering::SeqCst);
                        next
                    };
                    if i % 2 == 0 {
                        c.entry(key).and_upsert_with(step);
                    } else {
                        c.entry(key).and_compute_with(|e| Op::Put(step(e)));
                    }
                }
            });
        }
    });
    assert_eq!(c.get(&0).unwrap() + c.get(&1).unwrap(), THREADS * ROUNDS);
}

#[test]
fn a_compute_overtaken_by_an_insert_leaves_the_insert() {
    let c: Cache<u64, u64> = Cache::new(100);
    c.insert(7, 1);
    let read = Barrier::new(2);
    let written = Barrier::new(2);
    std::thread::scope(|s| {
        let compute = s.spawn(|| {
            c.entry(7).and_compute_with(|e| {
                read.wait();
                written.wait();
                Op::Put(e.unwrap().into_value() + 1)
            })
        });
        read.wait();
        c.insert(7, 10);
        written.wait();
        // Ordered before the insert: it replaced 1 with 2, then the insert
        // replaced that.
        assert!(matches!(compute.join().unwrap(), CompResult::ReplacedWith(e) if *e.value() == 2));
    });
    assert_eq!(c.get(&7), Some(10));
    // The same for a removal: the insert's value stays.
    std::thread::scope(|s| {
        let compute = s.spawn(|| {
            c.entry(7).and_compute_with(|_| {
                read.wait();
                written.wait();
                Op::Remove
            })
        });
        read.wait();
        c.insert(7, 11);
        written.wait();
        compute.join().unwrap();
    });
    assert_eq!(c.get(&7), Some(11));
}

#[test]
fn a_compute_overtaken_by_a_load_leaves_the_loaded_value() {
    let c: Cache<u64, u64> = Cache::new(100);
    let read = Barrier::new(2);
    let loaded = Barrier::new(2);
    std::thread::scope(|s| {
        let compute = s.spawn(|| {
            c.entry(7).and_compute_with(|e| {
                assert!(e.is_none());
                read.wait();
                loaded.wait();
                Op::Put(1)
            })
        });
        read.wait();
        assert_eq!(c.get_with(7, || 5), 5);
        loaded.wait();
        compute.join().unwrap();
    });
    assert_eq!(c.get(&7), Some(5));
}

#[test]
fn an_eviction_during_a_compute_does_not_stop_its_put() {
    let c: Cache<u64, u64> = Cache::builder().max_capacity(1).shards(1).build();
    c.insert(7, 1);
    let read = Barrier::new(2);
    let evicted = Barrier::new(2);
    std::thread::scope(|s| {
        let compute = s.spawn(|| {
            c.entry(7).and_compute_with(|e| {
                read.wait();
                evicted.wait();
                Op::Put(e.unwrap().into_value() + 1)
            })
        });
        read.wait();
        c.insert(8, 8); // evicts 7: not a write of 7
        assert!(!c.contains_key(&7));
        evicted.wait();
        compute.join().unwrap();
    });
    assert_eq!(c.get(&7), Some(2));
}

#[test]
fn a_panicking_or_recursive_compute_changes_nothing_and_wedges_nothing() {
    let c: Cache<u64, u64> = Cache::new(100);
    c.insert(1, 1);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        c.entry(1)
            .and_compute_with(|_| -> Op<u64> { panic!("compute bug") })
    }));
    assert!(panicked.is_err());
    assert_eq!(c.get(&1), Some(1));
    let recursive = catch_unwind(AssertUnwindSafe(|| {
        c.entry(1)
            .and_compute_with(|_| c.entry(1).and_compute_with(|_| Op::Put(3)).into_op())
    }));
    let message = *recursive.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(message, RECURSIVE_LOAD);
    assert_eq!(c.get(&1), Some(1));
    // Neither left the key's computes waiting.
    assert_eq!(c.entry(1).and_upsert_with(|_| 4).into_value(), 4);
    let failed = c.entry(1).and_try_compute_with(|_| Err::<Op<u64>, _>("no"));
    assert_eq!(failed.unwrap_err(), "no");
    assert_eq!(c.get(&1), Some(4));
}

/// Turns a compute's result into the op that would restore its value.
trait IntoOp {
    fn into_op(self) -> Op<u64>;
}

impl IntoOp for CompResult<u64, u64> {
    fn into_op(self) -> Op<u64> {
        match self {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) | CompResult::Unchanged(e) => {
                Op::Put(e.into_value())
            }
            CompResult::Removed(_) | CompResult::StillNone(_) => Op::Remove,
        }
    }
}

#[test]
fn computes_report_what_they_did_and_the_listener_hears_why() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .eviction_listener(move |k, v, cause| sink.lock().unwrap().push((*k, *v, cause)))
        .build();
    assert!(matches!(
        c.entry(1).and_compute_with(|_| Op::Nop),
        CompResult::StillNone(1)
    ));
    assert!(matches!(
        c.entry(1).and_compute_with(|_| Op::Remove),
        CompResult::StillNone(1)
    ));
    let CompResult::Inserted(e) = c.entry(1).and_compute_with(|_| Op::Put(10)) else {
        panic!("inserted")
    };
    assert!(e.is_fresh() && !e.is_old_value_replaced());
    let CompResult::Unchanged(e) = c.entry(1).and_compute_with(|_| Op::Nop) else {
        panic!("unchanged")
    };
    assert!(!e.is_fresh() && *e.value() == 10);
    let CompResult::ReplacedWith(e) = c.entry(1).and_compute_with(|_| Op::Put(11)) else {
        panic!("replaced")
    };
    assert!(e.is_fresh() && e.is_old_value_replaced());
    let CompResult::Removed(e) = c.entry(1).and_compute_with(|_| Op::Remove) else {
        panic!("removed")
    };
    assert_eq!(*e.value(), 11);
    assert_eq!(c.get(&1), None);
    assert_eq!(
        *heard.lock().unwrap(),
        [
            (1, 10, RemovalCause::Replaced),
            (1, 11, RemovalCause::Explicit)
        ]
    );
}

#[test]
fn entry_by_ref_builds_the_owned_key_only_on_a_miss() {
    let clones = support::key_clones;
    let c: Cache<CountedKey, u32> = Cache::new(100);
    let e = c.entry_by_ref(&CountedKey(1)).or_insert_with(|| 10);
    assert!(e.is_fresh());
    assert_eq!(*e.key(), &CountedKey(1));
    let before = clones();
    for _ in 0..10 {
        let e = c
            .entry_by_ref(&CountedKey(1))
            .or_insert_with(|| unreachable!("cached"));
        assert!(!e.is_fresh() && *e.value() == 10);
        assert!(c.entry_by_ref(&CountedKey(1)).or_default().value() == &10);
        let e = c
            .entry_by_ref(&CountedKey(1))
            .or_try_insert_with(|| Err::<u32, ()>(()));
        assert_eq!(e.unwrap().into_value(), 10);
        let e = c
            .entry_by_ref(&CountedKey(1))
            .or_optionally_insert_with(|| None);
        assert_eq!(e.unwrap().into_value(), 10);
    }
    assert_eq!(clones(), before, "a hit built the owned key");
    // The owned selector on a hit clones nothing either.
    let before = clones();
    let e = c.entry(CountedKey(1)).or_insert(0);
    assert_eq!((e.into_key(), clones()), (CountedKey(1), before));
    // Computes build it (the key's computes are serialized by it).
    let e = c.entry_by_ref(&CountedKey(2)).and_upsert_with(|_| 20);
    assert_eq!(*e.key(), CountedKey(2));
    assert_eq!(c.get(&CountedKey(2)), Some(20));
}

#[test]
fn or_optionally_insert_with_remembers_an_absence() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_secs(60))
        .build();
    assert!(c.entry(1).or_optionally_insert_with(|| None).is_none());
    assert!(c
        .entry(1)
        .or_optionally_insert_with(|| unreachable!("remembered"))
        .is_none());
    assert_eq!(c.stats().negative_hits(), 1);
    // A compute's put is a write: the absence is forgotten.
    c.entry(1).and_upsert_with(|_| 5);
    let e = c.entry(1).or_optionally_insert_with(|| None).unwrap();
    assert_eq!((*e.value(), e.is_fresh()), (5, false));
}

/// A compute's write that needs more than its shard's share of the
/// capacity takes the heavy path (every shard's lock): it is stored, and
/// the compute is checked and unregistered there.
#[test]
fn a_compute_writing_an_entry_heavier_than_its_shards_share_stores_it() {
    let c: Cache<u8, u16> = Cache::builder()
        .max_capacity(13)
        .shards(4)
        .weigher(|_, v: &u16| u32::from(*v % 4))
        .build();
    c.set_capacity(2).unwrap();
    c.insert(162, 1);
    let e = c.entry(1).and_upsert_with(|_| 2);
    assert!(e.is_fresh());
    assert_eq!(c.get(&1), Some(2));
    assert!(c.weighted_size() <= 2);
    // Over the whole capacity: refused, and the key's computes go on.
    let e = c.entry(1).and_upsert_with(|_| 3);
    assert_eq!(*e.value(), 3);
    assert_eq!(c.get(&1), None);
    assert_eq!(c.stats().rejected(), 1);
    assert_eq!(c.entry(1).and_upsert_with(|_| 1).into_value(), 1);
    assert_eq!(c.get(&1), Some(1));
}
