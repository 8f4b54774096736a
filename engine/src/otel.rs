//! OpenTelemetry instruments for caches (cargo feature `otel`).

use crate::metrics::SCHEMA;
use clockwise_stats::export::otel::{self, Meter, Observed};
use clockwise_stats::Registry;

/// Makes OpenTelemetry instruments on `meter` for every cache registered
/// in `registry` (now or later): observable counters
/// `clockwise.cache.requests` (attributes `cache`, `result`: `hit`,
/// `miss_absent`, `miss_expired`), `clockwise.cache.removals` (`cause`),
/// `clockwise.cache.loads` (`result`) and the rest of the cache's counter
/// families, and observable gauges `clockwise.cache.entries`,
/// `weighted_size`, `capacity`, `hot_size`, `cold_size` and `test_size`.
/// Their callbacks read merged snapshots at collection time; no cache
/// operation does any work for them. Latency histograms are in the OTLP
/// export ([`clockwise_stats::export::otel::OtlpExporter`],
/// [`clockwise_stats::export::from_env`]), which the SDK cannot carry.
///
/// ```
/// use clockwise::stats::Registry;
/// let registry = Registry::new();
/// let users: clockwise::Cache<u64, String> = clockwise::Cache::builder()
///     .max_capacity(1000)
///     .name("users")
///     .registry(&registry)
///     .build();
/// let meter = opentelemetry::global::meter("my-service");
/// let _instruments = clockwise::otel::observe(&meter, &registry);
/// users.get(&1); // counted as clockwise.cache.requests{cache="users",result="miss_absent"}
/// ```
pub fn observe(meter: &Meter, registry: &Registry) -> Observed {
    otel::observe(meter, registry, "cache", &SCHEMA)
}
