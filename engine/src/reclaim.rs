//! Memory reclamation for lock-free readers: who may free an object that
//! was unlinked from a shared structure, and when.
//!
//! A reader *pins* its thread, loads pointers from the structure, uses the
//! objects, and *unpins*. A writer that unlinks an object *retires* it; it
//! is freed once every reader that could have loaded it has unpinned. The reasoning behind the design, and the bounds it
//! keeps, are in `docs/design/reclamation.md`.
//!
//! # Why not crossbeam-epoch
//!
//! Pinning must order the reader's announcement (a store) before its loads
//! of table pointers: a store-load barrier. crossbeam-epoch pays it on every
//! pin with a locked `cmpxchg`, most of the pin's cost and a large share of
//! a short read (the measurement is in `docs/design/reclamation.md`).
//! Here the barrier is
//! *asymmetric* (as folly's `asymmetric_thread_fence_{light,heavy}`): readers
//! execute only a compiler fence, and the rare collector issues Linux's
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a full memory
//! barrier on every CPU currently running a thread of this process. The pair
//! orders like two `SeqCst` fences. Where `membarrier` is unavailable (other
//! systems, old kernels, seccomp, Miri, loom) both sides use
//! `fence(SeqCst)`; which one is decided once, before the first reader
//! registers, and never changes.
//!
//! # Protocol and invariants
//!
//! - Each thread owns a [`Record`] whose `state` only it writes: 0 while not
//!   pinned; while pinned, the domain's [`Hot::word`] as it read it at the
//!   pin, which is odd and carries the number of collections begun. Nested
//!   pins only count depth, in a thread-local ([`Fast::nest`]).
//! - Pin: store the pinned state (`Release`), then the light fence, then
//!   the reads. Unpin: store 0 with `Release`, after the last use of any
//!   object. Plain stores: no read-modify-write, and no load of the thread's
//!   own previous store to wait for. Both release, because a collector
//!   that noted a record pinned may next read any later state of it: the
//!   unpin, or a later pin (of this thread, or of the record's next holder),
//!   which must carry the earlier section's uses with it too.
//! - A record also carries per-thread cells for its users, in the lines
//!   the pin already holds, so that writing one costs no second
//!   thread-local lookup and touches no other line. Cells come in columns
//!   ([`Column`]): column `i` of every record belongs to whoever holds
//!   column `i`. Only the thread holding the record writes its cells
//!   (`Relaxed` load + store, while pinned); records change hands under
//!   the `records` lock, which orders one holder's writes before the next
//!   one's. Readers sum a column under that lock. What a column counts is
//!   its owner's business.
//! - A record also carries one word for its holder's own use
//!   ([`Guard::word`]): only the holder reads and writes it, `Relaxed`,
//!   while pinned; this module never interprets it.
//! - And a ring of notes ([`notes`]): its holder writes tagged values
//!   there while pinned, readers of a tag collect them, walking every
//!   record through the domain's `chain` without a lock. Its own protocol
//!   is in that module.
//! - Retire: the writer unlinks the object first, then, pinned, pushes it
//!   on the bag in its record, with the bytes it says the object holds. A
//!   bag full in objects or bytes is sealed into the domain's `sealed` list
//!   under its mutex (so the unlinks happen-before whoever takes them).
//! - A record's bag is touched by its holder only while pinned and only
//!   after reading the record's `stealing` flag clear (else the object is
//!   sealed on its own); by [`collect_garbage`](crate::collect_garbage)'s
//!   steal, under the `records` lock, only for records it read unpinned
//!   after raising every `stealing` flag and running the heavy fence (the
//!   pin's store-buffering pattern again: see [`Domain::steal_bags`]); and
//!   by whoever gives a record back, under that lock, at depth 0. A record
//!   given back is sealed empty, and the thread collects if that made a
//!   collection due: a thread that exits before filling a bag strands
//!   nothing.
//! - Collect (one collector at a time): take every sealed bag; heavy barrier;
//!   then read every record's `state` (`Acquire`) and note the pinned ones.
//!   The batch is freed once each noted record's `state` has changed. A
//!   changed state means an unpin happened since, and the `Acquire` read of
//!   it synchronizes with a release store at or after that unpin (every
//!   store of `state` is one); an unchanged one may be a
//!   new pinned section at the same epoch, which only delays the free until
//!   a later collection (each collection bumps the epoch first).
//!
//! Why that is safe: a reader that loaded an object from the structure did so
//! after its pin store and light fence; the collector took the object after
//! it was unlinked, then ran the heavy barrier, then read the record. As in
//! the store-buffering litmus test with fences on both sides, either the
//! collector sees the reader pinned (and waits for its state to change:
//! the reader's `Release` unpin then happens-before the free), or the
//! reader's load comes after the barrier and sees the unlink, so it never
//! held the object. A reader that pinned after the barrier likewise sees the
//! unlink.
//!
//! # Bounds
//!
//! A thread's bag holds fewer than [`BAG`] objects and [`BAG_BYTES`] bytes
//! (plus the one object that fills it); sealed bags trigger a collection at
//! between [`MIN_COLLECT`] and [`MAX_COLLECT`] objects (more when the heavy
//! barrier is dearer) or at [`COLLECT_BYTES`], run by the thread that sealed
//! past the mark, at its outermost unpin (never under its caller's locks), or at
//! its exit. A batch waits only for readers pinned at its collection, and
//! the engine pins for one lookup or one write, never around a user's
//! callback, so a batch that waits is freed by the next collection: at most
//! one batch waits while the next fills, and retired memory stays within
//! `2 × MAX_COLLECT + 3 × BAG × threads` objects and `2 × COLLECT_BYTES +
//! 3 × BAG_BYTES × threads` bytes unless a reader is descheduled
//! mid-lookup ([`RetiredBounds`](crate::RetiredBounds) derives this for
//! users).
//!
//! A destructor that panics while a collection frees its object is caught
//! there ([`recycle::free`]): the memory is freed, the batch goes on, and
//! the panic is counted, never propagated into the operation that happened
//! to collect.

use crate::sync::{
    compiler_fence, fence, lock, try_lock, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Cell,
    Mutex, Ordering, RefCell, UnsafeCell, LOOM,
};
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;
use std::ptr;

mod notes;
mod ptrs;
mod recycle;
pub use notes::Trail;
pub use ptrs::{Atomic, Owned, Shared};

/// Set (to anything but `0`) before the process first pins, this
/// environment variable makes both sides use full fences instead of
/// `membarrier`: for systems where the syscall misbehaves, and to test the
/// fallback.
pub(crate) const NO_MEMBARRIER: &str = "CLOCKWISE_NO_MEMBARRIER";

/// Objects a thread retires before it seals its bag.
const BAG: usize = if LOOM { 2 } else { 64 };
/// Bytes (as the retiring code states them) that seal a bag before it holds
/// [`BAG`] objects: large values must not wait 64 at a time per thread.
/// Under loom a model picks: an object stated at 16 bytes or more seals its
/// bag at once (and, with [`MIN_COLLECT`] at 1, collects at the unpin); a
/// smaller one stays in the bag, for a steal to find.
const BAG_BYTES: usize = if LOOM { 16 } else { 64 << 10 };
/// Sealed bytes that make the sealing thread collect, whatever the object
/// count: with values of a megabyte, [`MAX_COLLECT`] objects would be 8 GB.
/// At 4 MiB a collection (one heavy barrier, ~10 µs with another thread
/// running) is still under 1 % of the time it takes to write that much.
const COLLECT_BYTES: usize = 4 << 20;
/// Sealed objects that make the sealing thread collect, at least: the
/// threshold rises with what the heavy barrier costs (see
/// [`collect_at_for`]). Small batches are freed while their memory is still
/// in the CPU's caches: a single writer's median write stays where
/// crossbeam-epoch had it (a threshold of 1024 cost 60 ns more).
const MIN_COLLECT: usize = if LOOM { 1 } else { 128 };
/// Emptied bags a domain keeps for sealing threads to reuse.
const SPARE_BAGS: usize = 64;
/// At most this many sealed objects wait for a collection.
const MAX_COLLECT: usize = if LOOM { 1 } else { 8192 };
/// The barrier's cost per collected object the threshold aims at.
const BARRIER_NS_PER_OBJECT: u128 = 8;

/// The collection threshold after a heavy barrier that took `cost`: the
/// barrier costs a fraction of a microsecond with no other thread of the
/// process running and ~10 µs with one (an interrupt to each other CPU
/// that runs one, dearer under a hypervisor), so a fixed threshold would
/// either tax every retirement by ~80 ns or hold memory back needlessly.
pub(crate) fn collect_at_for(cost: std::time::Duration) -> usize {
    let n = cost.as_nanos() / BARRIER_NS_PER_OBJECT;
    usize::try_from(n)
        .unwrap_or(MAX_COLLECT)
        .clamp(MIN_COLLECT, MAX_COLLECT)
}

/// One thread's announcement, on lines of its own (collectors read it),
/// its bag of retired objects, and the cells and word its users keep in
/// the lines the pin holds.
struct Record {
    /// 0 while not pinned; while pinned, [`Hot::word`] as read at the pin
    /// (odd: [`PINNED`] is set).
    state: AtomicU64,
    /// Set by [`Domain::steal_bags`] while it may empty this record's bag:
    /// the holder, pinned, reads it before touching the bag (`Acquire`,
    /// pairing with the `Release` store that ends the steal) and seals
    /// what it retires on its own instead while it is set.
    stealing: AtomicBool,
    /// What the holder retired and has not sealed yet. Written by the
    /// holder while pinned with `stealing` clear; by a steal under the
    /// `records` lock when the record is not pinned (see the module docs);
    /// by whoever gives the record back, under that lock.
    bag: UnsafeCell<Bag>,
    /// The holder's own word (see [`Guard::word`]): only the holder reads
    /// and writes it, `Relaxed`.
    word: AtomicUsize,
    /// Cell `i` belongs to the [`Column`] holding index `i`; only the
    /// record's current holder writes it (`Relaxed` load + store), while
    /// pinned. Never reset: a column subtracts its sum at its creation.
    cells: [AtomicU64; COLUMNS],
    /// The holder's notes (see [`notes`]), after the cells: a hit that
    /// writes no note touches none of its lines.
    notes: notes::Ring,
    /// The record's place in `Records::all`, for readers of the notes.
    index: usize,
    /// The record created before this one (null for the first): the
    /// domain's [`chain`](Domain::chain) goes on through it. Written before
    /// the record is published there, never after.
    older: *const CachePadded<Record>,
}

/// Cells each record carries: this many minus one columns can be held at
/// once; the last is the scratch column (see [`Column`]). A cell is 8 bytes
/// of every record, so the records of 62 columns fill eight cache lines.
pub(crate) const COLUMNS: usize = if LOOM { 3 } else { 62 };

/// A retired object and how to free it; `free` returns whether the
/// object's destructor panicked (its memory is freed all the same).
struct Deferred {
    ptr: *mut (),
    free: unsafe fn(*mut ()) -> bool,
}

/// A thread's retired objects not sealed yet, and their stated bytes.
#[derive(Default)]
struct Bag {
    items: Vec<Deferred>,
    bytes: usize,
}

// SAFETY: a deferred object is only ever freed once, by whichever thread
// collects it; `Guard::defer_destroy` requires of its callers that what
// they retire may be dropped on any thread (see its safety section).
unsafe impl Send for Deferred {}

/// Retired objects waiting for the readers pinned when they were collected.
struct Waiting {
    readers: Vec<(RecordPtr, u64)>,
    garbage: Vec<Vec<Deferred>>,
    bytes: usize,
}

#[derive(Clone, Copy)]
struct RecordPtr(*const CachePadded<Record>);

// SAFETY: records are never freed (a domain keeps every record it ever
// created), and `Record` holds only atomics.
unsafe impl Send for RecordPtr {}

impl RecordPtr {
    fn get(&self) -> &CachePadded<Record> {
        // SAFETY: see the `Send` impl: records live as long as the domain.
        unsafe { &*self.0 }
    }
}

struct Records {
    all: Vec<RecordPtr>,
    free: Vec<RecordPtr>,
    /// Whether `membarrier` was tried yet.
    probed: bool,
    /// Bit `i` set: column `i` is held by a live [`Column`].
    columns: u64,
}

struct Sealed {
    bags: Vec<Vec<Deferred>>,
    /// Emptied bags of capacity [`BAG`], at most [`SPARE_BAGS`]: a sealing
    /// thread takes its next bag from here. A fresh 1 KiB bag is a large
    /// request for glibc, which first consolidates its fast bins, and the
    /// sealing writer may hold its own locks meanwhile.
    spare: Vec<Vec<Deferred>>,
    objects: usize,
    bytes: usize,
    /// Collect when `objects` reaches this (or `bytes` [`COLLECT_BYTES`]).
    collect_at: usize,
}

/// What every pin reads: one word, so a pin loads one value and stores it.
struct Hot {
    /// `collections << 2 | ASYMMETRIC? | PINNED`. Collections started (in
    /// units of [`EPOCH_STEP`]): a reader stores the whole word as its pinned
    /// state, so a reader pinned again after a collection began never looks
    /// like the same pinned section. [`ASYMMETRIC`]: `membarrier` is
    /// registered and readers use the light fence; set once, under
    /// `records`' lock, before the first record is handed out. [`PINNED`]:
    /// always set, so the word is a valid pinned state as it is.
    word: AtomicU64,
}

/// In a record's state: the thread is pinned.
const PINNED: u64 = 1;
/// In [`Hot::word`]: readers use the light (compiler-only) fence.
const ASYMMETRIC: u64 = 2;
/// What a collection adds to [`Hot::word`].
const EPOCH_STEP: u64 = 4;

/// The process's reclamation state (one per loom model under loom).
struct Domain {
    records: Mutex<Records>,
    sealed: Mutex<Sealed>,
    /// Held by the one collector; holds what waits for readers.
    waiting: Mutex<Vec<Waiting>>,
    /// Destructors of retired objects that panicked (each caught, its
    /// memory freed, the batch carried on).
    drop_panics: AtomicU64,
    /// Read by every pin, written only by collections and once at start:
    /// on a line of their own, away from the mutexes writers take.
    hot: CachePadded<Hot>,
    /// The newest record; each names the one created before it. Stored
    /// (`Release`, under the `records` lock) once a new record's fields are
    /// written, so that readers of the notes walk every record without
    /// that lock (`Acquire`): records are never freed.
    chain: AtomicPtr<CachePadded<Record>>,
}

/// `Domain`'s initial value: a `static` in normal builds (`const`), a
/// per-model lazy static under loom (whose types are not `const`).
macro_rules! new_domain {
    () => {
        Domain {
            records: Mutex::new(Records {
                all: Vec::new(),
                free: Vec::new(),
                probed: false,
                columns: 0,
            }),
            sealed: Mutex::new(Sealed {
                bags: Vec::new(),
                spare: Vec::new(),
                objects: 0,
                bytes: 0,
                collect_at: MIN_COLLECT,
            }),
            waiting: Mutex::new(Vec::new()),
            drop_panics: AtomicU64::new(0),
            hot: CachePadded::new(Hot {
                word: AtomicU64::new(PINNED),
            }),
            chain: AtomicPtr::new(ptr::null_mut()),
        }
    };
}

impl Domain {
    /// A record for the calling thread: a free one, or a new one.
    fn claim(&self) -> RecordPtr {
        let mut records = lock(&self.records);
        self.probe(&mut records);
        if let Some(r) = records.free.pop() {
            return r;
        }
        let r = RecordPtr(Box::into_raw(Box::new(CachePadded::new(Record {
            state: AtomicU64::new(0),
            stealing: AtomicBool::new(false),
            bag: UnsafeCell::new(Bag::default()),
            word: AtomicUsize::new(0),
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
            notes: notes::Ring::new(),
            index: records.all.len(),
            // Relaxed: only stores under this lock write the chain.
            older: self.chain.load(Ordering::Relaxed),
        }))));
        records.all.push(r);
        // Release: pairs with the `Acquire` load of a reader of the notes,
        // which then sees this record's fields, and through `older` every
        // record published before it.
        self.chain.store(r.0 as *mut _, Ordering::Release);
        r
    }

    /// Decides, once, between the asymmetric fence and full fences.
    fn probe(&self, records: &mut Records) {
        if records.probed {
            return;
        }
        records.probed = true;
        let refused = std::env::var_os(NO_MEMBARRIER).is_some_and(|v| !v.is_empty() && v != "0");
        if !refused && barrier::register() {
            // Relaxed: every reader reads it after taking a record from the
            // `records` mutex held here, which orders it. A read-modify-write,
            // because a collection may bump the epoch without that lock.
            self.hot.word.fetch_or(ASYMMETRIC, Ordering::Relaxed);
        }
    }

    /// Takes back the record of a thread that is not pinned, sealing what
    /// its bag holds; collects if that made a collection due.
    fn release(&self, r: RecordPtr) {
        let bag = {
            let mut records = lock(&self.records);
            // SAFETY: the holder gives the record back at depth 0, so it is
            // not pinned and touches the bag no more; a steal, the only
            // other accessor, runs under this lock.
            let bag = r.get().bag.with_mut(|b| unsafe { std::mem::take(&mut *b) });
            records.free.push(r);
            bag
        };
        if !bag.items.is_empty() && self.seal(bag.items, bag.bytes).0 {
            self.collect();
        }
    }

    /// Hands `bag`, holding `bytes`, to the next collection; whether that
    /// collection is due, and an empty bag to fill next, if the domain has
    /// one to spare.
    fn seal(&self, bag: Vec<Deferred>, bytes: usize) -> (bool, Option<Vec<Deferred>>) {
        let mut sealed = lock(&self.sealed);
        sealed.objects += bag.len();
        sealed.bytes = sealed.bytes.saturating_add(bytes);
        sealed.bags.push(bag);
        let spare = sealed.spare.pop();
        let due = sealed.objects >= sealed.collect_at || sealed.bytes >= COLLECT_BYTES;
        (due, spare)
    }

    /// Whether readers use the light fence; read under `records`' lock,
    /// which `probe` sets it under.
    fn asymmetric_locked(&self, _records: &Records) -> bool {
        self.hot.word.load(Ordering::Relaxed) & ASYMMETRIC != 0
    }

    /// The collector's side of the fence pair.
    fn heavy_fence(&self, asymmetric: bool) {
        if asymmetric {
            let started = std::time::Instant::now();
            barrier::heavy();
            lock(&self.sealed).collect_at = collect_at_for(started.elapsed());
        } else {
            // Pairs with the readers' `SeqCst` fence at their pins.
            fence(Ordering::SeqCst);
        }
    }

    /// Seals the bags of every record that is not pinned (and of `own`, the
    /// caller's, pinned or not): the partly filled bags of idle threads,
    /// which no collection reaches otherwise.
    ///
    /// The handshake is the pin's store-buffering pattern again: this side
    /// stores `stealing`, runs the heavy fence, then reads `state`; a holder
    /// stores its pinned `state`, runs the light fence, and reads
    /// `stealing` before it touches its bag. Either this side sees the
    /// record pinned (and leaves the bag), or the holder's next retirement
    /// sees `stealing` (and leaves the bag). A `state` read as unpinned
    /// synchronizes with the unpin (`Release`), so the holder's last writes
    /// to the bag happen-before the take; the `Release` clear of `stealing`
    /// orders the take before the holder's next write.
    fn steal_bags(&self, own: *const CachePadded<Record>) {
        let mut taken = Vec::new();
        let mut bytes = 0usize;
        {
            let records = lock(&self.records);
            for r in &records.all {
                // Relaxed: the fence below orders it before the reads of
                // `state`.
                r.get().stealing.store(true, Ordering::Relaxed);
            }
            self.heavy_fence(self.asymmetric_locked(&records));
            for r in &records.all {
                let record = r.get();
                // Acquire: pairs with the holder's `Release` unpin (above).
                let idle = record.state.load(Ordering::Acquire) & PINNED == 0;
                if idle || ptr::eq(r.0, own) {
                    // SAFETY: the handshake above: the holder is not in a
                    // pinned section that could touch the bag (or it is this
                    // thread), and its later sections leave the bag alone
                    // until `stealing` is cleared below.
                    record.bag.with_mut(|b| unsafe {
                        let b = &mut *b;
                        if !b.items.is_empty() {
                            bytes = bytes.saturating_add(std::mem::take(&mut b.bytes));
                            taken.push(std::mem::take(&mut b.items));
                        }
                    });
                }
            }
            for r in &records.all {
                // Release: pairs with the holder's `Acquire` read of the
                // flag; the take above happens-before its next write.
                r.get().stealing.store(false, Ordering::Release);
            }
        }
        for bag in taken {
            let b = std::mem::take(&mut bytes);
            self.seal(bag, b);
        }
    }

    /// What waits to be freed, for [`stats`].
    fn retired(&self) -> (usize, usize) {
        let (mut objects, mut bytes) = {
            let sealed = lock(&self.sealed);
            (sealed.objects, sealed.bytes)
        };
        for w in lock(&self.waiting).iter() {
            objects += w.garbage.iter().map(Vec::len).sum::<usize>();
            bytes = bytes.saturating_add(w.bytes);
        }
        (objects, bytes)
    }

    /// The reader's side of the fence pair, for a pin that read `word`.
    #[inline(always)]
    fn light_fence(word: u64) {
        if word & ASYMMETRIC != 0 {
            // Pairs with the collector's heavy barrier (module docs).
            compiler_fence(Ordering::SeqCst);
        } else {
            // Pairs with the collector's `SeqCst` fence.
            fence(Ordering::SeqCst);
        }
    }

    fn collect(&self) {
        let Some(mut waiting) = try_lock(&self.waiting) else {
            return; // Another thread is collecting.
        };
        let (garbage, bytes) = {
            let mut sealed = lock(&self.sealed);
            sealed.objects = 0;
            let bytes = std::mem::take(&mut sealed.bytes);
            (std::mem::take(&mut sealed.bags), bytes)
        };
        // Relaxed: the epoch only distinguishes pinned sections (see
        // `Hot::word`); one collector at a time (`waiting`).
        self.hot.word.fetch_add(EPOCH_STEP, Ordering::Relaxed);
        // Read under the lock that `probe` writes it under: a reader that
        // registers after this point also sees every unlink taken above.
        let asymmetric = self.asymmetric_locked(&lock(&self.records));
        self.heavy_fence(asymmetric);
        let readers: Vec<(RecordPtr, u64)> = lock(&self.records)
            .all
            .iter()
            .filter_map(|&r| {
                // Acquire pairs with the reader's Release unpin: what it did
                // while pinned happens-before a free we decide on later.
                let state = r.get().state.load(Ordering::Acquire);
                (state & PINNED != 0).then_some((r, state))
            })
            .collect();
        if !garbage.is_empty() {
            waiting.push(Waiting {
                readers,
                garbage,
                bytes,
            });
        }
        let mut ready = Vec::new();
        waiting.retain_mut(|w| {
            // Acquire: as above.
            w.readers
                .retain(|(r, state)| r.get().state.load(Ordering::Acquire) == *state);
            if w.readers.is_empty() {
                ready.append(&mut w.garbage);
            }
            !w.readers.is_empty()
        });
        drop(waiting);
        let mut panics = 0;
        for bag in &mut ready {
            for d in bag.drain(..) {
                // SAFETY: retired once, unlinked before it was sealed, and
                // every reader that could hold it has unpinned since.
                panics += u64::from(unsafe { (d.free)(d.ptr) });
            }
        }
        if panics != 0 {
            // Relaxed: a statistic.
            self.drop_panics.fetch_add(panics, Ordering::Relaxed);
        }
        ready.retain(|bag| bag.capacity() == BAG);
        if !ready.is_empty() {
            let mut sealed = lock(&self.sealed);
            let room = SPARE_BAGS.saturating_sub(sealed.spare.len());
            ready.truncate(room);
            sealed.spare.append(&mut ready);
        }
    }
}

fn domain() -> &'static Domain {
    crate::sync::global! {
        static DOMAIN: Domain = new_domain!();
    }
    &DOMAIN
}

/// The calling thread's pin state, read on every pin: no destructor, so the
/// thread-local is a plain `%fs`-relative access with no liveness check.
struct Fast {
    /// The thread's record; null before its first pin, and after its
    /// thread-local teardown once the depth is back to 0.
    record: Cell<*const CachePadded<Record>>,
    /// Pinned depth, plus the flags [`UNREGISTERED`] and [`COLLECT`]: so the
    /// common pin (registered, not pinned) and unpin (back to that) each test
    /// one word for zero.
    nest: Cell<usize>,
}

/// In [`Fast::nest`]: the thread has no lasting record, because it never
/// pinned or because its thread-local teardown ran. A record it holds while
/// the depth is above 0 (taken during teardown, or held by a guard that
/// outlived the teardown) is given back when the depth returns to 0.
const UNREGISTERED: usize = 1 << (usize::BITS - 1);
/// In [`Fast::nest`]: a seal passed the collection threshold; collect at the
/// outermost unpin.
const COLLECT: usize = 1 << (usize::BITS - 2);
/// In [`Fast::nest`]: work waits in [`Owner::later`] for the outermost
/// unpin ([`Guard::defer_unpinned`]).
const LATER: usize = 1 << (usize::BITS - 3);
/// In [`Fast::nest`]: the pinned depth.
const DEPTH: usize = LATER - 1;

/// Work a pinned thread left for its outermost unpin.
type Later = Vec<Box<dyn FnOnce()>>;

/// The calling thread's registration: its destructor gives the record back
/// (sealing the record's bag, and collecting if that is due) when the
/// thread exits. Also holds the work left for the outermost unpin.
struct Owner {
    later: RefCell<Later>,
}

impl Owner {
    fn release(&self) {
        // `try_with`: loom destroys its mock thread-locals in any order.
        let _ = FAST.try_with(|f| {
            let nest = f.nest.get();
            f.nest.set(nest | UNREGISTERED);
            // With a guard still alive (held by another thread-local's
            // destructor), the record goes back at its unpin instead.
            if nest & DEPTH == 0 {
                let r = f.record.replace(ptr::null());
                if !r.is_null() {
                    domain().release(RecordPtr(r));
                }
            }
        });
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.release();
    }
}

crate::sync::thread_locals! {
    static FAST: Fast = Fast {
        record: Cell::new(ptr::null()),
        nest: Cell::new(UNREGISTERED),
    };
    static OWNER: Owner = Owner { later: RefCell::new(Vec::new()) };
}

/// Gives the calling loom model thread's record back, as its thread-local
/// destructor would.
#[cfg(clockwise_loom)]
pub(crate) fn release_thread_for_loom() {
    OWNER.with(Owner::release);
}

/// A pinned thread: objects loaded while it lives stay allocated.
#[derive(Debug)]
pub struct Guard {
    /// The thread's record; null only for [`unprotected`], which is a
    /// `static` and never dropped.
    record: *const CachePadded<Record>,
    _not_send: PhantomData<*mut ()>,
}

#[inline(always)]
fn enter(r: &Record, d: &Domain) {
    // Relaxed load: the word only makes this pinned state differ from the
    // thread's earlier ones and says which fence to use. The fence orders
    // the store before the reads that follow. Release, though no
    // reader's own accesses need it: a collector that noted this record
    // pinned frees once it reads any other state there, and the state it
    // reads may be this pin, not the unpin before it (a stale `word` makes
    // it differ; a record handed to another thread makes it another
    // thread's pin). Release makes that read synchronize with this pin, so
    // the previous section's uses (this thread's, or through the `records`
    // lock the previous holder's) happen-before the free. (A later plain
    // store does not extend the unpin's release sequence.) On x86 a
    // release store is the same `mov`. Found by the loom model
    // `two_readers_and_a_replacing_writer` at 4 preemptions.
    let word = d.hot.word.load(Ordering::Relaxed);
    r.state.store(word, Ordering::Release);
    Domain::light_fence(word);
}

#[inline(always)]
fn exit(r: &Record) {
    // Release pairs with the collector's Acquire: every use of an object in
    // this pinned section happens-before a free decided on seeing it.
    r.state.store(0, Ordering::Release);
}

/// Pins the calling thread.
#[inline]
pub fn pin() -> Guard {
    FAST.with(|f| {
        let nest = f.nest.get();
        if nest != 0 {
            return pin_slow(f, nest);
        }
        let r = f.record.get();
        // SAFETY: `nest` is 0 only while the thread holds a record (set by
        // `pin_first`), and records live as long as the domain.
        enter(unsafe { &*r }, domain());
        f.nest.set(1);
        Guard {
            record: r,
            _not_send: PhantomData,
        }
    })
}

/// A nested pin, or one that must take a record first.
#[cold]
fn pin_slow(f: &Fast, nest: usize) -> Guard {
    if nest & DEPTH == 0 {
        // `COLLECT` and `LATER` are set only while pinned and cleared by
        // the outermost unpin, so a nonzero word at depth 0 means
        // `UNREGISTERED`.
        debug_assert!(nest & UNREGISTERED != 0, "nest {nest:#x} at depth 0");
        return pin_first(f);
    }
    f.nest.set(nest + 1);
    Guard {
        record: f.record.get(),
        _not_send: PhantomData,
    }
}

/// The first pin of a thread, or the outermost one during or after its
/// thread-local teardown.
fn pin_first(f: &Fast) -> Guard {
    let d = domain();
    let r = d.claim();
    enter(r.get(), d);
    f.record.set(r.0);
    // Touching `OWNER` registers its destructor, which gives the record
    // back. After it ran (teardown), the record goes back at this pin's
    // unpin instead.
    let lasting = OWNER.try_with(|_| ()).is_ok();
    f.nest.set(if lasting { 1 } else { UNREGISTERED | 1 });
    Guard {
        record: r.0,
        _not_send: PhantomData,
    }
}

impl Guard {
    /// Frees `ptr`'s object once no pinned reader can hold it.
    ///
    /// # Safety
    ///
    /// The object must be unreachable for readers that pin from now on (it
    /// was unlinked), retired only once, and allocated as an [`Owned`]; and
    /// it must be fine to drop on another thread at any later time (`T:
    /// Send + 'static` in effect: any thread's collection may free it, after
    /// whatever retired it is gone).
    ///
    /// `bytes` is what the object holds, as far as the caller knows (its
    /// size, or what a weigher says of it): bags and collections are
    /// bounded in these bytes as well as in objects.
    pub unsafe fn defer_destroy<T>(&self, ptr: Shared<'_, T>, bytes: usize) {
        unsafe fn free<T>(p: *mut ()) -> bool {
            // SAFETY: `p` came from `Box::into_raw` (`Owned`) and is freed
            // once (the caller's contract).
            unsafe { recycle::free(p.cast::<T>()) }
        }
        let d = Deferred {
            ptr: ptr.as_raw() as *mut (),
            free: free::<T>,
        };
        if self.record.is_null() {
            // SAFETY: `unprotected` is only used when no reader can exist.
            if unsafe { (d.free)(d.ptr) } {
                // Relaxed: a statistic.
                domain().drop_panics.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let r = self.record();
        // Acquire: pairs with the `Release` clear that ends a steal, so the
        // steal's take happens-before this thread's next write to the bag.
        let collect = if r.stealing.load(Ordering::Acquire) {
            // A steal may be emptying the bag: leave it alone.
            domain().seal(vec![d], bytes).0
        } else {
            // SAFETY: this thread holds the record and is pinned (this
            // guard), and saw no steal under way after its pin's fence: no
            // steal touches the bag until this section ends (see
            // `Domain::steal_bags`).
            r.bag.with_mut(|bag| unsafe {
                let bag = &mut *bag;
                bag.items.push(d);
                bag.bytes = bag.bytes.saturating_add(bytes);
                if bag.items.len() < BAG && bag.bytes < BAG_BYTES {
                    return false;
                }
                let full = std::mem::take(&mut bag.items);
                let (due, spare) = domain().seal(full, std::mem::take(&mut bag.bytes));
                bag.items = spare.unwrap_or_else(|| Vec::with_capacity(BAG));
                due
            })
        };
        if collect {
            // This guard pins the thread, so an outermost unpin will see it.
            let _ = FAST.try_with(|f| f.nest.set(f.nest.get() | COLLECT));
        }
    }

    /// Runs `work` once this thread is no longer pinned: at its outermost
    /// unpin, after that unpin's collection if one is due. For work that
    /// must not hold back reclamation (a user's callback) but is found
    /// while pinned. Costs an unpin nothing when there is none.
    pub fn defer_unpinned(&self, work: Box<dyn FnOnce()>) {
        if self.record.is_null() {
            // The unprotected guard pins nothing.
            work();
            return;
        }
        let mut work = Some(work);
        let _ = OWNER.try_with(|o| o.later.borrow_mut().extend(work.take()));
        match work {
            // This guard pins the thread, so an outermost unpin will see it.
            None => FAST.with(|f| f.nest.set(f.nest.get() | LATER)),
            // Thread-local teardown: no list any more; run it now.
            Some(work) => work(),
        }
    }

    /// This guard's record: the thread's own, while pinned.
    #[inline(always)]
    fn record(&self) -> &Record {
        debug_assert!(
            !self.record.is_null(),
            "the unprotected guard has no record for cells or a word"
        );
        // SAFETY: a pinned guard's record lives as long as the domain (the
        // unprotected guard is never used to look anything up or write: see
        // `unprotected`).
        unsafe { &*self.record }
    }

    /// The word this thread last stored with [`set_word`](Self::set_word)
    /// in its record (0 if none since the record was created; a record
    /// passed to another thread keeps it, so treat it as a hint).
    #[inline(always)]
    pub fn word(&self) -> usize {
        // Relaxed: only this thread, the record's holder, touches the field.
        self.record().word.load(Ordering::Relaxed)
    }

    /// Stores `word` in this thread's record, in the line its pin already
    /// holds.
    #[inline(always)]
    pub fn set_word(&self, word: usize) {
        // Relaxed: as in `word`.
        self.record().word.store(word, Ordering::Relaxed);
    }

    /// Adds one to this thread's cell of `column` and returns the cell's
    /// new value: a per-thread running count.
    #[inline(always)]
    pub fn bump(&self, column: &Column) -> u64 {
        // SAFETY: `column.index < COLUMNS` (`Column::new`).
        let cell = unsafe { self.record().cells.get_unchecked(column.index) };
        // Relaxed load + store: this thread holds the record, the cell's
        // only writer (see `Record::cells`).
        let n = cell.load(Ordering::Relaxed).wrapping_add(1);
        cell.store(n, Ordering::Relaxed);
        n
    }
}

/// An unpin that leaves the thread pinned (nested), collects, or ends a
/// registration that outlived the thread's teardown. `nest` is already
/// stored.
#[cold]
fn unpin_slow(f: &Fast, r: *const CachePadded<Record>, nest: usize) {
    if nest & DEPTH != 0 {
        return;
    }
    // SAFETY: records live as long as the domain.
    exit(unsafe { &*r });
    if nest & UNREGISTERED != 0 {
        // While the depth was above 0 every pin used this record; give it
        // back before collecting, whose destructors may pin again (it
        // collects itself if its bag made that due).
        f.record.set(ptr::null());
        domain().release(RecordPtr(r));
    }
    if nest & COLLECT != 0 {
        f.nest.set(f.nest.get() & !COLLECT);
        domain().collect();
    }
    if nest & LATER != 0 {
        f.nest.set(f.nest.get() & !LATER);
        // Taken first: the work may pin, and leave more for its own unpin.
        let later: Later = OWNER
            .try_with(|o| std::mem::take(&mut *o.later.borrow_mut()))
            .unwrap_or_default();
        for work in later {
            work();
        }
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        let r = self.record;
        FAST.with(|f| {
            debug_assert!(f.nest.get() & DEPTH != 0, "an unpin without a pin");
            let nest = f.nest.get().wrapping_sub(1);
            f.nest.set(nest);
            if nest == 0 {
                // SAFETY: records live as long as the domain; a dropped guard
                // is never the unprotected one (a `static`).
                exit(unsafe { &*r });
            } else {
                unpin_slow(f, r, nest);
            }
        });
    }
}

/// A column of per-thread cells: one cell in every record, so each thread
/// adds to its own cell in the line its pin already holds ([`Guard::bump`]),
/// and [`sum`](Self::sum) adds them all up.
///
/// When every column is taken, `new` hands out the scratch column, which
/// all such holders share and nobody reads: bumping it costs exactly what
/// bumping an own column does (the caller needs no branch on which), and
/// [`exclusive`](Self::exclusive) tells the holder to keep its own count.
#[derive(Debug)]
pub struct Column {
    index: usize,
    /// The column's sum when this holder took it (cells are never reset).
    baseline: u64,
}

/// The last column: bumped by holders that found no free one, never read.
const SCRATCH: usize = COLUMNS - 1;

impl Column {
    /// A free column, or the scratch column if all [`COLUMNS`]` - 1` are
    /// taken.
    // Not `Default`: making one claims a cell of every thread's record.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Column {
        const ALL: u64 = u64::MAX >> (64 - SCRATCH);
        let mut records = lock(&domain().records);
        let free = !records.columns & ALL;
        if free == 0 {
            return Column {
                index: SCRATCH,
                baseline: 0,
            };
        }
        let index = free.trailing_zeros() as usize;
        records.columns |= 1 << index;
        // Every bump by the column's previous holder happens-before this
        // read: its bumps happen-before its drop, which gave the column
        // back under this lock.
        let baseline = column_sum(&records, index);
        Column { index, baseline }
    }

    /// False for the scratch column: what is bumped there is lost.
    pub fn exclusive(&self) -> bool {
        self.index != SCRATCH
    }

    /// The bumps so far, on every thread (0 on the scratch column). Like a
    /// striped counter's sum: between the true totals at the call's start
    /// and end while threads bump, exact once they have stopped.
    pub fn sum(&self) -> u64 {
        if !self.exclusive() {
            return 0;
        }
        column_sum(&lock(&domain().records), self.index).wrapping_sub(self.baseline)
    }
}

impl Drop for Column {
    fn drop(&mut self) {
        if self.exclusive() {
            lock(&domain().records).columns &= !(1 << self.index);
        }
    }
}

fn column_sum(records: &Records, index: usize) -> u64 {
    records.all.iter().fold(0, |sum, r| {
        // Relaxed: each cell only grows and is read once; a record handed
        // to another thread passed through the `records` lock.
        sum.wrapping_add(r.get().cells[index].load(Ordering::Relaxed))
    })
}

/// A guard for code that owns everything it touches (a structure being
/// dropped): loads are unprotected and `defer_destroy` frees at once.
///
/// # Safety
///
/// No other thread may be able to reach the objects used through it, and
/// it must not be used to look anything up or write anything (it has no
/// record: it has no cells and no word).
pub(crate) unsafe fn unprotected() -> &'static Guard {
    struct Unprotected(Guard);
    // SAFETY: the unprotected guard holds no record and no thread state.
    unsafe impl Sync for Unprotected {}
    static GUARD: Unprotected = Unprotected(Guard {
        record: ptr::null(),
        _not_send: PhantomData,
    });
    &GUARD.0
}

/// Seals the bags of the calling thread and of every thread not pinned
/// now (idle ones included), and runs a collection: frees every retired
/// object that no pinned reader can hold.
pub(crate) fn collect_now() {
    let own = FAST.try_with(|f| f.record.get()).unwrap_or(ptr::null());
    let d = domain();
    d.steal_bags(own);
    // Two rounds: the first frees what no reader holds and notes the
    // readers pinned now; the second frees what waited for those.
    d.collect();
    d.collect();
}

/// What waits to be freed and what went wrong freeing it.
pub(crate) struct Stats {
    /// Sealed objects, and those waiting for pinned readers.
    pub(crate) objects: usize,
    /// Their stated bytes.
    pub(crate) bytes: usize,
    /// Destructors that panicked, process-wide, ever.
    pub(crate) drop_panics: u64,
}

/// The domain's [`Stats`] now.
pub(crate) fn stats() -> Stats {
    let d = domain();
    let (objects, bytes) = d.retired();
    Stats {
        objects,
        bytes,
        // Relaxed: a statistic.
        drop_panics: d.drop_panics.load(Ordering::Relaxed),
    }
}

/// The bounds the constants above set, for the documentation and tests.
pub(crate) const BOUNDS: (usize, usize, usize, usize) =
    (BAG, BAG_BYTES, MAX_COLLECT, COLLECT_BYTES);

/// Whether readers pin with only a compiler fence (the collector running
/// `membarrier`); decides now if no thread has pinned yet.
pub(crate) fn asymmetric() -> bool {
    let d = domain();
    let mut records = lock(&d.records);
    d.probe(&mut records);
    d.hot.word.load(Ordering::Relaxed) & ASYMMETRIC != 0
}

/// Records ever created (tests: they are reused, not leaked).
#[cfg(test)]
pub(crate) fn record_count() -> usize {
    lock(&domain().records).all.len()
}

/// The heavy side of the asymmetric fence.
mod barrier {
    /// Registers the process for expedited `membarrier`; whether it worked.
    #[cfg(all(target_os = "linux", not(miri)))]
    pub(super) fn register() -> bool {
        if crate::sync::LOOM {
            // Loom models the heavy barrier as a `SeqCst` fence.
            return false;
        }
        const QUERY: libc::c_int = 0;
        const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
        // SAFETY: `membarrier` takes two integers and touches no memory of
        // ours.
        let supported = unsafe { libc::syscall(libc::SYS_membarrier, QUERY, 0, 0) };
        if supported < 0 || supported & libc::c_long::from(PRIVATE_EXPEDITED) == 0 {
            return false;
        }
        // SAFETY: as above.
        unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 }
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    pub(super) fn register() -> bool {
        false
    }

    /// A full memory barrier on every CPU running a thread of this process.
    #[cfg(all(target_os = "linux", not(miri)))]
    pub(super) fn heavy() {
        const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        // SAFETY: as in `register`.
        let barrier = || unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0, 0) };
        if barrier() == 0 {
            return;
        }
        // Not registered (EPERM): a child of `fork` may not inherit the
        // parent's registration. Register this process and try again.
        if register() && barrier() == 0 {
            return;
        }
        // Readers rely on this barrier; without it they could be handed
        // freed memory. Stop instead.
        std::process::abort();
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    pub(super) fn heavy() {
        unreachable!("`register` returned false: readers use full fences")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full-sized bag holding `n` boxed integers.
    fn bag_of(n: usize) -> Vec<Deferred> {
        unsafe fn free(p: *mut ()) -> bool {
            // SAFETY: made by `Box::into_raw` below, freed once.
            drop(unsafe { Box::from_raw(p.cast::<u64>()) });
            false
        }
        let mut bag = Vec::with_capacity(BAG);
        bag.extend((0..n).map(|i| Deferred {
            ptr: Box::into_raw(Box::new(i as u64)).cast(),
            free,
        }));
        bag
    }

    #[test]
    fn emptied_bags_are_handed_to_the_next_sealer_and_bounded() {
        let domain: Domain = new_domain!();
        // No spare before anything was collected.
        let (_, spare) = domain.seal(bag_of(BAG), 0);
        assert!(spare.is_none());
        domain.collect();
        // The emptied bag comes back, empty and full-sized, to the next
        // sealer (here one sealing a thread's partial last bag).
        let (_, spare) = domain.seal(bag_of(3), 0);
        let spare = spare.expect("the collected bag is offered again");
        assert!(spare.is_empty() && spare.capacity() == BAG);
        // Many bags emptied at once: at most SPARE_BAGS are kept.
        for _ in 0..SPARE_BAGS * 2 {
            let _ = domain.seal(bag_of(BAG), 0);
        }
        domain.collect();
        let sealed = lock(&domain.sealed);
        assert_eq!(sealed.spare.len(), SPARE_BAGS);
        assert!(sealed
            .spare
            .iter()
            .all(|b| b.is_empty() && b.capacity() == BAG));
    }
}
