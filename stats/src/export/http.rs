//! A minimal `/metrics` HTTP endpoint.
//!
//! One thread accepts connections and hands each to a thread of its own,
//! at most [`MAX_CONNECTIONS`] at once (past that a client gets `503` at
//! once and the connection is closed), so no client can keep another
//! waiting: idle or trickling connections each hold only their own thread.
//! `GET /metrics` renders the registry in Prometheus text format, anything
//! else gets 404 or 405. A scrape only reads the sources' striped counters
//! and gauges (see [`Registry::gather`](crate::Registry::gather)); it takes
//! no lock a cache operation takes.
//!
//! A request's head must arrive whole within [`HEAD_DEADLINE`] (a deadline
//! for the whole head, not per read, so a client sending a byte at a time
//! is cut off at it) and fit in [`MAX_HEAD`] bytes, read into a buffer of
//! that size: a longer head gets `431` with nothing more read. The answer
//! has [`WRITE_TIMEOUT`] to be written.
//!
//! This is a plain-threads server on purpose: the crate embeds in any
//! process, async or not, and a scrape endpoint needs no runtime. A
//! deployment with its own HTTP server can serve
//! [`prometheus::render_registry`] from its own route instead.

use super::prometheus;
use crate::sync::{thread, Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::Registry;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long a client has to send its whole request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// How long an answer has to be written.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read before answering 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once; one more gets `503` straight away.
pub const MAX_CONNECTIONS: usize = 64;
/// Stack of a connection's thread: it parses a head of at most
/// [`MAX_HEAD`] bytes and renders the registry (on the heap).
const CONNECTION_STACK: usize = 256 * 1024;

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
    /// Connections whose thread is running. Relaxed: a count that only
    /// bounds how many run; it orders nothing.
    open: AtomicUsize,
    /// Connections answered `503` because [`MAX_CONNECTIONS`] were open.
    refused: AtomicU64,
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
        let registry = Arc::new(registry);
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

    /// Connections that failed (timeouts, resets, malformed or oversized
    /// requests) so far.
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Connections answered `503` so far, because [`MAX_CONNECTIONS`] were
    /// being served.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Stops accepting and joins the accepting thread. Connections being
    /// served finish on their own threads, each within its deadlines.
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
        let _ = TcpStream::connect_timeout(&wake, WRITE_TIMEOUT);
        let _ = thread.join();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: &TcpListener, registry: &Arc<Registry>, shared: &Arc<Shared>) {
    // Refusals are written, half-closed and drained on a thread of their
    // own, fed through a bounded queue, so the accept loop never waits on
    // a refused client; past the queue's room a connection is just closed.
    let (refusals, queue) = std::sync::mpsc::sync_channel::<TcpStream>(MAX_CONNECTIONS);
    let refuser = thread::Builder::new()
        .name("clockwise-metrics-refuse".into())
        .stack_size(CONNECTION_STACK)
        .spawn(move || queue.into_iter().for_each(|stream| refuse(&stream)));
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = conn else {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if shared.open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            if refuser.is_ok() {
                let _ = refusals.try_send(stream);
            }
            continue;
        }
        shared.open.fetch_add(1, Ordering::Relaxed);
        let (registry, state) = (Arc::clone(registry), Arc::clone(shared));
        let spawned = thread::Builder::new()
            .name("clockwise-metrics-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let outcome = answer(&stream, &registry);
                match outcome {
                    Ok(true) => state.scrapes.fetch_add(1, Ordering::Relaxed),
                    Ok(false) => 0,
                    Err(_) => state.errors.fetch_add(1, Ordering::Relaxed),
                };
                state.open.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            // No thread to be had: the stream was dropped with the closure.
            shared.open.fetch_sub(1, Ordering::Relaxed);
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long a refused connection is drained before it is closed.
const REFUSE_DRAIN: Duration = Duration::from_millis(200);

/// Tells a client over the connection limit to come back later, then
/// closes draining ([`close_draining`]): closing with its request unread
/// would reset the connection, and the client could lose the answer.
fn refuse(stream: &TcpStream) {
    let _ = stream.set_write_timeout(Some(REFUSE_DRAIN));
    let _ = respond(
        stream,
        "503 Service Unavailable",
        "text/plain",
        b"too many connections\n",
    );
    close_draining(stream);
}

/// Half-closes a connection whose answer is written, then reads and drops
/// what the client still sends (at most [`MAX_HEAD`] bytes, for at most
/// [`REFUSE_DRAIN`]), so that the answer reaches it before the close.
fn close_draining(mut stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + REFUSE_DRAIN;
    let mut buf = [0u8; 1024];
    let mut drained = 0;
    while drained < MAX_HEAD {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Reads a request head, up to its blank line, into a buffer of
/// [`MAX_HEAD`] bytes, within [`HEAD_DEADLINE`] for the whole of it. The
/// head (without the blank line), or `None` if it did not fit.
fn read_head(mut stream: &TcpStream) -> io::Result<Option<String>> {
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        if let Some(end) = head_end(&buf[..len]) {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
        if len == buf.len() {
            return Ok(None);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head deadline",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before the end of the head",
                ))
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Where the head in `bytes` ends (before its blank line), if it does.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Answers one request; true if it was a successful scrape.
fn answer(stream: &TcpStream, registry: &Registry) -> io::Result<bool> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let Some(head) = read_head(stream)? else {
        respond(
            stream,
            "431 Request Header Fields Too Large",
            "text/plain",
            b"",
        )?;
        // The client is still sending its head: closing with it unread
        // would reset the connection, and the answer could be lost.
        close_draining(stream);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "head over MAX_HEAD",
        ));
    };
    let request_line = head.lines().next().unwrap_or("");
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let body = prometheus::render_registry(registry);
            respond(stream, "200 OK", prometheus::CONTENT_TYPE, body.as_bytes())?;
            Ok(true)
        }
        ("HEAD", "/metrics") => {
            respond(stream, "200 OK", prometheus::CONTENT_TYPE, b"").map(|_| false)
        }
        (_, "/metrics") => respond(
            stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
        )
        .map(|_| false),
        _ => respond(stream, "404 Not Found", "text/plain", b"try /metrics\n").map(|_| false),
    }
}

/// Writes an answer as one buffer: `write!` straight onto the socket
/// sends each formatted piece as a segment of its own, and a connection
/// closed right after (a refused head, its rest unread, resets) could then
/// deliver only the first, `HTTP/1.1 `.
fn respond(
    mut stream: impl Write,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    stream.write_all(&answer)?;
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

    /// Records each `write` call.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An answer leaves in one write, so a reset right after cannot cut it
    /// after its first piece (leaving the client `HTTP/1.1 ` alone).
    #[test]
    fn an_answer_is_one_write() {
        let mut writes = Writes::default();
        respond(
            &mut writes,
            "431 Request Header Fields Too Large",
            "text/plain",
            b"x",
        )
        .unwrap();
        assert_eq!(writes.0.len(), 1, "{} writes", writes.0.len());
        let answer = String::from_utf8(writes.0.remove(0)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(answer.ends_with("Content-Length: 1\r\nConnection: close\r\n\r\nx"));
    }

    #[test]
    fn serves_metrics_and_refuses_other_paths() {
        let registry = Registry::new();
        let _r = registry
            .register(
                "cache",
                "web",
                crate::Described(&crate::schema::TEST_CACHE, || {
                    let mut s = Snapshot::new(Duration::ZERO);
                    s.set_counter("hit", 3);
                    s
                }),
            )
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
