use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::*;

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_support_engineers_response_meets_the_sla_and_history_shows_every_change() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let created = stack.create(&partner, &body()).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/service-requests/{id}");

    // Partners cannot respond for support; support can see any partner's request.
    let reply = stack
        .patch(
            &path,
            &partner,
            &json!({ "action": "respond", "message": "self-service" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(stack.get(&path, &support).await.status, StatusCode::OK);
    // Resolving before any answer is the wrong state.
    let reply = stack
        .patch(&path, &support, &json!({ "action": "resolve", "message": "done" }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    // A stale If-Match is refused.
    let reply = stack
        .send(
            Method::PATCH,
            &path,
            Some(&support),
            Some(&json!({ "action": "respond", "message": "x" })),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED);
    // Missing message: 422, nothing written.
    let reply = stack.patch(&path, &support, &json!({ "action": "respond" })).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["$.message"]);

    let reply = stack
        .send(
            Method::PATCH,
            &path,
            Some(&support),
            Some(&json!({ "action": "respond", "message": "We are on it." })),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "in_progress");
    assert_eq!(reply.body["sla"]["state"], "met");
    assert!(reply.body["sla"]["firstResponseAt"].is_string());
    assert_eq!(reply.header("etag"), Some("\"2\""));

    let steps = [
        (
            &support,
            json!({ "action": "await_partner", "message": "Which subscription?" }),
            "awaiting_partner",
        ),
        (
            &partner,
            json!({ "action": "note", "message": "Subscription 42." }),
            "in_progress",
        ),
        (
            &partner,
            json!({ "action": "change_severity", "severity": "B", "reason": "Workaround found" }),
            "in_progress",
        ),
        (
            &support,
            json!({ "action": "resolve", "message": "Host replaced." }),
            "resolved",
        ),
        (&partner, json!({ "action": "close" }), "closed"),
        (
            &partner,
            json!({ "action": "reopen", "reason": "It is back." }),
            "in_progress",
        ),
    ];
    for (token, action, status) in steps {
        let reply = stack.patch(&path, token, &action).await;
        assert_eq!(reply.status, StatusCode::OK, "{action}: {:?}", reply.body);
        assert_eq!(reply.body["status"], status, "{action}");
    }
    let reply = stack
        .patch(
            &path,
            &partner,
            &json!({ "action": "change_severity", "severity": "B" }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CONFLICT,
        "unchanged severity: the request is so already"
    );

    let history = stack.get(&format!("{path}/history"), &partner).await;
    assert_eq!(history.status, StatusCode::OK);
    let items = history.body["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "first_response",
            "status_changed",
            "note_added",
            "severity_changed",
            "status_changed",
            "status_changed",
            "status_changed"
        ]
    );
    let seqs: Vec<u64> = items.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(items[1]["data"]["actor"]["role"], "support_engineer");
    // Personal values are commitments in the ledger, shown with their value here.
    assert_eq!(items[3]["data"]["actor"]["subject"]["value"], "agent@contoso");
    assert_eq!(items[3]["data"]["actor"]["subject"]["erased"], false);
    assert!(items[3]["data"]["actor"]["subject"]["commitment"].is_string());
    assert_eq!(items[3]["data"]["change"]["message"]["value"], "Subscription 42.");
    assert_eq!(items.last().unwrap()["data"]["resulting"]["status"], "in_progress");
    assert_eq!(items.last().unwrap()["data"]["version"], 8);
    explain_every_request(&stack, &partner).await;
}

#[tokio::test]
async fn a_sweep_past_the_due_time_breaches_exactly_once() {
    // Filed nine hours ago (by the stack's clock), so the due times have passed when
    // `local sweep --at` runs: it refuses a time in the future.
    let stack = Stack::start_at(&[("contoso", CUSTOMER)], Duration::hours(-9)).await;
    let partner = stack.partner_token("contoso");
    let late = stack.create(&partner, &body()).await; // A: due in 2 hours
    let answered = stack.create(&partner, &body()).await;
    let mut relaxed = body();
    relaxed["severity"] = json!("C");
    let not_yet = stack.create(&partner, &relaxed).await; // C: due in 8 hours
    let support = stack.support_token();
    let reply = stack
        .patch(
            &format!("/service-requests/{}", answered["id"].as_str().unwrap()),
            &support,
            &json!({ "action": "respond", "message": "hi" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    let when = at(&late["sla"]["dueAt"]) + Duration::minutes(5);
    let first = local::sweep_once(
        &stack.data_dir(),
        0,
        Some(stack.running.dynamodb_endpoint.clone()),
        Some(domain::Timestamp::from(when)),
    )
    .await
    .unwrap();
    assert_eq!(first.breached, [late["id"].as_str().unwrap()]);
    // The relationship, three creates, a response, a breach.
    assert_eq!(first.checkpoints, ["contoso@6"], "the chain grew: one checkpoint");
    let second = local::sweep_once(
        &stack.data_dir(),
        0,
        Some(stack.running.dynamodb_endpoint.clone()),
        Some(domain::Timestamp::from(when)),
    )
    .await
    .unwrap();
    assert!(second.breached.is_empty(), "{second:?}");
    assert!(second.checkpoints.is_empty());

    let path = format!("/service-requests/{}", late["id"].as_str().unwrap());
    let reply = stack.get(&path, &partner).await;
    assert_eq!(reply.body["sla"]["state"], "breached");
    assert_eq!(at(&reply.body["sla"]["breachedAt"]), when);
    let history = stack.get(&format!("{path}/history"), &partner).await;
    let breaches = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sla_breached")
        .count();
    assert_eq!(breaches, 1);
    assert_eq!(
        stack
            .get(
                &format!("/service-requests/{}", not_yet["id"].as_str().unwrap()),
                &partner
            )
            .await
            .body["sla"]["state"],
        "pending"
    );
    assert_eq!(
        stack
            .get(
                &format!("/service-requests/{}", answered["id"].as_str().unwrap()),
                &partner
            )
            .await
            .body["sla"]["state"],
        "met"
    );

    // The in-process sweep of the running stack agrees: nothing left to breach.
    let third = stack.running.sweep(domain::Timestamp::from(when)).await.unwrap();
    assert!(third.breached.is_empty());
    explain_every_request(&stack, &partner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_severity_change_moves_a_deadline_only_by_the_rules() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let mut b = body();
    b["severity"] = json!("C");
    let created = stack.create(&partner, &b).await;
    let path = format!("/service-requests/{}", created["id"].as_str().unwrap());
    let opened = at(&created["createdAt"]);
    assert_eq!(at(&created["sla"]["dueAt"]), opened + Duration::hours(8));
    let change = |severity: &str| json!({ "action": "change_severity", "severity": severity, "reason": "impact" });

    // Three hours in, the partner raises it to A: due two hours from the change, not from the
    // opening (which would be breached at once).
    stack.travel(Duration::hours(3));
    let raised = stack.patch(&path, &partner, &change("A")).await;
    assert_eq!(raised.status, StatusCode::OK, "{}", raised.body);
    let due = at(&raised.body["sla"]["dueAt"]);
    assert!(
        due > opened + Duration::hours(5) - Duration::seconds(5)
            && due <= opened + Duration::hours(5) + Duration::seconds(5),
        "{due} is two hours after the change"
    );
    let report = stack.running.sweep(stack.running.now()).await.unwrap();
    assert!(report.breached.is_empty(), "{report:?}");

    // Support cannot lower it (its own deadline): 403 naming why, nothing written.
    let before = dump_tables(&stack).await;
    let refused = stack.patch(&path, &support, &change("C")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("only the partner lowers a severity"),
        "{}",
        refused.body
    );
    assert_eq!(dump_tables(&stack).await, before, "nothing written");

    // The partner lowers it to B: B from the opening (4 h) would be earlier than the due time
    // it has, so the due time stays; the change is ledgered with who, why and both times.
    let lowered = stack.patch(&path, &partner, &change("B")).await;
    assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.body);
    assert_eq!(lowered.body["severity"], "B");
    assert_eq!(at(&lowered.body["sla"]["dueAt"]), due);
    let history = stack.get(&format!("{path}/history"), &partner).await;
    let last = history.body["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "severity_changed", "{last}");
    assert_eq!(last["data"]["change"]["reason"]["value"], "impact", "{last}");
    assert_eq!(last["data"]["actor"]["role"], "partner_agent", "{last}");
    assert_eq!(
        last["data"]["change"]["previousDueAt"], last["data"]["change"]["dueAt"],
        "{last}"
    );
    explain_every_request(&stack, &partner).await;
}
