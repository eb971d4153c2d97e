//! Writers at once on one partner's chain, through the local run over HTTP: throughput,
//! latency percentiles and every response by status.
//!
//! `cargo bench -p local --bench contention`. Starts `local` (this build's, or the binary
//! named by `LEDGERDESK_LOCAL_BIN`, e.g. an older build for a before/after) as two
//! instances on one embedded DynamoDB — two Lambda containers: separate caches and locks,
//! only DynamoDB's conditions between them — and drives them with concurrent clients,
//! round-robin. `CONTENTION_OPS` sets the requests per scenario (default 640). Prints figures
//! and ratios against one writer; asserts nothing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use common::*;
use serde_json::json;

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
    instances.relate(&http, &partners).await;
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bin = local_bin();
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
