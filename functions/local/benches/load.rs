//! A bounded load run through the local run over HTTP: 32 concurrent clients, a mix of
//! creates, lists, gets and updates across 16 partners, 20,480 requests — throughput,
//! p50/p99/max latency, every response by status; then the ledger is signed, exported per
//! partner through the ledger API and verified, and every 2xx write is counted in it.
//!
//! `cargo bench -p local --bench load` (`LOAD_REQUESTS` replaces 20,480; `LEDGERDESK_LOCAL_BIN`
//! runs another build). Two `local` instances on one embedded DynamoDB, as two Lambda
//! containers. Prints figures; asserts only that no write was lost (the point of the run).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::*;
use ledger_cli::commands::Exit;
use serde_json::{Value, json};

const CLIENTS: usize = 32;
const PARTNERS: usize = 16;

#[derive(Default)]
struct Tally {
    latencies: Vec<std::time::Duration>,
    statuses: BTreeMap<u16, usize>,
    /// Per partner: creates and updates answered 2xx.
    created: BTreeMap<usize, usize>,
    updated: BTreeMap<usize, usize>,
    retry_after_missing: usize,
}

async fn client(http: reqwest::Client, base: String, token: String, partner: usize, requests: usize) -> Tally {
    let mut tally = Tally::default();
    let mut mine: Vec<String> = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (partner as u64) << 7 ^ base.len() as u64;
    for i in 0..requests {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let pick = x % 10;
        let (method, url, body) = match (pick, mine.is_empty()) {
            (_, true) | (0..=2, _) => (
                reqwest::Method::POST,
                format!("{base}/customers/{CUSTOMER}/service-requests"),
                Some(create_body()),
            ),
            (3..=5, _) => (
                reqwest::Method::GET,
                format!("{base}/service-requests/{}", mine[(x as usize / 10) % mine.len()]),
                None,
            ),
            (6..=7, _) => (reqwest::Method::GET, format!("{base}/service-requests?limit=25"), None),
            _ => (
                reqwest::Method::PATCH,
                format!("{base}/service-requests/{}", mine[(x as usize / 10) % mine.len()]),
                Some(json!({ "action": "note", "message": format!("load note {i}") })),
            ),
        };
        let started = Instant::now();
        let mut request = http.request(method.clone(), &url).bearer_auth(&token);
        if let Some(b) = &body {
            request = request.json(b);
        }
        let (status, reply, retry_after) = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                (status, r.json::<Value>().await.unwrap_or(Value::Null), retry_after)
            }
            Err(_) => (0, Value::Null, false),
        };
        tally.latencies.push(started.elapsed());
        *tally.statuses.entry(status).or_default() += 1;
        if status == 503 && !retry_after {
            tally.retry_after_missing += 1;
        }
        match (method, status) {
            (reqwest::Method::POST, 201) => {
                *tally.created.entry(partner).or_default() += 1;
                if let Some(id) = reply["id"].as_str() {
                    mine.push(id.to_owned());
                }
            }
            (reqwest::Method::PATCH, 200) => *tally.updated.entry(partner).or_default() += 1,
            _ => {}
        }
    }
    tally
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = std::env::var("LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_480);
    let bin = local_bin();
    let instances = start(&bin, 2);
    let http = reqwest::Client::new();
    let partners: Vec<String> = (0..PARTNERS).map(|p| format!("load-{p:02}")).collect();
    assert!(
        instances.relate(&http, &partners).await,
        "this build has an administrator"
    );
    let tokens: Vec<String> = partners
        .iter()
        .map(|p| instances.token("partner", Some(p)).expect("a partner token"))
        .collect();
    println!(
        "load through the local run ({}), two instances, {CLIENTS} clients over {PARTNERS} partners, {total} requests (30% create, 30% get, 20% list, 20% note)",
        bin.display()
    );
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let partner = c % PARTNERS;
        tasks.spawn(client(
            http.clone(),
            instances.urls[c % instances.urls.len()].clone(),
            tokens[partner].clone(),
            partner,
            total / CLIENTS,
        ));
    }
    let mut all = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let t = done.expect("client");
        all.latencies.extend(t.latencies);
        for (s, n) in t.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
        for (p, n) in t.created {
            *all.created.entry(p).or_default() += n;
        }
        for (p, n) in t.updated {
            *all.updated.entry(p).or_default() += n;
        }
        all.retry_after_missing += t.retry_after_missing;
    }
    let seconds = started.elapsed().as_secs_f64();
    all.latencies.sort();
    let done: usize = all.statuses.values().sum();
    let statuses: Vec<String> = all.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    println!(
        "  {done} requests in {seconds:.1} s = {:.0} req/s; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {}; 503 without Retry-After: {}",
        done as f64 / seconds,
        percentile(&all.latencies, 0.5),
        percentile(&all.latencies, 0.99),
        all.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        statuses.join(" "),
        all.retry_after_missing
    );

    // Sign, then export every partner's chain through the API and verify it; count writes.
    let report = instances.sweep();
    assert!(
        report["integrityAlarms"].as_array().is_none_or(Vec::is_empty),
        "{report}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let key = instances.data_dir().join("ledgerdesk-local.pub");
    let mut lost = 0usize;
    for (p, token) in tokens.iter().enumerate() {
        let mut lines = String::new();
        let mut start = 0;
        loop {
            let page = http
                .get(format!("{}/ledger/entries?start={start}&limit=1000", instances.urls[0]))
                .bearer_auth(token)
                .send()
                .await
                .expect("entries")
                .text()
                .await
                .expect("text");
            let n = page.lines().count();
            lines.push_str(&page);
            start += n;
            if n < 1000 {
                break;
            }
        }
        let kinds: Vec<String> = lines
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("an entry")["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        let created = kinds.iter().filter(|k| *k == "created").count();
        let noted = kinds.iter().filter(|k| *k == "note_added").count();
        let want_created = all.created.get(&p).copied().unwrap_or(0);
        let want_noted = all.updated.get(&p).copied().unwrap_or(0);
        lost += want_created.abs_diff(created) + want_noted.abs_diff(noted);
        let export = dir.path().join(format!("{p}.jsonl"));
        std::fs::write(&export, &lines).expect("export");
        let checkpoint = dir.path().join(format!("{p}.note"));
        let note = http
            .get(format!("{}/ledger/checkpoint", instances.urls[0]))
            .bearer_auth(token)
            .send()
            .await
            .expect("checkpoint")
            .text()
            .await
            .expect("text");
        std::fs::write(&checkpoint, note).expect("note");
        let outcome = verify_chain(&export, &key, &checkpoint);
        assert_eq!(outcome.exit, Exit::Ok, "partner {p}: {}", outcome.stdout);
    }
    println!(
        "  every chain signed and verified; {} creates and {} notes answered 2xx, {lost} of them missing from the ledger",
        all.created.values().sum::<usize>(),
        all.updated.values().sum::<usize>()
    );
    assert_eq!(lost, 0, "writes were lost");
}
