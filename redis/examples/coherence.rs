//! The figures of `BENCHMARKS.md`'s section on clockwise-redis: the
//! invalidation delay (a write's acknowledgement to the removal of its key
//! from another cache) through tracking and through the bus, how many bus
//! invalidations two publishing threads get delivered a second, and how
//! many one-key messages one Redis fans out a second to 2 and to 8
//! subscribers. Starts its own `redis-server` on a free loopback port.
//!
//! `cargo run --release -p clockwise-redis --example coherence [-- --json]`

#[path = "../tests/support/mod.rs"]
mod support;

use clockwise::{Cache, RemovalCause};
use clockwise_redis::{Bus, NearCache, RedisConfig, TrackingMode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

const WRITES: usize = 5_000;

struct Row {
    path: &'static str,
    writes: usize,
    delays: Vec<Duration>,
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

/// A cache whose listener reports each explicit removal and when.
fn listened<K: Clone + Send + 'static, V>(
    tx: mpsc::Sender<(K, Instant)>,
) -> clockwise::CacheBuilder<K, V> {
    let tx = Mutex::new(tx);
    Cache::builder()
        .max_capacity(10_000)
        .eviction_listener(move |k: &K, _: &V, cause| {
            if cause == RemovalCause::Explicit {
                let _ = tx.lock().unwrap().send((k.clone(), Instant::now()));
            }
        })
}

fn tracking(url: &str) -> Row {
    let a: NearCache<i64> = NearCache::connect(
        RedisConfig::new(url),
        Cache::builder().max_capacity(10_000).build(),
        TrackingMode::Reads,
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let b: NearCache<i64> = NearCache::connect(
        RedisConfig::new(url),
        listened(tx).build(),
        TrackingMode::Reads,
    )
    .unwrap();
    a.wait_linked(Duration::from_secs(5)).unwrap();
    b.wait_linked(Duration::from_secs(5)).unwrap();
    let mut delays = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        let k = format!("k{}", i % 100);
        b.get(&k).unwrap();
        while rx.try_recv().is_ok() {}
        a.set(&k, i as i64).unwrap();
        let acked = Instant::now();
        let (_, at) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("invalidated");
        delays.push(at.saturating_duration_since(acked));
    }
    Row {
        path: "tracking (`NearCache`)",
        writes: WRITES,
        delays,
    }
}

fn bus(url: &str) -> (Row, f64) {
    let writer = Bus::connect(RedisConfig::new(url), "bench").unwrap();
    let reader = Bus::connect(RedisConfig::new(url), "bench").unwrap();
    let (tx, rx) = mpsc::channel();
    let cache = reader.guard(listened::<u64, u64>(tx).build()).unwrap();
    writer.wait_linked(Duration::from_secs(5)).unwrap();
    reader.wait_linked(Duration::from_secs(5)).unwrap();
    let mut delays = Vec::with_capacity(WRITES);
    for i in 0..WRITES as u64 {
        let k = i % 100;
        cache.get_with(k, || i);
        while rx.try_recv().is_ok() {}
        writer.publish(&[k]).unwrap();
        let acked = Instant::now();
        let (_, at) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("invalidated");
        delays.push(at.saturating_duration_since(acked));
    }
    // Throughput: two threads publish one-key messages for a second; the
    // reader's count of keys removed is what arrived.
    let before = reader.metrics().counter("keys_invalidated");
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (writer, stop) = (&writer, &stop);
            s.spawn(move || {
                let mut k = t;
                while !stop.load(Ordering::Relaxed) {
                    writer.publish(&[k % 100]).unwrap();
                    k += 2;
                }
            });
        }
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
    });
    // Let the last messages arrive.
    std::thread::sleep(Duration::from_millis(200));
    let rate = (reader.metrics().counter("keys_invalidated") - before) as f64
        / start.elapsed().as_secs_f64();
    (
        Row {
            path: "bus (`Bus::publish`)",
            writes: WRITES,
            delays,
        },
        rate,
    )
}

/// What one Redis carries: `subscribers` plain pub/sub connections count
/// what they receive while one connection publishes one-key bus messages
/// in pipelined batches of 32 for a second. Returns publications and
/// deliveries a second (deliveries counted once the subscribers drained).
fn fanout(url: &str, subscribers: usize) -> (f64, f64) {
    let client = redis::Client::open(url).unwrap();
    let received = std::sync::atomic::AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let message = {
        let mut one = Vec::new();
        // The size of a one-key bus message for a 10-byte key.
        one.extend_from_slice(&[0u8; 23 + 4 + 10]);
        one
    };
    let mut published = 0u64;
    let mut elapsed = Duration::ZERO;
    let ready = std::sync::Barrier::new(subscribers + 1);
    std::thread::scope(|s| {
        for _ in 0..subscribers {
            let (client, received, stop, ready) = (&client, &received, &stop, &ready);
            s.spawn(move || {
                let mut con = client.get_connection().unwrap();
                let mut ps = con.as_pubsub();
                ps.subscribe("fanout").unwrap();
                ps.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                ready.wait();
                loop {
                    match ps.get_message() {
                        Ok(_) => {
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.is_timeout() => {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        ready.wait();
        let mut con = client.get_connection().unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(1) {
            let mut pipe = redis::pipe();
            for _ in 0..32 {
                pipe.cmd("PUBLISH").arg("fanout").arg(&message).ignore();
            }
            pipe.exec(&mut con).unwrap();
            published += 32;
        }
        elapsed = start.elapsed();
        // Let the subscribers drain what is on its way, then stop them.
        let want = published * subscribers as u64;
        let deadline = Instant::now() + Duration::from_secs(10);
        while received.load(Ordering::Relaxed) < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = elapsed.as_secs_f64();
    (
        published as f64 / seconds,
        received.load(Ordering::Relaxed) as f64 / seconds,
    )
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let server = support::server().expect("redis-server is needed");
    let url = server.url();
    let t = tracking(&url);
    let (b, rate) = bus(&url);
    let fan: Vec<serde_json::Value> = [2usize, 8]
        .into_iter()
        .map(|n| {
            let (publications, deliveries) = fanout(&url, n);
            serde_json::json!({
                "subscribers": n,
                "publications_per_sec": publications,
                "deliveries_per_sec": deliveries,
            })
        })
        .collect();
    drop(server);
    let mut rows = Vec::new();
    for mut r in [t, b] {
        r.delays.sort();
        rows.push(serde_json::json!({
            "path": r.path,
            "writes": r.writes,
            "p50_us": quantile(&r.delays, 0.5),
            "p99_us": quantile(&r.delays, 0.99),
            "p999_us": quantile(&r.delays, 0.999),
            "max_us": quantile(&r.delays, 1.0),
        }));
    }
    let out = serde_json::json!({
        "delays": rows,
        "bus_invalidations_per_sec": rate,
        "fanout": fan,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    } else {
        for r in &rows {
            println!(
                "{:<26} {} writes: p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
                r["path"].as_str().unwrap(),
                r["writes"],
                r["p50_us"].as_f64().unwrap(),
                r["p99_us"].as_f64().unwrap(),
                r["p999_us"].as_f64().unwrap(),
                r["max_us"].as_f64().unwrap()
            );
        }
        println!("bus: {rate:.0} invalidations a second from two publishing threads");
        for f in &fan {
            println!(
                "one Redis, {} subscribers: {:.0} publications and {:.0} deliveries a second",
                f["subscribers"],
                f["publications_per_sec"].as_f64().unwrap(),
                f["deliveries_per_sec"].as_f64().unwrap()
            );
        }
    }
}
