//! The layer around partner isolation, through the local run: one population per token, a
//! sweep whose clock is its own, relationships the vendor keeps, text that shows what it
//! says, strong If-Match. Every refusal leaves every table as it was.

use chrono::Utc;
use local::token::{AUDIENCE, ISSUER, TokenRole, VENDOR_AUDIENCE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::*;

const STRANGER: &str = "0b5e1d2c-3a4f-4b6c-8d7e-9f0a1b2c3d4e";

fn signed(stack: &Stack, claims: Value) -> String {
    local::token::sign(&stack.running.jwt_secret, &claims).unwrap()
}

fn claims(aud: Value, partner: Option<&str>, scope: &str) -> Value {
    let now = Utc::now().timestamp();
    let mut c = json!({ "sub": "mallory", "iss": ISSUER, "aud": aud, "exp": now + 600, "nbf": now, "scope": scope });
    if let Some(p) = partner {
        c["partner_id"] = json!(p);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_a_partners_or_the_vendors_never_both() {
    let stack = Stack::start().await;
    let contoso = stack.create(&stack.partner_token("contoso"), &body()).await;
    let id = contoso["id"].as_str().unwrap();
    let path = format!("/service-requests/{id}");
    let respond = json!({ "action": "respond", "message": "Answered by a partner posing as support." });
    let before = dump_tables(&stack).await;

    let both = "requests/read requests/write requests/respond";
    for (what, token) in [
        (
            "vendor audience with a partner id",
            signed(&stack, claims(json!(VENDOR_AUDIENCE), Some("fabrikam"), both)),
        ),
        (
            "both audiences with a partner id",
            signed(
                &stack,
                claims(json!([AUDIENCE, VENDOR_AUDIENCE]), Some("fabrikam"), both),
            ),
        ),
        (
            "both audiences without a partner id",
            signed(&stack, claims(json!([AUDIENCE, VENDOR_AUDIENCE]), None, both)),
        ),
        (
            "a partner token with a support scope",
            signed(&stack, claims(json!(AUDIENCE), Some("fabrikam"), both)),
        ),
        (
            "a partner token with the auditor scope",
            signed(
                &stack,
                claims(json!(AUDIENCE), Some("fabrikam"), "requests/read ledger/audit"),
            ),
        ),
    ] {
        // Refused whole: not served as support, and not as the partner either.
        for (method, route, body) in [
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(&respond)),
            (Method::GET, "/service-requests".to_owned(), None),
            (Method::GET, "/ledger/checkpoint?chain=contoso".to_owned(), None),
        ] {
            let reply = stack.send(method.clone(), &route, Some(&token), body, &[]).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{what}: {method} {route}: {}",
                reply.body
            );
            assert!(
                reply.body["detail"].as_str().unwrap().contains("never both"),
                "{what}: {}",
                reply.body
            );
        }
    }
    // A token also for an audience the deployment does not name: API Gateway lets it pass
    // (one audience matches), the API does not.
    let wider = signed(
        &stack,
        claims(json!([AUDIENCE, "someone-else"]), Some("contoso"), "requests/read"),
    );
    let reply = stack.get(&path, &wider).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("audience this deployment does not name"),
        "{}",
        reply.body
    );
    // A vendor token has no partner to file for; a partner token without the claim neither.
    let vendor_writer = signed(&stack, claims(json!(VENDOR_AUDIENCE), None, "requests/write"));
    let anonymous_partner = signed(&stack, claims(json!(AUDIENCE), None, "requests/read requests/write"));
    for token in [&vendor_writer, &anonymous_partner] {
        let reply = stack
            .post(&format!("/customers/{CUSTOMER}/service-requests"), token, &body())
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    }
    // Not yet valid (nbf in the future), or for another audience: 401, as API Gateway does.
    let mut early = claims(json!(AUDIENCE), Some("contoso"), "requests/read");
    early["nbf"] = json!(Utc::now().timestamp() + 120);
    let mut foreign = claims(json!("someone-else"), Some("contoso"), "requests/read");
    foreign["aud"] = json!("someone-else");
    let mut expired = claims(json!(AUDIENCE), Some("contoso"), "requests/read");
    expired["exp"] = json!(Utc::now().timestamp() - 10);
    let other_secret = local::token::sign(
        b"another data directory's secret",
        &claims(json!(AUDIENCE), Some("contoso"), "requests/read"),
    )
    .unwrap();
    // Each says why, in the detail and in WWW-Authenticate (as API Gateway does).
    for (token, why) in [
        (signed(&stack, early), "not valid yet"),
        (signed(&stack, foreign), "another audience"),
        (signed(&stack, expired), "has expired"),
        (other_secret, "another data directory's jwt-secret"),
        ("garbage".to_owned(), "not a token this API accepts"),
    ] {
        let reply = stack.get("/service-requests", &token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{why}");
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("a valid bearer token is required: ") && detail.contains(why),
            "{detail}"
        );
    }
    assert_eq!(
        dump_tables(&stack).await,
        before,
        "every refusal left every table as it was"
    );

    // The real support engineer answers, and is ledgered as one.
    let reply = stack.patch(&path, &stack.support_token(), &respond).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let history = stack
        .get(&format!("{path}/history"), &stack.partner_token("contoso"))
        .await;
    let last = history.body["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["data"]["actor"]["role"], "support_engineer", "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_sweep_keeps_its_own_clock() {
    let _ = captured_logs();
    let stack = Stack::start().await;
    let created = stack.create(&stack.partner_token("contoso"), &body()).await;
    let id = created["id"].as_str().unwrap();
    // An invoker claims it is 2099: the sweep judges by its own clock, and says so.
    let claimed = chrono::DateTime::parse_from_rfc3339("2099-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let started = Utc::now();
    let report = stack.running.scheduled_sweep(Some(claimed)).await.unwrap();
    assert!(report.breached.is_empty(), "{report:?}");
    let at = chrono::DateTime::parse_from_rfc3339(&report.at).unwrap();
    assert!(
        at >= started - chrono::Duration::milliseconds(1) && at <= Utc::now(),
        "{report:?}"
    );
    assert!(captured_logs().contains("far from the clock: ignored"));
    let read = stack
        .get(&format!("/service-requests/{id}"), &stack.partner_token("contoso"))
        .await;
    assert_eq!(read.body["sla"]["state"], "pending", "{}", read.body);
    // A punctual event changes nothing either (the clock still rules).
    let report = stack.running.scheduled_sweep(Some(Utc::now())).await.unwrap();
    assert!(report.breached.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_file_only_for_customers_the_vendor_relates_them_to() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let admin = stack.token(TokenRole::Admin, None, "onboarding@vendor");
    let filed = |customer: &str| format!("/customers/{customer}/service-requests");
    let relationship = format!("/relationships/contoso/{STRANGER}");

    // No relationship: 422 on create, 404 on the customer's list; nothing written.
    let before = dump_tables(&stack).await;
    let reply = stack.post(&filed(STRANGER), &partner, &body()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.error_fields(), ["path:customerId"]);
    assert_eq!(
        stack.get(&filed(STRANGER), &partner).await.status,
        StatusCode::NOT_FOUND
    );
    // Only the vendor's administrators maintain relationships.
    let put = json!({ "status": "active" });
    for token in [&partner, &stack.support_token()] {
        let reply = stack
            .send(Method::PUT, &relationship, Some(token), Some(&put), &[])
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    }
    let reply = stack
        .send(
            Method::PUT,
            &relationship,
            Some(&admin),
            Some(&json!({ "status": "befriended" })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["$.status"]);
    assert_eq!(stack.get(&relationship, &admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(dump_tables(&stack).await, before, "nothing written");

    // The vendor relates them; the change is ledgered in the partner's chain with a receipt.
    let reply = stack
        .send(Method::PUT, &relationship, Some(&admin), Some(&put), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["receipt"]["note"].is_string());
    let read = stack.get(&relationship, &admin).await;
    assert_eq!(read.body["status"], "active");
    // The same PUT again changes nothing: 200 with the relationship, no receipt, nothing written.
    let before_again = dump_tables(&stack).await;
    let again = stack
        .send(Method::PUT, &relationship, Some(&admin), Some(&put), &[])
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["status"], "active");
    assert_eq!(again.body["since"], reply.body["since"]);
    // A retry after a lost answer gets the receipt it missed: the same bytes.
    assert_eq!(again.body["receipt"], reply.body["receipt"], "{}", again.body);
    assert_eq!(
        dump_tables(&stack).await,
        before_again,
        "an unchanged PUT writes nothing"
    );
    let created = stack.post(&filed(STRANGER), &partner, &body()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();

    // Terminated: no new requests, the customer's list is gone for the partner (404) and its
    // requests are closed to it (403) but for their evidence (relationships.rs tries every
    // route), while the vendor's support still sees the request.
    let reply = stack
        .send(
            Method::PUT,
            &relationship,
            Some(&admin),
            Some(&json!({ "status": "terminated" })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let before = dump_tables(&stack).await;
    assert_eq!(
        stack.post(&filed(STRANGER), &partner, &body()).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        stack.get(&filed(STRANGER), &partner).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stack.get(&format!("/service-requests/{id}"), &partner).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(dump_tables(&stack).await, before);
    assert_eq!(
        stack
            .get(&format!("/service-requests/{id}"), &stack.support_token())
            .await
            .status,
        StatusCode::OK
    );

    // Bulk onboarding from CSV: every row checked first; one bad row and nothing is imported.
    let import = |csv: &'static str| {
        let stack = &stack;
        let admin = admin.clone();
        async move {
            let response = stack
                .http
                .post(format!("{}/relationships/import", stack.running.base_url()))
                .bearer_auth(admin)
                .header("content-type", "text/csv")
                .body(csv)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let before = dump_tables(&stack).await;
    let (status, problem) = import(
        "partnerId,customerId,since,status\n\
         northwind,3fa85f64-5717-4562-b3fc-2c963f66afa6,2025-01-01T00:00:00Z,active\n\
         northwind,not-a-customer,,active\n\
         \"northwind\",9b2e4c1a-0d3f-4e5a-8b7c-6d5e4f3a2b1c,,paused\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["body:3:customerId", "body:4:status"], "{problem}");
    assert_eq!(dump_tables(&stack).await, before, "nothing imported");
    let good = "partnerId,customerId,since,status\n\
                northwind,3fa85f64-5717-4562-b3fc-2c963f66afa6,2025-01-01T00:00:00Z,active\n\
                \"northwind\",\"9b2e4c1a-0d3f-4e5a-8b7c-6d5e4f3a2b1c\",,active\n";
    let (status, imported) = import(good).await;
    assert_eq!(status, StatusCode::OK, "{imported}");
    assert_eq!((&imported["imported"], &imported["unchanged"]), (&json!(2), &json!(0)));
    // A receipt per row, named by row and customer, each for its entry in northwind's chain.
    // Per row: written or not, and the entry that set it; per chain, one receipt, for the
    // highest of those entries (it covers every entry before it by the hash chain).
    let rows: Vec<(u64, &str, bool, u64)> = imported["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["customerId"].as_str().unwrap(),
                r["written"].as_bool().unwrap(),
                r["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    let first_seq = rows[0].3;
    assert_eq!(
        rows,
        [
            (2, "3fa85f64-5717-4562-b3fc-2c963f66afa6", true, first_seq),
            (3, "9b2e4c1a-0d3f-4e5a-8b7c-6d5e4f3a2b1c", true, first_seq + 1)
        ],
        "{imported}"
    );
    let receipts = imported["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 1, "{imported}");
    assert_eq!(receipts[0]["chain"], "northwind");
    assert_eq!(receipts[0]["seq"], first_seq + 1);
    assert_eq!(receipts[0]["receipt"]["seq"], first_seq + 1);
    assert!(receipts[0]["receipt"]["note"].is_string());
    // The rows' entries are the chain's, with the hashes the rows name, both in one transaction.
    let lines = crate::evidence::chain_lines(&stack, "northwind").await;
    for row in imported["rows"].as_array().unwrap() {
        let seq = row["seq"].as_u64().unwrap() as usize;
        let entry = ledger::EntryRef::parse(lines[seq].as_bytes()).unwrap();
        assert_eq!(entry.kind, "relationship_changed");
        assert_eq!(row["entryHash"], entry.hash.to_hex(), "{row}");
    }
    // Re-running an import writes only what changed, and gives the same receipt again (a
    // re-run after a lost answer gets what it missed).
    let before_again = dump_tables(&stack).await;
    let (_, again) = import(good).await;
    assert_eq!(
        (&again["imported"], &again["unchanged"]),
        (&json!(0), &json!(2)),
        "{again}"
    );
    assert!(
        again["rows"].as_array().unwrap().iter().all(|r| r["written"] == false),
        "{again}"
    );
    assert_eq!(again["receipts"], imported["receipts"]);
    assert_eq!(
        dump_tables(&stack).await,
        before_again,
        "an unchanged import writes nothing"
    );
    let northwind = stack.partner_token("northwind");
    let reply = stack.post(&filed(CUSTOMER), &northwind, &body()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let (status, problem) = import("customerId,partnerId\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // An empty body (or only blank lines) has no header: refused, nothing written.
    let before = dump_tables(&stack).await;
    for empty in ["", "\n\n", " , , \r\n"] {
        let (status, problem) = import(empty).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{empty:?}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "body:1", "{problem}");
    }
    assert_eq!(dump_tables(&stack).await, before, "nothing imported");

    // Every relationship change is in the partner's ledger.
    let entries = stack.get_text("/ledger/entries?chain=contoso", &partner).await;
    let kinds: Vec<String> = entries
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let changes = kinds.iter().filter(|k| k.starts_with("relationship")).count();
    // The stack's two at start, the activation and the termination.
    assert_eq!(changes, 4, "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_line_fields_refuse_invisible_and_direction_controls() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let path = format!("/customers/{CUSTOMER}/service-requests");
    let before = dump_tables(&stack).await;
    for (field, pointer, value) in [
        ("$.title", "/title", "invoice\u{202E}fdp.exe"),
        ("$.title", "/title", "zero\u{200B}width"),
        ("$.title", "/title", "line\u{2028}separator"),
        ("$.title", "/title", "tag\u{E0041}characters"),
        ("$.contact.name", "/contact/name", "Erika\u{2066}Partner\u{2069}"),
        ("$.contact.email", "/contact/email", "erika\u{200D}@partner.example"),
        ("$.description", "/description", "looks fine \u{202E}txt.exe"),
    ] {
        let mut b = body();
        *b.pointer_mut(pointer).unwrap() = json!(value);
        let reply = stack.post(&path, &partner, &b).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{value:?}: {}",
            reply.body
        );
        assert_eq!(reply.error_fields(), [field], "{value:?}");
        let message = reply.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("U+"), "names the character: {message}");
    }
    assert_eq!(dump_tables(&stack).await, before, "nothing written");
    // Multi-line text keeps its line breaks and emoji sequences.
    let mut b = body();
    b["description"] = json!("First line.\nSecond line, with a family: \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}");
    assert_eq!(stack.post(&path, &partner, &b).await.status, StatusCode::CREATED);
    // A note is checked the same way; nothing is written for it.
    let created = stack.create(&partner, &body()).await;
    let id = created["id"].as_str().unwrap();
    let before = dump_tables(&stack).await;
    let reply = stack
        .patch(
            &format!("/service-requests/{id}"),
            &partner,
            &json!({ "action": "note", "message": "see \u{202E}gpj.exe" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(dump_tables(&stack).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_compares_strongly_and_accepts_any() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let created = stack.create(&partner, &body()).await;
    let path = format!("/service-requests/{}", created["id"].as_str().unwrap());
    let note = |n: u32| json!({ "action": "note", "message": format!("note {n}") });
    let patch = |path: &str, n: u32, if_match: &'static str| {
        let (path, partner, body) = (path.to_owned(), partner.clone(), note(n));
        let stack = &stack;
        async move {
            stack
                .send(
                    Method::PATCH,
                    &path,
                    Some(&partner),
                    Some(&body),
                    &[("if-match", if_match)],
                )
                .await
        }
    };
    let before = dump_tables(&stack).await;
    // A weak tag never matches, even of the current version.
    let reply = patch(&path, 1, "W/\"1\"").await;
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED, "{}", reply.body);
    for bad in ["1", "\"one\"", "\"1", "\"99999999999999999999\""] {
        let reply = patch(&path, 1, bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", reply.body);
    }
    // A header that is not UTF-8 (obs-text) is the caller's error, not the server's.
    let reply = stack
        .http
        .patch(format!("{}{path}", stack.running.base_url()))
        .bearer_auth(&partner)
        .header("if-match", reqwest::header::HeaderValue::from_bytes(&[0x84]).unwrap())
        .json(&note(1))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let problem: Value = reply.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "header:if-match", "{problem}");
    assert_eq!(dump_tables(&stack).await, before, "nothing written");
    // `*`: the request exists, so it matches.
    let reply = patch(&path, 2, "*").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    // The strong tag of the current version matches; a list with it too.
    let reply = patch(&path, 3, "\"7\", \"2\"").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // An empty If-Match is a list of no tags: as if absent (the OpenAPI pattern says so too).
    let reply = patch(&path, 4, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("etag"), Some("\"4\""));
    // `*` on a request that does not exist: 404 (nothing to match), not a create.
    let missing = "/service-requests/01JDZQ5N9Y3V4R7XKCQ2T6M8PB";
    let reply = patch(missing, 4, "*").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
