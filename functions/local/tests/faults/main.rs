//! Kill anywhere, lose nothing; and store faults that end in 503 with Retry-After or in
//! nothing at all. Bounded in time and count.
//!
//! 1. The `local` binary is killed with SIGKILL at random moments (at least 20 times) while
//!    clients create (with Idempotency-Key) and add notes (with If-Match), and restarted each
//!    time on the same data; clients retry every unanswered call.
//! 2. The service runs behind a fault-injecting proxy in front of its DynamoDB-compatible
//!    server: throttling, 500s, dropped connections, responses lost after the write.
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

use client::{Acknowledged, Client, check_invariants};
use ledger_cli::commands::{Exit, VerifyArgs};

const BIN: &str = env!("CARGO_BIN_EXE_local");

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
async fn work(base: String, token: String, clients: usize, units: usize, stop: Arc<AtomicBool>) -> Vec<Acknowledged> {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (base, token, stop) = (base.clone(), token.clone(), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut client = Client::new(base, token);
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
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (port, dynamodb) = (free_port(), free_port());
    let mut child = spawn(port, dynamodb, &data);
    wait_for(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let partner = token(&data, "partner", Some("contoso"));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(work(base.clone(), partner.clone(), 4, 60, Arc::clone(&stop)));
    let mut kills = 0;
    let started = Instant::now();
    while kills < 24 && started.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(100 + u64::from(rand::random::<u16>() % 400))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
        child = spawn(port, dynamodb, &data);
        wait_for(port).await;
    }
    stop.store(true, Ordering::SeqCst);
    let acknowledged = clients.await.expect("clients");
    assert!(kills >= 20, "only {kills} kills");
    let creates: usize = acknowledged.iter().map(|a| a.creates.len()).sum();
    assert!(creates >= 8, "the stream ran during the kills: {creates} creates");
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
    eprintln!("{kills} kills, {creates} creates acknowledged, every invariant holds");
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_faults_end_in_retry_after_or_in_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = store::embedded::EmbeddedDynamo::start("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let proxy = proxy::FaultProxy::start(upstream.endpoint()).await;
    let running = local::start(local::LocalConfig {
        port: 0,
        dynamodb_port: 0,
        data_dir: dir.path().join("data"),
        ephemeral: true,
        dynamodb_endpoint: Some(proxy.endpoint.clone()),
        sweep_every: None,
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
    // Phase 1: a mix of every fault at rates the SDK's own retries mostly absorb.
    proxy.faults.set(40, 30, 30, 60);
    let first = work(base.clone(), partner.clone(), 4, 10, Arc::new(AtomicBool::new(false))).await;
    // Phase 2: throttling the SDK cannot absorb: the API must answer 503 with Retry-After.
    // (Longer than the store's 10-second retry budget, so some request exhausts it.)
    proxy.faults.set(950, 0, 0, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let heavy = tokio::spawn(work(base.clone(), partner.clone(), 2, 3, Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_secs(12)).await;
    proxy.faults.off();
    let second = heavy.await.unwrap();
    let all: Vec<&Acknowledged> = first.iter().chain(second.iter()).collect();
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
    assert!(statuses.get(&503).copied().unwrap_or(0) > 0, "overload is a 503");
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
