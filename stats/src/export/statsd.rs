//! StatsD and DogStatsD over UDP: counter deltas, gauges and timers, sent
//! periodically from a background thread, never from a cache operation.
//!
//! Line formats (`prefix` defaults to `clockwise`):
//!
//! | kind | StatsD | DogStatsD (`.dogstatsd(true)`) |
//! |---|---|---|
//! | counter delta | `clockwise.cache.users.hit:5\|c` | `clockwise.cache.hit:5\|c\|#cache:users` |
//! | gauge | `clockwise.cache.users.entries:42\|g` | `clockwise.cache.entries:42\|g\|#cache:users` |
//! | timer | `clockwise.cache.users.get_latency:0.0012\|ms\|@0.25` | same with `\|#cache:users` |
//!
//! Counters are sent as the change since the previous flush (zero changes
//! are skipped). Latency histograms are sent as timers, one line per
//! occupied HDR bucket of the interval, with the sample rate `@1/n` telling
//! the agent that the line stands for `n` operations: the agent's counts
//! are exact and its percentiles are those of the bucketed distribution.
//! Lines are packed into datagrams of at most `max_packet` bytes (default
//! 1432, under a 1500-byte MTU after IP and UDP headers).
//!
//! A failed send is counted ([`StatsdSender::send_errors`]) and reported on
//! standard error once per sender; it never reaches a cache call.

use super::names::sanitize;
use super::periodic::Periodic;
use crate::registry::Gathered;
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::{Registry, Snapshot};
use std::collections::HashMap;
use std::fmt::Write;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Where and how to send.
///
/// ```
/// use clockwise_stats::export::statsd::StatsdConfig;
/// use std::time::Duration;
/// let config = StatsdConfig::new("127.0.0.1:8125".parse().unwrap())
///     .prefix("myapp")
///     .interval(Duration::from_secs(10))
///     .dogstatsd(true);
/// assert_eq!(config.max_packet_bytes(), 1432);
/// ```
#[derive(Clone, Debug)]
pub struct StatsdConfig {
    target: SocketAddr,
    prefix: String,
    interval: Duration,
    dogstatsd: bool,
    max_packet: usize,
}

impl StatsdConfig {
    /// Sends to `target` every 10 s, prefix `clockwise`, plain StatsD.
    pub fn new(target: SocketAddr) -> StatsdConfig {
        StatsdConfig {
            target,
            prefix: "clockwise".into(),
            interval: Duration::from_secs(10),
            dogstatsd: false,
            max_packet: 1432,
        }
    }

    /// First component of every metric name.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Time between flushes of the background emitter (at least 10 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// DogStatsD tags (`|#cache:users`) instead of the name in the path.
    pub fn dogstatsd(mut self, on: bool) -> Self {
        self.dogstatsd = on;
        self
    }

    /// Largest datagram payload, at least 64 bytes.
    pub fn max_packet(mut self, bytes: usize) -> Self {
        self.max_packet = bytes.max(64);
        self
    }

    /// The largest datagram payload.
    pub fn max_packet_bytes(&self) -> usize {
        self.max_packet
    }
}

/// A StatsD name component: `.`, `:`, `|`, `@`, `#`, `,` and whitespace or
/// control characters, which the line protocol gives meaning, become `_`.
fn component(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || ".:|@#,".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Turns snapshots into lines and sends them. Keeps each source's previous
/// snapshot to send deltas; [`StatsdEmitter`] runs one on a thread.
///
/// ```
/// use clockwise_stats::export::statsd::{StatsdConfig, StatsdSender};
/// use clockwise_stats::{Registry, Snapshot};
/// use std::time::Duration;
///
/// let agent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let mut sender = StatsdSender::new(StatsdConfig::new(agent.local_addr().unwrap())).unwrap();
/// let registry = Registry::new();
/// let _r = registry.register("cache", "users", || {
///     let mut s = Snapshot::new(Duration::ZERO);
///     s.set_counter("hit", 5);
///     s
/// }).unwrap();
/// assert_eq!(sender.flush(&registry), 1);
/// let mut buf = [0; 1500];
/// let n = agent.recv(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"clockwise.cache.users.hit:5|c");
/// ```
#[derive(Debug)]
pub struct StatsdSender {
    socket: UdpSocket,
    config: StatsdConfig,
    previous: HashMap<(String, String), Snapshot>,
    errors: Arc<AtomicU64>,
    logged: bool,
}

impl StatsdSender {
    /// Opens an unbound-port UDP socket aimed at the config's target.
    pub fn new(config: StatsdConfig) -> io::Result<StatsdSender> {
        let local: SocketAddr = if config.target.is_ipv4() {
            "0.0.0.0:0".parse().expect("valid literal")
        } else {
            "[::]:0".parse().expect("valid literal")
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(config.target)?;
        Ok(StatsdSender {
            socket,
            config,
            previous: HashMap::new(),
            errors: Arc::new(AtomicU64::new(0)),
            logged: false,
        })
    }

    /// Datagrams that could not be sent so far.
    pub fn send_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The lines for `gathered`, relative to the previous call.
    pub fn lines(&mut self, gathered: &[Gathered]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut seen = HashMap::with_capacity(gathered.len());
        for g in gathered {
            let key = (g.subsystem.clone(), g.name.clone());
            let interval = match self.previous.get(&key) {
                Some(earlier) => g
                    .snapshot
                    .delta(earlier)
                    .unwrap_or_else(|_| g.snapshot.clone()),
                None => g.snapshot.clone(),
            };
            self.source_lines(g, &g.snapshot, &interval, &mut lines);
            seen.insert(key, g.snapshot.clone());
        }
        // Sources that went away are forgotten.
        self.previous = seen;
        lines
    }

    fn source_lines(
        &self,
        g: &Gathered,
        now: &Snapshot,
        interval: &Snapshot,
        out: &mut Vec<String>,
    ) {
        let c = &self.config;
        let subsystem = component(&sanitize(&g.subsystem));
        let source = component(&g.name);
        let (path, tags) = if c.dogstatsd {
            let key = g.schema.source_label();
            (
                format!("{}.{subsystem}", c.prefix),
                format!("|#{key}:{source}"),
            )
        } else {
            (format!("{}.{subsystem}.{source}", c.prefix), String::new())
        };
        for (metric, delta) in interval.counters() {
            if delta == 0 || !super::names::exported(metric, g.schema) {
                continue;
            }
            out.push(format!("{path}.{}:{delta}|c{tags}", component(metric)));
        }
        for (metric, level) in now.gauges() {
            let metric = component(metric);
            if level < 0 {
                // A signed gauge value means "adjust by"; set zero first.
                out.push(format!("{path}.{metric}:0|g{tags}"));
            }
            out.push(format!("{path}.{metric}:{level}|g{tags}"));
        }
        for (metric, h) in interval.histograms() {
            if h.is_empty() {
                continue;
            }
            let metric = component(metric);
            let hdr = h.to_hdr();
            for v in hdr.iter_recorded() {
                let n = v.count_at_value();
                let ms = hdr.median_equivalent(v.value_iterated_to()) as f64 / 1e6;
                let mut line = format!("{path}.{metric}:{ms}|ms");
                if n > 1 {
                    let _ = write!(line, "|@{}", 1.0 / n as f64);
                }
                line.push_str(&tags);
                out.push(line);
            }
        }
    }

    /// Sends the lines for everything in `registry` now; returns the number
    /// of datagrams sent.
    pub fn flush(&mut self, registry: &Registry) -> usize {
        let lines = self.lines(&registry.gather());
        let mut sent = 0;
        for packet in packets(&lines, self.config.max_packet) {
            match self.socket.send(packet.as_bytes()) {
                Ok(_) => sent += 1,
                Err(e) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    if !self.logged {
                        self.logged = true;
                        eprintln!(
                            "clockwise-stats: StatsD send to {} failed: {e} (counted; reported once)",
                            self.config.target
                        );
                    }
                }
            }
        }
        sent
    }
}

/// Packs `lines` into newline-separated datagrams of at most `max` bytes; a
/// single longer line travels alone.
///
/// ```
/// let lines = vec!["a:1|c".to_string(), "b:2|c".to_string(), "c:3|c".to_string()];
/// assert_eq!(clockwise_stats::export::statsd::packets(&lines, 11), ["a:1|c\nb:2|c", "c:3|c"]);
/// ```
pub fn packets(lines: &[String], max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in lines {
        if !current.is_empty() && current.len() + 1 + line.len() > max {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A background thread flushing a [`StatsdSender`] every interval, until
/// [`stop`](Self::stop) or drop (which flush once more).
///
/// ```
/// use clockwise_stats::export::statsd::{StatsdConfig, StatsdEmitter};
/// let agent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let config = StatsdConfig::new(agent.local_addr().unwrap());
/// let emitter = StatsdEmitter::start(clockwise_stats::Registry::new(), config).unwrap();
/// emitter.stop();
/// ```
#[derive(Debug)]
pub struct StatsdEmitter {
    errors: Arc<AtomicU64>,
    periodic: Periodic,
}

impl StatsdEmitter {
    /// Starts flushing `registry` to the config's target.
    pub fn start(registry: Registry, config: StatsdConfig) -> io::Result<StatsdEmitter> {
        let interval = config.interval;
        let mut sender = StatsdSender::new(config)?;
        let errors = Arc::clone(&sender.errors);
        let periodic = Periodic::start("clockwise-statsd", interval, move || {
            sender.flush(&registry);
        })?;
        Ok(StatsdEmitter { errors, periodic })
    }

    /// Datagrams that could not be sent so far.
    pub fn send_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Flushes now, on the emitter's thread, and returns when that flush is
    /// done (sent or counted as failed).
    pub fn flush(&self) {
        self.periodic.run_now();
    }

    /// Flushes a last time and joins the thread (dropping does the same).
    pub fn stop(mut self) {
        self.periodic.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Histogram, HistogramConfig};

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    fn recv_all(agent: &UdpSocket, packets: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..packets {
            let n = agent.recv(&mut buf).unwrap();
            lines.extend(
                std::str::from_utf8(&buf[..n])
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
        lines
    }

    /// A scripted sequence: two flushes, exact lines, counters as deltas.
    #[test]
    fn exact_lines_for_a_scripted_sequence() {
        let agent = receiver();
        let counters = Arc::new(crate::CounterSet::new(["hit", "miss_absent", "get"]).unwrap());
        let latency =
            Arc::new(Histogram::new(HistogramConfig::default(), crate::Clock::new()).unwrap());
        let level = Arc::new(AtomicU64::new(0));
        let registry = Registry::new();
        let (c, l, g) = (counters.clone(), latency.clone(), level.clone());
        let _r = registry
            .register(
                "cache",
                "us.ers:1",
                crate::Described(&crate::schema::TEST_CACHE, move || {
                    let mut s = Snapshot::new(Duration::ZERO);
                    c.snapshot_into("", &mut s);
                    s.set_gauge("entries", g.load(Ordering::Relaxed));
                    s.set_histogram("get_latency", l.snapshot());
                    s
                }),
            )
            .unwrap();
        let mut sender = StatsdSender::new(StatsdConfig::new(agent.local_addr().unwrap())).unwrap();

        counters.add(0, 3); // hit
        counters.add(1, 1); // miss_absent
        counters.add(2, 4); // get: not exported (sum of the results)
        level.store(2, Ordering::Relaxed);
        latency.record(1_000);
        latency.record(1_000);
        latency.record(2_000);
        assert_eq!(sender.flush(&registry), 1);
        assert_eq!(
            recv_all(&agent, 1),
            [
                "clockwise.cache.us_ers_1.hit:3|c",
                "clockwise.cache.us_ers_1.miss_absent:1|c",
                "clockwise.cache.us_ers_1.entries:2|g",
                "clockwise.cache.us_ers_1.get_latency:0.001|ms|@0.5",
                "clockwise.cache.us_ers_1.get_latency:0.002|ms",
            ]
        );

        counters.add(0, 2);
        latency.record(5_000);
        assert_eq!(sender.flush(&registry), 1);
        assert_eq!(
            recv_all(&agent, 1),
            [
                "clockwise.cache.us_ers_1.hit:2|c",
                "clockwise.cache.us_ers_1.entries:2|g",
                // 5000 ns falls in a 4 ns wide bucket; its midpoint is sent.
                "clockwise.cache.us_ers_1.get_latency:0.005002|ms",
            ]
        );
        assert_eq!(sender.send_errors(), 0);
    }

    #[test]
    fn dogstatsd_tags_and_packet_size() {
        let agent = receiver();
        let registry = Registry::new();
        let _r = registry
            .register(
                "cache",
                "web",
                crate::Described(&crate::schema::TEST_CACHE, || {
                    let mut s = Snapshot::new(Duration::ZERO);
                    for i in 0..100 {
                        s.set_counter(format!("counter_{i:03}"), 1);
                    }
                    s.set_gauge("delta", -3);
                    s
                }),
            )
            .unwrap();
        let config = StatsdConfig::new(agent.local_addr().unwrap())
            .dogstatsd(true)
            .max_packet(512);
        let mut sender = StatsdSender::new(config).unwrap();
        let sent = sender.flush(&registry);
        assert!(sent > 1, "{sent} packets for ~3.6 KB of lines");
        let mut buf = [0u8; 2048];
        let mut lines = Vec::new();
        for _ in 0..sent {
            let n = agent.recv(&mut buf).unwrap();
            assert!(n <= 512, "datagram of {n} bytes");
            lines.extend(
                std::str::from_utf8(&buf[..n])
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
        assert_eq!(lines.len(), 102);
        assert_eq!(lines[0], "clockwise.cache.counter_000:1|c|#cache:web");
        assert_eq!(
            &lines[100..],
            [
                "clockwise.cache.delta:0|g|#cache:web",
                "clockwise.cache.delta:-3|g|#cache:web"
            ]
        );
    }

    #[test]
    fn the_emitter_sends_every_interval_and_once_more_at_stop() {
        let agent = receiver();
        let counters = Arc::new(crate::CounterSet::new(["hit"]).unwrap());
        let registry = Registry::new();
        let c = counters.clone();
        let _r = registry
            .register(
                "cache",
                "e",
                crate::Described(&crate::schema::TEST_CACHE, move || {
                    let mut s = Snapshot::new(Duration::ZERO);
                    c.snapshot_into("", &mut s);
                    s
                }),
            )
            .unwrap();
        counters.add(0, 2);
        let config =
            StatsdConfig::new(agent.local_addr().unwrap()).interval(Duration::from_millis(20));
        let emitter = StatsdEmitter::start(registry, config).unwrap();
        assert_eq!(recv_all(&agent, 1), ["clockwise.cache.e.hit:2|c"]);
        counters.add(0, 5);
        emitter.stop();
        // The last flush at stop carries what came after the previous one
        // (possibly split across one regular flush and the final one).
        let mut total = 0;
        while total < 5 {
            for line in recv_all(&agent, 1) {
                total += line
                    .trim_start_matches("clockwise.cache.e.hit:")
                    .trim_end_matches("|c")
                    .parse::<u64>()
                    .unwrap();
            }
        }
        assert_eq!(total, 5);
    }

    #[test]
    fn send_failures_are_counted_not_raised() {
        // A closed local port: sends on a connected UDP socket then fail
        // with ECONNREFUSED after the ICMP error arrives.
        let closed = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let registry = Registry::new();
        let _r = registry
            .register(
                "cache",
                "c",
                crate::Described(&crate::schema::TEST_CACHE, || {
                    let mut s = Snapshot::new(Duration::ZERO);
                    s.set_gauge("entries", 1);
                    s
                }),
            )
            .unwrap();
        let mut sender = StatsdSender::new(StatsdConfig::new(closed)).unwrap();
        let mut sent = 0;
        for _ in 0..20 {
            sent += sender.flush(&registry);
            if sender.send_errors() > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            sender.send_errors() > 0,
            "no failure seen after {sent} sends"
        );
    }
}
