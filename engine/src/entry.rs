//! One cached key-value pair, shared by readers and the shard's writer.
//!
//! # Invariants
//!
//! - `key`, `value`, `written_at` and `weight` are written before the
//!   entry is published (a `Release` store into a table slot) and never after.
//! - `expires_at` is written before publication and, in a cache with a
//!   time to idle or an expiry, moved by readers (`Relaxed`: a deadline orders
//!   nothing; a reader or hand that sees the older one treats the entry as
//!   idle a little early, as the time to idle's granularity allows).
//! - `referenced` is set by readers (only when clear) and, under the shard
//!   lock, cleared by the shard's hands and set by an update and by the
//!   cold hand's landing mark (`clock_pro`). All are `Relaxed`: the bit
//!   orders nothing. A set racing a clear may be lost; CLOCK tolerates that
//!   (the page gets one chance fewer).
//! - `node` is the entry's node in the shard's CLOCK-Pro list; it is read and
//!   written only under the shard lock.
//! - An entry is freed only through `Guard::defer_destroy`, after it has been
//!   unlinked from the table, so a reader that found it under a pinned guard
//!   can keep reading it.

use crate::reclaim::Guard;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// `expires_at` of an entry without a time to live.
pub(crate) const NEVER: u64 = u64::MAX;

/// The bit of `expires_at` marking, in a cache with a time to idle, a
/// deadline reads move: set for entries without a time to live of their
/// own, clear for those with one. Setting or clearing it rounds the
/// deadline down, by at most a nanosecond, never later.
pub(crate) const IDLE: u64 = 1;

/// `repr(C)`, hot fields first: a hit reads `key`, `value`, `expires_at` and
/// `referenced`, which for `u64` keys and values are the first 25 bytes, so
/// most entries serve a hit from one cache line whatever their offset in
/// it. The key's hash is not kept here: the shard's policy node has the 32
/// bits of it that the table uses (ghosts need them there anyway), and a `u64 -> u64` entry is 40 bytes, a
/// 48-byte block from glibc's `malloc` where 48 bytes took 64.
#[repr(C)]
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    /// Nanoseconds since the cache's clock origin; [`NEVER`] for no TTL.
    expires_at: AtomicU64,
    pub(crate) referenced: AtomicBool,
    pub(crate) node: AtomicU32,
    /// Nanoseconds since the clock origin when this value was written; the
    /// age `refresh_after` compares with.
    pub(crate) written_at: u64,
    /// Checked by `validate`; the policy keeps its own copy, so release
    /// builds leave it out (which pays for `written_at`).
    pub(crate) weight: crate::sync::Checked<u32>,
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

impl<K, V> Entry<K, V> {
    /// An entry expiring at `expires_at` (its [`IDLE`] bit set if reads
    /// may move that; see [`extend`](Self::extend)).
    pub(crate) fn new(key: K, value: V, expires_at: u64, written_at: u64, weight: u32) -> Self {
        Entry {
            key,
            value,
            expires_at: AtomicU64::new(expires_at),
            written_at,
            weight: crate::sync::Checked::new(weight),
            referenced: AtomicBool::new(false),
            node: AtomicU32::new(u32::MAX),
        }
    }

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

    #[inline]
    pub(crate) fn expired(&self, now: u64) -> bool {
        self.expires_at() <= now
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
            self.expires_at.store(to, Ordering::Relaxed);
        }
    }

    /// Marks the entry used, writing only if the bit is clear (so a hit on a
    /// hot entry writes nothing shared).
    #[inline]
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
