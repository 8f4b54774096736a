//! OpenTelemetry export of real caches: the instruments read back through
//! the SDK's in-memory exporter, and the OTLP exporter over both real
//! transports to receivers started on loopback, configured as
//! `from_env` configures it.

use clockwise::stats::export::otel::proto::collector::metrics::v1::{
    metrics_service_server::{MetricsService, MetricsServiceServer},
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use clockwise::stats::export::otel::proto::common::v1::{any_value, KeyValue as ProtoKeyValue};
use clockwise::stats::export::otel::proto::metrics::v1::{metric, number_data_point, Metric};
use clockwise::stats::export::{from_vars, otel, ExportGuard};
use clockwise::stats::{Clock, Mock, Registry};
use clockwise::Cache;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A cache named `name` in `registry` on a mock clock, every get timed,
/// after a scripted sequence: 3 hits, 3 absent misses (one of them a
/// load), 1 expired miss, 1 explicit removal.
fn scripted(registry: &Registry, name: &str) -> (Cache<u64, u64>, Arc<Mock>) {
    let (clock, mock) = Clock::mock();
    let cache = Cache::builder()
        .max_capacity(100)
        .name(name)
        .registry(registry)
        .time_to_live(Duration::from_secs(10))
        .latency_sample_every(1)
        .clock(clock)
        .build();
    cache.insert(1, 10);
    cache.insert(2, 20);
    assert_eq!(cache.get(&1), Some(10));
    assert_eq!(cache.get(&1), Some(10));
    assert_eq!(cache.get(&2), Some(20));
    assert_eq!(cache.get(&8), None);
    assert_eq!(cache.get(&9), None);
    assert_eq!(cache.get_with(5, || 50), 50);
    cache.invalidate(&2);
    mock.increment(Duration::from_secs(5));
    cache.insert(3, 30);
    mock.increment(Duration::from_secs(11));
    assert_eq!(cache.get(&3), None);
    (cache, mock)
}

/// The read outcomes every test expects of `scripted`.
const REQUESTS: [(&str, u64); 3] = [("hit", 3), ("miss_absent", 3), ("miss_expired", 1)];

/// `(name, attributes) -> value` of every point of the SDK's last export.
type Points = BTreeMap<(String, Vec<(String, String)>), i128>;

fn sdk_points(exporter: &InMemoryMetricExporter) -> (Points, BTreeMap<String, String>) {
    let (mut points, mut units) = (Points::new(), BTreeMap::new());
    let exported = exporter.get_finished_metrics().unwrap();
    let last = exported.last().expect("the SDK exported nothing");
    for scope in last.scope_metrics() {
        for m in scope.metrics() {
            units.insert(m.name().to_owned(), m.unit().to_owned());
            let mut add = |attrs: Vec<(String, String)>, v: i128| {
                points.insert((m.name().to_owned(), attrs), v);
            };
            let attrs = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                let mut a: Vec<_> = kvs
                    .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect();
                a.sort();
                a
            };
            match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    assert!(sum.is_monotonic(), "{} is not monotonic", m.name());
                    for p in sum.data_points() {
                        add(attrs(&mut p.attributes()), p.value().into());
                    }
                }
                AggregatedMetrics::I64(MetricData::Gauge(g)) => {
                    for p in g.data_points() {
                        add(attrs(&mut p.attributes()), p.value().into());
                    }
                }
                other => panic!("{}: unexpected data {other:?}", m.name()),
            }
        }
    }
    (points, units)
}

fn key(name: &str, attrs: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut a: Vec<_> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    a.sort();
    (name.to_owned(), a)
}

#[test]
fn the_instruments_read_back_through_the_sdk() {
    let registry = Registry::new();
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let observed = clockwise::otel::observe(&provider.meter("test"), &registry);
    // 13 counter families and 7 gauges.
    assert_eq!(observed.len(), 20);
    let (cache, _mock) = scripted(&registry, "users");
    provider.force_flush().unwrap();
    let (points, units) = sdk_points(&exporter);

    for (result, n) in REQUESTS {
        let k = key(
            "clockwise.cache.requests",
            &[("cache", "users"), ("result", result)],
        );
        assert_eq!(points.get(&k), Some(&(n as i128)), "{k:?}");
    }
    let removals = |cause| {
        points[&key(
            "clockwise.cache.removals",
            &[("cache", "users"), ("cause", cause)],
        )]
    };
    assert_eq!(removals("explicit"), 1);
    assert_eq!(removals("capacity"), 0);
    let loads = |result| {
        points[&key(
            "clockwise.cache.loads",
            &[("cache", "users"), ("result", result)],
        )]
    };
    assert_eq!((loads("success"), loads("failure")), (1, 0));
    assert_eq!(
        points[&key("clockwise.cache.inserts", &[("cache", "users")])],
        4
    );
    let gauge = |name: &str| points[&key(name, &[("cache", "users")])];
    assert_eq!(gauge("clockwise.cache.capacity"), 100);
    assert_eq!(
        gauge("clockwise.cache.entries"),
        i128::from(cache.entry_count())
    );
    assert_eq!(
        gauge("clockwise.cache.weighted_size"),
        i128::from(cache.weighted_size())
    );
    assert_eq!(
        gauge("clockwise.cache.hot_size") + gauge("clockwise.cache.cold_size"),
        i128::from(cache.weighted_size())
    );
    assert_eq!(units["clockwise.cache.requests"], "{request}");
    assert_eq!(units["clockwise.cache.entries"], "{entry}");
    assert_eq!(units["clockwise.cache.capacity"], "{weight}");
    // The hidden `get` counter (the sum of the three results) is not
    // exported.
    assert!(!units.contains_key("clockwise.cache.get"));

    // Later operations show in the next collection: the callbacks gather
    // anew each time.
    cache.get(&1);
    provider.force_flush().unwrap();
    let (points, _) = sdk_points(&exporter);
    let misses = key(
        "clockwise.cache.requests",
        &[("cache", "users"), ("result", "miss_expired")],
    );
    assert_eq!(points[&misses], 2);
    provider.shutdown().unwrap();
}

#[test]
fn histograms_are_built_from_the_merged_hdr_counts() {
    let registry = Registry::new();
    let (cache, _mock) = scripted(&registry, "users");
    let request = otel::encode(&registry.gather(), &[], SystemTime::now());
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let get = metrics
        .iter()
        .find(|m| m.name == "clockwise.cache.get_latency")
        .expect("no get latency");
    assert_eq!(get.unit, "s");
    let Some(metric::Data::Histogram(h)) = &get.data else {
        panic!("get latency is not a histogram")
    };
    let point = &h.data_points[0];
    let snapshot = cache.stats();
    let hdr = snapshot.get_latency().expect("no get latency in the stats");
    // Every get was timed: 3 hits + 3 absent (the loading get included) +
    // 1 expired.
    assert_eq!(point.count, 7);
    assert_eq!(point.count, hdr.count());
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
    assert_eq!(point.bucket_counts.len(), point.explicit_bounds.len() + 1);
    let bounds: Vec<f64> = hdr.buckets().map(|(_, hi, _)| hi as f64 / 1e9).collect();
    assert_eq!(point.explicit_bounds, bounds);
    assert!(point.explicit_bounds.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(attribute(&point.attributes, "cache"), Some("users"));
}

fn attribute<'a>(attrs: &'a [ProtoKeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// What a receiver got: each request with its `authorization` header.
type Received = Arc<Mutex<Vec<(ExportMetricsServiceRequest, Option<String>)>>>;

/// The three read outcomes of cache `name` in the last request received.
fn requests_of(received: &Received, name: &str) -> BTreeMap<String, i64> {
    let got = received.lock().unwrap();
    let (request, _) = got.last().expect("the receiver got nothing");
    let metrics: Vec<&Metric> = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect();
    let requests = metrics
        .iter()
        .find(|m| m.name == "clockwise.cache.requests")
        .expect("no clockwise.cache.requests");
    let Some(metric::Data::Sum(sum)) = &requests.data else {
        panic!("requests is not a sum")
    };
    sum.data_points
        .iter()
        .filter(|p| attribute(&p.attributes, "cache") == Some(name))
        .map(|p| {
            let result = attribute(&p.attributes, "result").unwrap().to_owned();
            let Some(number_data_point::Value::AsInt(v)) = p.value else {
                panic!("not an integer point")
            };
            (result, v)
        })
        .collect()
}

fn expected() -> BTreeMap<String, i64> {
    REQUESTS
        .iter()
        .map(|&(r, n)| (r.to_owned(), n as i64))
        .collect()
}

fn service_name(received: &Received) -> String {
    let got = received.lock().unwrap();
    let resource = got[0].0.resource_metrics[0].resource.clone().unwrap();
    attribute(&resource.attributes, "service.name")
        .unwrap()
        .to_owned()
}

struct Grpc(Received);

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.0.lock().unwrap().push((request.into_inner(), auth));
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 2,
                error_message: "two points refused, for the test".into(),
            }),
        }))
    }
}

/// A runtime for the receivers, on threads of its own.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A gRPC `MetricsService` on a free loopback port.
fn grpc_receiver(rt: &tokio::runtime::Runtime) -> (String, Received) {
    let received = Received::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let service = MetricsServiceServer::new(Grpc(received.clone()));
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (format!("http://{addr}"), received)
}

/// An HTTP endpoint decoding OTLP protobuf bodies POSTed to `/v1/metrics`
/// on a free loopback port; anything else gets 404.
fn http_receiver(rt: &tokio::runtime::Runtime) -> (String, Received) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response, StatusCode};
    let received = Received::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let store = received.clone();
    rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let store = store.clone();
                    async move {
                        let ok = req.method() == hyper::Method::POST
                            && req.uri().path() == "/v1/metrics"
                            && req.headers()["content-type"] == "application/x-protobuf";
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = req.into_body().collect().await?.to_bytes();
                        if !ok {
                            let mut not_found = Response::new(Full::new(Bytes::new()));
                            *not_found.status_mut() = StatusCode::NOT_FOUND;
                            return Ok::<_, hyper::Error>(not_found);
                        }
                        let request = ExportMetricsServiceRequest::decode(body)
                            .expect("the body is not an OTLP metrics request");
                        store.lock().unwrap().push((request, auth));
                        let answer = ExportMetricsServiceResponse::default().encode_to_vec();
                        Ok(Response::new(Full::new(Bytes::from(answer))))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), received)
}

/// `from_vars` over `list`, exporting `registry`.
fn start(registry: &Registry, list: &[(&str, String)]) -> ExportGuard {
    let map: BTreeMap<String, String> = list
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    from_vars(registry, move |name| map.get(name).cloned()).unwrap()
}

#[test]
fn otlp_over_grpc_reaches_a_real_metrics_service() {
    let rt = runtime();
    let (endpoint, received) = grpc_receiver(&rt);
    let registry = Registry::new();
    let (_cache, _mock) = scripted(&registry, "users");
    let guard = start(
        &registry,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20t0k".into(),
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".into()),
            ("OTEL_SERVICE_NAME", "api".into()),
        ],
    );
    guard.flush();
    let otlp = guard.otlp().unwrap();
    assert_eq!((otlp.exports(), otlp.send_errors()), (1, 0));
    assert_eq!(otlp.rejected_points(), 2, "the partial success is counted");
    assert_eq!(requests_of(&received, "users"), expected());
    assert_eq!(received.lock().unwrap()[0].1.as_deref(), Some("Bearer t0k"));
    assert_eq!(service_name(&received), "api");
    // Dropping the guard exports a last time.
    drop(guard);
    assert_eq!(received.lock().unwrap().len(), 2);
}

#[test]
fn otlp_over_http_protobuf_reaches_a_real_endpoint() {
    let rt = runtime();
    let (endpoint, received) = http_receiver(&rt);
    let registry = Registry::new();
    let (_cache, _mock) = scripted(&registry, "users");
    // The base endpoint gets /v1/metrics appended, as the specification
    // says for HTTP.
    let guard = start(
        &registry,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=k%3Dv".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".into()),
        ],
    );
    guard.flush();
    let otlp = guard.otlp().unwrap();
    assert_eq!((otlp.exports(), otlp.send_errors()), (1, 0));
    assert_eq!(requests_of(&received, "users"), expected());
    assert_eq!(received.lock().unwrap()[0].1.as_deref(), Some("k=v"));
    assert_eq!(service_name(&received), "unknown_service");
    guard.shutdown();
}

/// `from_vars` with an OTLP endpoint on loopback port `port`, over
/// `protocol`, each export given `timeout_ms`, and no periodic export
/// within a test.
fn to_loopback_port(
    registry: &Registry,
    port: u16,
    protocol: &str,
    timeout_ms: u64,
) -> ExportGuard {
    start(
        registry,
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.into()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", timeout_ms.to_string()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".into()),
        ],
    )
}

#[test]
fn a_collector_that_is_not_there_is_counted_and_the_cache_keeps_serving() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for protocol in ["grpc", "http/protobuf"] {
        let registry = Registry::new();
        let (cache, _mock) = scripted(&registry, "users");
        let guard = to_loopback_port(&registry, port, protocol, 2000);
        guard.flush();
        guard.flush();
        let otlp = guard.otlp().unwrap();
        assert_eq!((otlp.exports(), otlp.send_errors()), (0, 2), "{protocol}");
        cache.insert(7, 70);
        assert_eq!(cache.get(&7), Some(70));
    }
}

#[test]
fn otlp_and_dogstatsd_run_together_when_both_are_set() {
    let rt = runtime();
    let (endpoint, received) = http_receiver(&rt);
    let agent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    agent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let registry = Registry::new();
    let (_cache, _mock) = scripted(&registry, "users");
    let guard = start(
        &registry,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".into()),
            ("DD_AGENT_HOST", "127.0.0.1".into()),
            (
                "DD_DOGSTATSD_PORT",
                agent.local_addr().unwrap().port().to_string(),
            ),
        ],
    );
    guard.flush();
    assert_eq!(requests_of(&received, "users"), expected());
    let mut lines = String::new();
    let mut buf = [0u8; 2048];
    while !lines.contains("clockwise.cache.miss_expired:1|c|#cache:users") {
        let n = agent
            .recv(&mut buf)
            .expect("DogStatsD sent no miss_expired");
        lines.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        lines.push('\n');
    }
    assert!(
        lines.contains("clockwise.cache.hit:3|c|#cache:users"),
        "{lines}"
    );
}

/// `docs/metrics.md`, rebuilt from what the exporters emit for a real
/// cache: each OTLP metric of `otel::encode`, and the Prometheus family it
/// is, checked against the real Prometheus rendering.
fn metric_names_doc() -> String {
    let registry = Registry::new();
    let (_cache, _mock) = scripted(&registry, "users");
    let gathered = registry.gather();
    let request = otel::encode(&gathered, &[], SystemTime::now());
    let prometheus = clockwise::stats::export::prometheus::render(&gathered);
    let mut out = String::from(
        "# Metric names: regenerate with `CLOCKWISE_WRITE_DOCS=1 cargo test -p clockwise --features otel --test otel`\n\n\
         Every metric a cache exports, by its OpenTelemetry name (`clockwise::otel::observe`, the OTLP \
         exporter) and its Prometheus name (`/metrics`), as the exporters emit them for a real cache; the \
         test that writes this file fails when it is out of date. Attributes are the Prometheus labels. \
         StatsD and DogStatsD send each counter by its own name (`clockwise.cache.hit`, the family's label \
         value folded into the name) and the gauges and histograms as named here. Histograms are in the \
         OTLP export only (the OpenTelemetry SDK cannot take a pre-aggregated histogram); Prometheus shows \
         them as summaries.\n\n\
         | OpenTelemetry | kind | unit | Prometheus | attributes | what |\n|---|---|---|---|---|---|\n",
    );
    for m in &request.resource_metrics[0].scope_metrics[0].metrics {
        let (kind, prom_kind, suffix, attrs): (_, _, _, Vec<&[ProtoKeyValue]>) = match &m.data {
            Some(metric::Data::Sum(s)) => (
                "counter",
                "counter",
                "_total",
                s.data_points.iter().map(|p| &p.attributes[..]).collect(),
            ),
            Some(metric::Data::Gauge(g)) => (
                "gauge",
                "gauge",
                "",
                g.data_points.iter().map(|p| &p.attributes[..]).collect(),
            ),
            Some(metric::Data::Histogram(h)) => (
                "histogram",
                "summary",
                "_seconds",
                h.data_points.iter().map(|p| &p.attributes[..]).collect(),
            ),
            other => panic!("{}: unexpected data {other:?}", m.name),
        };
        let prom = format!(
            "clockwise_{}{suffix}",
            m.name.trim_start_matches("clockwise.").replace('.', "_")
        );
        assert!(
            prometheus.contains(&format!("# TYPE {prom} {prom_kind}\n")),
            "{} is not {prom} in the Prometheus rendering",
            m.name
        );
        // Attribute keys in order, with the values of all but the source's.
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        for kvs in attrs {
            for kv in kvs {
                let value = attribute(kvs, &kv.key).unwrap().to_owned();
                match keys.iter_mut().find(|(k, _)| *k == kv.key) {
                    Some((_, values)) => {
                        if kv.key != "cache" && !values.contains(&value) {
                            values.push(value)
                        }
                    }
                    None if kv.key == "cache" => keys.push((kv.key.clone(), Vec::new())),
                    None => keys.push((kv.key.clone(), vec![value])),
                }
            }
        }
        let attributes: Vec<String> = keys
            .iter()
            .map(|(k, values)| match values.is_empty() {
                true => format!("`{k}`"),
                false => format!("`{k}`: {}", values.join(", ")),
            })
            .collect();
        let unit = if m.unit.is_empty() {
            String::new()
        } else {
            format!("`{}`", m.unit)
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {unit} | `{prom}` | {} | {} |\n",
            m.name,
            attributes.join("; "),
            m.description.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn docs_metrics_md_lists_what_the_exporters_emit() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
    let doc = metric_names_doc();
    if std::env::var_os("CLOCKWISE_WRITE_DOCS").is_some() {
        std::fs::write(path, &doc).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == doc,
        "docs/metrics.md is out of date: run the command in its first line"
    );
}

#[test]
fn a_collector_that_never_answers_costs_one_timeout_per_export() {
    // Accepts connections and reads nothing back: every export must end at
    // its deadline, and stopping must not wait longer than one.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Held open by a thread the test leaves blocked in `accept`.
    std::thread::spawn(move || {
        let mut conns = Vec::new();
        for conn in listener.incoming() {
            conns.push(conn);
        }
    });
    for protocol in ["grpc", "http/protobuf"] {
        let registry = Registry::new();
        let (cache, _mock) = scripted(&registry, "users");
        let guard = to_loopback_port(&registry, port, protocol, 200);
        let began = std::time::Instant::now();
        guard.flush();
        let otlp = guard.otlp().unwrap();
        assert_eq!((otlp.exports(), otlp.send_errors()), (0, 1), "{protocol}");
        cache.insert(7, 70);
        assert_eq!(
            cache.get(&7),
            Some(70),
            "{protocol}: the cache serves meanwhile"
        );
        // The flush and the last export of the shutdown: two deadlines, not
        // the default ten seconds each.
        guard.shutdown();
        let took = began.elapsed();
        assert!(took < Duration::from_secs(5), "{protocol}: took {took:?}");
    }
}
