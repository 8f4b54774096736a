//! Two service processes on loopback ports, one SQLite file and a real
//! `redis-server`: keys created on one authenticate on the other, keys
//! revoked on one are refused by the other within 50 ms, and with Redis
//! killed both keep answering correctly from SQLite.

mod service;
#[path = "../../../redis/tests/support/mod.rs"]
mod support;

use service::{Process, ADMIN};
use std::path::Path;
use std::time::{Duration, Instant};

struct Service {
    /// Kept for its drop, which stops the instance.
    _process: Process,
    base: String,
    http: ureq::Agent,
}

impl Service {
    fn start(name: &str, db: &Path, redis: &str, cache: bool) -> Service {
        let process = Process::start(name, db, redis, cache);
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        Service {
            base: process.base.clone(),
            _process: process,
            http,
        }
    }

    fn whoami(&self, key: &str) -> u16 {
        self.http
            .get(format!("{}/whoami", self.base))
            .header("Authorization", format!("Bearer {key}"))
            .call()
            .unwrap()
            .status()
            .as_u16()
    }

    fn admin(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let mut resp = match method {
            "POST" => self
                .http
                .post(url)
                .header("X-Admin-Token", ADMIN)
                .send_json(&body)
                .unwrap(),
            _ => self
                .http
                .delete(url)
                .header("X-Admin-Token", ADMIN)
                .call()
                .unwrap(),
        };
        let status = resp.status().as_u16();
        let json = resp
            .body_mut()
            .read_json()
            .unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    fn account(&self, name: &str) -> i64 {
        let (s, j) = self.admin(
            "POST",
            "/admin/accounts",
            serde_json::json!({ "name": name }),
        );
        assert_eq!(s, 201);
        j["id"].as_i64().unwrap()
    }

    fn key(&self, account: i64) -> (String, bool) {
        let (s, j) = self.admin(
            "POST",
            "/admin/keys",
            serde_json::json!({ "account": account }),
        );
        assert_eq!(s, 201, "{j}");
        (
            j["key"].as_str().unwrap().to_owned(),
            j["invalidated"].as_bool().unwrap(),
        )
    }

    fn revoke(&self, key: &str) -> bool {
        let (s, j) = self.admin(
            "DELETE",
            &format!("/admin/keys/{key}"),
            serde_json::Value::Null,
        );
        assert_eq!(s, 200, "{j}");
        j["invalidated"].as_bool().unwrap()
    }

    fn linked(&self) -> bool {
        let mut r = self
            .http
            .get(format!("{}/healthz", self.base))
            .call()
            .unwrap();
        let j: serde_json::Value = r.body_mut().read_json().unwrap();
        j["linked"].as_bool().unwrap()
    }

    /// The cache's hit count, from its Prometheus metrics.
    fn hits(&self) -> u64 {
        let text = self.metrics();
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("clockwise_cache_requests_total{") && l.contains("result=\"hit\"")
            })
            .expect("a hit counter");
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }
}

fn db_path(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("api-keys-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("keys.db")
}

/// Polls B until it refuses `key`; the time from `since`.
fn refused_after(b: &Service, key: &str, since: Instant) -> Duration {
    loop {
        if b.whoami(key) == 401 {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(5), "never refused");
    }
}

fn linked(services: &[&Service]) {
    assert!(
        support::eventually(Duration::from_secs(10), || services
            .iter()
            .all(|s| s.linked())),
        "the instances did not link"
    );
}

#[test]
fn keys_created_and_revoked_on_one_instance_hold_on_the_other() {
    let _alone = support::alone();
    let Some(server) = support::server() else {
        return;
    };
    let db = db_path("coherent");
    let a = Service::start("a", &db, &server.url(), true);
    let b = Service::start("b", &db, &server.url(), true);
    linked(&[&a, &b]);
    let account = a.account("acme");
    // An unknown key is refused, and remembered as such: the second ask
    // is a hit of B's cache, not a query.
    assert_eq!(b.whoami("no-such-key"), 401);
    let hits = b.hits();
    assert_eq!(b.whoami("no-such-key"), 401);
    assert_eq!(b.hits(), hits + 1, "the negative entry answered");
    let mut delays = Vec::new();
    for _ in 0..50 {
        let (key, told) = a.key(account);
        assert!(told);
        assert_eq!(b.whoami(&key), 200, "created on A, first try on B");
        assert_eq!(b.whoami(&key), 200, "now a hit on B");
        a.revoke(&key);
        let acked = Instant::now();
        delays.push(refused_after(&b, &key, acked));
        assert_eq!(a.whoami(&key), 401, "the revoking instance refuses at once");
    }
    delays.sort();
    eprintln!(
        "revocation seen by the other instance after: p50 {:?}, max {:?} (50 keys)",
        support::quantile(&delays, 0.5),
        delays.last().unwrap()
    );
    assert!(*delays.last().unwrap() <= Duration::from_millis(50));
    // B served hits from its cache, and its metrics say so.
    let text = b.metrics();
    assert!(text.contains("clockwise_cache_requests_total{cache=\"b\",result=\"hit\"}"));
    assert!(text.contains("clockwise_redis_keys_invalidated_total{source=\"b\"}"));
}

#[test]
fn with_redis_killed_both_answer_from_sqlite_and_revocations_propagate_after_it_returns() {
    let _alone = support::alone();
    let Some(mut server) = support::server() else {
        return;
    };
    let db = db_path("outage");
    let a = Service::start("a", &db, &server.url(), true);
    let b = Service::start("b", &db, &server.url(), true);
    linked(&[&a, &b]);
    let account = a.account("acme");
    let (cached, _) = a.key(account);
    assert_eq!(b.whoami(&cached), 200);

    server.kill();
    assert!(support::eventually(Duration::from_secs(5), || !a.linked() && !b.linked()));
    // Created and revoked while the invalidations cannot travel: both
    // instances answer from SQLite.
    let (key, told) = a.key(account);
    assert!(!told, "the publish failed and says so");
    assert_eq!(b.whoami(&key), 200);
    assert_eq!(a.whoami(&key), 200);
    a.revoke(&cached);
    assert_eq!(
        b.whoami(&cached),
        401,
        "cached before the outage, refused at once"
    );
    a.revoke(&key);
    assert_eq!(b.whoami(&key), 401);

    server.restart();
    linked(&[&a, &b]);
    let (key, told) = a.key(account);
    assert!(told);
    assert_eq!(b.whoami(&key), 200);
    assert_eq!(b.whoami(&key), 200);
    a.revoke(&key);
    let delay = refused_after(&b, &key, Instant::now());
    assert!(delay <= Duration::from_millis(50), "{delay:?}");
}

#[test]
fn without_a_cache_every_answer_comes_from_sqlite() {
    let Some(server) = support::server() else {
        return;
    };
    let db = db_path("plain");
    let a = Service::start("a", &db, &server.url(), false);
    let account = a.account("acme");
    let (key, _) = a.key(account);
    assert_eq!(a.whoami(&key), 200);
    a.revoke(&key);
    assert_eq!(a.whoami(&key), 401);
    assert_eq!(a.whoami(""), 401);
    let (s, _) = a.admin("POST", "/admin/keys", serde_json::json!({ "account": 999 }));
    assert_eq!(s, 404);
    let forbidden = a
        .http
        .post(format!("{}/admin/accounts", a.base))
        .send_json(serde_json::json!({ "name": "x" }))
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(forbidden, 403);
}
