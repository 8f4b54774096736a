//! A real `redis-server` per test, on a free loopback port, that a test
//! can kill and start again on the same port and data directory.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    dir: PathBuf,
    durable: bool,
    child: Option<Child>,
}

/// Starts a server, or prints why the test is skipped and returns `None`
/// when the binary is absent (`apt-get install redis-server`).
pub fn server() -> Option<Server> {
    start(false)
}

/// As [`server`], with every write synced to the append-only file before
/// it is acknowledged, so a kill loses nothing acknowledged.
pub fn durable_server() -> Option<Server> {
    start(true)
}

fn start(durable: bool) -> Option<Server> {
    if Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server)");
        return None;
    }
    Some(Server::new(free_port(), durable))
}

/// A loopback port nothing listens on now, and that no other call in this
/// process has returned: tests run in parallel, and a port the kernel
/// hands out again just after another test took it (for a server it
/// starts now or later) would put two tests on one server.
pub fn free_port() -> u16 {
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    untaken(&mut taken, || {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    })
}

/// The first port from `next` not in `taken`, which records it.
fn untaken(taken: &mut Vec<u16>, mut next: impl FnMut() -> u16) -> u16 {
    loop {
        let port = next();
        if !taken.contains(&port) {
            taken.push(port);
            return port;
        }
    }
}

/// A port the kernel offers twice is handed out once.
#[test]
fn a_port_offered_twice_is_handed_out_once() {
    let mut taken = Vec::new();
    let mut offers = [40_001, 40_001, 40_002].into_iter();
    assert_eq!(untaken(&mut taken, || offers.next().unwrap()), 40_001);
    assert_eq!(untaken(&mut taken, || offers.next().unwrap()), 40_002);
}

impl Server {
    /// A server on `port` (the tests that start Redis late pick theirs).
    pub fn on_port(port: u16) -> Server {
        Server::new(port, false)
    }

    fn new(port: u16, durable: bool) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "clockwise-redis-test-{}-{port}",
            std::process::id()
        ));
        let mut s = Server {
            port,
            dir,
            durable,
            child: None,
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain client of this server, for the writes of "someone else".
    pub fn raw(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).unwrap();
        c.get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    /// SIGKILL: no shutdown, clients see their connections reset.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server (again) on the same port and data directory; the
    /// append-only file, synced on every write, brings back what was
    /// acknowledged.
    pub fn restart(&mut self) {
        self.kill();
        std::fs::create_dir_all(&self.dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", if self.durable { "yes" } else { "no" }])
            .args(["--appendfsync", "always"])
            .args(["--enable-debug-command", "yes"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                if let Ok(c) = redis::Client::open(self.url()) {
                    if let Ok(mut con) = c.get_connection_with_timeout(Duration::from_millis(200)) {
                        if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                            return;
                        }
                    }
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Held by the runs whose verdict depends on timing (the 50 ms rule, the
/// delay): the tests of one binary run in parallel, and two such runs on
/// a small machine would measure each other.
pub fn alone() -> std::sync::MutexGuard<'static, ()> {
    static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TIMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// p-quantile of sorted durations.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Polls `f` until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every write of a run, per key, in order, with when it was acknowledged;
/// and the rule every read is checked against.
#[derive(Default)]
pub struct History {
    writes: std::sync::Mutex<Vec<Vec<(Instant, i64)>>>,
}

/// A read: which key, when it started, what it returned.
pub type Read = (usize, Instant, Option<i64>);

impl History {
    pub fn new(keys: usize) -> History {
        History {
            writes: std::sync::Mutex::new(vec![Vec::new(); keys]),
        }
    }

    pub fn acked(&self, key: usize, at: Instant, value: i64) {
        self.writes.lock().unwrap()[key].push((at, value));
    }

    /// The reads that returned a value older than the latest write of
    /// their key acknowledged more than `slack` before they started.
    pub fn stale(&self, reads: &[Read], slack: Duration) -> Vec<(Read, i64)> {
        let writes = self.writes.lock().unwrap();
        let mut bad = Vec::new();
        for &(key, start, got) in reads {
            let Some(cutoff) = start.checked_sub(slack) else {
                continue;
            };
            let w = &writes[key];
            let n = w.partition_point(|(at, _)| *at < cutoff);
            if n == 0 {
                continue;
            }
            let due = w[n - 1].1;
            if got.is_none_or(|v| v < due) {
                bad.push(((key, start, got), due));
            }
        }
        bad
    }
}
