//! Atomic read-modify-write of one key: the entry API's `and_compute_with`,
//! `and_try_compute_with` and `and_upsert_with`, and their async twins.
//!
//! # Invariants
//!
//! - Computes of one key run one at a time: each leads a flight of its
//!   own kind ([`ComputeKind`]); a second waits for the first to end, then
//!   reads again.
//! - A compute registers with its key's shard and reads the key's entry
//!   in one hold of the shard's lock. Every insert, update or explicit
//!   removal of the key after that marks it, in the lock hold in which it
//!   writes (a load's or refresh's store included: they write through the
//!   same paths).
//! - The compute's own write checks its mark and unregisters in the lock
//!   hold in which it writes; a marked compute writes nothing. It is
//!   ordered before the write that marked it, which replaced its effect,
//!   so a compute never overwrites a write it did not see.
//! - Every registration ends exactly once: by the write, or by dropping
//!   the [`Computing`] that holds it (a `Nop`, an `Err`, a panic, a
//!   cancelled future); `validate()` checks that none is left.
//!
//! An eviction or expiry is not a write: a `Put` after one stores its
//! value. Why the shard lock and not only the flights' mark:
//! `docs/design/loading.md`.

use crate::cache::Cache;
use crate::entry::NEVER;
use crate::entry_selector::Entry;
use crate::flight::{Flight, Leader, Outcome, Role};
use crate::shard::{Shard, Unlinked};
use crate::RemovalCause;
use std::any::TypeId;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

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

/// A compute between its read and its write: the key's compute flight and
/// the shard's registration. Dropped unapplied (a `Nop`, an `Err`, a
/// panic, a cancelled future), it ends both, so the next compute of the
/// key goes ahead.
struct Computing<'a, K, V> {
    shard: &'a Shard<K, V>,
    leader: Option<Leader<K, V>>,
    key: K,
    hash: u64,
    ticket: u64,
}

impl<K, V> Drop for Computing<'_, K, V> {
    fn drop(&mut self) {
        if let Some(leader) = self.leader.take() {
            self.shard.end_compute(self.ticket);
            leader.abandon_with(Outcome::Abandoned);
        }
    }
}

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
        let leader = loop {
            match self.compute_join(&key, hash) {
                Ok(leader) => break leader,
                // Another compute of the key runs: wait for it to end (it
                // is the user's code, so without a bound, as a lock
                // would), then read again.
                Err(flight) => drop(flight.wait(None)),
            }
        };
        let (computing, old) = self.compute_read(leader, key, hash);
        let decided = {
            let _running = computing.running();
            catch_unwind(AssertUnwindSafe(|| decide(old.clone())))
        };
        self.compute_decided(computing, old, decided)
    }

    /// [`compute`](Self::compute) with an async `decide`, awaiting another
    /// compute of the key instead of blocking on it.
    #[cfg(feature = "async")]
    pub(crate) async fn compute_async<E, F>(
        &self,
        key: K,
        decide: impl FnOnce(Option<Entry<K, V>>) -> F,
    ) -> Result<CompResult<K, V>, E>
    where
        F: std::future::Future<Output = Result<Op<V>, E>>,
    {
        let hash = self.hash(&key);
        let leader = loop {
            match self.compute_join(&key, hash) {
                Ok(leader) => break leader,
                Err(flight) => drop(crate::loading_async::wait_at_most(&flight, None).await),
            }
        };
        let (computing, old) = self.compute_read(leader, key, hash);
        // Dropping this future here drops `computing`, which ends the
        // compute.
        let decide = decide(old.clone());
        let decided = crate::loading_async::poll_listed(|| computing.running(), decide).await;
        self.compute_decided(computing, old, decided)
    }

    /// Ends a compute with what its closure decided: the op applied, the
    /// closure's error returned, or its panic re-raised, the last two
    /// after the compute is ended with nothing written.
    fn compute_decided<E>(
        &self,
        computing: Computing<'_, K, V>,
        old: Option<Entry<K, V>>,
        decided: std::thread::Result<Result<Op<V>, E>>,
    ) -> Result<CompResult<K, V>, E> {
        match decided {
            Ok(Ok(op)) => Ok(self.compute_apply(computing, old, op)),
            Ok(Err(e)) => Err(e),
            Err(panic) => {
                drop(computing);
                resume_unwind(panic)
            }
        }
    }

    /// Leads `key`'s compute flight, or returns the running compute's
    /// flight to wait for.
    fn compute_join(&self, key: &K, hash: u64) -> Result<Leader<K, V>, Arc<Flight<K, V>>> {
        let kind = TypeId::of::<ComputeKind>();
        match self
            .inner
            .flights
            .join(self.shard_index(hash), key, kind, |_| None)
        {
            Role::Lead(leader) => Ok(leader),
            Role::Wait(flight) => Err(flight),
            Role::Recursive => panic!("{}", crate::RECURSIVE_LOAD),
            Role::Ready(_) => unreachable!("the re-check finds nothing"),
        }
    }

    /// Registers the compute with its shard and reads the key's live
    /// entry, in one hold of the shard's lock: from here, every write of
    /// the key marks this compute.
    fn compute_read(
        &self,
        leader: Leader<K, V>,
        key: K,
        hash: u64,
    ) -> (Computing<'_, K, V>, Option<Entry<K, V>>) {
        let guard = crate::reclaim::pin();
        let shard = self.shard(hash);
        let (ticket, found) = shard.begin_compute(hash, &key, &guard);
        let computing = Computing {
            shard,
            leader: Some(leader),
            key,
            hash,
            ticket,
        };
        let live = found.filter(|e| {
            let at = e.expires_at();
            at == NEVER || at > self.now()
        });
        // The user's `clone`, after the lock; a panic in it drops
        // `computing`, which ends the compute.
        let value = live.map(|e| e.value.clone());
        drop(guard);
        let old = value.map(|v| Entry::new(computing.key.clone(), v, false, false));
        (computing, old)
    }

    /// Applies a compute's `op`, decided from `old`: the write checks the
    /// compute's mark in the lock hold in which it writes.
    fn compute_apply(
        &self,
        mut computing: Computing<'_, K, V>,
        old: Option<Entry<K, V>>,
        op: Op<V>,
    ) -> CompResult<K, V> {
        let value = match op {
            Op::Put(v) => Some(v),
            Op::Remove => None,
            Op::Nop => {
                return match old {
                    Some(e) => CompResult::Unchanged(e),
                    None => CompResult::StillNone(computing.key.clone()),
                };
            }
        };
        let (hash, ticket) = (computing.hash, Some(computing.ticket));
        let key = computing.key.clone();
        let (weight, own_ttl) = self.prepare_write(hash, &key, value.as_ref());
        let leader = computing.leader.take().expect("a compute applies once");
        let guard = crate::reclaim::pin();
        let mut removed = Unlinked::new();
        // Under the flights lock, so a compute of the key waiting for this
        // one reads after the write; the write itself checks the mark and
        // ends the registration.
        leader.finish(Outcome::Abandoned, |_| match &value {
            Some(v) => {
                let (k, v) = (key.clone(), v.clone());
                self.write_with(hash, k, v, weight, own_ttl, &guard, &mut removed, ticket);
            }
            None => {
                let cause = RemovalCause::Explicit;
                self.remove_hashed(hash, &key, cause, &guard, &mut removed, ticket);
            }
        });
        if value.is_none() {
            if let Some(negative) = &self.inner.negative {
                negative.remove(&key);
            }
        }
        self.report(removed, guard);
        match (value, old) {
            (Some(v), None) => CompResult::Inserted(Entry::new(key, v, true, false)),
            (Some(v), Some(_)) => CompResult::ReplacedWith(Entry::new(key, v, true, true)),
            (None, Some(e)) => CompResult::Removed(e),
            (None, None) => CompResult::StillNone(key),
        }
    }
}

impl<K, V> Computing<'_, K, V> {
    /// Lists the compute as running on this thread while the mark lives,
    /// so that its closure asking for its own key's compute is told.
    fn running(&self) -> crate::flight::LoaderRunning {
        self.leader.as_ref().expect("not yet applied").running()
    }
}
