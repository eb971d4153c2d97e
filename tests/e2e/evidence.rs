//! The evidence the partner holds: receipts on every write, the ledger API, `ledger sync`,
//! and a dishonest operator with direct DynamoDB access who (a) rewrites history, (b)
//! truncates the chain, (c) drops an entry a receipt promised — each time the signer refuses
//! and raises the alarm, and/or the partner's next sync exits 1 naming what happened.

use aws_sdk_dynamodb::types::AttributeValue;
use ledger::merkle::{LeafIndex, TreeSize, leaf_hash, verify_consistency, verify_inclusion};
use ledger::{ChainHead, ChainId, EntryRef, Frontier};
use ledger_cli::commands::Exit;
use reqwest::StatusCode;
use serde_json::json;
use tests::*;

pub(crate) fn tables() -> store::TableNames {
    store::TableNames::with_prefix(local::TABLE_PREFIX)
}

pub(crate) async fn chain_lines(stack: &Stack, chain: &str) -> Vec<String> {
    let mut lines = Vec::new();
    stack
        .running
        .state
        .app
        .store
        .export_chain(&ChainId::parse(chain).unwrap(), None, |l| {
            lines.push(l.to_owned());
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .unwrap();
    lines
}

/// The head of a chain whose entries are `lines` (as the operator would compute it).
pub(crate) fn head_of(chain: &str, lines: &[String]) -> ChainHead {
    let mut head = ChainHead::genesis(ChainId::parse(chain).unwrap());
    let mut frontier = Frontier::new();
    for line in lines {
        let e = EntryRef::parse(line.as_bytes()).unwrap();
        frontier.push(leaf_hash(e.hash.as_bytes()));
        head.last_hash = e.hash;
        head.last_at = e.at_datetime();
    }
    head.size = lines.len() as u64;
    head.frontier = frontier;
    head
}

/// Write a ledger item as the operator would: any line (read leniently, as JSON).
pub(crate) async fn put_entry(stack: &Stack, line: &str) {
    let e: serde_json::Value = serde_json::from_str(line).unwrap();
    let text = |name: &str| AttributeValue::S(e[name].as_str().unwrap().into());
    stack
        .dynamodb()
        .await
        .put_item()
        .table_name(tables().ledger)
        .item("chain", text("chain"))
        .item("seq", AttributeValue::N(e["seq"].to_string()))
        .item("line", AttributeValue::S(line.into()))
        .item("kind", text("kind"))
        .item("at", text("at"))
        .send()
        .await
        .unwrap();
}

pub(crate) async fn delete_entry(stack: &Stack, chain: &str, seq: u64) {
    stack
        .dynamodb()
        .await
        .delete_item()
        .table_name(tables().ledger)
        .key("chain", AttributeValue::S(chain.into()))
        .key("seq", AttributeValue::N(seq.to_string()))
        .send()
        .await
        .unwrap();
}

/// Overwrite a chain head (and mark it grown, so the signer looks at it).
pub(crate) async fn set_head(stack: &Stack, head: &ChainHead) {
    let at = head.last_at.map(|t| ledger::entry::format_at(&t)).unwrap_or_default();
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(tables().chain_heads)
        .key("chain", AttributeValue::S(head.chain.to_string()))
        .update_expression("SET #size = :size, last_hash = :hash, frontier = :frontier, last_at = :at, updated_at = :at, ckpt_shard = :shard")
        .expression_attribute_names("#size", "size")
        .expression_attribute_values(":size", AttributeValue::N(head.size.to_string()))
        .expression_attribute_values(":hash", AttributeValue::S(head.last_hash.to_hex()))
        .expression_attribute_values(
            ":frontier",
            AttributeValue::L(head.frontier.nodes().iter().map(|n| AttributeValue::S(n.to_hex())).collect()),
        )
        .expression_attribute_values(":at", AttributeValue::S(at))
        .expression_attribute_values(":shard", AttributeValue::S("00".into()))
        .send()
        .await
        .unwrap();
}

pub(crate) async fn sweep(stack: &Stack) -> api::sweep::SweepReport {
    stack.running.sweep(stack.running.now()).await.unwrap()
}

/// Our sweep, which must raise an integrity alarm that `says` (the honest signer refusing).
pub(crate) async fn refused_sweep(stack: &Stack, says: &str) -> api::sweep::SweepReport {
    let report = sweep(stack).await;
    assert!(
        report.integrity_alarms.iter().any(|a| a.problem.contains(says)),
        "the honest signer refuses ({says}): {report:?}"
    );
    report
}

/// The sweep as a dishonest operator's own signer runs it: with the checkpoint key, but
/// without the check of kept receipts — what ours refuses to sign (an entry no writer
/// appended), it signs. The attacks on a signed history start from here.
pub(crate) async fn operator_sweep(stack: &Stack) -> api::sweep::SweepReport {
    // Ours refuses first: the rewritten entries have no kept receipts.
    refused_sweep(stack, "no kept receipt").await;
    let store = &stack.running.state.app.store;
    store.set_signer_checks_receipts(false);
    let report = sweep(stack).await;
    store.set_signer_checks_receipts(true);
    report
}

/// A stack with contoso's relationship and `n` requests filed, their receipts kept.
pub(crate) async fn filed(n: usize) -> (Stack, tempfile::TempDir, std::path::PathBuf, String) {
    let stack = Stack::start_with(&[("contoso", CUSTOMER), ("fabrikam", CUSTOMER)]).await;
    let token = stack.partner_token("contoso");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("contoso");
    for _ in 0..n {
        let reply = stack
            .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &body())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        keep_receipt(&state, &reply.body);
    }
    (stack, dir, state, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_keeps_its_own_copy_and_every_promise_is_checked() {
    let (stack, dir, state, token) = filed(3).await;
    // Nothing signed yet.
    assert_eq!(
        stack.get("/ledger/checkpoint", &token).await.status,
        StatusCode::NOT_FOUND
    );
    let support = stack.support_token();
    let created = stack.create(&token, &body()).await;
    keep_receipt(&state, &created);
    let id = created["id"].as_str().unwrap();
    let reply = stack
        .patch(
            &format!("/service-requests/{id}"),
            &support,
            &json!({ "action": "respond", "message": "On it." }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body["receipt"]["note"].is_string(), "every write has a receipt");
    let report = sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty());
    // The relationship, four creates, one response.
    assert!(report.checkpoints.contains(&"contoso@6".to_owned()), "{report:?}");

    let (exit, first) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Ok, "{first}");
    assert_eq!(first["newEntries"], 6);
    assert_eq!(first["receipts"]["kept"], 4, "{first}");
    assert_eq!(first["origin"], "ledgerdesk.local/contoso");
    // Nothing new: one checkpoint request and one spot check of the last entry held.
    let (exit, second) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Ok, "{second}");
    assert_eq!(second["newEntries"], 0);
    assert_eq!(second["requests"], 2);
    // The copy verifies offline against the checkpoints kept.
    let verified = ledger_cli::commands::verify(ledger_cli::commands::VerifyArgs {
        export: &state.join("entries.jsonl"),
        keys: std::slice::from_ref(&stack.running.public_key),
        log: Some(local::log_name()),
        checkpoints: &[state.join("checkpoint.note")],
        disclosures: None,
        chain: None,
        allow_uncovered: false,
        json: true,
        now: None,
        witnesses: None,
    })
    .unwrap();
    assert_eq!(verified.exit, Exit::Ok, "{}", verified.stdout);

    // Another partner's chain is as unknown as one that does not exist.
    for path in [
        "/ledger/checkpoint?chain=fabrikam",
        "/ledger/entries?chain=fabrikam",
        "/ledger/entries?chain=nobody",
    ] {
        assert_eq!(stack.get(path, &token).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // The vendor's auditors read any chain, by name.
    let auditor = stack.token(local::token::TokenRole::Auditor, None, "auditor@vendor");
    let note = stack.get("/ledger/checkpoint?chain=fabrikam", &auditor).await;
    assert_eq!(note.status, StatusCode::OK);
    assert_eq!(
        stack.get("/ledger/checkpoint", &auditor).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        stack.get("/ledger/checkpoint", &support).await.status,
        StatusCode::FORBIDDEN
    );
    let (exit, audit) = sync(&stack, &auditor, &dir.path().join("fabrikam-audit"), "fabrikam", None).await;
    assert_eq!(exit, Exit::Ok, "{audit}");
    assert_eq!(audit["origin"], "ledgerdesk.local/fabrikam");

    // An evidence bundle of one request verifies with the public key alone, its personal
    // values disclosed.
    let bundle = stack
        .http
        .get(format!("{}/service-requests/{id}/evidence", stack.running.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    let path = dir.path().join("evidence.json");
    std::fs::write(&path, bundle.text().await.unwrap()).unwrap();
    let (exit, report) = verify_bundles(&stack, std::slice::from_ref(&path));
    assert_eq!(exit, Exit::Ok, "{report}");
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "created and first_response");
    assert!(
        entries[0]["disclosed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/change/request/title")
    );
    // Proofs from the API verify, with the library's verifier, against the signed root the
    // partner kept (size 6) and the entries it verified (the root of size 1 is the first
    // entry's leaf hash, RFC 9162 §2.1.1).
    let keys = ledger_cli::commands::load_keys(std::slice::from_ref(&stack.running.public_key), "the key").unwrap();
    let note = std::fs::read_to_string(state.join("checkpoint.note")).unwrap();
    let (signed, _) = ledger::Checkpoint::open_pinned(&note, &keys, &local::log_name()).unwrap();
    assert_eq!(signed.size, 6);
    let kept = std::fs::read_to_string(state.join("entries.jsonl")).unwrap();
    let leaves: Vec<ledger::Hash> = kept
        .lines()
        .map(|l| leaf_hash(EntryRef::parse(l.as_bytes()).unwrap().hash.as_bytes()))
        .collect();
    assert_eq!(leaves.len(), 6);
    let hashes = |body: &serde_json::Value| -> Vec<ledger::Hash> {
        body["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| ledger::Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect()
    };
    let proof = stack.get("/ledger/proofs/consistency?from=1&to=6", &token).await;
    assert_eq!(proof.status, StatusCode::OK);
    let proof = hashes(&proof.body);
    verify_consistency(
        TreeSize(1),
        TreeSize(6),
        leaves[0].as_bytes(),
        signed.root.as_bytes(),
        &proof,
    )
    .unwrap();
    // The same proof does not tie another first entry to the signed root.
    assert!(
        verify_consistency(
            TreeSize(1),
            TreeSize(6),
            leaves[1].as_bytes(),
            signed.root.as_bytes(),
            &proof
        )
        .is_err()
    );
    assert_eq!(
        stack.get("/ledger/proofs/consistency?from=1&to=7", &token).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let inclusion = stack.get("/ledger/proofs/inclusion?seq=2&size=6", &token).await;
    assert_eq!(inclusion.status, StatusCode::OK);
    let inclusion = hashes(&inclusion.body);
    verify_inclusion(
        LeafIndex(2),
        TreeSize(6),
        leaves[2].as_bytes(),
        &inclusion,
        signed.root.as_bytes(),
    )
    .unwrap();
    // ...and it proves entry 2, not its neighbour.
    assert!(
        verify_inclusion(
            LeafIndex(2),
            TreeSize(6),
            leaves[3].as_bytes(),
            &inclusion,
            signed.root.as_bytes()
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_history_is_not_signed_and_the_partner_notices() {
    let (stack, _dir, state, token) = filed(3).await;
    sweep(&stack).await;
    let (exit, _) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Ok);
    // (a) The operator rewrites entry 1 and, consistently, every entry after it and the head.
    let lines = chain_lines(&stack, "contoso").await;
    let mut rewritten = lines[..1].to_vec();
    let mut head = head_of("contoso", &rewritten);
    for line in &lines[1..] {
        let e = EntryRef::parse(line.as_bytes()).unwrap();
        let mut data: serde_json::Value = serde_json::from_slice(e.data).unwrap();
        if e.seq == 1 {
            data["resulting"]["billable"] = json!(false);
        }
        let (entry, next) = head.append(&e.at_datetime().unwrap(), e.kind, &data).unwrap();
        put_entry(&stack, &entry.line).await;
        rewritten.push(entry.line);
        head = next;
    }
    set_head(&stack, &head).await;
    // The service writes on: its entry extends the rewritten head.
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert!(
        !report.checkpoints.iter().any(|c| c.starts_with("contoso@")),
        "{report:?}"
    );
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(report.integrity_alarms[0].problem.contains("rewritten"), "{report:?}");
    // The partner's monitor sees the entry it holds replaced.
    let (exit, failed) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{failed}");
    assert_eq!(failed["failure"]["kind"], "modified");
    assert!(
        failed["failure"]["message"].as_str().unwrap().contains("rewritten"),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_chain_is_not_signed_and_the_partner_notices() {
    let (stack, _dir, state, token) = filed(4).await;
    sweep(&stack).await;
    assert_eq!(sync(&stack, &token, &state, "contoso", None).await.0, Exit::Ok);
    // (b) The operator cuts the last two entries off and rewinds the head.
    let lines = chain_lines(&stack, "contoso").await;
    let keep = lines.len() - 2;
    for seq in keep..lines.len() {
        delete_entry(&stack, "contoso", seq as u64).await;
    }
    set_head(&stack, &head_of("contoso", &lines[..keep])).await;
    let report = sweep(&stack).await;
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(report.integrity_alarms[0].problem.contains("removed"), "{report:?}");
    let (exit, failed) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{failed}");
    assert_eq!(failed["failure"]["seq"], lines.len() as u64 - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_entry_breaks_its_receipts_promise() {
    let (stack, _dir, state, token) = filed(2).await;
    sweep(&stack).await;
    assert_eq!(sync(&stack, &token, &state, "contoso", None).await.0, Exit::Ok);
    // A create whose receipt the partner keeps, and which the operator then drops (before
    // any checkpoint covers it), rewinding the head as if it had never been.
    let promised = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &body())
        .await;
    keep_receipt(&state, &promised.body);
    let seq = promised.body["receipt"]["seq"].as_u64().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(promised.body["receipt"]["at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let lines = chain_lines(&stack, "contoso").await;
    delete_entry(&stack, "contoso", seq).await;
    set_head(&stack, &head_of("contoso", &lines[..seq as usize])).await;
    // Within the merge delay the promise is pending; after it, broken.
    let report = sweep(&stack).await;
    assert!(
        report.integrity_alarms.is_empty(),
        "a consistent chain: the signer cannot tell"
    );
    let (exit, pending) = sync(
        &stack,
        &token,
        &state,
        "contoso",
        Some(at + chrono::Duration::minutes(1)),
    )
    .await;
    assert_eq!(exit, Exit::Ok, "{pending}");
    assert_eq!(pending["receipts"]["pending"], 1);
    let (exit, broken) = sync(
        &stack,
        &token,
        &state,
        "contoso",
        Some(at + chrono::Duration::minutes(10)),
    )
    .await;
    assert_eq!(exit, Exit::Tampered, "{broken}");
    assert_eq!(broken["failure"]["kind"], "broken_promise");
    assert_eq!(broken["failure"]["seq"], seq);
    // The service writes on; another entry now holds the promised position: still broken.
    stack.create(&token, &body()).await;
    sweep(&stack).await;
    let (exit, replaced) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{replaced}");
    assert_eq!(replaced["failure"]["kind"], "broken_promise");
    assert!(
        replaced["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("another entry"),
        "{replaced}"
    );
}

/// `n` of contoso's requests written straight through the store (as fast as it goes: the
/// pages of `ledger sync` are what is under test, not the create route).
async fn fill(stack: &Stack, n: u64) {
    use domain::*;
    let policy = SupportPolicy::embedded().unwrap();
    let partner = PartnerId::parse("contoso").unwrap();
    let actor = Actor::new(Role::PartnerAgent, Subject::parse("agent@contoso").unwrap());
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": "azure", "category": "technical", "severity": "B", "supportTopic": "Compute",
        "title": "Paged", "description": "One of many.", "language": "en",
        "contact": { "name": "Agent", "email": "agent@partner.example" },
        "entitlement": { "kind": "mpn_contract", "reference": "MPN-1" }
    }))
    .unwrap();
    let now = chrono::Utc::now();
    for i in 0..n {
        let new = NewServiceRequest::parse(input.clone(), TenantInput::PartnerOwn, &partner).unwrap();
        let id = RequestId::new(now, u128::from(i) << 16 | u128::from(rand_id()));
        let (request, event) =
            ServiceRequest::open(new, partner.clone(), id, Timestamp::from(now), &actor, &policy).unwrap();
        stack
            .running
            .state
            .app
            .store
            .create_request(&request, &event, None)
            .await
            .unwrap();
    }
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_many_pages_fetched_ahead_keeps_the_log_exactly_and_catches_a_hole_mid_page() {
    let stack = Stack::start_with(&[("contoso", CUSTOMER)]).await;
    let token = stack.partner_token("contoso");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("contoso");
    // The relationship's entry and 234 creates: three pages of 100 (the API's pages are at
    // most 1,000; the test asks for 100 to need fewer entries).
    fill(&stack, 234).await;
    sweep(&stack).await;
    let (exit, first) = sync_paged(&stack, &token, &state, "contoso", None, 100).await;
    assert_eq!(exit, Exit::Ok, "{first}");
    assert_eq!(first["newEntries"], 235);
    assert_eq!(first["requests"], 1 + 3, "the checkpoint and three pages: {first}");
    let kept = std::fs::read_to_string(state.join("entries.jsonl")).unwrap();
    let lines = chain_lines(&stack, "contoso").await;
    assert_eq!(
        kept.lines().collect::<Vec<_>>(),
        lines,
        "the log, in order, byte for byte"
    );

    // 120 more, signed; then the operator deletes seq 260-269 from the ledger table, in the
    // middle of the first new page, with the pages after it already fetched ahead. The page
    // comes back short: the entries after the hole do not follow their predecessor.
    fill(&stack, 120).await;
    sweep(&stack).await;
    let signed = chain_lines(&stack, "contoso").await;
    assert_eq!(signed.len(), 355);
    for seq in 260..270 {
        delete_entry(&stack, "contoso", seq).await;
    }
    let (exit, failed) = sync_paged(&stack, &token, &state, "contoso", None, 100).await;
    assert_eq!(exit, Exit::Tampered, "{failed}");
    assert_eq!(failed["failure"]["kind"], "deleted", "{failed}");
    assert_eq!(failed["failure"]["seq"], 260, "{failed}");
    // Nothing of the rejected pages was kept: the copy is still the first 235 entries.
    let after = std::fs::read_to_string(state.join("entries.jsonl")).unwrap();
    assert_eq!(after.lines().count(), 235);
    // The hole filled again, the end cut instead (the log signed 355 entries and serves
    // 300): the first page comes back short, the page fetched ahead starts past the end of
    // what was served, and the sync names the first entry missing.
    for line in &signed[260..270] {
        put_entry(&stack, line).await;
    }
    for seq in 300..355 {
        delete_entry(&stack, "contoso", seq).await;
    }
    let (exit, cut) = sync_paged(&stack, &token, &state, "contoso", None, 100).await;
    assert_eq!(exit, Exit::Tampered, "{cut}");
    assert_eq!(cut["failure"]["kind"], "truncated", "{cut}");
    assert_eq!(cut["failure"]["seq"], 300, "{cut}");
    // And with the log whole again, the same directory catches up.
    for line in &signed[300..] {
        put_entry(&stack, line).await;
    }
    let (exit, whole) = sync_paged(&stack, &token, &state, "contoso", None, 100).await;
    assert_eq!(exit, Exit::Ok, "{whole}");
    assert_eq!(whole["newEntries"], 120);
    let kept = std::fs::read_to_string(state.join("entries.jsonl")).unwrap();
    assert_eq!(kept.lines().collect::<Vec<_>>(), signed);
}

/// Entry tile `index` of `chain` as the API serves it: status, content type, raw body.
async fn get_tile(stack: &Stack, token: &str, path: &str) -> (StatusCode, Option<String>, Vec<u8>) {
    // reqwest follows the redirect to the bucket, and (another origin) without the token.
    let reply = reqwest::Client::new()
        .get(format!("{}{path}", stack.running.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let kind = reply
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, kind, reply.bytes().await.unwrap().to_vec())
}

/// The API's own answer for an entry tile, not following its redirect: status, `Location`,
/// `Cache-Control`.
async fn tile_redirect(stack: &Stack, token: &str, path: &str) -> (StatusCode, String, String) {
    let reply = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", stack.running.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        reply
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (reply.status(), header("location"), header("cache-control"))
}

fn tile_object(chain: &str, index: u64) -> String {
    format!("entry-tiles/{chain}/{index}")
}

/// The operator replaces entry tile `index` of `chain` in the tile bucket with `frame`.
async fn put_tile(stack: &Stack, chain: &str, index: u64, frame: Vec<u8>) {
    stack
        .s3()
        .put_object()
        .bucket(local::TILE_BUCKET)
        .key(tile_object(chain, index))
        .content_type("application/zstd")
        .body(frame.into())
        .send()
        .await
        .unwrap();
}

/// The operator deletes entry tile `index` of `chain`.
async fn delete_tile(stack: &Stack, chain: &str, index: u64) {
    stack
        .s3()
        .delete_object()
        .bucket(local::TILE_BUCKET)
        .key(tile_object(chain, index))
        .send()
        .await
        .unwrap();
}

fn joined(lines: &[String]) -> Vec<u8> {
    lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_is_synced_in_entry_tiles_checked_like_any_entries() {
    let stack = Stack::start_with(&[("contoso", CUSTOMER)]).await;
    let token = stack.partner_token("contoso");
    let dir = tempfile::tempdir().unwrap();
    // 701 entries signed (no tile is full), then 2,201: the signer completes tiles 0 and 1,
    // reading entries 0-700 again for the first.
    fill(&stack, 700).await;
    sweep(&stack).await;
    fill(&stack, 1_500).await;
    let report = sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty(), "{report:?}");
    let lines = chain_lines(&stack, "contoso").await;
    assert_eq!(lines.len(), 2_201);

    // The API serves a full tile as one zstd frame of the entries exactly as hashed.
    let (status, kind, frame) = get_tile(&stack, &token, "/ledger/entry-tiles/0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind.as_deref(), Some("application/zstd"));
    let mut content = Vec::new();
    ledger::entry_tiles::decode_into(&frame, &mut content).unwrap();
    assert_eq!(content, joined(&lines[..1024]));
    // The API's answer is a short-lived link to the caller's own tile in the bucket, which
    // must not be cached and does not carry the caller's token.
    let (status, link, cache) = tile_redirect(&stack, &token, "/ledger/entry-tiles/0").await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(cache, "no-store");
    assert!(link.starts_with(stack.running.s3_endpoint()), "{link}");
    assert!(
        link.contains("/entry-tiles/contoso/0?") && link.contains("X-Amz-Expires=300"),
        "{link}"
    );
    assert!(!link.contains(&token));
    // The link is for that object alone: pointed at another chain's tile, the bucket refuses it.
    let forged = link.replace("/entry-tiles/contoso/0?", "/entry-tiles/fabrikam/0?");
    let refused = reqwest::get(&forged).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{forged}");
    // Tile 2 is not full: the bucket has no such object.
    let (status, _, _) = get_tile(&stack, &token, "/ledger/entry-tiles/2").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "tile 2 is not full");
    let (status, _, _) = get_tile(&stack, &token, "/ledger/entry-tiles/01").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "one spelling per number");
    // Another partner sees no tile of contoso's, and has none of its own; the auditor reads any.
    let fabrikam = stack.partner_token("fabrikam");
    for path in ["/ledger/entry-tiles/0?chain=contoso", "/ledger/entry-tiles/0"] {
        assert_eq!(
            get_tile(&stack, &fabrikam, path).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let auditor = stack.token(local::token::TokenRole::Auditor, None, "auditor@vendor");
    let (status, _, audited) = get_tile(&stack, &auditor, "/ledger/entry-tiles/1?chain=contoso").await;
    assert_eq!(status, StatusCode::OK);
    ledger::entry_tiles::decode_into(&audited, &mut content).unwrap();
    assert_eq!(content, joined(&lines[1024..2048]));

    // The partner's sync asks for the checkpoint, two tiles and one page (2,048-2,200).
    let state = dir.path().join("whole");
    let (exit, synced) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Ok, "{synced}");
    assert_eq!(synced["newEntries"], 2_201);
    assert_eq!(synced["requests"], 4, "{synced}");
    assert_eq!(std::fs::read(state.join("entries.jsonl")).unwrap(), joined(&lines));

    // A tile is no authority. The operator stores tile 1 with entry 1,100 altered: a fresh
    // monitor names it, and keeps nothing.
    let mut altered = lines[1024..2048].to_vec();
    altered[76] = altered[76].replacen("\"severity\":\"B\"", "\"severity\":\"A\"", 1);
    assert_ne!(altered[76], lines[1100]);
    let frame = ledger::entry_tiles::encode(&joined(&altered)).unwrap();
    put_tile(&stack, "contoso", 1, frame.clone()).await;
    let (status, _, served) = get_tile(&stack, &token, "/ledger/entry-tiles/1").await;
    assert_eq!((status, served), (StatusCode::OK, frame));
    let state = dir.path().join("altered");
    let (exit, failed) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{failed}");
    assert_eq!(failed["failure"]["kind"], "modified", "{failed}");
    assert_eq!(failed["failure"]["seq"], 1_100, "{failed}");
    assert_eq!(std::fs::read(state.join("entries.jsonl")).unwrap_or_default().len(), 0);
    // A tile that is not a zstd frame is a malformed answer, named where it starts.
    put_tile(&stack, "contoso", 1, b"not a frame".to_vec()).await;
    let (exit, failed) = sync(&stack, &token, &dir.path().join("garbled"), "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{failed}");
    assert_eq!(failed["failure"]["kind"], "malformed", "{failed}");
    assert_eq!(failed["failure"]["seq"], 1_024, "{failed}");
    // A tile that is gone is read page by page instead: the same copy, two more requests.
    delete_tile(&stack, "contoso", 1).await;
    let state = dir.path().join("paged");
    let (exit, synced) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Ok, "{synced}");
    assert_eq!(
        synced["requests"], 6,
        "checkpoint, tile 0, tile 1 (404), 1,000 + 24, 153: {synced}"
    );
    assert_eq!(std::fs::read(state.join("entries.jsonl")).unwrap(), joined(&lines));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_rewritten_under_a_checkpoint_is_caught_when_its_tile_is_completed() {
    let stack = Stack::start_with(&[("contoso", CUSTOMER)]).await;
    fill(&stack, 600).await;
    sweep(&stack).await;
    // The operator alters entry 5 in place (the chain head and everything after untouched);
    // the service writes on past the end of tile 0.
    let lines = chain_lines(&stack, "contoso").await;
    let altered = lines[5].replacen("\"severity\":\"B\"", "\"severity\":\"A\"", 1);
    assert_ne!(altered, lines[5]);
    put_entry(&stack, &altered).await;
    fill(&stack, 500).await;
    let report = sweep(&stack).await;
    assert!(
        !report.checkpoints.iter().any(|c| c.starts_with("contoso@")),
        "nothing signed: {report:?}"
    );
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(report.integrity_alarms[0].problem.contains("entry seq 5"), "{report:?}");
    let token = stack.partner_token("contoso");
    let (status, _, _) = get_tile(&stack, &token, "/ledger/entry-tiles/0").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no tile of the rewritten entries was stored"
    );
}
