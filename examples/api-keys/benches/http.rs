//! The API-key service under HTTP load, with its cache and without it:
//! `cargo bench -p clockwise-api-keys --bench http [-- --json]`.
//!
//! Starts a `redis-server` and the service (a child process each) on free
//! loopback ports, creates 1,000 keys, then alternates three rounds of the
//! cached service against the same binary with `--no-cache` (every request
//! reads SQLite), each round a 0.5 s warm-up and 2 s measured with
//! `clockwise-bench`'s HTTP load mode. Prints the median round of each.

#[path = "../tests/service/mod.rs"]
mod service;
#[path = "../../../redis/tests/support/mod.rs"]
mod support;

use clockwise_bench::http_load::{HttpLoad, HttpLoadReport};
use service::{Process, ADMIN};
use std::time::Duration;

const KEYS: usize = 1_000;
const CONNECTIONS: usize = 8;
const ROUNDS: usize = 3;

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
    let server = support::server().expect("redis-server is needed");
    let redis = server.url();
    let dir = std::env::temp_dir().join(format!("api-keys-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("keys.db");

    // The keys, created through the service's own admin API.
    let keys: Vec<String> = {
        let svc = Process::start("keys", &db, &redis, true);
        let base = &svc.base;
        let http = ureq::Agent::new_with_defaults();
        let mut resp = http
            .post(format!("{base}/admin/accounts"))
            .header("X-Admin-Token", ADMIN)
            .send_json(serde_json::json!({ "name": "bench" }))
            .unwrap();
        let account: serde_json::Value = resp.body_mut().read_json().unwrap();
        (0..KEYS)
            .map(|_| {
                let mut resp = http
                    .post(format!("{base}/admin/keys"))
                    .header("X-Admin-Token", ADMIN)
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
            let svc = Process::start("bench", &db, &redis, cache);
            std::thread::sleep(Duration::from_millis(200));
            load(&svc.base, &keys, Duration::from_millis(500));
            rounds[usize::from(!cache)].push(load(&svc.base, &keys, Duration::from_secs(2)));
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
