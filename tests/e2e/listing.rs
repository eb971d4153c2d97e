use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::*;

/// 18 requests over two customers, three severities and two products.
async fn seed(stack: &Stack, token: &str) -> Vec<Value> {
    let mut created = Vec::new();
    for i in 0..18 {
        let mut b = body();
        b["severity"] = json!(["A", "B", "C"][i % 3]);
        b["product"] = json!(if i % 2 == 0 { "azure" } else { "office365" });
        b["title"] = json!(format!("Request {i}"));
        let customer = if i % 3 == 0 { OTHER_CUSTOMER } else { CUSTOMER };
        let reply = stack
            .post(&format!("/customers/{customer}/service-requests"), token, &b)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        created.push(reply.body);
    }
    created
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

fn newest_first(mut items: Vec<Value>) -> Vec<String> {
    items.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
    ids(&items)
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let created = seed(&stack, &token).await;
    // Close one so that the status filter has something to separate.
    let closed_id = created[4]["id"].as_str().unwrap().to_owned();
    let reply = stack
        .patch(
            &format!("/service-requests/{closed_id}"),
            &token,
            &json!({ "action": "close", "reason": "duplicate" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);

    let (all, pages) = stack.list_all("/service-requests?limit=5", &token).await;
    assert_eq!(ids(&all), newest_first(created.clone()));
    assert!(pages >= 4, "{pages}");

    let middle = created[9]["createdAt"].as_str().unwrap().to_owned();
    type Keep<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
    let cases: Vec<(String, Keep)> = vec![
        ("severity=B".into(), Box::new(|r| r["severity"] == "B")),
        ("product=office365".into(), Box::new(|r| r["product"] == "office365")),
        ("status=closed".into(), Box::new(|r| r["id"] == closed_id.as_str())),
        ("status=open".into(), Box::new(|r| r["id"] != closed_id.as_str())),
        (
            format!("customerId={OTHER_CUSTOMER}"),
            Box::new(|r| r["customerId"] == OTHER_CUSTOMER),
        ),
        (
            format!("createdFrom={}", encode(&middle)),
            Box::new(|r| r["createdAt"].as_str().unwrap() >= middle.as_str()),
        ),
        (
            format!("createdTo={}", encode(&middle)),
            Box::new(|r| r["createdAt"].as_str().unwrap() <= middle.as_str()),
        ),
        (
            format!("severity=A&product=azure&customerId={OTHER_CUSTOMER}"),
            Box::new(|r| r["severity"] == "A" && r["product"] == "azure" && r["customerId"] == OTHER_CUSTOMER),
        ),
    ];
    for (query, keep) in cases {
        let (items, _) = stack
            .list_all(&format!("/service-requests?limit=4&{query}"), &token)
            .await;
        let expected: Vec<Value> = created.iter().filter(|r| keep(r)).cloned().collect();
        assert!(!expected.is_empty(), "{query} selects something");
        let got = ids(&items);
        assert_eq!(
            got.iter().collect::<HashSet<_>>().len(),
            got.len(),
            "{query}: duplicates"
        );
        // The closed one is listed with its new status; compare ids only.
        assert_eq!(got, newest_first(expected), "{query}");
    }

    // The customer route lists the same as the customerId filter.
    let (by_route, _) = stack
        .list_all(&format!("/customers/{OTHER_CUSTOMER}/service-requests?limit=3"), &token)
        .await;
    let (by_query, _) = stack
        .list_all(&format!("/service-requests?customerId={OTHER_CUSTOMER}"), &token)
        .await;
    assert_eq!(ids(&by_route), ids(&by_query));
}

#[tokio::test]
async fn bad_listing_parameters_are_refused() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    for (query, status, field) in [
        ("limit=101", StatusCode::UNPROCESSABLE_ENTITY, "query:limit"),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "query:limit"),
        ("severity=D", StatusCode::UNPROCESSABLE_ENTITY, "query:severity"),
        ("status=pending", StatusCode::UNPROCESSABLE_ENTITY, "query:status"),
        (
            "createdFrom=yesterday",
            StatusCode::UNPROCESSABLE_ENTITY,
            "query:createdFrom",
        ),
        ("customerId=nope", StatusCode::UNPROCESSABLE_ENTITY, "query:customerId"),
        ("partnerId=fabrikam", StatusCode::BAD_REQUEST, "query:partnerId"),
        ("cursor=forged.cursor", StatusCode::BAD_REQUEST, "query:cursor"),
    ] {
        let reply = stack.get(&format!("/service-requests?{query}"), &token).await;
        assert_eq!(reply.status, status, "{query}: {:?}", reply.body);
        assert_eq!(reply.error_fields(), [field], "{query}");
    }
}
