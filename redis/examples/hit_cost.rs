//! What a hit costs through the near cache and through a bus-guarded cache,
//! against the same hit on a plain cache: each loop in a function of its
//! own, so callgrind can count one loop alone.
//!
//! ```text
//! cargo build --release -p clockwise-redis --example hit_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='hit_cost::hits_near*' target/release/examples/hit_cost 1000000
//! ```
//! (and `hits_plain`, `hits_coherent`), then divide the count by the hits.
//! Starts its own `redis-server` on a free loopback port.

#[path = "../tests/support/mod.rs"]
mod support;

use clockwise::Cache;
use clockwise_redis::{Bus, Coherent, NearCache, RedisConfig, TrackingMode};
use std::hint::black_box;
use std::time::Duration;

const KEYS: usize = 1_000;

#[inline(never)]
fn hits_plain(cache: &Cache<String, Option<i64>>, keys: &[String], n: usize) -> i64 {
    let mut sum = 0;
    for i in 0..n {
        sum += cache.get(keys[i % KEYS].as_str()).flatten().unwrap_or(0);
    }
    sum
}

#[inline(never)]
fn hits_near(near: &NearCache<i64>, keys: &[String], n: usize) -> i64 {
    let mut sum = 0;
    for i in 0..n {
        sum += near.get(&keys[i % KEYS]).unwrap().unwrap_or(0);
    }
    sum
}

#[inline(never)]
fn hits_coherent(cache: &Coherent<String, Option<i64>>, keys: &[String], n: usize) -> i64 {
    let mut sum = 0;
    for i in 0..n {
        sum += cache.get(keys[i % KEYS].as_str()).flatten().unwrap_or(0);
    }
    sum
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("hits"));
    let server = support::server().expect("redis-server is needed");
    let url = server.url();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();

    let plain = Cache::builder().max_capacity(10_000).build();
    let near = NearCache::connect(
        RedisConfig::new(&url),
        Cache::builder().max_capacity(10_000).build(),
        TrackingMode::Reads,
    )
    .unwrap();
    near.wait_linked(Duration::from_secs(5)).unwrap();
    let bus = Bus::connect(RedisConfig::new(&url), "hit_cost").unwrap();
    bus.wait_linked(Duration::from_secs(5)).unwrap();
    let coherent = bus
        .guard(Cache::builder().max_capacity(10_000).build())
        .unwrap();
    for (i, k) in keys.iter().enumerate() {
        near.set(k, i as i64).unwrap();
        plain.insert(k.clone(), Some(i as i64));
        coherent.get_with(k.clone(), || Some(i as i64));
    }
    let a = hits_plain(&plain, &keys, n);
    let b = hits_near(&near, &keys, n);
    let c = hits_coherent(&coherent, &keys, n);
    assert_eq!((a, a), (b, c), "every read was a hit of the same values");
    println!(
        "{} hits each; plain, near and coherent sums agree",
        black_box(n)
    );
    drop((near, coherent, bus));
    drop(server);
}
