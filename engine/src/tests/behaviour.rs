//! Listener, TTL, weights and configuration.

use super::ByRef;
use crate::{Cache, ConfigError, RemovalCause};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Seen = Arc<Mutex<Vec<(u32, u32, RemovalCause)>>>;

fn recording(capacity: u64) -> (Cache<u32, u32>, Seen, Arc<clockwise_stats::Mock>) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let (clock, mock) = clockwise_stats::Clock::mock();
    let cache = Cache::builder()
        .max_capacity(capacity)
        .shards(1)
        .clock(clock)
        .eviction_listener(move |k: &u32, v: &u32, c| sink.lock().unwrap().push((*k, *v, c)))
        .build();
    (cache, seen, mock)
}

#[test]
fn the_listener_hears_every_cause() {
    let (cache, seen, mock) = recording(4);
    cache.insert(1, 10);
    cache.insert(1, 11); // replaced
    cache.remove(&1); // explicit
    cache.insert_with_ttl(2, 20, Duration::from_secs(1));
    mock.increment(Duration::from_secs(2));
    assert_eq!(cache.get(&2), None); // expired, removed on read
    for k in 10..20 {
        cache.insert(k, k); // capacity
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], (1, 10, RemovalCause::Replaced));
    assert_eq!(seen[1], (1, 11, RemovalCause::Explicit));
    assert_eq!(seen[2], (2, 20, RemovalCause::Expired));
    assert!(seen[3..]
        .iter()
        .all(|&(_, _, c)| c == RemovalCause::Capacity));
    assert_eq!(
        seen.len() - 3,
        10 - 4,
        "ten inserts into four places evict six"
    );
    // The cache's own removals (room, expiry) are evictions; the callers'
    // (remove, an insert over the key) are not.
    let evicted: Vec<bool> = seen.iter().map(|&(_, _, c)| c.was_evicted()).collect();
    assert_eq!(evicted[..3], [false, false, true]);
    assert!(evicted[3..].iter().all(|&e| e));
    let stats = cache.stats();
    assert_eq!(stats.removals(RemovalCause::Capacity), 6);
    assert_eq!(stats.removals(RemovalCause::Expired), 1);
    assert_eq!(stats.removals(RemovalCause::Explicit), 1);
    assert_eq!(stats.removals(RemovalCause::Replaced), 1);
    assert_eq!(stats.updates(), 1);
    assert_eq!(stats.misses_expired(), 1);
    cache.validate();
}

#[test]
fn a_panicking_listener_is_counted_and_harms_nothing() {
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(2)
        .shards(1)
        .eviction_listener(|_, _, _| panic!("listener bug"))
        .build();
    for k in 0..10 {
        cache.insert(k, k);
    }
    assert_eq!(cache.stats().listener_panics(), 8);
    cache.insert(100, 1);
    assert_eq!(cache.get(&100), Some(1));
    cache.validate();
}

#[test]
fn the_listener_may_call_back_into_the_cache() {
    let handle: Arc<std::sync::OnceLock<Cache<u32, u32>>> = Arc::default();
    let inner = Arc::clone(&handle);
    let reinserted = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = Arc::clone(&reinserted);
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(2)
        .shards(1)
        .eviction_listener(move |k: &u32, v: &u32, cause| {
            // Re-inserting from the listener (which evicts again, and so
            // re-enters the listener) must not deadlock. Bounded: only
            // original keys are re-inserted.
            if let (RemovalCause::Capacity, true, Some(c)) = (cause, *k < 1000, inner.get()) {
                c.insert(k + 1000, *v);
                let _ = c.get(k);
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .build();
    assert!(handle.set(cache.clone()).is_ok());
    for k in 0..20 {
        cache.insert(k, k);
    }
    assert!(reinserted.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert!(cache.len() <= 2);
    cache.validate();
}

#[test]
fn expired_entries_are_freed_without_being_read() {
    let (cache, seen, mock) = recording(1_000);
    for k in 0..200 {
        cache.insert_with_ttl(k, k, Duration::from_secs(1));
    }
    assert_eq!(cache.len(), 200);
    mock.increment(Duration::from_secs(2));
    // Writes to other keys sweep the table; the expired keys are never read.
    let mut writes = 0;
    while !cache.is_empty() && writes < 10_000 {
        cache.insert(10_000 + writes % 10, 0);
        writes += 1;
        if cache.len() <= 10 {
            break;
        }
    }
    assert!(
        cache.len() <= 10,
        "expired entries still held: {}",
        cache.len()
    );
    let expired = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.2 == RemovalCause::Expired)
        .count();
    assert_eq!(expired, 200);
    cache.validate();
}

#[test]
fn too_heavy_entries_are_rejected_and_counted() {
    let cache: Cache<u32, Vec<u8>> = Cache::builder()
        .max_capacity(100)
        .shards(1)
        .weigher(|_, v: &Vec<u8>| v.len() as u32)
        .build();
    cache.insert(1, vec![0; 10]);
    cache.insert(2, vec![0; 101]);
    assert_eq!(cache.get(&2), None);
    cache.insert(1, vec![0; 500]); // a too-heavy update drops the old value
    assert_eq!(cache.get(&1), None);
    let stats = cache.stats();
    assert_eq!(stats.rejected(), 2);
    assert_eq!(cache.weighted_size(), 0);
    cache.insert(3, vec![0; 100]);
    assert_eq!(cache.weighted_size(), 100);
    cache.validate();
}

#[test]
fn weighted_size_never_exceeds_capacity() {
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(50)
        .shards(1)
        .weigher(|_, v: &u32| *v)
        .build();
    for k in 0..500u32 {
        cache.insert(k, k % 13 + 1);
        assert!(cache.weighted_size() <= 50);
    }
    cache.validate();
}

#[test]
fn try_build_reports_typed_errors_and_build_panics_on_them() {
    let err = |b: crate::CacheBuilder<u8, u8>| b.try_build().map(|_| ()).unwrap_err();
    assert_eq!(err(Cache::builder()), ConfigError::MissingCapacity);
    assert_eq!(
        err(Cache::builder().max_capacity(0)),
        ConfigError::ZeroCapacity
    );
    assert_eq!(
        err(Cache::builder().max_capacity(1).shards(0)),
        ConfigError::Shards(0)
    );
    assert_eq!(
        err(Cache::builder()
            .max_capacity(1)
            .time_to_live(Duration::ZERO)),
        ConfigError::ZeroTimeToLive
    );
    assert_eq!(
        err(Cache::builder().max_capacity(1).latency_sample_every(0)),
        ConfigError::ZeroSampleEvery
    );
    assert!(ConfigError::Shards(0).to_string().contains("shards"));

    // What try_build refuses, build panics on, naming the setting.
    for (builder, setting) in [
        (Cache::builder(), "max_capacity"),
        (Cache::builder().max_capacity(0), "max_capacity"),
        (Cache::builder().max_capacity(1).shards(0), "shards"),
        (Cache::builder().max_capacity(1).shards(70_000), "shards"),
        (
            Cache::builder()
                .max_capacity(1)
                .time_to_live(Duration::ZERO),
            "time_to_live",
        ),
        (
            Cache::builder().max_capacity(1).latency_sample_every(0),
            "latency_sample_every",
        ),
        (
            Cache::builder()
                .max_capacity(1)
                .negative_ttl(Duration::ZERO),
            "negative_ttl",
        ),
    ] {
        let builder: crate::CacheBuilder<u8, u8> = builder;
        let build = std::panic::AssertUnwindSafe(|| builder.build());
        let panic = std::panic::catch_unwind(build).unwrap_err();
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(message.contains(setting), "{setting}: {message}");
    }
}

#[test]
fn no_shard_is_left_without_capacity() {
    // Found by the fuzzer: capacity 1 over 4 shards left three shards that
    // could hold nothing, so keys hashing there were always rejected.
    let cache: Cache<u32, u32> = Cache::builder().max_capacity(1).shards(4).build();
    for k in 0..64 {
        cache.insert(k, k);
        assert_eq!(cache.get(&k), Some(k), "key {k} was not stored");
    }
    assert_eq!(cache.stats().rejected(), 0);
    cache.validate();
}

#[test]
fn stats_off_records_nothing_but_gauges() {
    let cache: Cache<u8, u8> = Cache::builder().max_capacity(10).stats(false).build();
    cache.insert(1, 1);
    assert_eq!(cache.get(&1), Some(1));
    let s = cache.stats();
    assert_eq!(s.hits(), 0);
    assert_eq!(s.entries(), 1);
    assert!(s.get_latency().is_none());
}

/// By default 1 `get` in 1,024 and 1 `insert` in 64 are timed, each
/// recorded with that weight, so the counts estimate the calls and are
/// multiples of the period; a set period applies to both.
#[test]
fn latency_sampling_periods_default_per_call_kind() {
    const GETS: u64 = 9_100;
    const INSERTS: u64 = 6_450;
    let sampled = |builder: crate::CacheBuilder<u64, u64>| {
        let cache = builder.max_capacity(10_000).build();
        std::thread::scope(|s| {
            s.spawn(|| {
                for k in 0..INSERTS {
                    cache.insert(k, k);
                }
                for k in 0..GETS {
                    assert_eq!(cache.get(&k).is_some(), k < INSERTS);
                }
            });
        });
        let s = cache.stats();
        let h = |name| s.snapshot().histogram(name).expect("histogram").count();
        (h("get_latency"), h("insert_latency"))
    };
    // Which calls of a thread are timed depends on its call numbers so far,
    // so the counts are within one period of the calls, in whole periods.
    // (Timed 1 in 64, 9,100 gets would weigh 9,088 or 9,152: not 1,024s.)
    let weighed =
        |count: u64, calls: u64, period: u64| count % period == 0 && count.abs_diff(calls) < period;
    let (gets, inserts) = sampled(Cache::builder());
    assert!(weighed(gets, GETS, 1_024), "{gets} get samples' weight");
    assert!(
        weighed(inserts, INSERTS, 64),
        "{inserts} insert samples' weight"
    );
    let (gets, inserts) = sampled(Cache::builder().latency_sample_every(4_096));
    assert!(weighed(gets, GETS, 4_096), "{gets} get samples' weight");
    assert!(
        weighed(inserts, INSERTS, 4_096),
        "{inserts} insert samples' weight"
    );
}

#[test]
fn every_latency_histogram_is_reported_before_its_first_use() {
    let cache: Cache<u8, u8> = Cache::builder().max_capacity(10).build();
    let s = cache.stats();
    for name in ["get_latency", "insert_latency", "load_latency"] {
        let h = s
            .snapshot()
            .histogram(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(h.is_empty(), "{name} has samples before any call");
    }
    // The load histogram is created by the first load; it reports the same
    // layout as the empty one it replaces, so snapshots still merge.
    assert_eq!(cache.get_with(1, || 1), 1);
    let after = cache.stats();
    let load = after.load_latency().expect("load_latency");
    assert_eq!(load.count(), 1);
    let empty = s.load_latency().expect("load_latency");
    assert_eq!(load.delta(empty).expect("same layout").count(), 1);
}

#[test]
fn gauges_track_the_policy() {
    let cache: Cache<u32, u32> = Cache::builder().max_capacity(100).shards(1).build();
    for k in 0..300 {
        cache.insert(k, k);
    }
    let s = cache.stats();
    let (hot, cold, test, window) = (s.hot_size(), s.cold_size(), s.test_size(), s.window_size());
    assert_eq!(hot + cold + window, 100);
    // The newest keys wait in the window, as many as its share allows.
    let limit = (100 * u64::from(crate::clock_pro::WINDOW_SHARE)) >> 16;
    assert!(limit >= 1);
    assert_eq!(window, limit);
    assert!(test > 0 && test <= 100, "test size {test}");
    assert_eq!(s.capacity(), 100);
}

/// Found by `cargo fuzz`: an update that grows a hot page leaves the hot
/// weight above the capacity while the cold hand, making room, settles a
/// referenced cold page (the cold allocation must not underflow).
#[test]
fn an_update_that_grows_a_hot_page_evicts_around_a_referenced_cold_one() {
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(100)
        .shards(1)
        .weigher(|_, v: &u32| *v)
        .build();
    cache.insert(1, 50); // hot
    cache.insert(2, 49); // hot: the free weight is down to the cold minimum
    cache.insert(3, 1); // cold, in its test period
    cache.insert(3, 1); // an update is an access: the cold page is referenced
    cache.insert(1, 60); // hot weight 109 until the hands make room
    cache.validate();
    assert!(cache.weighted_size() <= 100, "{}", cache.weighted_size());
    // The referenced cold page turned hot and the unreferenced hot page was
    // demoted and evicted.
    assert_eq!(cache.get(&1), Some(60));
    assert_eq!(cache.get(&3), Some(1));
    assert_eq!(cache.get(&2), None);
    assert_eq!(cache.weighted_size(), 61);
}

/// A read right after the same thread's insert of the key is one use with
/// the insert (as the reference simulator skips repeated requests); a read
/// after some other access, or by another thread, is a second use.
#[test]
fn a_read_right_after_the_same_threads_insert_is_not_a_second_use() {
    // Capacity 3: keys 1 and 2 go in hot, 3 cold in its test period, so
    // the insert of 4 sends the cold hand to 3.
    let filled = || {
        let cache: Cache<u32, u32> = Cache::builder()
            .max_capacity(3)
            .shards(1)
            .admission_window(false)
            .build();
        for k in 1..=3 {
            cache.insert(k, k);
        }
        cache
    };

    let repeated = filled();
    assert_eq!(repeated.get(&3), Some(3)); // the insert's own re-read
    repeated.insert(4, 4);
    repeated.validate();
    assert_eq!(repeated.get(&3), None, "3 was used once: evicted");

    let separate = filled();
    assert_eq!(separate.get(&1), Some(1));
    assert_eq!(separate.get(&3), Some(3)); // not right after its insert
    separate.insert(4, 4);
    separate.validate();
    assert_eq!(separate.get(&3), Some(3), "3 was used twice: promoted");
    assert_eq!(
        separate.get(&2),
        None,
        "2, unreferenced, was demoted and evicted"
    );

    let other_thread = filled();
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(other_thread.get(&3), Some(3)));
    });
    other_thread.insert(4, 4);
    other_thread.validate();
    assert_eq!(
        other_thread.get(&3),
        Some(3),
        "another thread's read is a use"
    );
}

/// `peek` reads without using: the same scenario as above, where a `get`
/// of 3 (not right after its insert) saves it, a `peek` does not, and
/// counts no metric.
#[test]
fn a_peek_is_not_a_use() {
    let cache: Cache<u32, u32> = Cache::builder().max_capacity(3).shards(1).build();
    for k in 1..=3 {
        cache.insert(k, k);
    }
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(cache.peek(&3), Some(3));
    assert_eq!(cache.peek(&9), None);
    cache.insert(4, 4);
    cache.validate();
    assert_eq!(cache.peek(&3), None, "3 was never used: evicted");
    let stats = cache.stats();
    assert_eq!(stats.gets(), 1, "only the get of 1 counts");
    assert_eq!(stats.hits(), 1);
}

#[test]
fn every_typed_statistic_reads_a_metric_the_snapshot_has() {
    // Each accessor of `CacheStats` names its metric once, in the engine;
    // this checks those names against what the snapshot holds, so none
    // reads a missing metric as 0.
    let (cache, _, _) = recording(10);
    cache.insert(1, 1);
    cache.get(&1);
    cache.get(&2);
    cache.remove(&1);
    let _ = cache.get_with(3, || 3);
    let stats = cache.stats();
    let snap = stats.snapshot();
    let names: Vec<&str> = snap.counters().map(|(n, _)| n).collect();
    for counter in [
        "get",
        "hit",
        "miss_absent",
        "miss_expired",
        "insert",
        "update",
        "rejected",
        "removed_capacity",
        "removed_expired",
        "removed_explicit",
        "removed_replaced",
        "listener_panic",
        "load_success",
        "load_failure",
        "loader_panic",
        "coalesced_waiters",
        "wait_timeout",
        "stale_hit",
        "refresh_started",
        "refresh_succeeded",
        "refresh_failed",
        "negative_hit",
    ] {
        assert!(names.contains(&counter), "{counter} missing from {names:?}");
    }
    assert_eq!(names.len(), 22, "a counter without an accessor: {names:?}");
    let c = |name| snap.counter(name);
    assert_eq!(
        [
            stats.gets(),
            stats.hits(),
            stats.misses_absent(),
            stats.inserts(),
            stats.removals(RemovalCause::Explicit),
            stats.load_successes(),
        ],
        [
            c("get"),
            c("hit"),
            c("miss_absent"),
            c("insert"),
            c("removed_explicit"),
            c("load_success"),
        ]
    );
    assert_eq!((stats.gets(), stats.hits(), stats.inserts()), (3, 1, 2));
    for (gauge, typed) in [
        ("entries", stats.entries()),
        ("weighted_size", stats.weighted_size()),
        ("capacity", stats.capacity()),
        ("hot_size", stats.hot_size()),
        ("cold_size", stats.cold_size()),
        ("test_size", stats.test_size()),
    ] {
        assert_eq!(snap.gauge(gauge), Some(i128::from(typed)), "{gauge}");
    }
    assert_eq!(stats.capacity(), 10);
    assert_eq!(stats.load_latency().map(|h| h.count()), Some(1));
    // Sampled (1 in 64 inserts, 1 in 1,024 gets): present, maybe empty.
    assert!(stats.insert_latency().is_some() && stats.get_latency().is_some());
}

#[test]
fn time_to_idle_moves_deadlines_by_more_than_a_grain_within_the_ttl() {
    let secs = Duration::from_secs;
    let (clock, mock) = clockwise_stats::Clock::mock();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .time_to_idle(secs(32))
        .clock(clock.clone())
        .build();
    cache.insert(1, 1);
    cache.insert(2, 2);
    mock.increment(secs(1));
    // Would move key 1's deadline by 1 s, a 32nd of the time to idle: left.
    assert_eq!(cache.get(&1), Some(1));
    mock.increment(secs(1));
    // Moves key 2's by 2 s: written, to 34.
    assert_eq!(cache.get(&2), Some(2));
    mock.increment(secs(30));
    assert_eq!((cache.get(&1), cache.peek(&2)), (None, Some(2)));
    mock.increment(secs(2));
    assert_eq!(cache.peek(&2), None, "idle past its moved deadline");

    // With a time to live, reads never move a deadline past it.
    let capped: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .time_to_live(secs(10))
        .time_to_idle(secs(8))
        .clock(clock.clone())
        .build();
    capped.insert(1, 1);
    mock.increment(secs(7));
    assert_eq!(capped.get(&1), Some(1));
    mock.increment(secs(2));
    assert_eq!(capped.get(&1), Some(1), "read at 7 moved it from 8 to 10");
    mock.increment(secs(1));
    assert_eq!(capped.get(&1), None, "the time to live still ends it");

    // An entry with a time to live of its own keeps it, read or idle.
    let own: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .time_to_idle(secs(5))
        .clock(clock)
        .build();
    own.insert_with_ttl(1, 1, secs(20));
    mock.increment(secs(19));
    assert_eq!(
        own.get(&1),
        Some(1),
        "idle 19 s, but its own deadline is 20"
    );
    mock.increment(secs(1));
    assert_eq!(own.get(&1), None);
    own.validate();
}

#[test]
fn an_expiry_times_loaded_values_and_refuses_a_cache_wide_ttl() {
    use crate::Expiry;
    use clockwise_stats::Instant;
    struct ByKey;
    impl Expiry<u32, u32> for ByKey {
        fn expire_after_create(&self, k: &u32, _: &u32, _: Instant) -> Option<Duration> {
            (*k != 0).then(|| Duration::from_secs(u64::from(*k)))
        }
    }
    let conflict = Cache::<u32, u32>::builder()
        .max_capacity(10)
        .expire_after(ByKey)
        .time_to_live(Duration::from_secs(1))
        .try_build()
        .map(|_| ())
        .unwrap_err();
    assert_eq!(conflict, ConfigError::ExpiryWithTimeToLive);
    assert!(conflict.to_string().contains("expire_after"));

    let (clock, mock) = clockwise_stats::Clock::mock();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .expire_after(ByKey)
        .clock(clock)
        .build();
    // A loaded value is created like an inserted one: key 3 lives 3 s.
    assert_eq!(cache.get_with(3, || 30), 30);
    cache.insert(0, 0); // no limit
    cache.insert_with_ttl(5, 50, Duration::from_secs(1)); // its own, not 5 s
    mock.increment(Duration::from_secs(2));
    assert_eq!((cache.get(&3), cache.get(&5)), (Some(30), None));
    // The default update keeps what the entry had left (1 s).
    cache.insert(3, 31);
    mock.increment(Duration::from_secs(1));
    assert_eq!(cache.get(&3), None);
    mock.increment(Duration::from_secs(1_000_000));
    assert_eq!(cache.get(&0), Some(0));
    cache.validate();
}

/// A `BuildHasher` whose one-shot `hash_one` takes a path of its own for
/// `u8`, as ahash's does for integers where the compiler allows
/// specialization; through `build_hasher` and `write` every type hashes
/// alike.
#[derive(Clone, Default)]
struct OwnPathForBytes;

impl std::hash::BuildHasher for OwnPathForBytes {
    type Hasher = std::collections::hash_map::DefaultHasher;
    fn build_hasher(&self) -> Self::Hasher {
        Self::Hasher::new()
    }
    // The generic path, spelled out: this is `hash_one` itself.
    #[allow(clippy::manual_hash_one)]
    fn hash_one<T: std::hash::Hash>(&self, x: T) -> u64 {
        use std::hash::Hasher;
        let mut h = self.build_hasher();
        x.hash(&mut h);
        let hash = h.finish();
        if std::any::type_name::<T>() == "&u8" {
            hash.rotate_left(17)
        } else {
            hash
        }
    }
}

/// An equivalent key finds its entry whatever shortcut the hasher's
/// `hash_one` takes for the key's own type (the fuzz target found lookups
/// by an equivalent missing under ahash on nightly).
#[test]
fn an_equivalent_key_is_found_whatever_the_hasher_does_in_hash_one() {
    let cache: Cache<u8, u16, OwnPathForBytes> = Cache::builder()
        .max_capacity(100)
        .hasher(OwnPathForBytes)
        .build();
    for k in 0..50u8 {
        cache.insert(k, u16::from(k) * 3);
    }
    for k in 0..50u8 {
        assert_eq!(cache.get(&ByRef(&k)), Some(u16::from(k) * 3), "get({k})");
        assert_eq!(cache.get(&k), Some(u16::from(k) * 3));
    }
    assert!(cache.contains_key(&ByRef(&7)));
    assert_eq!(cache.peek(&ByRef(&8)), Some(24));
    assert_eq!(cache.remove(&ByRef(&9)), Some(27));
    assert_eq!(cache.get(&9), None);
    cache.invalidate(&ByRef(&10));
    assert_eq!(cache.get(&10), None);
}
