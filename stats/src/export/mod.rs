//! Exporters: everything in a [`Registry`](crate::Registry), rendered for
//! the systems that watch it.
//!
//! - [`prometheus`]: text exposition 0.0.4, and [`http`] serves it on
//!   `/metrics`.
//! - [`statsd`]: StatsD / DogStatsD datagrams from a background thread.
//! - [`json`]: the snapshots through serde.
//! - `metrics_bridge` (cargo feature `metrics`): publishes into the
//!   [`metrics`](https://docs.rs/metrics) facade.
//!
//! All of them read only snapshots, which are merged on demand from the
//! sources' striped counters: an exporter never takes a lock a cache
//! operation takes, and its failures (a closed socket, a slow scraper) are
//! counted and stay in the exporter.
//!
//! Family names for a source of subsystem `cache` (the engine's caches):
//!
//! | snapshot metric | Prometheus family | labels |
//! |---|---|---|
//! | `hit`, `miss_absent`, `miss_expired` | `clockwise_cache_requests_total` | `cache`, `result` |
//! | `removed_{capacity,expired,explicit,replaced}` | `clockwise_cache_removals_total` | `cache`, `cause` |
//! | `load_success`, `load_failure` | `clockwise_cache_loads_total` | `cache`, `result` |
//! | `refresh_{started,succeeded,failed}` | `clockwise_cache_refreshes_total` | `cache`, `result` |
//! | `insert`, `update`, `rejected`, `listener_panic`, … | `clockwise_cache_inserts_total`, `_updates_total`, `_rejections_total`, `_listener_panics_total`, … | `cache` |
//! | gauge `x` | `clockwise_cache_x` | `cache` |
//! | histogram `x` (ns) | `clockwise_cache_x_seconds` summary | `cache`, `quantile` |
//!
//! Other subsystems follow the same scheme with label `source`.

pub mod http;
pub mod json;
#[cfg(feature = "metrics")]
pub mod metrics_bridge;
mod names;
mod periodic;
pub mod prometheus;
pub mod statsd;
