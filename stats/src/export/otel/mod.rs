//! OpenTelemetry (cargo feature `otel`): the registry's sources as
//! instruments on a user's [`Meter`] ([`observe`]), as OTLP requests
//! ([`encode`]), and pushed to a collector over gRPC or HTTP/protobuf
//! ([`OtlpExporter`]; [`from_env`](super::from_env) configures it from
//! the standard variables).
//!
//! Names are dotted and lower case: a counter family `f` of subsystem `s`
//! is `clockwise.s.f` (Prometheus: `clockwise_s_f_total`), gauge `g`
//! `clockwise.s.g`, histogram `h` `clockwise.s.h` in seconds (Prometheus:
//! the summary `clockwise_s_h_seconds`). Attributes are the Prometheus
//! labels: the source's name under its schema's label key (`cache`) and
//! the family's label (`result`, `cause`). Units come from the source's
//! [`Schema`](crate::Schema).
//!
//! Latency histograms never go through the SDK's `record`: the SDK has no
//! way to take a pre-aggregated histogram, and replaying samples would put
//! work on the hot path. [`observe`] therefore gives a user's SDK pipeline
//! the counters and gauges, and [`encode`] builds whole requests, histograms
//! included, from merged snapshots at collection time: each occupied HDR
//! bucket becomes an explicit bucket whose bound is the HDR bucket's
//! highest value, so counts and bounds are the HDR histogram's. The bounds
//! of a cumulative series grow as new buckets fill; receivers take bounds
//! per data point.

mod encode;
mod exporter;
mod instruments;
mod names;

pub use encode::encode;
pub use exporter::{
    OtlpConfig, OtlpError, OtlpExporter, Protocol, DEFAULT_INTERVAL, DEFAULT_TIMEOUT,
};
pub use instruments::{observe, Observed};
/// The OpenTelemetry API's meter, which [`observe`] makes instruments on.
pub use opentelemetry::metrics::Meter;
/// The OTLP message types [`encode`] builds (opentelemetry-proto's).
pub use opentelemetry_proto::tonic as proto;
