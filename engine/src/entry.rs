//! One cached key-value pair, shared by readers and the shard's writer.
//!
//! # Layout
//!
//! An entry is its key, its value, its reference bit, whether it has
//! stamps, and its policy node's index. A cache that keeps times (a time
//! to live or to idle, an expiry, `refresh_after`, or an `insert_with_ttl`
//! once made) allocates each new entry behind its [`Stamps`], in one block
//! ([`Stamped`]); other entries carry no time at all, so a `u64 -> u64`
//! entry is 24 bytes, not 40.
//! Whether an entry has stamps is a field of the entry, so the block's
//! layout is known from the entry alone. Everything that reaches the
//! stamps goes through an [`EntryRef`] or a raw pointer from the block's
//! own allocation, never a `&Entry`, whose provenance covers only the
//! entry.
//!
//! # Invariants
//!
//! - `key`, `value`, the stamps' `written_at`, `weight`, `stamped` and
//!   `sampled` are written before the entry is published (a `Release` store into a table
//!   slot) and never after.
//! - `expires_at` is written before publication and, in a cache with a
//!   time to idle or an expiry, moved by readers (`Relaxed`: a deadline
//!   orders nothing; a reader or hand that sees the older one treats the
//!   entry as idle a little early, as the time to idle's granularity
//!   allows).
//! - `referenced` is set by readers (only when clear) and, under the shard
//!   lock, cleared by the shard's hands and set by an update and by the
//!   cold hand's landing mark (`clock_pro`). All are `Relaxed`: the bit
//!   orders nothing. A set racing a clear may be lost; CLOCK tolerates that
//!   (the page gets one chance fewer).
//! - `node` is the entry's node in the shard's CLOCK-Pro list; it is read and
//!   written only under the shard lock.
//! - An entry is freed only through [`retire`] (or, never published,
//!   [`NewEntry`]'s drop), after it has been unlinked from the table, so a
//!   reader that found it under a pinned guard can keep reading it.

use crate::reclaim::{Guard, Owned, Shared};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

/// `expires_at` of an entry without a time to live.
pub(crate) const NEVER: u64 = u64::MAX;

/// The bit of `expires_at` marking, in a cache with a time to idle, a
/// deadline reads move: set for entries without a time to live of their
/// own, clear for those with one. Setting or clearing it rounds the
/// deadline down, by at most a nanosecond, never later.
pub(crate) const IDLE: u64 = 1;

/// `repr(C)`, hot fields first: a hit reads `key`, `value`, `referenced`,
/// `stamped` and `sampled`, which for `u64` keys and values are the first
/// 19 bytes, so most entries serve a hit from one cache line whatever their
/// offset in it. The key's
/// hash is not kept here: the shard's policy node has the 32 bits of it
/// that the table uses (ghosts need them there anyway).
#[repr(C)]
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    referenced: AtomicBool,
    /// Whether the entry is a [`Stamped`] block's.
    stamped: bool,
    /// Whether the cache's miniature simulations follow this key
    /// (`clock_pro::shadows`): decided from the hash at the insert, so a
    /// hit tests one byte of a line it reads anyway, not the hash.
    sampled: bool,
    node: AtomicU32,
    /// Checked by `validate`; the policy keeps its own copy, so release
    /// builds leave it out.
    pub(crate) weight: crate::sync::Checked<u32>,
}

/// The times a cache that keeps them gives each entry.
#[repr(C)]
pub(crate) struct Stamps {
    /// Nanoseconds since the cache's clock origin; [`NEVER`] for no TTL.
    expires_at: AtomicU64,
    /// Nanoseconds since the clock origin when this value was written; the
    /// age `refresh_after` compares with.
    written_at: u64,
}

/// An entry with its stamps in front, in one allocation.
#[repr(C)]
struct Stamped<K, V> {
    stamps: Stamps,
    entry: Entry<K, V>,
}

// The point of the flag: an entry without times pays for none (where
// invariants are checked, the entry also keeps its weight).
#[cfg(not(any(test, fuzzing, clockwise_loom)))]
const _: () = assert!(std::mem::size_of::<Entry<u64, u64>>() == 24);

/// Where the entry sits in its [`Stamped`] block.
const fn entry_offset<K, V>() -> usize {
    std::mem::offset_of!(Stamped<K, V>, entry)
}

/// `at` (at least 1) marked [`IDLE`], rounded down.
#[inline(always)]
pub(crate) fn idle_deadline(at: u64) -> u64 {
    (at - 1) | IDLE
}

/// `at` marked as a deadline of the entry's own, rounded down.
#[inline(always)]
pub(crate) fn own_deadline(at: u64) -> u64 {
    at & !IDLE
}

/// Forgets the calling thread's last noted access: the next read of any
/// entry is a use of its own.
#[inline(always)]
pub(crate) fn forget_access(guard: &Guard) {
    guard.set_word(0);
}

impl Stamps {
    /// When the entry expires ([`NEVER`] if it does not).
    #[inline(always)]
    pub(crate) fn expires_at(&self) -> u64 {
        // Relaxed: see the module's invariants.
        self.expires_at.load(Ordering::Relaxed)
    }

    /// Sets the deadline (an [`Expiry`](crate::Expiry)'s read).
    pub(crate) fn set_expires_at(&self, at: u64) {
        // Relaxed: see the module's invariants.
        self.expires_at.store(at, Ordering::Relaxed);
    }

    /// When the value was written.
    #[inline(always)]
    pub(crate) fn written_at(&self) -> u64 {
        self.written_at
    }

    /// A read at `now` in a cache with time to idle `idle`: the deadline
    /// moves to `now + idle` (at most `cap`), unless the entry's deadline
    /// is its own or would move by less than `grain`, so that a hit writes
    /// the entry's line at most once per `grain`, not on every call.
    #[inline]
    pub(crate) fn extend(&self, now: u64, idle: u64, cap: u64, grain: u64) {
        let at = self.expires_at();
        if at & IDLE == 0 {
            return;
        }
        let to = idle_deadline(now.saturating_add(idle).min(cap));
        if to > at.saturating_add(grain) {
            // Relaxed: see the module's invariants.
            self.expires_at.store(to, Ordering::Relaxed);
        }
    }
}

impl<K, V> Entry<K, V> {
    fn new(key: K, value: V, stamped: bool, sampled: bool, weight: u32) -> Self {
        Entry {
            key,
            value,
            referenced: AtomicBool::new(false),
            stamped,
            sampled,
            node: AtomicU32::new(u32::MAX),
            weight: crate::sync::Checked::new(weight),
        }
    }

    /// Whether the entry has [`Stamps`] in front of it.
    #[inline(always)]
    pub(crate) fn stamped(&self) -> bool {
        self.stamped
    }

    /// Whether the cache's miniature simulations follow this key.
    #[inline(always)]
    pub(crate) fn sampled(&self) -> bool {
        self.sampled
    }

    /// Whether the reference bit is set.
    #[inline(always)]
    pub(crate) fn referenced(&self) -> bool {
        // Relaxed: see the module's invariants.
        self.referenced.load(Ordering::Relaxed)
    }

    /// Sets or clears the reference bit. Lock holder only (readers
    /// [`touch`](Self::touch)).
    #[inline(always)]
    pub(crate) fn set_referenced(&self, on: bool) {
        // Relaxed: see the module's invariants.
        self.referenced.store(on, Ordering::Relaxed);
    }

    /// Marks the entry used, writing only if the bit is clear (so a hit on
    /// a hot entry writes nothing shared).
    #[inline(always)]
    pub(crate) fn touch(&self) {
        // Relaxed: the bit orders nothing; the hand reads it under the lock
        // and a stale view only delays a second chance by one lap.
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
    }

    /// Notes this entry as the calling thread's last access, in the word
    /// its pin's record keeps for the holder (see [`repeats_access`]).
    ///
    /// [`repeats_access`]: Self::repeats_access
    #[inline(always)]
    pub(crate) fn note_access(&self, guard: &Guard) {
        guard.set_word(self as *const Self as usize);
    }

    /// Whether the calling thread's last noted access was to this entry.
    /// Only the address is compared: one freed and reused for another
    /// entry at worst makes that entry's next read look repeated once.
    #[inline(always)]
    pub(crate) fn repeats_access(&self, guard: &Guard) -> bool {
        guard.word() == self as *const Self as usize
    }

    pub(crate) fn node(&self) -> u32 {
        // Relaxed: only accessed under the shard lock, which orders it.
        self.node.load(Ordering::Relaxed)
    }

    pub(crate) fn set_node(&self, node: u32) {
        self.node.store(node, Ordering::Relaxed);
    }
}

/// An entry readable for `'g`, through a pointer that can also reach the
/// stamps in front of it (a `&Entry` cannot: its provenance ends at the
/// entry).
pub(crate) struct EntryRef<'g, K, V> {
    ptr: NonNull<Entry<K, V>>,
    _life: PhantomData<&'g Entry<K, V>>,
}

impl<K, V> Clone for EntryRef<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for EntryRef<'_, K, V> {}

impl<'g, K, V> EntryRef<'g, K, V> {
    /// # Safety
    ///
    /// `ptr` points to a published entry (from its block's own allocation
    /// pointer, as the table and the policy keep it) that stays allocated
    /// for `'g`: loaded under a pin lasting `'g`, or held by the shard's
    /// lock holder.
    #[inline(always)]
    pub(crate) unsafe fn new(ptr: NonNull<Entry<K, V>>) -> Self {
        EntryRef {
            ptr,
            _life: PhantomData,
        }
    }

    /// The entry, for all of `'g`.
    #[inline(always)]
    pub(crate) fn get(self) -> &'g Entry<K, V> {
        // SAFETY: valid for `'g` (`new`'s contract).
        unsafe { self.ptr.as_ref() }
    }

    /// The pointer it reads through.
    #[inline(always)]
    pub(crate) fn as_ptr(self) -> *const Entry<K, V> {
        self.ptr.as_ptr()
    }

    /// The stamps, if the entry has them.
    #[inline(always)]
    pub(crate) fn stamps(self) -> Option<&'g Stamps> {
        if !self.get().stamped {
            return None;
        }
        // SAFETY: `stamped`, set before publication and never changed, says
        // the entry is the `entry` field of a `Stamped` block, and `ptr`
        // carries that block's provenance (`new`'s contract); the block
        // lives as long as the entry.
        Some(unsafe { self.stamps_unchecked() })
    }

    /// The stamps of a stamped entry.
    ///
    /// # Safety
    ///
    /// The entry is stamped.
    #[inline(always)]
    pub(crate) unsafe fn stamps_unchecked(self) -> &'g Stamps {
        // SAFETY: the caller's contract and `stamps`'s reasoning: the
        // block starts `entry_offset` bytes before the entry, with its
        // stamps (`repr(C)`).
        unsafe {
            &*self
                .ptr
                .as_ptr()
                .byte_sub(entry_offset::<K, V>())
                .cast::<Stamps>()
        }
    }

    /// When the entry expires ([`NEVER`] if it does not).
    #[inline]
    pub(crate) fn expires_at(self) -> u64 {
        self.stamps().map_or(NEVER, Stamps::expires_at)
    }

    /// Whether the entry has expired at `now`.
    #[inline]
    pub(crate) fn expired(self, now: u64) -> bool {
        self.expires_at() <= now
    }

    /// When the value was written (0 for an entry without stamps, whose
    /// cache did not keep times when it was written).
    #[inline]
    pub(crate) fn written_at(self) -> u64 {
        self.stamps().map_or(0, Stamps::written_at)
    }
}

impl<K, V> Deref for EntryRef<'_, K, V> {
    type Target = Entry<K, V>;
    #[inline(always)]
    fn deref(&self) -> &Entry<K, V> {
        self.get()
    }
}

/// A new entry, not yet published: freed on drop.
pub(crate) struct NewEntry<K, V> {
    ptr: NonNull<Entry<K, V>>,
}

// SAFETY: owns its entry as a `Box` would.
unsafe impl<K: Send, V: Send> Send for NewEntry<K, V> {}

impl<K, V> NewEntry<K, V> {
    /// Allocates an entry, behind stamps `(expires_at, written_at)` if
    /// given; `sampled` if the cache's simulations follow its key.
    #[inline]
    pub(crate) fn new(
        key: K,
        value: V,
        stamps: Option<(u64, u64)>,
        weight: u32,
        sampled: bool,
    ) -> Self {
        let ptr = match stamps {
            None => Owned::new(Entry::new(key, value, false, sampled, weight)).into_raw(),
            Some((expires_at, written_at)) => {
                let block = Owned::new(Stamped {
                    stamps: Stamps {
                        expires_at: AtomicU64::new(expires_at),
                        written_at,
                    },
                    entry: Entry::new(key, value, true, sampled, weight),
                })
                .into_raw();
                // SAFETY: a live allocation; the projection keeps the
                // block's provenance, which `retire` needs to free it.
                unsafe { &raw mut (*block).entry }
            }
        };
        NewEntry {
            ptr: NonNull::new(ptr).expect("an allocation"),
        }
    }

    /// The entry.
    #[inline(always)]
    pub(crate) fn get(&self) -> EntryRef<'_, K, V> {
        // SAFETY: owned, so allocated while borrowed; from the allocation's
        // own pointer.
        unsafe { EntryRef::new(self.ptr) }
    }

    /// Gives the entry up to the caller, who publishes it and frees it
    /// only through [`retire`].
    #[inline(always)]
    pub(crate) fn into_raw(self) -> NonNull<Entry<K, V>> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }
}

impl<K, V> Deref for NewEntry<K, V> {
    type Target = Entry<K, V>;
    #[inline(always)]
    fn deref(&self) -> &Entry<K, V> {
        self.get().get()
    }
}

impl<K, V> Drop for NewEntry<K, V> {
    fn drop(&mut self) {
        // SAFETY: never published, so no reader can hold it; the
        // unprotected guard frees at once (catching a panicking drop).
        unsafe { retire(self.ptr, crate::reclaim::unprotected(), 0) }
    }
}

/// Retires the entry at `ptr` under `guard`, with the block its stamps
/// share: freed once no reader pinned now can hold it.
///
/// # Safety
///
/// As [`Guard::defer_destroy`]'s: `ptr` came from [`NewEntry::into_raw`],
/// is unlinked from every table, and is retired once.
#[inline]
pub(crate) unsafe fn retire<K, V>(ptr: NonNull<Entry<K, V>>, guard: &Guard, bytes: usize) {
    // SAFETY: from the allocation's pointer (the contract); allocated
    // until retired.
    if unsafe { ptr.as_ref() }.stamped {
        // SAFETY: `stamped` says the entry is a `Stamped` block's, whose
        // provenance `ptr` carries; the caller's contract does the rest.
        unsafe {
            let block = ptr
                .as_ptr()
                .byte_sub(entry_offset::<K, V>())
                .cast::<Stamped<K, V>>();
            guard.defer_destroy(Shared::from(block as *const Stamped<K, V>), bytes);
        }
    } else {
        // SAFETY: the caller's contract.
        unsafe { guard.defer_destroy(Shared::from(ptr.as_ptr() as *const Entry<K, V>), bytes) };
    }
}
