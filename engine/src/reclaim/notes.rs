//! Notes: a lossy per-thread ring of tagged 32-bit values in each record,
//! written by its holder while pinned (in lines the holder alone writes)
//! and read now and then by any thread through a [`Trail`].
//!
//! What the values mean is the writer's business; a tag tells one reader's
//! notes from another's in the same ring. A ring holds the last
//! [`NOTES`]` - 1` notes of its thread: a reader that comes by less often
//! misses the older ones.
//!
//! # Protocol and invariants
//!
//! - Only the record's holder writes its ring, while pinned: the `i`-th
//!   note goes to slot `i % NOTES` (a `Release` store), then `head` becomes
//!   `i + 1` (a `Release` store). Records change hands under the `records`
//!   lock, which orders one holder's notes before the next one's.
//! - A reader walks every record through the domain's chain, without a
//!   lock (`Domain::chain`: records are never freed, and each is published
//!   whole), and for each: loads `head` (`Acquire`) as `h1`, loads the
//!   slots of notes `max(cursor, h1 - NOTES) .. h1`, runs an `Acquire`
//!   fence, loads `head` again as `h2`, and keeps only notes
//!   `i > h2 - NOTES`.
//! - Why what it keeps is note `i` itself: the `Acquire` load of `h1 > i`
//!   synchronizes with the store of `head = i + 1`, after the store of
//!   note `i`, so the slot holds note `i` or a later one. A later one is
//!   note `j ≥ i + NOTES`, stored after `head` reached `j`; the fence
//!   after reading it synchronizes with its `Release` store, so `h2 ≥ j`
//!   and `i ≤ h2 - NOTES`: dropped. The holder writing note `h2` at that
//!   moment overwrites note `h2 - NOTES`, also dropped.

use super::{domain, Guard};
use crate::sync::{fence, AtomicU64, Ordering, LOOM};

/// Slots of a ring: a power of two. 256 are 2 KiB per thread; a reader
/// loses none of a thread's notes unless it writes 256 between two reads.
pub(crate) const NOTES: usize = if LOOM { 2 } else { 256 };

/// One record's ring.
pub(super) struct Ring {
    /// Notes written so far.
    head: AtomicU64,
    /// Note `i` is in slot `i % NOTES`, as `tag << 32 | value`; tag 0 is
    /// nobody's, so a fresh slot holds no note.
    slots: [AtomicU64; NOTES],
}

impl Ring {
    pub(super) fn new() -> Ring {
        Ring {
            head: AtomicU64::new(0),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Guard {
    /// Writes `value` under `tag` in this thread's ring: two stores, in
    /// lines only this thread writes. `tag` is a [`Trail::tag`].
    #[inline]
    pub fn note(&self, tag: u32, value: u32) {
        let ring = &self.record().notes;
        // Relaxed: this thread, the record's holder, is the only writer.
        let i = ring.head.load(Ordering::Relaxed);
        // SAFETY: masked by `NOTES - 1`, `NOTES` being a power of two.
        let slot = unsafe { ring.slots.get_unchecked(i as usize & (NOTES - 1)) };
        // Release: pairs with the reader's `Acquire` fence after it read
        // the slot; a reader that reads this note as an older one's then
        // reads `head` at `i` or later and drops it (module docs).
        slot.store(u64::from(tag) << 32 | u64::from(value), Ordering::Release);
        // Release: pairs with the reader's `Acquire` load of `head`: one
        // that reads `i + 1` reads this note or a later one in the slot.
        ring.head.store(i + 1, Ordering::Release);
    }
}

/// A reader of every thread's notes under one tag: where it stopped in
/// each ring.
#[derive(Debug)]
pub struct Trail {
    tag: u32,
    /// Per record, by its place in the domain's list: the next note to
    /// read.
    cursors: Vec<u64>,
}

impl Trail {
    /// A reader with a tag of its own (tags wrap after 2³² - 1 trails).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Trail {
        // Outside every protocol: a counter handing out names.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let mut tag = 0;
        while tag == 0 {
            tag = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Trail {
            tag,
            cursors: Vec::new(),
        }
    }

    /// The tag to [`note`](Guard::note) values under for this trail.
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// Appends to `out` the notes under this trail's tag that every ring
    /// still holds and this trail has not read, ring by ring, each ring's
    /// in the order they were written; returns how many. Takes no lock: it
    /// walks the domain's chain of records.
    pub fn read(&mut self, out: &mut Vec<u32>) -> usize {
        let before = out.len();
        let mut buf = [0u64; NOTES];
        // Acquire: pairs with the `Release` store that published the newest
        // record; the older ones were published before it.
        let mut next = domain().chain.load(Ordering::Acquire).cast_const();
        while !next.is_null() {
            // SAFETY: records are never freed, and each was written whole
            // before its publication, which the load above (and, through
            // `older`, the publications before it) happen-before.
            let record = unsafe { &*next };
            next = record.older;
            let k = record.index;
            if k >= self.cursors.len() {
                self.cursors.resize(k + 1, 0);
            }
            let ring = &record.notes;
            let cursor = self.cursors[k];
            // Acquire: pairs with the holder's `Release` store of `head`.
            let h1 = ring.head.load(Ordering::Acquire);
            let from = cursor.max(h1.saturating_sub(NOTES as u64));
            for i in from..h1 {
                // Relaxed: checked against `head` after the fence below.
                buf[(i - from) as usize] =
                    ring.slots[i as usize & (NOTES - 1)].load(Ordering::Relaxed);
            }
            // Acquire: pairs with the `Release` store of any note read
            // above (module docs).
            fence(Ordering::Acquire);
            // Relaxed: ordered by the fence.
            let h2 = ring.head.load(Ordering::Relaxed);
            let valid = from.max((h2 + 1).saturating_sub(NOTES as u64));
            for i in valid..h1 {
                let note = buf[(i - from) as usize];
                if (note >> 32) as u32 == self.tag {
                    out.push(note as u32);
                }
            }
            self.cursors[k] = h1;
        }
        out.len() - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trail_reads_its_own_notes_in_order_once() {
        let mut mine = Trail::new();
        let other = Trail::new();
        let mut out = Vec::new();
        mine.read(&mut out);
        out.clear();
        {
            let guard = super::super::pin();
            guard.note(mine.tag(), 7);
            guard.note(other.tag(), 8);
            guard.note(mine.tag(), 9);
        }
        assert_eq!(mine.read(&mut out), 2);
        assert_eq!(out, [7, 9]);
        out.clear();
        assert_eq!(mine.read(&mut out), 0);
        assert!(out.is_empty());
    }

    /// A thread's first pin publishes its record while a trail walks the
    /// chain (Miri checks the walk's plain reads against the record's
    /// writes); once the thread is done, its note is read.
    #[test]
    fn a_trail_walks_records_published_meanwhile() {
        let mut trail = Trail::new();
        let tag = trail.tag();
        let mut out = Vec::new();
        let thread = std::thread::spawn(move || super::super::pin().note(tag, 5));
        while !thread.is_finished() {
            trail.read(&mut out);
        }
        thread.join().unwrap();
        trail.read(&mut out);
        assert_eq!(out, [5]);
    }

    #[test]
    fn a_full_ring_keeps_the_last_notes() {
        let mut trail = Trail::new();
        let mut out = Vec::new();
        trail.read(&mut out);
        out.clear();
        let n = NOTES as u32 + 10;
        {
            let guard = super::super::pin();
            for v in 0..n {
                guard.note(trail.tag(), v);
            }
        }
        trail.read(&mut out);
        // The oldest slot may be the one its holder is writing: one note
        // fewer than the slots.
        assert_eq!(out, (11..n).collect::<Vec<_>>());
    }
}
