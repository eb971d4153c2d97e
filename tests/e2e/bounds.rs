//! Bounded histories: what each side writes on a request is budgeted, and a request's
//! history and evidence come in pages that `ledger verify-proof` takes as one set.

use ledger_cli::commands::Exit;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_at_its_limits_still_reads_in_pages_and_verifies() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let id = stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned();
    let path = format!("/service-requests/{id}");
    let long = "x".repeat(32_000);
    let note = |text: &str| json!({ "action": "note", "message": text });

    // 16 notes of 32,000 bytes: 512,000 of the partner's 524,288.
    for _ in 0..16 {
        let reply = stack.patch(&path, &partner, &note(&long)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let read = stack.get(&path, &partner).await;
    assert_eq!(
        read.body["conversation"]["partner"],
        json!({ "actions": 16, "texts": 16, "bytes": 512_000 })
    );
    assert_eq!(
        read.body["conversation"]["vendor"],
        json!({ "actions": 0, "texts": 0, "bytes": 0 })
    );
    // The 17th long note passes the budget: 422 naming it, nothing written.
    let before = dump_tables(&stack).await;
    let refused = stack.patch(&path, &partner, &note(&long)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("at most 500 actions, 250 texts and 524288 bytes are kept per side"),
        "{detail}"
    );
    assert_eq!(dump_tables(&stack).await, before, "nothing written");
    // A short one still fits, and the vendor's budget is its own: support still answers.
    assert_eq!(
        stack.patch(&path, &partner, &note("one more thing")).await.status,
        StatusCode::OK
    );
    let reply = stack
        .patch(&path, &support, &json!({ "action": "respond", "message": long }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["conversation"]["vendor"],
        json!({ "actions": 1, "texts": 1, "bytes": 32_000 })
    );

    // History in pages of 5: the same items as one page, in order, each page bounded.
    let whole = stack.get(&format!("{path}/history"), &partner).await;
    let all = whole.body["items"].as_array().unwrap().clone();
    assert_eq!(all.len(), 19, "created, 17 notes, the response");
    assert_eq!(whole.body["nextCursor"], Value::Null);
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("{path}/history?limit=5&cursor={c}"),
            None => format!("{path}/history?limit=5"),
        };
        let page = stack.get(&query, &partner).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        paged.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(paged, all);
    for (bad, status, field) in [
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "query:limit"),
        ("limit=501", StatusCode::UNPROCESSABLE_ENTITY, "query:limit"),
        ("cursor=x", StatusCode::BAD_REQUEST, "query:cursor"),
        ("cursor=07", StatusCode::BAD_REQUEST, "query:cursor"),
    ] {
        let reply = stack.get(&format!("{path}/history?{bad}"), &partner).await;
        assert_eq!(reply.status, status, "{bad}: {}", reply.body);
        assert_eq!(reply.error_fields(), [field], "{bad}");
    }

    // Evidence in pages of 7, pinned to one checkpoint even if another is signed meanwhile;
    // verify-proof takes the pages as one set.
    crate::evidence::sweep(&stack).await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{path}/evidence?limit=7&cursor={c}"),
            None => format!("{path}/evidence?limit=7"),
        };
        let response = stack
            .http
            .get(format!("{}{query}", stack.running.base_url()))
            .bearer_auth(&partner)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let next = response
            .headers()
            .get("ledger-next-cursor")
            .map(|v| v.to_str().unwrap().to_owned());
        let file = dir.path().join(format!("page-{}.json", files.len()));
        std::fs::write(&file, response.text().await.unwrap()).unwrap();
        files.push(file);
        if files.len() == 1 {
            // A new entry and a new checkpoint between pages change nothing in the set.
            assert_eq!(
                stack.patch(&path, &partner, &note("meanwhile")).await.status,
                StatusCode::OK
            );
            crate::evidence::sweep(&stack).await;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(files.len(), 3);
    let (exit, report) = verify_bundles(&stack, &files);
    assert_eq!(exit, Exit::Ok, "{report}");
    assert_eq!(report["entries"].as_array().unwrap().len(), 19, "{report}");
    assert_eq!(report["pages"], 3);
    // A cursor of a size never signed is refused.
    let reply = stack.get(&format!("{path}/evidence?cursor=999.3"), &partner).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_fields(), ["query:cursor"]);
}
