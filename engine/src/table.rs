//! An open-addressing hash table of entry pointers that readers probe
//! without locks while one writer (the shard lock holder) mutates it.
//!
//! # Layout
//!
//! Two parallel arrays: `ctrl`, one control byte per slot, and `slots`, one
//! entry pointer per slot. A control byte is `EMPTY`, `TOMBSTONE` (something
//! was removed here: keep probing) or `FULL | h7`, seven bits of the entry's
//! hash. Probes read control bytes (64 per cache line) and dereference only
//! the entries whose `h7` matches, as in SwissTable.
//!
//! # Invariants
//!
//! - Only the holder of the owning shard's lock stores into `ctrl` or
//!   `slots`.
//! - A control byte never goes back to `EMPTY`: tombstones are cleared only
//!   by building a new table. The writer keeps `live + tombstones` at most
//!   3/4 of the slots, so every probe meets an `EMPTY` byte and ends.
//! - Publishing stores the pointer, then the control byte, both `Release`;
//!   a reader loads the control byte, then the pointer, both `Acquire`. A
//!   reader that sees `FULL | h7` therefore sees that pointer (or a later
//!   one) and, through it, the entry's fields.
//! - Unlinking stores a null pointer, then `TOMBSTONE`. A reader that saw the
//!   old `FULL` byte may load the null pointer; it treats it as a tombstone.
//! - Entries and replaced tables are freed only through `crate::reclaim`,
//!   after every reader pinned when they were unlinked has unpinned.

use crate::entry::{Entry, EntryRef};
use crate::reclaim::{Atomic, Guard, Shared};
use crate::sync::{AtomicU8, Ordering};
use crate::Equivalent;

const EMPTY: u8 = 0;
const TOMBSTONE: u8 = 1;
const FULL: u8 = 0x80;

/// The control byte of a slot holding an entry with this hash: `FULL` and
/// seven hash bits, 25 to 31. A table is rebuilt from the hashes the
/// shard's policy keeps, which are the low 32 bits (`clock_pro::short`), so
/// the slot index (low bits) and this tag both come from those. In tables
/// of up to 2^25 slots (over 25 million entries in one shard) they share no
/// bit; in larger ones the tag repeats index bits and filters fewer entries
/// out of a probe, which stays correct.
#[inline(always)]
fn h7(hash: u64) -> u8 {
    FULL | ((hash >> 25) as u8 & 0x7f)
}

/// What a slot holds.
pub(crate) enum Slot<'g, K, V> {
    Empty,
    Tombstone,
    Full(Shared<'g, Entry<K, V>>),
}

pub(crate) struct Table<K, V> {
    ctrl: Box<[AtomicU8]>,
    slots: Box<[Atomic<Entry<K, V>>]>,
    mask: usize,
}

impl<K, V> Table<K, V> {
    /// A table of `len` empty slots; `len` is a power of two.
    pub(crate) fn new(len: usize) -> Table<K, V> {
        debug_assert!(len.is_power_of_two());
        Table {
            ctrl: (0..len).map(|_| AtomicU8::new(EMPTY)).collect(),
            slots: (0..len).map(|_| Atomic::null()).collect(),
            mask: len - 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The bytes its two arrays take.
    pub(crate) fn bytes(&self) -> usize {
        self.len() * (std::mem::size_of::<AtomicU8>() + std::mem::size_of::<Atomic<Entry<K, V>>>())
    }

    /// Slot `i`'s state and entry.
    #[inline]
    pub(crate) fn load<'g>(&self, i: usize, guard: &'g Guard) -> Slot<'g, K, V> {
        // Acquire, then Acquire: pairs with `publish` (module invariants).
        match self.ctrl[i].load(Ordering::Acquire) {
            EMPTY => Slot::Empty,
            TOMBSTONE => Slot::Tombstone,
            _ => {
                let p = self.slots[i].load(Ordering::Acquire, guard);
                if p.is_null() {
                    Slot::Tombstone
                } else {
                    Slot::Full(p)
                }
            }
        }
    }

    /// Starts loading the control byte and slot where `hash`'s probe
    /// begins, for a writer that will probe it after other work.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        let i = hash as usize & self.mask;
        crate::prefetch::prefetch(&self.ctrl[i]);
        crate::prefetch::prefetch(&self.slots[i]);
    }

    /// The entry for `key`, and its slot: the readers' hot path.
    #[inline(always)]
    pub(crate) fn find<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<(usize, EntryRef<'g, K, V>)>
    where
        Q: Equivalent<K> + ?Sized,
    {
        self.probe::<false, Q>(hash, key, guard).ok()
    }

    /// A writer's probe: `key`'s slot and entry, or, when it is absent, the
    /// slot an insert of it should take (the first tombstone on the probe
    /// sequence, else the `EMPTY` that ended it), so that an insert probes
    /// once. Writer only: the vacancy stays valid while the writer holds
    /// the shard's lock and the table is not replaced.
    #[inline(always)]
    pub(crate) fn find_for_write<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Result<(usize, EntryRef<'g, K, V>), usize>
    where
        Q: Equivalent<K> + ?Sized,
    {
        self.probe::<true, Q>(hash, key, guard)
    }

    /// `find` and `find_for_write`'s one probe: `key`'s slot and entry, or
    /// the `EMPTY` slot that ended the probe, or (with `VACANCY`) the first
    /// tombstone before it. Without `VACANCY` the tombstone check compiles
    /// away, so the readers' loop is as lean as a probe of its own.
    #[inline(always)]
    fn probe<'g, const VACANCY: bool, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Result<(usize, EntryRef<'g, K, V>), usize>
    where
        Q: Equivalent<K> + ?Sized,
    {
        let tag = h7(hash);
        let mut i = hash as usize & self.mask;
        let mut vacancy = None;
        // Terminates: at least a quarter of the control bytes are `EMPTY`,
        // and none ever becomes `EMPTY` again.
        loop {
            // SAFETY: `i` is masked with `len - 1`, and both arrays have
            // `len` elements.
            let (ctrl, slot) = unsafe { (self.ctrl.get_unchecked(i), self.slots.get_unchecked(i)) };
            // Acquire pairs with the Release in `publish` (the writer's own
            // stores would need only Relaxed).
            let c = ctrl.load(Ordering::Acquire);
            if c == EMPTY {
                return Err(vacancy.unwrap_or(i));
            }
            if VACANCY && c == TOMBSTONE {
                vacancy.get_or_insert(i);
            } else if c == tag {
                let p = slot.load(Ordering::Acquire, guard);
                if !p.is_null() {
                    // SAFETY: `p` was loaded under `guard` from a table that
                    // was itself loaded under `guard`; entries are freed only
                    // through `defer_destroy` after being unlinked, so it
                    // stays valid while `guard` is pinned. Slots hold the
                    // blocks' own pointers.
                    let entry = unsafe {
                        EntryRef::new(std::ptr::NonNull::new_unchecked(p.as_raw().cast_mut()))
                    };
                    if key.equivalent(&entry.key) {
                        return Ok((i, entry));
                    }
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The slot holding exactly `entry`, whose key hashes to `hash`.
    pub(crate) fn position(
        &self,
        entry: *const Entry<K, V>,
        hash: u64,
        guard: &Guard,
    ) -> Option<usize> {
        let mut i = hash as usize & self.mask;
        // An entry sits before the first `EMPTY` of its probe sequence
        // (control bytes never go back to `EMPTY`), so stop there.
        for _ in 0..self.slots.len() {
            match self.load(i, guard) {
                Slot::Full(p) if p.as_raw() == entry => return Some(i),
                Slot::Empty => return None,
                _ => i = (i + 1) & self.mask,
            }
        }
        None
    }

    /// The first empty or tombstone slot on `hash`'s probe sequence.
    /// Writer only; the table must have room.
    pub(crate) fn vacancy(&self, hash: u64, guard: &Guard) -> usize {
        let mut i = hash as usize & self.mask;
        for _ in 0..self.slots.len() {
            if !matches!(self.load(i, guard), Slot::Full(_)) {
                return i;
            }
            i = (i + 1) & self.mask;
        }
        unreachable!("the writer keeps the table at most 3/4 full")
    }

    /// Puts `entry` (whose hash is `hash`) in the first vacancy of its
    /// probe sequence, in a table no reader can reach yet (a rebuild's,
    /// before its pointer is published).
    pub(crate) fn fill(&mut self, entry: Shared<'_, Entry<K, V>>, hash: u64) {
        let mut i = hash as usize & self.mask;
        // Relaxed throughout: the table is this thread's alone until the
        // `Release` store that publishes it.
        while self.ctrl[i].load(Ordering::Relaxed) != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i].store(entry, Ordering::Relaxed);
        self.ctrl[i].store(h7(hash), Ordering::Relaxed);
    }

    /// Publishes `entry` (whose hash is `hash`) in slot `i`. Writer only.
    pub(crate) fn publish(&self, i: usize, entry: Shared<'_, Entry<K, V>>, hash: u64) {
        // Release, Release: a reader that sees the control byte sees the
        // pointer, and through it the entry's fields.
        self.slots[i].store(entry, Ordering::Release);
        self.ctrl[i].store(h7(hash), Ordering::Release);
    }

    /// Unlinks slot `i`'s entry, leaving a tombstone. Writer only.
    pub(crate) fn unlink(&self, i: usize) {
        // Null first: a reader holding the old control byte then finds no
        // entry and keeps probing.
        self.slots[i].store(Shared::null(), Ordering::Release);
        self.ctrl[i].store(TOMBSTONE, Ordering::Release);
    }

    /// Every entry in the table.
    pub(crate) fn entries<'g>(
        &'g self,
        guard: &'g Guard,
    ) -> impl Iterator<Item = Shared<'g, Entry<K, V>>> + 'g {
        (0..self.slots.len()).filter_map(move |i| match self.load(i, guard) {
            Slot::Full(p) => Some(p),
            _ => None,
        })
    }
}
