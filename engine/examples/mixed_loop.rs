//! 90% get / 10% insert over a Zipf(0.99) stream of 1M keys into a cache of
//! 100k, single-threaded, for profiling the write path. Usage:
//! `mixed_loop [N]`.

use std::hint::black_box;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let keys = 1u64 << 20;
    let mut cdf = Vec::with_capacity(keys as usize);
    let mut total = 0.0;
    for r in 1..=keys {
        total += 1.0 / (r as f64).powf(0.99);
        cdf.push(total);
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let stream: Vec<u64> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 * total;
            (cdf.partition_point(|&c| c < u) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                & (keys - 1)
        })
        .collect();
    // Fixed hash seeds, so instruction counts repeat from run to run.
    let cache = clockwise::Cache::<u64, u64>::builder()
        .max_capacity(100_000)
        .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4))
        .build();
    for &k in stream.iter().take(200_000) {
        cache.insert(k, k);
    }
    let mut hits = 0u64;
    for i in 0..n {
        let k = stream[i & ((1 << 20) - 1)];
        if i % 10 == 9 {
            cache.insert(k, k);
        } else {
            hits += u64::from(black_box(cache.get(&k)).is_some());
        }
    }
    println!("{hits} hits; {:?}", cache.stats().hit_ratio());
    // The cache's own sampled latency histograms (stats are on).
    let stats = cache.stats();
    for name in ["get_latency", "insert_latency"] {
        let h = stats.snapshot().histogram(name).expect("stats are on");
        println!(
            "{name}: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            h.quantile(0.5),
            h.quantile(0.99),
            h.quantile(0.999),
            h.quantile(1.0)
        );
    }
}
