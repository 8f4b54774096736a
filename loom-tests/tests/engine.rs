//! loom models of the engine's lock-free protocols, running the real code
//! (the engine's `src/sync.rs` switches to loom, and the engine's own
//! reclamation, `src/reclaim.rs`, is built on it).
//!
//! Build with `RUSTFLAGS="--cfg clockwise_loom"`.
#![cfg(clockwise_loom)]

use clockwise::Cache;
use loom::sync::Arc;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

/// Spawns a model thread that releases its stats slot at the end, as its
/// thread-local destructor would (see `loom_tls_destructor.rs`).
fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> loom::thread::JoinHandle<T> {
    loom::thread::spawn(move || {
        let out = f();
        clockwise::release_thread_for_loom();
        out
    })
}

/// Runs a model whose main thread also uses the cache (and so claims a stats
/// slot, which it must give back before loom tears down its statics).
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model(move || {
        f();
        clockwise::release_thread_for_loom();
    });
}

/// A fixed-key hasher: loom replays executions, so the model must be
/// deterministic (the default hasher is seeded randomly per cache).
type Fixed = BuildHasherDefault<DefaultHasher>;

/// Stats are off: their protocol has models of its own (`stats.rs`), and
/// their atomics would multiply the interleavings explored here.
fn cache(capacity: u64) -> Arc<Cache<u64, u64, Fixed>> {
    Arc::new(
        Cache::builder()
            .max_capacity(capacity)
            .shards(1)
            .stats(false)
            .hasher(Fixed::default())
            .build(),
    )
}

/// A value encodes its key, so a reader can tell a torn or foreign value.
fn value(key: u64, version: u64) -> u64 {
    key * 1000 + version
}

#[test]
fn insert_get_remove_publication_and_reclamation() {
    model(|| {
        let c = cache(4);
        let writer = {
            let c = Arc::clone(&c);
            spawn(move || {
                c.insert(1, value(1, 1));
                c.remove(&1)
            })
        };
        let reader = {
            let c = Arc::clone(&c);
            spawn(move || c.get(&1))
        };
        let removed = writer.join().unwrap();
        let read = reader.join().unwrap();
        assert_eq!(
            removed,
            Some(value(1, 1)),
            "remove sees its own thread's insert"
        );
        assert!(read.is_none() || read == Some(value(1, 1)), "read {read:?}");
        assert_eq!(c.get(&1), None);
        c.validate();
    });
}

#[test]
fn a_reader_racing_the_eviction_of_its_entry() {
    model(|| {
        // Capacity 2, three keys: the writer's inserts evict older keys while
        // the reader is looking at them.
        let c = cache(2);
        c.insert(1, value(1, 0));
        c.insert(2, value(2, 0));
        let reader = {
            let c = Arc::clone(&c);
            spawn(move || [c.get(&1), c.get(&2)])
        };
        let writer = {
            let c = Arc::clone(&c);
            spawn(move || c.insert(3, value(3, 0)))
        };
        for (k, got) in [1, 2].into_iter().zip(reader.join().unwrap()) {
            assert!(
                got.is_none() || got == Some(value(k, 0)),
                "key {k}: {got:?}"
            );
        }
        writer.join().unwrap();
        assert!(c.len() <= 2);
        assert_eq!(
            c.get(&3),
            Some(value(3, 0)),
            "the newest insert is resident"
        );
        c.validate();
    });
}

#[test]
fn reference_bit_set_racing_the_hand() {
    model(|| {
        // One resident cold entry; a reader touches it while an insert runs
        // the cold hand over it. Either outcome of the race is legal; the
        // structure must stay valid and the newest key must be resident.
        let c = cache(2);
        c.insert(1, value(1, 0));
        c.insert(2, value(2, 0));
        let reader = {
            let c = Arc::clone(&c);
            spawn(move || c.get(&1))
        };
        c.insert(3, value(3, 0));
        let got = reader.join().unwrap();
        assert!(got.is_none() || got == Some(value(1, 0)));
        assert_eq!(c.get(&3), Some(value(3, 0)));
        c.validate();
    });
}

#[test]
fn invalidate_all_racing_inserts() {
    model(|| {
        let c = cache(4);
        c.insert(1, value(1, 0));
        let inserter = {
            let c = Arc::clone(&c);
            spawn(move || c.insert(2, value(2, 0)))
        };
        let invalidator = {
            let c = Arc::clone(&c);
            spawn(move || c.invalidate_all())
        };
        inserter.join().unwrap();
        invalidator.join().unwrap();
        assert_eq!(c.get(&1), None, "invalidated");
        // Key 2 is present or not depending on the order; never torn.
        let two = c.get(&2);
        assert!(two.is_none() || two == Some(value(2, 0)));
        assert_eq!(c.len(), u64::from(two.is_some()));
        c.validate();
    });
}

/// The single-flight protocol (`engine/src/flight.rs`): one loader (a
/// spawned thread) racing one invalidation, after which the same (main)
/// thread asks for the key and so waits for the load, leads its own, or
/// hits. A loader that read its source before the invalidation began may
/// return stale data, so its value must not be cached afterwards; each
/// caller gets a value of one of the loads; nobody hangs (loom reports a
/// deadlock otherwise). Two threads, not three, keep the model to seconds
/// at two preemptions (three took 12 minutes).
#[test]
fn single_flight_load_racing_an_invalidation() {
    use loom::sync::atomic::{AtomicBool, Ordering};
    model(|| {
        let c = cache(4);
        // Set just before `invalidate` starts; each loader reads it first,
        // as a real loader reads its source.
        let invalidating = Arc::new(AtomicBool::new(false));
        // Per version: did that loader read the source before the invalidation?
        let before = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let load = |version: u64| {
            let (invalidating, before) = (Arc::clone(&invalidating), Arc::clone(&before));
            move || {
                // SeqCst: one total order with the store before `invalidate`.
                if !invalidating.load(Ordering::SeqCst) {
                    before[version as usize - 1].store(true, Ordering::SeqCst);
                }
                value(1, version)
            }
        };
        let loader = {
            let (c, load) = (Arc::clone(&c), load(1));
            spawn(move || c.get_with(1, load))
        };
        invalidating.store(true, Ordering::SeqCst);
        c.invalidate(&1);
        let mine = c.get_with(1, load(2));
        let theirs = loader.join().unwrap();
        for v in [mine, theirs] {
            assert!(v == value(1, 1) || v == value(1, 2), "foreign value {v}");
        }
        if let Some(v) = c.get(&1) {
            let version = v - value(1, 0);
            assert!(
                !before[version as usize - 1].load(Ordering::SeqCst),
                "version {version} was loaded before the invalidation yet is cached"
            );
        }
        c.validate();
    });
}

/// A caller updates the source and inserts while another caller's load of
/// the same key runs: whatever the interleaving, the cache ends with the
/// newest version, never the load's older one stored over the insert.
#[test]
fn an_insert_racing_a_load_is_never_overwritten_by_older_data() {
    use loom::sync::atomic::{AtomicU64, Ordering};
    model(|| {
        let c = cache(4);
        let source = Arc::new(AtomicU64::new(1));
        let loader = {
            let (c, source) = (Arc::clone(&c), Arc::clone(&source));
            // SeqCst: one total order with the source update below.
            spawn(move || c.get_with(1, || value(1, source.load(Ordering::SeqCst))))
        };
        source.store(2, Ordering::SeqCst);
        c.insert(1, value(1, 2));
        let loaded = loader.join().unwrap();
        assert!(
            loaded == value(1, 1) || loaded == value(1, 2),
            "foreign value {loaded}"
        );
        assert_eq!(
            c.get(&1),
            Some(value(1, 2)),
            "the insert's newer value was lost"
        );
        c.validate();
    });
}

#[test]
fn iteration_racing_eviction_and_removal() {
    model(|| {
        // The iterating thread reads the table while an insert evicts and a
        // remove unlinks: every pair it yields must be a value written for
        // its key, no key twice, and only keys that were ever inserted.
        let c = cache(2);
        c.insert(1, value(1, 0));
        c.insert(2, value(2, 0));
        let iterating = {
            let c = Arc::clone(&c);
            spawn(move || c.iter().collect::<Vec<_>>())
        };
        c.insert(3, value(3, 0));
        c.remove(&2);
        let seen = iterating.join().unwrap();
        let mut keys: Vec<u64> = seen.iter().map(|&(k, _)| k).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), seen.len(), "a key twice: {seen:?}");
        for &(k, v) in &seen {
            assert!((1..=3).contains(&k), "key {k} never inserted");
            assert_eq!(v, value(k, 0), "key {k}: {v}");
        }
        c.validate();
    });
}

/// A cache of `capacity` over two shards.
fn two_shards(capacity: u64) -> Arc<Cache<u64, u64, Fixed>> {
    Arc::new(
        Cache::builder()
            .max_capacity(capacity)
            .shards(2)
            .stats(false)
            .hasher(Fixed::default())
            .build(),
    )
}

/// The first `n` keys whose hash puts them in shard `shard` of two (the
/// shard is the hash's top bit: `crate::cache::Cache::shard_index`).
fn keys_in(shard: u64, n: usize) -> Vec<u64> {
    use std::hash::BuildHasher;
    (0..)
        .filter(|k| Fixed::default().hash_one(k) >> 63 == shard)
        .take(n)
        .collect()
}

/// Capacity lending (`engine/src/lending.rs`, `Shard::borrow`): shard 0 is
/// full, and its writer borrows from shard 1 while shard 1's own writer
/// inserts. A borrower only try-locks, so either may evict instead, but no
/// interleaving deadlocks, loses capacity or overfills a shard, and both
/// new keys are stored.
#[test]
fn two_writers_borrowing_across_shards() {
    model(|| {
        let (a, b) = (keys_in(0, 3), keys_in(1, 1));
        let c = two_shards(4);
        c.insert(a[0], value(a[0], 0));
        c.insert(a[1], value(a[1], 0));
        let borrower = {
            let (c, k) = (Arc::clone(&c), a[2]);
            spawn(move || c.insert(k, value(k, 0)))
        };
        let (c2, k) = (Arc::clone(&c), b[0]);
        let other = spawn(move || c2.insert(k, value(k, 0)));
        borrower.join().unwrap();
        other.join().unwrap();
        assert_eq!(c.get(&a[2]), Some(value(a[2], 0)));
        assert_eq!(c.get(&b[0]), Some(value(b[0], 0)));
        assert!(c.len() <= 4);
        // `validate` checks that the shards' capacities still sum to the
        // cache's, and the lending hint against every shard.
        c.validate();
    });
}

/// The lending hint's lost wake-up (`engine/src/lending.rs`): a writer
/// that finds no lender marks the hint dry while a removal in the other
/// shard makes capacity lendable. Whatever the order, the hint must not
/// stay dry over the freed capacity: the next writer short of room then
/// borrows it instead of evicting.
#[test]
fn a_removal_racing_a_look_that_finds_no_lender() {
    model(|| {
        let (a, b) = (keys_in(0, 3), keys_in(1, 1));
        let c = two_shards(2);
        c.insert(a[0], value(a[0], 0));
        c.insert(b[0], value(b[0], 0));
        let writer = {
            let (c, k) = (Arc::clone(&c), a[1]);
            spawn(move || c.insert(k, value(k, 0)))
        };
        let (c2, k) = (Arc::clone(&c), b[0]);
        let remover = spawn(move || c2.remove(&k));
        writer.join().unwrap();
        assert_eq!(remover.join().unwrap(), Some(value(b[0], 0)));
        c.validate();
        // One key is left in shard 0 (a[1]) unless the writer borrowed the
        // removed key's room (a[0] and a[1]); shard 1 is empty. With one
        // key held, a second must borrow that room, never evict; with two,
        // the policy evicts one of them (which one is its choice).
        let held = c.len();
        c.insert(a[2], value(a[2], 0));
        if held == 1 {
            assert_eq!(c.get(&a[1]), Some(value(a[1], 0)), "evicted with room");
        }
        assert_eq!(c.get(&a[2]), Some(value(a[2], 0)));
        assert_eq!(c.len(), (held + 1).min(2));
        c.validate();
    });
}

/// A resize racing a borrow (`Cache::set_capacity`, `Shard::borrow`): the
/// cache shrinks from 4 to 2 while a writer to the full shard 0 borrows
/// from shard 1. Whatever the order, the shards end with exactly the new
/// capacity between them, nothing over it is held, and no step deadlocks.
#[test]
fn a_shrink_racing_a_borrow() {
    model(|| {
        let a = keys_in(0, 3);
        let c = two_shards(4);
        c.insert(a[0], value(a[0], 0));
        c.insert(a[1], value(a[1], 0));
        let writer = {
            let (c, k) = (Arc::clone(&c), a[2]);
            spawn(move || c.insert(k, value(k, 0)))
        };
        c.set_capacity(2).unwrap();
        writer.join().unwrap();
        assert_eq!(c.capacity(), 2);
        assert!(c.len() <= 2 && c.weighted_size() <= 2, "{} held", c.len());
        // `validate` checks the shards' capacities sum to 2.
        c.validate();
    });
}

/// A compute (read, decide, write) racing a get and an insert of its key:
/// the insert is never overwritten by a value computed from what it
/// replaced (the compute is ordered before it, or sees it), and a get
/// returns one of the key's values.
#[test]
fn a_compute_racing_a_get_and_an_insert() {
    model(|| {
        let c = cache(4);
        c.insert(1, value(1, 1));
        let computer = {
            let c = Arc::clone(&c);
            spawn(move || {
                c.entry(1)
                    .and_upsert_with(|e| e.map_or(value(1, 9), |e| e.into_value() + 1))
                    .into_value()
            })
        };
        let seen = c.get(&1).expect("nothing removes the key");
        assert!(
            seen == value(1, 1) || seen == value(1, 2),
            "foreign value {seen}"
        );
        c.insert(1, value(1, 5));
        let computed = computer.join().unwrap();
        // Before the insert (2, then replaced by 5) or after it (6).
        let last = c.get(&1).unwrap();
        match computed {
            v if v == value(1, 2) => assert_eq!(last, value(1, 5)),
            v if v == value(1, 6) => assert_eq!(last, value(1, 6)),
            v => panic!("the compute read neither value: {v}"),
        }
        c.validate();
    });
}

/// A compute racing the eviction of its key (an insert of another key
/// into a full one-entry cache): the cache stays within its capacity and
/// consistent, and the key ends absent or with a value the compute made
/// from what it read.
#[test]
fn a_compute_racing_the_eviction_of_its_key() {
    model(|| {
        let c = cache(1);
        c.insert(1, value(1, 1));
        let computer = {
            let c = Arc::clone(&c);
            spawn(move || {
                c.entry(1)
                    .and_upsert_with(|e| e.map_or(value(1, 7), |e| e.into_value() + 1))
                    .into_value()
            })
        };
        c.insert(2, value(2, 1));
        let computed = computer.join().unwrap();
        assert!(
            computed == value(1, 2) || computed == value(1, 7),
            "{computed}"
        );
        if let Some(v) = c.get(&1) {
            assert_eq!(v, computed);
        }
        assert!(c.weighted_size() <= 1);
        c.validate();
    });
}

/// A placeholder guard dropped unfilled while another caller waits on it:
/// the waiter is not left waiting; it loads the key itself.
#[test]
fn a_guard_dropped_while_a_caller_waits() {
    use clockwise::GuardResult;
    model(|| {
        let c = cache(4);
        let waiter = {
            let c = Arc::clone(&c);
            spawn(move || c.get_with(1, || value(1, 2)))
        };
        let mine = match c.get_value_or_guard(&1) {
            GuardResult::Guard(guard) => {
                drop(guard);
                None
            }
            GuardResult::Value(v) => Some(v),
            GuardResult::Timeout => unreachable!("no wait timeout"),
        };
        assert_eq!(waiter.join().unwrap(), value(1, 2));
        assert!(mine.is_none() || mine == Some(value(1, 2)));
        assert_eq!(c.get(&1), Some(value(1, 2)));
        c.validate();
    });
}

/// A guard filled while its key is invalidated: either the fill lands
/// first and the invalidation removes it, or the invalidation lands first
/// and the fill is refused; the key ends absent either way.
#[test]
fn a_guard_filled_while_its_key_is_invalidated() {
    use clockwise::GuardResult;
    model(|| {
        let c = cache(4);
        let GuardResult::Guard(guard) = c.get_value_or_guard(&1) else {
            panic!("an empty cache gives a guard");
        };
        let invalidator = {
            let c = Arc::clone(&c);
            spawn(move || c.invalidate(&1))
        };
        let filled = guard.insert(value(1, 1));
        invalidator.join().unwrap();
        assert!(filled.is_ok() || filled == Err(value(1, 1)));
        assert_eq!(c.get(&1), None, "a fill older than the invalidation stayed");
        c.validate();
    });
}
