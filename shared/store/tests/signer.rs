//! The signer's memory, against a real DynamoDB-compatible server (and, where the signer keeps
//! its copies, the embedded S3): what it resumes a chain from when an operator with table and
//! bucket access deletes, strips, swaps or rolls back what it stored (FORMAT.md §6.1), rows
//! from before it signed its states, and faults injected on a schedule (an SDK interceptor
//! that fails exactly the requests it is told to, every time) that must leave a chain for the
//! next run, never raise a false alarm or fail the whole run.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use ledger::merkle::{TreeSize, verify_consistency};
use ledger::{ChainId, Checkpoint};
use store::embedded::EmbeddedS3;
use store::{EntryTileBucket, SignReport, Store};

const BUCKET: &str = "signer-tiles";

fn key() -> ledger::SignerKey {
    ledger::SignerKey::from_seed("store-signer-test", [5; 32]).unwrap()
}

/// `n` requests filed for `partner`, `from` minutes after t0.
async fn seed(h: &Harness, partner: &str, n: usize, from: i64) {
    for i in 0..n {
        let (request, event) = open(partner, CUSTOMER_A, "B", "azure", t0() + minutes(from + i as i64));
        h.store.create_request(&request, &event, None).await.unwrap();
    }
}

async fn sign_with(store: &Store) -> SignReport {
    let report = store
        .sign_grown_chains(&key(), &log(), domain::Timestamp::from(t0() + minutes(600)))
        .await
        .expect("a signing run that fails for one chain must not fail the run");
    assert!(
        report.unwitnessed.is_empty(),
        "no witnesses are configured: nothing is unwitnessed: {report:?}"
    );
    report
}

/// `n` more entries in `partner`'s chain, fast: relationships with new customers, as many
/// as one transaction takes at a time (each is one `relationship_changed` entry).
async fn grow(h: &Harness, partner: &str, n: usize) {
    let at = domain::Timestamp::from(t0() + minutes(30));
    let mut left = n;
    let mut customer = 0u64;
    while left > 0 {
        let batch: Vec<store::Relationship> = (0..left.min(store::RELATIONSHIPS_PER_TRANSACTION))
            .map(|_| {
                customer += 1;
                store::Relationship {
                    partner_id: domain::PartnerId::parse(partner).unwrap(),
                    customer_id: domain::CustomerId::parse(&format!("00000000-0000-4000-8000-{customer:012x}"))
                        .unwrap(),
                    since: at,
                    status: store::RelationshipStatus::Active,
                    updated_at: at,
                    entry: None,
                    based_on: None,
                    ended_seq: None,
                }
            })
            .collect();
        left -= batch.len();
        h.store.save_relationships(&batch, &agent()).await.unwrap();
    }
}

/// The signer with its copies in an embedded S3 of its own.
struct WithCopies {
    store: Store,
    s3: EmbeddedS3,
    _dir: tempfile::TempDir,
}

async fn with_copies(h: &Harness) -> WithCopies {
    let dir = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start("127.0.0.1:0".parse().unwrap(), dir.path())
        .await
        .unwrap();
    let store = Store::new(h.client.clone(), h.tables.clone())
        .with_cursor_key(cursor_key())
        .with_entry_tiles(EntryTileBucket::new(
            store::s3_at(s3.endpoint(), "eu-central-1"),
            BUCKET,
        ));
    store.create_entry_tile_bucket().await.unwrap();
    WithCopies { store, s3, _dir: dir }
}

impl WithCopies {
    async fn delete_copy(&self, chain: &str, size: u64) {
        store::s3_at(self.s3.endpoint(), "eu-central-1")
            .delete_object()
            .bucket(BUCKET)
            .key(format!("checkpoints/{chain}/{size:020}"))
            .send()
            .await
            .unwrap();
    }
}

/// The sizes of `chain`'s checkpoint rows, ascending.
async fn rows(h: &Harness, chain: &str) -> Vec<u64> {
    let mut sizes: Vec<u64> = h
        .scan(&h.tables.checkpoints)
        .await
        .into_iter()
        .filter(|item| item["chain"] == AttributeValue::S(chain.into()))
        .map(|item| item["size"].as_n().unwrap().parse().unwrap())
        .collect();
    sizes.sort_unstable();
    sizes
}

async fn row(h: &Harness, chain: &str, size: u64) -> std::collections::HashMap<String, AttributeValue> {
    h.client
        .get_item()
        .table_name(&h.tables.checkpoints)
        .key("chain", AttributeValue::S(chain.into()))
        .key("size", AttributeValue::N(size.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the row")
}

async fn delete_row(h: &Harness, chain: &str, size: u64) {
    h.client
        .delete_item()
        .table_name(&h.tables.checkpoints)
        .key("chain", AttributeValue::S(chain.into()))
        .key("size", AttributeValue::N(size.to_string()))
        .send()
        .await
        .unwrap();
}

/// `UPDATE` the row of `chain` at `size` as an operator with table access would.
async fn edit_row(h: &Harness, chain: &str, size: u64, expression: &str, values: &[(&str, AttributeValue)]) {
    let mut update = h
        .client
        .update_item()
        .table_name(&h.tables.checkpoints)
        .key("chain", AttributeValue::S(chain.into()))
        .key("size", AttributeValue::N(size.to_string()))
        .update_expression(expression)
        .set_expression_attribute_names(
            expression
                .contains("#state")
                .then(|| std::collections::HashMap::from([("#state".to_owned(), "state".to_owned())])),
        );
    for (name, value) in values {
        update = update.expression_attribute_values(*name, value.clone());
    }
    update.send().await.unwrap();
}

/// Turn the row of `chain` at `size` into one as the signer wrote them before it signed its
/// states: no `state`; the frontier column `frontier` (hex), or none (older still).
async fn make_legacy(h: &Harness, chain: &str, size: u64, frontier: Option<Vec<String>>) {
    match frontier {
        Some(nodes) => {
            let nodes = AttributeValue::L(nodes.into_iter().map(AttributeValue::S).collect());
            edit_row(h, chain, size, "REMOVE #state SET frontier = :f", &[(":f", nodes)]).await;
        }
        None => edit_row(h, chain, size, "REMOVE #state", &[]).await,
    }
}

fn honest_frontier(lines: &[String]) -> Vec<String> {
    frontier_of(lines).nodes().iter().map(|n| n.to_hex()).collect()
}

/// A harness whose partner-a has `n` entries, signed (no tile bucket).
async fn signed(n: usize) -> Harness {
    let h = Harness::new().await;
    seed(&h, "partner-a", n, 0).await;
    sign_with(&h.store).await;
    h
}

/// partner-a with 3 entries signed, its row turned into one from before signed states:
/// with its honest frontier column, or (older still) none.
async fn legacy(frontier: bool) -> Harness {
    let h = signed(3).await;
    let lines = h.export("partner-a").await;
    make_legacy(&h, "partner-a", 3, frontier.then(|| honest_frontier(&lines))).await;
    h
}

fn signed_chains(report: &SignReport) -> Vec<(String, u64)> {
    let mut signed: Vec<_> = report.signed.iter().map(|c| (c.chain.to_string(), c.size)).collect();
    signed.sort();
    signed
}

/// `partner-a` grown by one entry and signed by `store`: its one alarm, which must say `says`
/// (`context` names the case in a failure).
async fn grown_into_alarm(h: &Harness, store: &Store, says: &str, context: &str) {
    seed(h, "partner-a", 1, 10).await;
    let report = sign_with(store).await;
    let problem = one_alarm(&report, "partner-a");
    assert!(problem.contains(says), "{context}: {problem}");
}

fn one_alarm<'r>(report: &'r SignReport, chain: &str) -> &'r str {
    assert_eq!(report.alarms.len(), 1, "{report:?}");
    assert_eq!(report.alarms[0].chain.as_str(), chain, "{report:?}");
    assert!(
        !report.signed.iter().any(|c| c.chain.as_str() == chain),
        "nothing is signed for a chain with an alarm: {report:?}"
    );
    &report.alarms[0].problem
}

/// The checkpoint `to` of `chain` (its stored row) extends the checkpoint `from`.
async fn consistent(h: &Harness, chain: &str, from: u64, to: u64) {
    let id = ChainId::parse(chain).unwrap();
    let open = |note: &str| Checkpoint::open_pinned(note, &trusted(&key()), &log()).unwrap().0;
    let old = open(&h.store.checkpoint_at(&id, from).await.unwrap().unwrap().note);
    let new = open(&h.store.checkpoint_at(&id, to).await.unwrap().unwrap().note);
    let proof = h.store.consistency_proof(&id, from, to).await.unwrap();
    verify_consistency(
        TreeSize(from),
        TreeSize(to),
        old.root.as_bytes(),
        new.root.as_bytes(),
        &proof,
    )
    .unwrap_or_else(|e| panic!("{chain}@{to} does not extend {chain}@{from}: {e:?}"));
}

#[tokio::test]
async fn a_deleted_row_is_put_back_from_the_signers_copy_byte_for_byte() {
    let h = Harness::new().await;
    let signer = with_copies(&h).await;
    seed(&h, "partner-a", 3, 0).await;
    sign_with(&signer.store).await;
    seed(&h, "partner-a", 1, 10).await;
    sign_with(&signer.store).await;
    assert_eq!(rows(&h, "partner-a").await, [3, 4]);
    let note_4 = row(&h, "partner-a", 4).await["note"].clone();

    // The latest row deleted: the signer resumes from its copy of 4 (newer than the table's
    // latest row, 3), puts row 4 back as it signed it, and signs on.
    delete_row(&h, "partner-a", 4).await;
    seed(&h, "partner-a", 1, 20).await;
    let report = sign_with(&signer.store).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(signed_chains(&report), [("partner-a".to_owned(), 5)]);
    assert_eq!(rows(&h, "partner-a").await, [3, 4, 5]);
    assert_eq!(row(&h, "partner-a", 4).await["note"], note_4);
    consistent(&h, "partner-a", 4, 5).await;

    // Every row deleted: the newest copy is put back and signed on from.
    for size in [3, 4, 5] {
        delete_row(&h, "partner-a", size).await;
    }
    seed(&h, "partner-a", 1, 30).await;
    let report = sign_with(&signer.store).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(rows(&h, "partner-a").await, [5, 6]);
    consistent(&h, "partner-a", 5, 6).await;
}

#[tokio::test]
async fn a_row_stripped_of_its_state_whose_copy_is_gone_is_an_alarm() {
    // Without Object Lock (the local run's bucket), an operator removes the newest copy and
    // strips the row's signed state: the row then looks like one from before states were
    // signed. The older copies say the signer kept states of this chain: an alarm.
    let h = Harness::new().await;
    let signer = with_copies(&h).await;
    seed(&h, "partner-a", 3, 0).await;
    sign_with(&signer.store).await;
    seed(&h, "partner-a", 1, 10).await;
    sign_with(&signer.store).await;
    signer.delete_copy("partner-a", 4).await;
    make_legacy(&h, "partner-a", 4, Some(honest_frontier(&h.export("partner-a").await))).await;
    seed(&h, "partner-a", 1, 20).await;
    let report = sign_with(&signer.store).await;
    let problem = one_alarm(&report, "partner-a");
    assert!(
        problem.contains("has no signed state, though the signer has kept signed states"),
        "{problem}"
    );
    assert_eq!(rows(&h, "partner-a").await, [3, 4]);
}

#[tokio::test]
async fn a_row_holding_another_chains_checkpoint_is_refused() {
    // No tile bucket: the table's row is all the signer has. partner-b's row (note, root and
    // signed state, all genuinely signed) copied over partner-a's row of the same size.
    let h = Harness::new().await;
    seed(&h, "partner-a", 2, 0).await;
    seed(&h, "partner-b", 2, 0).await;
    assert_eq!(sign_with(&h.store).await.signed.len(), 2);
    let theirs = row(&h, "partner-b", 2).await;
    let swapped = [
        (":n", theirs["note"].clone()),
        (":r", theirs["root"].clone()),
        (":s", theirs["state"].clone()),
    ];
    edit_row(&h, "partner-a", 2, "SET note = :n, root = :r, #state = :s", &swapped).await;
    grown_into_alarm(&h, &h.store, "does not match the note it holds", "grown").await;

    // Its own note, with another root in the root column: refused too.
    let h = Harness::new().await;
    seed(&h, "partner-a", 2, 0).await;
    seed(&h, "partner-b", 2, 0).await;
    sign_with(&h.store).await;
    let theirs = row(&h, "partner-b", 2).await;
    edit_row(&h, "partner-a", 2, "SET root = :r", &[(":r", theirs["root"].clone())]).await;
    grown_into_alarm(&h, &h.store, "does not match the note it holds", "grown").await;
}

#[tokio::test]
async fn a_row_from_before_signed_states_is_resumed_from_what_its_signature_proves() {
    // A frontier that folds to the signed root, and no frontier at all (older still): both
    // resume, and what is signed next extends what was signed.
    for frontier in [true, false] {
        let h = legacy(frontier).await;
        seed(&h, "partner-a", 1, 10).await;
        let report = sign_with(&h.store).await;
        assert!(report.alarms.is_empty(), "frontier {frontier}: {report:?}");
        assert_eq!(
            signed_chains(&report),
            [("partner-a".to_owned(), 4)],
            "frontier {frontier}"
        );
        consistent(&h, "partner-a", 3, 4).await;
        // The new row carries a signed state again.
        assert!(matches!(
            row(&h, "partner-a", 4).await.get("state"),
            Some(AttributeValue::S(_))
        ));
    }
}

/// In a deployment upgraded to kept receipts, a row older than signed states (no frontier)
/// makes the signer read its chain again from the start, long after the upgrade window: the
/// entries from before the upgrade that the row's checkpoint covers have no receipts, and are
/// not taken for backdated ones — the checkpoint signed them, and they hash to its root.
#[tokio::test]
async fn entries_from_before_the_upgrade_that_a_signed_checkpoint_covers_need_no_receipt() {
    let h = legacy(false).await;
    let receipt_key = ledger::SignerKey::from_seed("receipts", [9; 32]).unwrap();
    let upgrade = t0() + minutes(60);
    let signer = checking(&h, &receipt_key, Some(upgrade));
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", upgrade + minutes(10));
    signer.create_request(&request, &event, None).await.unwrap();
    let long_after = domain::Timestamp::from(upgrade + chrono::Duration::days(30));
    let report = signer.sign_grown_chains(&key(), &log(), long_after).await.unwrap();
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(signed_chains(&report), [("partner-a".to_owned(), 4)]);
    consistent(&h, "partner-a", 3, 4).await;

    // The same chain without that row's signature to lean on (its row gone, and the signer's
    // copy with it: the signer starts from nothing): entries without receipts stamped before
    // the upgrade are no longer any checkpoint's, and past the window they are an alarm.
    let h = legacy(false).await;
    delete_row(&h, "partner-a", 3).await;
    let signer = checking(&h, &receipt_key, Some(upgrade));
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", upgrade + minutes(10));
    signer.create_request(&request, &event, None).await.unwrap();
    let report = signer.sign_grown_chains(&key(), &log(), long_after).await.unwrap();
    let problem = one_alarm(&report, "partner-a");
    assert!(
        problem.contains("entry seq 0 has no kept receipt") && problem.contains("backdated"),
        "{problem}"
    );
}

/// Turns the honest frontier's nodes (hex) into a doctored frontier column.
type Doctor = fn(Vec<String>) -> Vec<AttributeValue>;

#[tokio::test]
async fn a_legacy_frontier_that_is_not_the_signed_roots_is_refused() {
    let doctored: [(&str, Doctor); 3] = [
        // Another tree's nodes, as many as the honest frontier has.
        ("other nodes", |nodes| {
            nodes
                .iter()
                .map(|n| AttributeValue::S(ledger::Hash::digest(n.as_bytes()).to_hex()))
                .collect()
        }),
        // One node that is no hash.
        ("not a hash", |nodes| {
            let mut out: Vec<_> = nodes.into_iter().map(AttributeValue::S).collect();
            out[0] = AttributeValue::S("zz".into());
            out
        }),
        // One node of another type.
        ("not a string", |nodes| {
            let mut out: Vec<_> = nodes.into_iter().map(AttributeValue::S).collect();
            out[0] = AttributeValue::N("1".into());
            out
        }),
    ];
    for (what, doctor) in doctored {
        let h = signed(3).await;
        let nodes = doctor(honest_frontier(&h.export("partner-a").await));
        edit_row(
            &h,
            "partner-a",
            3,
            "REMOVE #state SET frontier = :f",
            &[(":f", AttributeValue::L(nodes))],
        )
        .await;
        grown_into_alarm(&h, &h.store, "is not the frontier of the signed root", what).await;
    }
}

#[tokio::test]
async fn a_legacy_row_over_a_rewritten_history_is_refused() {
    // The operator rewrites the entries under a row from before signed states (with its
    // honest frontier, and without one): the signed root still says what was signed.
    for frontier in [true, false] {
        let h = legacy(frontier).await;
        h.rewrite_from("partner-a", 1).await;
        let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(10));
        h.another_store().create_request(&request, &event, None).await.unwrap();
        let problem = one_alarm(&sign_with(&h.store).await, "partner-a").to_owned();
        assert!(problem.contains("rewritten"), "frontier {frontier}: {problem}");
        assert_eq!(rows(&h, "partner-a").await, [3], "frontier {frontier}");
    }
}

/// How an injected fault fails a request.
#[derive(Debug, Clone, Copy)]
enum FaultKind {
    /// The request never reaches the server (as a dropped connection): retrying may mend it.
    Unreachable,
    /// The server refuses it (its operation made unknown): retrying cannot mend it.
    Refused,
}

/// Fails, every time while armed, each DynamoDB request whose target operation and body
/// contain the given strings: a deterministic fault (no timing, no randomness).
#[derive(Debug)]
struct Fault {
    kind: FaultKind,
    operation: &'static str,
    body_contains: Vec<String>,
    armed: Arc<AtomicBool>,
}

impl Intercept for Fault {
    fn name(&self) -> &'static str {
        "Fault"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let body = request.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
        let hit = self.armed.load(Ordering::SeqCst)
            && target.ends_with(&format!(".{}", self.operation))
            && self.body_contains.iter().all(|s| body.contains(s.as_str()));
        match self.kind {
            _ if !hit => Ok(()),
            FaultKind::Unreachable => Err(format!("injected fault: {}", self.operation).into()),
            FaultKind::Refused => {
                context
                    .request_mut()
                    .headers_mut()
                    .insert("x-amz-target", "DynamoDB_20120810.InjectedFault");
                Ok(())
            }
        }
    }
}

/// A store on the harness's tables whose client fails what `fault` says while `armed`.
fn faulty(h: &Harness, kind: FaultKind, operation: &'static str, body_contains: &[&str]) -> (Store, Arc<AtomicBool>) {
    let armed = Arc::new(AtomicBool::new(true));
    let config = h
        .client
        .config()
        .to_builder()
        .interceptor(Fault {
            kind,
            operation,
            body_contains: body_contains.iter().map(|s| (*s).to_owned()).collect(),
            armed: armed.clone(),
        })
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    (
        Store::new(client, h.tables.clone()).with_cursor_key(cursor_key()),
        armed,
    )
}

#[tokio::test]
async fn a_store_that_fails_for_one_chain_leaves_it_for_the_next_run() {
    let h = Harness::new().await;
    seed(&h, "partner-a", 2, 0).await;
    seed(&h, "partner-b", 2, 0).await;
    // partner-a's checkpoint rows cannot be read (the signer's first read of a chain).
    let (store, armed) = faulty(
        &h,
        FaultKind::Unreachable,
        "Query",
        &[&h.tables.checkpoints, "partner-a"],
    );
    let report = sign_with(&store).await;
    assert!(report.alarms.is_empty(), "a fault is no integrity alarm: {report:?}");
    assert_eq!(signed_chains(&report), [("partner-b".to_owned(), 2)]);
    assert_eq!(rows(&h, "partner-a").await, [] as [u64; 0]);
    // The fault gone, the next run signs the chain it left.
    armed.store(false, Ordering::SeqCst);
    let report = sign_with(&store).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(signed_chains(&report), [("partner-a".to_owned(), 2)]);
}

#[tokio::test]
async fn a_store_error_that_retrying_cannot_mend_fails_the_run() {
    // Not a chain's problem to wait out (a misconfigured table, a bug): the run fails, so
    // that the function's error alarm fires, and nothing is signed for that chain.
    let h = Harness::new().await;
    seed(&h, "partner-a", 2, 0).await;
    let (store, armed) = faulty(&h, FaultKind::Refused, "Query", &[&h.tables.checkpoints, "partner-a"]);
    let failed = store
        .sign_grown_chains(&key(), &log(), domain::Timestamp::from(t0() + minutes(600)))
        .await;
    assert!(matches!(&failed, Err(e) if !e.is_retryable()), "{failed:?}");
    assert_eq!(rows(&h, "partner-a").await, [] as [u64; 0]);
    armed.store(false, Ordering::SeqCst);
    assert_eq!(signed_chains(&sign_with(&store).await), [("partner-a".to_owned(), 2)]);
}

#[tokio::test]
async fn tiles_that_cannot_be_read_now_are_no_proof_of_a_rewrite() {
    // A row from before signed states: the signer proves its last entry from the hash tiles.
    // While the tiles cannot be read, the chain waits for the next run; no alarm.
    let h = legacy(true).await;
    seed(&h, "partner-a", 1, 10).await;
    let (store, armed) = faulty(&h, FaultKind::Unreachable, "BatchGetItem", &[&h.tables.tiles]);
    let report = sign_with(&store).await;
    assert!(report.alarms.is_empty(), "a fault is no integrity alarm: {report:?}");
    assert!(report.signed.is_empty(), "{report:?}");
    armed.store(false, Ordering::SeqCst);
    let report = sign_with(&store).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(signed_chains(&report), [("partner-a".to_owned(), 4)]);
    consistent(&h, "partner-a", 3, 4).await;
}

/// Whether `chain` is marked as grown (waiting for the signer).
async fn marked(h: &Harness, chain: &str) -> bool {
    h.store
        .grown_chains()
        .await
        .unwrap()
        .iter()
        .any(|c| c.as_str() == chain)
}

#[tokio::test]
async fn a_chain_marked_again_without_new_entries_is_left_as_signed() {
    // A run cut off after signing, before it cleared the mark (or a mark set by hand): the
    // next run finds the head as it signed it, signs nothing, and clears the mark.
    let h = signed(3).await;
    assert!(!marked(&h, "partner-a").await);
    h.overwrite_head(&h.head("partner-a").await.unwrap()).await;
    assert!(marked(&h, "partner-a").await);
    let report = sign_with(&h.store).await;
    assert!(report.alarms.is_empty() && report.signed.is_empty(), "{report:?}");
    assert!(!marked(&h, "partner-a").await, "the mark is cleared");
    assert_eq!(rows(&h, "partner-a").await, [3]);
}

/// Alters one member of a chain head.
type HeadDoctor = fn(&mut ledger::ChainHead);

#[tokio::test]
async fn a_head_of_the_signed_size_that_does_not_describe_its_entries_is_an_alarm() {
    let doctored: [(&str, HeadDoctor); 3] = [
        ("last hash", |head| {
            head.last_hash = ledger::Hash::digest(b"another entry")
        }),
        ("frontier", |head| {
            let mut other = ledger::Frontier::new();
            for i in 0..head.size {
                other.push(ledger::Hash::digest(&i.to_be_bytes()));
            }
            head.frontier = other;
        }),
        ("time", |head| {
            head.last_at = head.last_at.map(|at| at + chrono::Duration::seconds(1))
        }),
    ];
    for (what, doctor) in doctored {
        // At the size signed (nothing new to read) and after new entries (read and checked).
        for (grown, says) in [
            (0, "does not describe the entries the last checkpoint covers"),
            (2, "does not describe the entries it follows"),
        ] {
            let h = signed(3).await;
            seed(&h, "partner-a", grown, 10).await;
            let mut head = h.head("partner-a").await.unwrap();
            doctor(&mut head);
            h.overwrite_head(&head).await;
            let problem = one_alarm(&sign_with(&h.store).await, "partner-a").to_owned();
            assert!(problem.contains(says), "{what}, {grown} new: {problem}");
            assert_eq!(rows(&h, "partner-a").await, [3]);
        }
    }
}

#[tokio::test]
async fn entries_the_head_does_not_cover_yet_wait_for_the_next_run() {
    // A writer appends between the signer's read of the head and its read of the entries:
    // the signer signs what the head covers, not what it read beyond it.
    let h = signed(3).await;
    seed(&h, "partner-a", 2, 10).await;
    let lines = h.export("partner-a").await;
    assert_eq!(lines.len(), 5);
    let behind = ledger::ChainHead {
        chain: ChainId::parse("partner-a").unwrap(),
        size: 4,
        last_hash: ledger::EntryRef::parse(lines[3].as_bytes()).unwrap().hash,
        frontier: frontier_of(&lines[..4]),
        last_at: ledger::EntryRef::parse(lines[3].as_bytes()).unwrap().at_datetime(),
    };
    h.overwrite_head(&behind).await;
    let report = sign_with(&h.store).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(signed_chains(&report), [("partner-a".to_owned(), 4)]);
    consistent(&h, "partner-a", 3, 4).await;
}

#[tokio::test]
async fn entries_of_one_time_are_signed_and_a_time_that_goes_back_is_refused() {
    // A writer whose clock is behind stamps its entry with the previous entry's time (the
    // chain's clamp): equal times are honest.
    let h = Harness::new().await;
    seed(&h, "partner-a", 1, 10).await;
    seed(&h, "partner-a", 1, 5).await;
    sign_with(&h.store).await;
    seed(&h, "partner-a", 1, 2).await;
    let lines = h.export("partner-a").await;
    let at = |i: usize| ledger::EntryRef::parse(lines[i].as_bytes()).unwrap().at.to_owned();
    assert_eq!((at(0), at(1)), (at(1), at(2)), "clamped to one time");
    let report = sign_with(&h.store).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(signed_chains(&report), [("partner-a".to_owned(), 3)]);

    // An operator appends an entry stamped before the last one (a head without a time does
    // not clamp it).
    let unclamped = ledger::ChainHead {
        last_at: None,
        ..h.head("partner-a").await.unwrap()
    };
    let earlier = ledger::EntryRef::parse(lines[2].as_bytes())
        .unwrap()
        .at_datetime()
        .unwrap()
        - minutes(1);
    let (entry, head) = unclamped
        .append(&earlier, "note_added", &serde_json::json!({}))
        .unwrap();
    h.overwrite_entry("partner-a", entry.seq, &entry.line).await;
    h.overwrite_head(&head).await;
    let problem = one_alarm(&sign_with(&h.store).await, "partner-a").to_owned();
    assert!(problem.contains("entry seq 3's time goes backwards"), "{problem}");
}

#[tokio::test]
async fn an_entry_stamped_ahead_of_the_signers_clock_is_refused() {
    let h = signed(2).await;
    // An operator appends an entry stamped a day ahead (past the allowed skew).
    let ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let (entry, head) = h
        .head("partner-a")
        .await
        .unwrap()
        .append(&ahead, "note_added", &serde_json::json!({}))
        .unwrap();
    h.overwrite_entry("partner-a", entry.seq, &entry.line).await;
    h.overwrite_head(&head).await;
    let problem = one_alarm(&sign_with(&h.store).await, "partner-a").to_owned();
    assert!(
        problem.contains("entry seq 2 is stamped") && problem.contains("a time from the future"),
        "{problem}"
    );
    assert_eq!(rows(&h, "partner-a").await, [2]);
}

#[tokio::test]
async fn an_object_under_the_signers_prefix_that_is_no_copy_is_an_alarm() {
    // Names that are not the signer's own spelling of a size: each could stand for a copy
    // that is not one (or push real copies out of a listing's page). The signer lists its
    // copies from the table's latest row on, so a name that sorts before it is not seen
    // unless the rows are gone ("+…" parses as a size, and sorts before every digit).
    for (stray, rows_deleted) in [
        ("3", false),
        ("00000000000000000003.json", false),
        ("junk", false),
        ("+0000000000000000003", true),
    ] {
        let h = Harness::new().await;
        let signer = with_copies(&h).await;
        seed(&h, "partner-a", 3, 0).await;
        sign_with(&signer.store).await;
        if rows_deleted {
            delete_row(&h, "partner-a", 3).await;
        }
        store::s3_at(signer.s3.endpoint(), "eu-central-1")
            .put_object()
            .bucket(BUCKET)
            .key(format!("checkpoints/partner-a/{stray}"))
            .body(b"{}".to_vec().into())
            .send()
            .await
            .unwrap();
        grown_into_alarm(
            &h,
            &signer.store,
            "is under the signer's prefix in the tile bucket but is no copy",
            stray,
        )
        .await;
        let left: &[u64] = if rows_deleted { &[] } else { &[3] };
        assert_eq!(rows(&h, "partner-a").await, left, "{stray}");
    }
}

#[tokio::test]
async fn hash_tiles_altered_under_the_signer_are_an_alarm_and_nothing_is_written() {
    let h = signed(3).await;
    // The level-0 tile the next entry extends: one of its hashes altered.
    let key = [
        ("chain", AttributeValue::S("partner-a".into())),
        ("tile", AttributeValue::S(format!("00/{:016x}", 0))),
    ];
    let item = h
        .client
        .get_item()
        .table_name(&h.tables.tiles)
        .set_key(Some(key.clone().into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the tile");
    let mut hashes = item["hashes"].as_b().unwrap().as_ref().to_vec();
    assert_eq!(hashes.len(), 3 * 32);
    hashes[40] ^= 1;
    let mut altered = item.clone();
    altered.insert("hashes".into(), AttributeValue::B(hashes.into()));
    h.client
        .put_item()
        .table_name(&h.tables.tiles)
        .set_item(Some(altered.clone()))
        .send()
        .await
        .unwrap();
    grown_into_alarm(&h, &h.store, "stored hash tiles do not give the tree", "grown").await;
    assert_eq!(rows(&h, "partner-a").await, [3]);
    // Nothing written over it: the altered tile is as the operator left it.
    let after = h
        .client
        .get_item()
        .table_name(&h.tables.tiles)
        .set_key(Some(key.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(after, altered);
}

#[tokio::test]
async fn entries_under_a_signed_checkpoint_rewritten_in_place_are_caught_when_their_entry_tile_completes() {
    // The entry tile of entries 0‥1023 is written when entry 1023 is signed; it needs the
    // entries the last checkpoint (size 3) covered, read again: each must still read as
    // signed. One chain per way to rewrite entry 1 (or 1 and 2) in place, and one honest.
    let h = Harness::new().await;
    let signer = with_copies(&h).await;
    let chains = [
        "partner-00",
        "partner-01",
        "partner-02",
        "partner-03",
        "partner-04",
        "partner-05",
    ];
    for chain in chains {
        seed(&h, chain, 3, 0).await;
    }
    seed(&h, "partner-a", 2, 0).await;
    assert!(sign_with(&signer.store).await.alarms.is_empty());
    let line = |chain: &str, seq: usize| {
        let h = &h;
        let chain = chain.to_owned();
        async move { h.export(&chain).await[seq].clone() }
    };
    // Each way alone (the others hold): a well-formed entry 1 that links to entry 0, of
    // another chain …
    let entry_0 = |chain: &str| {
        let line = line(chain, 0);
        async move { ledger::EntryRef::parse(line.await.as_bytes()).unwrap().hash }
    };
    let linked = |chain: &str, seq: u64, prev: ledger::Hash| ledger::ChainHead {
        chain: ChainId::parse(chain).unwrap(),
        size: seq,
        last_hash: prev,
        frontier: {
            let mut f = ledger::Frontier::new();
            for i in 0..seq {
                f.push(ledger::Hash::digest(&i.to_be_bytes()));
            }
            f
        },
        last_at: None,
    };
    let note = serde_json::json!({});
    let (other_chain, _) = linked("partner-a", 1, entry_0("partner-00").await)
        .append(&(t0() + minutes(1)), "note_added", &note)
        .unwrap();
    h.overwrite_entry("partner-00", 1, &other_chain.line).await;
    // … of another seq,
    let (other_seq, _) = linked("partner-01", 5, entry_0("partner-01").await)
        .append(&(t0() + minutes(1)), "note_added", &note)
        .unwrap();
    h.overwrite_entry("partner-01", 1, &other_seq.line).await;
    // … its bytes changed (a millisecond of its time), its hash not,
    let own = line("partner-02", 1).await;
    assert!(own.contains(".000Z"));
    h.overwrite_entry("partner-02", 1, &own.replacen(".000Z", ".001Z", 1))
        .await;
    // … or linking to another entry 0.
    let elsewhere = ledger::ChainHead {
        chain: ChainId::parse("partner-03").unwrap(),
        size: 1,
        last_hash: ledger::Hash::digest(b"another entry 0"),
        frontier: {
            let mut f = ledger::Frontier::new();
            f.push(ledger::Hash::digest(b"another leaf 0"));
            f
        },
        last_at: None,
    };
    let (forged, _) = elsewhere
        .append(&(t0() + minutes(1)), "note_added", &serde_json::json!({}))
        .unwrap();
    h.overwrite_entry("partner-03", 1, &forged.line).await;
    // Entries 1 and 2 rewritten consistently (each links and hashes), the head left as it
    // was: only the end of the run, against the hash the signer recorded, shows it.
    let head = h.head("partner-04").await.unwrap();
    h.rewrite_from("partner-04", 1).await;
    h.overwrite_head(&head).await;
    // Every chain grows to complete its first entry tile.
    for chain in chains {
        grow(&h, chain, 1021).await;
    }
    let report = sign_with(&signer.store).await;
    assert_eq!(signed_chains(&report), [("partner-05".to_owned(), 1024)]);
    let problem = |chain: &str| {
        report
            .alarms
            .iter()
            .find(|a| a.chain.as_str() == chain)
            .map(|a| a.problem.clone())
            .unwrap_or_else(|| panic!("no alarm for {chain}: {report:?}"))
    };
    for (chain, seq) in [
        ("partner-00", 1),
        ("partner-01", 1),
        ("partner-02", 1),
        ("partner-03", 1),
        ("partner-04", 2),
    ] {
        let problem = problem(chain);
        assert!(
            problem.contains(&format!(
                "entry seq {seq}, which a signed checkpoint covers, no longer reads as signed"
            )),
            "{chain}: {problem}"
        );
        assert_eq!(rows(&h, chain).await, [3], "{chain}");
    }
    assert_eq!(report.alarms.len(), 5, "{report:?}");
}

#[tokio::test]
async fn a_legacy_row_whose_last_entry_the_tiles_cannot_prove_is_an_alarm() {
    // A row from before signed states, and the hash tile its proof needs deleted: not a
    // fault to wait out (it will not come back), so the chain's alarm, not a failed run.
    let h = legacy(true).await;
    h.client
        .delete_item()
        .table_name(&h.tables.tiles)
        .key("chain", AttributeValue::S("partner-a".into()))
        .key("tile", AttributeValue::S(format!("00/{:016x}", 0)))
        .send()
        .await
        .unwrap();
    grown_into_alarm(&h, &h.store, "cannot be proven from the stored tiles", "grown").await;
    assert_eq!(rows(&h, "partner-a").await, [3]);
}

#[tokio::test]
async fn the_signers_newest_copy_is_found_past_a_listings_first_page() {
    // More names under the signer's prefix than one listing page holds (1,000): the newest
    // copy is on the second page. Only the newest is ever read, so the 1,000 objects named
    // as copies of smaller sizes (not genuine) are never opened.
    let h = Harness::new().await;
    let signer = with_copies(&h).await;
    grow(&h, "partner-a", 1024).await;
    sign_with(&signer.store).await;
    let s3 = store::s3_at(signer.s3.endpoint(), "eu-central-1");
    for size in 0..1000u64 {
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("checkpoints/partner-a/{size:020}"))
            .body(br#"{"checkpoint":"not signed","state":"not signed"}"#.to_vec().into())
            .send()
            .await
            .unwrap();
    }
    delete_row(&h, "partner-a", 1024).await;
    seed(&h, "partner-a", 1, 10).await;
    let report = sign_with(&signer.store).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(signed_chains(&report), [("partner-a".to_owned(), 1025)]);
    assert_eq!(rows(&h, "partner-a").await, [1024, 1025]);
}
