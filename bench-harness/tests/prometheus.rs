//! A real Prometheus server scrapes `clockwise-bench serve` on loopback and
//! answers queries about the cache. Skips (with a message) only where the
//! `prometheus` binary is not installed; `.ci/run` installs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps a child process when dropped, so a failing assertion
/// leaves no server running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes a PromQL query for a URL.
fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET` on loopback; the body, if the status is 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    // Status line "HTTP/1.x 200 OK", whichever version the server speaks.
    let status = head.split_whitespace().nth(1)?;
    (status == "200").then(|| body.to_owned())
}

/// The result vector of an instant query.
fn query(port: u16, promql: &str) -> Vec<serde_json::Value> {
    let Some(body) = http_get(port, &format!("/api/v1/query?query={}", encode(promql))) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[test]
fn prometheus_scrapes_a_running_workload() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: the prometheus binary is not installed (apt-get install prometheus)");
        return;
    }
    // The workload with its endpoint on a free port.
    let mut bench = Reaped(
        Command::new(env!("CARGO_BIN_EXE_clockwise-bench"))
            .args([
                "serve",
                "--port",
                "0",
                "--duration",
                "90",
                "--keys",
                "20000",
                "--capacity",
                "2000",
                "--name",
                "itest",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(bench.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let target = first
        .trim()
        .strip_prefix("serving http://")
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();

    let dir = std::env::temp_dir().join(format!("clockwise-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _prometheus = Reaped(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Bounded wait for the first scraped sample.
    let deadline = Instant::now() + Duration::from_secs(60);
    let requests = loop {
        let r = query(port, "clockwise_cache_requests_total{cache=\"itest\"}");
        if r.len() == 3 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        requests.len(),
        3,
        "no clockwise_cache_requests_total samples from {target} within 60 s"
    );
    let mut results: Vec<&str> = requests
        .iter()
        .map(|s| s["metric"]["result"].as_str().unwrap())
        .collect();
    results.sort_unstable();
    assert_eq!(results, ["hit", "miss_absent", "miss_expired"]);

    let ratio = query(
        port,
        "sum by (cache) (clockwise_cache_requests_total{result=\"hit\"}) / sum by (cache) (clockwise_cache_requests_total)",
    );
    assert_eq!(ratio.len(), 1, "{ratio:?}");
    assert_eq!(ratio[0]["metric"]["cache"], "itest");
    let value: f64 = ratio[0]["value"][1].as_str().unwrap().parse().unwrap();
    // Zipf(0.99) over 20k keys with a 10% cache hits well over a third.
    assert!(value > 0.3 && value < 1.0, "hit ratio {value}");

    let p99 = query(
        port,
        "clockwise_cache_get_latency_seconds{cache=\"itest\",quantile=\"0.99\"}",
    );
    assert_eq!(p99.len(), 1, "{p99:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
