//! A fault-injecting proxy between the service and its DynamoDB-compatible server: it answers
//! some requests itself with throttling errors or 500s, drops some connections before
//! forwarding, and drops some after the upstream answered (the write committed, the
//! response lost). HTTP/1.1 with Content-Length bodies, as the SDK sends them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The kinds of fault, and how often each happens (per mille of requests) while enabled.
///
/// Deterministic: while enabled, the first three requests are throttled, answered 500 and
/// dropped, in that order, and the first `TransactWriteItems` after them loses its response
/// after the commit — so every kind happens in every run; the rest roll a seeded generator
/// (the seed is printed; `FAULTS_SEED` replays it).
#[derive(Debug)]
pub struct Faults {
    pub enabled: AtomicBool,
    rng: std::sync::Mutex<rand::rngs::StdRng>,
    /// Requests seen while enabled (the schedule's clock).
    seen: AtomicU64,
    /// Whether the scheduled lost transaction response has happened.
    lost_scheduled: AtomicBool,
    pub throttle: AtomicU32,
    pub error_500: AtomicU32,
    pub drop_before: AtomicU32,
    pub lose_response: AtomicU32,
    /// How many of each were injected: throttle, 500, dropped before, lost after commit.
    pub injected: [AtomicU64; 4],
    /// Of the lost responses, how many were of committed `TransactWriteItems`.
    pub lost_transactions: AtomicU64,
    pub forwarded: AtomicU64,
}

impl Faults {
    pub fn seeded(seed: u64) -> Self {
        Self {
            enabled: AtomicBool::new(false),
            rng: std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            seen: AtomicU64::new(0),
            lost_scheduled: AtomicBool::new(false),
            throttle: AtomicU32::new(0),
            error_500: AtomicU32::new(0),
            drop_before: AtomicU32::new(0),
            lose_response: AtomicU32::new(0),
            injected: Default::default(),
            lost_transactions: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        }
    }

    pub fn set(&self, throttle: u32, error_500: u32, drop_before: u32, lose_response: u32) {
        self.throttle.store(throttle, Ordering::SeqCst);
        self.error_500.store(error_500, Ordering::SeqCst);
        self.drop_before.store(drop_before, Ordering::SeqCst);
        self.lose_response.store(lose_response, Ordering::SeqCst);
        self.enabled.store(true, Ordering::SeqCst);
    }

    pub fn off(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }

    pub fn count(&self, kind: usize) -> u64 {
        self.injected[kind].load(Ordering::SeqCst)
    }
}

enum Fault {
    None,
    Throttle,
    Error500,
    DropBefore,
    LoseResponse,
}

fn choose(faults: &Faults, target: &str) -> Fault {
    if !faults.enabled.load(Ordering::SeqCst) {
        return Fault::None;
    }
    match faults.seen.fetch_add(1, Ordering::SeqCst) {
        0 => return Fault::Throttle,
        1 => return Fault::Error500,
        2 => return Fault::DropBefore,
        _ => {}
    }
    if target.ends_with("TransactWriteItems")
        && faults
            .lost_scheduled
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        return Fault::LoseResponse;
    }
    let roll = faults
        .rng
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .random_range(0..1_000u32);
    let mut edge = 0;
    for (rate, fault) in [
        (&faults.throttle, Fault::Throttle),
        (&faults.error_500, Fault::Error500),
        (&faults.drop_before, Fault::DropBefore),
        (&faults.lose_response, Fault::LoseResponse),
    ] {
        edge += rate.load(Ordering::SeqCst);
        if roll < edge {
            return fault;
        }
    }
    Fault::None
}

pub struct FaultProxy {
    pub endpoint: String,
    pub faults: Arc<Faults>,
}

impl FaultProxy {
    pub async fn start(upstream: &str, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let faults = Arc::new(Faults::seeded(seed));
        let upstream = upstream.to_owned();
        let shared = Arc::clone(&faults);
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Ok((socket, _)) = listener.accept().await {
                let (http, upstream, faults) = (http.clone(), upstream.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let _ = connection(socket, &http, &upstream, &faults).await;
                });
            }
        });
        Self { endpoint, faults }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn respond(socket: &mut TcpStream, status: u16, reason: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: injected\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await
}

async fn connection(
    mut socket: TcpStream,
    http: &reqwest::Client,
    upstream: &str,
    faults: &Faults,
) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if socket.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            if socket.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let target = headers
            .iter()
            .find(|(k, _)| k == "x-amz-target")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        match choose(faults, &target) {
            Fault::Throttle => {
                faults.injected[0].fetch_add(1, Ordering::SeqCst);
                respond(
                    &mut socket,
                    400,
                    "Bad Request",
                    br#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"injected throttling"}"#,
                )
                .await?;
                continue;
            }
            Fault::Error500 => {
                faults.injected[1].fetch_add(1, Ordering::SeqCst);
                respond(
                    &mut socket,
                    500,
                    "Internal Server Error",
                    br#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"#,
                )
                .await?;
                continue;
            }
            Fault::DropBefore => {
                faults.injected[2].fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
            fault => {
                let mut request = http.post(format!("{upstream}{path}")).body(body);
                for (k, v) in &headers {
                    if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                        request = request.header(k.as_str(), v.as_str());
                    }
                }
                let answer = match request.send().await {
                    Ok(r) => r,
                    Err(_) => return Ok(()),
                };
                faults.forwarded.fetch_add(1, Ordering::SeqCst);
                let status = answer.status();
                let bytes = answer.bytes().await.unwrap_or_default();
                if matches!(fault, Fault::LoseResponse) {
                    // The upstream did the work; the service never hears of it.
                    faults.injected[3].fetch_add(1, Ordering::SeqCst);
                    if target.ends_with("TransactWriteItems") && status.is_success() {
                        faults.lost_transactions.fetch_add(1, Ordering::SeqCst);
                    }
                    return Ok(());
                }
                respond(
                    &mut socket,
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("OK"),
                    &bytes,
                )
                .await?;
            }
        }
    }
}
