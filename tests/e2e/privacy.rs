//! Erasure on a data subject's request (GDPR Art. 17), end to end: the values go from every
//! table, the data directory and the API; the ledger, the checkpoints kept before and the
//! receipts still verify; nothing personal ever reached a log line.

use ledger_cli::commands::{Exit, VerifyArgs};
use local::token::TokenRole;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::*;

/// A contact nobody else uses, so every hit in a scan is this test's.
struct Subject {
    name: String,
    email: String,
    title: String,
}

impl Subject {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let seed = format!("{nanos}/{}", std::process::id());
        let tag = ledger::Hash::digest(seed.as_bytes()).to_hex();
        Self {
            name: format!("Ottilie Quarz{}", &tag[..8]),
            email: format!("ottilie.{}@customer-contact.example", &tag[8..20]),
            title: format!("Mailbox of Ottilie {} is full", &tag[20..]),
        }
    }

    fn needles(&self) -> [&str; 3] {
        [&self.name, &self.email, &self.title]
    }

    fn body(&self) -> Value {
        let mut b = body();
        b["severity"] = json!("A");
        b["title"] = json!(self.title);
        b["contact"]["name"] = json!(self.name);
        b["contact"]["email"] = json!(self.email);
        b
    }
}

fn hits(haystack: &[u8], subject: &Subject) -> Vec<String> {
    subject
        .needles()
        .iter()
        .filter(|n| haystack.windows(n.len()).any(|w| w == n.as_bytes()))
        .map(|n| (*n).to_owned())
        .collect()
}

/// Every file under `dir`, read whole (the database file, keys, anything the run wrote).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out
}

fn erasure(partner: Option<&str>, target: Value) -> Value {
    let mut b = json!({ "legalBasis": "gdpr_art_17_1_a", "reference": "DSR-2026-0042" });
    if let Some(p) = partner {
        b["partnerId"] = json!(p);
    }
    for (k, v) in target.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn erase(stack: &Stack, token: &str, body: &Value) -> Reply {
    stack.post("/privacy/erasures", token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_contact_by_email_leaves_nothing_personal_and_the_ledger_verifiable() {
    let _ = captured_logs(); // install the capturing subscriber before anything logs
    let stack = Stack::start_persistent(&[("contoso", CUSTOMER), ("fabrikam", CUSTOMER)]).await;
    let subject = Subject::new();
    let partner = stack.partner_token("contoso");
    // The same person also works at the partner and writes a note on someone else's request.
    let as_person = stack.token(TokenRole::Partner, Some("contoso"), &subject.email);
    let support = stack.support_token();
    let path = format!("/customers/{CUSTOMER}/service-requests");

    let mut theirs = Vec::new();
    for _ in 0..2 {
        let reply = stack.post(&path, &partner, &subject.body()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        theirs.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    let other = stack.create(&partner, &body()).await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    for (id, token, action) in [
        (
            &theirs[0],
            &partner,
            json!({ "action": "note", "message": format!("Called {} back", subject.name) }),
        ),
        (
            &theirs[0],
            &support,
            json!({ "action": "respond", "message": format!("Dear {}, we are on it.", subject.name) }),
        ),
        (
            &other_id,
            &as_person,
            json!({ "action": "note", "message": "Same problem here." }),
        ),
    ] {
        let reply = stack.patch(&format!("/service-requests/{id}"), token, &action).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    // A sweep past every due time: the second request breaches and is escalated.
    let later = stack.travel(chrono::Duration::hours(3));
    let report = stack.running.sweep(later).await.unwrap();
    assert!(report.breached.contains(&theirs[1]), "{report:?}");
    assert!(
        report.checkpoints.iter().any(|c| c.starts_with("contoso@")),
        "{report:?}"
    );

    // The partner's monitor keeps a copy and the checkpoint of the time.
    let monitor = tempfile::tempdir().unwrap();
    let state = monitor.path().join("contoso");
    // Three hours on, by the stack's clock: the partner's clock reads the same.
    let (exit, first) = sync(&stack, &partner, &state, "contoso", Some(later.datetime())).await;
    assert_eq!(exit, Exit::Ok, "{first}");
    let old_checkpoint = monitor.path().join("before-erasure.note");
    std::fs::copy(state.join("checkpoint.note"), &old_checkpoint).unwrap();
    let before = stack.get(&format!("/service-requests/{}", theirs[0]), &partner).await;
    assert_eq!(before.body["contact"]["email"], json!(subject.email));

    // (4) Another partner's privacy officer cannot reach contoso's data.
    let foreign = stack.token(TokenRole::Privacy, Some("fabrikam"), "dpo@fabrikam");
    let reply = erase(&stack, &foreign, &erasure(None, json!({ "requestId": theirs[0] }))).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = erase(
        &stack,
        &foreign,
        &erasure(Some("contoso"), json!({ "email": subject.email })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    // An e-mail erasure names its partner, whoever sends it; a request id names its own.
    let reply = erase(&stack, &foreign, &erasure(None, json!({ "email": subject.email }))).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.error_fields(), ["$.partnerId"]);
    let reply = erase(
        &stack,
        &foreign,
        &erasure(Some("fabrikam"), json!({ "requestId": theirs[0] })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.error_fields(), ["$.partnerId"]);
    let reply = erase(
        &stack,
        &foreign,
        &erasure(Some("fabrikam"), json!({ "email": subject.email })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["erasures"], json!([]), "fabrikam has nothing of this person");
    // Partner agents and support engineers cannot erase at all; a legal basis is required.
    let privacy = stack.token(TokenRole::Privacy, None, "dpo@vendor");
    for token in [&partner, &support] {
        let reply = erase(
            &stack,
            token,
            &erasure(Some("contoso"), json!({ "email": subject.email })),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
    let reply = erase(
        &stack,
        &privacy,
        &json!({ "partnerId": "contoso", "email": subject.email }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["$.legalBasis"]);
    let after_refusals = stack.get(&format!("/service-requests/{}", theirs[0]), &partner).await;
    assert_eq!(
        after_refusals.body, before.body,
        "every refusal left the data as it was"
    );

    // The vendor's privacy officer erases everything of this e-mail address at contoso.
    let reply = erase(
        &stack,
        &privacy,
        &erasure(Some("contoso"), json!({ "email": subject.email })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let erasures = reply.body["erasures"].as_array().unwrap();
    assert_eq!(erasures.len(), 3, "two requests whole, one note: {}", reply.body);
    let scopes = |scope: &str| erasures.iter().filter(|e| e["scope"] == scope).count();
    assert_eq!((scopes("request"), scopes("entries")), (2, 1), "{}", reply.body);
    assert!(erasures.iter().all(|e| e["receipt"]["note"].is_string()));
    let entries_after = crate::evidence::chain_lines(&stack, "contoso").await.len();

    // (5) Erasing again changes nothing and writes nothing.
    let again = erase(
        &stack,
        &privacy,
        &erasure(Some("contoso"), json!({ "email": subject.email })),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["erasures"], json!([]));
    let by_id = erase(&stack, &privacy, &erasure(None, json!({ "requestId": theirs[1] }))).await;
    assert_eq!(by_id.body["alreadyErased"], json!([theirs[1]]), "{}", by_id.body);
    assert_eq!(
        crate::evidence::chain_lines(&stack, "contoso").await.len(),
        entries_after,
        "no entry for an erasure already done"
    );
    let report = stack.running.sweep(later).await.unwrap();
    let signed: Vec<_> = report
        .checkpoints
        .iter()
        .filter(|c| c.starts_with("contoso@"))
        .collect();
    assert_eq!(signed.len(), 1, "the three erasure entries are signed: {report:?}");
    let report = stack.running.sweep(later).await.unwrap();
    assert!(report.checkpoints.is_empty(), "and nothing after them: {report:?}");
    // The checkpoint served now covers exactly the chain as it was after the first erasure.
    let note = stack.get_text("/ledger/checkpoint", &partner).await;
    let signed_size: usize = note.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(signed_size, entries_after, "{note}");

    // (3) The API shows the gaps; history shows the erasure entry and the markers.
    let read = stack.get(&format!("/service-requests/{}", theirs[0]), &partner).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["contact"]["email"], Value::Null, "{}", read.body);
    assert_eq!(read.body["title"], Value::Null);
    assert!(read.body["personalDataErasedAt"].is_string(), "{}", read.body);
    assert_eq!(read.body["severity"], "A", "what disputes need stays");
    let history = stack
        .get(&format!("/service-requests/{}/history", theirs[0]), &partner)
        .await;
    let items = history.body["items"].as_array().unwrap();
    let last = items.last().unwrap();
    assert_eq!(last["kind"], "personal_data_erased", "{last}");
    assert_eq!(last["data"]["change"]["legalBasis"], "gdpr_art_17_1_a", "{last}");
    let created = &items[0]["data"]["change"]["request"];
    assert_eq!(created["title"]["erased"], true, "{created}");
    assert_eq!(created["title"]["value"], Value::Null);
    assert!(created["title"]["commitment"].is_string());
    // The other request keeps its own contact; only the person's note there is gone.
    let other_history = stack
        .get(&format!("/service-requests/{other_id}/history"), &partner)
        .await;
    let other_items = other_history.body["items"].as_array().unwrap();
    assert_eq!(
        other_items[0]["data"]["change"]["request"]["contact"]["email"]["value"],
        "erika@partner.example"
    );
    let note = other_items.iter().find(|i| i["kind"] == "note_added").unwrap();
    assert_eq!(note["data"]["actor"]["subject"]["erased"], true, "{note}");

    // (2) The partner's copy grows by the erasure entries; the new export verifies against
    // the checkpoint kept before the erasure, and against the new one.
    let (exit, synced) = sync(
        &stack,
        &partner,
        &state,
        "contoso",
        Some(stack.running.now().datetime()),
    )
    .await;
    assert_eq!(exit, Exit::Ok, "{synced}");
    assert_eq!(synced["newEntries"], 3, "{synced}");
    let export = monitor.path().join("export.jsonl");
    let out = std::fs::File::create(&export).unwrap();
    let mut out = std::io::BufWriter::new(out);
    stack
        .running
        .state
        .app
        .store
        .export_chain(&ledger::ChainId::parse("contoso").unwrap(), None, |line| {
            use std::io::Write;
            writeln!(out, "{line}")
        })
        .await
        .unwrap();
    drop(out);
    let verified = ledger_cli::commands::verify(VerifyArgs {
        export: &export,
        keys: std::slice::from_ref(&stack.running.public_key),
        log: Some(local::log_name()),
        checkpoints: &[old_checkpoint.clone(), state.join("checkpoint.note")],
        disclosures: None,
        chain: None,
        allow_uncovered: false,
        json: true,
        now: Some(stack.running.now().datetime()),
        witnesses: None,
    })
    .unwrap();
    assert_eq!(verified.exit, Exit::Ok, "{}", verified.stdout);
    let report: Value = serde_json::from_str(&verified.stdout).unwrap();
    assert_eq!(report["checkpointsChecked"], 2, "{report}");

    // (1) No table holds the person any more, nor does the exported ledger.
    let dump = dump_tables(&stack).await;
    assert!(dump.contains("personal_data_erased"), "the scan reads the real tables");
    assert_eq!(hits(dump.as_bytes(), &subject), Vec::<String>::new());
    assert_eq!(hits(&std::fs::read(&export).unwrap(), &subject), Vec::<String>::new());
    // Nothing personal reached a log line, the escalation record included.
    let logs = captured_logs();
    assert!(logs.contains("escalat"), "the escalation was logged");
    assert!(logs.contains(&theirs[1]), "logs name requests by id");
    assert_eq!(hits(logs.as_bytes(), &subject), Vec::<String>::new());

    // Nor does the local run's data directory once its database is closed.
    let data_dir = stack.data_dir();
    let Stack { running, dir, .. } = stack;
    running.stop().await;
    let files = files_under(&data_dir);
    assert!(
        files
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "db" || e == "sqlite")),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (path, bytes) in &files {
        assert_eq!(hits(bytes, &subject), Vec::<String>::new(), "{}", path.display());
    }
    drop(dir);
}

/// One request's history item of `kind` (the last one).
fn entry<'a>(items: &'a [Value], kind: &str) -> &'a Value {
    items.iter().rev().find(|i| i["kind"] == kind).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_privacy_officer_erases_within_its_own_reach() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let engineer = "engineer@vendor.example";
    let support = stack.token(TokenRole::Support, None, engineer);
    let own_officer = stack.token(TokenRole::Privacy, Some("contoso"), "dpo@contoso");
    let vendor_officer = stack.token(TokenRole::Privacy, None, "dpo@vendor");
    // Every kind of value on one request: the request's own (the partner's contact, title,
    // description), a partner agent's note, a support engineer's reply and subject.
    let id = stack.create(&partner, &body()).await["id"].as_str().unwrap().to_owned();
    let path = format!("/service-requests/{id}");
    for (token, action) in [
        (
            &partner,
            json!({ "action": "note", "message": "Customer says it is still down." }),
        ),
        (
            &support,
            json!({ "action": "respond", "message": "Engineer Jane here: rebooting the host." }),
        ),
    ] {
        let reply = stack.patch(&path, token, &action).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    // The partner's officer cannot erase the vendor's engineer: 403 naming why, nothing erased.
    let before = dump_tables(&stack).await;
    let reply = erase(
        &stack,
        &own_officer,
        &erasure(Some("contoso"), json!({ "email": engineer })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains("written by the vendor's staff"), "{detail}");
    assert_eq!(dump_tables(&stack).await, before, "nothing erased");

    // By request id, it erases what the partner supplied and leaves the vendor's values.
    let reply = erase(&stack, &own_officer, &erasure(None, json!({ "requestId": id }))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let erased = &reply.body["erasures"][0];
    assert_eq!(erased["scope"], "request", "{}", reply.body);
    // The engineer's subject and message.
    assert_eq!(erased["commitmentsLeft"], 2, "{}", reply.body);
    let history = stack.get(&format!("{path}/history"), &support).await;
    let items = history.body["items"].as_array().unwrap().clone();
    let created = &items[0]["data"]["change"]["request"];
    assert_eq!(created["contact"]["email"]["erased"], true, "{created}");
    assert_eq!(created["title"]["erased"], true, "{created}");
    let note = entry(&items, "note_added");
    assert_eq!(note["data"]["change"]["message"]["erased"], true, "{note}");
    assert_eq!(note["data"]["actor"]["subject"]["erased"], true, "{note}");
    let reply_entry = entry(&items, "first_response");
    assert_eq!(
        reply_entry["data"]["change"]["message"]["value"], "Engineer Jane here: rebooting the host.",
        "{reply_entry}"
    );
    assert_eq!(
        reply_entry["data"]["actor"]["subject"]["value"], engineer,
        "{reply_entry}"
    );
    // Again: what is in its reach is gone already; the vendor's values are still not its.
    let before = dump_tables(&stack).await;
    let again = erase(&stack, &own_officer, &erasure(None, json!({ "requestId": id }))).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["alreadyErased"], json!([id]), "{}", again.body);
    assert_eq!(dump_tables(&stack).await, before);

    // The vendor's officer erases the engineer's data (by e-mail, at that partner).
    let reply = erase(
        &stack,
        &vendor_officer,
        &erasure(Some("contoso"), json!({ "email": engineer })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let erased = &reply.body["erasures"][0];
    assert_eq!(
        (&erased["scope"], &erased["commitmentsLeft"]),
        (&json!("entries"), &json!(0)),
        "{}",
        reply.body
    );
    let history = stack.get(&format!("{path}/history"), &support).await;
    let items = history.body["items"].as_array().unwrap().clone();
    let reply_entry = entry(&items, "first_response");
    assert_eq!(reply_entry["data"]["actor"]["subject"]["erased"], true, "{reply_entry}");
    // The erasure records themselves stay: who erased, on which basis.
    let records: Vec<&Value> = items.iter().filter(|i| i["kind"] == "personal_data_erased").collect();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0]["data"]["actor"]["subject"]["value"], "dpo@contoso",
        "{}",
        records[0]
    );
}
