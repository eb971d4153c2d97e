use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::*;

#[tokio::test]
async fn a_partner_files_a_request_for_a_customer() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let reply = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &body())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let r = &reply.body;
    let id = r["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/service-requests/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(r["partnerId"], "contoso");
    assert_eq!(r["customerId"], CUSTOMER);
    assert_eq!(r["scope"], "customer");
    assert_eq!(r["supportPlan"], "Cloud Solution Provider");
    assert_eq!(r["billable"], true);
    assert_eq!(r["status"], "open");
    assert_eq!(r["sla"]["state"], "pending");
    assert_eq!(r["sla"]["targetMinutes"], 120);
    assert_eq!(r["sla"]["calendar"], "en");
    assert!(r["sla"]["policyVersion"].as_str().is_some());
    assert_eq!(r["contact"]["email"], "erika@partner.example");
    // The receipt: the ledger's signed promise for the `created` entry.
    let receipt = &r["receipt"];
    assert_eq!(receipt["format"], "ledgerdesk-receipt/v1");
    assert_eq!(receipt["origin"], "ledgerdesk.local/contoso");
    assert!(
        receipt["note"]
            .as_str()
            .unwrap()
            .starts_with("ledgerdesk-receipt/v1\nledgerdesk.local/contoso\n")
    );
    let receipt_keys = ledger::TrustedKeys::new([ledger::VerifierKey::parse(
        &std::fs::read_to_string(&stack.running.receipt_public_key).unwrap(),
    )
    .unwrap()]);
    let opened = ledger::Receipt::open(receipt["note"].as_str().unwrap(), &receipt_keys, &local::log_name()).unwrap();
    assert_eq!(opened.seq, receipt["seq"].as_u64().unwrap());
    // It can be read back (the resource without the receipt).
    let again = stack.get(&format!("/service-requests/{id}"), &token).await;
    assert_eq!(again.status, StatusCode::OK);
    let mut without = r.clone();
    without.as_object_mut().unwrap().remove("receipt");
    assert_eq!(again.body, without);
}

#[tokio::test]
async fn the_partners_own_tenant_needs_an_entitlement() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let reply = stack.post("/service-requests", &token, &body()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    assert_eq!(reply.body["status"], 422);
    assert_eq!(reply.error_fields(), ["$.entitlement"]);
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("entitlement")
    );

    let mut with = body();
    with["entitlement"] = json!({ "kind": "premier", "reference": "PREM-2026-77" });
    let reply = stack.post("/service-requests", &token, &with).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["scope"], "partner_own");
    assert_eq!(reply.body["customerId"], serde_json::Value::Null);
    assert_eq!(reply.body["supportPlan"], "Premier");
    // Only the valid one was stored.
    let (items, _) = stack.list_all("/service-requests", &token).await;
    assert_eq!(items.len(), 1);
}

#[tokio::test]
async fn phone_contact_is_refused() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let mut phone = body();
    phone["contact"]["preferredContactMethod"] = json!("phone");
    let reply = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &phone)
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["$.contact.preferredContactMethod"]);
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("telephone support is not offered")
    );
}

#[tokio::test]
async fn every_rule_violation_is_listed_and_nothing_is_written() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let bad = json!({
        "product": "xbox", "category": "technical", "severity": "Z", "supportTopic": "t",
        "title": "x".repeat(256), "description": "d", "language": "en",
        "contact": { "name": "n", "email": "nope" }
    });
    let reply = stack.post("/customers/not-a-guid/service-requests", &token, &bad).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        [
            "path:customerId",
            "$.product",
            "$.severity",
            "$.title",
            "$.contact.email"
        ]
    );
    let (items, _) = stack.list_all("/service-requests", &token).await;
    assert!(items.is_empty());
}

#[tokio::test]
async fn malformed_oversize_and_mistyped_bodies_write_nothing() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let url = format!("{}/customers/{CUSTOMER}/service-requests", stack.running.base_url());
    let send = |body: String, content_type: &'static str| {
        stack
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        ("{\"product\": ", "application/json", StatusCode::BAD_REQUEST),
        ("[1, 2]", "application/json", StatusCode::BAD_REQUEST),
        ("", "application/json", StatusCode::BAD_REQUEST),
        ("{\"product\": 5}", "application/json", StatusCode::BAD_REQUEST),
        (
            "{\"customerEmail\": \"someone@customer.example\"}",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "product=azure",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (text, content_type, expected) in cases {
        let response = send(text.to_owned(), content_type).await.unwrap();
        assert_eq!(response.status(), expected, "{text}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let mut big = body();
    big["description"] = json!("x".repeat(70 * 1024));
    let response = send(big.to_string(), "application/json").await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (items, _) = stack.list_all("/service-requests", &token).await;
    assert!(items.is_empty(), "no 4xx wrote anything");
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_original_and_writes_nothing() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let path = format!("/customers/{CUSTOMER}/service-requests");
    let key = [("idempotency-key", "c0ffee-42")];
    let first = stack.send(Method::POST, &path, Some(&token), Some(&body()), &key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same body with other whitespace and member order is the same request.
    let reordered: serde_json::Value = serde_json::from_str(&serde_json::to_string_pretty(&body()).unwrap()).unwrap();
    let retry = stack
        .send(Method::POST, &path, Some(&token), Some(&reordered), &key)
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("location"), first.header("location"));
    let mut other = body();
    other["severity"] = json!("C");
    let conflict = stack.send(Method::POST, &path, Some(&token), Some(&other), &key).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert!(conflict.body["detail"].as_str().unwrap().contains("Idempotency-Key"));
    let (items, _) = stack.list_all("/service-requests", &token).await;
    assert_eq!(items.len(), 1);
    let history = stack
        .get(
            &format!("/service-requests/{}/history", first.body["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    let bad_key = stack
        .send(
            Method::POST,
            &path,
            Some(&token),
            Some(&body()),
            &[("idempotency-key", &"k".repeat(300))],
        )
        .await;
    assert_eq!(bad_key.status, StatusCode::BAD_REQUEST);
}
