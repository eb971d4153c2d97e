//! A relationship is a live rule: once the vendor terminates a partner's relationship with a
//! customer, the partner keeps its own evidence and ledger of that customer's requests and
//! nothing else. Every route is tried after the termination (the match below is exhaustive,
//! so a new route must say what it does then).

use api::routes::{Operation, ROUTES};
use local::token::TokenRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::*;

/// The relationship this test ends (contoso keeps `CUSTOMER`).
const ENDED: &str = OTHER_CUSTOMER;

fn is_relationship_refusal(reply: &Reply) -> bool {
    reply.status == StatusCode::FORBIDDEN
        && reply.body["type"] == "/problems/forbidden"
        && reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("relationship with this request's customer is not active"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_relationship_leaves_the_partner_its_own_evidence_and_nothing_else() {
    let stack = Stack::start_with(&[("contoso", CUSTOMER), ("contoso", ENDED)]).await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let admin = stack.token(TokenRole::Admin, None, "onboarding@vendor");
    let officer = stack.token(TokenRole::Privacy, Some("contoso"), "dpo@contoso");
    let ended_path = format!("/customers/{ENDED}/service-requests");

    let kept = stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned();
    let created = stack.post(&ended_path, &partner, &body()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let request = format!("/service-requests/{id}");
    // While the relationship lasts the partner reads and changes it.
    let noted = stack
        .patch(
            &request,
            &partner,
            &json!({ "action": "note", "message": "tried a restart" }),
        )
        .await;
    assert_eq!(noted.status, StatusCode::OK, "{}", noted.body);
    crate::evidence::sweep(&stack).await;

    let ended = stack
        .send(
            Method::PUT,
            &format!("/relationships/contoso/{ENDED}"),
            Some(&admin),
            Some(&json!({ "status": "terminated" })),
            &[],
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    crate::evidence::sweep(&stack).await;
    let size = stack.get("/ledger/checkpoint", &partner).await;
    assert_eq!(size.status, StatusCode::OK);
    let before = dump_tables(&stack).await;

    let mut tried = Vec::new();
    for route in ROUTES {
        tried.push(route.operation);
        match route.operation {
            Operation::CreateForCustomer => {
                let reply = stack.post(&ended_path, &partner, &body()).await;
                assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
                assert_eq!(reply.error_fields(), ["path:customerId"]);
            }
            Operation::ListForCustomer => {
                let reply = stack.get(&ended_path, &partner).await;
                assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
            }
            Operation::List => {
                // The request is left out of the list across customers; the others stay.
                let (items, _) = stack.list_all("/service-requests", &partner).await;
                let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
                assert_eq!(ids, [kept.as_str()], "{items:?}");
            }
            Operation::Get | Operation::History => {
                let path = if route.operation == Operation::Get {
                    request.clone()
                } else {
                    format!("{request}/history")
                };
                let reply = stack.get(&path, &partner).await;
                assert!(
                    is_relationship_refusal(&reply),
                    "{path}: {} {}",
                    reply.status,
                    reply.body
                );
                // Support still reads it.
                assert_eq!(stack.get(&path, &support).await.status, StatusCode::OK, "{path}");
            }
            Operation::Update => {
                for action in [
                    json!({ "action": "note", "message": "still there?" }),
                    json!({ "action": "change_severity", "severity": "C", "reason": "downgrade" }),
                    json!({ "action": "close" }),
                    // Ones the request's state would refuse (the same severity; reopening an
                    // open request): the refusal says nothing about its state.
                    json!({ "action": "change_severity", "severity": "A" }),
                    json!({ "action": "reopen", "reason": "again" }),
                ] {
                    let reply = stack.patch(&request, &partner, &action).await;
                    assert!(
                        is_relationship_refusal(&reply),
                        "{action}: {} {}",
                        reply.status,
                        reply.body
                    );
                    // With If-Match too, current or stale: the refusal is the relationship's,
                    // not the version's (no version is told).
                    for version in ["\"2\"", "\"1\""] {
                        let reply = stack
                            .send(
                                Method::PATCH,
                                &request,
                                Some(&partner),
                                Some(&action),
                                &[("if-match", version)],
                            )
                            .await;
                        assert!(
                            is_relationship_refusal(&reply),
                            "{action}: {} {}",
                            reply.status,
                            reply.body
                        );
                    }
                }
            }
            Operation::Evidence => {
                // Disputes outlive relationships: the partner's evidence of what it did.
                let reply = stack.get(&format!("{request}/evidence"), &partner).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                let bundle = serde_json::to_string(&reply.body).unwrap();
                assert!(bundle.contains("tried a restart"), "{bundle}");
            }
            Operation::LedgerCheckpoint => {
                assert_eq!(stack.get("/ledger/checkpoint", &partner).await.status, StatusCode::OK);
            }
            Operation::LedgerEntries => {
                let text = stack.get_text("/ledger/entries", &partner).await;
                assert!(
                    text.contains(&id),
                    "the partner's ledger still holds the request's entries"
                );
            }
            Operation::LedgerEntryTile => {
                // No tile is full yet: the same answer as for any chain this short.
                let reply = stack.get("/ledger/entry-tiles/0", &partner).await;
                assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
                assert_ne!(reply.body["type"], "/problems/forbidden");
            }
            Operation::ConsistencyProof => {
                let reply = stack.get("/ledger/proofs/consistency?from=1&to=2", &partner).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            }
            Operation::InclusionProof => {
                let reply = stack.get("/ledger/proofs/inclusion?seq=1&size=2", &partner).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            }
            Operation::CreateForOwnTenant
            | Operation::Erase
            | Operation::SupportTopics
            | Operation::Policy
            | Operation::Queue
            | Operation::CreateWebhookEndpoint
            | Operation::ListWebhookEndpoints
            | Operation::GetWebhookEndpoint
            | Operation::UpdateWebhookEndpoint
            | Operation::DeleteWebhookEndpoint
            | Operation::RotateWebhookSecret
            | Operation::ReplayWebhooks
            | Operation::WebhookDeliveries => {
                // Not about a customer: the relationship has no bearing (tried below, after
                // the read-only routes, as they write).
            }
            Operation::PutRelationship | Operation::GetRelationship | Operation::ImportRelationships => {
                let reply = stack.get(&format!("/relationships/contoso/{ENDED}"), &partner).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "the vendor's to maintain");
            }
        }
    }
    assert_eq!(tried.len(), ROUTES.len());
    assert_eq!(
        dump_tables(&stack).await,
        before,
        "nothing written by any refusal or read"
    );

    // The vendor's support still answers the request; the partner's privacy officer may still
    // erase what the partner supplied on it.
    let reply = stack
        .patch(
            &request,
            &support,
            &json!({ "action": "respond", "message": "Resolved on our side." }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // The partner's evidence stays what happened while the relationship lasted: nothing
    // written after its end (signed since) is in it.
    crate::evidence::sweep(&stack).await;
    let bundle = stack.get_text(&format!("{request}/evidence"), &partner).await;
    assert!(bundle.contains("tried a restart"), "{bundle}");
    assert!(!bundle.contains("Resolved on our side."), "{bundle}");
    let support_view = stack.get(&format!("{request}/history"), &support).await;
    assert!(support_view.body.to_string().contains("Resolved on our side."));
    // A later rewrite that leaves it terminated (a corrected `since`) does not move the end.
    let rewritten = stack
        .send(
            Method::PUT,
            &format!("/relationships/contoso/{ENDED}"),
            Some(&admin),
            Some(&json!({ "status": "terminated", "since": "2025-01-01T00:00:00Z" })),
            &[],
        )
        .await;
    assert_eq!(rewritten.status, StatusCode::OK, "{}", rewritten.body);
    crate::evidence::sweep(&stack).await;
    let bundle = stack.get_text(&format!("{request}/evidence"), &partner).await;
    assert!(bundle.contains("tried a restart"), "{bundle}");
    assert!(!bundle.contains("Resolved on our side."), "{bundle}");
    let reply = stack
        .post(
            "/privacy/erasures",
            &officer,
            &json!({ "legalBasis": "gdpr_art_17_1_a", "reference": "DSR-1", "requestId": id }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Active again: the partner reads and changes it as before.
    let reply = stack
        .send(
            Method::PUT,
            &format!("/relationships/contoso/{ENDED}"),
            Some(&admin),
            Some(&json!({ "status": "active" })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(stack.get(&request, &partner).await.status, StatusCode::OK);
    let (items, _) = stack.list_all("/service-requests", &partner).await;
    assert_eq!(items.len(), 2);
    let reply: Value = stack
        .patch(&request, &partner, &json!({ "action": "note", "message": "thanks" }))
        .await
        .body;
    assert!(reply["receipt"].is_object(), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_import_is_written_in_whole_transactions_and_its_chain_verifies() {
    let stack = Stack::start().await;
    let admin = stack.token(TokenRole::Admin, None, "onboarding@vendor");
    let mut csv = String::from("partnerId,customerId,since,status\n");
    for i in 0..70 {
        csv.push_str(&format!("bulk,{i:08x}-0000-4000-8000-{i:012x},,active\n"));
    }
    let response = stack
        .http
        .post(format!("{}/relationships/import", stack.running.base_url()))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let imported: Value = response.json().await.unwrap();
    assert_eq!(imported["imported"], 70, "{imported}");
    // 70 rows of one partner: three transactions (33, 33, 4), one entry per row, in row order.
    let seqs: Vec<u64> = imported["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..70).collect::<Vec<u64>>());
    assert_eq!(imported["receipts"].as_array().unwrap().len(), 1);
    assert_eq!(imported["receipts"][0]["seq"], 69);
    // The chain the batches wrote verifies, with the one receipt kept.
    crate::evidence::sweep(&stack).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("bulk");
    std::fs::create_dir_all(&state).unwrap();
    keep_receipt(&state, &imported["receipts"][0]);
    let (exit, report) = sync(&stack, &stack.partner_token("bulk"), &state, "bulk", None).await;
    assert_eq!(exit, ledger_cli::commands::Exit::Ok, "{report}");
    assert_eq!(report["newEntries"], 70, "{report}");
    assert_eq!(report["receipts"]["kept"], 1, "{report}");
}
