//! The exporters a deployment asks for through its environment, started
//! together: OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its metrics-only
//! form) is set, DogStatsD when `DD_AGENT_HOST` is, both when both are,
//! nothing when neither. An empty variable counts as unset, as the
//! OpenTelemetry specification says.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` | the metrics URL, used as is | |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | the collector's base URL (HTTP appends `/v1/metrics`) | |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL` | `grpc` or `http/protobuf` | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS` | `key=value,…`, values percent-encoded | |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT` | export deadline, milliseconds | 10000 |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | time between exports, milliseconds | 60000 |
//! | `OTEL_SERVICE_NAME` | resource attribute `service.name` | `unknown_service` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | more resource attributes, `key=value,…` | |
//! | `OTEL_SDK_DISABLED` | `true` turns the OTLP export off | `false` |
//! | `DD_AGENT_HOST` | the DogStatsD agent's host | |
//! | `DD_DOGSTATSD_PORT` | its UDP port | 8125 |
//!
//! A malformed variable is an [`EnvError`] naming it; nothing is started
//! then. A collector or agent that is not there is not an error: each
//! exporter counts its failed sends and reports the first on standard
//! error, and cache operations never see them.

use super::statsd::{StatsdConfig, StatsdEmitter};
use crate::Registry;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
#[cfg(feature = "otel")]
use {
    super::otel::{OtlpConfig, OtlpExporter, Protocol},
    std::time::Duration,
};

/// Why [`from_env`] started nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum EnvError {
    /// A variable is set to something it cannot mean.
    Malformed {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An OTLP endpoint is set, but this build has no OTLP exporter (the
    /// crate's `otel` feature is off).
    OtlpNotBuilt,
    /// An exporter's thread or socket could not be made.
    Start(std::io::Error),
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::Malformed { var, value, reason } => {
                write!(f, "{var}={value:?}: {reason}")
            }
            EnvError::OtlpNotBuilt => f.write_str(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but clockwise-stats was built without its `otel` feature",
            ),
            EnvError::Start(e) => write!(f, "could not start an exporter: {e}"),
        }
    }
}

impl std::error::Error for EnvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EnvError::Start(e) => Some(e),
            _ => None,
        }
    }
}

/// The exporters [`from_env`] started. [`flush`](Self::flush) sends now;
/// dropping it (or [`shutdown`](Self::shutdown)) sends a last time and
/// stops them.
#[derive(Debug, Default)]
pub struct ExportGuard {
    #[cfg(feature = "otel")]
    otlp: Option<OtlpExporter>,
    statsd: Option<StatsdEmitter>,
}

impl ExportGuard {
    /// The OTLP exporter, if the environment asked for one.
    #[cfg(feature = "otel")]
    pub fn otlp(&self) -> Option<&OtlpExporter> {
        self.otlp.as_ref()
    }

    /// The DogStatsD emitter, if the environment asked for one.
    pub fn statsd(&self) -> Option<&StatsdEmitter> {
        self.statsd.as_ref()
    }

    /// True if the environment asked for no exporter.
    pub fn is_empty(&self) -> bool {
        #[cfg(feature = "otel")]
        if self.otlp.is_some() {
            return false;
        }
        self.statsd.is_none()
    }

    /// Sends now from every exporter, and returns when they are done.
    pub fn flush(&self) {
        #[cfg(feature = "otel")]
        if let Some(o) = &self.otlp {
            o.flush();
        }
        if let Some(s) = &self.statsd {
            s.flush();
        }
    }

    /// Sends a last time and stops every exporter (dropping does the same);
    /// it may wait for up to the OTLP export timeout.
    pub fn shutdown(self) {
        drop(self);
    }
}

/// Starts the exporters the process's environment asks for, exporting
/// [`Registry::global`] (where caches register unless told otherwise).
///
/// ```
/// // With none of the variables set, nothing is started.
/// # for v in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "DD_AGENT_HOST"] {
/// #     assert!(std::env::var_os(v).is_none(), "{v} is set");
/// # }
/// let guard = clockwise_stats::export::from_env()?;
/// assert!(guard.is_empty());
/// # Ok::<(), clockwise_stats::export::EnvError>(())
/// ```
pub fn from_env() -> Result<ExportGuard, EnvError> {
    from_vars(Registry::global(), |name| std::env::var(name).ok())
}

/// [`from_env`] for `registry`, reading variables through `var` (a test's
/// map, or a service's own configuration) instead of the process's
/// environment.
///
/// ```
/// use clockwise_stats::{export::{from_vars, EnvError}, Registry};
/// let vars = |name: &str| (name == "DD_DOGSTATSD_PORT").then(|| "eighty".to_string());
/// // The port alone asks for nothing; with a host it is read, and refused.
/// assert!(from_vars(&Registry::new(), vars)?.is_empty());
/// let vars = |name: &str| match name {
///     "DD_AGENT_HOST" => Some("127.0.0.1".to_string()),
///     "DD_DOGSTATSD_PORT" => Some("eighty".to_string()),
///     _ => None,
/// };
/// let err = from_vars(&Registry::new(), vars).unwrap_err();
/// assert!(matches!(err, EnvError::Malformed { var: "DD_DOGSTATSD_PORT", .. }));
/// # Ok::<(), EnvError>(())
/// ```
pub fn from_vars(
    registry: &Registry,
    var: impl Fn(&str) -> Option<String>,
) -> Result<ExportGuard, EnvError> {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let statsd = statsd_config(&var)?;
    #[cfg(feature = "otel")]
    let otlp = otlp_config(&var)?;
    #[cfg(not(feature = "otel"))]
    if [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]
    .iter()
    .any(|v| var(v).is_some())
        && !sdk_disabled(&var)?
    {
        return Err(EnvError::OtlpNotBuilt);
    }
    // Everything is read and checked before anything starts.
    let mut guard = ExportGuard::default();
    #[cfg(feature = "otel")]
    if let Some(config) = otlp {
        guard.otlp = Some(OtlpExporter::start(registry.clone(), config).map_err(EnvError::Start)?);
    }
    if let Some(config) = statsd {
        guard.statsd =
            Some(StatsdEmitter::start(registry.clone(), config).map_err(EnvError::Start)?);
    }
    Ok(guard)
}

fn malformed(var: &'static str, value: &str, reason: impl Into<String>) -> EnvError {
    EnvError::Malformed {
        var,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// `OTEL_SDK_DISABLED`: `true` or `false`, any case.
fn sdk_disabled(var: &impl Fn(&str) -> Option<String>) -> Result<bool, EnvError> {
    const VAR: &str = "OTEL_SDK_DISABLED";
    match var(VAR) {
        None => Ok(false),
        Some(v) if v.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(malformed(VAR, &v, "expected true or false")),
    }
}

/// DogStatsD to `DD_AGENT_HOST`:`DD_DOGSTATSD_PORT`, if the host is set.
fn statsd_config(var: &impl Fn(&str) -> Option<String>) -> Result<Option<StatsdConfig>, EnvError> {
    let Some(host) = var("DD_AGENT_HOST") else {
        return Ok(None);
    };
    let port = match var("DD_DOGSTATSD_PORT") {
        None => 8125,
        Some(p) => match p.trim().parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => {
                return Err(malformed(
                    "DD_DOGSTATSD_PORT",
                    &p,
                    "expected a UDP port, 1 to 65535",
                ))
            }
        },
    };
    let host = host.trim();
    // A bracketed IPv6 literal is taken as written, a bare one bracketed.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let target: Option<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| malformed("DD_AGENT_HOST", host, format!("cannot resolve: {e}")))?
        .next();
    let target =
        target.ok_or_else(|| malformed("DD_AGENT_HOST", host, "resolves to no address"))?;
    Ok(Some(StatsdConfig::new(target).dogstatsd(true)))
}

/// `key=value,…` with percent-encoded values (the W3C baggage form the
/// OpenTelemetry variables use).
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
fn pairs(var: &'static str, value: &str) -> Result<Vec<(String, String)>, EnvError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(malformed(var, value, format!("{item:?} is not key=value")));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(malformed(var, value, format!("{item:?} has no key")));
        }
        let v = percent_decode(v.trim())
            .ok_or_else(|| malformed(var, value, format!("{item:?} has a bad %-escape")))?;
        out.push((k.to_owned(), v));
    }
    Ok(out)
}

/// `s` with each `%XX` replaced by its byte; `None` for a bad escape or
/// bytes that are not UTF-8.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
fn percent_decode(s: &str) -> Option<String> {
    let (bytes, mut out, mut i) = (s.as_bytes(), Vec::with_capacity(s.len()), 0);
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Milliseconds, as the OpenTelemetry variables give durations.
#[cfg(feature = "otel")]
fn millis(var: &'static str, value: &str) -> Result<Duration, EnvError> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(malformed(
            var,
            value,
            "expected a positive whole number of milliseconds",
        )),
    }
}

/// The OTLP exporter's config, if an endpoint is set and the SDK is not
/// disabled. Metrics-only variables win over the general ones.
#[cfg(feature = "otel")]
fn otlp_config(var: &impl Fn(&str) -> Option<String>) -> Result<Option<OtlpConfig>, EnvError> {
    let either = |metrics: &'static str, general: &'static str| {
        var(metrics)
            .map(|v| (metrics, v))
            .or_else(|| var(general).map(|v| (general, v)))
    };
    let Some((endpoint_var, endpoint)) = either(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ) else {
        return Ok(None);
    };
    if sdk_disabled(var)? {
        return Ok(None);
    }
    let protocol = match either(
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ) {
        None => Protocol::HttpProtobuf,
        Some((name, v)) => match v.trim() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            "http/json" => {
                return Err(malformed(
                    name,
                    &v,
                    "http/json is not supported: use grpc or http/protobuf",
                ))
            }
            _ => return Err(malformed(name, &v, "expected grpc or http/protobuf")),
        },
    };
    let endpoint = endpoint.trim();
    // The general endpoint is a base URL: HTTP appends the signal's path.
    let url = if endpoint_var == "OTEL_EXPORTER_OTLP_ENDPOINT" && protocol == Protocol::HttpProtobuf
    {
        format!("{}/v1/metrics", endpoint.trim_end_matches('/'))
    } else {
        endpoint.to_owned()
    };
    let mut config = OtlpConfig::new(url, protocol)
        .map_err(|e| malformed(endpoint_var, endpoint, e.to_string()))?;
    if let Some((name, v)) = either(
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ) {
        for (k, value) in pairs(name, &v)? {
            config = config
                .header(&k, &value)
                .map_err(|e| malformed(name, &v, e.to_string()))?;
        }
    }
    if let Some((name, v)) = either(
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ) {
        config = config.timeout(millis(name, &v)?);
    }
    if let Some(v) = var("OTEL_METRIC_EXPORT_INTERVAL") {
        config = config.interval(millis("OTEL_METRIC_EXPORT_INTERVAL", &v)?);
    }
    if let Some(v) = var("OTEL_RESOURCE_ATTRIBUTES") {
        for (k, value) in pairs("OTEL_RESOURCE_ATTRIBUTES", &v)? {
            config = config.resource(k, value);
        }
    }
    // The specification gives OTEL_SERVICE_NAME precedence over a
    // service.name in OTEL_RESOURCE_ATTRIBUTES.
    if let Some(name) = var("OTEL_SERVICE_NAME") {
        config = config.resource("service.name", name.trim());
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn err_var(list: &[(&str, &str)]) -> &'static str {
        match from_vars(&Registry::new(), vars(list)) {
            Err(EnvError::Malformed { var, .. }) => var,
            other => panic!("{list:?}: expected a malformed variable, got {other:?}"),
        }
    }

    #[test]
    fn nothing_set_starts_nothing_and_empty_counts_as_unset() {
        assert!(from_vars(&Registry::new(), vars(&[])).unwrap().is_empty());
        let blank = [("DD_AGENT_HOST", " "), ("OTEL_EXPORTER_OTLP_ENDPOINT", "")];
        assert!(from_vars(&Registry::new(), vars(&blank))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn dogstatsd_alone_and_malformed_ports_are_named() {
        let guard = from_vars(&Registry::new(), vars(&[("DD_AGENT_HOST", "127.0.0.1")])).unwrap();
        assert!(guard.statsd().is_some());
        for bad in ["0", "65536", "-1", "x"] {
            assert_eq!(
                err_var(&[("DD_AGENT_HOST", "127.0.0.1"), ("DD_DOGSTATSD_PORT", bad)]),
                "DD_DOGSTATSD_PORT"
            );
        }
        assert_eq!(
            err_var(&[("DD_AGENT_HOST", "no such host.invalid")]),
            "DD_AGENT_HOST"
        );
    }

    #[test]
    fn pairs_decode_percent_escapes_and_refuse_bad_items() {
        assert_eq!(
            pairs("V", "a=1, b = x%2Cy ,c=%E2%9C%93").unwrap(),
            [
                ("a".into(), "1".into()),
                ("b".into(), "x,y".into()),
                ("c".into(), "✓".into())
            ]
        );
        for bad in ["a", "=1", "a=%zz", "a=%e2"] {
            assert!(
                matches!(pairs("V", bad), Err(EnvError::Malformed { var: "V", .. })),
                "{bad}"
            );
        }
    }

    #[cfg(not(feature = "otel"))]
    #[test]
    fn an_otlp_endpoint_without_the_feature_is_an_error() {
        let set = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")];
        assert!(matches!(
            from_vars(&Registry::new(), vars(&set)),
            Err(EnvError::OtlpNotBuilt)
        ));
        let disabled = [set[0], ("OTEL_SDK_DISABLED", "true")];
        assert!(from_vars(&Registry::new(), vars(&disabled))
            .unwrap()
            .is_empty());
    }

    #[cfg(feature = "otel")]
    #[test]
    fn otlp_variables_are_read_as_the_specification_says() {
        let c = |list: &[(&str, &str)]| otlp_config(&vars(list)).unwrap();
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");
        let http = c(&[base]).unwrap();
        assert_eq!(http.endpoint(), "http://collector:4318/v1/metrics");
        assert_eq!(http.protocol(), Protocol::HttpProtobuf);
        assert_eq!(http.export_interval(), super::super::otel::DEFAULT_INTERVAL);
        let grpc = c(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod",
            ),
            ("OTEL_SERVICE_NAME", "api"),
        ])
        .unwrap();
        assert_eq!(grpc.endpoint(), "http://collector:4317");
        assert_eq!(grpc.export_interval(), Duration::from_millis(1500));
        let mut resource = grpc.resource_attributes().to_vec();
        resource.sort();
        assert_eq!(
            resource,
            [
                ("deployment.environment".into(), "prod".into()),
                ("service.name".into(), "api".into())
            ]
        );
        // The metrics-only endpoint is used as is, and wins.
        let only = c(&[
            base,
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/custom"),
        ])
        .unwrap();
        assert_eq!(only.endpoint(), "http://m:9/custom");
        assert!(c(&[base, ("OTEL_SDK_DISABLED", "TRUE")]).is_none());
    }

    #[cfg(feature = "otel")]
    #[test]
    fn malformed_otlp_variables_are_named() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(
            err_var(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]),
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        );
        assert_eq!(
            err_var(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")]),
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        );
        assert_eq!(
            err_var(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "ftp://c")]),
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
        );
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "GRPC "),
            ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "10s"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad header=1"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=%4"),
            ("OTEL_SDK_DISABLED", "yes"),
        ] {
            assert_eq!(err_var(&[base, (var, value)]), var, "{var}={value}");
        }
        // A bad DogStatsD variable stops the OTLP exporter from starting too.
        let both = [
            base,
            ("DD_AGENT_HOST", "127.0.0.1"),
            ("DD_DOGSTATSD_PORT", "x"),
        ];
        assert_eq!(err_var(&both), "DD_DOGSTATSD_PORT");
    }
}
