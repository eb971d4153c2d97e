//! The witness's HTTP/1.1 server: blocking, a thread per connection, connections kept alive
//! between requests (requests parsed by `httparse`; no async runtime in the auditor's tool).
//!
//! Why not tiny_http (which served the witness before): its task pool hands a kept-alive
//! connection a pooled thread until the connection closes, and when two connections arrive at
//! once it can queue the second behind one that stays open, so clients had to close the
//! connection after every request (FORMAT.md §17, "What witnesses cost the sweep").
//!
//! What a client can hold: at most [`Limits::connections`] connections (past it, 503 with
//! `Retry-After` and the connection closed); a request must arrive whole within
//! [`Limits::request_time`] of its first byte (else 408); a connection idle longer than
//! [`Limits::idle_time`] is closed; a head larger than [`Limits::head`] is 431, a body larger
//! than [`Limits::body`] 413 (neither read); bodies come with `Content-Length` (a
//! `Transfer-Encoding` is 501). [`Server::stop`] returns only once every connection's thread
//! has finished, and with it every reference to the handler.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a server accepts from its clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections served at once.
    pub connections: usize,
    /// The request line and headers, in bytes.
    pub head: usize,
    /// A request's body, in bytes.
    pub body: usize,
    /// From a request's first byte to its last.
    pub request_time: Duration,
    /// How long a connection may wait for its next request.
    pub idle_time: Duration,
}

/// One request, whole.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// The path, without a query.
    pub path: String,
    pub body: Vec<u8>,
}

/// One answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub retry_after: Option<u32>,
}

impl Response {
    pub(crate) fn text(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            body,
            retry_after: None,
        }
    }
}

/// The connections being served: their streams (so that `stop` can close them) and a signal
/// when the last is done.
#[derive(Default)]
struct Live {
    streams: Mutex<(u64, HashMap<u64, TcpStream>)>,
    none_left: Condvar,
}

impl Live {
    /// Register a connection; `None` when `limit` are served already.
    fn register(&self, stream: &TcpStream, limit: usize) -> Option<u64> {
        let mut guard = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let (next, streams) = &mut *guard;
        if streams.len() >= limit {
            return None;
        }
        let clone = stream.try_clone().ok()?;
        *next += 1;
        streams.insert(*next, clone);
        Some(*next)
    }

    fn remove(&self, id: u64) {
        let mut guard = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1.remove(&id);
        if guard.1.is_empty() {
            self.none_left.notify_all();
        }
    }

    /// Close every connection, then wait until their threads are done.
    fn close_all_and_wait(&self) {
        let mut guard = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        for stream in guard.1.values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        while !guard.1.is_empty() {
            guard = self.none_left.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A connection's hold on the server: the handler, let go of before the connection is
/// counted as done (also when its thread panics, or could not be started).
struct Served<H> {
    live: Arc<Live>,
    id: u64,
    handler: Option<Arc<H>>,
}

impl<H> Drop for Served<H> {
    fn drop(&mut self) {
        self.handler.take();
        self.live.remove(self.id);
    }
}

/// A running server.
pub(crate) struct Server {
    pub address: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: std::thread::JoinHandle<()>,
    live: Arc<Live>,
}

impl Server {
    /// Listen on `listen` and answer each request with `handler`.
    pub(crate) fn start<H>(listen: &str, limits: Limits, handler: H) -> std::io::Result<Self>
    where
        H: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(listen)?;
        let address = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Live::default());
        let handler = Arc::new(handler);
        let acceptor = {
            let stopping = Arc::clone(&stopping);
            let live = Arc::clone(&live);
            std::thread::Builder::new()
                .name("witness-accept".into())
                .spawn(move || accept(&listener, &stopping, &live, limits, handler))?
        };
        Ok(Self {
            address,
            stopping,
            acceptor,
            live,
        })
    }

    /// Stop accepting, close every connection (a request being decided is finished first)
    /// and wait until every thread is done.
    pub(crate) fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor with a connection of our own.
        let mut wake = self.address;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = self.acceptor.join();
        self.live.close_all_and_wait();
    }

    /// Serve until the process is stopped.
    pub(crate) fn wait(self) {
        let _ = self.acceptor.join();
    }
}

fn accept<H>(listener: &TcpListener, stopping: &AtomicBool, live: &Arc<Live>, limits: Limits, handler: Arc<H>)
where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
{
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(e) => {
                // Out of descriptors, a connection reset before it was accepted: go on.
                warn_once(&e);
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let _ = stream.set_nodelay(true);
        let Some(id) = live.register(&stream, limits.connections) else {
            busy(stream);
            continue;
        };
        let served = Served {
            live: Arc::clone(live),
            id,
            handler: Some(Arc::clone(&handler)),
        };
        // If the thread cannot start, `served` is dropped with the closure: the connection
        // is counted as done and closed.
        let _ = std::thread::Builder::new().name("witness-conn".into()).spawn(move || {
            if let Some(handler) = served.handler.as_deref() {
                serve(&stream, limits, handler);
            }
            drop(served);
        });
    }
}

/// Accept errors are rare and transient; the witness has no logger, so say it once per kind.
fn warn_once(e: &std::io::Error) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("warning: the witness could not accept a connection ({e}); it goes on");
    }
}

fn busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let response = Response {
        retry_after: Some(1),
        ..Response::text(503, "text/plain", "the witness is busy; try again\n".into())
    };
    let _ = stream.write_all(&encode(&response, false));
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Why a connection is answered and closed instead of served.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The client closed it, or it stayed idle: nothing to answer.
    Gone,
    /// Answer with this status, then close.
    Status(u16, &'static str),
}

/// The start of a request: what the head says.
struct Head {
    method: String,
    path: String,
    length: usize,
    keep_alive: bool,
    expects_continue: bool,
    /// Bytes of the buffer the head took.
    size: usize,
}

fn parse_head(buffer: &[u8], limits: &Limits) -> Result<Option<Head>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let size = match request.parse(buffer) {
        Ok(httparse::Status::Complete(size)) => size,
        Ok(httparse::Status::Partial) if buffer.len() > limits.head => {
            return Err(Refusal::Status(431, "the request's head is too large\n"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::Status(431, "too many headers\n")),
        Err(_) => return Err(Refusal::Status(400, "not an HTTP/1.1 request\n")),
    };
    if size > limits.head {
        return Err(Refusal::Status(431, "the request's head is too large\n"));
    }
    let mut length: Option<usize> = None;
    let mut close = request.version == Some(0);
    let mut expects_continue = false;
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                .then(|| value.parse::<usize>().ok())
                .flatten();
            match (parsed, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Err(Refusal::Status(400, "a Content-Length that is not one number\n")),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::Status(501, "send the body with a Content-Length\n"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && request.version == Some(0) {
                    close = false;
                }
            }
        } else if header.name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(Refusal::Status(417, "the only expectation met is 100-continue\n"));
            }
            expects_continue = true;
        }
    }
    let length = length.unwrap_or(0);
    if length > limits.body {
        return Err(Refusal::Status(413, "the request's body is too large\n"));
    }
    let target = request.path.unwrap_or("/");
    Ok(Some(Head {
        method: request.method.unwrap_or_default().to_owned(),
        path: target.split('?').next().unwrap_or_default().to_owned(),
        length,
        keep_alive: !close,
        expects_continue,
        size,
    }))
}

/// Read more of the connection into `buffer`: within `deadline` once a request has begun,
/// else within the idle time.
fn fill(
    mut stream: &TcpStream,
    buffer: &mut Vec<u8>,
    deadline: Option<Instant>,
    limits: &Limits,
) -> Result<(), Refusal> {
    let wait = match deadline {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()),
        None => limits.idle_time,
    };
    if wait.is_zero() {
        return Err(Refusal::Status(408, "the request did not arrive in time\n"));
    }
    stream.set_read_timeout(Some(wait)).map_err(|_| Refusal::Gone)?;
    let start = buffer.len();
    buffer.resize(start + 8192, 0);
    let read = stream.read(&mut buffer[start..]);
    buffer.truncate(start + *read.as_ref().unwrap_or(&0));
    match read {
        Ok(0) => Err(Refusal::Gone),
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => match deadline {
            None => Err(Refusal::Gone),
            Some(_) => Err(Refusal::Status(408, "the request did not arrive in time\n")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
        Err(_) => Err(Refusal::Gone),
    }
}

/// The next whole request on the connection (`buffer` holds what was read past the last).
fn next_request(stream: &TcpStream, buffer: &mut Vec<u8>, limits: &Limits) -> Result<(Request, bool), Refusal> {
    let mut deadline = (!buffer.is_empty()).then(|| Instant::now() + limits.request_time);
    let head = loop {
        if let Some(head) = parse_head(buffer, limits)? {
            break head;
        }
        fill(stream, buffer, deadline, limits)?;
        deadline.get_or_insert_with(|| Instant::now() + limits.request_time);
    };
    let deadline = deadline.unwrap_or_else(|| Instant::now() + limits.request_time);
    let end = head.size + head.length;
    if head.expects_continue && buffer.len() < end {
        let mut writer = stream;
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| Refusal::Gone)?;
    }
    while buffer.len() < end {
        fill(stream, buffer, Some(deadline), limits)?;
    }
    let body = buffer[head.size..end].to_vec();
    buffer.drain(..end);
    Ok((
        Request {
            method: head.method,
            path: head.path,
            body,
        },
        head.keep_alive,
    ))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn encode(response: &Response, keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    if let Some(seconds) = response.retry_after {
        out.push_str(&format!("retry-after: {seconds}\r\n"));
    }
    if !keep_alive {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(response.body.as_bytes());
    bytes
}

/// Serve one connection until it closes, idles out, or sends something that is refused.
fn serve<H>(stream: &TcpStream, limits: Limits, handler: &H)
where
    H: Fn(&Request) -> Response,
{
    let _ = stream.set_write_timeout(Some(limits.request_time));
    let mut writer = stream;
    let mut buffer = Vec::new();
    loop {
        match next_request(stream, &mut buffer, &limits) {
            Ok((request, keep_alive)) => {
                let response = handler(&request);
                if writer.write_all(&encode(&response, keep_alive)).is_err() || !keep_alive {
                    break;
                }
            }
            Err(Refusal::Gone) => break,
            Err(Refusal::Status(status, why)) => {
                let _ = writer.write_all(&encode(&Response::text(status, "text/plain", why.into()), false));
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            connections: 2,
            head: 1024,
            body: 64,
            request_time: Duration::from_millis(400),
            idle_time: Duration::from_secs(5),
        }
    }

    /// A server that answers with the method, path and body it was given.
    fn echo(limits: Limits) -> Server {
        Server::start("127.0.0.1:0", limits, |request: &Request| {
            Response::text(
                200,
                "text/plain",
                format!(
                    "{} {} {}",
                    request.method,
                    request.path,
                    String::from_utf8_lossy(&request.body)
                ),
            )
        })
        .unwrap()
    }

    /// Read one response off `stream`: status, headers (lower-cased) and body.
    fn response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<(u16, String, String)> {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(size)) = parsed.parse(pending) {
                let status = parsed.code.unwrap();
                let length: usize = parsed
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |h| std::str::from_utf8(h.value).unwrap().parse().unwrap());
                let head = parsed
                    .headers
                    .iter()
                    .map(|h| format!("{}: {}\n", h.name, String::from_utf8_lossy(h.value)))
                    .collect::<String>()
                    .to_ascii_lowercase();
                while pending.len() < size + length {
                    let mut chunk = [0; 1024];
                    let n = stream.read(&mut chunk).ok()?;
                    if n == 0 {
                        return None;
                    }
                    pending.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&pending[size..size + length]).into_owned();
                pending.drain(..size + length);
                return Some((status, head, body));
            }
            let mut chunk = [0; 1024];
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            pending.extend_from_slice(&chunk[..n]);
        }
    }

    fn closed(stream: &mut TcpStream) -> bool {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        matches!(stream.read(&mut [0; 16]), Ok(0) | Err(_))
    }

    #[test]
    fn a_connection_is_kept_for_the_next_request_and_pipelined_ones_are_answered_in_order() {
        let server = echo(limits());
        let mut stream = TcpStream::connect(server.address).unwrap();
        let mut pending = Vec::new();
        stream
            .write_all(b"POST /add-checkpoint HTTP/1.1\r\nhost: w\r\ncontent-length: 3\r\n\r\none")
            .unwrap();
        let (status, head, body) = response(&mut stream, &mut pending).unwrap();
        assert_eq!((status, body.as_str()), (200, "POST /add-checkpoint one"));
        assert!(!head.contains("connection: close"), "{head}");
        // Two at once on the same connection, the second asking to close it.
        stream
            .write_all(
                b"GET /a?q=1 HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
            )
            .unwrap();
        assert_eq!(response(&mut stream, &mut pending).unwrap().2, "GET /a ");
        let (_, head, body) = response(&mut stream, &mut pending).unwrap();
        assert_eq!(body, "POST /b hi");
        assert!(head.contains("connection: close"), "{head}");
        assert!(closed(&mut stream));
        server.stop();
    }

    #[test]
    fn what_is_refused_is_answered_with_its_status_and_the_connection_closed() {
        let server = echo(limits());
        for (request, status) in [
            (&b"POST / HTTP/1.1\r\ncontent-length: 65\r\n\r\n"[..], 413),
            (b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", 501),
            (
                b"POST / HTTP/1.1\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\ncontent-length: +3\r\n\r\n", 400),
            (b"NOT HTTP\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nexpect: magic\r\n\r\n", 417),
        ] {
            let mut stream = TcpStream::connect(server.address).unwrap();
            stream.write_all(request).unwrap();
            let mut pending = Vec::new();
            let (got, head, _) = response(&mut stream, &mut pending).unwrap();
            assert_eq!(got, status, "{}", String::from_utf8_lossy(request));
            assert!(head.contains("connection: close"));
            assert!(closed(&mut stream));
        }
        // A head that never ends: 431 once it passes the limit.
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        stream.write_all(&[b'x'; 2048]).unwrap();
        assert_eq!(response(&mut stream, &mut Vec::new()).unwrap().0, 431);
        server.stop();
    }

    #[test]
    fn a_trickled_request_is_cut_off_and_a_client_waiting_for_100_continue_gets_it() {
        let server = echo(limits());
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc")
            .unwrap();
        let started = Instant::now();
        assert_eq!(response(&mut stream, &mut Vec::new()).unwrap().0, 408);
        assert!(started.elapsed() < Duration::from_secs(4));
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream
            .write_all(b"POST /c HTTP/1.1\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n")
            .unwrap();
        let mut pending = Vec::new();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while !pending.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            assert_eq!(stream.read(&mut byte).unwrap(), 1);
            pending.push(byte[0]);
        }
        assert_eq!(pending, b"HTTP/1.1 100 Continue\r\n\r\n");
        pending.clear();
        stream.write_all(b"ok").unwrap();
        assert_eq!(response(&mut stream, &mut pending).unwrap().2, "POST /c ok");
        server.stop();
    }

    #[test]
    fn past_the_connection_limit_a_client_is_told_to_retry_and_stop_closes_kept_connections() {
        let server = echo(limits());
        let address = server.address;
        let mut held: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut stream = TcpStream::connect(address).unwrap();
                stream.write_all(b"GET /held HTTP/1.1\r\n\r\n").unwrap();
                assert_eq!(response(&mut stream, &mut Vec::new()).unwrap().0, 200);
                stream
            })
            .collect();
        let mut third = TcpStream::connect(address).unwrap();
        let (status, head, _) = response(&mut third, &mut Vec::new()).unwrap();
        assert_eq!(status, 503);
        assert!(head.contains("retry-after: 1"), "{head}");
        // Both kept connections are idle: stop closes them and returns once their threads
        // are done, having let go of the handler.
        let handler_alive = Arc::new(());
        let watch = Arc::downgrade(&handler_alive);
        let server2 = Server::start("127.0.0.1:0", limits(), move |_: &Request| {
            let _keep = &handler_alive;
            Response::text(200, "text/plain", String::new())
        })
        .unwrap();
        let mut kept = TcpStream::connect(server2.address).unwrap();
        kept.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(response(&mut kept, &mut Vec::new()).unwrap().0, 200);
        server2.stop();
        assert!(
            watch.upgrade().is_none(),
            "a connection's thread still holds the handler"
        );
        assert!(closed(&mut kept));
        server.stop();
        for stream in &mut held {
            assert!(closed(stream));
        }
    }
}
