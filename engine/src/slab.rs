//! Fixed-size slots for one owner's objects, whose memory comes back to the
//! owner, not to the allocator, when reclamation frees an object.
//!
//! A lock-free reader may hold an object it found until it unpins, so an
//! object its owner removes is retired through [`crate::reclaim`] like any
//! allocation; what differs is where the memory goes once the collection
//! has dropped the object: onto the slab's `returned` stack, for the
//! owner's next allocation. No allocator call per object, no allocator
//! header beside each, and one owner's objects packed together.
//!
//! # Layout
//!
//! Memory comes in pages of [`page`] bytes (4 KiB, more for objects too
//! large for two a page), each aligned to its size and starting with a
//! [`Header`] that points to the slab's [`Core`]. A retired object finds
//! its core by rounding its address down to its page, so what reclamation
//! keeps per object is the usual pointer and free function, nothing more.
//! Pages come in segments of 1, 2, 4, … up to [`MAX_SEGMENT_PAGES`] pages,
//! and go back to the allocator only with the core.
//!
//! # Invariants
//!
//! - A slot holds a live object (in the owner's structure, or removed and
//!   not yet freed), or is on the owner's free list, or on `returned`, or
//!   was never used (at or past `bump`).
//! - Only the owner (`&mut Slab`) allocates, takes `returned`, and adds
//!   segments.
//! - A removed object is *held* ([`Slab::hold`]) while the owner is known
//!   to be alive, then retired once ([`Slab::retire`]). Reclamation runs
//!   [`free`] once no reader can hold it: `free` drops it, links the slot
//!   onto `returned` (`Release`), and lets go of the hold. The owner takes
//!   `returned` whole with an `Acquire` swap, so the drop and the link
//!   happen before the slot's reuse.
//! - `refs` counts the owner (1) plus the held objects. The core and its
//!   segments live until it drops to zero; whoever brings it there (the
//!   owner's drop or the last `free`) frees them after an `Acquire` fence
//!   that pairs with every earlier `Release` decrement, as `Arc` does. So a
//!   removed object outlives its owner safely: a listener told after the
//!   cache is gone still reads valid memory.

use crate::reclaim::Guard;
use crate::sync::{fence, AtomicPtr, AtomicUsize, Ordering};
use std::alloc::Layout;
use std::mem::{align_of, size_of, ManuallyDrop};
use std::ptr::{self, NonNull};

/// A slot: an object, or a link to the next free slot.
#[repr(C)]
union Slot<T> {
    value: ManuallyDrop<T>,
    next: *mut Slot<T>,
}

/// The first bytes of every page.
#[repr(C)]
struct Header<T> {
    core: NonNull<Core<T>>,
}

/// What outlives the owner while removed objects wait to be freed.
struct Core<T> {
    /// Slots freed by collections: a stack that `free` pushes onto and the
    /// owner takes whole.
    returned: AtomicPtr<Slot<T>>,
    /// The owner, plus each held object (module invariants).
    refs: AtomicUsize,
    /// Every segment, to free with the core: changed only by the owner
    /// (`&mut Slab`), read only by whoever frees the core, after every
    /// other reference is gone.
    segments: std::cell::UnsafeCell<Vec<(NonNull<u8>, Layout)>>,
}

/// Pages in a segment, at most: 64 KiB of 4 KiB pages. Larger segments
/// would leave more of the last one unused in a small cache.
const MAX_SEGMENT_PAGES: usize = 16;

/// The bytes (and alignment) of a page of `T`s.
const fn page<T>() -> usize {
    let least = first::<T>() + 2 * size_of::<Slot<T>>();
    let mut bytes = 4096;
    while bytes < least || bytes < align_of::<Slot<T>>() {
        bytes *= 2;
    }
    bytes
}

/// Where a page's first slot starts: after the header, aligned.
const fn first<T>() -> usize {
    let align = align_of::<Slot<T>>();
    size_of::<Header<T>>().div_ceil(align) * align
}

/// Slots a page holds.
const fn per_page<T>() -> usize {
    (page::<T>() - first::<T>()) / size_of::<Slot<T>>()
}

/// The core of the slab that `slot` belongs to.
///
/// # Safety
///
/// `slot` is a slot of a slab whose core is still alive.
unsafe fn core_of<T>(slot: *mut Slot<T>) -> NonNull<Core<T>> {
    let header = slot
        .cast::<u8>()
        .map_addr(|a| a & !(page::<T>() - 1))
        .cast::<Header<T>>();
    // SAFETY: every page starts with a header written when its segment
    // was allocated, and `slot` lies in a page (module layout); the
    // pointer keeps `slot`'s provenance, which covers its whole segment.
    unsafe { (*header).core }
}

/// Lets go of one reference to `core`, freeing it with the last.
///
/// # Safety
///
/// The caller owns one of the references `refs` counts, and does not use
/// `core` after this.
unsafe fn release<T>(core: NonNull<Core<T>>) {
    // SAFETY: the caller's reference keeps the core alive until here.
    let refs = unsafe { &core.as_ref().refs };
    // Release: everything this holder did with the core happens before
    // the free below, whoever runs it (pairs with the Acquire fence).
    if refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    // SAFETY: the last reference: nothing else can reach the core or its
    // segments. The core came from `Box::into_raw` in `Slab::new`; each
    // segment from `alloc` with its recorded layout, and every object in
    // it has been dropped (the owner drops its live ones before letting go,
    // `free` drops each held one before releasing).
    unsafe {
        let core = Box::from_raw(core.as_ptr());
        for &(segment, layout) in (*core.segments.get()).iter() {
            std::alloc::dealloc(segment.as_ptr(), layout);
        }
    }
}

/// Reclamation's free function for a held, retired object: drops it,
/// gives its slot back, and lets go of the hold. Whether its destructor
/// panicked (caught here, so the slot and the hold are never lost).
///
/// # Safety
///
/// `p` is a held object of a `Slab<T>`, retired once, and no reader can
/// reach it any more.
unsafe fn free<T>(p: *mut ()) -> bool {
    let slot = p.cast::<Slot<T>>();
    // SAFETY: a held object keeps its core alive (module invariants).
    let core = unsafe { core_of(slot) };
    // SAFETY: the object is live and this is its one free (the caller's
    // contract); a panic leaves it dropped as far as it got, as a panic
    // in `drop_in_place` of a field does.
    let drop = std::panic::AssertUnwindSafe(|| unsafe { ptr::drop_in_place(p.cast::<T>()) });
    let panicked = std::panic::catch_unwind(drop).is_err();
    // SAFETY: the core is alive (above).
    let returned = unsafe { &core.as_ref().returned };
    // Relaxed: only the CAS below publishes.
    let mut head = returned.load(Ordering::Relaxed);
    loop {
        // SAFETY: the slot is dead and ours alone until pushed.
        unsafe { ptr::addr_of_mut!((*slot).next).write(head) };
        // Release: the drop and the link happen before the owner's
        // Acquire swap in `alloc`.
        match returned.compare_exchange_weak(head, slot, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    // SAFETY: the hold this object carried, not used after.
    unsafe { release(core) };
    panicked
}

/// A slab of `T` slots, owned by one writer at a time.
pub(crate) struct Slab<T> {
    core: NonNull<Core<T>>,
    /// Free slots, linked through `Slot::next`.
    free: *mut Slot<T>,
    /// The next never-used slot of the newest page, and that page's end.
    bump: *mut Slot<T>,
    bump_end: *mut Slot<T>,
    /// Unused pages after `bump`'s, in its segment.
    pages_left: usize,
    /// Pages of the next segment.
    next_pages: usize,
}

// SAFETY: the slab owns its `T`s (sent with it) and raw pointers into its
// own segments; its core is shared only through atomics.
unsafe impl<T: Send> Send for Slab<T> {}
// SAFETY: `&Slab` allows nothing but reading its fields.
unsafe impl<T: Send + Sync> Sync for Slab<T> {}

impl<T> Slab<T> {
    pub(crate) fn new() -> Slab<T> {
        let core = Box::new(Core {
            returned: AtomicPtr::new(ptr::null_mut()),
            refs: AtomicUsize::new(1),
            segments: std::cell::UnsafeCell::new(Vec::new()),
        });
        Slab {
            // SAFETY: `Box::into_raw` is never null.
            core: unsafe { NonNull::new_unchecked(Box::into_raw(core)) },
            free: ptr::null_mut(),
            bump: ptr::null_mut(),
            bump_end: ptr::null_mut(),
            pages_left: 0,
            next_pages: 1,
        }
    }

    /// Moves `value` into a slot.
    #[inline]
    pub(crate) fn alloc(&mut self, value: T) -> NonNull<T> {
        let slot = self.slot();
        // SAFETY: `slot` is a free slot of this slab, ours alone; the union
        // keeps the value at offset 0.
        unsafe {
            slot.cast::<T>().write(value);
            NonNull::new_unchecked(slot.cast::<T>())
        }
    }

    #[inline]
    fn slot(&mut self) -> *mut Slot<T> {
        if self.free.is_null() {
            // SAFETY: the owner keeps the core alive.
            let returned = unsafe { &self.core.as_ref().returned };
            // Relaxed first: the swap's read-modify-write only when there
            // is something to take.
            if !returned.load(Ordering::Relaxed).is_null() {
                // Acquire: pairs with `free`'s Release push.
                self.free = returned.swap(ptr::null_mut(), Ordering::Acquire);
            }
        }
        if !self.free.is_null() {
            let slot = self.free;
            // SAFETY: a free slot's `next` was written when it was freed
            // (before the swap that took it, or by the owner).
            self.free = unsafe { (*slot).next };
            return slot;
        }
        if self.bump == self.bump_end {
            self.next_page();
        }
        let slot = self.bump;
        // SAFETY: `bump` is below `bump_end`, in the same page.
        self.bump = unsafe { self.bump.add(1) };
        slot
    }

    /// Moves `bump` to a fresh page, allocating a segment when the last
    /// one is used up.
    #[cold]
    fn next_page(&mut self) {
        let page = if self.pages_left > 0 {
            self.pages_left -= 1;
            // SAFETY: the page before `bump_end` has `pages_left + 1` more
            // pages after it in its segment.
            unsafe {
                self.bump_end
                    .cast::<u8>()
                    .map_addr(|a| (a - 1) & !(page::<T>() - 1))
                    .add(page::<T>())
            }
        } else {
            let pages = self.next_pages;
            self.next_pages = (pages * 2).min(MAX_SEGMENT_PAGES);
            let layout = Layout::from_size_align(pages * page::<T>(), page::<T>())
                .expect("a segment's layout is valid");
            // SAFETY: the layout has a non-zero size.
            let segment = unsafe { std::alloc::alloc(layout) };
            let Some(segment) = NonNull::new(segment) else {
                std::alloc::handle_alloc_error(layout)
            };
            for i in 0..pages {
                // SAFETY: each page start is inside the segment and
                // aligned for the header (pages are aligned to their size).
                unsafe {
                    segment
                        .as_ptr()
                        .add(i * page::<T>())
                        .cast::<Header<T>>()
                        .write(Header { core: self.core })
                };
            }
            // SAFETY: the owner alone changes the list (`&mut self`).
            unsafe { (*self.core.as_ref().segments.get()).push((segment, layout)) };
            self.pages_left = pages - 1;
            segment.as_ptr()
        };
        // SAFETY: `first` and `per_page` slots fit in a page.
        unsafe {
            self.bump = page.add(first::<T>()).cast::<Slot<T>>();
            self.bump_end = self.bump.add(per_page::<T>());
        }
    }

    /// Holds `object`, just removed from the owner's structure, for a
    /// later [`retire`](Self::retire): its memory then outlives the owner
    /// if need be.
    ///
    /// # Safety
    ///
    /// `object` came from [`alloc`](Self::alloc) of a slab whose owner is
    /// alive, and is held once.
    #[inline]
    pub(crate) unsafe fn hold(object: NonNull<T>) {
        // SAFETY: the owner is alive, so is its core.
        let core = unsafe { core_of(object.as_ptr().cast::<Slot<T>>()).as_ref() };
        // Relaxed: as `Arc::clone`, the caller's owner reference keeps the
        // count above zero.
        core.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Retires a held `object`, `bytes` as reclamation counts it: dropped,
    /// and its slot given back, once no reader pinned now can hold it.
    ///
    /// # Safety
    ///
    /// `object` is held, no reader that pins from now on can reach it, and
    /// it is retired once; it must be fine to drop on any thread.
    #[inline]
    pub(crate) unsafe fn retire(object: NonNull<T>, guard: &Guard, bytes: usize) {
        // SAFETY: the caller's contract is `free`'s, and `defer_free`'s.
        unsafe { guard.defer_free(object.as_ptr().cast(), free::<T>, bytes) };
    }
}

impl<T> Drop for Slab<T> {
    fn drop(&mut self) {
        // SAFETY: the owner's reference; live objects are the owner's to
        // drop first (retired through an unprotected guard), held ones
        // keep the core until they are freed.
        unsafe { release(self.core) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::reclaim::collect_until;
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::sync::Arc;

    struct Counted(Arc<StdCount>, u64);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn slots_come_back_after_a_collection_and_objects_outlive_the_slab() {
        let drops = Arc::new(StdCount::new(0));
        let mut slab = Slab::new();
        let first: Vec<_> = (0..300)
            .map(|i| slab.alloc(Counted(Arc::clone(&drops), i)))
            .collect();
        // Distinct slots, each holding its own value.
        let mut addrs: Vec<_> = first.iter().map(|p| p.as_ptr() as usize).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), 300);
        for (i, p) in first.iter().enumerate() {
            // SAFETY: allocated above, not freed yet.
            assert_eq!(unsafe { p.as_ref() }.1, i as u64);
        }
        {
            let guard = crate::reclaim::pin();
            for &p in &first[..200] {
                // SAFETY: allocated above, held and retired once, and no
                // reader exists.
                unsafe {
                    Slab::hold(p);
                    Slab::retire(p, &guard, 8);
                }
            }
        }
        assert!(collect_until(&drops, 200), "never freed");
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 200);
        // Reuse: the next allocations take the returned slots.
        let again = slab.alloc(Counted(Arc::clone(&drops), 7));
        assert!(addrs.binary_search(&(again.as_ptr() as usize)).is_ok());
        // Held past the owner: the memory stays valid until freed.
        let late = first[250];
        // SAFETY: the owner is alive; held once.
        unsafe { Slab::hold(late) };
        for &p in first[200..].iter().chain([&again]) {
            if p != late {
                // SAFETY: live, dropped once, as the owner does before
                // letting go of the slab.
                unsafe { ptr::drop_in_place(p.as_ptr()) };
            }
        }
        drop(slab);
        // SAFETY: held: its memory outlives the slab.
        assert_eq!(unsafe { late.as_ref() }.1, 250);
        // SAFETY: held, retired once, unreachable.
        unsafe { Slab::retire(late, &crate::reclaim::pin(), 8) };
        assert!(collect_until(&drops, 301), "never freed");
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 301);
    }

    /// Under Miri, whose race detector sees plain memory: the collection on
    /// another thread drops objects and links their slots while the owner
    /// allocates, then the owner reuses those slots.
    #[test]
    fn a_collection_on_another_thread_gives_slots_back_to_the_owner() {
        let drops = Arc::new(StdCount::new(0));
        let mut slab = Slab::new();
        let removed: Vec<usize> = (0..64)
            .map(|i| {
                let p = slab.alloc(Counted(Arc::clone(&drops), i));
                // SAFETY: the owner is alive; held once.
                unsafe { Slab::hold(p) };
                p.as_ptr() as usize
            })
            .collect();
        let collector = std::thread::spawn(move || {
            let guard = crate::reclaim::pin();
            for &a in &removed {
                // SAFETY: held above, retired once, reachable by no reader.
                unsafe { Slab::retire(NonNull::new(a as *mut Counted).unwrap(), &guard, 8) };
            }
            drop(guard);
            // Frees them here, on this thread, while the owner allocates
            // (unless another test's reader holds the batch back a round).
            crate::reclaim::collect_now();
        });
        let mut live: Vec<_> = (0..64)
            .map(|i| slab.alloc(Counted(Arc::clone(&drops), 100 + i)))
            .collect();
        collector.join().unwrap();
        // Other tests' readers may hold a collection back a round: retried,
        // bounded.
        assert!(collect_until(&drops, 64), "never freed");
        live.extend((0..64).map(|i| slab.alloc(Counted(Arc::clone(&drops), 200 + i))));
        for (i, p) in live.iter().enumerate() {
            let want = if i < 64 { 100 + i } else { 136 + i } as u64;
            // SAFETY: allocated above, dropped once below.
            assert_eq!(unsafe { p.as_ref() }.1, want);
            // SAFETY: live, dropped once.
            unsafe { ptr::drop_in_place(p.as_ptr()) };
        }
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 192);
    }

    #[test]
    fn large_objects_get_larger_pages() {
        assert_eq!(page::<[u8; 16]>(), 4096);
        assert!(page::<[u8; 3000]>() >= 2 * 3000 + first::<[u8; 3000]>());
        let mut slab = Slab::new();
        let big: Vec<_> = (0..5).map(|i| slab.alloc([i as u8; 3000])).collect();
        for (i, p) in big.iter().enumerate() {
            // SAFETY: allocated above (a `Copy` array: nothing to drop).
            assert_eq!(unsafe { p.as_ref() }[2999], i as u8);
        }
    }
}
