use std::path::PathBuf;

use ledger_cli::commands::{Exit, VerifyArgs};
use ledger_cli::export::ExportArgs;
use reqwest::StatusCode;
use serde_json::json;
use tests::*;

#[tokio::test]
async fn export_then_verify_and_a_tampered_export_fails() {
    let stack = Stack::start_with(&[
        ("contoso", CUSTOMER),
        ("contoso", OTHER_CUSTOMER),
        ("fabrikam", CUSTOMER),
    ])
    .await;
    let a = stack.partner_token("contoso");
    let b = stack.partner_token("fabrikam");
    let support = stack.support_token();
    for token in [&a, &a, &b] {
        let created = stack.create(token, &body()).await;
        let reply = stack
            .patch(
                &format!("/service-requests/{}", created["id"].as_str().unwrap()),
                &support,
                &json!({ "action": "respond", "message": "on it" }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let report = stack
        .running
        .sweep(domain::Timestamp::from(chrono::Utc::now()))
        .await
        .unwrap();
    // contoso: its two relationships, two creates, two responses; fabrikam: one of each.
    assert_eq!(report.checkpoints, ["contoso@6", "fabrikam@3"]);

    let out = stack.dir.path().join("contoso.jsonl");
    let checkpoints = stack.dir.path().join("checkpoints");
    let exported = ledger_cli::export::export(ExportArgs {
        endpoint: Some(stack.running.dynamodb_endpoint.clone()),
        region: "eu-central-1".into(),
        table: "ledgerdesk-ledger".into(),
        partner: Some("contoso".into()),
        out: out.clone(),
        checkpoints_out: Some(checkpoints.clone()),
        include_uncovered: false,
    })
    .await
    .unwrap();
    assert!(
        exported.stdout.contains("exported 6 entries of 1 chain"),
        "{}",
        exported.stdout
    );
    let checkpoint = checkpoints.join("contoso").join("6.note");
    assert!(checkpoint.exists());

    let keys = [stack.running.public_key.clone()];
    let verify = |export: PathBuf| {
        ledger_cli::commands::verify(VerifyArgs {
            export: &export,
            keys: &keys,
            log: Some(local::log_name()),
            checkpoints: std::slice::from_ref(&checkpoint),
            disclosures: None,
            chain: None,
            allow_uncovered: false,
            json: true,
            now: None,
            witnesses: None,
        })
        .unwrap()
    };
    let ok = verify(out.clone());
    assert_eq!(ok.exit, Exit::Ok, "{}", ok.stdout);
    let report: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(report["entries"], 6);
    assert_eq!(report["checkpointsChecked"], 1);
    assert_eq!(report["uncovered"], 0);
    assert_eq!(report["chains"][0]["origin"], "ledgerdesk.local/contoso");

    // Change one character of one entry: the verifier names it.
    let text = std::fs::read_to_string(&out).unwrap();
    let tampered_text = text.replacen("\"severity\":\"A\"", "\"severity\":\"C\"", 1);
    assert_ne!(tampered_text, text);
    let first_changed = text.lines().position(|l| l.contains("\"severity\":\"A\"")).unwrap();
    let tampered = stack.dir.path().join("tampered.jsonl");
    std::fs::write(&tampered, tampered_text).unwrap();
    let bad = verify(tampered);
    assert_eq!(bad.exit, Exit::Tampered, "{}", bad.stdout);
    let failure: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(failure["failure"]["kind"], "modified");
    assert_eq!(failure["failure"]["seq"], first_changed as u64);

    // Dropping the last entry is caught by the checkpoint.
    let lines: Vec<&str> = text.lines().collect();
    let truncated = stack.dir.path().join("truncated.jsonl");
    std::fs::write(&truncated, lines[..5].join("\n") + "\n").unwrap();
    let cut = verify(truncated);
    assert_eq!(cut.exit, Exit::Tampered);
    assert!(cut.stdout.contains("truncated"), "{}", cut.stdout);

    // Every chain at once.
    let all = stack.dir.path().join("all.jsonl");
    let exported = ledger_cli::export::export(ExportArgs {
        endpoint: Some(stack.running.dynamodb_endpoint.clone()),
        region: "eu-central-1".into(),
        table: "ledgerdesk-ledger".into(),
        partner: None,
        out: all.clone(),
        checkpoints_out: None,
        include_uncovered: false,
    })
    .await
    .unwrap();
    assert!(
        exported.stdout.contains("exported 9 entries of 2 chains"),
        "{}",
        exported.stdout
    );
    // The contoso checkpoint covers contoso; fabrikam's chain is covered by none given here.
    let outcome = verify(all);
    assert_eq!(outcome.exit, Exit::Tampered, "{}", outcome.stdout);
    assert!(outcome.stdout.contains("uncovered"), "{}", outcome.stdout);
}

/// An evidence bundle's disclosures, per entry.
fn disclosed(bundle: &serde_json::Value) -> Vec<usize> {
    bundle["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["disclosures"].as_array().map_or(0, Vec::len))
        .collect()
}

/// `verify-proof` of a bundle as served: its exit.
fn verify_bundle(stack: &Stack, text: &str) -> Exit {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.json");
    std::fs::write(&path, text).unwrap();
    let (exit, report) = verify_bundles(stack, &[path]);
    assert_eq!(exit, Exit::Ok, "{report}");
    exit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_sees_personal_values_only_for_a_case_and_the_access_is_ledgered() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let auditor = stack.token(local::token::TokenRole::Auditor, None, "auditor@vendor");
    let id = stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned();
    crate::evidence::sweep(&stack).await;
    let evidence = format!("/service-requests/{id}/evidence");
    // The auditor cannot read the request itself.
    assert_eq!(
        stack.get(&format!("/service-requests/{id}"), &auditor).await.status,
        StatusCode::FORBIDDEN
    );

    // By default: commitments only (the bundle still verifies), and nothing is written.
    let before = dump_tables(&stack).await;
    let text = stack.get_text(&evidence, &auditor).await;
    assert!(!text.contains("Production VMs unreachable"), "{text}");
    let bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(disclosed(&bundle), [0]);
    assert_eq!(verify_bundle(&stack, &text), Exit::Ok);
    // Bad case references, and a partner naming one, are 422 and write nothing.
    for (token, query) in [
        (&auditor, "caseReference=has%20spaces"),
        (&auditor, "caseReference="),
        (&partner, "caseReference=FR-1"),
    ] {
        let reply = stack.get(&format!("{evidence}?{query}"), token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.error_fields(), ["query:caseReference"]);
    }
    assert_eq!(
        dump_tables(&stack).await,
        before,
        "an auditor's plain read writes nothing"
    );
    // The partner's own bundle shows its values.
    let own: serde_json::Value = serde_json::from_str(&stack.get_text(&evidence, &partner).await).unwrap();
    let shown = disclosed(&own)[0];
    assert!(shown > 0, "{own}");

    // For a case: the values, and first a personal_data_disclosed entry in the partner's chain.
    let text = stack
        .get_text(&format!("{evidence}?caseReference=FR-2026-0007"), &auditor)
        .await;
    assert!(text.contains("Production VMs unreachable"));
    let bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(disclosed(&bundle), [shown]);
    assert_eq!(verify_bundle(&stack, &text), Exit::Ok);
    let history = stack.get(&format!("/service-requests/{id}/history"), &partner).await;
    let last = history.body["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "personal_data_disclosed", "{last}");
    assert_eq!(last["data"]["caseReference"], "FR-2026-0007", "{last}");
    assert_eq!(last["data"]["requestId"], id.as_str(), "{last}");
    assert_eq!(last["data"]["valuesDisclosed"], shown, "{last}");
    assert_eq!(last["data"]["actor"]["role"], "auditor", "{last}");
    assert_eq!(last["data"]["actor"]["subject"]["value"], "auditor@vendor", "{last}");
    // The same auditor and case again (another fetch, a later page): the access is on record
    // already, nothing more is written; another case is a new record.
    let disclosures = |history: &Reply| {
        history.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "personal_data_disclosed")
            .count()
    };
    stack
        .get_text(&format!("{evidence}?caseReference=FR-2026-0007"), &auditor)
        .await;
    let history = stack.get(&format!("/service-requests/{id}/history"), &partner).await;
    assert_eq!(disclosures(&history), 1);
    stack
        .get_text(&format!("{evidence}?caseReference=FR-2026-0008"), &auditor)
        .await;
    let history = stack.get(&format!("/service-requests/{id}/history"), &partner).await;
    assert_eq!(disclosures(&history), 2);
}
