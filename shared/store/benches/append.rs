//! State-change throughput and round trips per create, against the embedded DynamoDB-compatible
//! server (dynoxide, in memory, over HTTP with the real SDK).
//!
//! `cargo bench -p store --bench append`. Prints figures; asserts nothing. dynoxide is an
//! emulator on SQLite: compare the rows with each other (ratios), never with DynamoDB.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use domain::*;
use serde_json::json;
use store::embedded::EmbeddedDynamo;
use store::{Store, TableNames};

fn open(partner: &str, n: u64) -> (ServiceRequest, DomainEvent) {
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": "azure", "category": "technical", "severity": "B", "supportTopic": "Compute",
        "title": "Bench request", "description": "A realistic but short description of the problem.",
        "language": "en", "contact": { "name": "Agent", "email": "agent@partner.example" }
    }))
    .expect("input");
    let partner = PartnerId::parse(partner).expect("partner");
    let at: DateTime<Utc> = DateTime::from_timestamp(1_795_000_000, 0).expect("time") + Duration::seconds(n as i64);
    let new = NewServiceRequest::parse(
        input,
        TenantInput::Customer("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        &partner,
    )
    .expect("valid");
    let actor = Actor::new(Role::PartnerAgent, Subject::parse("bench").expect("subject"));
    let policy = SupportPolicy::embedded().expect("policy");
    ServiceRequest::open(
        new,
        partner,
        RequestId::new(at, u128::from(n) << 32 | 7),
        Timestamp::from(at),
        &actor,
        &policy,
    )
    .expect("open")
}

struct Run {
    appends: u64,
    seconds: f64,
    round_trips: u64,
}

async fn run(writers: usize, chains: usize, each: u64) -> Run {
    let dynamo = EmbeddedDynamo::start("127.0.0.1:0".parse().expect("addr"), None)
        .await
        .expect("dynoxide");
    let client = store::dynamodb_at(dynamo.endpoint(), "eu-central-1").await;
    let tables = TableNames::with_prefix("bench");
    let setup = Store::new(client.clone(), tables.clone());
    setup.create_tables().await.expect("tables");
    // Warm every writer's head cache with one create, outside the measurement.
    let stores: Vec<Arc<Store>> = (0..writers)
        .map(|_| Arc::new(Store::new(client.clone(), tables.clone())))
        .collect();
    for (w, store) in stores.iter().enumerate() {
        let (r, e) = open(&format!("chain-{}", w % chains), 900_000_000 + w as u64);
        store.create_request(&r, &e, None).await.expect("warm-up");
    }
    // Heads may have moved since each writer's warm-up; count only what the measured loop does.
    let before: u64 = stores.iter().map(|s| s.round_trips()).sum();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (w, store) in stores.iter().enumerate() {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..each {
                let (r, e) = open(&format!("chain-{}", w % chains), (w as u64) * 100_000 + i);
                store.create_request(&r, &e, None).await.expect("create");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    let seconds = start.elapsed().as_secs_f64();
    let after: u64 = stores.iter().map(|s| s.round_trips()).sum();
    dynamo.stop().await;
    Run {
        appends: writers as u64 * each,
        seconds,
        round_trips: after - before,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let each: u64 = std::env::var("STORE_BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    println!("state changes (create + ledger append + head) against embedded dynoxide, {each} per writer:");
    let baseline = run(1, 1, each * 4).await;
    let rows = [
        ("1 writer, 1 chain", baseline),
        ("16 writers, 1 chain", run(16, 1, each / 4).await),
        ("16 writers, 16 chains", run(16, 16, each / 4).await),
    ];
    let base_rate = rows[0].1.appends as f64 / rows[0].1.seconds;
    for (name, r) in &rows {
        let rate = r.appends as f64 / r.seconds;
        println!(
            "  {name:<22} {:>6} appends in {:>6.2} s = {:>7.0} appends/s ({:.2}x baseline), {:.2} round trips per create",
            r.appends,
            r.seconds,
            rate,
            rate / base_rate,
            r.round_trips as f64 / r.appends as f64
        );
    }
    println!("  (a cold create adds one head read: 2 round trips; a warm, uncontended one is 1)");
}
