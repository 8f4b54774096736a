//! Atomic read-modify-write of one key: the entry API's `and_compute_with`,
//! `and_try_compute_with` and `and_upsert_with`.
//!
//! A compute is a flight of its own kind ([`ComputeKind`]), so computes of
//! one key run one at a time: a second waits for the first to end, then
//! reads again. The leader reads the key's value under the flights lock,
//! as it registers, and applies the closure's [`Op`] under the same lock
//! as it ends. Every write of the key in between (an insert, a removal or
//! invalidation, a load or refresh storing its value) marks the compute
//! superseded, and a superseded compute writes nothing: it is ordered
//! before that write, which replaced its effect. So a compute never
//! overwrites a write it did not see. An eviction or expiry is not a
//! write: a `Put` after one stores its value.

use crate::cache::Cache;
use crate::entry::NEVER;
use crate::entry_selector::Entry;
use crate::flight::{Outcome, Role};
use crate::shard::Unlinked;
use crate::RemovalCause;
use std::any::TypeId;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// What a compute does with the key, decided by its closure from the
/// current entry.
///
/// ```
/// use clockwise::{Cache, Op};
/// let cache: Cache<&str, u32> = Cache::new(10);
/// // A counter: insert 1, or add 1 to the current value.
/// let bump = |e: Option<clockwise::Entry<&str, u32>>| Op::Put(e.map_or(1, |e| e.into_value() + 1));
/// cache.entry("hits").and_compute_with(bump);
/// cache.entry("hits").and_compute_with(bump);
/// assert_eq!(cache.get("hits"), Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<V> {
    /// Leave the key as it is.
    Nop,
    /// Store this value (inserting or replacing).
    Put(V),
    /// Remove the key (cause `Explicit`).
    Remove,
}

/// What a compute did.
///
/// ```
/// use clockwise::{Cache, CompResult, Op};
/// let cache: Cache<u32, u32> = Cache::new(10);
/// assert!(matches!(cache.entry(1).and_compute_with(|_| Op::Nop), CompResult::StillNone(1)));
/// assert!(matches!(cache.entry(1).and_compute_with(|_| Op::Put(5)), CompResult::Inserted(_)));
/// let CompResult::Removed(old) = cache.entry(1).and_compute_with(|_| Op::Remove) else { unreachable!() };
/// assert_eq!(old.into_value(), 5);
/// ```
#[derive(Debug)]
pub enum CompResult<K, V> {
    /// The key was absent and the value was stored.
    Inserted(Entry<K, V>),
    /// The key's value was replaced by this one.
    ReplacedWith(Entry<K, V>),
    /// The key was removed; this was its value.
    Removed(Entry<K, V>),
    /// The key was left as it was: this is its value.
    Unchanged(Entry<K, V>),
    /// The key was absent and stays absent.
    StillNone(K),
}

/// The flight kind of computes.
struct ComputeKind;

impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Runs `decide` on `key`'s current entry and applies its [`Op`],
    /// atomically with respect to every other write of the key (see the
    /// module top). An `Err` from `decide` changes nothing.
    pub(crate) fn compute<E>(
        &self,
        key: K,
        decide: impl FnOnce(Option<Entry<K, V>>) -> Result<Op<V>, E>,
    ) -> Result<CompResult<K, V>, E> {
        let hash = self.hash(&key);
        let shard = self.shard_index(hash);
        let kind = TypeId::of::<ComputeKind>();
        let leader = loop {
            match self.inner.flights.join(shard, &key, kind, |_| None) {
                Role::Lead(leader) => break leader,
                // Another compute of the key runs: wait for it to end (it
                // is the user's code, so without a bound, as a lock
                // would), then read again.
                Role::Wait(flight) => drop(flight.wait(None)),
                Role::Recursive => panic!("{}", crate::RECURSIVE_LOAD),
                Role::Ready(_) => unreachable!("the re-check finds nothing"),
            }
        };
        // Registered and read in one hold of the shard's lock: from here,
        // every write of the key marks this compute.
        let (ticket, current) = {
            let guard = crate::reclaim::pin();
            let (ticket, found) = self.shard(hash).begin_compute(hash, &key, &guard);
            let live = found.filter(|e| {
                let at = e.expires_at();
                at == NEVER || at > self.now()
            });
            // The user's `clone`, after the lock.
            let value = catch_unwind(AssertUnwindSafe(|| live.map(|e| e.value.clone())));
            drop(guard);
            match value {
                Ok(value) => (ticket, value),
                Err(panic) => {
                    self.shard(hash).end_compute(ticket);
                    leader.abandon_with(Outcome::Abandoned);
                    resume_unwind(panic)
                }
            }
        };
        let old = current.map(|v| Entry::new(key.clone(), v, false, false));
        let decided = {
            let _running = leader.running();
            catch_unwind(AssertUnwindSafe(|| decide(old.clone())))
        };
        let op = match decided {
            Ok(Ok(Op::Put(v))) => Some(v),
            Ok(Ok(Op::Remove)) => None,
            Ok(Ok(Op::Nop)) => {
                self.shard(hash).end_compute(ticket);
                leader.abandon_with(Outcome::Abandoned);
                return Ok(match old {
                    Some(e) => CompResult::Unchanged(e),
                    None => CompResult::StillNone(key),
                });
            }
            Ok(Err(e)) => {
                self.shard(hash).end_compute(ticket);
                leader.abandon_with(Outcome::Abandoned);
                return Err(e);
            }
            Err(panic) => {
                self.shard(hash).end_compute(ticket);
                leader.abandon_with(Outcome::Abandoned);
                resume_unwind(panic)
            }
        };
        let value = op;
        let (weight, own_ttl) = self.prepare_write(hash, &key, value.as_ref());
        let guard = crate::reclaim::pin();
        let mut removed = Unlinked::new();
        // Under the flights lock, so a compute of the key waiting for this
        // one reads after the write; the write itself checks the mark.
        leader.finish(Outcome::Abandoned, |_| match &value {
            Some(v) => {
                let (k, v) = (key.clone(), v.clone());
                let ticket = Some(ticket);
                self.write_with(hash, k, v, weight, own_ttl, &guard, &mut removed, ticket);
            }
            None => {
                let cause = RemovalCause::Explicit;
                self.remove_hashed(hash, &key, cause, &guard, &mut removed, Some(ticket));
            }
        });
        if value.is_none() {
            if let Some(negative) = &self.inner.negative {
                negative.remove(&key);
            }
        }
        self.report(removed, guard);
        Ok(match (value, old) {
            (Some(v), None) => CompResult::Inserted(Entry::new(key, v, true, false)),
            (Some(v), Some(_)) => CompResult::ReplacedWith(Entry::new(key, v, true, true)),
            (None, Some(e)) => CompResult::Removed(e),
            (None, None) => CompResult::StillNone(key),
        })
    }
}
