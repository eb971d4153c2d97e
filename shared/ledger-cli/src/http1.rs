//! The witness's HTTP/1.1 server: blocking, a thread per connection, connections kept alive
//! between requests (requests parsed by `httparse`; no async runtime in the auditor's tool).
//!
//! Why not tiny_http (which served the witness before): its task pool hands a kept-alive
//! connection a pooled thread until the connection closes, and when two connections arrive at
//! once it can queue the second behind one that stays open, so clients had to close the
//! connection after every request (FORMAT.md §17, "What witnesses cost the sweep").
//!
//! What a client can hold: at most [`Limits::connections`] connections; at that limit a new
//! one takes the place of the connection idle longest (closed), and if none is idle it gets
//! 503 with `Retry-After`. A request must arrive whole within [`Limits::request_time`] of its
//! first byte (else 408); a connection idle longer than [`Limits::idle_time`] is closed; a head
//! larger than [`Limits::head`] is 431, a body larger than [`Limits::body`] 413 (neither is
//! read), and bodies larger than [`Limits::small_body`] being read or handled may take
//! [`Limits::bodies`] bytes together (503 past it). A body comes with `Content-Length`
//! (`Transfer-Encoding` is 501) and lines end in CRLF (400 otherwise). A refusal, or an answer
//! to a request that asked to close, closes the connection after it, first reading and
//! dropping what the client still sends for a moment, so that it sees the answer rather than
//! a reset (the 503 at the connection limit drops only what has arrived already).
//! [`Server::stop`] (or dropping the server) returns once every connection's thread has
//! finished, and with it every reference to the handler.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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
    /// A body this small is not counted against `bodies`: each connection may have one.
    pub small_body: usize,
    /// The larger bodies of all requests being read or handled, together, in bytes.
    pub bodies: usize,
    /// From a request's first byte to its last.
    pub request_time: Duration,
    /// How long a connection may wait for its next request.
    pub idle_time: Duration,
}

/// How long a refused client's further bytes are read (and dropped) before its connection is
/// closed, and how many at most.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 << 10;

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

    fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::text(503, "text/plain", "the witness is busy; try again\n".into())
        }
    }
}

/// One connection being served: its stream (so that it can be closed from outside), since
/// when it has waited for its next request (`None` while a request is read or handled), and
/// whether it was closed from outside (its thread not finished yet).
struct Connection {
    stream: TcpStream,
    idle_since: Option<Instant>,
    closed: bool,
}

impl Connection {
    fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.idle_since = None;
        self.closed = true;
    }
}

/// The connections being served, a signal when the last is done, and the bytes the bodies in
/// flight take.
#[derive(Default)]
struct Live {
    connections: Mutex<(u64, HashMap<u64, Connection>)>,
    none_left: Condvar,
    bodies: AtomicUsize,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Connection>)> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register a connection; at `limit`, close the one idle longest to make room; `None`
    /// when none is idle.
    fn register(&self, stream: &TcpStream, limit: usize) -> Option<u64> {
        let mut guard = self.lock();
        let (next, connections) = &mut *guard;
        // Those closed from outside, whose threads are finishing, no longer count.
        if connections.values().filter(|c| !c.closed).count() >= limit {
            connections
                .values_mut()
                .filter(|c| c.idle_since.is_some())
                .min_by_key(|c| c.idle_since)?
                .close();
        }
        let stream = stream.try_clone().ok()?;
        *next += 1;
        connections.insert(
            *next,
            Connection {
                stream,
                idle_since: Some(Instant::now()),
                closed: false,
            },
        );
        Some(*next)
    }

    /// Mark connection `id` as waiting for its next request or not; `false` if it was
    /// closed from outside (stop serving it).
    fn set_idle(&self, id: u64, idle: bool) -> bool {
        let mut guard = self.lock();
        match guard.1.get_mut(&id) {
            Some(c) if !c.closed => {
                c.idle_since = idle.then(Instant::now);
                true
            }
            _ => false,
        }
    }

    fn remove(&self, id: u64) {
        let mut guard = self.lock();
        guard.1.remove(&id);
        if guard.1.is_empty() {
            self.none_left.notify_all();
        }
    }

    /// Take `bytes` of the bodies' budget `limit` until the result is dropped; `None` if
    /// they do not fit.
    fn reserve(&self, bytes: usize, limit: usize) -> Option<Reserved<'_>> {
        self.bodies
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                held.checked_add(bytes).filter(|total| *total <= limit)
            })
            .ok()
            .map(|_| Reserved { live: self, bytes })
    }

    /// Close every connection, then wait until their threads are done.
    fn close_all_and_wait(&self) {
        let mut guard = self.lock();
        for connection in guard.1.values_mut() {
            connection.close();
        }
        while !guard.1.is_empty() {
            guard = self.none_left.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Bytes of the bodies' budget a request holds while it is read and handled (given back when
/// dropped: also when the handler panics).
struct Reserved<'a> {
    live: &'a Live,
    bytes: usize,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.live.bodies.fetch_sub(self.bytes, Ordering::SeqCst);
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

/// A running server; dropping it stops it (see [`Server::stop`]).
pub(crate) struct Server {
    pub address: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
    live: Arc<Live>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
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
            acceptor: Some(acceptor),
            live,
        })
    }

    /// Stop accepting, close every connection (a request being decided is finished first)
    /// and wait until every thread is done.
    pub(crate) fn stop(self) {
        drop(self);
    }

    fn shut_down(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            // Wake the acceptor with connections of our own until it has seen the flag: to
            // the address it listens on, or to loopback (either family) when that is
            // unspecified.
            let port = self.address.port();
            let wake: Vec<SocketAddr> = if self.address.ip().is_unspecified() {
                vec![
                    (std::net::Ipv4Addr::LOCALHOST, port).into(),
                    (std::net::Ipv6Addr::LOCALHOST, port).into(),
                ]
            } else {
                vec![self.address]
            };
            let started = Instant::now();
            while !acceptor.is_finished() && started.elapsed() < Duration::from_secs(5) {
                for address in &wake {
                    let _ = TcpStream::connect_timeout(address, Duration::from_millis(200));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if acceptor.is_finished() {
                let _ = acceptor.join();
            } else {
                // Nothing could reach it: it keeps the listener and a reference to the
                // handler until the process ends; the connections are closed all the same.
                eprintln!(
                    "warning: the witness's listener on {} could not be woken to stop",
                    self.address
                );
            }
        }
        self.live.close_all_and_wait();
    }

    /// Connections in the middle of a request, and bytes of the bodies' budget taken.
    #[cfg(test)]
    fn busy(&self) -> (usize, usize) {
        let guard = self.live.lock();
        let busy = guard.1.values().filter(|c| !c.closed && c.idle_since.is_none()).count();
        (busy, self.live.bodies.load(Ordering::SeqCst))
    }

    /// Serve until the process is stopped.
    pub(crate) fn wait(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
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
            answer_and_close(stream, &Response::busy(), false, Duration::from_millis(200));
            continue;
        };
        // To answer 503 if no thread can be started for it.
        let fallback = stream.try_clone();
        let served = Served {
            live: Arc::clone(live),
            id,
            handler: Some(Arc::clone(&handler)),
        };
        // If the thread cannot start, `served` is dropped with the closure: the connection
        // is counted as done.
        let spawned = std::thread::Builder::new().name("witness-conn".into()).spawn(move || {
            if let Some(handler) = served.handler.as_deref() {
                serve(&stream, &served.live, served.id, limits, handler);
            }
            drop(served);
        });
        if let (Err(e), Ok(stream)) = (spawned, fallback) {
            warn_once(&e);
            answer_and_close(stream, &Response::busy(), false, Duration::from_millis(200));
        }
    }
}

/// Accept and thread errors are rare and transient; the witness has no logger: the first is
/// said, the others are not.
fn warn_once(e: &std::io::Error) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("warning: the witness could not serve a connection ({e}); it goes on (said once)");
    }
}

/// Answer `response`, close the connection for writing, and read (dropping it) what the client
/// still sends for a moment — at once only if `wait` is false — so that it reads the answer
/// instead of a reset.
fn answer_and_close(mut stream: TcpStream, response: &Response, wait: bool, write_time: Duration) {
    let _ = stream.set_write_timeout(Some(write_time));
    let _ = stream.write_all(&encode(response, false));
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + if wait { LINGER } else { Duration::ZERO };
    let mut dropped = 0;
    let mut sink = [0u8; 4096];
    if !wait {
        let _ = stream.set_nonblocking(true);
    }
    while dropped < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if wait && (left.is_zero() || stream.set_read_timeout(Some(left)).is_err()) {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => dropped += n,
        }
    }
}

/// Why a connection is answered and closed instead of served.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The client closed it, it stayed idle, or it was closed from outside: nothing to answer.
    Gone,
    /// Answer with this status, then close.
    Status(u16, &'static str),
    /// Answer 503 (the bodies' budget is spent), then close.
    Busy,
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

/// Optional whitespace (RFC 9110: spaces and tabs) trimmed off a header value.
fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &value[start..end.max(start)]
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
    // httparse takes a bare LF for a line's end; a proxy in front may not.
    if buffer[..size]
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || buffer[i - 1] != b'\r'))
    {
        return Err(Refusal::Status(400, "lines end in CRLF\n"));
    }
    let mut length: Option<usize> = None;
    let mut close = request.version == Some(0);
    let mut expects_continue = false;
    for header in request.headers.iter() {
        let value = trim_ows(header.value);
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = (!value.is_empty() && value.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(value).ok()?.parse::<usize>().ok())
                .flatten();
            match (parsed, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Err(Refusal::Status(400, "a Content-Length that is not one number\n")),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::Status(501, "send the body with a Content-Length\n"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|b| *b == b',').map(trim_ows) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && request.version == Some(0) {
                    close = false;
                }
            }
        } else if header.name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case(b"100-continue") {
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

/// Read at most `most` more bytes of the connection into `buffer` (how many it read): within
/// `deadline` once a request has begun, else within the idle time.
fn fill(
    mut stream: &TcpStream,
    buffer: &mut Vec<u8>,
    most: usize,
    deadline: Option<Instant>,
    limits: &Limits,
) -> Result<usize, Refusal> {
    let wait = match deadline {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()),
        None => limits.idle_time,
    };
    if wait.is_zero() {
        return Err(Refusal::Status(408, "the request did not arrive in time\n"));
    }
    stream.set_read_timeout(Some(wait)).map_err(|_| Refusal::Gone)?;
    let start = buffer.len();
    buffer.resize(start + most, 0);
    let read = stream.read(&mut buffer[start..]);
    buffer.truncate(start + *read.as_ref().unwrap_or(&0));
    match read {
        Ok(0) => Err(Refusal::Gone),
        Ok(n) => Ok(n),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => match deadline {
            None => Err(Refusal::Gone),
            Some(_) => Err(Refusal::Status(408, "the request did not arrive in time\n")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(0),
        Err(_) => Err(Refusal::Gone),
    }
}

/// Bytes read at once while a head is read.
const HEAD_CHUNK: usize = 8 << 10;

/// The next whole request on connection `id` (`buffer` holds what was read past the last),
/// whether to keep the connection after it, and the bytes of the bodies' budget it holds.
fn next_request<'a>(
    stream: &TcpStream,
    live: &'a Live,
    id: u64,
    buffer: &mut Vec<u8>,
    limits: &Limits,
) -> Result<(Request, bool, Reserved<'a>), Refusal> {
    let mut deadline = (!buffer.is_empty()).then(|| Instant::now() + limits.request_time);
    if deadline.is_none() && !live.set_idle(id, true) {
        return Err(Refusal::Gone);
    }
    let mut parse = !buffer.is_empty();
    let head = loop {
        if parse && let Some(head) = parse_head(buffer, limits)? {
            break head;
        }
        if buffer.len() > limits.head {
            return Err(Refusal::Status(431, "the request's head is too large\n"));
        }
        let start = buffer.len();
        let read = fill(stream, buffer, HEAD_CHUNK, deadline, limits)?;
        if deadline.is_none() && read > 0 {
            // Its first byte: the connection is no longer idle, and the request's time runs.
            if !live.set_idle(id, false) {
                return Err(Refusal::Gone);
            }
            deadline = Some(Instant::now() + limits.request_time);
        }
        // A head ends with a line's end: parse again only once one has arrived.
        parse = buffer[start..].contains(&b'\n');
    };
    let deadline = deadline.unwrap_or_else(|| Instant::now() + limits.request_time);
    // A small body (what a checkpoint takes) needs no share of the budget: requests that
    // announce large bodies and never send them cannot keep small ones out.
    let counted = if head.length <= limits.small_body {
        0
    } else {
        head.length
    };
    let reserved = live.reserve(counted, limits.bodies).ok_or(Refusal::Busy)?;
    let body = read_body(stream, buffer, &head, deadline, limits)?;
    Ok((
        Request {
            method: head.method,
            path: head.path,
            body,
        },
        head.keep_alive,
        reserved,
    ))
}

/// The body `head` announces: read into `buffer` (no further than its end) and moved out of it.
fn read_body(
    stream: &TcpStream,
    buffer: &mut Vec<u8>,
    head: &Head,
    deadline: Instant,
    limits: &Limits,
) -> Result<Vec<u8>, Refusal> {
    let end = head.size + head.length;
    if head.expects_continue && buffer.len() < end {
        let mut writer = stream;
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| Refusal::Gone)?;
    }
    buffer.reserve_exact(end.saturating_sub(buffer.len()));
    while buffer.len() < end {
        fill(stream, buffer, end - buffer.len(), Some(deadline), limits)?;
    }
    // What follows the body (a pipelined request) stays; the body is moved out, not copied.
    let rest = buffer.split_off(end);
    let mut body = std::mem::replace(buffer, rest);
    body.drain(..head.size);
    Ok(body)
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

/// Serve connection `id` until it closes, idles out, is closed from outside, or sends
/// something that is refused.
fn serve<H>(stream: &TcpStream, live: &Live, id: u64, limits: Limits, handler: &H)
where
    H: Fn(&Request) -> Response,
{
    let _ = stream.set_write_timeout(Some(limits.request_time));
    let mut writer = stream;
    let mut buffer = Vec::new();
    loop {
        match next_request(stream, live, id, &mut buffer, &limits) {
            Ok((request, keep_alive, reserved)) => {
                let response = handler(&request);
                drop((request, reserved));
                if !keep_alive {
                    if let Ok(stream) = stream.try_clone() {
                        answer_and_close(stream, &response, true, limits.request_time);
                    }
                    break;
                }
                if writer.write_all(&encode(&response, true)).is_err() {
                    break;
                }
            }
            Err(Refusal::Gone) => break,
            Err(Refusal::Status(status, why)) => {
                if let Ok(stream) = stream.try_clone() {
                    answer_and_close(
                        stream,
                        &Response::text(status, "text/plain", why.into()),
                        true,
                        limits.request_time,
                    );
                }
                break;
            }
            Err(Refusal::Busy) => {
                if let Ok(stream) = stream.try_clone() {
                    answer_and_close(stream, &Response::busy(), true, limits.request_time);
                }
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
            small_body: 8,
            bodies: 100,
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

    /// Whether the server closed `stream` (an end or a reset within 5 s; a timeout is not).
    fn closed(stream: &mut TcpStream) -> bool {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        match stream.read(&mut [0; 16]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
        }
    }

    /// Wait until `server` has `busy` connections in the middle of a request and `bodies` bytes
    /// of its budget taken.
    fn until(server: &Server, busy: usize, bodies: usize) {
        let started = Instant::now();
        while server.busy() != (busy, bodies) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the server never got to {busy} busy, {bodies} bytes: {:?}",
                server.busy()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
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
        // Refused connections linger a moment: room for all of them.
        let server = echo(Limits {
            connections: 16,
            ..limits()
        });
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
            (b"POST / HTTP/1.1\ncontent-length: 0\n\n", 400),
            (b"POST / HTTP/1.1\r\ncontent-length: 3\xc2\xa0\r\n\r\nabc", 400),
        ] {
            let mut stream = TcpStream::connect(server.address).unwrap();
            stream.write_all(request).unwrap();
            let mut pending = Vec::new();
            let (got, head, _) = response(&mut stream, &mut pending).unwrap();
            assert_eq!(got, status, "{}", String::from_utf8_lossy(request));
            assert!(head.contains("connection: close"));
            assert!(closed(&mut stream));
        }
        // A body too large that the client sends all the same, with its head: 413. (That the
        // client then reads the answer rather than a reset is what the lingering close is
        // for; on loopback Linux delivers the answer before the reset either way, so this
        // does not show it.)
        let mut stream = TcpStream::connect(server.address).unwrap();
        let mut request = b"POST / HTTP/1.1\r\ncontent-length: 32768\r\n\r\n".to_vec();
        request.extend_from_slice(&[b'z'; 32768]);
        stream.write_all(&request).unwrap();
        assert_eq!(response(&mut stream, &mut Vec::new()).map(|r| r.0), Some(413));
        // Too many headers, and a head that never ends: 431.
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        stream.write_all("x: y\r\n".repeat(40).as_bytes()).unwrap();
        stream.write_all(b"\r\n").unwrap();
        assert_eq!(response(&mut stream, &mut Vec::new()).unwrap().0, 431);
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        stream.write_all(&[b'x'; 2048]).unwrap();
        assert_eq!(response(&mut stream, &mut Vec::new()).unwrap().0, 431);
        server.stop();
    }

    #[test]
    fn a_trickled_request_is_cut_off_and_a_client_waiting_for_100_continue_gets_it() {
        let server = echo(limits());
        // A byte every 50 ms, each well within any per-read timeout: the request's own
        // deadline (400 ms from its first byte) cuts it off.
        let mut stream = TcpStream::connect(server.address).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let trickle = std::thread::spawn(move || {
            for byte in b"POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nabcdefghij"
                .iter()
                .cycle()
                .take(60)
            {
                if writer.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let (status, _, _) = response(&mut stream, &mut Vec::new()).unwrap();
        assert_eq!(status, 408);
        assert!(closed(&mut stream));
        trickle.join().unwrap();
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
    fn an_idle_connection_is_closed_and_its_place_taken_by_a_new_one_at_the_limit() {
        let server = echo(Limits {
            idle_time: Duration::from_millis(300),
            ..limits()
        });
        // Idle past its time: closed without an answer.
        let mut idle = TcpStream::connect(server.address).unwrap();
        idle.write_all(b"GET /1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(response(&mut idle, &mut Vec::new()).unwrap().0, 200);
        assert!(closed(&mut idle));
        server.stop();

        let server = echo(limits());
        // Two connections (the limit), both idle after a request; a third takes the place of
        // the one idle longest, and is served.
        let mut first = TcpStream::connect(server.address).unwrap();
        first.write_all(b"GET /1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(response(&mut first, &mut Vec::new()).unwrap().0, 200);
        let mut second = TcpStream::connect(server.address).unwrap();
        second.write_all(b"GET /2 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(response(&mut second, &mut Vec::new()).unwrap().0, 200);
        let mut third = TcpStream::connect(server.address).unwrap();
        third.write_all(b"GET /3 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(response(&mut third, &mut Vec::new()).unwrap().2, "GET /3 ");
        assert!(closed(&mut first), "the connection idle longest was closed");
        second.write_all(b"GET /2 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(
            response(&mut second, &mut Vec::new()).unwrap().2,
            "GET /2 ",
            "the other was kept"
        );
        server.stop();
    }

    #[test]
    fn bodies_in_flight_share_a_budget() {
        // 100 bytes for all bodies over 8: one of 64 is being read, a second of 64 is told to
        // retry. (Three connections at once here.)
        let server = echo(Limits {
            connections: 3,
            ..limits()
        });
        let mut reading = TcpStream::connect(server.address).unwrap();
        reading
            .write_all(b"POST /a HTTP/1.1\r\ncontent-length: 64\r\n\r\nhalf")
            .unwrap();
        until(&server, 1, 64);
        let mut other = TcpStream::connect(server.address).unwrap();
        other
            .write_all(b"POST /b HTTP/1.1\r\ncontent-length: 64\r\n\r\n")
            .unwrap();
        let (status, head, _) = response(&mut other, &mut Vec::new()).unwrap();
        assert_eq!(status, 503);
        assert!(head.contains("retry-after: 1"), "{head}");
        assert!(closed(&mut other));
        // A small body needs no share: served while the budget is spent.
        let mut small = TcpStream::connect(server.address).unwrap();
        small
            .write_all(b"POST /s HTTP/1.1\r\ncontent-length: 8\r\n\r\n12345678")
            .unwrap();
        assert_eq!(response(&mut small, &mut Vec::new()).unwrap().2, "POST /s 12345678");
        drop(small);
        // Once the first is whole and answered, its bytes are free again.
        reading.write_all(&[b'x'; 60]).unwrap();
        assert_eq!(response(&mut reading, &mut Vec::new()).unwrap().0, 200);
        until(&server, 0, 0);
        let mut again = TcpStream::connect(server.address).unwrap();
        again
            .write_all(b"POST /b HTTP/1.1\r\ncontent-length: 64\r\n\r\n")
            .unwrap();
        again.write_all(&[b'y'; 64]).unwrap();
        assert_eq!(response(&mut again, &mut Vec::new()).unwrap().0, 200);
        server.stop();
    }

    #[test]
    fn past_the_connection_limit_a_client_is_told_to_retry_and_stop_closes_kept_connections() {
        let server = echo(Limits {
            request_time: Duration::from_secs(5),
            ..limits()
        });
        let address = server.address;
        // Two connections (the limit) in the middle of a request: none is idle.
        let mut held: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut stream = TcpStream::connect(address).unwrap();
                stream.write_all(b"GET /held HTTP/1.1\r\n").unwrap();
                stream
            })
            .collect();
        until(&server, 2, 0);
        let mut third = TcpStream::connect(address).unwrap();
        let (status, head, _) = response(&mut third, &mut Vec::new()).unwrap();
        assert_eq!(status, 503);
        assert!(head.contains("retry-after: 1"), "{head}");
        assert!(closed(&mut third));
        // One of them goes away: its place is free again (once its thread has seen it).
        drop(held.pop());
        let served = (0..50).any(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(b"GET /next HTTP/1.1\r\n\r\n").unwrap();
            let answer = response(&mut stream, &mut Vec::new());
            std::thread::sleep(Duration::from_millis(20));
            answer.is_some_and(|(status, _, _)| status == 200)
        });
        assert!(served, "the place of a closed connection was never given to another");
        // A kept, idle connection: stop closes it and returns once its thread is done,
        // having let go of the handler.
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
