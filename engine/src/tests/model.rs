//! Model-based tests: every public operation against a `HashMap` model.
//!
//! The eviction listener tells the model which keys the cache dropped
//! (capacity or expiry), so the model is exact: after any operation, a key
//! the model holds (unexpired) must read back its latest value, and a key it
//! does not hold must be absent. `validate()` runs after every operation.
//!
//! The capacity rules are checked too: an entry up to the whole capacity
//! is stored, a heavier one is reported `Rejected`, and (one entry weighing
//! 1, or one shard) nothing is evicted while what is stored plus the new
//! entry fits the capacity, however the keys fall on the shards.

use super::ByRef;
use crate::model_support::ValueExpiry;
use crate::{Cache, RemovalCause};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u16),
    InsertTtl(u8, u16, u8),
    Get(u8),
    Peek(u8),
    Contains(u8),
    Remove(u8),
    Advance(u8),
    RetainEven,
    InvalidateAll,
    Iter,
    /// `set_capacity(1 + n % (twice the initial capacity))`.
    SetCapacity(u8),
    /// `get`, `peek`, `contains_key` and `remove` by a [`ByRef`], an
    /// equivalent of the key that is not a form it borrows as.
    GetEquivalent(u8),
    PeekEquivalent(u8),
    ContainsEquivalent(u8),
    RemoveEquivalent(u8),
    /// `get_with_by_ref(&k, || v)`: a get, then, on a miss, an insert.
    GetWithByRef(u8, u16),
    /// `entry(k).or_insert(v)`, the same, fresh only on a miss.
    EntryOrInsert(u8, u16),
    /// `get_value_or_guard(&k)`, the guard filled with `v`.
    GuardInsert(u8, u16),
    /// `entry(k).and_upsert_with(|_| v)`: sees the live value, then writes.
    Upsert(u8, u16),
    /// `entry(k).and_compute_with(|_| Op::Remove)`.
    ComputeRemove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (any::<u8>(), any::<u16>(), 1u8..20).prop_map(|(k, v, t)| Op::InsertTtl(k, v, t)),
        6 => any::<u8>().prop_map(Op::Get),
        1 => any::<u8>().prop_map(Op::Peek),
        1 => any::<u8>().prop_map(Op::Contains),
        2 => any::<u8>().prop_map(Op::Remove),
        1 => (0u8..10).prop_map(Op::Advance),
        1 => Just(Op::RetainEven),
        1 => Just(Op::InvalidateAll),
        1 => Just(Op::Iter),
        1 => any::<u8>().prop_map(Op::SetCapacity),
        2 => any::<u8>().prop_map(Op::GetEquivalent),
        1 => any::<u8>().prop_map(Op::PeekEquivalent),
        1 => any::<u8>().prop_map(Op::ContainsEquivalent),
        1 => any::<u8>().prop_map(Op::RemoveEquivalent),
        3 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::GetWithByRef(k, v)),
        2 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::EntryOrInsert(k, v)),
        2 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::GuardInsert(k, v)),
        2 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Upsert(k, v)),
        1 => any::<u8>().prop_map(Op::ComputeRemove),
    ]
}

type Log = Arc<Mutex<Vec<(u8, u16, RemovalCause)>>>;

struct Model {
    /// key -> (value, expires at in seconds)
    map: HashMap<u8, (u16, Option<u64>)>,
    now: u64,
}

impl Model {
    fn live(&self, k: u8) -> Option<u16> {
        self.map
            .get(&k)
            .filter(|(_, exp)| exp.is_none_or(|e| e > self.now))
            .map(|&(v, _)| v)
    }
}

/// Hashes whose low 32 bits (all the table and the policy keep) take only
/// three values while their top bits (which pick the shard) differ: long
/// probe chains of equal tags, ghosts shared by keys, evictions that find
/// their slot among look-alikes.
#[derive(Clone, Default)]
struct Colliding;

struct CollidingHasher(u64);

impl std::hash::Hasher for CollidingHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.wrapping_mul(31).wrapping_add(u64::from(b) + 1);
        }
    }
    fn finish(&self) -> u64 {
        (self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !u64::from(u32::MAX)) | (self.0 % 3)
    }
}

impl std::hash::BuildHasher for Colliding {
    type Hasher = CollidingHasher;
    fn build_hasher(&self) -> CollidingHasher {
        CollidingHasher(0)
    }
}

/// A weighted value's weight: mostly 0 to 3 (0 counts as 1), one in
/// sixteen anything up to one over the capacity.
fn weight(v: u16, capacity: u64) -> u32 {
    if v % 16 == 0 {
        (u64::from(v / 16) % (capacity + 2)) as u32
    } else {
        u32::from(v % 4)
    }
}

fn run(ops: Vec<Op>, capacity: u64, shards: usize, weighted: bool) -> Result<(), TestCaseError> {
    run_with(
        ops,
        capacity,
        shards,
        weighted,
        ahash::RandomState::new(),
        Timing::Ttl,
    )
}

/// How entries expire beyond `insert_with_ttl`.
#[derive(Clone, Copy, Debug)]
enum Timing {
    /// Only by their own time to live.
    Ttl,
    /// After this many seconds idle.
    Idle(u64),
    /// By [`ValueExpiry`].
    Expiry,
}

fn run_with<S: std::hash::BuildHasher + Send + Sync + 'static>(
    ops: Vec<Op>,
    capacity: u64,
    shards: usize,
    weighted: bool,
    hasher: S,
    timing: Timing,
) -> Result<(), TestCaseError> {
    let idle = match timing {
        Timing::Idle(idle) => Some(idle),
        _ => None,
    };
    let expiry = matches!(timing, Timing::Expiry);
    let (clock, mock) = clockwise_stats::Clock::mock();
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let mut builder = Cache::builder()
        .hasher(hasher)
        .max_capacity(capacity)
        .shards(shards)
        // Eviction's choices are the policy's, not the model's: both the
        // adaptive cold floor and the fixed one must keep every rule the
        // model checks (an even capacity adapts, an odd one does not).
        .adapt_cold_floor(capacity % 2 == 0)
        .clock(clock)
        .latency_sample_every(1)
        .eviction_listener(move |k: &u8, v: &u16, cause| {
            sink.lock().unwrap().push((*k, *v, cause))
        });
    if weighted {
        builder = builder.weigher(move |_: &u8, v: &u16| weight(*v, capacity));
    }
    if let Some(idle) = idle {
        builder = builder.time_to_idle(Duration::from_secs(idle));
    }
    if expiry {
        builder = builder.expire_after(ValueExpiry);
    }
    // Keys written with a time to live of their own, which reads do not
    // extend.
    let mut fixed = std::collections::HashSet::new();
    let cache: Cache<u8, u16, S> = builder.build();
    let mut model = Model {
        map: HashMap::new(),
        now: 0,
    };
    let (mut gets, mut hits) = (0u64, 0u64);
    let weigh = |v: u16| u64::from(if weighted { weight(v, capacity) } else { 1 }.max(1));
    let initial = capacity;
    let mut capacity = capacity;
    for op in ops {
        let (len_before, weight_before) = (cache.len(), cache.weighted_size());
        // Whether a `get_with_by_ref`, `or_insert` or guard loaded (and so
        // inserted).
        let mut loaded = false;
        match op {
            Op::Insert(k, v) => cache.insert(k, v),
            Op::InsertTtl(k, v, t) => {
                cache.insert_with_ttl(k, v, Duration::from_secs(u64::from(t)))
            }
            Op::Get(k)
            | Op::GetEquivalent(k)
            | Op::GetWithByRef(k, _)
            | Op::EntryOrInsert(k, _)
            | Op::GuardInsert(k, _) => {
                gets += 1;
                let want = model.live(k);
                let got = match op {
                    Op::Get(_) => cache.get(&k),
                    Op::GetEquivalent(_) => cache.get(&ByRef(&k)),
                    Op::GetWithByRef(_, v) => {
                        loaded = want.is_none();
                        Some(cache.get_with_by_ref(&k, || v)).filter(|_| !loaded)
                    }
                    Op::EntryOrInsert(_, v) => {
                        let e = cache.entry(k).or_insert(v);
                        loaded = e.is_fresh();
                        Some(e.into_value()).filter(|_| !loaded)
                    }
                    Op::GuardInsert(_, v) => match cache.get_value_or_guard(&k) {
                        crate::GuardResult::Value(v) => Some(v),
                        crate::GuardResult::Guard(g) => {
                            loaded = true;
                            prop_assert_eq!(g.insert(v), Ok(()), "nothing overtook the guard");
                            None
                        }
                        crate::GuardResult::Timeout => unreachable!("no one else holds a guard"),
                    },
                    _ => unreachable!(),
                };
                hits += u64::from(got.is_some());
                prop_assert_eq!(got, want, "get({}) at t={}", k, model.now);
                // A hit moves an idle deadline to now + idle, if that is
                // more than 1/32 of the time to idle later.
                if let (true, Some(v)) = (expiry, want) {
                    if let Some(to) = ValueExpiry::read(v, model.now) {
                        model.map.get_mut(&k).expect("live").1 = Some(to);
                    }
                }
                if let (Some(idle), Some(_), false) = (idle, want, fixed.contains(&k)) {
                    let entry = model.map.get_mut(&k).expect("live");
                    let to = model.now + idle;
                    let at = entry.1.expect("an idle entry has a deadline");
                    if to > at && (to - at) * 32 > idle {
                        entry.1 = Some(to);
                    }
                }
            }
            Op::Peek(k) => prop_assert_eq!(cache.peek(&k), model.live(k), "peek({})", k),
            Op::PeekEquivalent(k) => {
                prop_assert_eq!(cache.peek(&ByRef(&k)), model.live(k), "peek({})", k)
            }
            Op::Contains(k) => prop_assert_eq!(cache.contains_key(&k), model.live(k).is_some()),
            Op::ContainsEquivalent(k) => {
                prop_assert_eq!(cache.contains_key(&ByRef(&k)), model.live(k).is_some())
            }
            Op::Remove(k) | Op::RemoveEquivalent(k) => {
                let got = if matches!(op, Op::Remove(_)) {
                    cache.remove(&k)
                } else {
                    cache.remove(&ByRef(&k))
                };
                prop_assert_eq!(got, model.map.get(&k).map(|&(v, _)| v), "remove({})", k);
            }
            Op::Upsert(k, v) => {
                let mut seen = None;
                let e = cache.entry(k).and_upsert_with(|e| {
                    seen = Some(e.map(crate::Entry::into_value));
                    v
                });
                prop_assert_eq!(seen, Some(model.live(k)), "upsert({}) saw", k);
                prop_assert_eq!(e.is_old_value_replaced(), model.live(k).is_some());
            }
            Op::ComputeRemove(k) => {
                let got = cache.entry(k).and_compute_with(|e| {
                    assert_eq!(e.map(crate::Entry::into_value), model.live(k));
                    crate::Op::Remove
                });
                let removed = match got {
                    crate::CompResult::Removed(e) => Some(e.into_value()),
                    crate::CompResult::StillNone(_) => None,
                    other => panic!("a removal gave {other:?}"),
                };
                prop_assert_eq!(removed, model.live(k), "compute remove({})", k);
            }
            Op::Advance(s) => {
                mock.increment(Duration::from_secs(u64::from(s)));
                model.now += u64::from(s);
            }
            Op::RetainEven => cache.retain(|k, _| k % 2 == 0),
            Op::InvalidateAll => cache.invalidate_all(),
            Op::SetCapacity(n) => {
                capacity = 1 + u64::from(n) % (2 * initial);
                cache.set_capacity(capacity).unwrap();
                prop_assert_eq!(cache.capacity(), capacity);
            }
            Op::Iter => {
                let mut got: Vec<(u8, u16)> = cache.iter().collect();
                got.sort_unstable();
                let mut want: Vec<(u8, u16)> = model
                    .map
                    .keys()
                    .filter_map(|&k| model.live(k).map(|v| (k, v)))
                    .collect();
                want.sort_unstable();
                prop_assert_eq!(got, want, "iter() at t={}", model.now);
            }
        }
        // Apply the op to the model, then what the listener reported.
        let mut refused = None;
        // A load inserts what it loaded, as `insert` would.
        let op = match op {
            Op::GetWithByRef(k, v) | Op::EntryOrInsert(k, v) | Op::GuardInsert(k, v) if loaded => {
                Op::Insert(k, v)
            }
            Op::Upsert(k, v) => Op::Insert(k, v),
            Op::ComputeRemove(k) => Op::Remove(k),
            op => op,
        };
        match op {
            Op::Insert(k, v) | Op::InsertTtl(k, v, _) if weigh(v) > capacity => {
                refused = Some((k, v));
                model.map.remove(&k);
            }
            Op::Insert(k, v) if expiry => {
                // The old deadline if the key is live (an update), else none.
                let old = model.live(k).map(|_| model.map[&k].1);
                model
                    .map
                    .insert(k, (v, ValueExpiry::write(v, old, model.now)));
            }
            Op::Insert(k, v) => {
                model.map.insert(k, (v, idle.map(|i| model.now + i)));
                fixed.remove(&k);
            }
            Op::InsertTtl(k, v, t) => {
                model.map.insert(k, (v, Some(model.now + u64::from(t))));
                fixed.insert(k);
            }
            Op::Remove(k) | Op::RemoveEquivalent(k) => {
                model.map.remove(&k);
            }
            Op::RetainEven => model.map.retain(|k, _| k % 2 == 0),
            Op::InvalidateAll => model.map.clear(),
            _ => {}
        }
        let mut evicted = 0;
        for (k, v, cause) in log.lock().unwrap().drain(..) {
            evicted += u64::from(cause == RemovalCause::Capacity);
            match cause {
                RemovalCause::Capacity | RemovalCause::Expired => {
                    // The listener names the value that left; only drop the
                    // key from the model if that is still its value.
                    if model.map.get(&k).map(|&(mv, _)| mv) == Some(v) {
                        model.map.remove(&k);
                    }
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
                RemovalCause::Rejected => {
                    prop_assert_eq!(refused.take(), Some((k, v)), "refused entry");
                }
            }
        }
        prop_assert_eq!(refused, None, "a refused entry was not reported");
        if let (Op::Insert(_, v) | Op::InsertTtl(_, v, _), true) = (&op, evicted > 0) {
            // Evictions only for room: with weight-1 entries, only into a
            // full cache; with one shard, only where the entry (less the
            // value it replaces, at most its own weight) did not fit.
            if !weighted {
                prop_assert_eq!(len_before, capacity, "evicted {} with room", evicted);
            } else if shards == 1 {
                prop_assert!(
                    weight_before + weigh(*v) > capacity,
                    "evicted {} with room: {} + {} within {}",
                    evicted,
                    weight_before,
                    weigh(*v),
                    capacity
                );
            }
        }
        cache.validate();
        prop_assert!(cache.len() as usize <= model.map.len().max(cache.len() as usize));
        prop_assert!(
            cache.weighted_size() <= capacity,
            "weighted size over capacity"
        );
        if !weighted {
            prop_assert!(cache.len() <= capacity);
        }
    }
    let stats = cache.stats();
    // What the test saw, not an identity: hits are derived from calls
    // and misses inside the snapshot, so all three are checked.
    prop_assert_eq!(stats.gets(), gets);
    prop_assert_eq!(stats.hits(), hits);
    prop_assert_eq!(stats.misses_absent() + stats.misses_expired(), gets - hits);
    prop_assert_eq!(stats.get_latency().unwrap().count(), gets);
    prop_assert_eq!(stats.entries(), cache.len());
    prop_assert_eq!(cache.entry_count(), cache.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn one_shard_matches_the_model(ops in prop::collection::vec(op(), 1..400), capacity in 1u64..40) {
        run(ops, capacity, 1, false)?;
    }

    #[test]
    fn many_shards_match_the_model(ops in prop::collection::vec(op(), 1..400), capacity in 8u64..200) {
        run(ops, capacity, 4, false)?;
    }

    #[test]
    fn weighted_entries_match_the_model(ops in prop::collection::vec(op(), 1..400), capacity in 1u64..60) {
        run(ops, capacity, 1, true)?;
    }

    #[test]
    fn weighted_entries_on_many_shards_match_the_model(
        ops in prop::collection::vec(op(), 1..400),
        capacity in 1u64..60,
        shards in 2usize..9,
    ) {
        run(ops, capacity, shards, true)?;
    }

    #[test]
    fn keys_whose_low_hash_bits_collide_match_the_model(
        ops in prop::collection::vec(op(), 1..400),
        capacity in 1u64..60,
        (shards, weighted) in prop_oneof![
            Just((1usize, false)),
            Just((1, true)),
            Just((4, false)),
            Just((4, true)),
        ],
    ) {
        run_with(ops, capacity.max(shards as u64 * 2), shards, weighted, Colliding, Timing::Ttl)?;
    }

    #[test]
    fn time_to_idle_matches_the_model(
        ops in prop::collection::vec(op(), 1..400),
        capacity in 8u64..200,
        shards in prop_oneof![Just(1usize), Just(4)],
        idle in 1u64..40,
    ) {
        run_with(ops, capacity, shards, false, ahash::RandomState::new(), Timing::Idle(idle))?;
    }

    #[test]
    fn an_expiry_matches_the_model(
        ops in prop::collection::vec(op(), 1..400),
        capacity in 8u64..200,
        shards in prop_oneof![Just(1usize), Just(4)],
    ) {
        run_with(ops, capacity, shards, false, ahash::RandomState::new(), Timing::Expiry)?;
    }
}
