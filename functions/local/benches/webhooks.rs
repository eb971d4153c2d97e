//! Webhook delivery (issue #27), over loopback against the local run in process, with a
//! receiver in process that checks every signature (`webhooks::verify`) and notes when each
//! entry arrived:
//!
//! 1. latency from commit (the create's answer) to the receiver, p50 and p99, with the local
//!    run's deliverer as it ships (a round every 200 ms);
//! 2. throughput to one endpoint: a backlog of entries replayed to it, against a baseline in the
//!    same run — the same signed POSTs to the same receiver from the same client, without the
//!    store (what HTTP alone allows);
//! 3. throughput to 100 endpoints at once;
//! 4. the create path's latency with 100 endpoints registered and being delivered to, against
//!    none.
//!
//! `cargo bench -p local --bench webhooks` (`WEBHOOK_BENCH_BACKLOG` replaces 2,000 entries,
//! `WEBHOOK_BENCH_CREATES` 300 creates). Prints figures and ratios; asserts only that every
//! delivery arrived and verified.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use common::percentile;

use serde_json::{Value, json};

/// Arrivals per endpoint path: (seq, when).
#[derive(Default)]
struct Receiver {
    secrets: Mutex<HashMap<String, webhooks::SigningSecret>>,
    arrivals: Mutex<HashMap<String, Vec<(u64, Instant)>>>,
    bad: Mutex<u64>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let now = Instant::now();
    let secret = receiver.secrets.lock().unwrap().get(&name).cloned();
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let verified = secret.is_some_and(|secret| {
        let timestamp: u64 = header("webhook-timestamp").parse().unwrap_or(0);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        webhooks::verify(
            webhooks::Trusted::Secret(&secret),
            header("webhook-id"),
            timestamp,
            header("webhook-signature"),
            &body,
            wall,
            300,
        )
        .is_ok()
    });
    if !verified {
        *receiver.bad.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let seq = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["data"]["seq"].as_u64());
    receiver
        .arrivals
        .lock()
        .unwrap()
        .entry(name)
        .or_default()
        .push((seq.unwrap_or(u64::MAX), now));
    StatusCode::NO_CONTENT
}

struct Bench {
    running: local::Running,
    http: reqwest::Client,
    integrator: String,
    partner: String,
    receiver: Arc<Receiver>,
    receiver_port: u16,
}

impl Bench {
    async fn register(&self, name: &str, enabled: bool) -> (String, u64) {
        let reply: Value = self
            .http
            .post(format!("{}/webhook-endpoints", self.running.base_url()))
            .bearer_auth(&self.integrator)
            .json(&json!({ "url": format!("http://127.0.0.1:{}/hook/{name}", self.receiver_port), "enabled": enabled }))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        let secret = webhooks::SigningSecret::parse(reply["secret"].as_str().expect("secret")).expect("secret");
        self.receiver.secrets.lock().unwrap().insert(name.to_owned(), secret);
        (
            reply["id"].as_str().expect("id").to_owned(),
            reply["nextSeq"].as_u64().expect("nextSeq"),
        )
    }

    async fn replay(&self, id: &str, from: u64) {
        let status = self
            .http
            .post(format!("{}/webhook-endpoints/{id}/replay", self.running.base_url()))
            .bearer_auth(&self.integrator)
            .json(&json!({ "fromSeq": from }))
            .send()
            .await
            .expect("replay")
            .status();
        assert_eq!(status, 200);
    }

    async fn create(&self) -> (u64, Instant) {
        let reply: Value = self
            .http
            .post(format!(
                "{}/customers/{}/service-requests",
                self.running.base_url(),
                common::CUSTOMER
            ))
            .bearer_auth(&self.partner)
            .json(&common::create_body())
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        (reply["receipt"]["seq"].as_u64().expect("receipt seq"), Instant::now())
    }

    fn arrived(&self, name: &str) -> Vec<(u64, Instant)> {
        self.receiver
            .arrivals
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    async fn wait_until(&self, names: &[String], each: usize) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let done = {
                let arrivals = self.receiver.arrivals.lock().unwrap();
                names
                    .iter()
                    .map(|n| {
                        arrivals
                            .get(n)
                            .filter(|a| a.len() >= each)
                            .and_then(|a| a.last().map(|(_, t)| *t))
                    })
                    .collect::<Option<Vec<Instant>>>()
            };
            if let Some(last) = done {
                return last.into_iter().max().expect("an endpoint");
            }
            assert!(Instant::now() < deadline, "not delivered in 10 minutes");
            if std::env::var_os("WEBHOOK_BENCH_TRACE").is_some() {
                let counts: Vec<usize> = {
                    let arrivals = self.receiver.arrivals.lock().unwrap();
                    names.iter().map(|n| arrivals.get(n).map_or(0, Vec::len)).collect()
                };
                let listed: Value = self
                    .http
                    .get(format!("{}/webhook-endpoints", self.running.base_url()))
                    .bearer_auth(&self.integrator)
                    .send()
                    .await
                    .expect("list")
                    .json()
                    .await
                    .expect("json");
                eprintln!("waiting for {each} each: {counts:?}; {listed}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn in_order(arrivals: &[(u64, Instant)], from: u64, count: usize) {
    let seqs: Vec<u64> = arrivals.iter().map(|(s, _)| *s).take(count).collect();
    let expected: Vec<u64> = (from..from + count as u64).collect();
    assert_eq!(seqs, expected, "in order, without gaps");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backlog: u64 = std::env::var("WEBHOOK_BENCH_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let creates: usize = std::env::var("WEBHOOK_BENCH_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    // Warnings and errors (a failed delivery, a round that failed) on stderr: `RUST_LOG=warn`.
    if std::env::var_os("RUST_LOG").is_some() {
        api::telemetry::init_text();
    }
    let receiver = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook/{name}", axum::routing::post(receive))
        .with_state(Arc::clone(&receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let receiver_port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });

    let dir = tempfile::tempdir().expect("temp dir");
    let running = local::start(local::LocalConfig {
        port: 0,
        dynamodb_port: 0,
        data_dir: dir.path().join("data"),
        ephemeral: true,
        sweep_every: None,
        // The bench runs the deliverer itself (below), so that it can pause it.
        deliver_every: None,
        ..local::LocalConfig::default()
    })
    .await
    .expect("local run");
    let token = |role, subject: &str| {
        local::token::issue(&running.jwt_secret, role, Some("contoso"), subject, 3600).expect("token")
    };
    // The local run's deliverer, as it ships (a round every 200 ms), but pausable.
    let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let in_round = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let state = Arc::clone(&running.state);
        let (paused, in_round) = (Arc::clone(&paused), Arc::clone(&in_round));
        let client = store::webhook_http::WebhookClient::new(webhooks::Mode::Local).expect("client");
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(200));
            loop {
                ticks.tick().await;
                if !paused.load(std::sync::atomic::Ordering::SeqCst) {
                    in_round.store(true, std::sync::atomic::Ordering::SeqCst);
                    api::deliver::deliver_all(&state.app, &client).await.expect("a round");
                    in_round.store(false, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
    }
    let bench = Bench {
        integrator: token(local::token::TokenRole::Integrator, "integrations@contoso"),
        partner: token(local::token::TokenRole::Partner, "agent@contoso"),
        http: reqwest::Client::new(),
        receiver: Arc::clone(&receiver),
        receiver_port,
        running,
    };

    // 1. Latency, commit to receipt, the deliverer as it ships.
    let (latency_id, _) = bench.register("latency", true).await;
    let mut committed = HashMap::new();
    for _ in 0..creates.min(200) {
        let (seq, at) = bench.create().await;
        committed.insert(seq, at);
        // Writes spread over time, not in one burst: a partner's pace, sped up.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut latencies: Vec<Duration> = bench
        .arrived("latency")
        .iter()
        .filter_map(|(seq, at)| committed.get(seq).map(|c| at.saturating_duration_since(*c)))
        .collect();
    assert_eq!(latencies.len(), committed.len(), "every write delivered");
    latencies.sort();
    println!(
        "latency, commit → receiver, {} deliveries (a round every 200 ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );

    // 2. Throughput to one endpoint: a backlog, replayed; against HTTP alone.
    let store = &bench.running.state.app.store;
    let chain = ledger::ChainId::parse("contoso").expect("chain");
    let start = store.chain_size(&chain).await.expect("size");
    for n in 0..backlog {
        let (r, e) = common::own_tenant(n, Utc::now());
        store.create_request(&r, &e, None).await.expect("create");
    }
    let (one, _) = bench.register("one", false).await;
    let replayed = Instant::now();
    bench.replay(&one, start).await;
    let done = bench.wait_until(&["one".to_owned()], backlog as usize).await;
    let one_secs = done.duration_since(replayed).as_secs_f64();
    in_order(&bench.arrived("one"), start, backlog as usize);
    let one_rate = backlog as f64 / one_secs;

    let client = store::webhook_http::WebhookClient::new(webhooks::Mode::Local).expect("client");
    let secret = receiver.secrets.lock().unwrap()["one"].clone();
    receiver
        .secrets
        .lock()
        .unwrap()
        .insert("baseline".to_owned(), secret.clone());
    let signer = webhooks::Signer::new(vec![secret], None).expect("signer");
    let lines = store.stored_entries(&chain, start, backlog).await.expect("entries");
    let url = format!("http://127.0.0.1:{receiver_port}/hook/baseline");
    let check = bench
        .running
        .state
        .app
        .webhooks
        .as_ref()
        .and_then(|w| w.receipts.as_ref())
        .expect("the receipt check");
    let posted = Instant::now();
    for stored in &lines {
        let entry = ledger::EntryRef::parse(stored.line.as_bytes()).expect("entry");
        // Like for like: the body carries the entry's kept receipt, checked as the deliverer does.
        let receipt = api::deliver::kept_receipt(&entry, stored.receipt.as_deref(), check).expect("its receipt");
        let body = api::deliver::body(&entry, &stored.line, &Value::Null, receipt.as_ref()).expect("body");
        let id = webhooks::webhook_id("contoso", entry.seq);
        let timestamp = Utc::now().timestamp() as u64;
        let headers = signer.headers(&id, timestamp, body.as_bytes());
        let answer = client.post(&url, &headers, body.into()).await;
        assert_eq!(answer.status, Some(204));
    }
    let baseline_rate = lines.len() as f64 / posted.elapsed().as_secs_f64();
    println!(
        "throughput to one endpoint, a backlog of {backlog}: {one_rate:.0} deliveries/s ({:.2} ms each); HTTP alone (the same signed POSTs, no store): {baseline_rate:.0}/s; ratio {:.2}",
        1e3 / one_rate,
        baseline_rate / one_rate
    );

    // 3. Throughput to 100 endpoints at once, each the last `per` entries of the backlog (the
    // two endpoints so far deleted: a partner has at most 100).
    for id in [&latency_id, &one] {
        let status = bench
            .http
            .delete(format!("{}/webhook-endpoints/{id}", bench.running.base_url()))
            .bearer_auth(&bench.integrator)
            .send()
            .await
            .expect("delete")
            .status();
        assert_eq!(status, 204);
    }
    let per = (backlog / 10).max(1);
    let mut names = Vec::new();
    let mut ids = Vec::new();
    for i in 0..100 {
        let name = format!("many-{i}");
        let (id, _) = bench.register(&name, false).await;
        names.push(name);
        ids.push(id);
    }
    let from = start + backlog - per;
    let replayed = Instant::now();
    for id in &ids {
        bench.replay(id, from).await;
    }
    let done = bench.wait_until(&names, per as usize).await;
    let many_secs = done.duration_since(replayed).as_secs_f64();
    for name in &names {
        in_order(&bench.arrived(name), from, per as usize);
    }
    let many_rate = (100 * per) as f64 / many_secs;
    println!(
        "throughput to 100 endpoints, {per} entries each: {many_rate:.0} deliveries/s in all ({:.2}× one endpoint's)",
        many_rate / one_rate
    );

    // 4. The create path with 100 endpoints registered (and being sent every create), against
    // none: the same creates, first with every endpoint disabled, then enabled.
    let set_all = |enabled: bool| {
        let ids = ids.clone();
        let bench = &bench;
        async move {
            for id in ids {
                let status = bench
                    .http
                    .patch(format!("{}/webhook-endpoints/{id}", bench.running.base_url()))
                    .bearer_auth(&bench.integrator)
                    .json(&json!({ "enabled": enabled }))
                    .send()
                    .await
                    .expect("patch")
                    .status();
                assert_eq!(status, 200);
            }
        }
    };
    let time_creates = || async {
        let mut times = Vec::with_capacity(creates);
        for _ in 0..creates {
            let started = Instant::now();
            bench.create().await;
            times.push(started.elapsed());
        }
        times.sort();
        times
    };
    set_all(false).await;
    let none = time_creates().await;
    // Registered and enabled, the deliverer paused (no round in flight): what the write path
    // itself does with them (nothing: a create is one round trip either way).
    paused.store(true, std::sync::atomic::Ordering::SeqCst);
    while in_round.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    set_all(true).await;
    let registered = time_creates().await;
    // And delivering on the same two cores as the API (the receiver and DynamoDB too): each
    // create is sent to 100 endpoints meanwhile.
    paused.store(false, std::sync::atomic::Ordering::SeqCst);
    let delivering = time_creates().await;
    let mean = |t: &[Duration]| t.iter().map(Duration::as_secs_f64).sum::<f64>() / t.len() as f64 * 1e3;
    let line = |name: &str, t: &[Duration]| {
        format!(
            "{name}: p50 {:.2} ms, mean {:.2} ms (ratio p50 {:.3}, mean {:.3})",
            percentile(t, 0.5),
            mean(t),
            percentile(t, 0.5) / percentile(&none, 0.5),
            mean(t) / mean(&none)
        )
    };
    println!(
        "create latency, {creates} creates each: {}; {}; {}",
        line("no endpoint", &none),
        line("100 endpoints registered, deliverer paused", &registered),
        line("100 endpoints delivering on the same cores", &delivering)
    );
    // Let the deliveries of the last creates finish before stopping.
    let total = bench.running.state.app.store.chain_size(&chain).await.expect("size");
    let caught_up = Instant::now();
    bench.wait_until(&names, (total - from) as usize).await;
    println!(
        "after the last create, the 100 endpoints caught up in {:.1} s",
        caught_up.elapsed().as_secs_f64()
    );
    assert_eq!(*receiver.bad.lock().unwrap(), 0, "every delivery verified");
    bench.running.stop().await;
}
