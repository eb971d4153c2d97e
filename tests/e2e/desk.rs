//! The vendor's side of the desk, as an engineer works it: token → queue → assign → respond;
//! the next-response clock; the support-topic catalogue. And what partners cannot reach.

use local::token::TokenRole;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::*;

fn filed(severity: &str, product: &str, language: &str) -> Value {
    let mut b = body();
    b["severity"] = json!(severity);
    b["product"] = json!(product);
    b["language"] = json!(language);
    b
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_works_the_queue_across_partners() {
    let stack = Stack::start().await;
    let contoso = stack.partner_token("contoso");
    let fabrikam = stack.partner_token("fabrikam");
    let support = stack.support_token();
    let colleague = stack.token(TokenRole::Support, None, "second@vendor");
    // English 24x7: C is due in 8 h, B in 4 h, A in 2 h; filed in that order.
    let c = stack.create(&contoso, &filed("C", "azure", "en")).await;
    let b = stack.create(&fabrikam, &filed("B", "office365", "en")).await;
    let a = stack.create(&contoso, &filed("A", "azure", "en")).await;
    let (queue, _) = stack.list_all("/queue", &support).await;
    assert_eq!(
        ids(&queue),
        ids(&[a.clone(), b.clone(), c.clone()]),
        "next due first, across partners"
    );
    assert_eq!(
        queue[0]["contact"]["email"], "erika@partner.example",
        "the personal values are joined"
    );
    // Filters.
    let (azure, _) = stack.list_all("/queue?product=azure&limit=1", &support).await;
    assert_eq!(
        ids(&azure),
        ids(&[a.clone(), c.clone()]),
        "one per page, following the cursor"
    );
    let (sev_b, _) = stack.list_all("/queue?severity=B", &support).await;
    assert_eq!(ids(&sev_b), ids(std::slice::from_ref(&b)));
    let (english, _) = stack.list_all("/queue?calendar=en&state=pending", &support).await;
    assert_eq!(english.len(), 3);
    let (late, _) = stack.list_all("/queue?state=breached", &support).await;
    assert!(late.is_empty());
    // A bad value is a 422 naming the parameter; a parameter the queue does not take, a 400
    // naming it.
    for (query, status, field) in [
        ("calendar=xx", StatusCode::UNPROCESSABLE_ENTITY, "query:calendar"),
        ("state=met", StatusCode::UNPROCESSABLE_ENTITY, "query:state"),
        ("severity=D", StatusCode::UNPROCESSABLE_ENTITY, "query:severity"),
        ("assignee=", StatusCode::UNPROCESSABLE_ENTITY, "query:assignee"),
        ("customerId=x", StatusCode::BAD_REQUEST, "query:customerId"),
    ] {
        let reply = stack.get(&format!("/queue?{query}"), &support).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        assert_eq!(reply.error_fields(), [field], "{query}");
    }

    // Take A, hand B to a colleague; the queue filters by assignee.
    let path = |r: &Value| format!("/service-requests/{}", r["id"].as_str().unwrap());
    let reply = stack
        .patch(&path(&a), &support, &json!({ "action": "assign", "assignee": "me" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["assignee"], "engineer@vendor");
    let reply = stack
        .patch(
            &path(&b),
            &support,
            &json!({ "action": "assign", "assignee": "second@vendor" }),
        )
        .await;
    assert_eq!(reply.body["assignee"], "second@vendor");
    let (mine, _) = stack.list_all("/queue?assignee=me", &support).await;
    assert_eq!(ids(&mine), ids(std::slice::from_ref(&a)));
    let (theirs, _) = stack.list_all("/queue?assignee=me", &colleague).await;
    assert_eq!(ids(&theirs), ids(std::slice::from_ref(&b)));
    let (nobodys, _) = stack.list_all("/queue?assignee=none", &support).await;
    assert_eq!(ids(&nobodys), ids(std::slice::from_ref(&c)));
    // The partner sees who works on its request, and filters its own list by it.
    let (assigned, _) = stack
        .list_all("/service-requests?assignee=engineer%40vendor", &contoso)
        .await;
    assert_eq!(ids(&assigned), ids(std::slice::from_ref(&a)));
    assert_eq!(
        stack.get("/service-requests?assignee=me", &contoso).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Partners cannot assign; assigning again to the same engineer changes nothing.
    let reply = stack
        .patch(&path(&c), &contoso, &json!({ "action": "assign", "assignee": "me" }))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = stack
        .patch(&path(&a), &support, &json!({ "action": "assign", "assignee": "me" }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    // The assignment is ledgered (the subject as a commitment, shown joined in history).
    let history = stack.get(&format!("{}/history", path(&a)), &contoso).await;
    let assigned = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "assigned")
        .unwrap()
        .clone();
    assert_eq!(
        assigned["data"]["change"]["assignee"]["value"], "engineer@vendor",
        "{assigned}"
    );

    // Answering A takes it off the queue; releasing B leaves it unassigned.
    let reply = stack
        .patch(
            &path(&a),
            &support,
            &json!({ "action": "respond", "message": "On it." }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    stack
        .patch(&path(&b), &colleague, &json!({ "action": "assign", "assignee": null }))
        .await;
    let (queue, _) = stack.list_all("/queue", &support).await;
    assert_eq!(ids(&queue), ids(&[b.clone(), c.clone()]));
    assert!(queue[0]["assignee"].is_null());
    explain_every_request(&stack, &contoso).await;
    explain_every_request(&stack, &fabrikam).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_cannot_reach_the_queue_and_cursors_stay_where_they_belong() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    for _ in 0..3 {
        stack.create(&partner, &body()).await;
    }
    assert_eq!(stack.get("/queue", &partner).await.status, StatusCode::FORBIDDEN);
    let queue = stack.get("/queue?limit=1", &support).await;
    let queue_cursor = queue.body["nextCursor"].as_str().unwrap().to_owned();
    let list = stack.get("/service-requests?limit=1", &partner).await;
    let list_cursor = list.body["nextCursor"].as_str().unwrap().to_owned();
    let reply = stack
        .get(
            &format!("/service-requests?limit=1&cursor={}", encode(&queue_cursor)),
            &partner,
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "a queue cursor on a partner's list"
    );
    assert_eq!(reply.error_fields(), ["query:cursor"]);
    let reply = stack
        .get(&format!("/queue?limit=1&cursor={}", encode(&list_cursor)), &support)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "a partner's cursor on the queue");
    let reply = stack
        .get(
            &format!("/queue?limit=1&severity=A&cursor={}", encode(&queue_cursor)),
            &support,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "a cursor of another queue query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_owes_a_reply_and_the_sweep_records_each_late_cycle_once() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let mut b = body();
    b["severity"] = json!("B");
    let created = stack.create(&partner, &b).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/service-requests/{id}");
    stack
        .patch(&path, &support, &json!({ "action": "respond", "message": "Looking." }))
        .await;
    assert!(
        stack.list_all("/queue", &support).await.0.is_empty(),
        "answered: nothing owed"
    );
    let reply = stack
        .patch(&path, &partner, &json!({ "action": "note", "message": "Still down." }))
        .await;
    let owed = &reply.body["sla"]["current"];
    assert_eq!(owed["owedBy"], "vendor", "{}", reply.body);
    assert_eq!(owed["cycle"], 1);
    assert_eq!(owed["targetMinutes"], 240);
    let (queue, _) = stack.list_all("/queue", &support).await;
    assert_eq!(ids(&queue), std::slice::from_ref(&id), "back in the queue");
    // Five hours later the sweep records the late reply, once.
    let later = stack.travel(chrono::Duration::hours(5));
    let first = stack.running.sweep(later).await.unwrap();
    assert_eq!(first.breached, std::slice::from_ref(&id), "{first:?}");
    let second = stack.running.sweep(later).await.unwrap();
    assert!(second.breached.is_empty(), "{second:?}");
    let read = stack.get(&path, &partner).await;
    assert_eq!(read.body["sla"]["current"]["state"], "breached");
    assert_eq!(read.body["sla"]["state"], "met", "the first response was in time");
    let (late, _) = stack.list_all("/queue?state=breached", &support).await;
    assert_eq!(ids(&late), std::slice::from_ref(&id));
    // Support replies: the cycle is recorded as breached; asking for logs leaves the partner owing.
    let reply = stack
        .patch(
            &path,
            &support,
            &json!({ "action": "await_partner", "message": "Logs, please." }),
        )
        .await;
    let cycle = &reply.body["sla"]["cycles"][0];
    assert_eq!(
        (cycle["cycle"].as_u64(), cycle["outcome"].as_str()),
        (Some(1), Some("breached")),
        "{}",
        reply.body
    );
    assert_eq!(reply.body["sla"]["current"]["owedBy"], "partner");
    assert!(
        stack.list_all("/queue", &support).await.0.is_empty(),
        "the partner owes, not support"
    );
    let history = stack.get(&format!("{path}/history"), &partner).await;
    let kinds: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "next_response_breached").count(),
        1,
        "{kinds:?}"
    );
    let reply = stack
        .patch(&path, &partner, &json!({ "action": "note", "message": "Attached." }))
        .await;
    assert_eq!(reply.body["sla"]["current"]["cycle"], 2);
    explain_every_request(&stack, &partner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_name_a_topic_of_the_catalogue() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    // Any authenticated caller reads the catalogue.
    for token in [&partner, &stack.support_token()] {
        let reply = stack.get("/support-topics?product=azure", token).await;
        assert_eq!(reply.status, StatusCode::OK);
        let topics = reply.body["topics"].as_array().unwrap();
        assert!(topics.iter().all(|t| t["product"] == "azure"));
        assert!(topics.iter().any(|t| t["id"] == "azure-vm-connectivity"));
    }
    let version = stack.get("/support-topics", &partner).await.body["catalogueVersion"].clone();
    assert!(version.is_string());
    assert_eq!(
        stack.get("/support-topics?product=aws", &partner).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let path = format!("/customers/{CUSTOMER}/service-requests");
    let mut by_id = body();
    by_id.as_object_mut().unwrap().remove("supportTopic");
    by_id["supportTopicId"] = json!("azure-vm-connectivity");
    let created = stack.create(&partner, &by_id).await;
    assert_eq!(
        created["topic"],
        json!({ "id": "azure-vm-connectivity", "title": "Virtual machines: cannot connect (RDP, SSH)", "catalogueVersion": version })
    );
    assert!(created["supportTopic"].is_null(), "free text is optional detail");
    let before = dump_tables(&stack).await;
    for (change, field) in [
        (json!({ "supportTopicId": "no-such-topic" }), "$.supportTopicId"),
        (json!({ "supportTopicId": "o365-teams" }), "$.supportTopicId"),
        (json!({ "supportTopicId": "azure-billing-charges" }), "$.supportTopicId"),
        (json!({ "supportTopicId": "Not An Id" }), "$.supportTopicId"),
        (json!({}), "$.supportTopicId"),
    ] {
        let mut b = by_id.clone();
        b.as_object_mut().unwrap().remove("supportTopicId");
        for (k, v) in change.as_object().unwrap() {
            b[k] = v.clone();
        }
        let reply = stack.post(&path, &partner, &b).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{change}: {}",
            reply.body
        );
        assert_eq!(reply.error_fields(), [field], "{change}");
        assert!(
            reply.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("support-topics")
                || change == json!({}),
            "{}",
            reply.body
        );
    }
    assert_eq!(dump_tables(&stack).await, before, "nothing written");
    // Free text alone still works (older clients), and both together.
    let free = stack.create(&partner, &body()).await;
    assert!(free["topic"].is_null());
    let mut both = body();
    both["supportTopicId"] = json!("azure-vm-connectivity");
    let both = stack.create(&partner, &both).await;
    assert_eq!(both["supportTopic"], "Virtual machines / cannot connect");
}
