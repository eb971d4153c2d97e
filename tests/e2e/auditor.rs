use std::path::PathBuf;

use ledger_cli::commands::{Exit, VerifyArgs};
use ledger_cli::export::ExportArgs;
use reqwest::StatusCode;
use serde_json::json;
use tests::*;

#[tokio::test]
async fn export_then_verify_and_a_tampered_export_fails() {
    let stack = Stack::start().await;
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
    assert_eq!(report.checkpoints.len(), 2);

    let out = stack.dir.path().join("contoso.jsonl");
    let checkpoints = stack.dir.path().join("checkpoints");
    let exported = ledger_cli::export::export(ExportArgs {
        endpoint: Some(stack.running.dynamodb_endpoint.clone()),
        region: "eu-central-1".into(),
        table: "ledgerdesk-ledger".into(),
        partner: Some("contoso".into()),
        out: out.clone(),
        checkpoints_out: Some(checkpoints.clone()),
    })
    .await
    .unwrap();
    assert!(
        exported.stdout.contains("exported 4 entries of 1 chain"),
        "{}",
        exported.stdout
    );
    let checkpoint = checkpoints.join("contoso").join("4.note");
    assert!(checkpoint.exists());

    let keys = [stack.running.public_key.clone()];
    let verify = |export: PathBuf| {
        ledger_cli::commands::verify(VerifyArgs {
            export: &export,
            keys: &keys,
            checkpoints: std::slice::from_ref(&checkpoint),
            chain: None,
            strict: true,
            json: true,
        })
        .unwrap()
    };
    let ok = verify(out.clone());
    assert_eq!(ok.exit, Exit::Ok, "{}", ok.stdout);
    let report: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(report["entries"], 4);
    assert_eq!(report["checkpointsChecked"], 1);

    // Change one character of one entry: the verifier names it.
    let text = std::fs::read_to_string(&out).unwrap();
    let tampered_text = text.replacen("\"severity\":\"A\"", "\"severity\":\"C\"", 1);
    assert_ne!(tampered_text, text);
    let tampered = stack.dir.path().join("tampered.jsonl");
    std::fs::write(&tampered, tampered_text).unwrap();
    let bad = verify(tampered);
    assert_eq!(bad.exit, Exit::Tampered, "{}", bad.stdout);
    let failure: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(failure["failure"]["kind"], "modified");
    assert_eq!(failure["failure"]["seq"], 0);

    // Dropping the last entry is caught by the checkpoint.
    let lines: Vec<&str> = text.lines().collect();
    let truncated = stack.dir.path().join("truncated.jsonl");
    std::fs::write(&truncated, lines[..3].join("\n") + "\n").unwrap();
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
    })
    .await
    .unwrap();
    assert!(
        exported.stdout.contains("exported 6 entries of 2 chains"),
        "{}",
        exported.stdout
    );
    assert_eq!(verify(all).exit, Exit::Ok);
}
