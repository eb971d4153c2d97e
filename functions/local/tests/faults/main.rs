//! Kill anywhere, lose nothing; and store faults that end in 503 with Retry-After or in
//! nothing at all. Bounded in time and count.
//!
//! 1. The `local` binary is killed with SIGKILL 24 times while clients create (with
//!    Idempotency-Key) and add notes (with If-Match), and restarted each time on the same
//!    data; clients retry every unanswered call. Each kill comes after a seeded number of the
//!    clients' requests (1 to 6) and a seeded delay (0 to 300 ms), so traffic runs between
//!    every two kills; after the last, the clients go on until 8 creates are acknowledged.
//! 2. The service runs behind a fault-injecting proxy in front of its DynamoDB-compatible
//!    server: throttling, 500s, dropped connections, responses lost after the write — each at
//!    least once by schedule, the rest from a seeded roll; then one create under throttling
//!    the SDK cannot absorb, which must end in 503 with Retry-After.
//!
//! The seed is printed; `FAULTS_SEED=<n>` replays a run's schedule.
//!
//! Afterwards, every time: each acknowledged create exists exactly once and nothing else;
//! every request's version equals its ledger entries; every acknowledged note is in the
//! ledger exactly once; the sweep signs and the exported chain verifies.

mod client;
mod proxy;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use client::{Acknowledged, Client, Progress, check_invariants};
use ledger_cli::commands::{Exit, VerifyArgs};
use rand::{RngExt, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_local");

/// The run's seed: `FAULTS_SEED`, or a fixed one; printed so that a failure can be replayed.
fn seed() -> u64 {
    let seed = std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1ed6_fa17_2026);
    eprintln!("faults seed {seed} (FAULTS_SEED={seed} replays this schedule)");
    seed
}

/// Wait until `done()` holds; the seed in the message if it never does.
async fn until(what: &str, seed: u64, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened (FAULTS_SEED={seed})");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "local did not come up on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn token(data: &std::path::Path, role: &str, partner: Option<&str>) -> String {
    let mut command = Command::new(BIN);
    command.arg("--data-dir").arg(data).args(["token", "--role", role]);
    if let Some(p) = partner {
        command.args(["--partner", p]);
    }
    let out = command.output().expect("local token");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Sign the chain, then fetch it and its checkpoint through the API and verify it offline.
async fn sign_and_verify(
    checker: &Client,
    sweep: impl FnOnce() -> serde_json::Value,
    key: &std::path::Path,
    dir: &std::path::Path,
) {
    let report = sweep();
    assert!(
        report["integrityAlarms"].as_array().is_none_or(Vec::is_empty),
        "{report}"
    );
    let mut lines = String::new();
    let mut start = 0;
    loop {
        let page = checker.text(&format!("/ledger/entries?start={start}&limit=1000")).await;
        let n = page.lines().count();
        lines.push_str(&page);
        start += n;
        if n < 1000 {
            break;
        }
    }
    let note = checker.text("/ledger/checkpoint").await;
    let export = dir.join("export.jsonl");
    let checkpoint = dir.join("checkpoint.note");
    std::fs::write(&export, lines).unwrap();
    std::fs::write(&checkpoint, note).unwrap();
    let outcome = ledger_cli::commands::verify(VerifyArgs {
        export: &export,
        keys: &[key.to_owned()],
        log: Some(local::log_name()),
        checkpoints: &[checkpoint],
        disclosures: None,
        chain: None,
        allow_uncovered: false,
        json: true,
        now: None,
        witnesses: None,
    })
    .unwrap();
    assert_eq!(outcome.exit, Exit::Ok, "{}", outcome.stdout);
}

/// `clients` workers, each creating and noting until `stop` (at most `units` each).
async fn work(
    base: String,
    token: String,
    clients: usize,
    units: usize,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> Vec<Acknowledged> {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (base, token, stop) = (base.clone(), token.clone(), Arc::clone(&stop));
        let progress = Arc::clone(&progress);
        tasks.spawn(async move {
            let mut client = Client::new(base, token);
            client.progress = progress;
            for i in 0..units {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let id = client.create(&format!("drill-{c}-{i}")).await;
                client.note(&id, &format!("drill {c}-{i}: first")).await;
                client.note(&id, &format!("drill {c}-{i}: second")).await;
            }
            client.done
        });
    }
    let mut done = Vec::new();
    while let Some(d) = tasks.join_next().await {
        done.push(d.expect("a client"));
    }
    done
}

fn spawn(port: u16, dynamodb: u16, data: &std::path::Path) -> Child {
    Command::new(BIN)
        .args(["--port", &port.to_string(), "--dynamodb-port", &dynamodb.to_string()])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "off")
        .env_remove("DYNAMODB_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("local starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_at_random_moments_nothing_is_lost_or_doubled() {
    const KILLS: usize = 24;
    let seed = seed();
    let mut schedule = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (port, dynamodb) = (free_port(), free_port());
    let mut child = spawn(port, dynamodb, &data);
    wait_for(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let partner = token(&data, "partner", Some("contoso"));
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let clients = tokio::spawn(work(
        base.clone(),
        partner.clone(),
        4,
        1_000,
        Arc::clone(&stop),
        Arc::clone(&progress),
    ));
    for kill in 0..KILLS {
        // After a few more of the clients' requests, at a moment within one.
        let after = progress.sent.load(Ordering::SeqCst) + schedule.random_range(1..=6u64);
        until(&format!("request {after} before kill {kill}"), seed, || {
            progress.sent.load(Ordering::SeqCst) >= after
        })
        .await;
        tokio::time::sleep(Duration::from_millis(schedule.random_range(0..=300u64))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        child = spawn(port, dynamodb, &data);
        wait_for(port).await;
    }
    until("8 creates acknowledged", seed, || {
        progress.created.load(Ordering::SeqCst) >= 8
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let acknowledged = clients.await.expect("clients");
    let creates: usize = acknowledged.iter().map(|a| a.creates.len()).sum();
    assert!(creates >= 8, "{creates} creates (FAULTS_SEED={seed})");
    let mut checker = Client::new(base.clone(), partner.clone());
    check_invariants(&mut checker, &acknowledged.iter().collect::<Vec<_>>()).await;
    let sweep = || {
        let out = Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(["--dynamodb-port", &dynamodb.to_string(), "sweep"])
            .output()
            .expect("local sweep");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("a sweep report")
    };
    sign_and_verify(&checker, sweep, &data.join("ledgerdesk-local.pub"), dir.path()).await;
    eprintln!("{KILLS} kills, {creates} creates acknowledged, every invariant holds");
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_faults_end_in_retry_after_or_in_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = store::embedded::EmbeddedDynamo::start("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let seed = seed();
    let proxy = proxy::FaultProxy::start(upstream.endpoint(), seed).await;
    let running = local::start(local::LocalConfig {
        port: 0,
        dynamodb_port: 0,
        data_dir: dir.path().join("data"),
        ephemeral: true,
        dynamodb_endpoint: Some(proxy.endpoint.clone()),
        sweep_every: None,
        deliver_every: None,
        relationships: local::LocalConfig::default().relationships,
        clock: store::Clock::system(),
        ..local::LocalConfig::default()
    })
    .await
    .unwrap();
    let base = running.base_url();
    let partner = local::token::issue(
        &running.jwt_secret,
        local::token::TokenRole::Partner,
        Some("contoso"),
        "agent@contoso",
        3600,
    )
    .unwrap();
    // Phase 1: every fault by schedule, then a mix at rates the SDK's own retries mostly absorb.
    proxy.faults.set(40, 30, 30, 60);
    let first = work(
        base.clone(),
        partner.clone(),
        4,
        10,
        Arc::new(AtomicBool::new(false)),
        Arc::default(),
    )
    .await;
    // Phase 2: throttling the SDK cannot absorb (every request): one create exhausts the
    // store's retry budget, and the API must answer 503 with Retry-After, having written
    // nothing.
    proxy.faults.set(1_000, 0, 0, 0);
    let overload = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
        .post(format!("{base}/customers/{}/service-requests", client::CUSTOMER))
        .bearer_auth(&partner)
        .header("idempotency-key", "overloaded")
        .json(&serde_json::json!({
            "product": "azure", "category": "technical", "severity": "B",
            "supportTopicId": "azure-vm-connectivity", "title": "Overloaded",
            "description": "Filed while the store throttles everything.", "language": "en",
            "contact": { "name": "Erika Partner", "email": "erika@partner.example" }
        }))
        .send()
        .await
        .expect("an answer, not a timeout");
    proxy.faults.off();
    assert_eq!(overload.status().as_u16(), 503, "FAULTS_SEED={seed}");
    assert!(overload.headers().contains_key("retry-after"), "503 says Retry-After");
    let all: Vec<&Acknowledged> = first.iter().collect();
    let (throttled, errors, dropped, lost) = (
        proxy.faults.count(0),
        proxy.faults.count(1),
        proxy.faults.count(2),
        proxy.faults.count(3),
    );
    let lost_transactions = proxy.faults.lost_transactions.load(Ordering::SeqCst);
    eprintln!(
        "injected: {throttled} throttling, {errors} 500s, {dropped} dropped, {lost} lost responses ({lost_transactions} of committed transactions)"
    );
    assert!(throttled > 0 && errors > 0 && dropped > 0 && lost > 0);
    assert!(
        lost_transactions > 0,
        "a committed transaction's response was lost (the ClientRequestToken case)"
    );
    let statuses: std::collections::BTreeMap<u16, usize> =
        all.iter()
            .flat_map(|a| a.statuses.iter())
            .fold(Default::default(), |mut m, (s, n)| {
                *m.entry(*s).or_default() += n;
                m
            });
    eprintln!("answers: {statuses:?}");
    assert_eq!(
        all.iter().map(|a| a.bare_503).sum::<usize>(),
        0,
        "every 503 says Retry-After"
    );
    for status in statuses.keys() {
        assert!(
            matches!(status, 200 | 201 | 412 | 503),
            "answer {status} under store faults: {statuses:?}"
        );
    }
    let mut checker = Client::new(base.clone(), partner.clone());
    check_invariants(&mut checker, &all).await;
    let running_ref = &running;
    let now = domain::Timestamp::from(chrono::Utc::now());
    let report = running_ref.sweep(now).await.unwrap();
    let report = serde_json::to_value(report).unwrap();
    sign_and_verify(&checker, || report, &running.public_key, dir.path()).await;
    running.stop().await;
}
