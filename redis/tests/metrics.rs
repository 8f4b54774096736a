//! The link's metrics as exporters see them: listed under subsystem
//! `redis` and the config's name, with the crate's help texts.

use clockwise::Cache;
use clockwise_redis::{Error, NearCache, RedisConfig, TrackingMode};
use std::time::Duration;

#[test]
fn the_links_metrics_are_exported_under_its_name_and_a_name_is_taken_once() {
    let registry = clockwise_stats::Registry::new();
    let config = RedisConfig::new("redis://127.0.0.1:1/")
        .connect_timeout(Duration::from_millis(50))
        .name("users")
        .registry(&registry);
    let near: NearCache<i64> = NearCache::connect(
        config.clone(),
        Cache::builder().max_capacity(10).build(),
        TrackingMode::Reads,
    )
    .unwrap();
    assert!(near.get("k").is_err());
    let text = clockwise_stats::export::prometheus::render(&registry.gather());
    if let Ok(path) = std::env::var("CLOCKWISE_REDIS_EXPOSITION") {
        std::fs::write(path, &text).unwrap();
    }
    for line in [
        "clockwise_redis_command_errors_total{source=\"users\"} 1",
        "clockwise_redis_bypassed_reads_total{source=\"users\"} 1",
        "clockwise_redis_linked{source=\"users\"} 0",
        "# HELP clockwise_redis_flushes_total Local caches flushed whole",
        "# TYPE clockwise_redis_invalidation_delay",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // A second link of the same name in the same registry is refused.
    let again = NearCache::<i64>::connect(
        config,
        Cache::builder().max_capacity(10).build(),
        TrackingMode::Reads,
    );
    assert!(matches!(again, Err(Error::Config(_))));
    drop(near);
    assert!(
        !clockwise_stats::export::prometheus::render(&registry.gather())
            .contains("source=\"users\"")
    );
}
