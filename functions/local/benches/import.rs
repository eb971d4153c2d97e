//! Relationship imports, through the local run over HTTP: the CSV import batched per partner
//! in transactions (33 rows each) against the baseline of the same relationships registered
//! one `PUT` at a time (what the import did before: a read and a transaction per row), and
//! 10,000 rows — one partner, and 100 partners — against the functions' 29-second timeout.
//!
//! `cargo bench -p local --bench import` (`IMPORT_BENCH_ROWS` replaces 10,000). Prints
//! figures and ratios against the baseline measured in the same run; asserts only that each
//! import answered 200 with every row. The emulator serialises writes on SQLite: compare the
//! rows with each other, not with DynamoDB.

mod common;

use std::time::Instant;

use common::*;
use serde_json::{Value, json};

/// A CSV of `rows` relationships spread over `partners` partners (new customers each).
fn csv(tag: &str, rows: usize, partners: usize) -> String {
    let mut out = String::from("partnerId,customerId,since,status\n");
    for i in 0..rows {
        out.push_str(&format!(
            "{tag}-{},{:08x}-0000-4000-8000-{:012x},,active\n",
            i % partners,
            i,
            i
        ));
    }
    out
}

async fn import(http: &reqwest::Client, url: &str, admin: &str, body: String, rows: usize) -> f64 {
    let started = Instant::now();
    let response = http
        .post(format!("{url}/relationships/import"))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("import sent");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(status, 200, "{}", &text[..text.len().min(500)]);
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["imported"], rows, "every row imported");
    println!("    answer: {:.2} MiB", text.len() as f64 / 1_048_576.0);
    seconds
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("IMPORT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let instances = start(&local_bin(), 1);
    let url = instances.urls[0].clone();
    let admin = instances.token("admin", None).expect("an admin token");
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .expect("client");

    // Baseline: 1,000 relationships of one partner, one PUT each.
    let baseline_rows = 1_000;
    let started = Instant::now();
    for i in 0..baseline_rows {
        let (status, body) = call(
            &http,
            reqwest::Method::PUT,
            &format!("{url}/relationships/base-0/{i:08x}-0000-4000-8000-{i:012x}"),
            &admin,
            &json!({ "status": "active" }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let baseline = started.elapsed().as_secs_f64();
    let per_row = baseline / baseline_rows as f64;
    println!(
        "baseline, {baseline_rows} PUTs one at a time (one partner): {baseline:.2} s, {:.2} ms per row",
        per_row * 1e3
    );

    let report = |name: &str, seconds: f64, n: usize| {
        println!(
            "{name}: {seconds:.2} s, {:.3} ms per row, {:.1}x faster per row than the baseline{}",
            seconds * 1e3 / n as f64,
            per_row / (seconds / n as f64),
            if seconds < 29.0 {
                ""
            } else {
                " — OVER the 29 s function timeout"
            }
        );
    };
    println!("import of {baseline_rows} rows, one partner:");
    let s = import(&http, &url, &admin, csv("one", baseline_rows, 1), baseline_rows).await;
    report("  batched", s, baseline_rows);
    println!("import of {rows} rows, one partner:");
    let s = import(&http, &url, &admin, csv("single", rows, 1), rows).await;
    report("  batched", s, rows);
    println!("import of {rows} rows, 100 partners:");
    let s = import(&http, &url, &admin, csv("many", rows, 100), rows).await;
    report("  batched", s, rows);
    println!("the same {rows} rows again (nothing changes, nothing written):");
    let started = Instant::now();
    let response = http
        .post(format!("{url}/relationships/import"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(csv("many", rows, 100))
        .send()
        .await
        .expect("import sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["unchanged"], rows);
    report("  unchanged", started.elapsed().as_secs_f64(), rows);
}
