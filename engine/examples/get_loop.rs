//! `get` in a loop, for profiling (callgrind, perf): 100k resident `u64`
//! keys (or KEYS) read in a scrambled order.
//! Usage: `get_loop [N] [stats:0|1] [KEYS] [idle seconds]`: with a time
//! to idle (long enough that nothing expires), for its cost on a hit.

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let stats = args.next().is_none_or(|a| a != "0");
    let keys: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000)
        .max(1);
    let idle: Option<u64> = args.next().and_then(|a| a.parse().ok());
    // Fixed hash seeds: the same table layout (and probe lengths) in every
    // run, so instruction counts repeat exactly.
    let mut builder = clockwise::Cache::<u64, u64>::builder()
        .max_capacity(2 * keys)
        .stats(stats)
        .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
    if let Some(idle) = idle {
        builder = builder.time_to_idle(std::time::Duration::from_secs(idle));
    }
    let cache = builder.build();
    for k in 0..keys {
        cache.insert(k, k);
    }
    let mut hits = 0u64;
    for i in 0..n {
        let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys;
        hits += u64::from(black_box(cache.get(&k)).is_some());
    }
    println!(
        "{hits} hits (asymmetric fences: {})",
        clockwise::uses_membarrier()
    );
}
