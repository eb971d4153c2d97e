//! The Lambda path: real API Gateway (HTTP API, payload 2.0) events, parsed by
//! `lambda_http::request::from_str` exactly as the runtime does, through `api::handle`.
//! Every case here is answered before the store is touched (the store points nowhere).

use api::{App, Function};
use domain::SupportPolicy;
use serde_json::Value;
use store::{Store, TableNames};

const FIXTURE: &str = include_str!("fixtures/create-for-customer.json");

async fn app() -> App {
    // Port 9 (discard): any store call would fail with 503 and fail the test.
    let client = store::dynamodb_at("http://127.0.0.1:9", "eu-central-1").await;
    App::new(
        Store::new(client, TableNames::with_prefix("unused")),
        SupportPolicy::embedded().unwrap(),
        api::identity::IdentityConfig::new("partner_id", "ledgerdesk", "ledgerdesk-vendor"),
    )
}

async fn call(function: Function, event: Value) -> (u16, Value) {
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event");
    let response = api::handle(&app().await, function, request).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: &[u8] = response.body().as_ref();
    (status, serde_json::from_slice(body).unwrap())
}

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).unwrap()
}

#[tokio::test]
async fn rule_violations_from_a_real_event_are_422() {
    let (status, body) = call(Function::CreateRequest, fixture()).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "$.contact.preferredContactMethod");
    assert_eq!(body["type"], "/problems/validation-failed");
}

#[tokio::test]
async fn no_authorizer_context_is_401() {
    let mut event = fixture();
    event["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let (status, body) = call(Function::CreateRequest, event).await;
    assert_eq!(status, 401);
    assert_eq!(body["title"], "Unauthenticated");
}

#[tokio::test]
async fn a_missing_scope_is_403_and_a_missing_partner_too() {
    let mut event = fixture();
    event["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] = "requests/read".into();
    event["requestContext"]["authorizer"]["jwt"]["scopes"] = serde_json::json!(["requests/read"]);
    let (status, body) = call(Function::CreateRequest, event).await;
    assert_eq!(status, 403);
    assert_eq!(body["type"], "/problems/forbidden");
    assert!(
        body["detail"].as_str().unwrap().contains("requests/write"),
        "the missing scope is named: {body}"
    );
    let mut event = fixture();
    event["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .unwrap()
        .remove("partner_id");
    let (status, body) = call(Function::CreateRequest, event).await;
    assert_eq!(status, 403);
    assert_eq!(body["type"], "/problems/forbidden");
    assert_eq!(body["detail"], "the token carries no partner", "{body}");
}

#[tokio::test]
async fn the_partner_claim_name_is_configurable() {
    let mut event = fixture();
    let claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .unwrap();
    let partner = claims.remove("partner_id").unwrap();
    claims.insert("custom:partner".into(), partner);
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let mut app = app().await;
    app.identity.partner_claim = "custom:partner".into();
    // Past identity: the body's phone preference is what fails.
    assert_eq!(api::handle(&app, Function::CreateRequest, request).await.status(), 422);
}

#[tokio::test]
async fn oversize_and_malformed_bodies() {
    let mut event = fixture();
    event["body"] = Value::String(format!("{{\"title\":\"{}\"}}", "x".repeat(65 * 1024)));
    assert_eq!(call(Function::CreateRequest, event).await.0, 413);
    let mut event = fixture();
    event["body"] = Value::String("{not json".into());
    assert_eq!(call(Function::CreateRequest, event).await.0, 400);
}

#[tokio::test]
async fn a_route_of_another_function_is_404() {
    assert_eq!(call(Function::ListRequests, fixture()).await.0, 404);
}

#[tokio::test]
async fn a_receipt_key_that_cannot_be_read_refuses_the_write_before_the_store_is_touched() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let mut app = app().await;
    app.set_receipts(api::receipts::Receipts::fetching(Box::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if n == 0 {
                Err("AccessDeniedException".to_owned())
            } else {
                Ok(api::receipts::ReceiptSigner {
                    key: ledger::SignerKey::from_seed("receipts", [5; 32]).unwrap(),
                    log: ledger::LogName::parse("ledgerdesk.test").unwrap(),
                })
            }
        })
    })));
    let mut event = fixture();
    event["body"] = event["body"].as_str().unwrap().replace("\"phone\"", "\"email\"").into();
    let create = |event: &Value| lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = api::handle(&app, Function::CreateRequest, create(&event)).await;
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(app.store.round_trips(), 0, "refused before any store call");
    // The next write reads the key again and goes on to the store (which points nowhere).
    let response = api::handle(&app, Function::CreateRequest, create(&event)).await;
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert!(app.store.round_trips() > 0, "this time the store was asked");
}

/// `GET /ledger/entry-tiles/{index}` as API Gateway delivers it, for partner contoso.
fn entry_tile_event(index: &str) -> Value {
    let mut event = fixture();
    let path = format!("/ledger/entry-tiles/{index}");
    event["routeKey"] = "GET /ledger/entry-tiles/{index}".into();
    event["requestContext"]["routeKey"] = "GET /ledger/entry-tiles/{index}".into();
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["method"] = "GET".into();
    event["requestContext"]["http"]["path"] = path.into();
    event["pathParameters"] = serde_json::json!({ "index": index });
    event["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] = "ledger/read".into();
    event["requestContext"]["authorizer"]["jwt"]["scopes"] = serde_json::json!(["ledger/read"]);
    let object = event.as_object_mut().unwrap();
    object.remove("body");
    event
}

#[tokio::test]
async fn an_entry_tile_is_a_redirect_to_a_presigned_link_to_the_callers_own_tile() {
    // The bucket, like the store, points nowhere: signing a link is local work.
    let bucket = store::EntryTileBucket::new(store::s3_at("http://127.0.0.1:9", "eu-central-1"), "tiles");
    let app = App::new(
        Store::new(
            store::dynamodb_at("http://127.0.0.1:9", "eu-central-1").await,
            TableNames::with_prefix("unused"),
        )
        .with_entry_tiles(bucket),
        SupportPolicy::embedded().unwrap(),
        api::identity::IdentityConfig::new("partner_id", "ledgerdesk", "ledgerdesk-vendor"),
    );
    let request = lambda_http::request::from_str(&entry_tile_event("3").to_string()).unwrap();
    let response = api::handle(&app, Function::ListRequests, request).await;
    assert_eq!(response.status().as_u16(), 307);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let link = response.headers()["location"].to_str().unwrap();
    assert!(
        link.starts_with("http://127.0.0.1:9/tiles/entry-tiles/contoso/3?"),
        "the caller's own chain: {link}"
    );
    for part in ["X-Amz-Signature=", "X-Amz-Expires=300", "X-Amz-Credential="] {
        assert!(link.contains(part), "{part} in {link}");
    }
    // One spelling per number, before any link is made.
    let request = lambda_http::request::from_str(&entry_tile_event("03").to_string()).unwrap();
    assert_eq!(api::handle(&app, Function::ListRequests, request).await.status(), 422);
}

#[tokio::test]
async fn without_a_tile_bucket_every_entry_tile_is_404_pointing_to_the_pages() {
    let request = lambda_http::request::from_str(&entry_tile_event("0").to_string()).unwrap();
    let response = api::handle(&app().await, Function::ListRequests, request).await;
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert!(body["detail"].as_str().unwrap().contains("/ledger/entries"), "{body}");
}
