use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::*;

#[tokio::test]
async fn partner_b_cannot_see_list_update_or_page_into_partner_a() {
    let stack = Stack::start().await;
    let a = stack.partner_token("partner-a");
    let b = stack.partner_token("partner-b");
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(stack.create(&a, &body()).await["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        for path in [
            format!("/service-requests/{id}"),
            format!("/service-requests/{id}/history"),
        ] {
            let reply = stack.get(&path, &b).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{path}: never 403, existence is not revealed"
            );
        }
        let reply = stack
            .patch(&format!("/service-requests/{id}"), &b, &json!({ "action": "close" }))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    // A 404 for another partner's request looks exactly like one for no request at all.
    let unknown = stack.get("/service-requests/01KAW0000000000000000000ZZ", &b).await;
    let theirs = stack.get(&format!("/service-requests/{}", ids[0]), &b).await;
    assert_eq!(unknown.status, theirs.status);
    assert_eq!(unknown.body, theirs.body);

    let (listed, _) = stack.list_all("/service-requests", &b).await;
    assert!(listed.is_empty());
    // B has no relationship with A's customer: not even its list exists for B.
    let reply = stack.get(&format!("/customers/{CUSTOMER}/service-requests"), &b).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = stack.get(&format!("/service-requests?customerId={CUSTOMER}"), &b).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // …nor may B file for it: 422, nothing written.
    let reply = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &b, &body())
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", reply.body);
    assert_eq!(reply.error_fields(), ["path:customerId"]);
    // A's cursor does not open A's data to B.
    let page = stack.get("/service-requests?limit=2", &a).await;
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let reply = stack
        .get(&format!("/service-requests?limit=2&cursor={}", encode(cursor)), &b)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // A's requests are untouched.
    for id in &ids {
        let reply = stack.get(&format!("/service-requests/{id}"), &a).await;
        assert_eq!(reply.body["status"], "open");
        assert_eq!(reply.body["version"], 1);
    }
}

#[tokio::test]
async fn identity_comes_only_from_a_valid_token() {
    let stack = Stack::start().await;
    let token = stack.partner_token("partner-a");
    let ledger_before = crate::evidence::chain_lines(&stack, "partner-a").await;
    // No token, a garbled one, one signed with another key: 401 before any handler runs.
    let forged = local::token::issue(
        b"not-the-local-secret",
        local::token::TokenRole::Partner,
        Some("partner-a"),
        "x",
        60,
    )
    .unwrap();
    for bad in [None, Some("garbage"), Some(forged.as_str())] {
        let reply = stack.send(Method::GET, "/service-requests", bad, None, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let challenge = reply.header("www-authenticate").unwrap();
        if bad.is_none() {
            assert_eq!(challenge, "Bearer");
        } else {
            assert!(
                challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
                "{challenge}"
            );
        }
    }
    // The partner in the body is not an input.
    let mut claiming = body();
    claiming["partnerId"] = json!("partner-b");
    let reply = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &claiming)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["type"], "/problems/malformed-request", "{}", reply.body);
    assert!(
        reply.body["detail"].as_str().is_some_and(|d| d.contains("partnerId")),
        "the member is named: {}",
        reply.body
    );
    assert_eq!(reply.body["errors"][0]["field"], "$.partnerId", "{}", reply.body);
    // A support engineer's token has no write scope: 403.
    let support = stack.support_token();
    let reply = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &support, &body())
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("requests/write")),
        "{}",
        reply.body
    );
    // …nor a partner to list for.
    let reply = stack.get("/service-requests", &support).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.body["detail"].as_str().is_some_and(|d| d.contains("partner")),
        "{}",
        reply.body
    );
    // Nothing of the refused writes was stored: no request, no ledger entry.
    let (all, _) = stack.list_all("/service-requests", &token).await;
    assert!(all.is_empty());
    assert_eq!(crate::evidence::chain_lines(&stack, "partner-a").await, ledger_before);
}
