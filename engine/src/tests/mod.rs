//! Unit-level tests that need `validate()`, which exists only under
//! `cfg(any(test, fuzzing))`.

mod behaviour;
mod capacity;
mod model;
mod policy;
mod reclaim;
mod stress;

/// A `u8` key by reference: hashes as the key and is its
/// [`Equivalent`](crate::Equivalent), though `u8` does not borrow as it.
#[derive(Clone, Copy)]
struct ByRef<'a>(&'a u8);

impl std::hash::Hash for ByRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}

impl crate::Equivalent<u8> for ByRef<'_> {
    fn equivalent(&self, key: &u8) -> bool {
        *self.0 == *key
    }
}
