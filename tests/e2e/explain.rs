//! Disputes settled from the evidence alone: every request the service handled, in every
//! state its clocks can reach, is explained from its evidence bundle by `ledger explain`, and
//! every recorded due time, breach and fee matches its re-computation.

use chrono::Duration;
use ledger_cli::commands::Exit;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::*;

async fn act(stack: &Stack, token: &str, id: &str, body: Value) {
    let reply = stack.patch(&format!("/service-requests/{id}"), token, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{body}: {}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_the_service_handled_is_explained_by_its_evidence() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let mut ids = Vec::new();
    for (language, severity, category, product) in [
        ("en", "A", "technical", "azure"),
        ("de-DE", "B", "technical", "azure"),
        ("ja", "C", "technical", "office365"),
        ("fr-CA", "A", "billing", "azure"),
        ("es-MX", "B", "fraud", "dynamics_crm_online"),
        ("xh-ZA", "C", "subscription_management", "enterprise_mobility_suite"),
    ] {
        let mut b = body();
        b["language"] = json!(language);
        b["severity"] = json!(severity);
        b["category"] = json!(category);
        b["product"] = json!(product);
        if category != "technical" {
            b.as_object_mut().unwrap().remove("supportTopicId");
        }
        let created = stack.create(&partner, &b).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    // Each request a different life: raised, answered, followed up, asked, resolved, reopened…
    act(
        &stack,
        &partner,
        &ids[1],
        json!({ "action": "change_severity", "severity": "A", "reason": "down" }),
    )
    .await;
    act(
        &stack,
        &support,
        &ids[0],
        json!({ "action": "respond", "message": "on it" }),
    )
    .await;
    act(
        &stack,
        &partner,
        &ids[0],
        json!({ "action": "note", "message": "still down" }),
    )
    .await;
    act(
        &stack,
        &support,
        &ids[2],
        json!({ "action": "await_partner", "message": "logs?" }),
    )
    .await;
    act(
        &stack,
        &partner,
        &ids[2],
        json!({ "action": "note", "message": "logs" }),
    )
    .await;
    act(
        &stack,
        &support,
        &ids[3],
        json!({ "action": "respond", "message": "checking" }),
    )
    .await;
    act(
        &stack,
        &support,
        &ids[3],
        json!({ "action": "resolve", "message": "refunded" }),
    )
    .await;
    act(
        &stack,
        &partner,
        &ids[3],
        json!({ "action": "reopen", "reason": "not refunded" }),
    )
    .await;
    act(
        &stack,
        &partner,
        &ids[4],
        json!({ "action": "close", "reason": "withdrawn" }),
    )
    .await;
    // One more, its receipt kept (before the clock moves: a receipt is judged by this clock).
    let filed = stack.create(&partner, &body()).await;
    let kept = tempfile::tempdir().unwrap();
    keep_receipt(kept.path(), &filed);
    // Two days later: the sweep breaches every clock still running.
    stack.travel(Duration::days(2));
    let report = stack.running.sweep(stack.running.now()).await.unwrap();
    assert!(report.breached.len() >= 3, "{report:?}");
    act(
        &stack,
        &support,
        &ids[1],
        json!({ "action": "respond", "message": "late, sorry" }),
    )
    .await;
    for id in &ids {
        let (exit, report) = explain_request(&stack, &partner, id).await;
        assert_eq!(exit, Exit::Ok, "{id}: {report}");
        assert_eq!(report["matches"], true, "{report}");
        let e = &report["explanation"];
        assert_eq!(e["requestId"], id.as_str());
        assert!(
            e["policies"].as_array().unwrap().iter().all(|p| p["pinned"] == true),
            "{e}"
        );
        let steps = e["steps"].as_array().unwrap();
        let verified = report["verified"]["entries"].as_array().unwrap();
        assert_eq!(steps.len(), verified.len(), "every entry of the bundle explained: {e}");
        // The explanation's initial due time is the one the service shows.
        let shown = stack.get(&format!("/service-requests/{id}"), &partner).await;
        let outcome = &e["initialResponseOutcome"];
        assert_eq!(outcome["dueAt"], shown.body["sla"]["dueAt"], "{id}");
        assert_eq!(outcome["state"], shown.body["sla"]["state"], "{id}");
        assert_eq!(outcome["breachedAt"], shown.body["sla"]["breachedAt"], "{id}");
        assert_eq!(e["fee"]["billable"], shown.body["billable"], "{id}");
    }
    // The receipt the partner got when it filed proves the filing itself.
    let seq = filed["receipt"]["seq"].as_u64().unwrap();
    let note = kept.path().join(format!("receipts/{seq}.note"));
    let id = filed["id"].as_str().unwrap();
    let (exit, report) = explain_request_with(&stack, &partner, id, Some(&note)).await;
    assert_eq!(exit, Exit::Ok, "{report}");
    assert_eq!(report["explanation"]["filingReceipt"], seq);
    // Another request's receipt does not.
    let (exit, report) = explain_request_with(&stack, &partner, &ids[0], Some(&note)).await;
    assert_eq!(exit, Exit::Tampered, "{report}");
    assert_eq!(report["failure"]["kind"], "broken_promise", "{report}");
    // A breach is explained with the sweep's lag.
    let (_, report) = explain_request(&stack, &partner, &ids[5]).await;
    let breach = report["explanation"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "sla_breached")
        .cloned()
        .unwrap();
    assert!(breach["lagSeconds"].as_i64().unwrap() > 0, "{breach}");
}

/// Another writer's clock was ahead: the ledger stamps the next entry no earlier than the last
/// (FORMAT.md §2.2) and keeps the time the change was computed at as `eventAt`, so the
/// explanation re-computes it at the time it happened and still matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stamped_later_than_computed_is_explained_at_its_own_time() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let ahead = stack.create(&partner, &body()).await;
    // This writer's clock is 30 s behind the one that wrote the entry before.
    stack.travel(Duration::seconds(-30));
    let behind = stack.create(&partner, &body()).await;
    let id = behind["id"].as_str().unwrap();
    act(&stack, &support, id, json!({ "action": "respond", "message": "on it" })).await;
    let export = stack.get_text("/ledger/entries?chain=contoso", &partner).await;
    let entries: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let created = entries
        .iter()
        .find(|e| e["data"]["requestId"] == id && e["kind"] == "created")
        .unwrap();
    assert_eq!(created["data"]["eventAt"], behind["createdAt"], "{created}");
    assert_eq!(
        created["at"], ahead["createdAt"],
        "stamped no earlier than the entry before"
    );
    let (exit, report) = explain_request(&stack, &partner, id).await;
    assert_eq!(exit, Exit::Ok, "{report}");
    assert_eq!(report["explanation"]["steps"][0]["at"], behind["createdAt"]);
    // An entry not stamped later carries no eventAt.
    let first = entries.iter().find(|e| e["data"]["requestId"] == ahead["id"]).unwrap();
    assert!(first["data"].get("eventAt").is_none(), "{first}");
}
