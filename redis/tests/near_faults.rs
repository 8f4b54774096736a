//! The near cache when Redis fails: killed and restarted, unreachable at
//! start, slow, or one of its connections killed.

mod support;

use clockwise::Cache;
use clockwise_redis::{Error, NearCache, RedisConfig, TrackingMode};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{History, Read};

const KEYS: usize = 100;
const SLACK: Duration = Duration::from_millis(50);

fn config(url: &str) -> RedisConfig {
    RedisConfig::new(url)
        .connect_timeout(Duration::from_millis(200))
        .command_timeout(Duration::from_millis(200))
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
}

fn near(config: RedisConfig) -> NearCache<i64> {
    NearCache::connect(
        config,
        Cache::builder().max_capacity(10_000).build(),
        TrackingMode::Reads,
    )
    .unwrap()
}

fn key(i: usize) -> String {
    format!("k{i}")
}

/// Writes through `a` while a thread reads through `b`; returns the reads
/// that succeeded and how many failed.
fn run(
    a: &NearCache<i64>,
    b: &NearCache<i64>,
    writes: i64,
    during: impl FnOnce(),
) -> (Vec<Read>, usize, History) {
    let history = History::new(KEYS);
    let done = AtomicBool::new(false);
    let reads = Mutex::new((Vec::new(), 0usize));
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0;
            while n < writes {
                let k = n as usize % KEYS;
                // Only an acknowledged write counts; one refused while
                // Redis is down is tried again.
                if a.set(&key(k), n).is_ok() {
                    history.acked(k, Instant::now(), n);
                    n += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        s.spawn(|| {
            let mut rng = rand::thread_rng();
            let (mut ok, mut failed) = (Vec::new(), 0);
            while !done.load(Ordering::Relaxed) {
                let k = rng.gen_range(0..KEYS);
                let start = Instant::now();
                match b.get(&key(k)) {
                    Ok(v) => ok.push((k, start, v)),
                    // Down, restarting (LOADING), or a redirect to a link
                    // that just died: typed errors, never a stale value.
                    Err(Error::Timeout | Error::Connection(_) | Error::Redis(_)) => failed += 1,
                    Err(e) => panic!("a load failed: {e}"),
                }
            }
            *reads.lock().unwrap() = (ok, failed);
        });
        during();
    });
    let (ok, failed) = reads.into_inner().unwrap();
    (ok, failed, history)
}

#[test]
fn redis_killed_and_restarted_mid_run_never_serves_stale_and_tracking_resumes() {
    let _alone = support::alone();
    let Some(mut server) = support::durable_server() else {
        return;
    };
    let a = near(config(&server.url()));
    let b = near(config(&server.url()));
    a.wait_linked(Duration::from_secs(5)).unwrap();
    b.wait_linked(Duration::from_secs(5)).unwrap();
    let (reads, failed, history) = run(&a, &b, 3_000, || {
        std::thread::sleep(Duration::from_millis(200));
        server.kill();
        std::thread::sleep(Duration::from_millis(300));
        server.restart();
    });
    let stale = history.stale(&reads, SLACK);
    let m = b.metrics();
    eprintln!(
        "{} reads, {} failed while Redis was down, {} stale; {} flushes, {} reconnects",
        reads.len(),
        failed,
        stale.len(),
        m.counter("flushes"),
        m.counter("reconnects")
    );
    assert!(
        stale.is_empty(),
        "stale: {:?}",
        &stale[..stale.len().min(5)]
    );
    assert!(failed > 0, "the outage was seen");
    assert!(m.counter("reconnects") >= 1);
    // Tracking resumed: the same run again passes, with hits.
    b.wait_linked(Duration::from_secs(5)).unwrap();
    let hits = b.cache().stats().hits();
    let (reads, _, history) = run(&a, &b, 3_000, || {});
    assert!(history.stale(&reads, SLACK).is_empty());
    assert!(b.cache().stats().hits() > hits, "cached again");
}

#[test]
fn redis_unreachable_at_start_gives_typed_errors_and_the_cache_starts_with_it() {
    let port = support::free_port();
    let errors: Arc<Mutex<Vec<Error>>> = Arc::default();
    let sink = Arc::clone(&errors);
    let c = near(
        config(&format!("redis://127.0.0.1:{port}/"))
            .on_error(move |e| sink.lock().unwrap().push(e.clone())),
    );
    assert!(matches!(
        c.wait_linked(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    assert!(matches!(c.get("x"), Err(Error::Connection(_))));
    assert!(matches!(c.set("x", 1), Err(Error::Connection(_))));
    let m = c.metrics();
    assert!(m.counter("link_failures") >= 1);
    assert_eq!(m.counter("command_errors"), 2);
    assert!(matches!(errors.lock().unwrap()[0], Error::Connection(_)));
    if support::server().is_none() {
        return;
    }
    let _server = support::Server::on_port(port);
    c.wait_linked(Duration::from_secs(5)).unwrap();
    c.set("x", 1).unwrap();
    assert_eq!(c.get("x").unwrap(), Some(1));
    assert_eq!(c.cache().get("x"), Some(Some(1)));
}

#[test]
fn a_slow_redis_times_out_typed_and_recovers() {
    let Some(server) = support::server() else {
        return;
    };
    let c = near(config(&server.url()));
    c.wait_linked(Duration::from_secs(5)).unwrap();
    c.set("cached", 1).unwrap();
    let mut raw = server.raw();
    let sleeper = std::thread::spawn(move || {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("1")
            .exec(&mut raw)
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    let got = c.get("absent");
    let took = start.elapsed();
    assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
    assert!(took < Duration::from_millis(800), "waited {took:?}");
    assert!(c.metrics().counter("command_timeouts") >= 1);
    // Never a stale value or a hang while it sleeps.
    while !sleeper.is_finished() {
        let start = Instant::now();
        match c.get("cached") {
            Ok(v) => assert_eq!(v, Some(1)),
            Err(e) => assert!(matches!(e, Error::Timeout | Error::Connection(_)), "{e}"),
        }
        assert!(start.elapsed() < Duration::from_millis(800));
    }
    sleeper.join().unwrap();
    c.wait_linked(Duration::from_secs(5)).unwrap();
    assert_eq!(c.get("cached").unwrap(), Some(1));
    assert_eq!(c.get("absent").unwrap(), None);
}

/// Redis tracks keys per connection: when a connection that read keys is
/// lost, nothing would report their changes, so the cache is flushed.
#[test]
fn losing_a_reading_connection_flushes_what_it_read() {
    let Some(server) = support::server() else {
        return;
    };
    let c = near(config(&server.url()).connections(1));
    c.wait_linked(Duration::from_secs(5)).unwrap();
    let mut raw = server.raw();
    redis::cmd("SET").arg("r").arg(1).exec(&mut raw).unwrap();
    assert_eq!(c.get("r").unwrap(), Some(1));
    // Kill the reading connection (the one with tracking on), not the link.
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut raw).unwrap();
    let reader = list
        .lines()
        .find(|l| l.contains("flags=t") || l.contains("cmd=get") || l.contains("cmd=exec"))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("the reading connection")
        .to_owned();
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&reader)
        .exec(&mut raw)
        .unwrap();
    let flushes = c.metrics().counter("flushes");
    // The next command finds the connection dead, flushes, and is an error
    // (or, if the kill was seen on the write, a fresh read).
    let _ = c.get("other");
    assert!(c.metrics().counter("flushes") > flushes);
    assert_eq!(c.cache().get("r"), None);
    redis::cmd("SET").arg("r").arg(2).exec(&mut raw).unwrap();
    assert_eq!(c.get("r").unwrap(), Some(2));
}
