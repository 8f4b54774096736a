//! An OTLP push exporter: every interval, on its own thread, the registry
//! is gathered, [`encode`]d into one request and sent over gRPC or
//! HTTP/protobuf, with a deadline. The thread owns a current-thread tokio
//! runtime, so the exporter needs none from its host and never blocks one:
//! it works the same from async and plain-threaded services.
//!
//! A failed export (nothing listening, a timeout, a non-2xx answer, a gRPC
//! error) is counted ([`OtlpExporter::send_errors`]) and reported on
//! standard error once per exporter; it never reaches a cache operation.

use super::encode;
use crate::export::periodic::Periodic;
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::Registry;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::Uri;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    metrics_service_client::MetricsServiceClient, ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
};
use prost::Message;
use std::fmt;
use std::time::{Duration, SystemTime};
use tonic::metadata::{Ascii, MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`), to the collector's
    /// address (port 4317 by convention).
    Grpc,
    /// Protobuf over HTTP/1.1 (`http/protobuf`), POSTed to the metrics
    /// URL (`…:4318/v1/metrics` by convention).
    HttpProtobuf,
}

/// Why an [`OtlpConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpError {
    /// The endpoint is not an absolute `http://host[:port][/path]` URL.
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `https` endpoint: this exporter has no TLS built in (send to a
    /// local collector or agent, which forwards over TLS).
    Tls(String),
    /// A header whose name or value HTTP and gRPC metadata cannot carry.
    Header(String),
}

impl fmt::Display for OtlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpError::Endpoint { endpoint, reason } => {
                write!(f, "OTLP endpoint {endpoint:?}: {reason}")
            }
            OtlpError::Tls(endpoint) => write!(
                f,
                "OTLP endpoint {endpoint:?} uses https, and this exporter has no TLS: \
                 send to a local collector over http"
            ),
            OtlpError::Header(name) => write!(f, "OTLP header {name:?} is not a valid header"),
        }
    }
}

impl std::error::Error for OtlpError {}

/// Where and how to send.
///
/// ```
/// use clockwise_stats::export::otel::{OtlpConfig, Protocol};
/// use std::time::Duration;
/// let config = OtlpConfig::new("http://127.0.0.1:4318/v1/metrics", Protocol::HttpProtobuf)?
///     .interval(Duration::from_secs(15))
///     .header("authorization", "Bearer abc")?
///     .resource("service.name", "api");
/// assert_eq!(config.endpoint(), "http://127.0.0.1:4318/v1/metrics");
/// assert!(OtlpConfig::new("https://collector:4317", Protocol::Grpc).is_err());
/// // gRPC metadata carries visible ASCII only, so both transports refuse the rest.
/// assert!(config.clone().header("x-team", "équipe").is_err());
/// assert!(config.clone().header("bad name", "1").is_err());
/// # Ok::<(), clockwise_stats::export::otel::OtlpError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    endpoint: String,
    uri: Uri,
    protocol: Protocol,
    interval: Duration,
    timeout: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    resource: Vec<(String, String)>,
}

/// The interval OpenTelemetry's periodic reader defaults to.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The export deadline OpenTelemetry's exporters default to.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl OtlpConfig {
    /// Sends to `endpoint` (for [`Protocol::HttpProtobuf`], the full
    /// metrics URL) every [`DEFAULT_INTERVAL`], each export given
    /// [`DEFAULT_TIMEOUT`], under resource `service.name=unknown_service`.
    pub fn new(endpoint: impl Into<String>, protocol: Protocol) -> Result<OtlpConfig, OtlpError> {
        let endpoint = endpoint.into();
        let bad = |reason: &str| OtlpError::Endpoint {
            endpoint: endpoint.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = endpoint
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(OtlpError::Tls(endpoint)),
            Some(_) => return Err(bad("the scheme must be http")),
            None => return Err(bad("not an absolute URL (http://host:port)")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        Ok(OtlpConfig {
            endpoint,
            uri,
            protocol,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            headers: Vec::new(),
            resource: vec![("service.name".into(), "unknown_service".into())],
        })
    }

    /// Time between exports (at least 10 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Deadline of one export, connection included (at least 1 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// A header sent with every export (gRPC metadata for
    /// [`Protocol::Grpc`]), such as an API key.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, OtlpError> {
        let name_ = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| OtlpError::Header(name.to_owned()))?;
        // Visible ASCII only: gRPC metadata carries nothing else, and a
        // header that one transport would drop is refused here instead.
        let value = HeaderValue::from_str(value)
            .ok()
            .filter(|v| {
                v.to_str().is_ok() && MetadataKey::<Ascii>::from_bytes(name_.as_ref()).is_ok()
            })
            .ok_or_else(|| OtlpError::Header(name.to_owned()))?;
        self.headers.push((name_, value));
        Ok(self)
    }

    /// A resource attribute (`service.name`, `deployment.environment`…);
    /// a key given twice keeps the last value.
    pub fn resource(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        self.resource.retain(|(k, _)| *k != key);
        self.resource.push((key, value));
        self
    }

    /// The endpoint as given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The transport.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The time between exports.
    pub fn export_interval(&self) -> Duration {
        self.interval
    }

    /// The resource attributes every export carries.
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource
    }
}

/// Counts an exporter keeps, shared with its thread.
#[derive(Debug, Default)]
struct Counts {
    exports: AtomicU64,
    errors: AtomicU64,
    rejected_points: AtomicU64,
}

/// The client of one transport, made once and kept between exports.
enum Transport {
    Grpc(MetricsServiceClient<Channel>),
    Http(Client<HttpConnector, Full<Bytes>>),
}

impl Transport {
    /// Sends `request`; the points the receiver says it rejected.
    async fn send(
        &mut self,
        config: &OtlpConfig,
        request: ExportMetricsServiceRequest,
    ) -> Result<i64, String> {
        let response = match self {
            Transport::Grpc(client) => {
                let mut request = tonic::Request::new(request);
                for (name, value) in &config.headers {
                    // `header` admitted only names and values metadata
                    // carries, so neither conversion fails.
                    if let (Ok(k), Ok(v)) = (
                        MetadataKey::from_bytes(name.as_str().as_bytes()),
                        MetadataValue::try_from(value.as_bytes()),
                    ) {
                        request.metadata_mut().insert(k, v);
                    }
                }
                client
                    .export(request)
                    .await
                    .map_err(|s| {
                        let mut m = format!("gRPC status {:?}: {}", s.code(), s.message());
                        if let Some(source) = std::error::Error::source(&s) {
                            m.push_str(": ");
                            m.push_str(&chain(source));
                        }
                        m
                    })?
                    .into_inner()
            }
            Transport::Http(client) => {
                let mut builder = hyper::Request::post(config.uri.clone())
                    .header(CONTENT_TYPE, "application/x-protobuf");
                for (name, value) in &config.headers {
                    builder = builder.header(name, value);
                }
                let body = Full::new(Bytes::from(request.encode_to_vec()));
                let request = builder.body(body).map_err(|e| e.to_string())?;
                let answer = client.request(request).await.map_err(|e| chain(&e))?;
                let status = answer.status();
                let body = answer
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                if !status.is_success() {
                    return Err(format!("HTTP {status}"));
                }
                // An empty or undecodable 2xx body is a success without detail.
                ExportMetricsServiceResponse::decode(body).unwrap_or_default()
            }
        };
        Ok(response
            .partial_success
            .map_or(0, |p| p.rejected_data_points.max(0)))
    }
}

/// `e` and its sources, `: `-separated, each said once: hyper's and
/// tonic's errors say what failed only in their sources ("client error
/// (Connect)", then why), and wrappers often repeat their source's text.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A background thread exporting a [`Registry`] over OTLP every interval,
/// until [`stop`](Self::stop) or drop (which export once more).
///
/// ```no_run
/// use clockwise_stats::export::otel::{OtlpConfig, OtlpExporter, Protocol};
/// use clockwise_stats::Registry;
/// let config = OtlpConfig::new("http://127.0.0.1:4317", Protocol::Grpc)?;
/// let exporter = OtlpExporter::start(Registry::global().clone(), config)?;
/// // … serve …
/// exporter.stop(); // exports a last time
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OtlpExporter {
    counts: Arc<Counts>,
    periodic: Periodic,
}

impl OtlpExporter {
    /// Starts exporting `registry` as `config` says. Fails only if the
    /// thread or its runtime cannot be made; a collector that is not there
    /// is a counted send error, not a start error.
    pub fn start(registry: Registry, config: OtlpConfig) -> std::io::Result<OtlpExporter> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut transport = match config.protocol {
            Protocol::Grpc => {
                let endpoint = Endpoint::from(config.uri.clone()).connect_timeout(config.timeout);
                // A lazy channel connects on first use (and again after a
                // failure), inside an export and under its deadline.
                let _entered = runtime.enter();
                Transport::Grpc(MetricsServiceClient::new(endpoint.connect_lazy()))
            }
            Protocol::HttpProtobuf => {
                let mut connector = HttpConnector::new();
                connector.set_connect_timeout(Some(config.timeout));
                Transport::Http(Client::builder(TokioExecutor::new()).build(connector))
            }
        };
        let counts = Arc::new(Counts::default());
        let theirs = Arc::clone(&counts);
        let mut logged = false;
        let periodic = Periodic::start("clockwise-otlp", config.interval, move || {
            let gathered = registry.gather();
            if gathered.is_empty() {
                return;
            }
            let request = encode(&gathered, &config.resource, SystemTime::now());
            let sent = runtime.block_on(async {
                tokio::time::timeout(config.timeout, transport.send(&config, request))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {:?}", config.timeout)))
            });
            match sent {
                Ok(rejected) => {
                    theirs.exports.fetch_add(1, Ordering::Relaxed);
                    let rejected = u64::try_from(rejected).unwrap_or(0);
                    theirs
                        .rejected_points
                        .fetch_add(rejected, Ordering::Relaxed);
                }
                Err(e) => {
                    theirs.errors.fetch_add(1, Ordering::Relaxed);
                    if !logged {
                        logged = true;
                        eprintln!(
                            "clockwise-stats: OTLP export to {} failed: {e} (counted; reported once)",
                            config.endpoint
                        );
                    }
                }
            }
        })?;
        Ok(OtlpExporter { counts, periodic })
    }

    /// Exports now, on the exporter's thread, and returns when that export
    /// is done (sent, or counted as failed within the timeout).
    pub fn flush(&self) {
        self.periodic.run_now();
    }

    /// Exports the receiver accepted so far.
    pub fn exports(&self) -> u64 {
        self.counts.exports.load(Ordering::Relaxed)
    }

    /// Exports that failed so far (nothing listening, timeout, an error
    /// answer).
    pub fn send_errors(&self) -> u64 {
        self.counts.errors.load(Ordering::Relaxed)
    }

    /// Data points receivers said they rejected (OTLP partial success).
    pub fn rejected_points(&self) -> u64 {
        self.counts.rejected_points.load(Ordering::Relaxed)
    }

    /// Exports a last time and joins the thread (dropping does the same),
    /// so it may wait for up to the export timeout.
    pub fn stop(mut self) {
        self.periodic.stop();
    }
}
