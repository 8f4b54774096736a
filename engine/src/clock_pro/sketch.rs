//! A count-min sketch of 4-bit counters: how often each key was seen
//! lately, approximately (TinyLFU's frequency estimate: Einziger, Friedman
//! and Manes, ACM ToS 2017).
//!
//! Four rows of 4-bit counters, laid out so that one key's four counters
//! share one `u64` (as Caffeine's sketch keeps a key's counters in one
//! block): the key's hash picks a word, and in each row `r` one of the
//! word's counters `4r..4r + 4`. Adding a key raises its four counters
//! (saturating at 15); the estimate is the least of them, which
//! overestimates only when another key shares the word and, in every row,
//! the counter. One word per key makes an add or an estimate one memory
//! access. After ten additions per counter pair (`5 * counters / 4`)
//! every counter is halved, so the estimate forgets at the rate the
//! workload changes. Owned by one thread (the policy, under its shard's
//! lock): no atomics.

/// Spreads a 32-bit hash over 64 bits (odd: a bijection).
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// Words a sketch holds at most (16 MiB): keys beyond 2^21 per shard
/// share words, and the estimate degrades gracefully.
const MAX_WORDS: usize = 1 << 21;

/// The low bit of every counter in a word.
const LOW_BITS: u64 = 0x1111_1111_1111_1111;

/// Keys per word the sketch is sized for: a word holds 16 counters, four
/// per key, so two keys a word leaves each row twice as many counters as
/// keys.
const KEYS_PER_WORD: u64 = 2;

#[derive(Debug, Default)]
pub(super) struct Sketch {
    /// A power of two long, or empty before the first [`fit`](Self::fit).
    words: Vec<u64>,
    /// Additions since the last halving.
    added: usize,
}

impl Sketch {
    /// Widens the sketch (forgetting what it counted) if `keys` would
    /// crowd it, up to [`MAX_WORDS`]. Doubling keeps the cost of growing
    /// `O(1)` per key.
    #[inline]
    pub(super) fn fit(&mut self, keys: u64) {
        let have = self.words.len() as u64;
        if have * KEYS_PER_WORD >= keys || self.words.len() >= MAX_WORDS {
            return;
        }
        self.grow(keys);
    }

    #[cold]
    fn grow(&mut self, keys: u64) {
        let want =
            usize::try_from(keys.div_ceil(KEYS_PER_WORD)).map_or(MAX_WORDS, |w| w.min(MAX_WORDS));
        self.words = vec![0; want.next_power_of_two()];
        self.added = 0;
    }

    /// The word of `hash` (its low 32 bits), and the shifts of its four
    /// counters there.
    #[inline(always)]
    fn at(&self, hash: u64) -> (usize, [u32; 4]) {
        let h = (hash & u64::from(u32::MAX)).wrapping_mul(SPREAD);
        // The high bits are the best mixed: the word from the top, the
        // counters from the eight bits below the 32 a word index can use.
        let word = (h >> 32) as usize & (self.words.len() - 1);
        let pick = (h >> 24) as u32;
        let shift = |row: u32| (4 * row + ((pick >> (2 * row)) & 3)) * 4;
        (word, [shift(0), shift(1), shift(2), shift(3)])
    }

    /// Counts one sighting of `hash`.
    #[inline]
    pub(super) fn add(&mut self, hash: u64) {
        if self.words.is_empty() {
            return;
        }
        let (w, shifts) = self.at(hash);
        let word = self.words[w];
        let inc = shifts.iter().fold(0, |inc, &shift| inc | 1 << shift);
        // The low bit of each counter at 15, which must not wrap.
        let full = word & word >> 1 & word >> 2 & word >> 3 & LOW_BITS;
        self.words[w] = word + (inc & !full);
        self.added += 1;
        if self.added >= 5 * self.words.len() * 16 / 4 {
            self.halve();
        }
    }

    /// Halves every counter: recent sightings outweigh old ones.
    #[cold]
    fn halve(&mut self) {
        // Shifting the word right by one moves each counter's low bit into
        // its neighbour's top bit; the mask drops those.
        for w in &mut self.words {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.added /= 2;
    }

    /// How often `hash` was seen lately: 0 to 15.
    #[inline]
    pub(super) fn estimate(&self, hash: u64) -> u8 {
        if self.words.is_empty() {
            return 0;
        }
        let (w, [a, b, c, d]) = self.at(hash);
        let word = self.words[w];
        let count = |shift: u32| (word >> shift) & 0xF;
        count(a).min(count(b)).min(count(c)).min(count(d)) as u8
    }

    /// Bytes held.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_at_fifteen_and_halve() {
        let mut s = Sketch::default();
        s.fit(100);
        assert_eq!(s.estimate(7), 0);
        for _ in 0..20 {
            s.add(7);
        }
        assert_eq!(s.estimate(7), 15);
        s.halve();
        assert_eq!(s.estimate(7), 7);
    }

    #[test]
    fn frequent_keys_outrank_rare_ones() {
        let mut s = Sketch::default();
        s.fit(1000);
        for k in 0..1000u64 {
            s.add(k.wrapping_mul(0x9E37_79B1));
        }
        for _ in 0..10 {
            for k in 0..10u64 {
                s.add(k.wrapping_mul(0x9E37_79B1));
            }
        }
        let hot = (0..10u64)
            .map(|k| s.estimate(k.wrapping_mul(0x9E37_79B1)))
            .min()
            .unwrap();
        let rare = (1000..2000u64)
            .filter(|k| s.estimate(k.wrapping_mul(0x9E37_79B1)) >= hot)
            .count();
        assert!(hot >= 11, "a key seen 11 times estimated {hot}");
        assert!(
            rare < 10,
            "{rare} unseen keys estimated as often as seen ones"
        );
    }

    #[test]
    fn halving_keeps_counters_apart() {
        let mut s = Sketch::default();
        s.fit(8);
        for k in 0..64u64 {
            for _ in 0..(k % 16) {
                s.add(k << 8);
            }
        }
        let before: Vec<u8> = (0..64u64).map(|k| s.estimate(k << 8)).collect();
        s.halve();
        for (k, b) in before.iter().enumerate() {
            assert_eq!(s.estimate((k as u64) << 8), b / 2, "key {k}");
        }
    }

    #[test]
    fn grows_with_the_keys_up_to_its_bound() {
        let mut s = Sketch::default();
        assert_eq!(s.estimate(1), 0);
        s.add(1);
        assert_eq!(s.estimate(1), 0, "an unfitted sketch counts nothing");
        s.fit(1000);
        assert_eq!(s.bytes(), 512 * 8, "two keys a word, a power of two");
        s.fit(600);
        assert_eq!(s.bytes(), 512 * 8, "never shrinks");
        s.fit(u64::MAX);
        assert_eq!(s.bytes(), MAX_WORDS * 8);
    }
}
