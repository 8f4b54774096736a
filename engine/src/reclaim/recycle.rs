//! Blocks freed by a collection, kept for the same thread's next
//! allocations of the same layout.
//!
//! A collection frees objects in batches of a hundred or more, while a
//! writer typically allocates one object per write. Handed straight back to the
//! allocator, a batch overflows glibc's per-thread cache (7 blocks per size)
//! and most frees and the mallocs after them take its slower paths. Here a
//! freed object is dropped in place and its block kept in a small
//! thread-local bin; [`boxed`] takes blocks from there first.
//!
//! Which thread frees a block is up to the collections: with two threads
//! writing, one often collects a batch larger than its bin while the other's
//! bin is empty, so bins alone sent a third of the frees to glibc (often to
//! the other thread's arena, under its lock) and a third of the allocations
//! to its slow path. A full bin therefore moves a magazine of
//! [`MAGAZINE`] blocks to a process-wide depot, and an empty bin takes one
//! back, before either falls back to the allocator.
//!
//! # Invariants
//!
//! - A bin holds only blocks that the global allocator returned for exactly
//!   its layout, with no live object in them. A block taken from it and
//!   filled with a `T` of that layout is therefore an ordinary `Box<T>`
//!   allocation, and every path may free it as one.
//! - Only the owning thread touches its bins (thread-local). Each bin holds
//!   at most [`BIN_BYTES`] of blocks, and there are at most [`BINS`]
//!   layouts per thread; the rest goes to the depot or the allocator. A
//!   thread's bins are returned to the allocator when the thread exits; a
//!   free that runs after that (thread-local teardown) deallocates directly.
//! - The depot holds whole magazines, each of one layout, at most
//!   [`DEPOT_MAGAZINES`] per layout and [`BINS`] layouts, under a mutex that
//!   is only ever tried: a thread that finds it held uses the allocator
//!   instead of waiting. Its blocks are kept for the life of the process.
//! - Under loom nothing is recycled (each model thread would keep blocks
//!   past the model's end).

use crate::sync::{RefCell, StdMutex};
use std::alloc::Layout;
use std::ptr::NonNull;

/// Layouts one thread keeps blocks for.
const BINS: usize = 4;
/// Bytes of blocks one bin keeps.
const BIN_BYTES: usize = 64 << 10;
/// Larger objects (tables) are not recycled.
const MAX_BLOCK: usize = 1 << 10;
/// Blocks moved between a bin and the depot at once.
const MAGAZINE: usize = 64;
/// Magazines the depot keeps per layout: 256 KiB of 64-byte blocks.
const DEPOT_MAGAZINES: usize = 64;

/// Empty blocks of one layout, on their way between threads.
struct Magazine(Vec<NonNull<u8>>);

// SAFETY: the blocks are empty global-allocator blocks owned by whoever
// holds the magazine; any thread may fill or free them.
unsafe impl Send for Magazine {}

struct Shelf {
    layout: Layout,
    magazines: Vec<Magazine>,
}

static DEPOT: StdMutex<Vec<Shelf>> = StdMutex::new(Vec::new());

/// Takes a magazine of `layout` from the depot, if it has one and no other
/// thread holds it.
fn take_magazine(layout: Layout) -> Option<Magazine> {
    let mut depot = DEPOT.try_lock().ok()?;
    let shelf = depot.iter_mut().find(|s| s.layout == layout)?;
    shelf.magazines.pop()
}

/// Puts `magazine` in the depot; gives it back if the depot is busy or full.
fn put_magazine(layout: Layout, magazine: Magazine) -> Result<(), Magazine> {
    let Ok(mut depot) = DEPOT.try_lock() else {
        return Err(magazine);
    };
    let i = match depot.iter().position(|s| s.layout == layout) {
        Some(i) => i,
        None if depot.len() < BINS => {
            depot.push(Shelf {
                layout,
                magazines: Vec::new(),
            });
            depot.len() - 1
        }
        None => return Err(magazine),
    };
    let shelf = &mut depot[i];
    if shelf.magazines.len() >= DEPOT_MAGAZINES {
        return Err(magazine);
    }
    shelf.magazines.push(magazine);
    Ok(())
}

struct Bin {
    layout: Layout,
    blocks: Vec<NonNull<u8>>,
}

/// Up to [`BINS`] bins, inline in the thread-local (no pointer to chase),
/// taken in order: a bin not yet given a layout has a zero-sized one, which
/// no recyclable layout is.
struct Bins([Bin; BINS]);

/// A bin not yet given a layout.
const UNUSED: Bin = Bin {
    layout: Layout::new::<()>(),
    blocks: Vec::new(),
};

impl Bins {
    /// The bin for `layout`, made if there is room for one more.
    #[inline]
    fn bin(&mut self, layout: Layout) -> Option<&mut Bin> {
        // Bins are taken in order and never given back, so the first bin
        // that is `layout`'s or unused is the one: `layout` has no bin
        // further on.
        let bin = self
            .0
            .iter_mut()
            .find(|b| b.layout == layout || b.layout.size() == 0)?;
        bin.layout = layout;
        Some(bin)
    }
}

impl Drop for Bins {
    fn drop(&mut self) {
        for bin in &mut self.0 {
            for block in bin.blocks.drain(..) {
                // SAFETY: allocated by the global allocator with
                // `bin.layout`, empty, owned by this bin alone.
                unsafe { std::alloc::dealloc(block.as_ptr(), bin.layout) };
            }
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Bins> = const { RefCell::new(Bins([UNUSED; BINS])) };
}

fn recyclable(layout: Layout) -> bool {
    !crate::sync::LOOM && layout.size() != 0 && layout.size() <= MAX_BLOCK
}

/// `Box::new(value)`, in a recycled block when this thread has one.
pub(crate) fn boxed<T>(value: T) -> Box<T> {
    let layout = Layout::new::<T>();
    if recyclable(layout) {
        let block = LOCAL
            .try_with(|local| {
                let mut bins = local.borrow_mut();
                let bin = bins.bin(layout)?;
                if bin.blocks.is_empty() {
                    bin.blocks.extend(take_magazine(layout)?.0);
                }
                bin.blocks.pop()
            })
            .ok()
            .flatten();
        if let Some(block) = block {
            let p = block.as_ptr().cast::<T>();
            // SAFETY: the block is a global-allocator block of `T`'s exact
            // layout with nothing in it (the invariants), now ours alone; so
            // after the write it is what `Box::new` would have returned.
            unsafe {
                p.write(value);
                return Box::from_raw(p);
            }
        }
    }
    Box::new(value)
}

/// Drops the object and frees its block, or keeps the block for [`boxed`];
/// whether the object's destructor panicked. A panic is caught there: the
/// block is freed all the same, and the caller (a collection freeing a
/// batch) goes on with the next object.
///
/// # Safety
///
/// `p` came from `Box::into_raw` of a `Box<T>` and is not used again.
pub(crate) unsafe fn free<T>(p: *mut T) -> bool {
    let layout = Layout::new::<T>();
    // Drop first, with no bin borrowed: the object's destructor may itself
    // allocate or free.
    // SAFETY: the caller's contract: a live `T`, dropped once. Whether or
    // not the destructor panics, the object counts as dropped (as after a
    // panic in `drop_in_place` of a field, the rest are still dropped).
    let drop = std::panic::AssertUnwindSafe(|| unsafe { std::ptr::drop_in_place(p) });
    let panicked = std::panic::catch_unwind(drop).is_err();
    if layout.size() == 0 {
        // A zero-sized `Box` owns no allocation.
        return panicked;
    }
    let block = NonNull::new(p.cast::<u8>()).expect("a box is never null");
    if !recyclable(layout) {
        // SAFETY: allocated by `Box<T>` with `T`'s layout; its object was
        // dropped above.
        unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
        return panicked;
    }
    let kept = LOCAL
        .try_with(|local| {
            let mut bins = local.borrow_mut();
            let Some(bin) = bins.bin(layout) else {
                return false;
            };
            if (bin.blocks.len() + 1) * layout.size() > BIN_BYTES {
                let at = bin.blocks.len().saturating_sub(MAGAZINE);
                let magazine = Magazine(bin.blocks.split_off(at));
                if let Err(back) = put_magazine(layout, magazine) {
                    bin.blocks.extend(back.0);
                    return false;
                }
            }
            bin.blocks.push(block);
            true
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: allocated by `Box<T>` with `T`'s layout; its object was
        // dropped above.
        unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
    }
    panicked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn a_freed_block_serves_the_next_box_of_its_layout() {
        let first = Box::into_raw(boxed([1u64; 5]));
        // SAFETY: from `Box::into_raw`, not used again.
        unsafe { free(first) };
        let second = boxed([2u64; 5]);
        assert_eq!(&*second as *const [u64; 5], first as *const _);
        assert_eq!(*second, [2; 5]);
        // A different layout does not get it.
        let other = Box::into_raw(second);
        // SAFETY: as above.
        unsafe { free(other) };
        let small = boxed(7u32);
        assert_ne!(&*small as *const u32 as *const u8, other as *const u8);
    }

    #[test]
    fn freeing_drops_the_object_once() {
        let count = Rc::new(());
        let p = Box::into_raw(boxed(Rc::clone(&count)));
        assert_eq!(Rc::strong_count(&count), 2);
        // SAFETY: from `Box::into_raw`, not used again.
        unsafe { free(p) };
        assert_eq!(Rc::strong_count(&count), 1);
    }

    #[test]
    fn a_full_bin_passes_magazines_to_threads_with_empty_bins() {
        // A layout no other test frees: the depot is process-wide.
        type Block = [u8; 904];
        let per_bin = BIN_BYTES / std::mem::size_of::<Block>();
        let freed: Vec<usize> = std::thread::spawn(move || {
            let blocks: Vec<*mut Block> = (0..per_bin + (DEPOT_MAGAZINES + 2) * MAGAZINE)
                .map(|_| Box::into_raw(boxed([1u8; 904])))
                .collect();
            for &p in &blocks {
                // SAFETY: from `Box::into_raw`, each freed once.
                unsafe { free(p) };
            }
            blocks.into_iter().map(|p| p as usize).collect()
        })
        .join()
        .unwrap();
        // The depot kept what it has room for; the rest went to the
        // allocator.
        let shelved = |layout| {
            let depot = DEPOT.lock().unwrap();
            let shelf = depot.iter().find(|s| s.layout == layout);
            shelf.map_or(0, |s| s.magazines.len())
        };
        assert_eq!(shelved(Layout::new::<Block>()), DEPOT_MAGAZINES);
        // A thread that never freed a block of this layout is served from
        // the depot: blocks the first thread freed (it has exited, so its
        // own bin went back to the allocator).
        std::thread::spawn(move || {
            let mine: Vec<Box<Block>> = (0..MAGAZINE).map(|_| boxed([2u8; 904])).collect();
            let reused = mine
                .iter()
                .filter(|b| freed.contains(&(&***b as *const Block as usize)))
                .count();
            assert_eq!(reused, MAGAZINE, "a whole magazine came from the depot");
            assert!(mine.iter().all(|b| **b == [2u8; 904]));
        })
        .join()
        .unwrap();
        assert_eq!(shelved(Layout::new::<Block>()), DEPOT_MAGAZINES - 1);
    }

    #[test]
    fn a_bin_keeps_at_most_its_bytes() {
        let blocks: Vec<*mut [u8; 512]> = (0..1000)
            .map(|_| Box::into_raw(boxed([0u8; 512])))
            .collect();
        for p in blocks {
            // SAFETY: from `Box::into_raw`, each freed once.
            unsafe { free(p) };
        }
        let kept = LOCAL.with(|local| {
            local
                .borrow()
                .0
                .iter()
                .find(|b| b.layout == Layout::new::<[u8; 512]>())
                .map_or(0, |b| b.blocks.len())
        });
        // A full bin passes a magazine to the depot before it takes more.
        assert!(kept <= BIN_BYTES / 512 && kept > BIN_BYTES / 512 - MAGAZINE);
    }
}
