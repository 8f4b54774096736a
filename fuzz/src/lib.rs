//! Fuzz target bodies, shared by `cargo fuzz` (nightly) and the stable
//! regression test over `corpus/`. Built with `--cfg fuzzing`, which
//! compiles the engine's `validate()`.
#![cfg(fuzzing)]

use arbitrary::{Arbitrary, Unstructured};
use clockwise::model_support::{ByRef, ValueExpiry};
use clockwise::{Cache, CompResult, GuardResult, RemovalCause};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One cache operation.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// `insert(key, value)`.
    Insert(u8, u16),
    /// `insert_with_ttl(key, value, seconds)`.
    InsertTtl(u8, u16, u8),
    /// `get(key)`.
    Get(u8),
    /// `contains_key(key)`.
    Contains(u8),
    /// `remove(key)`.
    Remove(u8),
    /// Move the mock clock forward.
    Advance(u8),
    /// `retain(|k, _| k % m != 0)`.
    Retain(u8),
    /// `invalidate_all()`.
    InvalidateAll,
    /// `iter()`, compared whole with the model's live entries.
    Iter,
    /// `peek(key)`.
    Peek(u8),
    /// `try_insert(key, value)`.
    TryInsert(u8, u16),
    /// `set_capacity(1 + n % (twice the initial capacity))`.
    SetCapacity(u8),
    /// `get` by [`ByRef`], an equivalent of the key.
    GetEquivalent(u8),
    /// `remove` by [`ByRef`].
    RemoveEquivalent(u8),
    /// `get_with_by_ref(&key, || value)`: a get, then on a miss an insert.
    GetWithByRef(u8, u16),
    /// `entry(key).or_insert(value)`: the same, fresh only on a miss.
    EntryOrInsert(u8, u16),
    /// `get_value_or_guard(&key)`, the guard filled with `value`.
    GuardInsert(u8, u16),
    /// `entry(key).and_upsert_with(|_| value)`: sees the live value, then
    /// writes as `insert`.
    Upsert(u8, u16),
    /// `entry(key).and_compute_with(|_| Op::Remove)`.
    ComputeRemove(u8),
}

/// A cache configuration and operations on it.
#[derive(Arbitrary, Debug)]
pub struct Input {
    capacity: u8,
    shards: u8,
    weighted: bool,
    /// A time to idle of this many seconds, if not 0 and `expiry` is 0;
    /// [`ValueExpiry`] if `expiry` is not 0.
    idle: u8,
    expiry: u8,
    ops: Vec<Op>,
}

type Log = Arc<Mutex<Vec<(u8, u16, RemovalCause)>>>;

/// Runs `data` as an [`Input`] against the cache and a `HashMap` model,
/// checking every result and `validate()` after every operation. Panics on
/// any disagreement.
pub fn ops(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    // Any capacity over any number of shards: shards lend each other
    // capacity, so the model needs no shard's share.
    let shards = 1 + usize::from(input.shards % 8);
    let initial = u64::from(input.capacity.max(1));
    let capacity = initial;
    // Mostly 0 to 3 (0 weighs 1), one value in sixteen up to the capacity
    // plus one: heavy entries, the whole capacity, and refused ones.
    let weigh = move |v: u16| {
        if v.is_multiple_of(16) {
            (u64::from(v / 16) % (initial + 2)) as u32
        } else {
            u32::from(v % 4)
        }
    };
    let weight = |v: u16| {
        if input.weighted {
            u64::from(weigh(v).max(1))
        } else {
            1
        }
    };
    let (clock, mock) = clockwise::stats::Clock::mock();
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let mut builder = Cache::builder()
        .max_capacity(capacity)
        .shards(shards)
        // Both cold floors, adaptive and fixed: by the shards byte's high
        // bit, which the shard count ignores.
        .adapt_cold_floor(input.shards & 0x80 == 0)
        .clock(clock)
        .eviction_listener(move |k: &u8, v: &u16, c| sink.lock().unwrap().push((*k, *v, c)));
    if input.weighted {
        builder = builder.weigher(move |_: &u8, v: &u16| weigh(*v));
    }
    let expiry = input.expiry > 0;
    let idle = (input.idle > 0 && !expiry).then_some(u64::from(input.idle % 64 + 1));
    if let Some(idle) = idle {
        builder = builder.time_to_idle(Duration::from_secs(idle));
    }
    if expiry {
        builder = builder.expire_after(ValueExpiry);
    }
    // Keys with a time to live of their own, which reads do not extend.
    let mut own = std::collections::HashSet::new();
    let cache: Cache<u8, u16> = builder.build();
    let mut capacity = capacity;
    // key -> (value, expiry in seconds)
    let mut model: HashMap<u8, (u16, Option<u64>)> = HashMap::new();
    let mut now = 0u64;
    let live = |m: &HashMap<u8, (u16, Option<u64>)>, k: u8, now: u64| {
        m.get(&k)
            .filter(|(_, e)| e.is_none_or(|e| e > now))
            .map(|&(v, _)| v)
    };
    for op in input.ops {
        let fits = |v: u16| weight(v) <= capacity;
        let len_before = cache.len();
        // A loader that misses (`get_with_by_ref`, `or_insert`, a guard)
        // writes what it loaded, and an upsert writes: the model's insert,
        // made through `via`.
        let (op, via) = match op {
            Op::GetWithByRef(k, v) | Op::EntryOrInsert(k, v) | Op::GuardInsert(k, v)
                if live(&model, k, now).is_none() =>
            {
                (Op::Insert(k, v), Some(op))
            }
            Op::Upsert(k, v) => (Op::Insert(k, v), Some(op)),
            op => (op, None),
        };
        let inserted = matches!(op, Op::Insert(..) | Op::InsertTtl(..) | Op::TryInsert(..));
        // The entry `insert` refused, which the listener must hear of.
        let mut refused = None;
        match op {
            Op::Insert(k, v) => {
                let old = live(&model, k, now).map(|_| model[&k].1);
                match via {
                    None => cache.insert(k, v),
                    Some(Op::GetWithByRef(..)) => {
                        assert_eq!(cache.get_with_by_ref(&k, || v), v, "get_with_by_ref({k})")
                    }
                    Some(Op::EntryOrInsert(..)) => {
                        let e = cache.entry(k).or_insert(v);
                        assert!(e.is_fresh(), "or_insert({k}) on a miss is fresh");
                        assert_eq!(e.into_value(), v);
                    }
                    Some(Op::GuardInsert(..)) => match cache.get_value_or_guard(&k) {
                        GuardResult::Guard(g) => assert_eq!(g.insert(v), Ok(())),
                        other => panic!("get_value_or_guard({k}) on a miss gave {other:?}"),
                    },
                    Some(Op::Upsert(..)) => {
                        let mut seen = None;
                        cache.entry(k).and_upsert_with(|e| {
                            seen = Some(e.map(clockwise::Entry::into_value));
                            v
                        });
                        assert_eq!(seen, Some(live(&model, k, now)), "upsert({k}) saw");
                    }
                    Some(other) => unreachable!("{other:?} is not a write"),
                }
                own.remove(&k);
                if fits(v) && expiry {
                    model.insert(k, (v, ValueExpiry::write(v, old, now)));
                } else if fits(v) {
                    model.insert(k, (v, idle.map(|i| now + i)));
                } else {
                    model.remove(&k);
                    refused = Some((k, v));
                }
            }
            Op::TryInsert(k, v) => match cache.try_insert(k, v) {
                Ok(()) => {
                    assert!(fits(v), "try_insert({k}) stored an entry over the capacity");
                    let old = live(&model, k, now).map(|_| model[&k].1);
                    let at = if expiry {
                        ValueExpiry::write(v, old, now)
                    } else {
                        idle.map(|i| now + i)
                    };
                    model.insert(k, (v, at));
                    own.remove(&k);
                }
                Err(e) => {
                    assert!(!fits(v), "try_insert({k}) refused an entry that fits");
                    assert_eq!(e.capacity(), capacity);
                    assert_eq!(e.into_parts(), (k, v));
                }
            },
            Op::InsertTtl(k, v, t) => {
                let t = u64::from(t.max(1));
                cache.insert_with_ttl(k, v, Duration::from_secs(t));
                own.insert(k);
                if fits(v) {
                    model.insert(k, (v, Some(now + t)));
                } else {
                    model.remove(&k);
                    refused = Some((k, v));
                }
            }
            Op::Get(k)
            | Op::GetEquivalent(k)
            | Op::GetWithByRef(k, _)
            | Op::EntryOrInsert(k, _)
            | Op::GuardInsert(k, _) => {
                let want = live(&model, k, now);
                let got = match op {
                    Op::Get(_) => cache.get(&k),
                    Op::GetEquivalent(_) => cache.get(&ByRef(&k)),
                    Op::GetWithByRef(_, v) => Some(cache.get_with_by_ref(&k, || v)),
                    Op::EntryOrInsert(_, v) => {
                        let e = cache.entry(k).or_insert(v);
                        assert!(!e.is_fresh(), "or_insert({k}) on a hit is not fresh");
                        Some(e.into_value())
                    }
                    Op::GuardInsert(..) => match cache.get_value_or_guard(&k) {
                        GuardResult::Value(v) => Some(v),
                        other => panic!("get_value_or_guard({k}) on a hit gave {other:?}"),
                    },
                    _ => unreachable!("the arm's operations"),
                };
                assert_eq!(got, want, "get({k})");
                if let (true, Some(v)) = (expiry, want) {
                    if let Some(to) = ValueExpiry::read(v, now) {
                        model.get_mut(&k).expect("live").1 = Some(to);
                    }
                }
                // A hit moves an idle deadline to now + idle when that is
                // over 1/32 of the time to idle later.
                if let (Some(idle), Some(_), false) = (idle, want, own.contains(&k)) {
                    let entry = model.get_mut(&k).expect("live");
                    let (to, at) = (now + idle, entry.1.expect("an idle deadline"));
                    if to > at && (to - at) * 32 > idle {
                        entry.1 = Some(to);
                    }
                }
            }
            Op::Peek(k) => assert_eq!(cache.peek(&k), live(&model, k, now), "peek({k})"),
            Op::Contains(k) => assert_eq!(cache.contains_key(&k), live(&model, k, now).is_some()),
            Op::Remove(k) | Op::RemoveEquivalent(k) => {
                let got = match op {
                    Op::Remove(_) => cache.remove(&k),
                    _ => cache.remove(&ByRef(&k)),
                };
                assert_eq!(got, model.remove(&k).map(|(v, _)| v), "remove({k})");
            }
            Op::ComputeRemove(k) => {
                let want = live(&model, k, now);
                let got = match cache.entry(k).and_compute_with(|e| {
                    assert_eq!(
                        e.map(clockwise::Entry::into_value),
                        want,
                        "compute({k}) saw"
                    );
                    clockwise::Op::Remove
                }) {
                    CompResult::Removed(e) => Some(e.into_value()),
                    CompResult::StillNone(_) => None,
                    other => panic!("a removal by compute({k}) gave {other:?}"),
                };
                assert_eq!(got, want, "compute remove({k})");
                model.remove(&k);
            }
            Op::Upsert(..) => unreachable!("made an insert above"),
            Op::Advance(s) => {
                mock.increment(Duration::from_secs(u64::from(s)));
                now += u64::from(s);
            }
            Op::Retain(m) => {
                let m = m.max(2);
                cache.retain(|k, _| k % m != 0);
                model.retain(|k, _| k % m != 0);
            }
            Op::InvalidateAll => {
                cache.invalidate_all();
                model.clear();
            }
            Op::SetCapacity(n) => {
                capacity = 1 + u64::from(n) % (2 * initial);
                cache
                    .set_capacity(capacity)
                    .expect("a capacity of at least 1");
                assert_eq!(cache.capacity(), capacity);
            }
            Op::Iter => {
                let mut got: Vec<(u8, u16)> = cache.iter().collect();
                got.sort_unstable();
                let mut want: Vec<(u8, u16)> = model
                    .keys()
                    .filter_map(|&k| live(&model, k, now).map(|v| (k, v)))
                    .collect();
                want.sort_unstable();
                assert_eq!(got, want, "iter() at t={now}");
            }
        }
        let mut evicted = false;
        for (k, v, cause) in log.lock().unwrap().drain(..) {
            evicted |= cause == RemovalCause::Capacity;
            let entry = model.get(&k).copied();
            let drop = match cause {
                // The cache chose to evict: the model's entry, if it is the
                // one evicted (an update's old value is reported Replaced).
                RemovalCause::Capacity => entry.is_some_and(|(mv, _)| mv == v),
                // Any removal of an entry past its time to live is told as
                // expiry, an insert over it included: the model's entry goes
                // only if it has expired too (the new value of an insert
                // over an expired entry, even an equal one, has not).
                RemovalCause::Expired => {
                    entry.is_some_and(|(mv, e)| mv == v && e.is_some_and(|e| e <= now))
                }
                RemovalCause::Explicit | RemovalCause::Replaced => false,
                RemovalCause::Rejected => {
                    assert_eq!(
                        refused.take(),
                        Some((k, v)),
                        "a rejection nothing asked for"
                    );
                    false
                }
                // A cause this model does not know is a cause the engine
                // grew without the model: fail loudly, not silently.
                other => panic!("a removal cause the model does not know: {other:?}"),
            };
            if drop {
                model.remove(&k);
            }
        }
        assert_eq!(refused, None, "a refused entry was not reported");
        if evicted && inserted && !input.weighted {
            // Weight-1 entries are evicted only from a full cache, however
            // the keys fall on the shards.
            assert_eq!(len_before, capacity, "evicted with room");
        }
        cache.validate();
        assert!(cache.weighted_size() <= capacity);
    }
}
