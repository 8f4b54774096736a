//! Memory reclamation for lock-free readers: who may free a removed entry,
//! and when.
//!
//! A reader *pins* its thread, loads pointers from the table, uses the
//! entries, and *unpins*. A writer that unlinks an entry (or replaces a
//! table) *retires* it; it is freed once every reader that could have loaded
//! it has unpinned.
//!
//! # Why not crossbeam-epoch
//!
//! Pinning must order the reader's announcement (a store) before its loads
//! of table pointers: a store-load barrier. crossbeam-epoch pays it on every
//! pin with a locked `cmpxchg`, 8.7 ns of its 10.5 ns pin on the Intel Xeon
//! this is measured on, about 40 % of an all-hit `get`. Here the barrier is
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
//! - Pin: store the pinned state (`Relaxed`), then the light fence, then
//!   the reads. Unpin: store 0 with `Release`, after the last use of any
//!   entry. Plain stores: no read-modify-write, and no load of the thread's
//!   own previous store to wait for.
//! - Retire: the writer unlinks the object first, then pushes it on its
//!   thread's bag. Full bags are sealed into the domain's `sealed` list under
//!   its mutex (so the unlinks happen-before whoever takes them).
//! - Collect (one collector at a time): take every sealed bag; heavy barrier;
//!   then read every record's `state` (`Acquire`) and note the pinned ones.
//!   The batch is freed once each noted record's `state` has changed. A
//!   changed state means an unpin happened since; an unchanged one may be a
//!   new pinned section at the same epoch, which only delays the free until
//!   a later collection (each collection bumps the epoch first).
//!
//! Why that is safe: a reader that loaded an object from the table did so
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
//! A thread's bag holds at most [`BAG`] objects; sealed bags trigger a
//! collection at between [`MIN_COLLECT`] and [`MAX_COLLECT`] objects (more
//! when the heavy barrier is dearer), run by the thread that sealed past the
//! mark, at its outermost unpin (never under a shard lock). A batch waits
//! only for readers pinned at its collection, and a `get` is pinned for one
//! lookup, so retired memory stays near `MAX_COLLECT + BAG × threads`
//! objects unless a reader is descheduled mid-lookup.

use crate::sync::{
    compiler_fence, fence, lock, try_lock, AtomicU64, Cell, Mutex, Ordering, RefCell,
};
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;
use std::ptr;

mod ptrs;
pub use ptrs::{Atomic, Owned, Shared};

/// Set (to anything but `0`) before a process first uses a cache, this
/// environment variable makes both sides use full fences instead of
/// `membarrier`: for systems where the syscall misbehaves, and to test the
/// fallback.
pub(crate) const NO_MEMBARRIER: &str = "CLOCKWISE_NO_MEMBARRIER";

/// Objects a thread retires before it seals its bag.
const BAG: usize = if cfg!(clockwise_loom) { 1 } else { 64 };
/// Sealed objects that make the sealing thread collect, at least: the
/// threshold rises with what the heavy barrier costs (see
/// [`collect_at_for`]). Small batches are freed while their memory is still
/// in cache, which keeps a single-threaded insert's median where
/// crossbeam-epoch had it (1024 cost 60 ns more).
const MIN_COLLECT: usize = if cfg!(clockwise_loom) { 1 } else { 128 };
/// At most this many sealed objects wait for a collection.
const MAX_COLLECT: usize = if cfg!(clockwise_loom) { 1 } else { 8192 };
/// The barrier's cost per collected object the threshold aims at.
const BARRIER_NS_PER_OBJECT: u128 = 8;

/// The collection threshold after a heavy barrier that took `cost`: the
/// barrier is 0.14 µs here with no other thread of the process running, and
/// 10.6 µs with one (an IPI under KVM), so a fixed threshold would either
/// tax every retirement by ~80 ns or hold memory back needlessly.
pub(crate) fn collect_at_for(cost: std::time::Duration) -> usize {
    let n = cost.as_nanos() / BARRIER_NS_PER_OBJECT;
    usize::try_from(n)
        .unwrap_or(MAX_COLLECT)
        .clamp(MIN_COLLECT, MAX_COLLECT)
}

/// One reader's announcement, on a line of its own (collectors read it).
struct Record {
    /// 0 while not pinned; while pinned, [`Hot::word`] as read at the pin
    /// (odd: [`PINNED`] is set).
    state: AtomicU64,
}

/// A retired object and how to free it.
struct Deferred {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: a deferred object is only ever freed once, by whichever thread
// collects it; objects retired through `Guard::defer_destroy` are entries and
// tables of a `Cache`, whose keys and values are `Send + Sync`.
unsafe impl Send for Deferred {}

/// Retired objects waiting for the readers pinned when they were collected.
struct Waiting {
    readers: Vec<(RecordPtr, u64)>,
    garbage: Vec<Vec<Deferred>>,
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
}

struct Sealed {
    bags: Vec<Vec<Deferred>>,
    objects: usize,
    /// Collect when `objects` reaches this.
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
    /// Read by every pin, written only by collections and once at start:
    /// on a line of their own, away from the mutexes writers take.
    hot: CachePadded<Hot>,
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
            }),
            sealed: Mutex::new(Sealed {
                bags: Vec::new(),
                objects: 0,
                collect_at: MIN_COLLECT,
            }),
            waiting: Mutex::new(Vec::new()),
            hot: CachePadded::new(Hot {
                word: AtomicU64::new(PINNED),
            }),
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
        }))));
        records.all.push(r);
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

    fn release(&self, r: RecordPtr) {
        lock(&self.records).free.push(r);
    }

    fn seal(&self, bag: Vec<Deferred>) -> bool {
        let mut sealed = lock(&self.sealed);
        sealed.objects += bag.len();
        sealed.bags.push(bag);
        sealed.objects >= sealed.collect_at
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
        let garbage = {
            let mut sealed = lock(&self.sealed);
            sealed.objects = 0;
            std::mem::take(&mut sealed.bags)
        };
        // Relaxed: the epoch only distinguishes pinned sections (see
        // `Hot::word`); one collector at a time (`waiting`).
        self.hot.word.fetch_add(EPOCH_STEP, Ordering::Relaxed);
        // Read under the lock that `probe` writes it under: a reader that
        // registers after this point also sees every unlink taken above.
        let asymmetric = {
            let _records = lock(&self.records);
            self.hot.word.load(Ordering::Relaxed) & ASYMMETRIC != 0
        };
        if asymmetric {
            let started = std::time::Instant::now();
            barrier::heavy();
            lock(&self.sealed).collect_at = collect_at_for(started.elapsed());
        } else {
            fence(Ordering::SeqCst);
        }
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
            waiting.push(Waiting { readers, garbage });
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
        for bag in ready {
            for d in bag {
                // SAFETY: retired once, unlinked before it was sealed, and
                // every reader that could hold it has unpinned since.
                unsafe { (d.free)(d.ptr) };
            }
        }
    }
}

#[cfg(not(clockwise_loom))]
fn domain() -> &'static Domain {
    static DOMAIN: Domain = new_domain!();
    &DOMAIN
}

#[cfg(clockwise_loom)]
fn domain() -> &'static Domain {
    loom::lazy_static! {
        static ref DOMAIN: Domain = new_domain!();
    }
    &DOMAIN
}

/// The calling thread's pin state, read on every pin: no destructor, so the
/// thread-local is a plain `%fs`-relative access with no liveness check.
struct Fast {
    /// The thread's record; null while [`UNREGISTERED`].
    record: Cell<*const CachePadded<Record>>,
    /// Pinned depth, plus the flags [`UNREGISTERED`] and [`COLLECT`]: so the
    /// common pin (registered, not pinned) and unpin (back to that) each test
    /// one word for zero.
    nest: Cell<usize>,
}

/// In [`Fast::nest`]: the thread holds no record (before its first pin, and
/// after its thread-local teardown gave the record back).
const UNREGISTERED: usize = 1 << (usize::BITS - 1);
/// In [`Fast::nest`]: a seal passed the collection threshold; collect at the
/// outermost unpin.
const COLLECT: usize = 1 << (usize::BITS - 2);
/// In [`Fast::nest`]: the pinned depth.
const DEPTH: usize = COLLECT - 1;

/// The calling thread's retired objects; its destructor seals them and gives
/// the record back when the thread exits.
struct Owner {
    bag: RefCell<Vec<Deferred>>,
}

impl Owner {
    fn release(&self) {
        let bag = std::mem::take(&mut *self.bag.borrow_mut());
        if !bag.is_empty() {
            domain().seal(bag);
        }
        // `try_with`: loom destroys its mock thread-locals in any order.
        let _ = FAST.try_with(|f| {
            let r = f.record.replace(ptr::null());
            let nest = f.nest.replace(UNREGISTERED);
            // A guard still alive (leaked, or held by another thread-local's
            // destructor) keeps its depth and unpins its record itself, and
            // the record is never reused.
            f.nest.set(nest & DEPTH | UNREGISTERED);
            if !r.is_null() && nest & DEPTH == 0 {
                domain().release(RecordPtr(r));
            }
        });
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(not(clockwise_loom))]
std::thread_local! {
    static FAST: Fast = const {
        Fast {
            record: Cell::new(ptr::null()),
            nest: Cell::new(UNREGISTERED),
        }
    };
    static OWNER: Owner = const { Owner { bag: RefCell::new(Vec::new()) } };
}

#[cfg(clockwise_loom)]
loom::thread_local! {
    static FAST: Fast = Fast {
        record: Cell::new(ptr::null()),
        nest: Cell::new(UNREGISTERED),
    };
    static OWNER: Owner = Owner { bag: RefCell::new(Vec::new()) };
}

/// Gives the calling loom model thread's record back, as its thread-local
/// destructor would.
#[cfg(clockwise_loom)]
pub(crate) fn release_thread_for_loom() {
    OWNER.with(Owner::release);
}

/// A pinned thread: entries loaded while it lives stay allocated.
#[derive(Debug)]
pub struct Guard {
    /// The pinned record, tagged with [`SPECIAL`] for a guard whose drop
    /// takes the slow path: [`UNPROTECTED`] (no record), or a record taken
    /// during thread-local teardown, given back at unpin. One word, so the
    /// common drop tests one bit.
    record: *const CachePadded<Record>,
    _not_send: PhantomData<*mut ()>,
}

/// Tag bit of [`Guard::record`] (records are cache-line aligned, so a real
/// record's address has it clear).
const SPECIAL: usize = 1;
/// [`Guard::record`] of [`unprotected`]: tagged, no record.
const UNPROTECTED: *const CachePadded<Record> = ptr::without_provenance(SPECIAL);

#[inline(always)]
fn enter(r: &Record, d: &Domain) {
    // Relaxed load: the word only makes this pinned state differ from the
    // thread's earlier ones and says which fence to use. Relaxed store: the
    // fence orders it before the table reads that follow.
    let word = d.hot.word.load(Ordering::Relaxed);
    r.state.store(word, Ordering::Relaxed);
    Domain::light_fence(word);
}

#[inline(always)]
fn exit(r: &Record) {
    // Release pairs with the collector's Acquire: every use of an entry in
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
        // SAFETY: a registered thread's record is non-null (`nest` is 0
        // only after `pin_first` set it), and records live as long as the
        // domain.
        enter(unsafe { &*r }, domain());
        f.nest.set(1);
        Guard {
            record: r,
            _not_send: PhantomData,
        }
    })
}

/// A nested pin, or the thread's first.
#[cold]
fn pin_slow(f: &Fast, nest: usize) -> Guard {
    if nest & UNREGISTERED != 0 {
        return pin_first(f);
    }
    f.nest.set(nest + 1);
    Guard {
        record: f.record.get(),
        _not_send: PhantomData,
    }
}

/// The first pin of a thread (or one during thread-local teardown).
fn pin_first(f: &Fast) -> Guard {
    let d = domain();
    let r = d.claim();
    enter(r.get(), d);
    // Touching `OWNER` registers its destructor, which gives the record
    // back; after it ran (teardown), the record is given back at unpin.
    if OWNER.try_with(|_| ()).is_err() {
        return Guard {
            record: r.0.map_addr(|a| a | SPECIAL),
            _not_send: PhantomData,
        };
    }
    debug_assert_eq!(f.nest.get() & DEPTH, 0, "no guard outlives a release");
    f.record.set(r.0);
    f.nest.set(1);
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
    /// it must be fine to drop on another thread (`T: Send` in effect: any
    /// thread's collection may free it).
    pub unsafe fn defer_destroy<T>(&self, ptr: Shared<'_, T>) {
        unsafe fn free<T>(p: *mut ()) {
            // SAFETY: `p` came from `Box::into_raw` (`Owned`) and is freed
            // once (the caller's contract).
            drop(unsafe { Box::from_raw(p.cast::<T>()) });
        }
        let d = Deferred {
            ptr: ptr.as_raw() as *mut (),
            free: free::<T>,
        };
        if self.record == UNPROTECTED {
            // SAFETY: `unprotected` is only used when no reader can exist.
            unsafe { (d.free)(d.ptr) };
            return;
        }
        let regular = self.record.addr() & SPECIAL == 0;
        let mut d = Some(d);
        let _ = OWNER.try_with(|o| {
            let mut bag = o.bag.borrow_mut();
            bag.extend(d.take());
            if bag.len() >= BAG {
                let full = std::mem::replace(&mut *bag, Vec::with_capacity(BAG));
                // A teardown guard leaves the collection to the next seal
                // past the mark, by any thread.
                if domain().seal(full) && regular {
                    FAST.with(|f| f.nest.set(f.nest.get() | COLLECT));
                }
            }
        });
        if let Some(d) = d {
            // Thread-local teardown: no bag any more.
            domain().seal(vec![d]);
        }
    }

    /// The drop of an [`unprotected`] or teardown guard.
    #[cold]
    fn drop_special(&self) {
        if self.record == UNPROTECTED {
            return;
        }
        let r = self.record.map_addr(|a| a & !SPECIAL);
        // SAFETY: records live as long as the domain.
        exit(unsafe { &*r });
        domain().release(RecordPtr(r));
    }
}

/// An unpin that leaves the thread pinned (nested), collects, or ends a
/// guard that outlived its thread's release. `nest` is already stored.
#[cold]
fn unpin_slow(f: &Fast, r: &Record, nest: usize) {
    if nest & DEPTH != 0 {
        return;
    }
    exit(r);
    if nest & COLLECT != 0 {
        f.nest.set(nest & !COLLECT);
        domain().collect();
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.record.addr() & SPECIAL != 0 {
            return self.drop_special();
        }
        // SAFETY: records live as long as the domain.
        let r = unsafe { &*self.record };
        FAST.with(|f| {
            let nest = f.nest.get().wrapping_sub(1);
            f.nest.set(nest);
            if nest == 0 {
                exit(r);
            } else {
                unpin_slow(f, r, nest);
            }
        });
    }
}

/// A guard for code that owns everything it touches (a shard being
/// dropped): loads are unprotected and `defer_destroy` frees at once.
///
/// # Safety
///
/// No other thread may be able to reach the objects used through it.
pub(crate) unsafe fn unprotected() -> &'static Guard {
    struct Unprotected(Guard);
    // SAFETY: the unprotected guard holds no record and no thread state.
    unsafe impl Sync for Unprotected {}
    static GUARD: Unprotected = Unprotected(Guard {
        record: UNPROTECTED,
        _not_send: PhantomData,
    });
    &GUARD.0
}

/// Seals the calling thread's bag and runs a collection: frees every
/// retired object that no pinned reader can hold.
pub(crate) fn collect_now() {
    let _ = OWNER.try_with(|o| {
        let bag = std::mem::take(&mut *o.bag.borrow_mut());
        if !bag.is_empty() {
            domain().seal(bag);
        }
    });
    // Two rounds: the first frees what no reader holds and notes the
    // readers pinned now; the second frees what waited for those.
    domain().collect();
    domain().collect();
}

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
    #[cfg(all(target_os = "linux", not(miri), not(clockwise_loom)))]
    pub(super) fn register() -> bool {
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

    #[cfg(not(all(target_os = "linux", not(miri), not(clockwise_loom))))]
    pub(super) fn register() -> bool {
        false
    }

    /// A full memory barrier on every CPU running a thread of this process.
    #[cfg(all(target_os = "linux", not(miri), not(clockwise_loom)))]
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

    #[cfg(not(all(target_os = "linux", not(miri), not(clockwise_loom))))]
    pub(super) fn heavy() {
        unreachable!("`register` returned false: readers use full fences")
    }
}
