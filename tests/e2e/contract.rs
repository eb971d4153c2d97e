use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use tests::*;

#[tokio::test]
async fn the_openapi_document_is_served_and_matches_the_routes() {
    let stack = Stack::start().await;
    let reply = stack.send(Method::GET, "/openapi.json", None, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = reply.body["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = api::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, routed);
    // Every operation documents the statuses the error mapping can produce for it.
    for (_, ops) in reply.body["paths"].as_object().unwrap() {
        for (_, op) in ops.as_object().unwrap() {
            let codes: BTreeSet<&str> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for code in ["401", "403", "500", "503"] {
                assert!(codes.contains(code), "{op} lacks {code}");
            }
        }
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let reply = stack.get("/nothing-here", &token).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    assert_eq!(reply.body["type"], "/problems/no-such-route");
    let reply = stack
        .send(
            Method::DELETE,
            "/service-requests/01KAW0000000000000000000ZZ",
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), Some("GET, PATCH"));
    assert_eq!(reply.body["type"], "/problems/method-not-allowed");
}
