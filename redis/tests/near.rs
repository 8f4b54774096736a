//! The near cache against a real `redis-server`: coherence under writes,
//! the invalidation delay, tracking of written keys, broadcast mode.

mod support;

use clockwise::{Cache, RemovalCause};
use clockwise_redis::{NearCache, RedisConfig, TrackingMode};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use support::{History, Read};

fn near(server: &support::Server, mode: TrackingMode) -> NearCache<i64> {
    let cache = Cache::builder().max_capacity(10_000).build();
    let near = NearCache::connect(RedisConfig::new(server.url()), cache, mode).unwrap();
    near.wait_linked(Duration::from_secs(5)).unwrap();
    near
}

fn key(i: usize) -> String {
    format!("k{i}")
}

const KEYS: usize = 100;
const SLACK: Duration = Duration::from_millis(50);

/// 10,000 writes through one cache while two threads read through another:
/// no read returns a value older than the latest write acknowledged more
/// than 50 ms before it started.
#[test]
fn reads_through_another_cache_are_never_staler_than_50ms() {
    let _alone = support::alone();
    let Some(server) = support::server() else {
        return;
    };
    let a = near(&server, TrackingMode::Reads);
    let b = near(&server, TrackingMode::Reads);
    let history = History::new(KEYS);
    let done = AtomicBool::new(false);
    let reads: Mutex<Vec<Read>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut rng = rand::thread_rng();
                let mut mine = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let k = rng.gen_range(0..KEYS);
                    let start = Instant::now();
                    mine.push((k, start, b.get(&key(k)).unwrap()));
                }
                reads.lock().unwrap().extend(mine);
            });
        }
        for n in 0..10_000i64 {
            let k = n as usize % KEYS;
            a.set(&key(k), n).unwrap();
            history.acked(k, Instant::now(), n);
        }
        done.store(true, Ordering::Relaxed);
    });
    let reads = reads.into_inner().unwrap();
    let stale = history.stale(&reads, SLACK);
    let stats = b.cache().stats();
    eprintln!(
        "{} reads, {} hits, {} stale; link: {:?}",
        reads.len(),
        stats.hits(),
        stale.len(),
        b.metrics().counter("keys_invalidated")
    );
    assert!(
        stale.is_empty(),
        "stale reads: {:?}",
        &stale[..stale.len().min(5)]
    );
    assert!(stats.hits() > 0, "the reads were never served locally");
    assert!(b.metrics().counter("keys_invalidated") > 0);
}

/// The delay from a write's acknowledgement on one cache to the removal of
/// the key from another, over 2,000 writes one after another.
#[test]
fn invalidation_delay_p999_on_loopback_is_within_50ms() {
    let _alone = support::alone();
    let Some(server) = support::server() else {
        return;
    };
    let a = near(&server, TrackingMode::Reads);
    let (tx, rx) = mpsc::channel::<(String, Instant)>();
    let tx = Mutex::new(tx);
    let cache = Cache::builder()
        .max_capacity(10_000)
        .eviction_listener(move |k: &String, _: &Option<i64>, cause| {
            if cause == RemovalCause::Explicit {
                let _ = tx.lock().unwrap().send((k.clone(), Instant::now()));
            }
        })
        .build();
    let b: NearCache<i64> =
        NearCache::connect(RedisConfig::new(server.url()), cache, TrackingMode::Reads).unwrap();
    b.wait_linked(Duration::from_secs(5)).unwrap();
    let mut delays = Vec::new();
    for i in 0..2_000i64 {
        let k = key(i as usize % 50);
        b.get(&k).unwrap();
        assert!(b.cache().contains_key(k.as_str()), "the read was cached");
        while rx.try_recv().is_ok() {}
        a.set(&k, i).unwrap();
        let acked = Instant::now();
        let (removed, at) = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("an invalidation within 2 s");
        assert_eq!(removed, k);
        delays.push(at.saturating_duration_since(acked));
    }
    delays.sort();
    let q = |p| support::quantile(&delays, p);
    eprintln!(
        "invalidation delay over {} writes: p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
        delays.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        delays.last().unwrap()
    );
    assert!(q(0.999) <= SLACK, "p99.9 {:?}", q(0.999));
    // The other cache measured the same delays from the writes' stamps
    // (the last stamp may still be on its way after its key's removal).
    let samples = || {
        b.metrics()
            .histogram(clockwise_redis::INVALIDATION_DELAY)
            .unwrap()
            .samples()
    };
    assert!(support::eventually(Duration::from_secs(2), || samples() == 2_000));
    let h = b.metrics();
    let h = h.histogram(clockwise_redis::INVALIDATION_DELAY).unwrap();
    eprintln!(
        "its own histogram: {} samples, p99.9 {} ns",
        h.samples(),
        h.quantile(0.999)
    );
    assert_eq!(h.samples(), 2_000);
    assert!(h.quantile(0.999) <= SLACK.as_nanos() as u64);
    let own = a.metrics();
    assert!(
        own.histogram(clockwise_redis::INVALIDATION_DELAY)
            .unwrap()
            .is_empty(),
        "a cache skips its own stamps"
    );
}

/// A key this process only wrote is still tracked: a write by another
/// client removes the local copy.
#[test]
fn a_written_key_is_tracked_and_a_foreign_write_invalidates_it() {
    let Some(server) = support::server() else {
        return;
    };
    let a = near(&server, TrackingMode::Reads);
    a.set("w", 1).unwrap();
    assert_eq!(a.cache().get("w"), Some(Some(1)), "applied locally at once");
    let mut raw = server.raw();
    redis::cmd("SET").arg("w").arg(2).exec(&mut raw).unwrap();
    assert!(
        support::eventually(Duration::from_secs(2), || a.cache().get("w").is_none()),
        "the foreign write did not reach the local copy"
    );
    assert_eq!(a.get("w").unwrap(), Some(2));
    // A deleted key is remembered as absent, and tracked too.
    a.del("w").unwrap();
    assert_eq!(a.cache().get("w"), Some(None));
    redis::cmd("SET").arg("w").arg(3).exec(&mut raw).unwrap();
    assert!(support::eventually(Duration::from_secs(2), || a
        .cache()
        .get("w")
        .is_none()));
    assert_eq!(a.get("w").unwrap(), Some(3));
}

/// Broadcast mode reports every write under its prefixes, even of keys
/// this process never read; keys outside them are never cached.
#[test]
fn broadcast_mode_covers_its_prefixes_and_caches_nothing_else() {
    let Some(server) = support::server() else {
        return;
    };
    let b = near(&server, TrackingMode::Broadcast(vec!["p:".into()]));
    let mut raw = server.raw();
    redis::cmd("SET").arg("p:1").arg(1).exec(&mut raw).unwrap();
    redis::cmd("SET").arg("q:1").arg(1).exec(&mut raw).unwrap();
    assert_eq!(b.get("p:1").unwrap(), Some(1));
    assert_eq!(b.get("q:1").unwrap(), Some(1));
    assert!(b.cache().contains_key("p:1"));
    assert!(!b.cache().contains_key("q:1"), "outside the prefixes");
    redis::cmd("SET").arg("p:1").arg(2).exec(&mut raw).unwrap();
    redis::cmd("SET").arg("q:1").arg(2).exec(&mut raw).unwrap();
    assert!(support::eventually(Duration::from_secs(2), || !b
        .cache()
        .contains_key("p:1")));
    assert_eq!(b.get("p:1").unwrap(), Some(2));
    assert_eq!(b.get("q:1").unwrap(), Some(2));
    assert!(b.metrics().counter("bypassed_reads") >= 2);
}

/// A key that is not UTF-8 cannot be one of a near cache's: broadcast
/// mode reports it, and it is neither looked for nor counted as a key
/// invalidated.
#[test]
fn broadcast_keys_that_are_not_utf8_are_not_counted() {
    let Some(server) = support::server() else {
        return;
    };
    let b = near(&server, TrackingMode::Broadcast(vec!["p:".into()]));
    let mut raw = server.raw();
    assert_eq!(b.get("p:2").unwrap(), None);
    assert!(b.cache().contains_key("p:2"));
    let before = b.metrics().counter("keys_invalidated");
    redis::cmd("SET")
        .arg(&b"p:\xff"[..])
        .arg(1)
        .exec(&mut raw)
        .unwrap();
    redis::cmd("SET").arg("p:2").arg(1).exec(&mut raw).unwrap();
    // The link reads messages in order: once p:2's is in, so is the other.
    assert!(support::eventually(Duration::from_secs(2), || !b
        .cache()
        .contains_key("p:2")));
    assert_eq!(b.metrics().counter("keys_invalidated") - before, 1);
}

/// FLUSHALL on the server empties the local cache.
#[test]
fn a_server_flush_flushes_the_local_cache() {
    let Some(server) = support::server() else {
        return;
    };
    let a = near(&server, TrackingMode::Reads);
    a.set("f", 1).unwrap();
    let flushes = a.metrics().counter("flushes");
    redis::cmd("FLUSHALL").exec(&mut server.raw()).unwrap();
    assert!(support::eventually(Duration::from_secs(2), || a
        .cache()
        .is_empty()));
    assert!(a.metrics().counter("flushes") > flushes);
    assert_eq!(a.get("f").unwrap(), None);
}

/// Dropping a near cache stops its link thread.
#[test]
fn dropping_the_cache_closes_its_link() {
    let Some(server) = support::server() else {
        return;
    };
    let clients = |raw: &mut redis::Connection| -> usize {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(raw).unwrap();
        list.lines().count()
    };
    let mut raw = server.raw();
    let before = clients(&mut raw);
    let a = Arc::new(near(&server, TrackingMode::Reads));
    a.get("x").unwrap();
    assert!(clients(&mut raw) > before);
    drop(a);
    assert!(support::eventually(Duration::from_secs(2), || clients(
        &mut raw
    ) == before));
}
