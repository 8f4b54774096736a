//! Capacity as users read it: `max_capacity(n)` holds `n` entries however
//! the keys fall on the shards, any entry up to the whole capacity is
//! stored, and a heavier one is refused and reported.

use crate::{Cache, RemovalCause};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

/// A cache of `capacity` over `shards` shards (the default count if 0)
/// whose values weigh themselves, and what its listener heard.
fn weighted(capacity: u64, shards: usize) -> (Cache<u64, u64>, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let mut builder = Cache::builder()
        .max_capacity(capacity)
        .weigher(|_, v: &u64| *v as u32)
        .eviction_listener(move |k: &u64, v: &u64, c| sink.lock().unwrap().push((*k, *v, c)));
    if shards > 0 {
        builder = builder.shards(shards);
    }
    (builder.build(), seen)
}

fn count(seen: &Seen, cause: RemovalCause) -> usize {
    seen.lock().unwrap().iter().filter(|e| e.2 == cause).count()
}

#[test]
fn n_distinct_keys_fit_in_a_cache_of_n() {
    for (capacity, shards) in [
        (1, 1),
        (2, 2),
        (7, 2),
        (100, 4),
        (1_000, 8),
        (1_000, 16),
        (4_096, 64),
        (10_000, 0),
        (100_000, 0),
    ] {
        let (cache, seen) = weighted(capacity, shards);
        // Weight 1 each, and keys spread as the hash spreads them: some
        // shards get more than their even share.
        for k in 0..capacity {
            cache.insert(k, 1);
        }
        assert_eq!(
            count(&seen, RemovalCause::Capacity),
            0,
            "capacity {capacity}, {shards} shards: evicted with room"
        );
        assert_eq!(
            cache.len(),
            capacity,
            "capacity {capacity}, {shards} shards"
        );
        assert!((0..capacity).all(|k| cache.peek(&k) == Some(1)));
        cache.validate();
        // One more key evicts exactly one.
        cache.insert(capacity, 1);
        assert_eq!(count(&seen, RemovalCause::Capacity), 1);
        assert_eq!(cache.len(), capacity);
        cache.validate();
    }
}

#[test]
fn removed_entries_leave_room_for_keys_of_any_shard() {
    let (cache, seen) = weighted(1_000, 16);
    for k in 0..1_000 {
        cache.insert(k, 1);
    }
    // Free 500 units in whichever shards these keys live, then fill them
    // with other keys: wherever those fall, nothing is evicted.
    for k in 0..500 {
        cache.invalidate(&k);
    }
    for k in 10_000..10_500 {
        cache.insert(k, 1);
    }
    assert_eq!(count(&seen, RemovalCause::Capacity), 0);
    assert_eq!(cache.len(), 1_000);
    cache.validate();
}

#[test]
fn an_entry_may_weigh_the_whole_capacity() {
    let (cache, seen) = weighted(1_000, 8);
    for k in 0..1_000 {
        cache.insert(k, 1);
    }
    // Far over one shard's share (125): stored, at the cost of 400 others.
    cache.insert(5_000, 400);
    assert_eq!(cache.get(&5_000), Some(400));
    assert_eq!(cache.weighted_size(), 1_000);
    assert_eq!(count(&seen, RemovalCause::Capacity), 400);
    cache.validate();
    // The whole capacity: everything else goes.
    cache.insert(6_000, 1_000);
    assert_eq!(cache.get(&6_000), Some(1_000));
    assert_eq!((cache.len(), cache.weighted_size()), (1, 1_000));
    cache.validate();
    // Small entries again: the heavy one goes at the first, and then the
    // cache fills up to its whole capacity without evicting.
    let before = count(&seen, RemovalCause::Capacity);
    for k in 0..1_000 {
        cache.insert(k, 1);
    }
    assert_eq!(cache.get(&6_000), None);
    assert_eq!(
        count(&seen, RemovalCause::Capacity),
        before + 1,
        "{:?}",
        &seen.lock().unwrap()[before..]
    );
    assert_eq!(cache.len(), 1_000);
    cache.validate();
}

#[test]
fn a_heavy_update_grows_in_place() {
    let (cache, seen) = weighted(100, 4);
    cache.insert(1, 10);
    cache.insert(1, 100);
    assert_eq!(cache.get(&1), Some(100));
    assert_eq!(count(&seen, RemovalCause::Replaced), 1);
    assert_eq!(count(&seen, RemovalCause::Capacity), 0);
    cache.validate();
}

#[test]
fn an_entry_over_the_capacity_is_refused_and_reported() {
    let (cache, seen) = weighted(100, 4);
    cache.insert(1, 10);
    // `insert`: the listener hears of the refused entry, and the key's
    // old value does not outlive the write.
    cache.insert(1, 101);
    assert_eq!(cache.get(&1), None);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, 10, RemovalCause::Replaced),
            (1, 101, RemovalCause::Rejected)
        ]
    );
    // `try_insert`: nothing changes, and the entry comes back.
    cache.insert(2, 20);
    let err = cache.try_insert(2, 200).unwrap_err();
    assert_eq!((err.weight(), err.capacity()), (200, 100));
    assert_eq!(err.into_parts(), (2, 200));
    assert_eq!(cache.get(&2), Some(20));
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "try_insert told the listener"
    );
    assert_eq!(cache.stats().rejected(), 2);
    assert!(cache.try_insert(3, 80).is_ok());
    assert_eq!(cache.get(&3), Some(80));
    cache.validate();
}

#[test]
fn set_capacity_shrinks_by_evicting_and_grows_at_once() {
    let (cache, seen) = weighted(1_000, 8);
    for k in 0..1_000 {
        cache.insert(k, 1);
    }
    cache.set_capacity(100).unwrap();
    assert_eq!((cache.capacity(), cache.len()), (100, 100));
    assert_eq!(count(&seen, RemovalCause::Capacity), 900);
    assert_eq!(cache.stats().capacity(), 100);
    cache.validate();
    // Refused by the new capacity, stored within it.
    assert!(cache.try_insert(5_000, 101).is_err());
    cache.insert(5_000, 100);
    assert_eq!((cache.len(), cache.get(&5_000)), (1, Some(100)));
    cache.validate();
    // Growing: the whole new capacity is usable by any keys at once.
    cache.set_capacity(2_000).unwrap();
    let before = count(&seen, RemovalCause::Capacity);
    for k in 0..1_900 {
        cache.insert(k, 1);
    }
    assert_eq!(count(&seen, RemovalCause::Capacity), before);
    assert_eq!(cache.weighted_size(), 2_000);
    assert_eq!(cache.stats().capacity(), 2_000);
    cache.validate();
    assert_eq!(cache.set_capacity(0), Err(crate::ConfigError::ZeroCapacity));
    assert_eq!(cache.capacity(), 2_000);
}

#[test]
fn set_capacity_to_one_over_many_shards() {
    let (cache, _) = weighted(10_000, 16);
    for k in 0..10_000 {
        cache.insert(k, 1);
    }
    cache.set_capacity(1).unwrap();
    assert_eq!(cache.len(), 1);
    cache.validate();
    for k in 0..100 {
        cache.insert(k, 1);
        assert_eq!(cache.len(), 1);
    }
    cache.set_capacity(10_000).unwrap();
    for k in 0..10_000 {
        cache.insert(k, 1);
    }
    assert_eq!(cache.len(), 10_000);
    cache.validate();
}

#[test]
fn heavy_entries_racing_a_shrink_are_refused_not_a_panic() {
    // An entry checked against the capacity before a resize lowers it may
    // reach the shards after they shrank below its weight: it must be
    // refused (Rejected) like any entry over the capacity.
    let (cache, seen) = weighted(1_000, 4);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let resizer = {
        let (cache, stop) = (cache.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                cache.set_capacity(100).unwrap();
                cache.set_capacity(1_000).unwrap();
            }
        })
    };
    for k in 0..20_000 {
        cache.insert(k % 64, 900);
        cache.insert(1_000 + k % 64, 1);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    resizer.join().unwrap();
    cache.validate();
    assert!(cache.weighted_size() <= cache.capacity());
    let rejected = count(&seen, RemovalCause::Rejected) as u64;
    assert_eq!(cache.stats().rejected(), rejected);
}
