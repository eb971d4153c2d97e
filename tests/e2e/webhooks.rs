//! Webhooks (issue #27): a partner's integration administrator manages its endpoints, and the
//! local run delivers the partner's chain to them — checked by a receiver whose verification
//! we did not write (`standardwebhooks` from PyPI, tests/e2e/webhook_receiver.py): every
//! delivery verifies, in seq order, with no gap, a repeat only under the same `webhook-id`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use local::token::TokenRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::*;

/// The Python that has `standardwebhooks` (.ci/run installs it in the project's virtualenv).
fn python() -> String {
    let candidates = [
        std::env::var("LEDGERDESK_VENV").ok().map(|v| format!("{v}/bin/python")),
        std::env::var("HOME")
            .ok()
            .map(|h| format!("{h}/.cache/ledgerdesk-venv/bin/python")),
        Some("python3".to_owned()),
    ];
    for candidate in candidates.into_iter().flatten() {
        let ok = Command::new(&candidate)
            .args(["-c", "import standardwebhooks"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return candidate;
        }
    }
    panic!(
        "the webhook tests verify deliveries with the standardwebhooks package from PyPI: run .ci/run once (it installs .ci/requirements.txt into ~/.cache/ledgerdesk-venv), or set LEDGERDESK_VENV to a virtualenv that has it"
    );
}

/// The receiver, running: its port, and the process (killed on drop).
struct Receiver {
    port: u16,
    child: Child,
    http: reqwest::Client,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start() -> Self {
        Self::start_on(0)
    }

    /// On `port` (0: any free one).
    fn start_on(port: u16) -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/webhook_receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the receiver's port");
        Self {
            port: line.trim().parse().expect("a port"),
            child,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    async fn control(&self, change: Value) {
        let reply = self
            .http
            .post(format!("http://127.0.0.1:{}/control", self.port))
            .body(change.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 204);
    }

    async fn deliveries(&self) -> Vec<Value> {
        let reply: Value = self
            .http
            .get(format!("http://127.0.0.1:{}/control", self.port))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["deliveries"].as_array().cloned().unwrap_or_default()
    }

    /// The deliveries once `done` holds of them (within `limit`), or the test fails.
    async fn wait_for(&self, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let deliveries = self.deliveries().await;
            if done(&deliveries) {
                return deliveries;
            }
            assert!(started.elapsed() < limit, "not delivered in {limit:?}: {deliveries:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The accepted deliveries (2xx), in arrival order.
fn accepted(deliveries: &[Value]) -> Vec<&Value> {
    deliveries
        .iter()
        .filter(|d| d["status"].as_u64().is_some_and(|s| (200..300).contains(&s)))
        .collect()
}

/// The endpoint once `done` holds of it (the deliverer writes its cursor just after the
/// receiver has answered, so a test reads it until then), or the test fails after 5 s.
async fn endpoint_when(stack: &Stack, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let shown = stack.get(&format!("/webhook-endpoints/{id}"), token).await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
        if done(&shown.body) {
            return shown.body;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{}", shown.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn register(stack: &Stack, token: &str, body: Value) -> Value {
    let reply = stack.post("/webhook-endpoints", token, &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn note(stack: &Stack, partner: &str, id: &str, message: &str) {
    let reply = stack
        .patch(
            &format!("/service-requests/{id}"),
            partner,
            &json!({ "action": "note", "message": message }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_their_partners_alone_and_bad_input_writes_nothing() {
    let stack = Stack::start().await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let other = stack.token(TokenRole::Integrator, Some("fabrikam"), "integrations@fabrikam");
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();

    let created = register(
        &stack,
        &integrator,
        json!({ "url": "http://127.0.0.1:9/hook", "kinds": ["created", "sla_breached"] }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ep_"), "{created}");
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["kinds"], json!(["created", "sla_breached"]));
    assert_eq!(created["secretsInForce"], 1);
    let path = format!("/webhook-endpoints/{id}");

    // The secret is shown once: never again, and never stored in clear.
    let got = stack.get(&path, &integrator).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert!(got.body.get("secret").is_none(), "{}", got.body);
    let listed = stack.get("/webhook-endpoints", &integrator).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "{}", listed.body);
    assert!(!listed.body.to_string().contains("whsec_"));
    let tables = dump_tables(&stack).await;
    let encoded = secret.trim_start_matches("whsec_");
    assert!(!tables.contains(encoded), "the secret is stored sealed");

    let before = dump_tables(&stack).await;
    // Another partner's endpoint is as unknown as none; a partner agent's token lacks the
    // scope; vendor staff have no endpoints.
    for (token, status) in [
        (&other, StatusCode::NOT_FOUND),
        (&partner, StatusCode::FORBIDDEN),
        (&support, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(stack.get(&path, token).await.status, status);
        let patched = stack.patch(&path, token, &json!({ "enabled": false })).await;
        assert_eq!(patched.status, status, "{}", patched.body);
        let deleted = stack.send(Method::DELETE, &path, Some(token), None, &[]).await;
        assert_eq!(deleted.status, status);
        let rotated = stack.post(&format!("{path}/rotate-secret"), token, &json!({})).await;
        assert_eq!(rotated.status, status);
        let replayed = stack
            .post(&format!("{path}/replay"), token, &json!({ "fromSeq": 0 }))
            .await;
        assert_eq!(replayed.status, status);
        let log = stack.get(&format!("{path}/deliveries"), token).await;
        assert_eq!(log.status, status);
    }
    // Managing endpoints alone is not a way round reading: pointing one somewhere, or having
    // the chain sent again, also needs requests/read and ledger/read.
    let manager_only = stack.token_with(json!({
        "sub": "integrations@contoso", "aud": local::token::AUDIENCE,
        "partner_id": "contoso", "scope": "webhooks/manage"
    }));
    for (method, target, body) in [
        (
            Method::POST,
            "/webhook-endpoints".to_owned(),
            json!({ "url": "http://127.0.0.1:9/x" }),
        ),
        (Method::PATCH, path.clone(), json!({ "url": "http://127.0.0.1:9/y" })),
        (Method::POST, format!("{path}/replay"), json!({ "fromSeq": 0 })),
    ] {
        let reply = stack.send(method, &target, Some(&manager_only), Some(&body), &[]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{target}: {}", reply.body);
        assert!(
            reply.body["detail"].as_str().unwrap().contains("requests/read"),
            "{}",
            reply.body
        );
    }
    // What sends nothing new it may still do.
    assert_eq!(stack.get(&path, &manager_only).await.status, StatusCode::OK);
    assert_eq!(stack.get("/webhook-endpoints", &other).await.body["items"], json!([]));
    // Bad input: a 422 naming the field, and nothing written.
    for (body, field) in [
        (json!({}), "$.url"),
        (json!({ "url": "http://example.com/hook" }), "$.url"),
        (json!({ "url": "https://10.0.0.1/hook" }), "$.url"),
        (json!({ "url": "https://169.254.169.254/latest/meta-data/" }), "$.url"),
        (json!({ "url": "https://[::1]/hook" }), "$.url"),
        (json!({ "url": "https://localhost/hook" }), "$.url"),
        (json!({ "url": "http://127.0.0.2:8080/hook" }), "$.url"),
        (json!({ "url": "https://user:pw@example.com/hook" }), "$.url"),
        (json!({ "url": "not a url" }), "$.url"),
        (
            json!({ "url": "http://127.0.0.1:9/", "kinds": ["made_up"] }),
            "$.kinds[0]",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/", "kinds": ["created", "created"] }),
            "$.kinds[1]",
        ),
    ] {
        let reply = stack.post("/webhook-endpoints", &integrator, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.body);
        assert_eq!(reply.error_fields(), [field], "{body}: {}", reply.body);
        let patched = stack.patch(&path, &integrator, &body).await;
        assert_eq!(
            patched.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            patched.body
        );
    }
    let unknown = stack
        .post(
            "/webhook-endpoints",
            &integrator,
            &json!({ "url": "http://127.0.0.1:9/", "secret": "mine" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    let rotation = stack
        .post(
            &format!("{path}/rotate-secret"),
            &integrator,
            &json!({ "overlapSeconds": 604801 }),
        )
        .await;
    assert_eq!(rotation.error_fields(), ["$.overlapSeconds"], "{}", rotation.body);
    let nothing = stack.patch(&path, &integrator, &json!({})).await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nothing.body);
    let malformed = stack.get("/webhook-endpoints/ep_nope", &integrator).await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
    assert_eq!(dump_tables(&stack).await, before, "no refusal wrote anything");

    // The owner changes, rotates and deletes it.
    let changed = stack
        .patch(&path, &integrator, &json!({ "enabled": false, "kinds": [] }))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["state"], "disabled_by_partner");
    assert_eq!(changed.body["kinds"], json!([]));
    let rotated = stack
        .post(
            &format!("{path}/rotate-secret"),
            &integrator,
            &json!({ "overlapSeconds": 3600 }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_ne!(rotated.body["secret"], secret);
    assert_eq!(rotated.body["secretsInForce"], 2);
    assert!(rotated.body["previousSecretExpiresAt"].is_string(), "{}", rotated.body);
    let deleted = stack.send(Method::DELETE, &path, Some(&integrator), None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(stack.get(&path, &integrator).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        stack.get("/webhook-endpoints", &integrator).await.body["items"],
        json!([])
    );
    let again = stack.send(Method::DELETE, &path, Some(&integrator), None, &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_arrives_in_order_without_gaps_and_verifies_with_the_stock_library() {
    let stack = Stack::start_delivering(RELATIONSHIPS, Duration::from_millis(100)).await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let partner = stack.partner_token("contoso");
    let receiver = Receiver::start();
    // One entry before the endpoint exists: not sent (it hears from its creation on).
    let first = stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned();
    let endpoint = register(&stack, &integrator, json!({ "url": receiver.url() })).await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let public_key = endpoint["publicKey"].as_str().unwrap().to_owned();
    assert!(public_key.starts_with("whpk_"), "{endpoint}");
    // The chain holds the vendor's relationship entries and the first request's creation.
    let start = endpoint["nextSeq"].as_u64().unwrap();
    let entries_before = stack.get_text("/ledger/entries", &partner).await.lines().count() as u64;
    assert_eq!(start, entries_before, "{endpoint}");
    receiver
        .control(json!({
            "secrets": [secret],
            "public_key": public_key,
            "openapi": serde_json::from_str::<Value>(api::OPENAPI).unwrap(),
        }))
        .await;
    // Another partner's changes never reach it.
    let fabrikam = stack.partner_token("fabrikam");
    stack.create(&fabrikam, &body()).await;

    let started = Instant::now();
    let created = stack.create(&partner, &body()).await;
    let second = created["id"].as_str().unwrap().to_owned();
    let deliveries = receiver.wait_for(Duration::from_secs(5), |d| !d.is_empty()).await;
    let latency = started.elapsed();
    assert_eq!(deliveries[0]["seq"], start);
    eprintln!("first delivery {latency:?} after the write");

    // The receiver fails the next two attempts (500, then 503): the entries wait, in order,
    // on the specification's schedule (5 s, then 5 min: the test moves the service's clock
    // instead of waiting), and arrive.
    receiver.control(json!({ "answers": [500, 503] })).await;
    note(&stack, &partner, &first, "one").await;
    note(&stack, &partner, &second, "two").await;
    note(&stack, &partner, &first, "three").await;
    receiver.wait_for(Duration::from_secs(5), |d| d.len() == 2).await;
    stack.delivery_round("contoso").await;
    assert_eq!(receiver.deliveries().await.len(), 2, "no retry before its time");
    stack.travel(chrono::Duration::seconds(6));
    receiver.wait_for(Duration::from_secs(5), |d| d.len() == 3).await;
    // The receiver has the third attempt; the deliverer may not yet have recorded its failure
    // (and the time of the next). Moving the clock before it has would put that time 5 min
    // past the moved clock: wait for a whole round first, as above.
    stack.delivery_round("contoso").await;
    assert_eq!(receiver.deliveries().await.len(), 3, "no retry before its time");
    stack.travel(chrono::Duration::minutes(6));
    let deliveries = receiver
        .wait_for(Duration::from_secs(5), |d| accepted(d).len() == 4)
        .await;

    let entries: Vec<Value> = stack
        .get_text("/ledger/entries", &partner)
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len() as u64, start + 4);
    // Every delivery verified with the one secret; the accepted ones are the chain from the
    // endpoint's start, in order, each once; a repeat only under the same id.
    for delivery in &deliveries {
        // The body is what the OpenAPI document's webhooks.ledgerEntry declares.
        assert_eq!(delivery["schema_errors"], json!([]), "{delivery}");
        assert_eq!(delivery["verified"], json!([0]), "{delivery}");
        assert_eq!(delivery["v1a"], true, "the Ed25519 signature verifies too: {delivery}");
        let seq = delivery["seq"].as_u64().unwrap();
        assert_eq!(delivery["id"], format!("msg_contoso_{seq}"));
        assert_eq!(delivery["chain"], "contoso");
        // The entry exactly as the ledger holds it, with its hash.
        let entry = &entries[seq as usize];
        assert_eq!(&delivery["entry"], entry);
        assert_eq!(delivery["hash"], entry["hash"]);
        assert_eq!(delivery["type"], format!("ledger.{}", entry["kind"].as_str().unwrap()));
    }
    let seqs: Vec<u64> = accepted(&deliveries)
        .iter()
        .map(|d| d["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [start, start + 1, start + 2, start + 3]);
    let statuses: Vec<u64> = deliveries.iter().map(|d| d["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [204, 500, 503, 204, 204, 204], "{deliveries:#?}");
    for retried in &deliveries[1..4] {
        assert_eq!(retried["seq"], start + 1, "{deliveries:#?}");
    }

    // Each carries the request it is about as the partner read it at the delivery: at least
    // the version the entry made, personal values joined; the last one is the request as it
    // reads now (nothing changed it since).
    for delivery in accepted(&deliveries) {
        let data = &delivery["entry"]["data"];
        assert_eq!(delivery["request"]["id"], data["requestId"], "{delivery}");
        assert!(
            delivery["request"]["version"].as_u64() >= data["version"].as_u64(),
            "{delivery}"
        );
        assert_eq!(delivery["request"]["contact"]["email"], "erika@partner.example");
    }
    // Each carries the receipt its write answered with, kept with the entry: the partner keeps
    // them as it keeps a write's, and `ledger sync` finds every promise honoured.
    assert_eq!(accepted(&deliveries)[0]["receipt"], created["receipt"]);
    let dir = tempfile::tempdir().unwrap();
    for delivery in accepted(&deliveries) {
        let receipt = &delivery["receipt"];
        assert_eq!(
            (&receipt["seq"], &receipt["entryHash"], &receipt["at"]),
            (&delivery["seq"], &delivery["hash"], &delivery["entry"]["at"]),
            "{delivery}"
        );
        keep_receipt(dir.path(), delivery);
    }
    let report = crate::evidence::sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty(), "{report:?}");
    let (exit, synced) = sync(
        &stack,
        &partner,
        dir.path(),
        "contoso",
        Some(stack.running.now().datetime()),
    )
    .await;
    assert_eq!(exit, ledger_cli::commands::Exit::Ok, "{synced}");
    assert_eq!(synced["receipts"]["kept"], 4, "{synced}");
    let last = accepted(&deliveries)[3];
    let read = stack.get(&format!("/service-requests/{first}"), &partner).await;
    assert_eq!(last["request"], read.body, "{last}");

    // The endpoint shows where it stands, and its delivery log every attempt, newest first.
    let id = endpoint["id"].as_str().unwrap();
    let shown = endpoint_when(&stack, &integrator, id, |e| e["nextSeq"] == start + 4).await;
    assert_eq!(shown["attempts"], 0);
    assert_eq!(shown["lastStatus"], 204);
    let log = stack
        .get(&format!("/webhook-endpoints/{id}/deliveries"), &integrator)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let statuses: Vec<u64> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [204, 204, 204, 503, 500, 204], "{}", log.body);
    let failed = stack
        .get(
            &format!("/webhook-endpoints/{id}/deliveries?outcome=failed&limit=1"),
            &integrator,
        )
        .await;
    let items = failed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", failed.body);
    assert_eq!(items[0]["status"], 503);
    assert_eq!(items[0]["webhookId"], format!("msg_contoso_{}", start + 1));
    assert!(items[0]["nextAttemptAt"].is_string(), "{}", failed.body);
    let cursor = failed.body["nextCursor"].as_str().unwrap();
    let older = stack
        .get(
            &format!(
                "/webhook-endpoints/{id}/deliveries?outcome=failed&cursor={}",
                encode(cursor)
            ),
            &integrator,
        )
        .await;
    assert_eq!(older.body["items"][0]["status"], 500, "{}", older.body);
    assert_eq!(older.body["items"].as_array().unwrap().len(), 1);
    for bad in ["outcome=lost", "limit=0", "limit=101"] {
        let reply = stack
            .get(&format!("/webhook-endpoints/{id}/deliveries?{bad}"), &integrator)
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", reply.body);
    }
    let forged = stack
        .get(&format!("/webhook-endpoints/{id}/deliveries?cursor=x"), &integrator)
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    // Another partner sees no log of it.
    let other = stack.token(TokenRole::Integrator, Some("fabrikam"), "integrations@fabrikam");
    let theirs = stack.get(&format!("/webhook-endpoints/{id}/deliveries"), &other).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    // A replay from the endpoint's start sends the same entries again, in order, under the
    // same ids; beyond the chain it is refused and changes nothing.
    let size = start + 4;
    let beyond = stack
        .post(
            &format!("/webhook-endpoints/{id}/replay"),
            &integrator,
            &json!({ "fromSeq": size + 1 }),
        )
        .await;
    assert_eq!(beyond.error_fields(), ["$.fromSeq"], "{}", beyond.body);
    let replayed = stack
        .post(
            &format!("/webhook-endpoints/{id}/replay"),
            &integrator,
            &json!({ "fromSeq": start }),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    assert_eq!(replayed.body["nextSeq"], start);
    let again = receiver
        .wait_for(Duration::from_secs(5), |d| accepted(d).len() == 8)
        .await;
    let first_time: Vec<&Value> = accepted(&again)[..4].to_vec();
    let second_time: Vec<&Value> = accepted(&again)[4..].to_vec();
    for (a, b) in first_time.iter().zip(&second_time) {
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["entry"], b["entry"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_signs_with_both_secrets_and_410_disables_the_endpoint() {
    let stack = Stack::start_delivering(RELATIONSHIPS, Duration::from_millis(100)).await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let partner = stack.partner_token("contoso");
    let receiver = Receiver::start();
    let endpoint = register(
        &stack,
        &integrator,
        json!({ "url": receiver.url(), "kinds": ["note_added"] }),
    )
    .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let start = endpoint["nextSeq"].as_u64().unwrap();
    let old = endpoint["secret"].as_str().unwrap().to_owned();

    // Only the kinds it wants: the creation is skipped, the notes are sent; before the
    // rotation, with the one secret.
    let request = stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned();
    note(&stack, &partner, &request, "before").await;
    receiver.control(json!({ "secrets": [old] })).await;
    let deliveries = receiver.wait_for(Duration::from_secs(5), |d| d.len() == 1).await;
    assert_eq!(deliveries[0]["type"], "ledger.note_added");
    assert_eq!(deliveries[0]["seq"], start + 1, "the creation (at {start}) is not sent");
    assert_eq!(deliveries[0]["verified"], json!([0]), "{deliveries:#?}");

    // Rotated mid-stream with a minute's overlap: a delivery verifies with either secret on
    // its own; after the overlap, with the new one only.
    let rotated = stack
        .post(
            &format!("/webhook-endpoints/{id}/rotate-secret"),
            &integrator,
            &json!({ "overlapSeconds": 60 }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["secretsInForce"], 2);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    receiver.control(json!({ "secrets": [old, new] })).await;
    // (A round that read the endpoint before the rotation may send an entry once more under
    // the old secrets only, and again — same id — after: what counts is the entry's delivery
    // signed as the rotation says.)
    let signed_with =
        |seq: u64, secrets: Value| move |d: &[Value]| d.iter().any(|x| x["seq"] == seq && x["verified"] == secrets);
    note(&stack, &partner, &request, "during").await;
    receiver
        .wait_for(Duration::from_secs(5), signed_with(start + 2, json!([0, 1])))
        .await;
    // A second rotation within the overlap: never more than two secrets sign.
    let again = stack
        .post(
            &format!("/webhook-endpoints/{id}/rotate-secret"),
            &integrator,
            &json!({ "overlapSeconds": 60 }),
        )
        .await;
    assert_eq!(again.body["secretsInForce"], 2, "{}", again.body);
    let newest = again.body["secret"].as_str().unwrap().to_owned();
    receiver.control(json!({ "secrets": [old, new, newest] })).await;
    note(&stack, &partner, &request, "twice").await;
    // The first secret is gone.
    receiver
        .wait_for(Duration::from_secs(5), signed_with(start + 3, json!([1, 2])))
        .await;
    stack.travel(chrono::Duration::seconds(61));
    note(&stack, &partner, &request, "after").await;
    let deliveries = receiver
        .wait_for(Duration::from_secs(5), signed_with(start + 4, json!([2])))
        .await;
    // Every delivery verified with a secret in force, and the last with the newest alone.
    assert!(deliveries.iter().all(|d| d["verified"] != json!([])), "{deliveries:#?}");
    let last = deliveries.iter().rev().find(|d| d["seq"] == start + 4).unwrap();
    assert_eq!(last["verified"], json!([2]), "{deliveries:#?}");
    let shown = stack.get(&format!("/webhook-endpoints/{id}"), &integrator).await;
    assert_eq!(shown.body["secretsInForce"], 1, "{}", shown.body);

    // The receiver says 410: the endpoint is disabled, and nothing more is sent.
    receiver.control(json!({ "answers": [410] })).await;
    note(&stack, &partner, &request, "second").await;
    receiver.wait_for(Duration::from_secs(5), |d| d.len() == 5).await;
    let shown = endpoint_when(&stack, &integrator, &id, |e| e["state"] != "enabled").await;
    assert_eq!(shown["state"], "gone", "{shown}");
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["lastStatus"], 410);
    note(&stack, &partner, &request, "third").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.deliveries().await.len(), 5, "a gone endpoint is sent nothing");

    // Enabled again, it resumes where it stood: the refused entry first, then the next.
    let enabled = stack
        .patch(
            &format!("/webhook-endpoints/{id}"),
            &integrator,
            &json!({ "enabled": true }),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    let deliveries = receiver.wait_for(Duration::from_secs(5), |d| d.len() == 7).await;
    let seqs: Vec<u64> = deliveries.iter().map(|d| d["seq"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = [1, 2, 3, 4, 5, 5, 6].iter().map(|n| start + n).collect();
    assert_eq!(seqs, expected);
    assert_eq!(deliveries[5]["id"], deliveries[4]["id"], "a repeat carries the same id");
}

/// The `deliver-webhooks` Lambda's invocations, as AWS makes them: a batch of the ledger
/// table's stream (keys only) wakes a round for each partner named; the schedule, one for every
/// partner with an enabled endpoint (the retries that came due).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_delivers_on_a_stream_batch_and_on_the_schedule() {
    let stack = Stack::start().await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let partner = stack.partner_token("contoso");
    let receiver = Receiver::start();
    let endpoint = register(&stack, &integrator, json!({ "url": receiver.url() })).await;
    receiver
        .control(json!({ "secrets": [endpoint["secret"]], "answers": [500] }))
        .await;
    let start = endpoint["nextSeq"].as_u64().unwrap();
    stack.create(&partner, &body()).await;
    let client = store::webhook_http::WebhookClient::new(webhooks::Mode::Local).unwrap();
    let app = &stack.running.state.app;
    // Nothing is sent until the function is invoked (this stack has no deliverer of its own).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.deliveries().await.is_empty());

    let batch = json!({ "Records": [
        { "eventName": "INSERT", "eventSource": "aws:dynamodb",
          "dynamodb": { "Keys": { "chain": { "S": "contoso" }, "seq": { "N": start.to_string() } },
                        "SequenceNumber": "4900000000000000000001", "StreamViewType": "KEYS_ONLY" } },
        { "eventName": "INSERT", "eventSource": "aws:dynamodb",
          "dynamodb": { "Keys": { "chain": { "S": "fabrikam" }, "seq": { "N": "0" } },
                        "SequenceNumber": "4900000000000000000002", "StreamViewType": "KEYS_ONLY" } }
    ] });
    let answer = api::deliver::on_event(app, &client, &batch).await;
    // The receiver's 500 is the endpoint's to retry, not the batch's.
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    let deliveries = receiver.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["status"], 500);

    // The schedule, once the retry is due, sends it again.
    let scheduled = json!({ "version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
                            "time": "2026-12-07T10:00:00Z", "detail": {} });
    let early = api::deliver::on_event(app, &client, &scheduled).await;
    assert_eq!(early["delivered"], 0, "not before its time: {early}");
    stack.travel(chrono::Duration::seconds(6));
    let due = api::deliver::on_event(app, &client, &scheduled).await;
    assert_eq!(due["delivered"], 1, "{due}");
    let deliveries = receiver.deliveries().await;
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[1]["status"], 204);
    assert_eq!(deliveries[1]["id"], deliveries[0]["id"]);
}

/// The receiver is down (connections refused), then slow (no answer within the timeout): the
/// entries wait, in order, and arrive once it answers again; the log says why each failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_or_slow_gets_the_backlog_in_order_when_it_answers() {
    let stack = Stack::start_delivering(RELATIONSHIPS, Duration::from_millis(100)).await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let partner = stack.partner_token("contoso");
    let receiver = Receiver::start();
    let port = receiver.port;
    let endpoint = register(&stack, &integrator, json!({ "url": receiver.url() })).await;
    let secret = endpoint["secret"].clone();
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let start = endpoint["nextSeq"].as_u64().unwrap();
    drop(receiver);

    // Down: three entries written; the first attempt finds no one.
    let request = stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned();
    note(&stack, &partner, &request, "one").await;
    note(&stack, &partner, &request, "two").await;
    let log_path = format!("/webhook-endpoints/{id}/deliveries");
    let started = Instant::now();
    let refused = loop {
        let log = stack.get(&log_path, &integrator).await;
        if let Some(first) = log.body["items"].as_array().and_then(|a| a.first()).cloned() {
            break first;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused["seq"], start);
    assert_eq!(refused["status"], Value::Null);
    assert_eq!(refused["outcome"], "failed");
    assert!(refused["error"].is_string(), "{refused}");

    // Back, but slow: the retry times out (this stack waits 1 s), and is retried again.
    let receiver = Receiver::start_on(port);
    receiver.control(json!({ "secrets": [secret], "delay": 2.0 })).await;
    stack.travel(chrono::Duration::seconds(6));
    receiver.wait_for(Duration::from_secs(10), |d| d.len() == 1).await;
    // The log is written before the cursor: once the second failure is counted, it is there.
    endpoint_when(&stack, &integrator, &id, |e| e["attempts"] == 2).await;
    let log = stack.get(&format!("{log_path}?limit=1"), &integrator).await;
    assert_eq!(log.body["items"][0]["error"], "timed out", "{}", log.body);
    assert_eq!(log.body["items"][0]["outcome"], "failed");

    // Answering in time again: the backlog arrives in order, the timed-out entry first (again,
    // under its id).
    receiver.control(json!({ "delay": 0 })).await;
    stack.travel(chrono::Duration::minutes(6));
    let deliveries = receiver.wait_for(Duration::from_secs(10), |d| d.len() == 4).await;
    let seqs: Vec<u64> = deliveries.iter().map(|d| d["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [start, start, start + 1, start + 2], "{deliveries:#?}");
    assert!(deliveries.iter().all(|d| d["verified"] == json!([0])));
    endpoint_when(&stack, &integrator, &id, |e| e["nextSeq"] == start + 3).await;
}

/// A partner's relationship with a customer ends: the entries of that customer's requests still
/// reach the partner's endpoint (its ledger holds them), but never the request itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_relationship_ends_its_requests_are_not_sent() {
    let stack = Stack::start_delivering(RELATIONSHIPS, Duration::from_millis(100)).await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let partner = stack.partner_token("contoso");
    let support = stack.support_token();
    let admin = stack.token(TokenRole::Admin, None, "onboarding@vendor");
    let receiver = Receiver::start();
    let endpoint = register(&stack, &integrator, json!({ "url": receiver.url() })).await;
    receiver.control(json!({ "secrets": [endpoint["secret"]] })).await;
    let created = stack
        .post(
            &format!("/customers/{OTHER_CUSTOMER}/service-requests"),
            &partner,
            &body(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let deliveries = receiver.wait_for(Duration::from_secs(5), |d| d.len() == 1).await;
    assert_eq!(
        deliveries[0]["request"]["id"],
        id.as_str(),
        "while it lasts: {deliveries:#?}"
    );

    let ended = stack
        .send(
            Method::PUT,
            &format!("/relationships/contoso/{OTHER_CUSTOMER}"),
            Some(&admin),
            Some(&json!({ "status": "terminated" })),
            &[],
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    // The vendor's support still answers the request.
    let answered = stack
        .patch(
            &format!("/service-requests/{id}"),
            &support,
            &json!({ "action": "respond", "message": "Resolved on our side." }),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    let deliveries = receiver.wait_for(Duration::from_secs(5), |d| d.len() == 3).await;
    assert_eq!(deliveries[1]["type"], "ledger.relationship_changed");
    assert_eq!(deliveries[1]["request"], Value::Null);
    assert_eq!(deliveries[2]["type"], "ledger.first_response");
    assert_eq!(deliveries[2]["request"], Value::Null, "{deliveries:#?}");
    // Its entry, as the partner's ledger holds it, still comes.
    assert_eq!(deliveries[2]["entry"]["data"]["requestId"], id.as_str());
}

/// An operator with write access to the webhooks table re-points an endpoint at a receiver of
/// its own: the secrets were sealed for the partner's URL, so nothing is signed or sent to the
/// new one (the endpoint stalls, and the stack alarms); put back, it goes on where it stood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_re_pointed_in_the_table_sends_nothing() {
    let stack = Stack::start_delivering(RELATIONSHIPS, Duration::from_millis(100)).await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let partner = stack.partner_token("contoso");
    let receiver = Receiver::start();
    let attacker = Receiver::start();
    let endpoint = register(&stack, &integrator, json!({ "url": receiver.url() })).await;
    receiver.control(json!({ "secrets": [endpoint["secret"]] })).await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let start = endpoint["nextSeq"].as_u64().unwrap();
    let dynamodb = stack.dynamodb().await;
    let table = store::TableNames::with_prefix(local::TABLE_PREFIX).webhooks;
    let set_url = |url: String| {
        let dynamodb = dynamodb.clone();
        let table = table.clone();
        let id = id.clone();
        async move {
            dynamodb
                .update_item()
                .table_name(table)
                .key("partner", aws_sdk_dynamodb::types::AttributeValue::S("contoso".into()))
                .key("endpoint", aws_sdk_dynamodb::types::AttributeValue::S(id))
                .update_expression("SET #u = :u")
                .expression_attribute_names("#u", "url")
                .expression_attribute_values(":u", aws_sdk_dynamodb::types::AttributeValue::S(url))
                .send()
                .await
                .expect("the operator's write");
        }
    };
    set_url(attacker.url()).await;
    stack.create(&partner, &body()).await;
    stack.delivery_round("contoso").await;
    assert!(
        attacker.deliveries().await.is_empty(),
        "nothing reaches the operator's receiver"
    );
    assert!(receiver.deliveries().await.is_empty());

    set_url(receiver.url()).await;
    let deliveries = receiver.wait_for(Duration::from_secs(5), |d| d.len() == 1).await;
    assert_eq!(deliveries[0]["seq"], start);
    assert!(attacker.deliveries().await.is_empty());
}

/// A delivering stack with contoso's endpoint registered at a receiver that checks its
/// secret.
struct Hooked {
    stack: Stack,
    integrator: String,
    partner: String,
    receiver: Receiver,
    endpoint: Value,
}

async fn hooked() -> Hooked {
    let stack = Stack::start_delivering(RELATIONSHIPS, Duration::from_millis(100)).await;
    let integrator = stack.token(TokenRole::Integrator, Some("contoso"), "integrations@contoso");
    let partner = stack.partner_token("contoso");
    let receiver = Receiver::start();
    let endpoint = register(&stack, &integrator, json!({ "url": receiver.url() })).await;
    receiver.control(json!({ "secrets": [endpoint["secret"]] })).await;
    Hooked {
        stack,
        integrator,
        partner,
        receiver,
        endpoint,
    }
}

/// An operator with table access cannot give an entry a receipt: one moved from another
/// entry, or one taken away, never reaches the receiver (the endpoint waits at the entry,
/// alarmed); with the receipt put back, delivery goes on.
#[tokio::test]
async fn a_receipt_moved_between_entries_in_the_table_is_never_sent() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let Hooked {
        stack,
        integrator,
        partner,
        receiver,
        endpoint,
    } = hooked().await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let start = endpoint["nextSeq"].as_u64().unwrap();
    let first = stack.create(&partner, &body()).await;
    let second = stack.create(&partner, &body()).await;
    let delivered = receiver.wait_for(Duration::from_secs(5), |d| d.len() == 2).await;
    assert_eq!(delivered[0]["receipt"], first["receipt"]);
    assert_eq!(delivered[1]["receipt"], second["receipt"]);

    // The operator gives the first entry the second one's receipt, then asks for a replay.
    let dynamodb = stack.dynamodb().await;
    let ledger = store::TableNames::with_prefix(local::TABLE_PREFIX).ledger;
    let key = |seq: u64| {
        [
            ("chain".to_owned(), AttributeValue::S("contoso".into())),
            ("seq".to_owned(), AttributeValue::N(seq.to_string())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    let item = |seq: u64| {
        let dynamodb = dynamodb.clone();
        let ledger = ledger.clone();
        async move {
            dynamodb
                .get_item()
                .table_name(ledger)
                .set_key(Some(key(seq)))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let moved = item(start + 1).await["receipt"].clone();
    dynamodb
        .update_item()
        .table_name(&ledger)
        .set_key(Some(key(start)))
        .update_expression("SET receipt = :r")
        .expression_attribute_values(":r", moved)
        .send()
        .await
        .unwrap();
    let replay = |from: u64| {
        let (stack, integrator, id) = (&stack, &integrator, &id);
        async move {
            let replayed = stack
                .post(
                    &format!("/webhook-endpoints/{id}/replay"),
                    integrator,
                    &json!({ "fromSeq": from }),
                )
                .await;
            assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
        }
    };
    replay(start).await;
    stack.delivery_round("contoso").await;
    assert_eq!(receiver.deliveries().await.len(), 2, "nothing more is sent");
    // Nor does the signer checkpoint an entry whose kept receipt is another's.
    crate::evidence::refused_sweep(&stack, "not the receipt key's").await;
    let waiting = endpoint_when(&stack, &integrator, &id, |e| e["nextSeq"] == start).await;
    assert_eq!(waiting["nextSeq"], start, "the endpoint waits at the entry: {waiting}");

    // The receipt taken away instead: still nothing is sent.
    dynamodb
        .update_item()
        .table_name(&ledger)
        .set_key(Some(key(start)))
        .update_expression("REMOVE receipt")
        .send()
        .await
        .unwrap();
    stack.delivery_round("contoso").await;
    assert_eq!(
        receiver.deliveries().await.len(),
        2,
        "nothing is sent without its receipt"
    );

    // The writer's receipt put back: the entry and the next arrive again, each with its own.
    dynamodb
        .update_item()
        .table_name(&ledger)
        .set_key(Some(key(start)))
        .update_expression("SET receipt = :r")
        .expression_attribute_values(
            ":r",
            AttributeValue::S(first["receipt"]["note"].as_str().unwrap().into()),
        )
        .send()
        .await
        .unwrap();
    let deliveries = receiver.wait_for(Duration::from_secs(5), |d| d.len() == 4).await;
    assert_eq!(deliveries[2]["seq"], start);
    assert_eq!(deliveries[2]["id"], delivered[0]["id"], "the same entry, the same id");
    assert_eq!(deliveries[2]["receipt"], first["receipt"]);
    assert_eq!(deliveries[3]["receipt"], second["receipt"]);
}

/// An entry the operator puts at the tail of a chain — a disclosure (once sent without a
/// receipt), or one backdated to pass for an older entry — is not sent: it has no kept
/// receipt, and a backdated one does not follow the entry before it in time.
#[tokio::test]
async fn a_forged_tail_entry_is_never_sent() {
    use crate::evidence::{chain_lines, head_of, put_entry, set_head};
    let Hooked {
        stack,
        partner,
        receiver,
        ..
    } = hooked().await;
    let created = stack.create(&partner, &body()).await;
    receiver.wait_for(Duration::from_secs(5), |d| d.len() == 1).await;
    let lines = chain_lines(&stack, "contoso").await;
    let head = head_of("contoso", &lines);
    let last_at = ledger::EntryRef::parse(lines.last().unwrap().as_bytes())
        .unwrap()
        .at
        .to_owned();
    for (kind, at) in [
        ("personal_data_disclosed", last_at.clone()),
        ("created", "2020-01-01T00:00:00.000Z".to_owned()),
    ] {
        let data = json!({ "requestId": created["id"], "caseReference": "FORGED-1", "valuesDisclosed": 3 });
        let (line, next) = crate::operator::forge(&head, &at, kind, &data);
        put_entry(&stack, &line).await;
        set_head(&stack, &next).await;
        stack.delivery_round("contoso").await;
        assert_eq!(receiver.deliveries().await.len(), 1, "{kind} at {at}: nothing is sent");
    }
}
