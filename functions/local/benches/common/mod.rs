//! What the HTTP benches share: `local` started as separate processes (two instances on one
//! embedded DynamoDB, as two Lambda containers), tokens from its `token` command, requests
//! and latency percentiles.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CUSTOMER: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Instances {
    children: Vec<Child>,
    pub urls: Vec<String>,
    bin: PathBuf,
    dir: tempfile::TempDir,
    dynamodb: u16,
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "local did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn start(bin: &Path, instances: usize) -> Instances {
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
        dynamodb,
    }
}

impl Instances {
    pub fn token(&self, role: &str, partner: Option<&str>) -> Option<String> {
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
pub struct Outcome {
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<u16, usize>,
    pub seconds: f64,
}

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    match http.request(method, url).bearer_auth(token).json(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

impl Instances {
    /// Relate each partner to [`CUSTOMER`] as the vendor's administrator. False if the build
    /// has no administrator (an older build lets anyone file).
    pub async fn relate(&self, http: &reqwest::Client, partners: &[String]) -> bool {
        let Some(admin) = self.token("admin", None) else {
            return false;
        };
        for p in partners {
            let url = format!("{}/relationships/{p}/{CUSTOMER}", self.urls[0]);
            let (status, body) = call(http, reqwest::Method::PUT, &url, &admin, &json!({ "status": "active" })).await;
            assert_eq!(status, 200, "{body}");
        }
        true
    }
}

/// `ledger verify --json` of an exported (or synced) chain against one kept checkpoint.
pub fn verify_chain(export: &Path, key: &Path, checkpoint: &Path) -> ledger_cli::commands::Outcome {
    ledger_cli::commands::verify(ledger_cli::commands::VerifyArgs {
        export,
        keys: &[key.to_path_buf()],
        log: Some(local::log_name()),
        checkpoints: &[checkpoint.to_path_buf()],
        disclosures: None,
        chain: None,
        allow_uncovered: false,
        json: true,
        now: None,
        witnesses: None,
    })
    .expect("verify ran")
}

pub fn create_body() -> Value {
    json!({
        "product": "azure", "category": "technical", "severity": "B",
        "supportTopic": "Virtual machines / cannot connect", "title": "Bench request",
        "description": "A realistic but short description of the problem.", "language": "en",
        "contact": { "name": "Agent", "email": "agent@partner.example", "preferredContactMethod": "email" }
    })
}

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// The binary to drive: `LEDGERDESK_LOCAL_BIN`, or this build's.
pub fn local_bin() -> PathBuf {
    std::env::var_os("LEDGERDESK_LOCAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_local")))
}

impl Instances {
    /// The data directory the instances share (for `local sweep` and tokens).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Run `local sweep` against the running instances' DynamoDB (signs checkpoints).
    pub fn sweep(&self) -> Value {
        let dynamodb = self.dynamodb;
        let out = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--dynamodb-port", &dynamodb.to_string(), "sweep"])
            .stderr(Stdio::null())
            .output()
            .expect("local sweep");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

/// One run of a command: its wall time and, where GNU time is installed (`/usr/bin/time`),
/// its peak resident set as the kernel counted it. Panics unless it exits 0.
pub fn run_measured(bin: &Path, args: &[std::ffi::OsString]) -> (f64, Option<u64>) {
    let gnu_time = Path::new("/usr/bin/time");
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let mut command = if gnu_time.exists() {
        let mut c = Command::new(gnu_time);
        c.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let started = Instant::now();
    let status = command
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("the command runs");
    let secs = started.elapsed().as_secs_f64();
    assert!(status.success(), "{} {args:?}: {status}", bin.display());
    let kib = std::fs::read_to_string(report.path())
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()));
    (secs, kib)
}

/// The best time and the largest peak RSS of `runs` runs.
pub fn best_measured(runs: usize, mut run: impl FnMut(usize) -> (f64, Option<u64>)) -> (f64, Option<u64>) {
    (0..runs)
        .map(&mut run)
        .fold((f64::INFINITY, None), |(t, m), (secs, kib)| (t.min(secs), m.max(kib)))
}

/// A peak RSS for a table: `12.3 MiB`, or `n/a` without GNU time.
pub fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// A request of partner `contoso`'s own tenant (an entitlement, no customer), opened at `at`,
/// and its creation event: what the benches write straight through the store.
pub fn own_tenant(n: u64, at: chrono::DateTime<chrono::Utc>) -> (domain::ServiceRequest, domain::DomainEvent) {
    use domain::*;
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": "azure", "category": "technical", "severity": "B", "supportTopic": "Compute",
        "title": "Bench request", "description": "A realistic but short description of the problem.",
        "language": "en", "contact": { "name": "Agent", "email": "agent@partner.example" },
        "entitlement": { "kind": "mpn_contract", "reference": "MPN-1" }
    }))
    .expect("input");
    let partner = PartnerId::parse("contoso").expect("partner");
    let new = NewServiceRequest::parse(input, TenantInput::PartnerOwn, &partner).expect("valid");
    let actor = Actor::new(Role::PartnerAgent, Subject::parse("agent@contoso").expect("subject"));
    let policy = SupportPolicy::embedded().expect("policy");
    ServiceRequest::open(
        new,
        partner,
        RequestId::new(at, u128::from(n) << 16 | 5),
        Timestamp::from(at),
        &actor,
        &policy,
    )
    .expect("open")
}
