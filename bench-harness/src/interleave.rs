//! Short measured blocks for interleaved comparisons (`overhead`,
//! `versus`): whatever else a shared machine does falls on every
//! contender alike when their blocks alternate, and the median of the
//! per-round ratios is steady where single long runs are not.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Lookups per thread between looks at the clock.
const BATCH: usize = 1024;

/// Runs one block: `threads` threads call `get` on `keys` (each from its own
/// offset) until `block` has passed; returns million calls per second.
/// `keys.len()` must be a power of two.
pub(crate) fn block<F>(get: &F, keys: &[u64], threads: usize, block: Duration) -> f64
where
    F: Fn(u64) -> bool + Sync,
{
    debug_assert!(keys.len().is_power_of_two());
    let barrier = Barrier::new(threads);
    let mask = keys.len() - 1;
    let (ops, seconds) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let (mut i, mut ops) = (t * 4099, 0u64);
                    while start.elapsed() < block {
                        for _ in 0..BATCH {
                            black_box(get(keys[i & mask]));
                            i = i.wrapping_add(7);
                        }
                        ops += BATCH as u64;
                    }
                    (ops, start.elapsed().as_secs_f64())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader panicked"))
            .fold((0u64, 0f64), |(o, s), (ho, hs)| (o + ho, s.max(hs)))
    });
    ops as f64 / seconds / 1e6
}

/// The median of `v` (reordered).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// The `q` quantile of `v` (reordered), nearest rank.
pub(crate) fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}
