//! Exporters: everything in a [`Registry`](crate::Registry), rendered for
//! the systems that watch it.
//!
//! - [`prometheus`]: text exposition 0.0.4, and [`http`] serves it on
//!   `/metrics`.
//! - [`statsd`]: StatsD / DogStatsD datagrams from a background thread.
//! - [`json`]: the snapshots through serde.
//! - `metrics_bridge` (cargo feature `metrics`): publishes into the
//!   [`metrics`](https://docs.rs/metrics) facade.
//! - `otel` (cargo feature `otel`): OpenTelemetry instruments on a `Meter`,
//!   and OTLP over gRPC or HTTP/protobuf.
//! - [`from_env`]: the exporters a deployment's environment variables ask
//!   for (OTLP, DogStatsD), started together.
//!
//! All of them read only snapshots, which are merged on demand from the
//! sources' striped counters: an exporter never takes a lock a cache
//! operation takes, and its failures (a closed socket, a slow scraper) are
//! counted and stay in the exporter.
//!
//! Names: a source of subsystem `s` is exported under `clockwise_s_…`.
//! Its [`Schema`](crate::Schema) (given by the source: the engine gives
//! its caches') groups counters into labelled families and gives the help
//! texts and the label key naming the source; without one, counter `x` is
//! `clockwise_s_x_total`, gauge `x` `clockwise_s_x`, histogram `x`
//! (nanoseconds) the summary `clockwise_s_x_seconds`, labelled `source`.

mod env;
pub mod http;
pub mod json;
#[cfg(feature = "metrics")]
pub mod metrics_bridge;
mod names;
#[cfg(feature = "otel")]
pub mod otel;
mod periodic;
pub mod prometheus;
pub mod statsd;

pub use env::{from_env, from_vars, EnvError, ExportGuard};
