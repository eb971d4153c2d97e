//! Writers at once on one partner's chain, through the local run over HTTP: throughput,
//! latency percentiles and every response by status.
//!
//! `cargo bench -p local --bench contention`. Starts `local` (this build's, or the binary
//! named by `LEDGERDESK_LOCAL_BIN`, e.g. an older build for a before/after) as two
//! instances on one embedded DynamoDB — two Lambda containers: separate caches and locks,
//! only DynamoDB's conditions between them — and drives them with concurrent clients,
//! round-robin. `CONTENTION_OPS` sets the requests per scenario (default 640). Prints figures
//! and ratios against one writer; asserts nothing.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CUSTOMER: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Instances {
    children: Vec<Child>,
    urls: Vec<String>,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "local did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(bin: &Path, instances: usize) -> Instances {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let dynamodb = free_port();
    let mut children = Vec::new();
    let mut urls = Vec::new();
    for i in 0..instances {
        let port = free_port();
        let mut command = Command::new(bin);
        command
            .args(["--port", &port.to_string(), "--dynamodb-port", &dynamodb.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .env("RUST_LOG", "error")
            .env_remove("DYNAMODB_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if i == 0 {
            command.arg("--ephemeral");
        } else {
            command.args(["--dynamodb-endpoint", &format!("http://127.0.0.1:{dynamodb}")]);
        }
        children.push(command.spawn().expect("local starts"));
        wait_for(port);
        urls.push(format!("http://127.0.0.1:{port}"));
    }
    Instances {
        children,
        urls,
        bin: bin.to_owned(),
        dir,
    }
}

impl Instances {
    fn token(&self, role: &str, partner: Option<&str>) -> Option<String> {
        let mut command = Command::new(&self.bin);
        command
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["token", "--role", role]);
        if let Some(p) = partner {
            command.args(["--partner", p]);
        }
        let out = command.stderr(Stdio::null()).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    seconds: f64,
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: &str, token: &str, body: &Value) -> (u16, Value) {
    match http.request(method, url).bearer_auth(token).json(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn create_body() -> Value {
    json!({
        "product": "azure", "category": "technical", "severity": "B",
        "supportTopic": "Virtual machines / cannot connect", "title": "Bench request",
        "description": "A realistic but short description of the problem.", "language": "en",
        "contact": { "name": "Agent", "email": "agent@partner.example", "preferredContactMethod": "email" }
    })
}

enum Work {
    /// Creates, each writer on chain `writer % chains`.
    Creates { chains: usize },
    /// Notes on one request, without If-Match.
    Notes,
}

async fn scenario(bin: &Path, writers: usize, work: Work, ops: usize) -> Outcome {
    let instances = start(bin, 2);
    let http = reqwest::Client::new();
    let chains = match work {
        Work::Creates { chains } => chains,
        Work::Notes => 1,
    };
    let partners: Vec<String> = (0..chains).map(|c| format!("bench-{c}")).collect();
    // Relationships, where the build has them (an older build lets anyone file).
    if let Some(admin) = instances.token("admin", None) {
        for p in &partners {
            let url = format!("{}/relationships/{p}/{CUSTOMER}", instances.urls[0]);
            call(
                &http,
                reqwest::Method::PUT,
                &url,
                &admin,
                &json!({ "status": "active" }),
            )
            .await;
        }
    }
    let tokens: Vec<String> = partners
        .iter()
        .map(|p| instances.token("partner", Some(p)).expect("a partner token"))
        .collect();
    // Warm up every chain (and, for notes, create the request), outside the measurement.
    let mut target = String::new();
    for (c, token) in tokens.iter().enumerate() {
        for url in &instances.urls {
            let (status, body) = call(
                &http,
                reqwest::Method::POST,
                &format!("{url}/customers/{CUSTOMER}/service-requests"),
                token,
                &create_body(),
            )
            .await;
            assert_eq!(status, 201, "warm-up create for chain {c}: {body}");
            target = body["id"].as_str().unwrap_or_default().to_owned();
        }
    }
    let each = ops / writers;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let http = http.clone();
        let base = instances.urls[w % instances.urls.len()].clone();
        let token = tokens[w % tokens.len()].clone();
        let (method, url, body) = match work {
            Work::Creates { .. } => (
                reqwest::Method::POST,
                format!("{base}/customers/{CUSTOMER}/service-requests"),
                create_body(),
            ),
            Work::Notes => (
                reqwest::Method::PATCH,
                format!("{base}/service-requests/{target}"),
                json!({ "action": "note", "message": format!("note from writer {w}") }),
            ),
        };
        tasks.spawn(async move {
            let mut out = Vec::with_capacity(each);
            for _ in 0..each {
                let t = Instant::now();
                let (status, _) = call(&http, method.clone(), &url, &token, &body).await;
                out.push((status, t.elapsed()));
            }
            out
        });
    }
    let mut outcome = Outcome::default();
    while let Some(done) = tasks.join_next().await {
        for (status, latency) in done.expect("writer") {
            *outcome.statuses.entry(status).or_default() += 1;
            outcome.latencies.push(latency);
        }
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.latencies.sort();
    outcome
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bin = std::env::var_os("LEDGERDESK_LOCAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_local")));
    let ops: usize = std::env::var("CONTENTION_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(640);
    println!(
        "contention through the local run ({}), two instances on one DynamoDB, {ops} requests per row",
        bin.display()
    );
    let rows = [
        ("creates, 1 writer, 1 chain", 1, Work::Creates { chains: 1 }),
        ("creates, 4 writers, 1 chain", 4, Work::Creates { chains: 1 }),
        ("creates, 16 writers, 1 chain", 16, Work::Creates { chains: 1 }),
        ("creates, 16 writers, 16 chains", 16, Work::Creates { chains: 16 }),
        ("notes, 1 writer, 1 request", 1, Work::Notes),
        ("notes, 16 writers, 1 request", 16, Work::Notes),
    ];
    // Each row against one writer doing the same kind of work.
    let mut base_rate: BTreeMap<bool, f64> = BTreeMap::new();
    for (name, writers, work) in rows {
        let notes = matches!(work, Work::Notes);
        let o = scenario(&bin, writers, work, ops).await;
        let done: usize = o.statuses.values().sum();
        let rate = done as f64 / o.seconds;
        let base = *base_rate.entry(notes).or_insert(rate);
        let statuses: Vec<String> = o.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!(
            "  {name:<32} {rate:>7.0} req/s ({:.2}x 1 writer)  p50 {:>6.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  {}",
            rate / base,
            percentile(&o.latencies, 0.5),
            percentile(&o.latencies, 0.99),
            o.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            statuses.join(" ")
        );
    }
}
