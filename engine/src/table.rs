//! An open-addressing hash table of entry pointers that readers probe
//! without locks while one writer (the shard lock holder) mutates it.
//!
//! # Invariants
//!
//! - Only the holder of the owning shard's lock stores into a slot.
//! - A slot is `EMPTY` (null), a `TOMBSTONE` (null tagged 1: something was
//!   removed here, keep probing) or a pointer to a live or retired entry,
//!   tagged with five bits of the entry's hash ([`hash_tag`]) so that probes
//!   skip other keys' entries without dereferencing them. Entries are
//!   64-byte aligned, so the tag fits in the pointer's low bits.
//!   A slot never goes from tombstone or entry back to `EMPTY`, so a reader's
//!   probe chain is never cut short under it; tombstones are cleared only by
//!   building a new table.
//! - The writer keeps `live + tombstones` at most 3/4 of the slots, so every
//!   probe meets an `EMPTY` slot.
//! - An entry is published with a `Release` store, which pairs with the
//!   reader's `Acquire` load of the slot: a reader that sees the pointer sees
//!   the entry's fields. Retired tables and entries are freed through the
//!   epoch collector only.

use crate::entry::Entry;
use crate::sync::epoch::{Atomic, Guard, Shared};
use crate::sync::Ordering;
use std::borrow::Borrow;

const TOMBSTONE: usize = 1;

/// The tag a slot holding an entry with this hash carries: five high bits of
/// the hash, shifted clear of the tombstone bit. High bits, because the low
/// ones pick the slot and the very top ones pick the shard.
#[inline(always)]
pub(crate) fn hash_tag(hash: u64) -> usize {
    ((hash >> 40) as usize & 0x1f) << 1
}

/// What a slot holds.
pub(crate) enum Slot<'g, K, V> {
    Empty,
    Tombstone,
    Full(Shared<'g, Entry<K, V>>),
}

pub(crate) struct Table<K, V> {
    slots: Box<[Atomic<Entry<K, V>>]>,
    mask: usize,
}

impl<K, V> Table<K, V> {
    /// A table of `len` empty slots; `len` is a power of two.
    pub(crate) fn new(len: usize) -> Table<K, V> {
        debug_assert!(len.is_power_of_two());
        Table {
            slots: (0..len).map(|_| Atomic::null()).collect(),
            mask: len - 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The probe sequence of `hash`: every slot, starting at its home.
    #[inline]
    fn probe(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let home = hash as usize & self.mask;
        (0..self.slots.len()).map(move |i| (home + i) & self.mask)
    }

    #[inline]
    pub(crate) fn load<'g>(&self, i: usize, guard: &'g Guard) -> Slot<'g, K, V> {
        // Acquire pairs with the Release in `publish`.
        let p = self.slots[i].load(Ordering::Acquire, guard);
        if p.tag() == TOMBSTONE {
            Slot::Tombstone
        } else if p.is_null() {
            Slot::Empty
        } else {
            Slot::Full(p)
        }
    }

    /// The entry for `key`, and its slot: the readers' hot path.
    #[inline(always)]
    pub(crate) fn find<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<(usize, &'g Entry<K, V>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let tag = hash_tag(hash);
        let mut i = hash as usize & self.mask;
        // Terminates: the writer keeps at least a quarter of the slots
        // `EMPTY`, and a slot never becomes `EMPTY` again.
        loop {
            // SAFETY: `i` is masked with `len - 1`, `len` a power of two.
            let slot = unsafe { self.slots.get_unchecked(i) };
            // Acquire pairs with the Release in `publish`.
            let p = slot.load(Ordering::Acquire, guard);
            if p.is_null() {
                if p.tag() != TOMBSTONE {
                    return None;
                }
            } else if p.tag() == tag {
                // SAFETY: `p` was loaded under `guard` from a slot of a table
                // that was itself loaded under `guard`; entries are freed only
                // through `defer_destroy` after being unlinked, so it stays
                // valid while `guard` is pinned.
                let entry = unsafe { p.deref() };
                if entry.hash == hash && entry.key.borrow() == key {
                    return Some((i, entry));
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The slot holding exactly `entry`.
    pub(crate) fn position(
        &self,
        entry: *const Entry<K, V>,
        hash: u64,
        guard: &Guard,
    ) -> Option<usize> {
        self.probe(hash).find(|&i| match self.load(i, guard) {
            Slot::Full(p) => p.as_raw() == entry,
            _ => false,
        })
    }

    /// Tags `entry` for storing in a slot.
    pub(crate) fn tagged(entry: Shared<'_, Entry<K, V>>, hash: u64) -> Shared<'_, Entry<K, V>> {
        entry.with_tag(hash_tag(hash))
    }

    /// The first empty or tombstone slot on `hash`'s probe sequence.
    /// Writer only; the table must have room.
    pub(crate) fn vacancy(&self, hash: u64, guard: &Guard) -> usize {
        self.probe(hash)
            .find(|&i| !matches!(self.load(i, guard), Slot::Full(_)))
            .expect("the writer keeps the table at most 3/4 full")
    }

    /// Publishes `entry` in slot `i`. Writer only.
    pub(crate) fn publish(&self, i: usize, entry: Shared<'_, Entry<K, V>>) {
        // Release: readers that load this pointer see the entry's fields.
        self.slots[i].store(entry, Ordering::Release);
    }

    /// Unlinks slot `i`'s entry, leaving a tombstone. Writer only.
    pub(crate) fn unlink(&self, i: usize) {
        // Release, for symmetry with `publish`; a reader that sees the
        // tombstone just keeps probing.
        self.slots[i].store(Shared::null().with_tag(TOMBSTONE), Ordering::Release);
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
