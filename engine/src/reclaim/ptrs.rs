//! Pointer types tied to a [`Guard`]: the borrow checker keeps a reference
//! loaded from an [`Atomic`] from outliving the pin that protects it.
//!
//! The shapes follow crossbeam-epoch's `Atomic`/`Shared`/`Owned`, reduced
//! to what single-writer structures need: no tag bits, no compare-and-swap
//! (a slot's writers are serialized by its owner, under a lock).

use super::Guard;
use crate::sync::{AtomicPtr, Ordering};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

/// An atomic pointer to a heap object owned by the reclamation scheme.
pub struct Atomic<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: as `AtomicPtr<T>`, plus the pointee is shared across threads, so
// it must be `Send + Sync` itself.
unsafe impl<T: Send + Sync> Send for Atomic<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Atomic<T> {}

impl<T> Atomic<T> {
    /// A null pointer.
    pub fn null() -> Atomic<T> {
        Atomic {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// A pointer to a new heap allocation of `value`.
    pub fn new(value: T) -> Atomic<T> {
        Atomic {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(value))),
        }
    }

    /// Loads the pointer; the result lives as long as `guard`'s pin.
    #[inline(always)]
    pub fn load<'g>(&self, ord: Ordering, _guard: &'g Guard) -> Shared<'g, T> {
        Shared::from(self.ptr.load(ord) as *const T)
    }

    /// Stores `new`.
    #[inline]
    pub fn store(&self, new: Shared<'_, T>, ord: Ordering) {
        self.ptr.store(new.ptr as *mut T, ord);
    }

    /// Stores `new` and returns the previous pointer.
    pub fn swap<'g>(&self, new: Owned<T>, ord: Ordering, _guard: &'g Guard) -> Shared<'g, T> {
        Shared::from(self.ptr.swap(new.into_raw(), ord) as *const T)
    }
}

/// A pointer loaded under a guard: valid while the guard lives, if the
/// object it points to was valid when loaded.
pub struct Shared<'g, T> {
    ptr: *const T,
    _guard: PhantomData<(&'g (), *const T)>,
}

impl<T> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<'_, T> {}

impl<'g, T> Shared<'g, T> {
    /// The null pointer.
    pub fn null() -> Shared<'g, T> {
        Shared::from(std::ptr::null())
    }

    /// Whether this is the null pointer.
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// The raw pointer.
    pub fn as_raw(&self) -> *const T {
        self.ptr
    }

    /// The object.
    ///
    /// # Safety
    ///
    /// The pointer is non-null, and the object was reachable (not yet
    /// retired) when it was loaded under the guard, or is otherwise kept
    /// alive for `'g`.
    #[inline(always)]
    pub unsafe fn deref(&self) -> &'g T {
        // SAFETY: the caller's contract.
        unsafe { &*self.ptr }
    }
}

impl<T> From<*const T> for Shared<'_, T> {
    fn from(ptr: *const T) -> Self {
        Shared {
            ptr,
            _guard: PhantomData,
        }
    }
}

/// A heap object not yet shared.
pub struct Owned<T>(Box<T>);

impl<T> Owned<T> {
    /// Moves `value` to the heap, into a block this thread's collections
    /// freed if one of the right layout is at hand (`recycle`).
    pub fn new(value: T) -> Owned<T> {
        Owned(super::recycle::boxed(value))
    }

    /// The object's pointer, with its allocation's provenance; the caller
    /// frees it only through [`Guard::defer_destroy`].
    pub(crate) fn into_raw(self) -> *mut T {
        Box::into_raw(self.0)
    }
}

impl<T> Deref for Owned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Atomic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Atomic").field(&self.ptr).finish()
    }
}

impl<T> fmt::Debug for Shared<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(&self.ptr).finish()
    }
}

impl<T> fmt::Debug for Owned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Owned")
            .field(&(&*self.0 as *const T))
            .finish()
    }
}
