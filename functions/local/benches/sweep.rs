//! The SLA sweep at scale, against the embedded DynamoDB-compatible server (the real SDK over
//! HTTP): the idle sweep (nothing due, every chain signed already) with 10 and 10,000
//! partners, and a sweep that breaches 5,000 requests spread over 1,000 partners — time and
//! round trips, per run and per breach.
//!
//! `cargo bench -p local --bench sweep` (`SWEEP_BENCH_PARTNERS` replaces 10,000). Prints
//! figures and ratios; asserts nothing. The emulator serialises writes on SQLite: compare
//! the rows with each other, not with DynamoDB.

use std::time::Instant;

use api::App;
use api::sweep::{Signing, sweep};
use chrono::{DateTime, Duration, Utc};
use domain::*;
use ledger::{LogName, SignerKey};
use serde_json::json;
use store::embedded::EmbeddedDynamo;
use store::{Store, TableNames};

fn request(partner: &str, n: u64, at: DateTime<Utc>) -> (ServiceRequest, DomainEvent) {
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": "azure", "category": "technical", "severity": "A", "supportTopic": "Compute",
        "title": "Bench request", "description": "A realistic but short description.",
        "language": "en", "contact": { "name": "Agent", "email": "agent@partner.example" },
        "entitlement": { "kind": "mpn_contract", "reference": "MPN-1" }
    }))
    .expect("input");
    let partner = PartnerId::parse(partner).expect("partner");
    let new = NewServiceRequest::parse(input, TenantInput::PartnerOwn, &partner).expect("valid");
    let actor = Actor::new(Role::PartnerAgent, Subject::parse("bench").expect("subject"));
    let policy = SupportPolicy::embedded().expect("policy");
    ServiceRequest::open(
        new,
        partner,
        RequestId::new(at, u128::from(n) << 16 | 3),
        Timestamp::from(at),
        &actor,
        &policy,
    )
    .expect("open")
}

struct Setup {
    app: App,
    signing: Signing,
    _dynamo: EmbeddedDynamo,
}

async fn setup(partners: usize, per_partner: u64, at: DateTime<Utc>) -> Setup {
    let dynamo = EmbeddedDynamo::start("127.0.0.1:0".parse().expect("addr"), None)
        .await
        .expect("dynoxide");
    let client = store::dynamodb_at(dynamo.endpoint(), "eu-central-1").await;
    let store = Store::new(client, TableNames::with_prefix("bench"));
    store.create_tables().await.expect("tables");
    let mut n = 0;
    let mut tasks = tokio::task::JoinSet::new();
    let store = std::sync::Arc::new(store);
    for p in 0..partners {
        for _ in 0..per_partner {
            n += 1;
            let store = std::sync::Arc::clone(&store);
            let (r, e) = request(&format!("partner-{p:05}"), n, at);
            tasks.spawn(async move { store.create_request(&r, &e, None).await.map(|_| ()) });
            if tasks.len() >= 32 {
                tasks
                    .join_next()
                    .await
                    .expect("a task")
                    .expect("joined")
                    .expect("created");
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("joined").expect("created");
    }
    let store = std::sync::Arc::try_unwrap(store).unwrap_or_else(|_| panic!("one owner"));
    let app = App::new(
        store,
        SupportPolicy::embedded().expect("policy"),
        api::identity::IdentityConfig::new("partner_id", "vendor"),
    );
    let signing = Signing {
        key: SignerKey::from_seed("bench", [7; 32]).expect("key"),
        log: LogName::parse("bench.local").expect("log"),
    };
    Setup {
        app,
        signing,
        _dynamo: dynamo,
    }
}

/// One sweep at `now`: seconds, round trips, breaches.
async fn timed(s: &Setup, now: DateTime<Utc>) -> (f64, u64, usize, usize) {
    let before = s.app.store.round_trips();
    let started = Instant::now();
    let report = sweep(&s.app, &s.signing, Timestamp::from(now)).await.expect("sweep");
    (
        started.elapsed().as_secs_f64(),
        s.app.store.round_trips() - before,
        report.breached.len(),
        report.checkpoints.len(),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let large: usize = std::env::var("SWEEP_BENCH_PARTNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let t0: DateTime<Utc> = DateTime::from_timestamp(1_796_000_000, 0).expect("time");
    println!("the SLA sweep against embedded dynoxide");
    let mut idle = Vec::new();
    for partners in [10, large] {
        let s = setup(partners, 1, t0).await;
        // The first sweep signs every chain; the second has nothing to do.
        let (first, first_trips, _, signed) = timed(&s, t0 + Duration::minutes(1)).await;
        let runs: Vec<(f64, u64)> = {
            let mut v = Vec::new();
            for i in 0..5 {
                let (secs, trips, breached, signed) = timed(&s, t0 + Duration::minutes(2 + i)).await;
                assert_eq!((breached, signed), (0, 0), "idle");
                v.push((secs, trips));
            }
            v
        };
        let mut secs: Vec<f64> = runs.iter().map(|r| r.0).collect();
        secs.sort_by(f64::total_cmp);
        let median = secs[secs.len() / 2];
        println!(
            "  {partners:>6} partners: first sweep {first:.3} s ({first_trips} round trips, {signed} checkpoints), idle sweep median {:.1} ms, {} round trips",
            median * 1e3,
            runs[0].1
        );
        idle.push(median);
    }
    println!(
        "  idle sweep, {large} partners / 10 partners: {:.2}x",
        idle[1] / idle[0]
    );
    let s = setup(1_000, 5, t0).await;
    // Sign the chains first, so the run below is the breaches (and their checkpoints).
    timed(&s, t0 + Duration::minutes(1)).await;
    let (secs, trips, breached, signed) = timed(&s, t0 + Duration::hours(3)).await;
    println!(
        "  5,000 due over 1,000 partners: {breached} breached in {secs:.2} s ({:.0} breaches/s), {trips} round trips = {:.2} per breach (signing {signed} checkpoints included)",
        breached as f64 / secs,
        trips as f64 / breached.max(1) as f64
    );
}
