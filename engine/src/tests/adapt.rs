//! The policy's adaptation through a real cache: hits on any thread and
//! writes reach the cold floor's simulations, and the floor they choose
//! reaches every shard's policy; the admission window climbs on the
//! cache's hit ratio, on every shard.

use crate::clock_pro::{WHOLE, WINDOW_SHARE};
use crate::Cache;

/// Keys from `from` on whose hashes the cache samples, `n` of them.
fn sampled_keys(cache: &Cache<u64, u64>, from: u64, n: usize) -> Vec<u64> {
    let adapt = cache.adapt().expect("an unweighted cache adapts");
    (from..)
        .filter(|k| adapt.sampled(cache.hash(k)))
        .take(n)
        .collect()
}

#[test]
fn hits_on_other_threads_and_writes_reach_the_simulations() {
    let cache: Cache<u64, u64> = Cache::builder().max_capacity(1_000).shards(1).build();
    let adapt = cache.adapt().unwrap();
    let keys = sampled_keys(&cache, 0, 20);
    for &k in &keys {
        cache.insert(k, k);
    }
    // Each write replays the notes up to it, its own included.
    assert_eq!(adapt.replayed(), 20);
    let reader = {
        let (cache, keys) = (cache.clone(), keys.clone());
        std::thread::spawn(move || {
            for &k in &keys {
                // The first read sets the bit and notes it, the second
                // finds it set and writes nothing.
                assert_eq!(cache.get(&k), Some(k));
                assert_eq!(cache.get(&k), Some(k));
            }
        })
    };
    reader.join().unwrap();
    assert_eq!(
        adapt.replayed(),
        20,
        "nothing replays the notes but a write"
    );
    // An unsampled key's write replays nothing either.
    let quiet = (1_000_000..)
        .find(|k| !adapt.sampled(cache.hash(k)))
        .unwrap();
    cache.insert(quiet, 0);
    assert_eq!(adapt.replayed(), 20);
    let next = sampled_keys(&cache, 1_000_000, 1)[0];
    cache.insert(next, 0);
    assert_eq!(
        adapt.replayed(),
        20 + 20 + 1,
        "the other thread's hits, then the write"
    );
    cache.validate();
}

/// Reads `n` keys from `from` on twice, the second read of each `apart`
/// keys after its first, and never again; inserts what misses, and
/// returns the hits.
fn read_twice(cache: &Cache<u64, u64>, from: u64, n: u64, apart: u64) -> u64 {
    let mut hits = 0;
    for i in from..from + n {
        for k in [i, i.saturating_sub(apart).max(from)] {
            if cache.get(&k).is_some() {
                hits += 1;
            } else {
                cache.insert(k, k);
            }
        }
    }
    hits
}

/// Keys read twice a short distance apart and never again: recency that a
/// small cold allocation loses (each second read finds the key evicted
/// from the cold pages) and a large one keeps.
fn short_reuse(cache: &Cache<u64, u64>, from: u64, n: u64) -> u64 {
    read_twice(cache, from, n, 600)
}

#[test]
fn short_reuse_raises_the_floor_on_every_shard() {
    // Without the admission window, which keeps the floor from forcing
    // demotions (the policy's module docs).
    let cache: Cache<u64, u64> = Cache::builder()
        .max_capacity(4_000)
        .shards(4)
        .admission_window(false)
        .build();
    // A hot set first, which warm-up makes hot.
    for _ in 0..3 {
        for k in 0..3_000 {
            if cache.get(&k).is_none() {
                cache.insert(k, k);
            }
        }
    }
    assert_eq!(
        cache.adapt().unwrap().chosen(),
        0,
        "a hot set keeps the default"
    );
    let early = short_reuse(&cache, 1_000_000, 20_000);
    let chosen = cache.adapt().unwrap().chosen();
    assert!(chosen >= WHOLE / 2, "chose {chosen}");
    let late = short_reuse(&cache, 2_000_000, 20_000);
    // The shards moved their hot pages down to the floor.
    let stats = cache.stats();
    assert!(
        stats.cold_size() * 2 >= stats.capacity(),
        "cold {} of {}",
        stats.cold_size(),
        stats.capacity()
    );
    assert!(
        late > early,
        "{late} hits at the chosen floor, {early} while choosing"
    );
    cache.validate();
}

#[test]
fn a_resize_to_the_same_capacity_keeps_the_simulations() {
    let cache: Cache<u64, u64> = Cache::builder().max_capacity(1_000).shards(1).build();
    for k in sampled_keys(&cache, 0, 10) {
        cache.insert(k, k);
    }
    let adapt = cache.adapt().unwrap();
    assert_eq!(adapt.held(), 10);
    cache.set_capacity(1_000).unwrap();
    assert_eq!(adapt.held(), 10, "a resize that changed nothing kept them");
    cache.set_capacity(2_000).unwrap();
    assert_eq!(adapt.held(), 0, "a new size starts over");
    cache.validate();
}

/// Keys read twice, 60 requests apart, and never again. A window of 2 %
/// loses a key before its second read, and the frequency test turns it
/// away (its return only loosens the test); a window of more than 30
/// pages per shard keeps it.
fn reread(cache: &Cache<u64, u64>, from: u64, n: u64) -> u64 {
    read_twice(cache, from, n, 30)
}

/// `n` gets (an insert on each miss) of keys drawn evenly from
/// `from..from + keys`: a steady hit ratio, about `capacity / keys`.
fn steady(cache: &Cache<u64, u64>, from: u64, keys: u64, n: u64) {
    let mut x = 1u64;
    for _ in 0..n {
        // A full-period LCG modulo 2^64; its high bits pick the key.
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let k = from + (x >> 33) % keys;
        if cache.get(&k).is_none() {
            cache.insert(k, k);
        }
    }
}

/// A steady workload leaves the window alone (a change under a point
/// starts no climb); when the workload turns to rereads the 2 % window
/// misses, the hit ratio falls, and the climb moves the share up until
/// the rereads hit.
#[test]
fn rereads_the_window_can_catch_grow_it_on_every_shard() {
    let plain: Cache<u64, u64> = Cache::builder().max_capacity(1_000).shards(2).build();
    // Weighted: the same 1,000 entries, and the same climb (its samples
    // are counted in entries, not weight).
    let weighted: Cache<u64, u64> = Cache::builder()
        .max_capacity(3_000)
        .weigher(|_, _| 3)
        .shards(2)
        .build();
    let mut hits = Vec::new();
    for cache in [&plain, &weighted] {
        let start = (cache.stats().capacity() * u64::from(WINDOW_SHARE)) >> 16;
        steady(cache, 10_000_000, 1_200, 300_000);
        assert_eq!(cache.climb().unwrap().share(), WINDOW_SHARE, "steady");
        let early = reread(cache, 0, 100_000);
        let late = reread(cache, 1_000_000, 100_000);
        let share = cache.climb().unwrap().share();
        assert!(share > WHOLE / 10, "climbed to {share}");
        let stats = cache.stats();
        assert!(
            stats.window_size() > 5 * start,
            "window {} of {}: every shard took the share",
            stats.window_size(),
            stats.capacity()
        );
        assert!(
            late > early + 3_000,
            "{late} hits after climbing, {early} while"
        );
        cache.validate();
        hits.push(early + late);
    }

    // Without metrics there is no hit ratio to climb on.
    let quiet: Cache<u64, u64> = Cache::builder()
        .max_capacity(1_000)
        .shards(2)
        .stats(false)
        .build();
    let start = (quiet.stats().capacity() * u64::from(WINDOW_SHARE)) >> 16;
    let flat = reread(&quiet, 0, 100_000) + reread(&quiet, 1_000_000, 100_000);
    assert_eq!(quiet.climb().unwrap().share(), WINDOW_SHARE);
    assert!(quiet.stats().window_size() <= start + 1);
    assert!(hits[0] > flat, "{} against {flat}", hits[0]);
    quiet.validate();

    // Nor with the window off.
    let off: Cache<u64, u64> = Cache::builder()
        .max_capacity(1_000)
        .admission_window(false)
        .build();
    assert!(off.climb().is_none());
}
