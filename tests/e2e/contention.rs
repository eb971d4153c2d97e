//! People working at once: simultaneous notes on one request, bursts of creates on one
//! partner's chain, two sweeps at the same moment — across two instances of the service on
//! the same tables (two Lambda containers: separate caches, separate locks, so the only
//! thing between them is DynamoDB's conditions). Every write succeeds exactly once.

use std::collections::BTreeMap;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::*;

/// POST/PATCH against either instance's base URL.
async fn send(
    http: &reqwest::Client,
    url: String,
    token: &str,
    method: reqwest::Method,
    body: &Value,
) -> (StatusCode, Value) {
    let response = http
        .request(method, url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn statuses(results: &[(StatusCode, Value)]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for (status, _) in results {
        *counts.entry(status.as_u16()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_simultaneous_notes_all_succeed_once_each() {
    let stack = Stack::start().await;
    let other = stack.another_instance().await;
    let bases = [stack.running.base_url(), other.base_url()];
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let created = stack.create(&partner, &body()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    // A partner agent and support engineers, half on each instance, none sending If-Match.
    let notes = (0..16).map(|i| {
        let token = if i % 3 == 0 { &support } else { &partner };
        let url = format!("{}/service-requests/{id}", bases[i % 2]);
        let body = json!({ "action": "note", "message": format!("note {i}") });
        let http = &http;
        async move { send(http, url, token, reqwest::Method::PATCH, &body).await }
    });
    let results = join_all(notes).await;
    assert_eq!(statuses(&results), BTreeMap::from([(200, 16)]), "{results:?}");
    let read = stack.get(&format!("/service-requests/{id}"), &partner).await;
    assert_eq!(read.body["version"], 17, "created at 1, sixteen notes");
    let history = stack.get(&format!("/service-requests/{id}/history"), &partner).await;
    let items = history.body["items"].as_array().unwrap();
    let notes: Vec<&Value> = items.iter().filter(|i| i["kind"] == "note_added").collect();
    assert_eq!(notes.len(), 16, "one entry per success");
    let mut texts: Vec<String> = notes
        .iter()
        .map(|n| n["data"]["change"]["message"]["value"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    let mut expected: Vec<String> = (0..16).map(|i| format!("note {i}")).collect();
    expected.sort();
    assert_eq!(texts, expected, "nothing lost, nothing doubled");
    // The versions the responses carried are each of 2..=17 once.
    let mut versions: Vec<u64> = results.iter().map(|(_, b)| b["version"].as_u64().unwrap()).collect();
    versions.sort();
    assert_eq!(versions, (2..=17).collect::<Vec<_>>());
    other.stop().await;
    explain_every_request(&stack, &partner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transition_that_lost_its_race_says_why_and_if_match_still_conflicts() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let created = stack.create(&partner, &body()).await;
    let path = format!("/service-requests/{}", created["id"].as_str().unwrap());
    assert_eq!(
        stack
            .patch(&path, &support, &json!({ "action": "respond", "message": "On it." }))
            .await
            .status,
        StatusCode::OK
    );
    // Two engineers resolve at once: one wins; the other's resolve is no longer valid on the
    // new state, and says so in the domain's words (not "changed concurrently").
    let resolve = json!({ "action": "resolve", "message": "Fixed." });
    let (a, b) = tokio::join!(
        stack.patch(&path, &support, &resolve),
        stack.patch(&path, &support, &resolve)
    );
    let mut outcomes = [a.status, b.status];
    outcomes.sort();
    assert_eq!(
        outcomes,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{:?} {:?}",
        a.body,
        b.body
    );
    let lost = if a.status == StatusCode::CONFLICT { &a } else { &b };
    let detail = lost.body["detail"].as_str().unwrap();
    assert!(!detail.contains("concurrently"), "{detail}");
    assert!(detail.contains("resolved"), "{detail}");
    // With If-Match of a version someone else has moved past: 412, nothing written.
    let stale = stack
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&partner),
            Some(&json!({ "action": "note", "message": "late" })),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_clients_creating_on_one_chain_all_succeed_and_the_chain_verifies() {
    let stack = Stack::start().await;
    let other = stack.another_instance().await;
    let bases = [stack.running.base_url(), other.base_url()];
    let partner = stack.partner_token("contoso");
    let http = reqwest::Client::new();
    let clients = (0..16).map(|c| {
        let url = format!("{}/customers/{CUSTOMER}/service-requests", bases[c % 2]);
        let http = &http;
        let partner = &partner;
        async move {
            let mut results = Vec::with_capacity(40);
            for _ in 0..40 {
                results.push(send(http, url.clone(), partner, reqwest::Method::POST, &body()).await);
            }
            results
        }
    });
    let results: Vec<(StatusCode, Value)> = join_all(clients).await.into_iter().flatten().collect();
    assert_eq!(statuses(&results), BTreeMap::from([(201, 640)]));
    // Every receipt names its own position of the chain.
    let mut seqs: Vec<u64> = results
        .iter()
        .map(|(_, b)| b["receipt"]["seq"].as_u64().unwrap())
        .collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 640);
    // The chain (the stack's two relationships, 640 creates) is signed and verifies.
    let report = stack
        .running
        .sweep(domain::Timestamp::from(chrono::Utc::now()))
        .await
        .unwrap();
    assert!(report.checkpoints.contains(&"contoso@642".to_owned()), "{report:?}");
    assert!(report.integrity_alarms.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let (exit, synced) = sync(&stack, &partner, &dir.path().join("contoso"), "contoso", None).await;
    assert_eq!(exit, ledger_cli::commands::Exit::Ok, "{synced}");
    assert_eq!(synced["newEntries"], 642);
    other.stop().await;
    explain_every_request(&stack, &partner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweeps_at_once_breach_each_due_request_once() {
    let stack = Stack::start().await;
    let other = stack.another_instance().await;
    let partner = stack.partner_token("contoso");
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned());
    }
    let later = stack.travel(chrono::Duration::hours(3));
    let (a, b) = tokio::join!(stack.running.sweep(later), other.sweep(later));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut breached: Vec<String> = a.breached.iter().chain(&b.breached).cloned().collect();
    breached.sort();
    ids.sort();
    assert_eq!(breached, ids, "each exactly once between the two: {a:?} {b:?}");
    for id in &ids {
        let history = stack.get(&format!("/service-requests/{id}/history"), &partner).await;
        let breaches = history.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "sla_breached")
            .count();
        assert_eq!(breaches, 1, "{id}");
    }
    other.stop().await;
    explain_every_request(&stack, &partner).await;
}
