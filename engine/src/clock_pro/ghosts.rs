//! The ghost index: which non-resident page (node) stands for a key hash.
//!
//! A `hashbrown::HashTable` of node indices. The hash of each ghost lives in
//! its node already, so the table keeps only the 4-byte index (and
//! hashbrown's control byte): 5 bytes a bucket, where a map from the 8-byte
//! hash to the index took 17. A cache that has churned keeps about one ghost
//! per resident entry, so this is paid per entry.
//!
//! Lookups compare hashes through the node array, which costs a read of the
//! node only when hashbrown's 7-bit tag matches: the tag comes from
//! [`spread`], not from the raw hash, whose top bits also pick the shard and
//! so are nearly the same for every ghost of one.

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

/// Mixes a key hash for the table: hashbrown takes bucket bits from the
/// bottom and its tag from the top. An odd multiplier keeps the bottom bits
/// a permutation of the hash's own (so small test hashes spread too) and
/// moves every bit into the top ones.
#[inline(always)]
fn spread(hash: u64) -> u64 {
    hash.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Node indices of the ghosts, by their hash.
#[derive(Debug, Default)]
pub(super) struct Ghosts(HashTable<u32>);

impl Ghosts {
    /// The ghost of `hash`, if any; `hash_of(n)` is node `n`'s hash.
    #[inline]
    pub(super) fn get(&self, hash: u64, hash_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.0.find(spread(hash), |&g| hash_of(g) == hash).copied()
    }

    /// Indexes `n` as the ghost of `hash`, and returns the ghost it
    /// displaced (another key with the same hash), which is no longer
    /// indexed.
    #[inline]
    pub(super) fn insert(
        &mut self,
        hash: u64,
        n: u32,
        hash_of: impl Fn(u32) -> u64,
    ) -> Option<u32> {
        let entry = self.0.entry(
            spread(hash),
            |&g| hash_of(g) == hash,
            |&g| spread(hash_of(g)),
        );
        match entry {
            Entry::Occupied(mut e) => {
                let old = std::mem::replace(e.get_mut(), n);
                (old != n).then_some(old)
            }
            Entry::Vacant(e) => {
                e.insert(n);
                None
            }
        }
    }

    /// Forgets `n` as the ghost of `hash`, if it is indexed as that (a newer
    /// ghost of the same hash may have displaced it).
    #[inline]
    pub(super) fn remove(&mut self, hash: u64, n: u32) {
        if let Ok(e) = self.0.find_entry(spread(hash), |&g| g == n) {
            e.remove();
        }
    }

    crate::sync::checking! {
        /// Ghosts indexed.
        pub(super) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        /// A new node becomes the ghost of hash number `h`.
        Insert(usize),
        /// Forget node number `n` (of those made so far) as a ghost.
        Remove(usize),
        Get(usize),
    }

    /// Hashes that collide in the top bits (one shard's), in the bottom bits
    /// (one bucket), and repeat (two keys with one hash).
    fn hash(h: usize) -> u64 {
        let h = h as u64;
        match h % 3 {
            0 => (7 << 61) | h,
            1 => h << 40,
            _ => h / 3,
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..64).prop_map(Op::Insert),
            2 => (0usize..1000).prop_map(Op::Remove),
            2 => (0usize..64).prop_map(Op::Get),
        ]
    }

    proptest! {
        /// The index against a `HashMap` from hash to node, with the same
        /// displacement rule.
        #[test]
        fn ghosts_behave_as_a_map(ops in prop::collection::vec(op(), 0..400)) {
            let mut hashes: Vec<u64> = Vec::new();
            let mut ghosts = Ghosts::default();
            let mut model: HashMap<u64, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(h) => {
                        let (h, n) = (hash(h), hashes.len() as u32);
                        hashes.push(h);
                        let displaced = ghosts.insert(h, n, |g| hashes[g as usize]);
                        prop_assert_eq!(displaced, model.insert(h, n));
                    }
                    Op::Remove(i) if !hashes.is_empty() => {
                        let n = (i % hashes.len()) as u32;
                        let h = hashes[n as usize];
                        ghosts.remove(h, n);
                        if model.get(&h) == Some(&n) {
                            model.remove(&h);
                        }
                    }
                    Op::Remove(_) => {}
                    Op::Get(h) => {
                        let h = hash(h);
                        prop_assert_eq!(
                            ghosts.get(h, |g| hashes[g as usize]),
                            model.get(&h).copied()
                        );
                    }
                }
                prop_assert_eq!(ghosts.len(), model.len());
            }
        }
    }

    #[test]
    fn finds_replaces_and_forgets_by_hash() {
        // Node `n` has hash `hashes[n]`; nodes 2 and 3 share one.
        let hashes = [10u64, 11, 7 << 60, 7 << 60, 0];
        let hash_of = |n: u32| hashes[n as usize];
        let mut g = Ghosts::default();
        assert_eq!(g.insert(10, 0, hash_of), None);
        assert_eq!(g.insert(7 << 60, 2, hash_of), None);
        assert_eq!(g.insert(0, 4, hash_of), None);
        assert_eq!(g.get(10, hash_of), Some(0));
        assert_eq!(g.get(11, hash_of), None);
        assert_eq!(g.get(0, hash_of), Some(4));
        // The newer ghost of a hash displaces the older one.
        assert_eq!(g.insert(7 << 60, 3, hash_of), Some(2));
        assert_eq!(g.get(7 << 60, hash_of), Some(3));
        assert_eq!(g.len(), 3);
        // Removing the displaced one changes nothing; the indexed one goes.
        g.remove(7 << 60, 2);
        assert_eq!(g.get(7 << 60, hash_of), Some(3));
        g.remove(7 << 60, 3);
        assert_eq!(g.get(7 << 60, hash_of), None);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn grows_past_many_ghosts_with_clustered_hashes() {
        // Hashes that differ only in their top bits, or only in their
        // bottom ones: both must spread over the buckets and stay found.
        let hashes: Vec<u64> = (0..4096u64)
            .map(|i| if i % 2 == 0 { i << 52 } else { i })
            .collect();
        let hash_of = |n: u32| hashes[n as usize];
        let mut g = Ghosts::default();
        for n in 0..hashes.len() as u32 {
            assert_eq!(g.insert(hashes[n as usize], n, hash_of), None);
        }
        for n in 0..hashes.len() as u32 {
            assert_eq!(g.get(hashes[n as usize], hash_of), Some(n));
        }
        for n in (0..hashes.len() as u32).step_by(2) {
            g.remove(hashes[n as usize], n);
        }
        assert_eq!(g.len(), hashes.len() / 2);
        assert_eq!(g.get(hashes[2], hash_of), None);
        assert_eq!(g.get(hashes[3], hash_of), Some(3));
    }
}
