//! Read-through in a loop, for profiling and for shard-count sweeps: `get`,
//! and `insert` on a miss, of Zipf(0.99) keys over 10x a 10,000-entry
//! capacity (the criterion `read_through` workload), with a fixed key
//! sequence. Prints the time per operation and the hit ratio.
//!
//! Usage: `read_through_loop SHARDS THREADS [stats:0|1]`, with the number
//! of operations (all threads together) in `N` (default 20M).

use std::time::Instant;

#[path = "../benches/common/zipf.rs"]
mod zipf;

/// `len` keys drawn from Zipf(`s`) over `0..n`, from xorshift64.
fn zipf(n: u64, s: f64, len: usize, seed: u64) -> Vec<u64> {
    let law = zipf::Zipf::new(n, s);
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            law.key((x >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: usize| {
        args.next()
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let shards = number(8);
    let threads = number(1).max(1);
    let stats = number(1) != 0;
    let n: usize = std::env::var("N").map_or(20_000_000, |v| v.parse().expect("N: a number"));
    const STREAM: usize = 1 << 20;
    let keys = zipf(100_000, 0.99, STREAM, 3);
    let cache = clockwise::Cache::<u64, u64>::builder()
        .max_capacity(10_000)
        .shards(shards)
        .stats(stats)
        .build();
    // Warm up: one pass over the stream.
    for &k in &keys {
        if cache.get(&k).is_none() {
            cache.insert(k, k);
        }
    }
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (cache, keys) = (&cache, &keys);
            s.spawn(move || {
                for i in 0..n / threads {
                    let k = keys[i.wrapping_mul(7).wrapping_add(t * 4099) & (STREAM - 1)];
                    if cache.get(&k).is_none() {
                        cache.insert(k, k);
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let per_thread = (n / threads) as f64;
    let snap = cache.stats();
    let hit_ratio = snap.hits() as f64 / snap.gets().max(1) as f64;
    println!(
        "{shards} shards, {threads} threads: {:.1} ns per operation per thread, hit ratio {hit_ratio:.3}",
        elapsed.as_nanos() as f64 / per_thread,
    );
}
