//! Blocks freed by a collection, kept for the same thread's next
//! allocations of the same layout.
//!
//! A collection frees objects in batches of a hundred or more, while a
//! writer allocates one entry per insert. Handed straight back to the
//! allocator, a batch overflows glibc's per-thread cache (7 blocks per size)
//! and most frees and the mallocs after them take its slower paths. Here a
//! freed object is dropped in place and its block kept in a small
//! thread-local bin; [`boxed`] takes blocks from there first.
//!
//! # Invariants
//!
//! - A bin holds only blocks that the global allocator returned for exactly
//!   its layout, with no live object in them. A block taken from it and
//!   filled with a `T` of that layout is therefore an ordinary `Box<T>`
//!   allocation, and every path may free it as one.
//! - Only the owning thread touches its bins (thread-local). Each bin holds
//!   at most [`BIN_BYTES`] of blocks, and there are at most [`BINS`]
//!   layouts per thread; the rest goes to the allocator. A thread's bins
//!   are returned to the allocator when the thread exits; a free that runs
//!   after that (thread-local teardown) deallocates directly.
//! - Under loom nothing is recycled (each model thread would keep blocks
//!   past the model's end).

use std::alloc::Layout;
use std::cell::RefCell;
use std::ptr::NonNull;

/// Layouts one thread keeps blocks for.
const BINS: usize = 4;
/// Bytes of blocks one bin keeps.
const BIN_BYTES: usize = 64 << 10;
/// Larger objects (tables) are not recycled.
const MAX_BLOCK: usize = 1 << 10;

struct Bin {
    layout: Layout,
    blocks: Vec<NonNull<u8>>,
}

struct Bins(Vec<Bin>);

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
    static LOCAL: RefCell<Bins> = const { RefCell::new(Bins(Vec::new())) };
}

fn recyclable(layout: Layout) -> bool {
    !cfg!(clockwise_loom) && layout.size() != 0 && layout.size() <= MAX_BLOCK
}

/// `Box::new(value)`, in a recycled block when this thread has one.
pub(crate) fn boxed<T>(value: T) -> Box<T> {
    let layout = Layout::new::<T>();
    if recyclable(layout) {
        let block = LOCAL
            .try_with(|local| {
                let mut bins = local.borrow_mut();
                let bin = bins.0.iter_mut().find(|b| b.layout == layout)?;
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

/// Drops the object and frees its block, or keeps the block for [`boxed`].
///
/// # Safety
///
/// `p` came from `Box::into_raw` of a `Box<T>` and is not used again.
pub(crate) unsafe fn free<T>(p: *mut T) {
    let layout = Layout::new::<T>();
    if !recyclable(layout) {
        // SAFETY: the caller's contract.
        drop(unsafe { Box::from_raw(p) });
        return;
    }
    // Drop first, with no bin borrowed: the object's destructor may itself
    // allocate or free.
    // SAFETY: the caller's contract: a live `T`, dropped once.
    unsafe { std::ptr::drop_in_place(p) };
    let block = NonNull::new(p.cast::<u8>()).expect("a box is never null");
    let kept = LOCAL
        .try_with(|local| {
            let mut bins = local.borrow_mut();
            let i = match bins.0.iter().position(|b| b.layout == layout) {
                Some(i) => i,
                None if bins.0.len() < BINS => {
                    bins.0.push(Bin {
                        layout,
                        blocks: Vec::new(),
                    });
                    bins.0.len() - 1
                }
                None => return false,
            };
            let bin = &mut bins.0[i];
            if (bin.blocks.len() + 1) * layout.size() > BIN_BYTES {
                return false;
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
        assert_eq!(kept, BIN_BYTES / 512);
    }
}
