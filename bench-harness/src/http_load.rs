//! `clockwise-bench http-load` (feature `http`): a closed-loop HTTP load
//! on loopback. Each of N connections (a thread with its own keep-alive
//! client) sends GETs one after another until the duration or the request
//! budget runs out; the requests of all connections name the given bearer
//! keys in turn;
//! every request's latency goes into an HDR histogram, merged at the end.
//!
//! Loopback only and bounded: the URL's host must be a loopback address,
//! and the connections, duration and request count have ceilings, so a
//! typo cannot turn the harness on another machine or run it for hours.

use crate::Error;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most connections a run opens.
pub const MAX_CONNECTIONS: usize = 256;
/// The longest a run lasts.
pub const MAX_DURATION: Duration = Duration::from_secs(120);
/// The most requests a run sends.
pub const MAX_REQUESTS: u64 = 100_000_000;

/// What to load, and how hard.
#[derive(Clone, Debug)]
pub struct HttpLoad {
    /// A `http://` URL on a loopback host.
    pub url: String,
    /// Concurrent connections, each one request at a time.
    pub connections: usize,
    /// How long to send.
    pub duration: Duration,
    /// Stop after this many requests, whichever comes first.
    pub max_requests: u64,
    /// Sent in turn as `Authorization: Bearer <key>`; none sends no header.
    pub bearer: Vec<String>,
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpLoadReport {
    /// Connections used.
    pub connections: usize,
    /// Seconds the run lasted.
    pub seconds: f64,
    /// Requests answered with a 2xx status.
    pub ok: u64,
    /// Requests answered with another status.
    pub non_2xx: u64,
    /// Requests that got no answer (connection or timeout errors).
    pub errors: u64,
    /// Answered requests a second.
    pub requests_per_sec: f64,
    /// Latency percentiles of answered requests, in microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl HttpLoad {
    /// Checks the bounds and that the URL's host is loopback.
    pub fn validate(&self) -> Result<(), Error> {
        let rest = self
            .url
            .strip_prefix("http://")
            .ok_or_else(|| Error::Config(format!("{:?}: only http:// URLs", self.url)))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let with_port = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<IpAddr> = with_port
            .to_socket_addrs()
            .map_err(|e| Error::Config(format!("{:?}: {e}", self.url)))?
            .map(|a| a.ip())
            .collect();
        if addrs.is_empty() || !addrs.iter().all(IpAddr::is_loopback) {
            return Err(Error::Config(format!(
                "{:?}: the load goes to loopback addresses only",
                self.url
            )));
        }
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(Error::Config(format!(
                "connections must be 1 to {MAX_CONNECTIONS}"
            )));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(Error::Config(format!(
                "duration must be above zero and at most {MAX_DURATION:?}"
            )));
        }
        if self.max_requests == 0 || self.max_requests > MAX_REQUESTS {
            return Err(Error::Config(format!(
                "max requests must be 1 to {MAX_REQUESTS}"
            )));
        }
        Ok(())
    }

    /// Runs the load.
    pub fn run(&self) -> Result<HttpLoadReport, Error> {
        self.validate()?;
        let budget = AtomicU64::new(self.max_requests);
        let start = Instant::now();
        let deadline = start + self.duration;
        let results: Vec<(Histogram<u64>, u64, u64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..self.connections)
                .map(|_| {
                    let budget = &budget;
                    s.spawn(move || self.connection(deadline, budget))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a load thread panicked"))
                .collect()
        });
        let seconds = start.elapsed().as_secs_f64();
        let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        let (mut non_2xx, mut errors) = (0, 0);
        for (h, n, e) in &results {
            all.add(h).expect("same bounds");
            non_2xx += n;
            errors += e;
        }
        let answered = all.len();
        let q = |p: f64| all.value_at_quantile(p) as f64;
        Ok(HttpLoadReport {
            connections: self.connections,
            seconds,
            ok: answered - non_2xx,
            non_2xx,
            errors,
            requests_per_sec: answered as f64 / seconds,
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: all.max() as f64,
        })
    }

    /// One connection's loop: latencies, non-2xx answers, failures.
    fn connection(&self, deadline: Instant, budget: &AtomicU64) -> (Histogram<u64>, u64, u64) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .max_idle_connections_per_host(1)
            .build()
            .new_agent();
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        let (mut non_2xx, mut errors) = (0, 0);
        while Instant::now() < deadline {
            // Relaxed: a shared countdown; no other memory depends on it.
            // What it counted down from numbers the requests, so the keys
            // go round in order across all connections.
            let Ok(left) =
                budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            else {
                break;
            };
            let n = (self.max_requests - left) as usize;
            let mut req = agent.get(&self.url);
            if !self.bearer.is_empty() {
                req = req.header(
                    "Authorization",
                    format!("Bearer {}", self.bearer[n % self.bearer.len()]),
                );
            }
            let sent = Instant::now();
            match req.call() {
                Ok(mut resp) => {
                    // Read the body so the connection is reused.
                    let _ = resp.body_mut().read_to_vec();
                    let us = sent.elapsed().as_micros().max(1) as u64;
                    let _ = hist.record(us.min(60_000_000));
                    if !resp.status().is_success() {
                        non_2xx += 1;
                    }
                }
                Err(_) => errors += 1,
            }
        }
        (hist, non_2xx, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(url: &str) -> HttpLoad {
        HttpLoad {
            url: url.into(),
            connections: 2,
            duration: Duration::from_millis(200),
            max_requests: 1000,
            bearer: vec![],
        }
    }

    #[test]
    fn only_loopback_and_bounded_runs_are_accepted() {
        assert!(load("http://127.0.0.1:8080/whoami").validate().is_ok());
        assert!(load("http://localhost:1/").validate().is_ok());
        assert!(load("http://[::1]:1/").validate().is_ok());
        assert!(load("http://10.1.2.3:80/").validate().is_err());
        assert!(load("https://127.0.0.1/").validate().is_err());
        let mut l = load("http://127.0.0.1:1/");
        l.connections = MAX_CONNECTIONS + 1;
        assert!(l.validate().is_err());
        let mut l = load("http://127.0.0.1:1/");
        l.duration = MAX_DURATION + Duration::from_secs(1);
        assert!(l.validate().is_err());
        let mut l = load("http://127.0.0.1:1/");
        l.max_requests = 0;
        assert!(l.validate().is_err());
    }

    /// A one-file server on loopback: every answer counted, the budget
    /// respected, the keys sent in turn.
    #[test]
    fn a_run_against_a_real_socket_counts_what_it_sent() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let sink = std::sync::Arc::clone(&sink);
                std::thread::spawn(move || {
                    let mut stream = stream.unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        let mut auth = None;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) = line.strip_prefix("authorization: Bearer ") {
                                auth = Some(v.trim().to_owned());
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let key = auth.unwrap_or_default();
                        let status = if key == "bad" {
                            "401 Unauthorized"
                        } else {
                            "200 OK"
                        };
                        sink.lock().unwrap().push(key);
                        // One write: split ones meet Nagle and delayed ACKs.
                        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
                        let _ = stream.write_all(answer.as_bytes());
                    }
                });
            }
        });
        let l = HttpLoad {
            url: format!("http://127.0.0.1:{port}/"),
            connections: 2,
            duration: Duration::from_secs(10),
            max_requests: 300,
            bearer: vec!["a".into(), "b".into(), "bad".into()],
        };
        let r = l.run().unwrap();
        assert_eq!(r.ok + r.non_2xx, 300, "{r:?}");
        assert_eq!(r.errors, 0);
        assert_eq!(r.non_2xx, 100, "every third key is refused");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 300);
        for k in ["a", "b", "bad"] {
            assert_eq!(seen.iter().filter(|s| *s == k).count(), 100, "{k}");
        }
        assert!(r.p50_us > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us);
    }
}
