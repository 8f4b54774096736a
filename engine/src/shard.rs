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
//! counts, and the decision to replace the table. An entry a write removes
//! is unlinked under it but not retired: it goes into the writer's
//! [`Unlinked`], which owns it (no reader finds it any more, nothing frees
//! it) until the listener has been told, after the lock and, when there is
//! a listener, the writer's pin are released; then it is retired.

use crate::clock_pro::{ClockPro, EvictionCause, Host, Sizes};
use crate::entry::Entry;
use crate::reclaim::{self, Atomic, Guard, Owned, Shared};
use crate::sync::{lock, try_lock, AtomicU64, Mutex, Ordering};
use crate::table::{Slot, Table};
use crate::RemovalCause;
use crossbeam_utils::CachePadded;
use std::borrow::Borrow;
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
    fn entry(&self) -> &Entry<K, V> {
        // SAFETY: the policy holds a page only while its entry is linked in
        // the table. The entry is unlinked and retired only after the policy
        // has given the page up, under the same lock, and freed only after
        // every reader pinned at that time has unpinned; the lock
        // holder dereferences pages only while holding the lock.
        unsafe { self.0.as_ref() }
    }
}

// SAFETY: a page is a pointer to an `Entry<K, V>` that is shared between
// threads anyway (readers reach it through the table); the policy that holds
// pages is only used under the shard lock.
unsafe impl<K: Send + Sync, V: Send + Sync> Send for Page<K, V> {}

struct State<K, V> {
    policy: ClockPro<Page<K, V>>,
    slots: Slots,
    /// Next slot the bounded expiry sweep looks at.
    sweep: usize,
    /// An entry with a time to live was ever written here. Until then the
    /// sweep is skipped: it dereferences every slot it inspects (a cache
    /// miss each), which cost a cache without TTLs over half its insert
    /// time.
    expiring: bool,
}

/// The table's slot counts, kept by the lock holder.
#[derive(Default)]
struct Slots {
    live: usize,
    tombstones: usize,
}

/// Levels published for snapshots.
#[derive(Default)]
pub(crate) struct Gauges {
    pub(crate) len: AtomicU64,
    pub(crate) weight: AtomicU64,
    pub(crate) hot: AtomicU64,
    pub(crate) cold: AtomicU64,
    pub(crate) test: AtomicU64,
}

/// Slots the expiry sweep inspects per write.
const SWEEP: usize = 8;

pub(crate) struct Shard<K, V> {
    /// Read by every lookup, written only when the table is replaced: on a
    /// line of its own, away from the fields writers touch on every write.
    table: CachePadded<Atomic<Table<K, V>>>,
    state: Mutex<State<K, V>>,
    capacity: u64,
    /// Shared with the cache's [`CacheStats`](crate::cache_stats::CacheStats).
    pub(crate) gauges: std::sync::Arc<Gauges>,
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Inserted,
    Updated,
    Rejected,
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
            // From the allocation's own pointer (the policy's page), which
            // may deallocate.
            let shared = Shared::from(p.as_ptr() as *const Entry<K, V>);
            // SAFETY: unlinked from the table and let go by the policy before
            // it was pushed here, and pushed once (the list is cleared
            // below): nothing else retires it. Readers that found it earlier
            // are pinned, and reclamation waits for them.
            unsafe { guard.defer_destroy(shared, entry_bytes::<K, V>(weight)) };
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
        page.entry().referenced.load(Ordering::Relaxed)
    }
    fn clear_referenced(&mut self, page: &Page<K, V>) {
        page.entry().referenced.store(false, Ordering::Relaxed);
    }
    fn mark_referenced(&mut self, page: &Page<K, V>) {
        page.entry().referenced.store(true, Ordering::Relaxed);
    }
    fn expired(&mut self, page: &Page<K, V>) -> bool {
        page.entry().expired(self.now)
    }
    fn removed(&mut self, page: Page<K, V>, hash: u64, weight: u64, why: EvictionCause) {
        let cause = match why {
            EvictionCause::Capacity => RemovalCause::Capacity,
            EvictionCause::Expired => RemovalCause::Expired,
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
    pub(crate) fn new(capacity: u64) -> Shard<K, V> {
        Shard {
            table: CachePadded::new(Atomic::new(Table::new(16))),
            state: Mutex::new(State {
                policy: ClockPro::new(capacity),
                slots: Slots::default(),
                sweep: 0,
                expiring: false,
            }),
            capacity,
            gauges: std::sync::Arc::default(),
        }
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
    ) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.table(guard).find(hash, key, guard).map(|(_, e)| e)
    }

    /// Lock-free: every entry in the current table (for iteration).
    pub(crate) fn entries<'g>(&self, guard: &'g Guard) -> impl Iterator<Item = &'g Entry<K, V>>
    where
        K: 'g,
        V: 'g,
    {
        self.table(guard).entries(guard).map(|p| {
            // SAFETY: loaded under `guard` from a table loaded under it;
            // entries are freed only through `defer_destroy` after being
            // unlinked, so it stays valid while `guard` is pinned.
            unsafe { p.deref() }
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
        let Sizes { hot, cold, test } = state.policy.sizes();
        let g = &self.gauges;
        // Relaxed: independent levels for snapshots; no ordering implied.
        g.len.store(state.slots.live as u64, Ordering::Relaxed);
        g.weight.store(hot + cold, Ordering::Relaxed);
        g.hot.store(hot, Ordering::Relaxed);
        g.cold.store(cold, Ordering::Relaxed);
        g.test.store(test, Ordering::Relaxed);
    }

    /// Inspects the next [`SWEEP`] slots and removes expired entries, so
    /// memory comes back even for keys that are never read again.
    fn sweep(&self, state: &mut State<K, V>, now: u64, guard: &Guard, out: &mut Unlinked<K, V>) {
        let table = self.table(guard);
        for _ in 0..SWEEP.min(table.len()) {
            let i = state.sweep & (table.len() - 1);
            state.sweep = state.sweep.wrapping_add(1);
            if let Slot::Full(p) = table.load(i, guard) {
                // SAFETY: loaded under `guard` from the current table.
                let entry = unsafe { p.deref() };
                if entry.expired(now) {
                    self.remove_node(state, entry.node(), RemovalCause::Expired, now, guard, out);
                }
            }
        }
    }

    /// Inserts or updates `key`. The caller has checked `weight` against
    /// nothing; entries heavier than the shard are rejected here.
    #[allow(clippy::too_many_arguments)]
    // Inlined into `Cache::write_with`, its one caller: eight arguments, some
    // passed on the stack, and the register saves of a call.
    #[inline(always)]
    pub(crate) fn insert(
        &self,
        hash: u64,
        key: K,
        value: V,
        expires_at: u64,
        weight: u32,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) -> Written
    where
        K: Eq,
    {
        let w = u64::from(weight.max(1));
        if w > self.capacity {
            // Too heavy: the old value, if any, must not outlive the write.
            let mut guard_state = lock(&self.state);
            let state = &mut *guard_state;
            if let Some((_, old)) = self.table(guard).find(hash, &key, guard) {
                self.remove_node(state, old.node(), RemovalCause::Replaced, now, guard, out);
                self.publish_gauges(state);
            }
            return Written::Rejected;
        }
        // The probe below misses the cache more often than not: start it
        // now, so the line arrives while the entry is allocated.
        self.table(guard).prefetch(hash);
        // Allocated before the lock, so other writers do not wait for it.
        let entry = Owned::new(Entry::new(key, value, expires_at, now, weight.max(1)));
        let mut guard_state = lock(&self.state);
        let state = &mut *guard_state;
        let table = self.table(guard);
        let existing = table.find_for_write(hash, &entry.key, guard);
        let entry = entry.into_shared(guard);
        // SAFETY: just allocated; published below under this lock.
        let fresh = unsafe { entry.deref() };
        // From the allocation's own raw pointer, not from `fresh`: the page
        // is what the entry is freed through at last, and a pointer derived
        // from a shared reference may not deallocate (Tree Borrows).
        let page = Page(NonNull::new(entry.as_raw().cast_mut()).expect("a fresh allocation"));
        let written = if let Ok((slot, old)) = existing {
            // An update counts as an access.
            fresh.referenced.store(true, Ordering::Relaxed);
            fresh.set_node(old.node());
            table.publish(slot, entry, hash);
            let old_weight = state.policy.weight_of(old.node());
            let cause = if old.expires_at != crate::entry::NEVER && old.expired(now) {
                RemovalCause::Expired
            } else {
                RemovalCause::Replaced
            };
            let old_page = state.policy.replace(old.node(), page);
            // Replaced in its slot and let go by the policy: `out` owns it.
            out.push(old_page, cause, old_weight);
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
        self.publish_gauges(state);
        written
    }

    /// Removes `key`.
    /// Removes `key`; whether it was there (its entry is then `out`'s last).
    /// `now` tells an expired entry (0 where no entry has a time to live).
    pub(crate) fn remove<Q>(
        &self,
        hash: u64,
        now: u64,
        key: &Q,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut state = lock(&self.state);
        let Some((_, entry)) = self.table(guard).find(hash, key, guard) else {
            return false;
        };
        if !self.remove_node(
            &mut state,
            entry.node(),
            RemovalCause::Explicit,
            now,
            guard,
            out,
        ) {
            return false;
        }
        self.publish_gauges(&state);
        true
    }

    /// Removes `entry` if it is still the one in the table and the lock is
    /// free right now; never waits. For readers that found it expired.
    pub(crate) fn remove_expired(
        &self,
        entry: &Entry<K, V>,
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
            .is_some_and(|p| std::ptr::eq(p.entry(), entry));
        if ours
            && entry.expired(now)
            && self.remove_node(&mut state, node, RemovalCause::Expired, now, guard, out)
        {
            self.publish_gauges(&state);
        }
    }

    /// Removes every entry for which `keep` is false (all of them if `keep`
    /// is `None`).
    pub(crate) fn retain(
        &self,
        keep: Option<Keep<'_, K, V>>,
        now: u64,
        guard: &Guard,
        out: &mut Unlinked<K, V>,
    ) {
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
        for node in doomed {
            self.remove_node(&mut state, node, RemovalCause::Explicit, now, guard, out);
        }
        self.publish_gauges(&state);
    }
}

crate::sync::checking! {
    impl<K: Eq, V> Shard<K, V> {
        /// Checks that table, policy and gauges agree; panics with what is off.
        pub(crate) fn validate(&self) {
            let state = lock(&self.state);
            state.policy.validate();
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
                            std::ptr::eq(page.entry(), entry),
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
            assert!(weight <= self.capacity && state.policy.capacity() == self.capacity);
            assert!((live + tombstones) * 4 <= table.len() * 3, "table too full");
            let g = &self.gauges;
            assert_eq!(g.len.load(Ordering::Relaxed), live as u64, "len gauge");
            assert_eq!(g.weight.load(Ordering::Relaxed), weight, "weight gauge");
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
                guard.defer_destroy(entry, 0);
            }
            guard.defer_destroy(table, 0);
        }
    }
}
