//! The `/metrics` endpoint against clients that misbehave: idle
//! connections, a client sending a byte at a time, a 64 MiB header line,
//! more connections than it serves at once. Loopback only; every test is
//! bounded in time. They run one at a time (a lock): one reads the
//! process's resident memory.

use clockwise_stats::export::http::{MetricsServer, HEAD_DEADLINE, MAX_CONNECTIONS, MAX_HEAD};
use clockwise_stats::{Registry, Snapshot};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn server() -> (MetricsServer, clockwise_stats::Registration) {
    let registry = Registry::new();
    let registration = registry
        .register("cache", "web", || {
            let mut s = Snapshot::new(Duration::ZERO);
            s.set_counter("hit", 3);
            s
        })
        .unwrap();
    (MetricsServer::start(registry, 0).unwrap(), registration)
}

/// A whole request and its whole answer, with a 10 s bound on each read.
fn scrape(addr: SocketAddr) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    reply
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets the process's peak resident memory (`VmHWM`) to its current
/// resident memory (Linux's `clear_refs` 5).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[test]
fn idle_and_trickling_clients_do_not_delay_a_scrape() {
    let _serial = serial();
    let (server, _r) = server();
    let addr = server.local_addr();
    // Twenty connections that send nothing, and one that sends its request
    // a byte at a time: served one after another with a 5 s timeout each,
    // as before, a scrape behind them waited over 100 s.
    let idle: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut trickle = TcpStream::connect(addr).unwrap();
    trickle.write_all(b"G").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let reply = scrape(addr);
    let took = started.elapsed();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(
        reply.contains("clockwise_cache_hit_total{source=\"web\"} 3"),
        "{reply}"
    );
    assert!(took < Duration::from_secs(1), "the scrape took {took:?}");
    // The trickling client is cut off at the head deadline, however it
    // keeps sending.
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < HEAD_DEADLINE + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(500));
        if trickle.write_all(b"E").is_err() {
            closed = true;
            break;
        }
        trickle
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut byte = [0u8; 1];
        if matches!(trickle.read(&mut byte), Ok(0)) {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a trickling client kept its connection past the deadline"
    );
    assert!(
        started.elapsed() >= HEAD_DEADLINE - Duration::from_secs(1),
        "cut off early"
    );
    drop(idle);
    server.shutdown();
}

#[test]
fn a_huge_header_line_is_refused_without_being_buffered() {
    let _serial = serial();
    let (server, _r) = server();
    let addr = server.local_addr();
    // Warm up: the connection thread, the allocator's arenas.
    assert!(scrape(addr).starts_with("HTTP/1.1 200"));
    let before = status_kib("VmRSS:");
    reset_peak();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nX-Long: ")
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 << 20 {
        if conn.write_all(&chunk).is_err() {
            break; // the server answered and closed
        }
        sent += chunk.len();
    }
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = Vec::new();
    let _ = conn.read_to_end(&mut reply);
    // The peak: a buffer freed after the answer no longer shows in VmRSS.
    let grown = status_kib("VmHWM:").saturating_sub(before);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "{reply}"
    );
    assert!(grown <= 1024, "resident memory peaked {grown} KiB higher");
    assert!(sent < 64 << 20, "the server read all {sent} bytes");
    // A head just under the limit is still served.
    let mut conn = TcpStream::connect(addr).unwrap();
    let pad = "a".repeat(MAX_HEAD - 100);
    write!(conn, "GET /metrics HTTP/1.1\r\nX-Pad: {pad}\r\n\r\n").unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "{}",
        &reply[..40.min(reply.len())]
    );
    server.shutdown();
}

#[test]
fn connections_past_the_limit_get_503_at_once() {
    let _serial = serial();
    let (server, _r) = server();
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // Let the accept loop take them all.
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let reply = scrape(addr);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        started.elapsed() < HEAD_DEADLINE,
        "refused only after waiting"
    );
    assert_eq!(server.refused(), 1);
    drop(idle);
    // The idle connections' threads see the close and end: scrapes go
    // through again.
    let started = Instant::now();
    loop {
        let reply = scrape(addr);
        if reply.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.shutdown();
}
