//! One shard: a lock-free-readable [`Table`] plus the writer state behind a
//! mutex.
//!
//! # Who writes what
//!
//! - `table` (the pointer) and every slot in the table: only the holder of
//!   `state`'s lock. Readers load them with `Acquire`.
//! - Entries' reference bits: readers set them; the lock holder clears them
//!   (the hands) and sets them (updates, the cold hand's landing mark); see
//!   [`crate::entry`].
//! - `gauges`: written by the lock holder after each write, read by
//!   snapshots; each is exact whenever the lock is free.
//!
//! The lock protects the CLOCK-Pro state, the table's slot contents and
//! counts, the shard's capacity, the decision to replace the table, and
//! the registry of computes between their read and their write (each
//! write of a key marks that key's computes in the hold in which it
//! writes; see `docs/design/loading.md`).
//!
//! # Capacity
//!
//! Each shard holds part of the cache's capacity (an even share at first)
//! and lends what it does not use: a writer short of room borrows from
//! shards with capacity to lend, try-locking them (never waiting while it
//! holds its own lock), before it evicts; an entry heavier than its shard
//! can be made to hold that way takes every lock, in index order
//! ([`Shard::insert_heavy`]). The shards' capacities always sum to the cache's.
//! Why, and what it costs: `docs/design/capacity.md`. An entry a write removes
//! is unlinked under it but not retired: it goes into the writer's
//! [`Unlinked`], which owns it (no reader finds it any more, nothing frees
//! it) until the listener has been told, after the lock and, when there is
//! a listener, the writer's pin are released; then it is retired.

use crate::clock_pro::{ClockPro, EvictionCause, Host, Sizes};
use crate::entry::{Entry, EntryRef, NewEntry, NEVER};
use crate::lending::{Lending, Look};
use crate::reclaim::{self, Atomic, Guard, Owned, Shared};
use crate::sync::{lock, try_lock, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::table::{Slot, Table};
use crate::Equivalent;
use crate::RemovalCause;
use crossbeam_utils::CachePadded;
use std::ptr::NonNull;

/// A resident page of the policy: the entry it stands for.
struct Page<K, V>(NonNull<Entry<K, V>>);

impl<K, V> Clone for Page<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Page<K, V> {}

impl<K, V> Page<K, V> {
    fn entry(&self) -> EntryRef<'_, K, V> {
        // SAFETY: the policy holds a page only while its entry is linked in
        // the table. The entry is unlinked and retired only after the policy
        // has given the page up, under the same lock, and freed only after
        // every reader pinned at that time has unpinned; the lock
        // holder dereferences pages only while holding the lock. The page
        // is the block's own pointer.
        unsafe { EntryRef::new(self.0) }
    }
}

// SAFETY: a page is a pointer to an `Entry<K, V>` that is shared between
// threads anyway (readers reach it through the table); the policy that holds
// pages is only used under the shard lock.
unsafe impl<K: Send + Sync, V: Send + Sync> Send for Page<K, V> {}

struct State<K, V> {
    /// Also the shard's capacity ([`ClockPro::capacity`]).
    policy: ClockPro<Page<K, V>>,
    slots: Slots,
    /// Unused capacity other shards may borrow: at most the unused
    /// capacity, and none of what evictions freed beyond what the insert
    /// that ran them needed (weighted entries' leftovers, kept for this
    /// shard's next insert rather than lent piecemeal) unless that is a
    /// large part of the capacity ([`LEFTOVER`]).
    lendable: u64,
    /// Next slot the bounded expiry sweep looks at.
    sweep: usize,
    /// An entry with a time to live was ever written here. Until then the
    /// sweep is skipped: it dereferences every slot it inspects (a cache
    /// miss each), which cost a cache without TTLs over half its insert
    /// time.
    expiring: bool,
    /// Computes of this shard's keys between their read and their write
    /// (see [`crate::compute`]); empty but for them, so a write checks one
    /// length.
    computes: Vec<Pending<K>>,
    /// The next compute's ticket.
    next_compute: u64,
}

/// A compute between its read and its write. Every insert, update or
/// explicit removal of its key meanwhile marks it superseded, under the
/// lock; the compute checks the mark and unregisters under the lock hold
/// in which it writes, so a write it did not see is never overwritten.
struct Pending<K> {
    ticket: u64,
    key: K,
    superseded: bool,
}

impl<K, V> State<K, V> {
    /// Marks the computes of `key` superseded by a write.
    #[inline(always)]
    fn supersede<Q: Equivalent<K> + ?Sized>(&mut self, key: &Q) {
        if !self.computes.is_empty() {
            supersede_computes(&mut self.computes, key);
        }
    }

    /// Unregisters compute `ticket`; whether a write superseded it.
    fn end_compute(&mut self, ticket: u64) -> bool {
        let i = self
            .computes
            .iter()
            .position(|c| c.ticket == ticket)
            .expect("a compute ends once");
        self.computes.swap_remove(i).superseded
    }

    /// Unregisters compute `ticket` for its write: `None` if a write
    /// superseded it (it writes nothing), else its registration, to put
    /// back if the write moves to another lock hold.
    fn take_compute(&mut self, ticket: u64) -> Option<Pending<K>> {
        let i = self
            .computes
            .iter()
            .position(|c| c.ticket == ticket)
            .expect("a compute writes once");
        Some(self.computes.swap_remove(i)).filter(|c| !c.superseded)
    }
}

#[cold]
#[inline(never)]
fn supersede_computes<K, Q: Equivalent<K> + ?Sized>(computes: &mut [Pending<K>], key: &Q) {
    for c in computes.iter_mut().filter(|c| key.equivalent(&c.key)) {
        c.superseded = true;
    }
}

impl<K, V> State<K, V> {
    /// Publishes the lendable capacity.
    #[inline(always)]
    fn gauges_lendable(&self, g: &Gauges) {
        // Relaxed: a hint for borrowers; the lending word's bump orders it
        // where that matters (see `crate::lending`).
        g.lendable.store(self.lendable, Ordering::Relaxed);
    }
}

/// The table's slot counts, kept by the lock holder, and the weight that
/// left other than for room since the operation began.
#[derive(Default)]
struct Slots {
    live: usize,
    tombstones: usize,
    /// Weight unlinked by removals, expiry and replacement (not evictions
    /// for room): what [`Shard::settle`] may make lendable.
    freed: u64,
}

/// Levels published for snapshots.
#[derive(Default)]
pub(crate) struct Gauges {
    pub(crate) len: AtomicU64,
    pub(crate) weight: AtomicU64,
    pub(crate) hot: AtomicU64,
    pub(crate) cold: AtomicU64,
    pub(crate) test: AtomicU64,
    pub(crate) window: AtomicU64,
    /// The shard's lendable capacity, for borrowers choosing whom to
    /// try-lock (the lock holder's count decides).
    pub(crate) lendable: AtomicU64,
}

/// Evictions for an insert may free more than it needs (entries are
/// evicted whole); what is left stays with the shard for its next inserts
/// unless it is over this fraction of the shard's capacity. Small
/// leftovers, the usual case with weights, are not worth a borrower's
/// look at every shard; a large one is lent.
const LEFTOVER: u64 = 8;

/// The least capacity one step of a shrinking cache takes from a shard
/// under one lock hold (see [`Shard::shrink_step`]).
const SHRINK_STEP: u64 = 64;

/// Slots the expiry sweep inspects per write.
const SWEEP: usize = 8;

pub(crate) struct Shard<K, V> {
    /// Read by every lookup, written only when the table is replaced: on a
    /// line of its own, away from the fields writers touch on every write.
    table: CachePadded<Atomic<Table<K, V>>>,
    state: Mutex<State<K, V>>,
    /// The cold floor the cache's simulations chose, in the policy's
    /// units (`ClockPro::set_cold_floor`): stored by whichever writer
    /// replayed the choosing access, handed to the policy by the next
    /// insert under the lock. `Relaxed` both ways: a hint, ordering
    /// nothing; an insert that reads the older floor moves one page less.
    cold_floor: AtomicU32,
    /// The admission window's share the cache's climber chose
    /// (`ClockPro::set_window_share`), handed over as `cold_floor` is, and
    /// `Relaxed` for the same reason.
    window_share: AtomicU32,
    /// Shared with the cache's [`StatsSource`](crate::stats_source::StatsSource).
    pub(crate) gauges: std::sync::Arc<Gauges>,
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Inserted,
    Updated,
    /// Nothing: the compute writing it was superseded.
    Superseded,
}

/// A `retain` predicate.
pub(crate) type Keep<'a, K, V> = &'a mut dyn FnMut(&K, &V) -> bool;

/// Entries a write unlinked and has not retired yet, each with why and its
/// stated bytes, to report after the lock is released. The list owns them:
/// they are out of the table (no reader finds them any more) and not yet
/// retired (nothing frees them), so they stay valid with no pin, and the
/// listener can be told with none held. [`retire`](Self::retire) hands them
/// to reclamation; dropping the list (a panic on the way) retires the rest.
pub(crate) struct Unlinked<K, V> {
    entries: smallvec::SmallVec<[UnlinkedEntry<K, V>; 2]>,
}

/// An unlinked entry with its weight (its stated bytes follow from it) and
/// why it left: 16 bytes.
type UnlinkedEntry<K, V> = (NonNull<Entry<K, V>>, u32, RemovalCause);

impl<K, V> Unlinked<K, V> {
    pub(crate) fn new() -> Self {
        Unlinked {
            entries: smallvec::SmallVec::new(),
        }
    }

    /// Takes `entry`, refused by the cache (heavier than its capacity) and
    /// never linked, to report with cause `Rejected` and free.
    pub(crate) fn push_refused(&mut self, entry: NewEntry<K, V>, weight: u32) {
        // From the allocation's own pointer, which may deallocate.
        let entry = entry.into_raw();
        self.entries.push((entry, weight, RemovalCause::Rejected));
    }

    /// Takes `page`'s entry, just unlinked, of `weight`.
    #[inline]
    fn push(&mut self, page: Page<K, V>, cause: RemovalCause, weight: u64) {
        // Weights are `u32` where they come from (the weigher, the node).
        self.entries.push((page.0, weight as u32, cause));
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in removal order, with why.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Entry<K, V>, RemovalCause)> + '_ {
        self.entries.iter().map(|&(p, _, cause)| {
            // SAFETY: owned by this list (type docs): allocated, and neither
            // retired nor freed until `retire` takes it out.
            (unsafe { p.as_ref() }, cause)
        })
    }

    /// The first entry removed.
    pub(crate) fn first(&self) -> Option<&Entry<K, V>> {
        self.iter().next().map(|(e, _)| e)
    }

    /// Retires every entry under `guard` (freed once no reader pinned now
    /// can hold it), calling `each` with its cause first.
    #[inline]
    pub(crate) fn retire_each(&mut self, guard: &Guard, mut each: impl FnMut(RemovalCause)) {
        // By index, then clear: cheaper than `drain`, and the items are Copy.
        for &(p, weight, cause) in self.entries.iter() {
            each(cause);
            // SAFETY: from the allocation's own pointer (the policy's page),
            // unlinked from the table and let go by the policy before it
            // was pushed here, and pushed once (the list is cleared below):
            // nothing else retires it. Readers that found it earlier are
            // pinned, and reclamation waits for them.
            unsafe { crate::entry::retire(p, guard, entry_bytes::<K, V>(weight)) };
        }
        self.entries.clear();
    }

    /// Retires every entry under `guard`.
    pub(crate) fn retire(&mut self, guard: &Guard) {
        self.retire_each(guard, |_| ());
    }
}

impl<K, V> Drop for Unlinked<K, V> {
    #[inline]
    fn drop(&mut self) {
        if !self.entries.is_empty() {
            self.retire_slow();
        }
    }
}

impl<K, V> Unlinked<K, V> {
    /// Dropped before being retired: after the listener ran unpinned, or
    /// on a panic's way out.
    #[cold]
    fn retire_slow(&mut self) {
        self.retire(&reclaim::pin());
    }
}

/// What reclamation is told an entry of `weight` holds: its size, or its
/// weight where that is larger (a weigher in bytes sees its values' heap
/// memory bounded too).
#[inline(always)]
fn entry_bytes<K, V>(weight: u32) -> usize {
    (weight as usize).max(std::mem::size_of::<Entry<K, V>>())
}

/// What the policy calls back into during one call. A page it gives up
/// leaves the table at once, into the write's [`Unlinked`]: no list of
/// victims in between.
struct ShardHost<'a, K, V> {
    now: u64,
    table: &'a Table<K, V>,
    slots: &'a mut Slots,
    out: &'a mut Unlinked<K, V>,
    guard: &'a Guard,
}

impl<'a, K, V> ShardHost<'a, K, V> {
    fn new(
        now: u64,
        table: &'a Table<K, V>,
        slots: &'a mut Slots,
        out: &'a mut Unlinked<K, V>,
        guard: &'a Guard,
    ) -> Self {
        ShardHost {
            now,
            table,
            slots,
            out,
            guard,
        }
    }
}

impl<K, V> Host<Page<K, V>> for ShardHost<'_, K, V> {
    fn referenced(&mut self, page: &Page<K, V>) -> bool {
        page.entry().referenced()
    }
    fn clear_referenced(&mut self, page: &Page<K, V>) {
        page.entry().set_referenced(false);
    }
    fn mark_referenced(&mut self, page: &Page<K, V>) {
        page.entry().set_referenced(true);
    }
    fn expired(&mut self, page: &Page<K, V>) -> bool {
        page.entry().expired(self.now)
    }
    fn removed(&mut self, page: Page<K, V>, hash: u64, weight: u64, why: EvictionCause) {
        let cause = match why {
            EvictionCause::Capacity => RemovalCause::Capacity,
            EvictionCause::Expired => {
                self.slots.freed += weight;
                RemovalCause::Expired
            }
        };
        unlink(
            self.table, self.slots, page, hash, weight, cause, self.guard, self.out,
        );
    }
}

/// Removes `page`'s entry (whose key hashes to `hash`) from `table` and
/// hands it to `out`, which retires it after the report. The page must
/// just have been given up by the policy, under the shard lock.
#[inline]
#[allow(clippy::too_many_arguments)]
fn unlink<K, V>(
    table: &Table<K, V>,
    slots: &mut Slots,
    page: Page<K, V>,
    hash: u64,
    weight: u64,
    cause: RemovalCause,
    guard: &Guard,
    out: &mut Unlinked<K, V>,
) {
    let at = table.position(page.0.as_ptr() as *const Entry<K, V>, hash, guard);
    // A resident page's entry is always in the table, at the hash its
    // policy node keeps; anything else would retire a reachable entry.
    debug_assert!(at.is_some(), "a resident entry is not in the table");
    if let Some(i) = at {
        table.unlink(i);
        slots.live -= 1;
        slots.tombstones += 1;
    }
    // Unlinked from the table (the only place new readers find entries)
    // and let go by the policy: `out` owns it now.
    out.push(page, cause, weight);
}

impl<K, V> Shard<K, V> {
    /// A shard of `capacity` weight; `window`: whether new pages pass the
    /// policy's admission window.
    pub(crate) fn new(capacity: u64, window: bool) -> Shard<K, V> {
        let mut policy = ClockPro::new(capacity);
        if window {
            policy.set_window(crate::clock_pro::WINDOW_SHARE);
        }
        Shard {
            table: CachePadded::new(Atomic::new(Table::new(16))),
            state: Mutex::new(State {
                policy,
                slots: Slots::default(),
                lendable: capacity,
                sweep: 0,
                expiring: false,
                computes: Vec::new(),
                next_compute: 0,
            }),
            cold_floor: AtomicU32::new(0),
            window_share: AtomicU32::new(crate::clock_pro::WINDOW_SHARE),
            gauges: std::sync::Arc::new(Gauges {
                lendable: AtomicU64::new(capacity),
                ..Gauges::default()
            }),
        }
    }

    /// Hands the policy a new cold floor at the next insert (see
    /// `cold_floor`).
    pub(crate) fn set_cold_floor(&self, share: u32) {
        // Relaxed: see `cold_floor`.
        self.cold_floor.store(share, Ordering::Relaxed);
    }

    /// Hands the policy a new admission window share at the next insert
    /// (see `window_share`).
    pub(crate) fn set_window_share(&self, share: u32) {
        // Relaxed: see `cold_floor`.
        self.window_share.store(share, Ordering::Relaxed);
    }

    #[inline]
    fn table<'g>(&self, guard: &'g Guard) -> &'g Table<K, V> {
        // SAFETY: the table pointer is never null, and a replaced table is
        // freed only through `defer_destroy`, so it outlives `guard`.
        unsafe { self.table.load(Ordering::Acquire, guard).deref() }
    }

    /// Lock-free lookup.
    #[inline(always)]
    pub(crate) fn find<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<EntryRef<'g, K, V>>
    where
        Q: Equivalent<K> + ?Sized,
    {
        self.table(guard).find(hash, key, guard).map(|(_, e)| e)
    }

    /// Lock-free: every entry in the current table (for iteration).
    pub(crate) fn entries<'g>(&self, guard: &'g Guard) -> impl Iterator<Item = EntryRef<'g, K, V>>
    where
        K: 'g,
        V: 'g,
    {
        self.table(guard).entries(guard).map(|p| {
            // SAFETY: loaded under `guard` from a table loaded under it;
            // entries are freed only through `defer_destroy` after being
            // unlinked, so it stays valid while `guard` is pinned. Slots
            // hold the blocks' own pointers.
            unsafe { EntryRef::new(NonNull::new_unchecked(p.as_raw().cast_mut())) }
        })
    }

    /// Takes `node`'s page from the policy, if it is resident (false if
    /// not), and removes its entry from the table ([`unlink`]).
    /// An entry past its time to live at `now` leaves as `Expired`, whatever
    /// `cause` the caller gives (operators read `removed_expired` against
    /// `miss_expired` to tune time to live).
    #[allow(clippy::too_many_arguments)]
    fn remove_node(
        &self,
        state: &mut State<K, V>,
        node: u32,
        cause: RemovalCause,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) -> bool {
        let hash = state.policy.hash(node);
        let weight = state.policy.weight_of(node);
        match state.policy.remove(node) {
            Some(page) => {
                let cause = if page.entry().expired(now) {
                    RemovalCause::Expired
                } else {
                    cause
                };
                state.slots.freed += weight;
                unlink(
                    self.table(guard),
                    &mut state.slots,
                    page,
                    hash,
                    weight,
                    cause,
                    guard,
                    out,
                );
                true
            }
            None => false,
        }
    }

    /// Replaces the table with a larger or cleaner one if the next insert
    /// would fill it past three quarters; returns whether it did.
    #[inline(always)]
    fn make_room(&self, state: &mut State<K, V>, guard: &Guard) -> bool {
        let len = self.table(guard).len();
        if (state.slots.live + state.slots.tombstones + 1) * 4 <= len * 3 {
            return false;
        }
        self.rebuild(state, guard);
        true
    }

    /// Replaces the table with one sized for the live entries.
    #[cold]
    #[inline(never)]
    fn rebuild(&self, state: &mut State<K, V>, guard: &Guard) {
        let table = self.table(guard);
        let len = ((state.slots.live + 1) * 2).next_power_of_two().max(16);
        let mut fresh = Table::new(len);
        // From the policy's nodes, which hold each resident page's hash
        // beside its entry pointer: no entry is read (a cache miss each)
        // and no slot of the old table scanned.
        for (node, page) in state.policy.pages() {
            let hash = state.policy.hash(node);
            let entry = Shared::from(page.0.as_ptr() as *const Entry<K, V>);
            fresh.fill(entry, hash);
        }
        // Release pairs with readers' Acquire load of the table pointer.
        let old = self.table.swap(Owned::new(fresh), Ordering::Release, guard);
        let bytes = table.bytes();
        // SAFETY: `old` is no longer reachable from the shard; readers still
        // probing it are pinned and `defer_destroy` waits for them. Dropping
        // a table frees its slots, not the entries.
        unsafe { guard.defer_destroy(old, bytes) };
        state.slots.tombstones = 0;
        state.sweep = 0;
    }

    fn publish_gauges(&self, state: &State<K, V>) {
        let Sizes {
            hot,
            cold,
            test,
            window,
        } = state.policy.sizes();
        let g = &self.gauges;
        // Relaxed: independent levels for snapshots; no ordering implied.
        g.len.store(state.slots.live as u64, Ordering::Relaxed);
        g.weight.store(hot + cold + window, Ordering::Relaxed);
        g.hot.store(hot, Ordering::Relaxed);
        g.cold.store(cold, Ordering::Relaxed);
        g.test.store(test, Ordering::Relaxed);
        g.window.store(window, Ordering::Relaxed);
        state.gauges_lendable(g);
    }

    /// Ends a write under the lock: what it freed becomes lendable (within
    /// the unused capacity), the gauges are published, and if the shard
    /// now has more to lend than `lendable_before`, the lending hint hears
    /// of it.
    #[inline(always)]
    fn settle(&self, state: &mut State<K, V>, lending: &Lending, lendable_before: u64) {
        let unused = state.policy.capacity() - state.policy.weight();
        if unused == 0 {
            // A full shard (the steady state): nothing to lend.
            state.slots.freed = 0;
            state.lendable = 0;
        } else {
            self.settle_unused(state, lending, lendable_before, unused);
        }
        self.publish_gauges(state);
    }

    /// [`settle`](Self::settle) with `unused` capacity.
    #[inline(never)]
    fn settle_unused(&self, state: &mut State<K, V>, lending: &Lending, before: u64, unused: u64) {
        let freed = std::mem::take(&mut state.slots.freed);
        state.lendable = (state.lendable + freed).min(unused);
        if unused - state.lendable > state.policy.capacity() / LEFTOVER {
            // A large leftover (a heavy entry evicted for a light one):
            // kept here, it would hold capacity this shard's keys may not
            // need for long while other shards' keys are evicted.
            state.lendable = unused;
        }
        if state.lendable > before {
            // The gauge first: a borrower whose look reads this bump sees
            // it (see `crate::lending`).
            state.gauges_lendable(&self.gauges);
            lending.freed();
        }
    }

    /// Moves `x` of this shard's capacity out, evicting if its entries
    /// weigh more than what is left.
    fn shrink(
        &self,
        state: &mut State<K, V>,
        x: u64,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) {
        let capacity = state.policy.capacity() - x;
        let table = self.table(guard);
        let mut host = ShardHost::new(now, table, &mut state.slots, out, guard);
        state.policy.set_capacity(&mut host, capacity);
        state.lendable = state.lendable.saturating_sub(x);
    }

    /// Adds `x` to this shard's capacity (the cache growing): lendable at
    /// once.
    pub(crate) fn grow_by(&self, lending: &Lending, x: u64) {
        let guard = reclaim::pin();
        let mut out = Unlinked::new();
        let mut state = lock(&self.state);
        let before = state.lendable;
        // Growing evicts nothing: `out` stays empty.
        self.grow(&mut state, x, 0, &guard, &mut out);
        debug_assert!(out.is_empty(), "growing evicted");
        state.lendable += x;
        self.settle(&mut state, lending, before);
    }

    /// Takes up to `want` of this shard's capacity away (the cache
    /// shrinking), at most a sixteenth of it (or [`SHRINK_STEP`] units) in
    /// one lock hold, evicting what no longer fits into `out`. Returns what
    /// it took: 0 only if the shard has no capacity left.
    pub(crate) fn shrink_step(
        &self,
        lending: &Lending,
        want: u64,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) -> u64 {
        let mut state = lock(&self.state);
        let before = state.lendable;
        let capacity = state.policy.capacity();
        let x = want.min(capacity).min((capacity / 16).max(SHRINK_STEP));
        self.shrink(&mut state, x, now, guard, out);
        self.settle(&mut state, lending, before);
        x
    }

    /// Moves `x` of capacity into this shard.
    fn grow(
        &self,
        state: &mut State<K, V>,
        x: u64,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) {
        let capacity = state.policy.capacity() + x;
        let table = self.table(guard);
        let mut host = ShardHost::new(now, table, &mut state.slots, out, guard);
        state.policy.set_capacity(&mut host, capacity);
    }

    /// This shard is `need` short: borrows up to that (or half a lender's
    /// lendable capacity, if more) from the other shards, try-locking each
    /// that says it has some and never waiting: this shard's lock is held.
    /// If none had any, the lending hint is marked dry with `look`.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn borrow(
        &self,
        state: &mut State<K, V>,
        mut need: u64,
        peers: &[Shard<K, V>],
        me: usize,
        lending: &Lending,
        look: Look,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) {
        let (mut got, mut busy) = (0, false);
        // From the next shard on, so that lenders are drained evenly.
        let (before, after) = peers.split_at(me);
        for peer in after.iter().skip(1).chain(before) {
            if need == 0 {
                break;
            }
            // Relaxed: a hint; the lender's count under its lock decides.
            if peer.gauges.lendable.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let Some(mut theirs) = try_lock(&peer.state) else {
                busy = true;
                continue;
            };
            let lendable = theirs.lendable;
            let x = lendable.min(need.max(lendable / 2));
            if x == 0 {
                continue;
            }
            // Within what the lender does not use: nothing is evicted.
            peer.shrink(&mut theirs, x, now, guard, out);
            peer.publish_gauges(&theirs);
            got += x;
            need = need.saturating_sub(x);
        }
        if got > 0 {
            self.grow(state, got, now, guard, out);
            state.lendable += got;
        } else if !busy {
            lending.dry(look);
        }
    }

    /// Inspects the next [`SWEEP`] slots and removes expired entries, so
    /// memory comes back even for keys that are never read again.
    fn sweep(&self, state: &mut State<K, V>, now: u64, guard: &Guard, out: &mut Unlinked<K, V>) {
        let table = self.table(guard);
        for _ in 0..SWEEP.min(table.len()) {
            let i = state.sweep & (table.len() - 1);
            state.sweep = state.sweep.wrapping_add(1);
            if let Slot::Full(p) = table.load(i, guard) {
                // SAFETY: loaded under `guard` from the current table, which
                // holds the blocks' own pointers.
                let entry = unsafe { EntryRef::new(NonNull::new_unchecked(p.as_raw().cast_mut())) };
                if entry.expired(now) {
                    self.remove_node(state, entry.node(), RemovalCause::Expired, now, guard, out);
                }
            }
        }
    }

    /// Inserts or updates `key` in this shard, `peers[me]`, borrowing
    /// capacity from `peers` when its own runs short. Hands the entry back
    /// if it is heavier than the shard could be made to hold that way: the
    /// caller then takes every lock ([`Shard::insert_heavy`]). `weight` is at most
    /// the cache's capacity.
    #[allow(clippy::too_many_arguments)]
    // Inlined into `Cache::write_with`, its one caller: many arguments, some
    // passed on the stack, and the register saves of a call.
    #[inline(always)]
    pub(crate) fn insert(
        &self,
        peers: &[Shard<K, V>],
        me: usize,
        lending: &Lending,
        hash: u64,
        key: K,
        value: V,
        stamps: Option<(u64, u64)>,
        weight: u32,
        sampled: bool,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
        compute: Option<u64>,
    ) -> Result<Written, NewEntry<K, V>>
    where
        K: Eq,
    {
        // The probe below misses the cache more often than not: start it
        // now, so the line arrives while the entry is allocated.
        self.table(guard).prefetch(hash);
        // Allocated before the lock, so other writers do not wait for it.
        let entry = NewEntry::new(key, value, stamps, weight.max(1), sampled);
        let expires_at = stamps.map_or(NEVER, |(at, _)| at);
        let mut guard_state = lock(&self.state);
        let state = &mut *guard_state;
        // A compute's write: unregistered while it writes (its own write
        // must not mark it), or nothing if a write superseded it.
        let mine = match compute {
            Some(ticket) => match state.take_compute(ticket) {
                Some(pending) => Some(pending),
                None => return Ok(Written::Superseded),
            },
            None => None,
        };
        let mut lendable_before = state.lendable;
        let written = match self.insert_locked(
            state,
            &mut lendable_before,
            Some((peers, me)),
            lending,
            hash,
            entry,
            u64::from(weight.max(1)),
            expires_at,
            now,
            guard,
            out,
        ) {
            Ok(written) => written,
            Err(entry) => {
                // The heavy path takes over, and checks the compute again.
                state.computes.extend(mine);
                return Err(entry);
            }
        };
        self.settle(state, lending, lendable_before);
        Ok(written)
    }

    /// [`insert`](Self::insert) under this shard's lock, borrowing from
    /// `peers` only if given (the heavy path holds every lock already).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn insert_locked(
        &self,
        state: &mut State<K, V>,
        lendable_before: &mut u64,
        peers: Option<(&[Shard<K, V>], usize)>,
        lending: &Lending,
        hash: u64,
        entry: NewEntry<K, V>,
        w: u64,
        expires_at: u64,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) -> Result<Written, NewEntry<K, V>>
    where
        K: Eq,
    {
        state.supersede(&entry.key);
        let table = self.table(guard);
        let existing = table.find_for_write(hash, &entry.key, guard);
        let old_weight = match &existing {
            Ok((_, old)) => state.policy.weight_of(old.node()),
            Err(_) => 0,
        };
        let capacity = state.policy.capacity();
        let after = state.policy.weight() - old_weight + w;
        if after > capacity {
            // Short of room: borrow before evicting, unless the last look
            // found nothing to borrow and nothing was freed since (then this
            // shard has nothing to lend either: see `crate::lending`).
            if let (Some((peers, me)), Some(look)) = (peers, lending.look()) {
                // Every unused unit goes to this entry: none is lendable
                // any more, which `borrow` needs if it marks the hint dry.
                state.lendable = 0;
                *lendable_before = 0;
                self.borrow(
                    state,
                    after - capacity,
                    peers,
                    me,
                    lending,
                    look,
                    now,
                    guard,
                    out,
                );
            }
            if w > state.policy.capacity() {
                return Err(entry);
            }
        }
        // The allocation's own raw pointer: the page is what the entry is
        // freed through at last, and a pointer derived from a shared
        // reference may not deallocate (Tree Borrows).
        let raw = entry.into_raw();
        let entry = Shared::from(raw.as_ptr() as *const Entry<K, V>);
        let page = Page(raw);
        let fresh = page.entry();
        let written = if let Ok((slot, old)) = existing {
            // An update counts as an access.
            fresh.set_referenced(true);
            fresh.set_node(old.node());
            table.publish(slot, entry, hash);
            let cause = if old.expired(now) {
                RemovalCause::Expired
            } else {
                RemovalCause::Replaced
            };
            let old_page = state.policy.replace(old.node(), page);
            // Replaced in its slot and let go by the policy: `out` owns it.
            out.push(old_page, cause, old_weight);
            state.slots.freed += old_weight;
            if old_weight != w {
                let mut host = ShardHost::new(now, table, &mut state.slots, out, guard);
                state.policy.reweigh(&mut host, old.node(), w);
            }
            Written::Updated
        } else {
            // Room first, while the policy's pages are exactly the table's
            // entries (the rebuild copies them): evicting turns full slots
            // into tombstones, which leaves the room the same.
            let replaced = self.make_room(state, guard);
            let table = self.table(guard);
            let mut host = ShardHost::new(now, table, &mut state.slots, out, guard);
            // Relaxed: see `cold_floor`.
            state
                .policy
                .set_cold_floor(self.cold_floor.load(Ordering::Relaxed));
            state
                .policy
                .set_window_share(self.window_share.load(Ordering::Relaxed));
            let node = state.policy.insert(&mut host, hash, w, page);
            fresh.set_node(node);
            let slot = match existing {
                // The probe's vacancy, unless the table was replaced:
                // evicting since only turned full slots into tombstones.
                Err(vacancy) if !replaced => vacancy,
                _ => table.vacancy(hash, guard),
            };
            if matches!(table.load(slot, guard), Slot::Tombstone) {
                state.slots.tombstones -= 1;
            }
            table.publish(slot, entry, hash);
            state.slots.live += 1;
            // The next evicting insert starts with the cold hand's page:
            // its entry (reference bit, expiry) and, if it goes, its slot.
            // Both are rarely in cache; start loading them now.
            if let Some((victim, hash)) = state.policy.next_victim() {
                crate::prefetch::prefetch(victim.0.as_ptr());
                table.prefetch(hash);
            }
            Written::Inserted
        };
        // This thread's next read of the key repeats this access.
        fresh.note_access(guard);
        if expires_at != crate::entry::NEVER {
            state.expiring = true;
        }
        if state.expiring {
            self.sweep(state, now, guard, out);
        }
        Ok(written)
    }

    /// Inserts `entry`, heavier than its shard `peers[me]` could be made to
    /// hold by borrowing: takes every shard's lock in index order (a writer
    /// holding one lock only ever try-locks another, so no cycle forms),
    /// moves the other shards' unused capacity to this one, then evicts
    /// from the shards with the most capacity until the entry fits. Hands
    /// the entry back if it weighs more than all the shards hold: a resize
    /// shrank the cache since the caller checked it against the capacity.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_heavy(
        peers: &[Shard<K, V>],
        me: usize,
        lending: &Lending,
        hash: u64,
        entry: NewEntry<K, V>,
        weight: u32,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
        compute: Option<u64>,
    ) -> Result<Written, NewEntry<K, V>>
    where
        K: Eq,
    {
        let expires_at = entry.get().expires_at();
        let mut states: Vec<_> = peers.iter().map(|p| lock(&p.state)).collect();
        let before: Vec<u64> = states.iter().map(|s| s.lendable).collect();
        let mine = match compute {
            Some(ticket) => match states[me].take_compute(ticket) {
                Some(pending) => Some(pending),
                None => {
                    for ((peer, state), before) in peers.iter().zip(states.iter_mut()).zip(before) {
                        peer.settle(state, lending, before);
                    }
                    return Ok(Written::Superseded);
                }
            },
            None => None,
        };
        let w = u64::from(weight.max(1));
        if w > states.iter().map(|s| s.policy.capacity()).sum::<u64>() {
            // Refused: the refusal's removal ends the compute.
            states[me].computes.extend(mine);
            return Err(entry);
        }
        let mut need = w.saturating_sub(states[me].policy.capacity());
        let mut got = 0;
        // Unused capacity first: nothing is evicted for it.
        for (i, (peer, theirs)) in peers.iter().zip(states.iter_mut()).enumerate() {
            let unused = theirs.policy.capacity() - theirs.policy.weight();
            let x = unused.min(need);
            if i != me && x > 0 {
                peer.shrink(theirs, x, now, guard, out);
                (need, got) = (need - x, got + x);
            }
        }
        // Then from the shards with the most capacity, which evict.
        while need > 0 {
            let (i, theirs) = states
                .iter_mut()
                .enumerate()
                .filter(|&(i, _)| i != me)
                .max_by_key(|(_, s)| s.policy.capacity())
                .expect("the other shards hold the rest of the capacity");
            let x = theirs.policy.capacity().min(need);
            debug_assert!(x > 0, "the shards hold at least the entry's weight");
            peers[i].shrink(theirs, x, now, guard, out);
            // What its evictions freed beyond `x` was freed for another
            // shard's entry, not its own: lendable, so that the shards
            // left with none borrow it back rather than come here.
            theirs.lendable = theirs.policy.capacity() - theirs.policy.weight();
            (need, got) = (need - x, got + x);
        }
        let shard = &peers[me];
        shard.grow(&mut states[me], got, now, guard, out);
        let mut before = before;
        let written = shard
            .insert_locked(
                &mut states[me],
                &mut before[me],
                None,
                lending,
                hash,
                entry,
                w,
                expires_at,
                now,
                guard,
                out,
            )
            .unwrap_or_else(|_| unreachable!("the shard was grown to hold the entry"));
        for ((peer, state), before) in peers.iter().zip(states.iter_mut()).zip(before) {
            peer.settle(state, lending, before);
        }
        Ok(written)
    }

    /// Removes `key` for `cause`; whether it was there (its entry is then
    /// `out`'s last). `now` tells an expired entry (0 where no entry has a
    /// time to live).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn remove<Q>(
        &self,
        lending: &Lending,
        hash: u64,
        now: u64,
        key: &Q,
        cause: RemovalCause,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
        compute: Option<u64>,
    ) -> bool
    where
        Q: Equivalent<K> + ?Sized,
    {
        let mut state = lock(&self.state);
        if let Some(ticket) = compute {
            if state.end_compute(ticket) {
                return false;
            }
        }
        state.supersede(key);
        let Some((_, entry)) = self.table(guard).find(hash, key, guard) else {
            return false;
        };
        let before = state.lendable;
        if !self.remove_node(&mut state, entry.node(), cause, now, guard, out) {
            return false;
        }
        self.settle(&mut state, lending, before);
        true
    }

    /// Removes `entry` if it is still the one in the table and the lock is
    /// free right now; never waits. For readers that found it expired.
    pub(crate) fn remove_expired(
        &self,
        lending: &Lending,
        entry: EntryRef<'_, K, V>,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) {
        let Some(mut state) = try_lock(&self.state) else {
            return;
        };
        let node = entry.node();
        let ours = state
            .policy
            .page(node)
            .is_some_and(|p| std::ptr::eq(p.entry().as_ptr(), entry.as_ptr()));
        let before = state.lendable;
        if ours
            && entry.expired(now)
            && self.remove_node(&mut state, node, RemovalCause::Expired, now, guard, out)
        {
            self.settle(&mut state, lending, before);
        }
    }

    /// Removes every entry for which `keep` is false (all of them if `keep`
    /// is `None`).
    pub(crate) fn retain(
        &self,
        lending: &Lending,
        keep: Option<Keep<'_, K, V>>,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) where
        K: Eq,
    {
        let mut state = lock(&self.state);
        // Decide first, mutate after: a panicking predicate leaves the shard
        // as it was.
        let doomed: Vec<u32> = match keep {
            Some(keep) => state
                .policy
                .pages()
                .filter(|(_, p)| !keep(&p.entry().key, &p.entry().value))
                .map(|(n, _)| n)
                .collect(),
            None => state.policy.pages().map(|(n, _)| n).collect(),
        };
        let before = state.lendable;
        for node in doomed {
            if !state.computes.is_empty() {
                let state = &mut *state;
                if let Some(page) = state.policy.page(node) {
                    supersede_computes(&mut state.computes, &page.entry().get().key);
                }
            }
            self.remove_node(&mut state, node, RemovalCause::Explicit, now, guard, out);
        }
        self.settle(&mut state, lending, before);
    }
}

impl<K: Clone, V> Shard<K, V> {
    /// Registers a compute of `key` and reads its entry, in one lock hold:
    /// every write of `key` after this read marks the compute (its ticket
    /// is the first value returned).
    pub(crate) fn begin_compute<'g>(
        &self,
        hash: u64,
        key: &K,
        guard: &'g Guard,
    ) -> (u64, Option<EntryRef<'g, K, V>>)
    where
        K: Eq,
    {
        let mut state = lock(&self.state);
        let ticket = state.next_compute;
        state.next_compute += 1;
        state.computes.push(Pending {
            ticket,
            key: key.clone(),
            superseded: false,
        });
        (ticket, self.find(hash, key, guard))
    }
}

impl<K, V> Shard<K, V> {
    /// Unregisters compute `ticket`, which writes nothing.
    pub(crate) fn end_compute(&self, ticket: u64) {
        lock(&self.state).end_compute(ticket);
    }
}

crate::sync::checking! {
    impl<K: Eq, V> Shard<K, V> {
        /// Checks that table, policy and gauges agree; panics with what is
        /// off. Returns the shard's capacity.
        pub(crate) fn validate(&self) -> u64 {
            let state = lock(&self.state);
            state.policy.validate();
            // Called between operations: every compute has ended, and
            // ended once.
            assert!(state.computes.is_empty(), "a compute left registered");
            let guard = crate::reclaim::pin();
            let table = self.table(&guard);
            let (mut live, mut tombstones, mut weight) = (0, 0, 0u64);
            for i in 0..table.len() {
                match table.load(i, &guard) {
                    Slot::Empty => {}
                    Slot::Tombstone => tombstones += 1,
                    Slot::Full(p) => {
                        // SAFETY: loaded under `guard`, and the lock is held.
                        let entry = unsafe { p.deref() };
                        live += 1;
                        weight += u64::from(entry.weight.get());
                        let page = state
                            .policy
                            .page(entry.node())
                            .expect("a table entry has a resident page");
                        assert!(
                            std::ptr::eq(page.entry().as_ptr(), entry),
                            "slot {i}: page and entry differ"
                        );
                        let (at, _) = table
                            .find(state.policy.hash(entry.node()), &entry.key, &guard)
                            .expect("an entry is found by its key");
                        assert_eq!(at, i, "slot {i}: its key is found at {at}");
                    }
                }
            }
            assert_eq!(
                (live, tombstones),
                (state.slots.live, state.slots.tombstones),
                "table counts"
            );
            assert_eq!(
                state.policy.pages().count(),
                live,
                "policy and table disagree"
            );
            assert_eq!(weight, state.policy.weight(), "resident weight");
            assert!(weight <= state.policy.capacity(), "resident weight over capacity");
            assert!(
                state.lendable <= state.policy.capacity() - weight,
                "lendable {} beyond the unused capacity",
                state.lendable
            );
            assert_eq!(state.slots.freed, 0, "freed weight left unsettled");
            assert!((live + tombstones) * 4 <= table.len() * 3, "table too full");
            let g = &self.gauges;
            assert_eq!(g.len.load(Ordering::Relaxed), live as u64, "len gauge");
            assert_eq!(g.weight.load(Ordering::Relaxed), weight, "weight gauge");
            assert_eq!(g.lendable.load(Ordering::Relaxed), state.lendable, "lendable gauge");
            state.policy.capacity()
        }
    }
}

impl<K, V> Drop for Shard<K, V> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader or writer can reach this shard any
        // more, so the table and its entries can be freed now. Retired
        // entries and tables are not reachable from here; the collector owns
        // them.
        // The unprotected guard frees at once, catching (and counting) a
        // value's panicking destructor, so one such value neither stops the
        // rest from being freed nor unwinds out of the cache's drop.
        unsafe {
            let guard = reclaim::unprotected();
            let table = self.table.load(Ordering::Relaxed, guard);
            for entry in table.deref().entries(guard) {
                let entry = NonNull::new_unchecked(entry.as_raw().cast_mut());
                crate::entry::retire(entry, guard, 0);
            }
            guard.defer_destroy(table, 0);
        }
    }
}
