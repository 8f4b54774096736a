//! `insert` with eviction in a loop, for profiling the write path
//! (callgrind, perf): uniform keys over 10x the capacity, so nearly every
//! insert evicts, with fixed hash seeds and a fixed key sequence so that
//! instruction counts repeat. Usage: `insert_loop [N]`.

use std::hint::black_box;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let cache = clockwise::Cache::<u64, u64>::builder()
        .max_capacity(10_000)
        .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4))
        .build();
    // xorshift64: a fixed, cheap key sequence.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Fill and churn first, so the measured inserts all evict.
    for _ in 0..200_000 {
        let k = next();
        cache.insert(k % 100_000, k);
    }
    for _ in 0..n {
        let k = next();
        cache.insert(black_box(k % 100_000), k);
    }
    println!("{} entries", cache.len());
}
