//! A dishonest operator: write access to every table and to the tile bucket, none to the
//! private keys. Each attack that once got a partner's `ledger sync` or an auditor's `ledger`
//! to say "fine" (issue 24), and what now catches it — with exit 1 and a report naming it.

use aws_sdk_dynamodb::types::AttributeValue;
use ledger::{ChainHead, ChainId, EntryRef, LogName, Receipt, ReceiptDocument};
use ledger_cli::commands::{Exit, ReceiptAgainst};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use tests::*;

use crate::evidence::{chain_lines, delete_entry, filed, head_of, operator_sweep, put_entry, set_head, sweep, tables};

fn contoso() -> ChainId {
    ChainId::parse("contoso").unwrap()
}

fn log() -> LogName {
    local::log_name()
}

/// The local run's signing keys (the test plays the service here, never the operator).
fn secrets(stack: &Stack) -> local::files::Secrets {
    local::files::Secrets::load_or_create(&stack.data_dir()).unwrap()
}

/// An entry line as the operator writes it by hand: any data, correctly linked and hashed,
/// with none of the service's checks.
pub(crate) fn forge(head: &ChainHead, at: &str, kind: &str, data: &Value) -> (String, ChainHead) {
    let data = ledger::canonical::encode_data(data).unwrap();
    let unsigned = format!(
        "{{\"v\":2,\"chain\":\"{}\",\"seq\":{},\"prev\":\"{}\",\"at\":\"{at}\",\"kind\":\"{kind}\",\"data\":{data}",
        head.chain,
        head.size,
        head.last_hash.to_hex()
    );
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"ledgerdesk/ledger/v2\n");
    hasher.update(unsigned.as_bytes());
    hasher.update(b"}");
    let hash = ledger::Hash(hasher.finalize().into());
    let line = format!("{unsigned},\"hash\":\"{}\"}}", hash.to_hex());
    let mut next = head.clone();
    next.frontier.push(ledger::merkle::leaf_hash(hash.as_bytes()));
    next.size += 1;
    next.last_hash = hash;
    next.last_at = ledger::entry::parse_at(at);
    (line, next)
}

/// Rewrite entry `from` and, consistently, every entry after it (entry `from` becomes not
/// billable), and the head: consistent, but without the writers' kept receipts, so our signer
/// refuses it ([`crate::evidence::operator_sweep`] signs it as the operator's own would).
pub(crate) async fn rewrite_from(stack: &Stack, from: usize) -> Vec<String> {
    let lines = chain_lines(stack, "contoso").await;
    let mut head = head_of("contoso", &lines[..from]);
    let mut rewritten = lines[..from].to_vec();
    for line in &lines[from..] {
        let e = EntryRef::parse(line.as_bytes()).unwrap();
        let mut data: Value = serde_json::from_slice(e.data).unwrap();
        if e.seq == from as u64 {
            data["resulting"]["billable"] = json!(!data["resulting"]["billable"].as_bool().unwrap_or(true));
        }
        let (entry, next) = head.append(&e.at_datetime().unwrap(), e.kind, &data).unwrap();
        put_entry(stack, &entry.line).await;
        rewritten.push(entry.line);
        head = next;
    }
    set_head(stack, &head).await;
    rewritten
}

pub(crate) async fn delete_checkpoint_row(stack: &Stack, chain: &str, size: u64) {
    stack
        .dynamodb()
        .await
        .delete_item()
        .table_name(tables().checkpoints)
        .key("chain", AttributeValue::S(chain.into()))
        .key("size", AttributeValue::N(size.to_string()))
        .send()
        .await
        .unwrap();
}

/// The sizes of `chain`'s stored checkpoint rows.
pub(crate) async fn checkpoint_sizes(stack: &Stack, chain: &str) -> Vec<u64> {
    stack
        .running
        .state
        .app
        .store
        .checkpoints(&ChainId::parse(chain).unwrap())
        .await
        .unwrap()
        .iter()
        .map(|c| c.size)
        .collect()
}

async fn latest_note(stack: &Stack, chain: &str) -> String {
    stack
        .running
        .state
        .app
        .store
        .latest_checkpoint(&ChainId::parse(chain).unwrap())
        .await
        .unwrap()
        .unwrap()
        .note
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn verify_receipt(
    stack: &Stack,
    receipt: &std::path::Path,
    against: Option<(&std::path::Path, &std::path::Path)>,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> (Exit, Value) {
    let keys = [stack.running.public_key.clone()];
    let outcome = ledger_cli::commands::verify_receipt(
        receipt,
        std::slice::from_ref(&stack.running.receipt_public_key),
        &log(),
        against.map(|(export, checkpoint)| ReceiptAgainst {
            export,
            keys: &keys,
            checkpoint,
        }),
        now,
        None,
        true,
    )
    .unwrap();
    (outcome.exit, serde_json::from_str(&outcome.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_receipt_judges_a_promise_by_the_history_it_has_verified() {
    // Attack 1: the operator rewrites an entry before the signer runs; the signed tree holds
    // the rewrite. Given the original line, `verify-receipt` once said "kept".
    let (stack, dir, state, token) = filed(2).await;
    let promised = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &body())
        .await;
    let seq = promised.body["receipt"]["seq"].as_u64().unwrap() as usize;
    let original = chain_lines(&stack, "contoso").await[seq].clone();
    let rewritten = rewrite_from(&stack, seq).await;
    assert_ne!(rewritten[seq], original);
    // Our signer refuses it now (the rewritten entries have no kept receipts); an operator's
    // own signer, holding the checkpoint key, signs it.
    let report = operator_sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty(), "unsigned until now: {report:?}");
    let checkpoint = write(dir.path(), "checkpoint.note", &latest_note(&stack, "contoso").await);
    // The receipt saved exactly as the API returned it (`jq .receipt`).
    let receipt = write(
        dir.path(),
        "receipt.json",
        &serde_json::to_string_pretty(&promised.body["receipt"]).unwrap(),
    );

    // The export the operator serves: the promise is broken, and named so.
    let export = write(dir.path(), "export.jsonl", &joined(&rewritten));
    let (exit, out) = verify_receipt(&stack, &receipt, Some((&export, &checkpoint)), None);
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "broken_promise", "{out}");
    assert_eq!(out["failure"]["seq"], seq);
    // The original line alone: not a history that verifies (the chain's start is missing).
    let alone = write(dir.path(), "alone.jsonl", &format!("{original}\n"));
    let (exit, out) = verify_receipt(&stack, &receipt, Some((&alone, &checkpoint)), None);
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "deleted", "{out}");
    // The original line inside a full export: the history no longer hashes to the checkpoint.
    let mut mixed = rewritten.clone();
    mixed[seq] = original.clone();
    let mixed = write(dir.path(), "mixed.jsonl", &joined(&mixed));
    let (exit, out) = verify_receipt(&stack, &receipt, Some((&mixed, &checkpoint)), None);
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "fork", "{out}");
    // An earlier promise in the same export is kept, and said so.
    let earlier = std::fs::read_dir(state.join("receipts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let (exit, out) = verify_receipt(&stack, &earlier, Some((&export, &checkpoint)), None);
    assert_eq!(exit, Exit::Ok, "{out}");
    assert!(out["verdict"].as_str().unwrap().starts_with("kept"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partners_monitor_is_pinned_to_its_own_chain() {
    // Attack 2: by swapping rows, contoso's /ledger/checkpoint serves fabrikam's checkpoint.
    let (stack, dir, state, token) = filed(1).await;
    let fabrikam = stack.partner_token("fabrikam");
    let theirs = stack.create(&fabrikam, &body()).await;
    sweep(&stack).await;
    let note = latest_note(&stack, "fabrikam").await;
    stack
        .dynamodb()
        .await
        .put_item()
        .table_name(tables().checkpoints)
        .item("chain", AttributeValue::S("contoso".into()))
        .item("size", AttributeValue::N("1000".into()))
        .item("note", AttributeValue::S(note))
        .item("root", AttributeValue::S("x".into()))
        .send()
        .await
        .unwrap();
    // A first sync must say which chain it monitors.
    let (exit, out) = run_sync(sync_args(&stack, &token, &state, None)).await;
    assert_eq!(exit, Exit::Usage, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("--chain"), "{out}");
    assert!(!state.join("state.json").exists());
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "foreign_entry", "{out}");
    assert!(
        out["failure"]["message"].as_str().unwrap().contains("chain fabrikam"),
        "{out}"
    );
    assert!(!state.join("state.json").exists(), "nothing kept");
    // The row put back, the directory monitors contoso; a receipt of another chain in it is a
    // failure, not something counted aside.
    delete_checkpoint_row(&stack, "contoso", 1000).await;
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Ok, "{out}");
    assert_eq!(out["receipts"]["kept"], 1, "{out}");
    let (exit, out) = sync(&stack, &token, &state, "fabrikam", None).await;
    assert_eq!(exit, Exit::Usage, "a kept directory stays on its chain: {out}");
    keep_receipt(&state, &theirs);
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "foreign_entry", "{out}");
    assert!(
        out["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("a receipt of chain fabrikam"),
        "{out}"
    );
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_cannot_be_pushed_forward() {
    let _ = captured_logs();
    // Attack 3: the head's last_at set to 9999 once made every later receipt promise a
    // checkpoint by 9999.
    let (stack, dir, state, token) = filed(1).await;
    sweep(&stack).await;
    assert_eq!(sync(&stack, &token, &state, "contoso", None).await.0, Exit::Ok);
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(tables().chain_heads)
        .key("chain", AttributeValue::S("contoso".into()))
        .update_expression("SET last_at = :at, ckpt_shard = :shard")
        .expression_attribute_values(":at", AttributeValue::S("9999-12-31T23:00:00.000Z".into()))
        .expression_attribute_values(":shard", AttributeValue::S("00".into()))
        .send()
        .await
        .unwrap();
    let before = dump_tables(&stack).await;
    // A writer that reads the head (a fresh process: nothing cached) refuses to stamp after it.
    let other = stack.another_instance().await;
    let refused = stack
        .http
        .post(format!("{}/customers/{CUSTOMER}/service-requests", other.base_url()))
        .bearer_auth(&token)
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = refused.json().await.unwrap();
    assert!(!problem.to_string().contains("9999"), "no internals: {problem}");
    assert_eq!(dump_tables(&stack).await, before, "nothing written");
    assert!(
        captured_logs().contains("\"integrity_alarm\":\"ledger\""),
        "the alarm is raised"
    );
    other.stop().await;
    // The signer checks last_at as it checks the head's other fields.
    let report = sweep(&stack).await;
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(
        report.integrity_alarms[0].problem.contains("does not describe"),
        "{report:?}"
    );

    // Receipts: one from the future (as a service with a broken clock would sign it) and one
    // whose deadline is not at + 300 s are refused by the partner and by the auditor.
    let receipts = secrets(&stack).receipt_key;
    let future = Receipt::new(
        &log(),
        &contoso(),
        1,
        ledger::Hash::digest(b"x"),
        "9999-12-31T23:00:00.000Z",
    )
    .unwrap();
    let path = write(
        &state.join("receipts"),
        "future.json",
        &serde_json::to_string(&ReceiptDocument::new(&future, &receipts)).unwrap(),
    );
    let (exit, out) = verify_receipt(&stack, &path, None, None);
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "future_time", "{out}");
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "future_time", "{out}");
    std::fs::remove_file(&path).unwrap();
    let mut late = Receipt::new(
        &log(),
        &contoso(),
        1,
        ledger::Hash::digest(b"x"),
        "2026-12-01T10:00:00.000Z",
    )
    .unwrap();
    late.merge_deadline = "9999-12-31T23:00:00.000Z".into();
    let path = write(&state.join("receipts"), "late.note", &late.sign(&receipts));
    let (exit, out) = verify_receipt(&stack, &path, None, None);
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "malformed", "{out}");
    assert!(
        out["failure"]["message"].as_str().unwrap().contains("merge deadline"),
        "{out}"
    );
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signer_resumes_only_from_its_own_signed_state() {
    // Attack 4a: delete the chain's checkpoint rows, rewrite its entries and head
    // consistently. The signer's copies in the tile bucket say it signed before.
    let (stack, _dir, _state, _token) = filed(2).await;
    sweep(&stack).await;
    for size in checkpoint_sizes(&stack, "contoso").await {
        delete_checkpoint_row(&stack, "contoso", size).await;
    }
    rewrite_from(&stack, 1).await;
    let report = sweep(&stack).await;
    assert!(
        !report.checkpoints.iter().any(|c| c.starts_with("contoso@")),
        "{report:?}"
    );
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(
        report.integrity_alarms[0].problem.contains("does not describe"),
        "{report:?}"
    );
    // It resumed from its own copy, and put the row it signed back for the API to serve.
    assert_eq!(checkpoint_sizes(&stack, "contoso").await, [3]);

    // Attack 4b: the stored state edited to match a rewrite (its columns, or the signed state
    // itself), and one entry appended on top.
    for edit in ["state", "columns"] {
        let (stack, _dir, _state, token) = filed(2).await;
        sweep(&stack).await;
        let size = *checkpoint_sizes(&stack, "contoso").await.last().unwrap();
        let rewritten = rewrite_from(&stack, 1).await;
        let head = head_of("contoso", &rewritten);
        let client = stack.dynamodb().await;
        let update = client
            .update_item()
            .table_name(tables().checkpoints)
            .key("chain", AttributeValue::S("contoso".into()))
            .key("size", AttributeValue::N(size.to_string()));
        let update = match edit {
            // The signed state, its root and frontier lines swapped for the rewrite's.
            "state" => {
                let item = client
                    .get_item()
                    .table_name(tables().checkpoints)
                    .key("chain", AttributeValue::S("contoso".into()))
                    .key("size", AttributeValue::N(size.to_string()))
                    .send()
                    .await
                    .unwrap()
                    .item
                    .unwrap();
                let AttributeValue::S(state) = &item["state"] else {
                    panic!()
                };
                let (body, signature) = state.split_once("\n\n").unwrap();
                let mut forged: Vec<String> = body
                    .lines()
                    .filter(|l| !l.starts_with("frontier ") && !l.starts_with("root ") && !l.starts_with("last "))
                    .map(str::to_owned)
                    .collect();
                forged.push(format!("root {}", head.root().to_base64()));
                forged.push(format!(
                    "last {} {} v2",
                    head.last_hash.to_hex(),
                    ledger::entry::format_at(&head.last_at.unwrap())
                ));
                forged.extend(head.frontier.nodes().iter().map(|n| format!("frontier {}", n.to_hex())));
                let forged = format!("{}\n\n{signature}", forged.join("\n"));
                update
                    .update_expression("SET #state = :state")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":state", AttributeValue::S(forged))
            }
            // A row as the signer wrote them before states were signed, describing the rewrite.
            _ => update
                .update_expression("REMOVE #state SET root = :root, frontier = :frontier, last_hash = :hash")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":root", AttributeValue::S(head.root().to_base64()))
                .expression_attribute_values(
                    ":frontier",
                    AttributeValue::L(
                        head.frontier
                            .nodes()
                            .iter()
                            .map(|n| AttributeValue::S(n.to_hex()))
                            .collect(),
                    ),
                )
                .expression_attribute_values(":hash", AttributeValue::S(head.last_hash.to_hex())),
        };
        update.send().await.unwrap();
        stack.create(&token, &body()).await;
        let report = sweep(&stack).await;
        assert!(
            !report.checkpoints.iter().any(|c| c.starts_with("contoso@")),
            "{edit}: {report:?}"
        );
        assert_eq!(report.integrity_alarms.len(), 1, "{edit}: {report:?}");
        assert!(
            report.integrity_alarms[0].problem.contains("does not link"),
            "{edit}: {report:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_state_is_resumed_over_and_a_from_scratch_rewrite_is_caught_by_whoever_kept_a_checkpoint() {
    let (stack, _dir, state, token) = filed(1).await;
    sweep(&stack).await;
    stack.create(&token, &body()).await;
    sweep(&stack).await;
    assert_eq!(sync(&stack, &token, &state, "contoso", None).await.0, Exit::Ok);
    let sizes = checkpoint_sizes(&stack, "contoso").await;
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    // The latest row deleted: the signer would resume from the older one, and sign over a
    // rewrite of what came after it.
    delete_checkpoint_row(&stack, "contoso", sizes[1]).await;
    rewrite_from(&stack, sizes[0] as usize).await;
    let report = sweep(&stack).await;
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(
        report.integrity_alarms[0].problem.contains("does not describe"),
        "{report:?}"
    );
    assert_eq!(checkpoint_sizes(&stack, "contoso").await, sizes, "the row restored");

    // Everything the signer kept deleted too — rows and copies — and the chain rewritten from
    // scratch: the signer cannot know (FORMAT.md §15, threat model). The partner who kept a
    // checkpoint does: the new history does not extend it.
    for size in checkpoint_sizes(&stack, "contoso").await {
        delete_checkpoint_row(&stack, "contoso", size).await;
    }
    let s3 = stack.s3();
    let copies = s3
        .list_object_versions()
        .bucket(local::TILE_BUCKET)
        .prefix("checkpoints/contoso/")
        .send()
        .await
        .unwrap();
    assert_eq!(copies.versions().len(), 2, "a copy of each signed checkpoint");
    for object in copies.versions() {
        s3.delete_object()
            .bucket(local::TILE_BUCKET)
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    rewrite_from(&stack, 1).await;
    // (Ours refuses it — no kept receipts —; an operator's own signer signs it.)
    let report = operator_sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty(), "{report:?}");
    assert!(
        report.checkpoints.iter().any(|c| c.starts_with("contoso@")),
        "{report:?}"
    );
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert!(
        ["fork", "modified"].contains(&out["failure"]["kind"].as_str().unwrap()),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_judged_when_the_log_withholds_its_checkpoint_or_fails() {
    // Attack 5: drop a promised entry, then answer 404 (or nothing) for the checkpoint.
    let (stack, dir, state, token) = filed(1).await;
    sweep(&stack).await;
    assert_eq!(sync(&stack, &token, &state, "contoso", None).await.0, Exit::Ok);
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
    for size in checkpoint_sizes(&stack, "contoso").await {
        delete_checkpoint_row(&stack, "contoso", size).await;
    }
    assert_eq!(
        stack.get("/ledger/checkpoint", &token).await.status,
        StatusCode::NOT_FOUND
    );
    // Within the merge delay nothing can be judged: exit 2, the log's refusal said.
    let (exit, out) = sync(
        &stack,
        &token,
        &state,
        "contoso",
        Some(at + chrono::Duration::minutes(1)),
    )
    .await;
    assert_eq!(exit, Exit::Usage, "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("404"), "{out}");
    // After it, the kept state is enough: the promise was broken, whatever the log says.
    let (exit, out) = sync(
        &stack,
        &token,
        &state,
        "contoso",
        Some(at + chrono::Duration::minutes(10)),
    )
    .await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "broken_promise", "{out}");
    assert_eq!(out["failure"]["seq"], seq);
    assert!(
        out["failure"]["message"].as_str().unwrap().contains("did not answer"),
        "{out}"
    );
    // And a log that does not answer at all.
    let mut args = sync_args(&stack, &token, &state, None);
    args.api = "http://127.0.0.1:9".into();
    args.now = Some(at + chrono::Duration::minutes(10));
    let (exit, out) = run_sync(args).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "broken_promise", "{out}");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commitment_where_no_personal_value_belongs_is_refused_by_everyone() {
    // Attack 6: an sla_breached entry whose change is a commitment, then an erasure naming
    // it: the breach could never be proven again.
    let (stack, dir, state, token) = filed(1).await;
    sweep(&stack).await;
    assert_eq!(sync(&stack, &token, &state, "contoso", None).await.0, Exit::Ok);
    let lines = chain_lines(&stack, "contoso").await;
    let head = head_of("contoso", &lines);
    let at = ledger::entry::format_at(&chrono::Utc::now());
    let hidden = ledger::Hash::digest(b"the breach");
    let request = EntryRef::parse(lines[1].as_bytes()).unwrap();
    let request_id: Value = serde_json::from_slice::<Value>(request.data).unwrap()["requestId"].clone();
    let (breach, head) = forge(
        &head,
        &at,
        "sla_breached",
        &json!({ "change": { "commitment": hidden.to_hex() }, "requestId": request_id, "version": 2 }),
    );
    let (erasure, head) = forge(
        &head,
        &at,
        "personal_data_erased",
        &json!({ "actor": { "role": "privacy_officer" }, "commitments": [hidden.to_hex()], "legalBasis": "gdpr_art_17_1_a", "requestId": request_id }),
    );
    put_entry(&stack, &breach).await;
    put_entry(&stack, &erasure).await;
    set_head(&stack, &head).await;
    // The signer refuses to sign it.
    let report = sweep(&stack).await;
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(
        report.integrity_alarms[0].problem.contains("no personal value belongs"),
        "{report:?}"
    );
    // The auditor's verify refuses the export.
    let export = write(
        dir.path(),
        "export.jsonl",
        &joined(&chain_lines(&stack, "contoso").await),
    );
    let verified = ledger_cli::commands::verify(ledger_cli::commands::VerifyArgs {
        export: &export,
        keys: std::slice::from_ref(&stack.running.public_key),
        log: None,
        checkpoints: &[],
        disclosures: None,
        chain: None,
        allow_uncovered: true,
        json: true,
        now: None,
        witnesses: None,
    })
    .unwrap();
    let out: Value = serde_json::from_str(&verified.stdout).unwrap();
    assert_eq!(verified.exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "misplaced_commitment", "{out}");
    assert_eq!(out["failure"]["seq"], lines.len());
    // And a partner's sync refuses it even under a valid signature (as an older signer would
    // have given it).
    let note = head.sign_checkpoint(local::LOG_NAME, &secrets(&stack).signing_key);
    stack
        .dynamodb()
        .await
        .put_item()
        .table_name(tables().checkpoints)
        .item("chain", AttributeValue::S("contoso".into()))
        .item("size", AttributeValue::N(head.size.to_string()))
        .item("note", AttributeValue::S(note))
        .item("root", AttributeValue::S(head.root().to_base64()))
        .send()
        .await
        .unwrap();
    let fresh = dir.path().join("fresh");
    let (exit, out) = sync(&stack, &token, &fresh, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "misplaced_commitment", "{out}");
    assert_eq!(out["failure"]["seq"], lines.len());
    drop(state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nothing_is_new_the_spot_check_recomputes_the_hash() {
    let (stack, _dir, state, token) = filed(1).await;
    sweep(&stack).await;
    assert_eq!(sync(&stack, &token, &state, "contoso", None).await.0, Exit::Ok);
    // The last entry altered in place, its claimed hash left as it was.
    let lines = chain_lines(&stack, "contoso").await;
    let last = lines.last().unwrap();
    let altered = last.replacen("\"severity\":\"A\"", "\"severity\":\"C\"", 1);
    assert_ne!(&altered, last);
    put_entry(&stack, &altered).await;
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "modified", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_kept_as_a_partner_would_keep_them() {
    let stack = Stack::start_with(&[("contoso", CUSTOMER)]).await;
    let token = stack.partner_token("contoso");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("contoso");
    // The first sync makes receipts/ (no checkpoint is signed yet: the log says 404).
    let (exit, _) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Usage);
    assert!(state.join("receipts").is_dir());
    let receipts = state.join("receipts");
    // Each form: the object as the API returns it (`jq .receipt`), the note as a JSON string
    // (`jq .receipt.note`), the bare note (`jq -j .receipt.note`).
    for form in 0..3 {
        let reply = stack
            .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &body())
            .await;
        let receipt = &reply.body["receipt"];
        let text = match form {
            0 => format!("{}\n", serde_json::to_string_pretty(receipt).unwrap()),
            1 => format!("{}\n", receipt["note"]),
            _ => receipt["note"].as_str().unwrap().to_owned(),
        };
        write(&receipts, &format!("{form}.receipt"), &text);
    }
    write(&receipts, "README.md", "# The receipts of our writes\n");
    std::fs::create_dir(receipts.join("archive")).unwrap();
    sweep(&stack).await;
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Ok, "{out}");
    assert_eq!(out["receipts"]["kept"], 3, "{out}");
    assert_eq!(out["receipts"]["skipped"], 1, "{out}");
    assert_eq!(
        out["receipts"]["skippedFiles"][0]["file"], "receipts/README.md",
        "{out}"
    );
    // A file meant as a receipt that cannot be checked (here the API's object with a member
    // more) is evidence, not clutter: a log could otherwise hand out receipts nobody judges.
    let reply = stack
        .post(&format!("/customers/{CUSTOMER}/service-requests"), &token, &body())
        .await;
    let mut receipt = reply.body["receipt"].clone();
    receipt["extra"] = json!(1);
    write(&receipts, "4.receipt", &receipt.to_string());
    let (exit, out) = sync(&stack, &token, &state, "contoso", None).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "malformed", "{out}");
    assert!(
        out["failure"]["message"].as_str().unwrap().contains("4.receipt"),
        "{out}"
    );
}

/// The signer's copies of `chain` in the tile bucket: their keys, oldest first.
pub(crate) async fn copies(stack: &Stack, chain: &str) -> Vec<String> {
    let listed = stack
        .s3()
        .list_object_versions()
        .bucket(local::TILE_BUCKET)
        .prefix(format!("checkpoints/{chain}/"))
        .send()
        .await
        .unwrap();
    listed.versions().iter().map(|v| v.key().unwrap().to_owned()).collect()
}

pub(crate) async fn delete_object(stack: &Stack, key: &str) {
    stack
        .s3()
        .delete_object()
        .bucket(local::TILE_BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
}

async fn strip(stack: &Stack, chain: &str, size: u64, attributes: &str) {
    stack
        .dynamodb()
        .await
        .update_item()
        .table_name(tables().checkpoints)
        .key("chain", AttributeValue::S(chain.into()))
        .key("size", AttributeValue::N(size.to_string()))
        .update_expression(format!("REMOVE {attributes}"))
        .expression_attribute_names("#s", "state")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signers_copies_are_kept_and_cannot_be_padded_out_of_sight() {
    let (stack, _dir, _state, token) = filed(1).await;
    sweep(&stack).await;
    assert_eq!(
        copies(&stack, "contoso").await,
        ["checkpoints/contoso/00000000000000000002"]
    );
    // A run that stops between the copy and the row leaves a copy newer than the table: the
    // next run resumes from it and restores the row.
    delete_checkpoint_row(&stack, "contoso", 2).await;
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty(), "{report:?}");
    assert_eq!(checkpoint_sizes(&stack, "contoso").await, [2, 3]);
    assert_eq!(
        copies(&stack, "contoso").await,
        [
            "checkpoints/contoso/00000000000000000002",
            "checkpoints/contoso/00000000000000000003"
        ]
    );
    // A copy missing for a row with a signed state was taken away (it is written first).
    delete_object(&stack, "checkpoints/contoso/00000000000000000003").await;
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(report.integrity_alarms[0].problem.contains("missing"), "{report:?}");
    // Objects under the signer's prefix that are no copies (which could push the real ones
    // out of a listing's page) are an alarm.
    stack
        .s3()
        .put_object()
        .bucket(local::TILE_BUCKET)
        .key("checkpoints/fabrikam/00000000000000000001x")
        .body(b"padding".to_vec().into())
        .send()
        .await
        .unwrap();
    stack.create(&stack.partner_token("fabrikam"), &body()).await;
    let report = sweep(&stack).await;
    let fabrikam: Vec<_> = report
        .integrity_alarms
        .iter()
        .filter(|a| a.chain == "fabrikam")
        .collect();
    assert_eq!(fabrikam.len(), 1, "{report:?}");
    assert!(fabrikam[0].problem.contains("no copy"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_stripped_of_its_signed_state_changes_nothing_and_an_old_row_must_be_reached() {
    // A row stripped of its signed state: the signer resumes from its copy and signs on.
    let (stack, _dir, _state, token) = filed(2).await;
    sweep(&stack).await;
    strip(&stack, "contoso", 3, "#s").await;
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty(), "{report:?}");
    assert!(report.checkpoints.contains(&"contoso@4".to_owned()), "{report:?}");

    // A row from before states were signed (no copies, no frontier): the signer replays the
    // chain from its start, and a chain rewritten shorter than that checkpoint never reaches
    // it — an alarm, not a checkpoint of the shorter history.
    let (stack, _dir, _state, _token) = filed(3).await;
    sweep(&stack).await;
    for key in copies(&stack, "contoso").await {
        delete_object(&stack, &key).await;
    }
    strip(&stack, "contoso", 4, "#s, frontier").await;
    let lines = chain_lines(&stack, "contoso").await;
    for seq in 3..lines.len() as u64 {
        delete_entry(&stack, "contoso", seq).await;
    }
    set_head(&stack, &head_of("contoso", &lines[..3])).await;
    let report = sweep(&stack).await;
    assert!(
        !report.checkpoints.iter().any(|c| c.starts_with("contoso@")),
        "{report:?}"
    );
    assert_eq!(report.integrity_alarms.len(), 1, "{report:?}");
    assert!(
        report.integrity_alarms[0].problem.contains("checkpoint of 4"),
        "{report:?}"
    );
}

/// Attack 8: answers given again. An idempotent retry and a relationship PUT that changes
/// nothing answer with the receipt of an entry named in a table (the idempotency record, the
/// relationship item). The operator forges a tail entry and points those at it: no answer
/// carries a receipt for it — none is signed from the tables, and an entry that is not the
/// answer's, or lacks its kept receipt, or has another's, is an integrity alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_what_an_answer_names_gets_no_receipt_for_a_forged_entry() {
    let stack = Stack::start().await;
    let token = stack.partner_token("contoso");
    let admin = stack.token(local::token::TokenRole::Admin, None, "onboarding@vendor");
    let path = format!("/customers/{CUSTOMER}/service-requests");
    let key = [("idempotency-key", "forged-retry-1")];
    let first = stack
        .send(reqwest::Method::POST, &path, Some(&token), Some(&body()), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let genuine = first.body["receipt"].clone();
    assert!(genuine["note"].is_string());
    let retry = stack
        .send(reqwest::Method::POST, &path, Some(&token), Some(&body()), &key)
        .await;
    assert_eq!(retry.body["receipt"], genuine, "a retry: the kept receipt");
    let relationship = format!("/relationships/contoso/{CUSTOMER}");
    let again = || async {
        stack
            .send(
                reqwest::Method::PUT,
                &relationship,
                Some(&admin),
                Some(&json!({ "status": "active" })),
                &[],
            )
            .await
    };
    let unchanged = again().await;
    assert_eq!(unchanged.status, StatusCode::OK, "{}", unchanged.body);
    let relationship_receipt = unchanged.body["receipt"].clone();
    assert!(relationship_receipt["note"].is_string(), "{}", unchanged.body);

    // The forged tail entry, the head moved over it.
    let lines = chain_lines(&stack, "contoso").await;
    let head = head_of("contoso", &lines);
    let at = ledger::entry::format_at(&stack.running.now().datetime());
    let (line, next) = forge(
        &head,
        &at,
        "created",
        &json!({ "requestId": "forged", "billable": false }),
    );
    put_entry(&stack, &line).await;
    set_head(&stack, &next).await;
    let forged = EntryRef::parse(line.as_bytes()).unwrap();
    let dynamodb = stack.dynamodb().await;
    let records = dynamodb
        .scan()
        .table_name(tables().idempotency)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(records.len(), 1);
    let points = [
        ("entry_seq", AttributeValue::N(forged.seq.to_string())),
        ("entry_hash", AttributeValue::S(forged.hash.to_hex())),
        ("entry_at", AttributeValue::S(forged.at.to_owned())),
    ];
    let mut update = dynamodb
        .update_item()
        .table_name(tables().idempotency)
        .key("pk", records[0]["pk"].clone())
        .update_expression("SET entry_seq = :s, entry_hash = :h, entry_at = :a");
    let mut relationship_update = dynamodb
        .update_item()
        .table_name(tables().relationships)
        .key("partner", AttributeValue::S("contoso".into()))
        .key("customer", AttributeValue::S(CUSTOMER.into()))
        .update_expression("SET entry_seq = :s, entry_hash = :h, entry_at = :a");
    for (name, value) in points {
        let placeholder = match name {
            "entry_seq" => ":s",
            "entry_hash" => ":h",
            _ => ":a",
        };
        update = update.expression_attribute_values(placeholder, value.clone());
        relationship_update = relationship_update.expression_attribute_values(placeholder, value);
    }
    update.send().await.unwrap();
    relationship_update.send().await.unwrap();

    // Not the entry of the answer (another kind, no request), and no kept receipt: an
    // integrity alarm (a 503, as every ledger integrity alarm), and no receipt.
    let retry = stack
        .send(reqwest::Method::POST, &path, Some(&token), Some(&body()), &key)
        .await;
    assert_eq!(retry.status, StatusCode::SERVICE_UNAVAILABLE, "{}", retry.body);
    assert!(retry.body.get("receipt").is_none(), "{}", retry.body);
    let unchanged = again().await;
    assert_eq!(unchanged.status, StatusCode::SERVICE_UNAVAILABLE, "{}", unchanged.body);
    assert!(unchanged.body.get("receipt").is_none(), "{}", unchanged.body);
    // The genuine entry's receipt moved onto the forgery: an integrity alarm (a 503, as every
    // ledger integrity alarm), no receipt.
    dynamodb
        .update_item()
        .table_name(tables().ledger)
        .key("chain", AttributeValue::S("contoso".into()))
        .key("seq", AttributeValue::N(forged.seq.to_string()))
        .update_expression("SET receipt = :r")
        .expression_attribute_values(":r", AttributeValue::S(genuine["note"].as_str().unwrap().into()))
        .send()
        .await
        .unwrap();
    let retry = stack
        .send(reqwest::Method::POST, &path, Some(&token), Some(&body()), &key)
        .await;
    assert_eq!(retry.status, StatusCode::SERVICE_UNAVAILABLE, "{}", retry.body);
    assert!(retry.body.get("receipt").is_none());
    assert_eq!(again().await.status, StatusCode::SERVICE_UNAVAILABLE);
}
