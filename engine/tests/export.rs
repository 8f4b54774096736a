//! Caches in a registry, seen through the exporters: exact Prometheus
//! samples and StatsD lines for scripted operations, `promtool` on the real
//! exposition, and registration rules.

use clockwise::{Cache, ConfigError};
use clockwise_stats::export::{prometheus, statsd};
use clockwise_stats::{Registry, RegistryError};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

/// One shard so the CLOCK-Pro gauges are deterministic.
fn cache(registry: &Registry, name: &str) -> Cache<u64, u64> {
    Cache::builder()
        .max_capacity(100)
        .shards(1)
        .name(name)
        .registry(registry)
        .try_build()
        .unwrap()
}

/// insert 1, 2, 1 (update); get 1 (hit), 3 (miss); remove 2; load 9
/// (a miss and a load), invalidate 9.
fn script(c: &Cache<u64, u64>) {
    c.insert(1, 10);
    c.insert(2, 20);
    c.insert(1, 11);
    assert_eq!(c.get(&1), Some(11));
    assert_eq!(c.get(&3), None);
    assert_eq!(c.remove(&2), Some(20));
    assert_eq!(c.get_with(9, || 90), 90);
    c.invalidate(&9);
}

fn samples(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_latency_seconds"))
        .collect()
}

#[test]
fn prometheus_samples_for_scripted_operations() {
    let registry = Registry::new();
    let c = cache(&registry, "users");
    script(&c);
    let text = prometheus::render(&registry.gather());
    assert_eq!(
        samples(&text),
        [
            "clockwise_cache_capacity{cache=\"users\"} 100",
            "clockwise_cache_coalesced_waiters_total{cache=\"users\"} 0",
            "clockwise_cache_cold_size{cache=\"users\"} 0",
            "clockwise_cache_entries{cache=\"users\"} 1",
            // CLOCK-Pro admits as hot while the hot target has room.
            "clockwise_cache_hot_size{cache=\"users\"} 1",
            "clockwise_cache_inserts_total{cache=\"users\"} 3",
            "clockwise_cache_listener_panics_total{cache=\"users\"} 0",
            "clockwise_cache_load_wait_timeouts_total{cache=\"users\"} 0",
            "clockwise_cache_loader_panics_total{cache=\"users\"} 0",
            "clockwise_cache_loads_total{cache=\"users\",result=\"failure\"} 0",
            "clockwise_cache_loads_total{cache=\"users\",result=\"success\"} 1",
            "clockwise_cache_negative_hits_total{cache=\"users\"} 0",
            "clockwise_cache_refreshes_total{cache=\"users\",result=\"failed\"} 0",
            "clockwise_cache_refreshes_total{cache=\"users\",result=\"started\"} 0",
            "clockwise_cache_refreshes_total{cache=\"users\",result=\"succeeded\"} 0",
            "clockwise_cache_rejections_total{cache=\"users\"} 0",
            "clockwise_cache_removals_total{cache=\"users\",cause=\"capacity\"} 0",
            "clockwise_cache_removals_total{cache=\"users\",cause=\"expired\"} 0",
            "clockwise_cache_removals_total{cache=\"users\",cause=\"explicit\"} 2",
            "clockwise_cache_removals_total{cache=\"users\",cause=\"replaced\"} 1",
            "clockwise_cache_requests_total{cache=\"users\",result=\"hit\"} 1",
            "clockwise_cache_requests_total{cache=\"users\",result=\"miss_absent\"} 2",
            "clockwise_cache_requests_total{cache=\"users\",result=\"miss_expired\"} 0",
            "clockwise_cache_stale_hits_total{cache=\"users\"} 0",
            "clockwise_cache_test_size{cache=\"users\"} 0",
            "clockwise_cache_updates_total{cache=\"users\"} 1",
            "clockwise_cache_weighted_size{cache=\"users\"} 1",
            "clockwise_cache_window_size{cache=\"users\"} 0",
        ]
    );
    assert!(text.contains("# TYPE clockwise_cache_get_latency_seconds summary\n"));
    assert!(text.contains("clockwise_cache_get_latency_seconds_count{cache=\"users\"} "));
}

#[test]
fn promtool_accepts_the_exposition() {
    let registry = Registry::new();
    let a = cache(&registry, "users");
    let b = cache(&registry, "sessions \"eu\\west\"");
    script(&a);
    script(&b);
    for i in 0..1_000 {
        a.insert(i, i);
        a.get(&(i / 2));
    }
    let text = prometheus::render(&registry.gather());
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("SKIPPED: promtool not found (apt-get install prometheus); .ci/run installs it");
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Lint problems are printed even with exit status 0 by some versions.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn statsd_lines_for_scripted_operations() {
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    agent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let registry = Registry::new();
    let c = cache(&registry, "users");
    let config = statsd::StatsdConfig::new(agent.local_addr().unwrap()).dogstatsd(true);
    let mut sender = statsd::StatsdSender::new(config).unwrap();
    let recv = |packets: usize| {
        let mut lines = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..packets {
            let n = agent.recv(&mut buf).unwrap();
            let text = std::str::from_utf8(&buf[..n]).unwrap().to_owned();
            lines.extend(
                text.lines()
                    .map(str::to_owned)
                    .filter(|l| !l.contains("|ms")),
            );
        }
        lines
    };
    script(&c);
    let sent = sender.flush(&registry);
    let gauges = |entries: u32, hot: u32, window: u32| {
        [
            "clockwise.cache.capacity:100|g|#cache:users".to_owned(),
            "clockwise.cache.cold_size:0|g|#cache:users".to_owned(),
            format!("clockwise.cache.entries:{entries}|g|#cache:users"),
            format!("clockwise.cache.hot_size:{hot}|g|#cache:users"),
            "clockwise.cache.test_size:0|g|#cache:users".to_owned(),
            format!("clockwise.cache.weighted_size:{entries}|g|#cache:users"),
            format!("clockwise.cache.window_size:{window}|g|#cache:users"),
        ]
    };
    let mut expected: Vec<String> = [
        "clockwise.cache.hit:1|c|#cache:users",
        "clockwise.cache.insert:3|c|#cache:users",
        "clockwise.cache.load_success:1|c|#cache:users",
        "clockwise.cache.miss_absent:2|c|#cache:users",
        "clockwise.cache.removed_explicit:2|c|#cache:users",
        "clockwise.cache.removed_replaced:1|c|#cache:users",
        "clockwise.cache.update:1|c|#cache:users",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.extend(gauges(1, 1, 0));
    assert_eq!(recv(sent), expected);

    // Only what changed since the last flush.
    c.insert(5, 50);
    assert_eq!(c.get(&5), Some(50));
    let sent = sender.flush(&registry);
    let mut expected = vec![
        "clockwise.cache.hit:1|c|#cache:users".to_owned(),
        "clockwise.cache.insert:1|c|#cache:users".to_owned(),
    ];
    // The new entry waits in the admission window.
    expected.extend(gauges(2, 1, 1));
    assert_eq!(recv(sent), expected);
}

#[test]
fn registration_follows_the_cache_and_refuses_duplicates() {
    let registry = Registry::new();
    let first = cache(&registry, "users");
    let clone = first.clone();
    let err = Cache::<u64, u64>::builder()
        .max_capacity(10)
        .name("users")
        .registry(&registry)
        .try_build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Registry(RegistryError::Duplicate { .. })
    ));
    // build() panics on it, as on every configuration try_build refuses.
    let dup = std::panic::catch_unwind(|| {
        Cache::<u64, u64>::builder()
            .max_capacity(10)
            .name("users")
            .registry(&registry)
            .build()
    });
    let message = dup.unwrap_err().downcast::<String>().unwrap();
    assert!(
        message.contains("\"users\" is already registered"),
        "{message}"
    );
    assert!(matches!(
        Cache::<u64, u64>::builder()
            .max_capacity(10)
            .name("line\nbreak")
            .registry(&registry)
            .try_build(),
        Err(ConfigError::Registry(RegistryError::InvalidName(_)))
    ));
    assert!(matches!(
        Cache::<u64, u64>::builder()
            .max_capacity(10)
            .name("")
            .registry(&registry)
            .try_build(),
        Err(ConfigError::Registry(RegistryError::InvalidName(_)))
    ));
    let second: Cache<u64, u64> = Cache::builder()
        .max_capacity(10)
        .name("users-2")
        .registry(&registry)
        .build();

    drop(first);
    assert!(
        registry.contains("cache", "users"),
        "a clone still holds the cache"
    );
    drop(clone);
    assert!(!registry.contains("cache", "users"));
    let names: Vec<String> = registry.gather().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["users-2"]);
    drop(second);
}

#[test]
fn json_round_trips_the_cache_snapshot() {
    let registry = Registry::new();
    let c = cache(&registry, "users");
    script(&c);
    let text = clockwise_stats::export::json::render(&registry.gather());
    let back = clockwise_stats::export::json::parse(&text).unwrap();
    let snap = &back["cache"]["users"];
    assert_eq!(snap.counter("hit"), 1);
    assert_eq!(snap.gauge("entries"), Some(1));
    let now = c.stats();
    assert_eq!(
        snap.counters().collect::<Vec<_>>(),
        now.snapshot().counters().collect::<Vec<_>>()
    );
    assert_eq!(snap.histogram("get_latency"), now.get_latency());
}
