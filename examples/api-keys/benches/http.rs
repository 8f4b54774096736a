//! The API-key service under HTTP load, with its cache and without it:
//! `cargo bench -p clockwise-api-keys --bench http [-- --json]`.
//!
//! Starts a `redis-server` and the service (a child process each) on free
//! loopback ports, creates 1,000 keys, then alternates three rounds of the
//! cached service against the same binary with `--no-cache` (every request
//! reads SQLite), each round a 0.5 s warm-up and 2 s measured with
//! `clockwise-bench`'s HTTP load mode. Prints the median round of each.

use clockwise_bench::http_load::{HttpLoad, HttpLoadReport};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEYS: usize = 1_000;
const CONNECTIONS: usize = 8;
const ROUNDS: usize = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn service(db: &Path, redis: &str, cache: bool) -> (Killed, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_api-keys"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--redis",
        redis,
        "--admin-token",
        "bench",
    ])
    .arg("--db")
    .arg(db)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if !cache {
        cmd.arg("--no-cache");
    }
    let mut child = cmd.spawn().expect("start the service");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (Killed(child), format!("http://{addr}"))
}

fn load(base: &str, keys: &[String], duration: Duration) -> HttpLoadReport {
    HttpLoad {
        url: format!("{base}/whoami"),
        connections: CONNECTIONS,
        duration,
        max_requests: 100_000_000,
        bearer: keys.to_vec(),
    }
    .run()
    .expect("a loopback load")
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let port = free_port();
    let _redis = Killed(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--bind",
                "127.0.0.1",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install -y redis-server)"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let redis = format!("redis://127.0.0.1:{port}/");
    let dir = std::env::temp_dir().join(format!("api-keys-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("keys.db");

    // The keys, created through the service's own admin API.
    let keys: Vec<String> = {
        let (_svc, base) = service(&db, &redis, true);
        let http = ureq::Agent::new_with_defaults();
        let mut resp = http
            .post(format!("{base}/admin/accounts"))
            .header("X-Admin-Token", "bench")
            .send_json(serde_json::json!({ "name": "bench" }))
            .unwrap();
        let account: serde_json::Value = resp.body_mut().read_json().unwrap();
        (0..KEYS)
            .map(|_| {
                let mut resp = http
                    .post(format!("{base}/admin/keys"))
                    .header("X-Admin-Token", "bench")
                    .send_json(serde_json::json!({ "account": account["id"] }))
                    .unwrap();
                let j: serde_json::Value = resp.body_mut().read_json().unwrap();
                j["key"].as_str().unwrap().to_owned()
            })
            .collect()
    };

    let mut rounds: [Vec<HttpLoadReport>; 2] = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        // Alternate which mode goes first.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for cache in order {
            let (_svc, base) = service(&db, &redis, cache);
            std::thread::sleep(Duration::from_millis(200));
            load(&base, &keys, Duration::from_millis(500));
            rounds[usize::from(!cache)].push(load(&base, &keys, Duration::from_secs(2)));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut rows = Vec::new();
    for (i, mode) in ["clockwise cache", "SQLite only"].into_iter().enumerate() {
        let r = &mut rounds[i];
        r.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
        let median = &r[r.len() / 2];
        rows.push(serde_json::json!({
            "mode": mode,
            "requests_per_sec": median.requests_per_sec,
            "p50_us": median.p50_us,
            "p99_us": median.p99_us,
            "p999_us": median.p999_us,
            "failed": median.non_2xx + median.errors,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
    } else {
        for r in &rows {
            println!(
                "{:<16} {:>8.0} requests/s  p50 {:>5.0} us  p99 {:>6.0} us  p99.9 {:>6.0} us  not 200: {}",
                r["mode"].as_str().unwrap(),
                r["requests_per_sec"].as_f64().unwrap(),
                r["p50_us"].as_f64().unwrap(),
                r["p99_us"].as_f64().unwrap(),
                r["p999_us"].as_f64().unwrap(),
                r["failed"]
            );
        }
    }
}
