//! A minimal `/metrics` HTTP endpoint on its own thread.
//!
//! One thread accepts connections and answers them one at a time: `GET
//! /metrics` renders the registry in Prometheus text format, anything else
//! gets 404 or 405. A scrape only reads the sources' striped counters and
//! gauges (see [`Registry::gather`](crate::Registry::gather)); it takes no
//! lock a cache operation takes. Each connection has a 5 s read and write
//! timeout, so a stalled client delays other scrapes at most that long and
//! never a cache.

use super::prometheus;
use crate::sync::{thread, Arc, AtomicBool, AtomicU64, Ordering};
use crate::Registry;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read before answering 431.
const MAX_HEAD: usize = 8 * 1024;

/// A running `/metrics` endpoint; stops (and joins its thread) on
/// [`shutdown`](Self::shutdown) or drop.
///
/// ```
/// use clockwise_stats::{export::http::MetricsServer, Registry};
/// use std::io::{Read, Write};
///
/// let server = MetricsServer::start(Registry::new(), 0).unwrap(); // 127.0.0.1, any free port
/// let mut conn = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
/// let mut reply = String::new();
/// conn.read_to_string(&mut reply).unwrap();
/// assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
/// server.shutdown();
/// ```
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Set once by `shutdown`; the accept loop checks it after each accept.
    /// Relaxed: the wake-up connection made after the store is what makes
    /// the loop look, and the join afterwards orders everything else.
    stop: AtomicBool,
    scrapes: AtomicU64,
    errors: AtomicU64,
}

impl MetricsServer {
    /// Serves `registry` on `127.0.0.1:port` (`port` 0 picks a free one).
    /// Loopback only: to listen elsewhere, use [`bind`](Self::bind).
    pub fn start(registry: Registry, port: u16) -> io::Result<MetricsServer> {
        MetricsServer::bind(registry, (Ipv4Addr::LOCALHOST, port))
    }

    /// Serves `registry` on `addr`, an explicit choice of interface.
    pub fn bind(registry: Registry, addr: impl ToSocketAddrs) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let state = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("clockwise-metrics".into())
            .spawn(move || serve(&listener, &registry, &state))?;
        Ok(MetricsServer {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered with 200 so far.
    pub fn scrapes(&self) -> u64 {
        self.shared.scrapes.load(Ordering::Relaxed)
    }

    /// Connections that failed (timeouts, resets) so far.
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Stops accepting, finishes the request in progress, and joins the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept; an unspecified bind address is reached
        // through loopback.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let _ = TcpStream::connect_timeout(&wake, IO_TIMEOUT);
        let _ = thread.join();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: &TcpListener, registry: &Registry, shared: &Shared) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let result = conn.and_then(|stream| answer(stream, registry));
        match result {
            Ok(true) => shared.scrapes.fetch_add(1, Ordering::Relaxed),
            Ok(false) => 0,
            Err(_) => shared.errors.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Answers one request; true if it was a successful scrape.
fn answer(stream: TcpStream, registry: &Registry) -> io::Result<bool> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read (and ignore) the headers, bounded.
    let mut head = request_line.len();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        head += line.len();
        if head > MAX_HEAD {
            return respond(
                &stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
            )
            .map(|_| false);
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let body = prometheus::render_registry(registry);
            respond(&stream, "200 OK", prometheus::CONTENT_TYPE, body.as_bytes())?;
            Ok(true)
        }
        ("HEAD", "/metrics") => {
            respond(&stream, "200 OK", prometheus::CONTENT_TYPE, b"").map(|_| false)
        }
        (_, "/metrics") => respond(
            &stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
        )
        .map(|_| false),
        _ => respond(&stream, "404 Not Found", "text/plain", b"try /metrics\n").map(|_| false),
    }
}

fn respond(
    mut stream: &TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Snapshot;
    use std::io::Read;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        reply
    }

    #[test]
    fn serves_metrics_and_refuses_other_paths() {
        let registry = Registry::new();
        let _r = registry
            .register("cache", "web", || {
                let mut s = Snapshot::new(Duration::ZERO);
                s.set_counter("hit", 3);
                s
            })
            .unwrap();
        let server = MetricsServer::start(registry, 0).unwrap();
        assert!(server.local_addr().ip().is_loopback());
        let reply = get(
            server.local_addr(),
            "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK"));
        assert!(head.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("clockwise_cache_requests_total{cache=\"web\",result=\"hit\"} 3"));
        assert!(get(server.local_addr(), "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(
            get(server.local_addr(), "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405")
        );
        assert_eq!(server.scrapes(), 1);
        server.shutdown();
    }

    #[test]
    fn shutdown_closes_the_port() {
        let server = MetricsServer::start(Registry::new(), 0).unwrap();
        let addr = server.local_addr();
        drop(server);
        assert!(TcpStream::connect(addr).is_err());
    }
}
