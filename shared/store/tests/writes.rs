//! State changes against a real DynamoDB-compatible server: atomicity, idempotency,
//! optimistic concurrency, and the ledger that results.

mod common;

use common::*;
use domain::*;
use store::{CreateOutcome, IdempotencyClaim, StoreError};

#[tokio::test]
async fn a_create_writes_request_entry_and_head_in_one_round_trip() {
    let h = Harness::new().await;
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    let before = h.store.round_trips();
    assert!(matches!(
        h.store.create_request(&request, &event, None).await.unwrap(),
        CreateOutcome::Created(store::Appended { seq: 0, .. })
    ));
    // Cold: one read of the chain head, one transaction.
    assert_eq!(h.store.round_trips() - before, 2);
    let (second, event2) = open("partner-a", CUSTOMER_A, "C", "azure", t0() + minutes(1));
    let before = h.store.round_trips();
    h.store.create_request(&second, &event2, None).await.unwrap();
    // Warm: the cached head makes it one transaction.
    assert_eq!(h.store.round_trips() - before, 1);

    let stored = h
        .store
        .get_request(request.partner_id(), request.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, request);
    assert_eq!(h.head_size("partner-a").await, 2);
    let lines = h.export("partner-a").await;
    assert_eq!(lines.len(), 2);
    let first = ledger::EntryRef::parse(lines[0].as_bytes()).unwrap();
    assert_eq!((first.chain, first.seq, first.kind), ("partner-a", 0, "created"));
    let data: serde_json::Value = serde_json::from_slice(first.data).unwrap();
    assert_eq!(data["requestId"], request.id().to_string());
    // The title enters the ledger only as a commitment; the value is in the personal-data table.
    let title = request.title().as_str().unwrap();
    assert!(ledger::personal::as_commitment(&data["change"]["request"]["title"]).is_some());
    assert!(!lines[0].contains(title));
    let personal = h.scan(&h.tables.personal_data).await;
    assert_eq!(personal.len(), 4, "two requests' own values, two entries' subjects");
    let requests = h.scan(&h.tables.requests).await;
    assert!(
        format!("{requests:?}").find(title).is_none(),
        "no personal value in request items"
    );
}

#[tokio::test]
async fn a_failed_condition_writes_nothing_at_all() {
    let h = Harness::new().await;
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    h.store.create_request(&request, &event, None).await.unwrap();
    let (responded, response_event) = respond(&request, 5);

    // Wrong expected version: the request condition fails, so the ledger entry and the head
    // update in the same transaction must not happen either.
    let err = h.store.save_change(&responded, 7, &response_event).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(
        h.store
            .get_request(request.partner_id(), request.id())
            .await
            .unwrap()
            .unwrap(),
        request
    );
    assert_eq!(h.export("partner-a").await.len(), 1);
    assert_eq!(h.head_size("partner-a").await, 1);

    // Creating the same request again fails on the request's condition: nothing added.
    let err = h.store.create_request(&request, &event, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(h.export("partner-a").await.len(), 1);
    assert_eq!(h.head_size("partner-a").await, 1);
    assert_eq!(h.count(&h.tables.requests).await, 1);

    // The right version goes through.
    h.store.save_change(&responded, 1, &response_event).await.unwrap();
    assert_eq!(
        h.store
            .get_request(request.partner_id(), request.id())
            .await
            .unwrap()
            .unwrap()
            .version(),
        2
    );
    assert_eq!(h.export("partner-a").await.len(), 2);
}

#[tokio::test]
async fn a_concurrent_update_of_the_same_request_is_a_conflict_not_a_lost_update() {
    let h = Harness::new().await;
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    h.store.create_request(&request, &event, None).await.unwrap();
    let note = |text: &str| {
        request
            .apply(
                Action::Note {
                    message: Message::parse(text).unwrap(),
                },
                &agent(),
                Timestamp::from(t0() + minutes(2)),
                &policy(),
            )
            .unwrap()
    };
    let (a, ea) = note("first");
    let (b, eb) = note("second");
    h.store.save_change(&a, 1, &ea).await.unwrap();
    let other = h.another_store();
    assert!(matches!(other.save_change(&b, 1, &eb).await, Err(StoreError::Conflict)));
    assert_eq!(h.export("partner-a").await.len(), 2);
}

#[tokio::test]
async fn idempotent_create() {
    let h = Harness::new().await;
    let key = IdempotencyKey::parse("retry-7f3a").unwrap();
    let now = Timestamp::from(t0());
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    let original = serde_json::to_value(&request).unwrap();
    let claim = IdempotencyClaim {
        key: &key,
        fingerprint: "fp-1",
        response: &original,
        now,
    };
    let CreateOutcome::Created(appended) = h.store.create_request(&request, &event, Some(claim)).await.unwrap() else {
        panic!("created");
    };

    // The client retries: a new id is generated, but the key and body are the same.
    let (retry, retry_event) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(1));
    let retry_response = serde_json::to_value(&retry).unwrap();
    let retry_claim = IdempotencyClaim {
        response: &retry_response,
        ..claim
    };
    let outcome = h
        .store
        .create_request(&retry, &retry_event, Some(retry_claim))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        CreateOutcome::Replayed {
            response: original.clone(),
            appended: appended.clone(),
        },
        "the original response (its personal values joined back) and its entry"
    );
    // The stored record holds commitments, not the values.
    let records = format!("{:?}", h.scan(&h.tables.idempotency).await);
    assert!(!records.contains(request.title().as_str().unwrap()));
    assert!(
        h.store
            .get_request(retry.partner_id(), retry.id())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(h.export("partner-a").await.len(), 1);
    assert_eq!(h.head_size("partner-a").await, 1);

    // Same key, different body: refused, nothing written.
    let (third, third_event) = open("partner-a", CUSTOMER_A, "A", "azure", t0() + minutes(2));
    let third_response = serde_json::to_value(&third).unwrap();
    let other = IdempotencyClaim {
        fingerprint: "fp-2",
        response: &third_response,
        ..claim
    };
    assert!(matches!(
        h.store.create_request(&third, &third_event, Some(other)).await,
        Err(StoreError::IdempotencyMismatch)
    ));
    assert_eq!(h.export("partner-a").await.len(), 1);
    assert_eq!(h.count(&h.tables.requests).await, 1);

    // The same key is another partner's own business.
    let (b, b_event) = open("partner-b", CUSTOMER_A, "B", "azure", t0());
    let b_response = serde_json::to_value(&b).unwrap();
    let for_b = IdempotencyClaim {
        response: &b_response,
        ..other
    };
    assert!(matches!(
        h.store.create_request(&b, &b_event, Some(for_b)).await.unwrap(),
        CreateOutcome::Created(_)
    ));

    // An expired record no longer binds the key.
    let (fresh, fresh_event) = open(
        "partner-a",
        CUSTOMER_A,
        "C",
        "azure",
        t0() + chrono::Duration::hours(25),
    );
    let fresh_response = serde_json::to_value(&fresh).unwrap();
    let later = IdempotencyClaim {
        fingerprint: "fp-3",
        response: &fresh_response,
        now: Timestamp::from(t0() + chrono::Duration::hours(25)),
        ..claim
    };
    assert!(matches!(
        h.store.create_request(&fresh, &fresh_event, Some(later)).await.unwrap(),
        CreateOutcome::Created(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_on_one_chain_lose_nothing() {
    let h = Harness::new().await;
    const WRITERS: usize = 16;
    const EACH: usize = 10;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        // Each writer is its own Lambda instance: its own store and head cache.
        let store = h.another_store();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let (request, event) = open(
                    "partner-a",
                    CUSTOMER_A,
                    "B",
                    "azure",
                    t0() + minutes((w * EACH + i) as i64),
                );
                store.create_request(&request, &event, None).await.unwrap();
                ids.push(request.id());
            }
            ids
        });
    }
    let mut created = Vec::new();
    while let Some(ids) = tasks.join_next().await {
        created.extend(ids.unwrap());
    }
    assert_eq!(created.len(), WRITERS * EACH);

    let lines = h.export("partner-a").await;
    assert_eq!(lines.len(), WRITERS * EACH, "no lost and no extra entry");
    let mut ids_in_ledger = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let entry = ledger::EntryRef::parse(line.as_bytes()).unwrap();
        assert_eq!(entry.seq, i as u64, "contiguous seq");
        let data: serde_json::Value = serde_json::from_slice(entry.data).unwrap();
        ids_in_ledger.push(data["requestId"].as_str().unwrap().to_owned());
    }
    ids_in_ledger.sort();
    let mut expected: Vec<String> = created.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(ids_in_ledger, expected, "every request has exactly one created entry");

    // The exported chain passes the auditor's verification, checkpoint included.
    let key = ledger::SignerKey::from_seed("store-test", [3; 32]).unwrap();
    let written = h
        .store
        .sign_grown_chains(&key, &log(), Timestamp::from(t0()))
        .await
        .unwrap()
        .signed;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].size, (WRITERS * EACH) as u64);
    let report = verify_export(&lines, &key, &[written[0].note.clone()]).unwrap();
    assert_eq!(report.entries, (WRITERS * EACH) as u64);
    assert_eq!(report.checkpoints_checked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_different_partners_do_not_block_each_other() {
    let h = Harness::new().await;
    const WRITERS: usize = 16;
    const EACH: u64 = 4;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = h.another_store();
        tasks.spawn(async move {
            let partner = format!("partner-{w:02}");
            for i in 0..EACH {
                let (request, event) = open(&partner, CUSTOMER_A, "B", "office365", t0() + minutes(i as i64));
                store.create_request(&request, &event, None).await.unwrap();
            }
            store.round_trips()
        });
    }
    while let Some(round_trips) = tasks.join_next().await {
        // One head read, then one transaction per create: no retry was ever needed.
        assert_eq!(round_trips.unwrap(), 1 + EACH);
    }
    for w in 0..WRITERS {
        assert_eq!(h.head_size(&format!("partner-{w:02}")).await, EACH);
    }
}

#[tokio::test]
async fn a_stale_cached_head_is_refreshed_and_the_append_retried() {
    let h = Harness::new().await;
    let one = h.another_store();
    let two = h.another_store();
    let (r1, e1) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    one.create_request(&r1, &e1, None).await.unwrap();
    let (r2, e2) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(1));
    two.create_request(&r2, &e2, None).await.unwrap();
    // `one` still caches the head at size 1; the append fails on the head, re-reads, succeeds.
    let (r3, e3) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(2));
    let before = one.round_trips();
    one.create_request(&r3, &e3, None).await.unwrap();
    // The failed transaction returns the current head: no extra read before the retry.
    assert_eq!(one.round_trips() - before, 2, "failed transaction, transaction");
    let lines = h.export("partner-a").await;
    assert_eq!(lines.len(), 3);
    let key = ledger::SignerKey::from_seed("k", [1; 32]).unwrap();
    assert!(verify_export(&lines, &key, &[]).is_ok());
}

#[tokio::test]
async fn two_changes_of_one_relationship_from_the_same_read_cannot_both_be_written() {
    let h = Harness::new().await;
    let partner = PartnerId::parse("partner-r").unwrap();
    let customer = CustomerId::parse("0b5e1d2c-3a4f-4b6c-8d7e-9f0a1b2c3d4e").unwrap();
    let admin = Actor::new(Role::RelationshipAdmin, Subject::parse("admin@vendor").unwrap());
    let at = Timestamp::from(h.store.now());
    let new = |status, based_on| store::Relationship {
        partner_id: partner.clone(),
        customer_id: customer.clone(),
        since: at,
        status,
        updated_at: at,
        entry: None,
        based_on,
        ended_seq: None,
    };
    h.store
        .save_relationship(&new(store::RelationshipStatus::Active, None), &admin)
        .await
        .unwrap();
    // Registering it again as new (someone else registered it meanwhile): refused.
    let err = h
        .store
        .save_relationship(&new(store::RelationshipStatus::Terminated, None), &admin)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    // Two changes from the same read: the first holds, the second is refused, and the ledger
    // has one entry for each write that held.
    let read = h.store.relationship(&partner, &customer).await.unwrap().unwrap();
    let later = Timestamp::from(h.store.now() + chrono::Duration::milliseconds(5));
    let mut first = new(store::RelationshipStatus::Terminated, Some(read.updated_at));
    first.updated_at = later;
    h.store.save_relationship(&first, &admin).await.unwrap();
    let second = new(store::RelationshipStatus::Active, Some(read.updated_at));
    let err = h.store.save_relationship(&second, &admin).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    let now = h.store.relationship(&partner, &customer).await.unwrap().unwrap();
    assert_eq!(now.status, store::RelationshipStatus::Terminated);
    let lines = h.export("partner-r").await;
    assert_eq!(lines.len(), 2, "two writes held: {lines:?}");
}

/// A writer whose receipt key is not at hand.
#[derive(Debug)]
struct KeyNotRead;

impl store::ReceiptStamp for KeyNotRead {
    fn stamp(&self, _: &store::Appended) -> Result<Option<String>, StoreError> {
        Err(StoreError::Unavailable("the receipt key has not been read".into()))
    }
}

#[tokio::test]
async fn each_entry_keeps_the_receipt_its_writer_signed_and_a_writer_without_its_key_writes_nothing() {
    let h = Harness::new().await;
    let key = ledger::SignerKey::from_seed("receipts", [9; 32]).unwrap();
    let keys = ledger::TrustedKeys::new([key.verifier()]);
    let mut store = store::Store::new(h.client.clone(), h.tables.clone());
    store.set_receipts(std::sync::Arc::new(Stamp(key)));
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    let CreateOutcome::Created(created) = store.create_request(&request, &event, None).await.unwrap() else {
        panic!("created");
    };
    let (responded, response_event) = respond(&request, 5);
    let changed = store
        .save_change(&responded, request.version(), &response_event)
        .await
        .unwrap();
    // An auditor's disclosure, recorded by the service as it answers a read: one too.
    let auditor = Actor::system("auditor").unwrap();
    let case = CaseReference::parse("CASE-1").unwrap();
    let disclosed = store
        .record_disclosure(&responded, &auditor, &case, 0, Timestamp::from(t0() + minutes(6)))
        .await
        .unwrap();

    let chain = created.chain.clone();
    let stored = store.stored_entries(&chain, 0, 10).await.unwrap();
    assert_eq!(stored.len(), 3);
    for (entry, appended) in stored.iter().zip([&created, &changed, &disclosed]) {
        let kept = ledger::KeptReceipt::parse(entry.receipt.as_deref().expect("a kept receipt")).unwrap();
        let receipt = kept.open(&keys, &receipt_log()).expect("signed by the receipt key");
        let line = ledger::EntryRef::parse(entry.line.as_bytes()).unwrap();
        assert_eq!(
            (receipt.seq, receipt.entry_hash, receipt.at.as_str()),
            (appended.seq, appended.entry_hash, appended.at.as_str())
        );
        assert_eq!(
            (line.seq, line.hash, line.at),
            (receipt.seq, receipt.entry_hash, receipt.at.as_str())
        );
        assert_eq!(appended.receipt, entry.receipt, "the write's receipt is the kept one");
    }
    assert_eq!(disclosed.seq, 2);

    // Without its key at hand a writer writes nothing: no request, no entry, no head move.
    let mut refusing = store::Store::new(h.client.clone(), h.tables.clone());
    refusing.set_receipts(std::sync::Arc::new(KeyNotRead));
    let before = (h.scan(&h.tables.requests).await, h.scan(&h.tables.ledger).await);
    let (another, event) = open("partner-a", CUSTOMER_A, "C", "azure", t0() + minutes(7));
    let err = refusing.create_request(&another, &event, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = refusing
        .save_change(&responded, responded.version(), &response_event)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(
        before,
        (h.scan(&h.tables.requests).await, h.scan(&h.tables.ledger).await)
    );
    assert_eq!(h.head_size("partner-a").await, 3);
}

/// In a stack upgraded to kept receipts (FORMAT.md §10.2), entries stamped before the upgrade
/// have none, and the signer checkpoints them — but only within the upgrade window
/// (`store::RECEIPTS_UPGRADE_WINDOW_HOURS`). Past it, an entry without a receipt stamped
/// before the upgrade was appended since by someone who is not a writer: an operator
/// backdating onto a chain dormant since the upgrade, or onto a chain never signed. The signer
/// refuses both and signs nothing for them; the writers' own entries still pass.
#[tokio::test]
async fn past_the_upgrade_window_an_entry_backdated_without_a_receipt_is_never_checkpointed() {
    let h = Harness::new().await;
    let receipt_key = ledger::SignerKey::from_seed("receipts", [9; 32]).unwrap();
    let checkpoint_key = ledger::SignerKey::from_seed("checkpoints", [8; 32]).unwrap();
    let upgrade = t0() + minutes(60);
    let window = chrono::Duration::hours(store::RECEIPTS_UPGRADE_WINDOW_HOURS);
    let signer = checking(&h, &receipt_key, Some(upgrade));
    let log = log();
    let sign = |at: chrono::DateTime<chrono::Utc>| signer.sign_grown_chains(&checkpoint_key, &log, Timestamp::from(at));
    let signed = |report: &store::SignReport| {
        let mut chains: Vec<String> = report.signed.iter().map(|c| c.chain.to_string()).collect();
        chains.sort();
        chains
    };
    // The old writers (no receipts) before the upgrade; signed in the first run after it.
    for partner in ["partner-a", "partner-b"] {
        let (request, event) = open(partner, CUSTOMER_A, "B", "azure", t0());
        h.store.create_request(&request, &event, None).await.unwrap();
    }
    let report = sign(upgrade + minutes(5)).await.unwrap();
    assert_eq!(
        (signed(&report), report.alarms.len()),
        (vec!["partner-a".into(), "partner-b".into()], 0)
    );
    // A late entry of the old writers, seen within the window: signed.
    let (late, event) = open("partner-b", CUSTOMER_A, "C", "azure", t0() + minutes(59));
    h.store.create_request(&late, &event, None).await.unwrap();
    let report = sign(upgrade + window - minutes(1)).await.unwrap();
    assert_eq!((signed(&report), report.alarms.len()), (vec!["partner-b".into()], 0));

    // Past the window, entries without receipts stamped before the upgrade (each after its
    // chain's last, so no other check sees them): on partner-a, dormant since the upgrade, and
    // on partner-c, never signed. And a writer's entry after the upgrade, on partner-b.
    for (partner, at) in [("partner-a", t0() + minutes(30)), ("partner-c", t0() + minutes(40))] {
        let (forged, event) = open(partner, CUSTOMER_A, "A", "azure", at);
        h.store.create_request(&forged, &event, None).await.unwrap();
    }
    let (genuine, event) = open("partner-b", CUSTOMER_A, "B", "azure", upgrade + minutes(10));
    signer.create_request(&genuine, &event, None).await.unwrap();
    let heads = (h.head_size("partner-a").await, h.head_size("partner-c").await);
    let report = sign(upgrade + window + minutes(1)).await.unwrap();
    assert_eq!(signed(&report), vec!["partner-b".to_owned()], "{report:?}");
    let mut alarmed: Vec<(&str, &str)> = report
        .alarms
        .iter()
        .map(|a| (a.chain.as_str(), a.problem.as_str()))
        .collect();
    alarmed.sort();
    assert_eq!(alarmed.len(), 2, "{report:?}");
    for ((chain, problem), (expected, seq)) in alarmed.iter().zip([("partner-a", 1), ("partner-c", 0)]) {
        assert_eq!(*chain, expected);
        assert!(
            problem.contains(&format!("entry seq {seq} has no kept receipt")) && problem.contains("backdated"),
            "{problem}"
        );
    }
    // Nothing was signed for them: the latest checkpoints are the ones from before.
    for (chain, size) in [("partner-a", Some(1)), ("partner-c", None)] {
        let chain = ledger::ChainId::parse(chain).unwrap();
        let latest = signer.latest_checkpoint(&chain).await.unwrap();
        assert_eq!(latest.map(|c| c.size), size, "{chain}");
    }
    assert_eq!(
        heads,
        (2, 1),
        "the forged entries are in the table, only never checkpointed"
    );
}

/// A receipt is signed only as an entry is appended — after a retry on a moved head, for the
/// entry finally committed — and an answer given again carries the one kept with its entry:
/// an operator who rewrites the idempotency record or the entry gets no receipt for a forgery.
#[tokio::test]
async fn receipts_are_signed_as_entries_are_appended_and_never_for_what_the_table_says_later() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let h = Harness::new().await;
    let key = ledger::SignerKey::from_seed("receipts", [9; 32]).unwrap();
    let (one, two) = (stamped(&h, &key), stamped(&h, &key));
    let (r1, e1) = open("partner-a", CUSTOMER_A, "B", "azure", t0());
    one.create_request(&r1, &e1, None).await.unwrap();
    let (r2, e2) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(1));
    two.create_request(&r2, &e2, None).await.unwrap();
    // `one` caches the head at size 1: its first attempt fails, the retry appends at seq 2.
    let idempotency = IdempotencyKey::parse("retry-receipt").unwrap();
    let (r3, e3) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(2));
    let response = serde_json::to_value(&r3).unwrap();
    let claim = IdempotencyClaim {
        key: &idempotency,
        fingerprint: "fp",
        response: &response,
        now: Timestamp::from(t0() + minutes(2)),
    };
    let CreateOutcome::Created(created) = one.create_request(&r3, &e3, Some(claim)).await.unwrap() else {
        panic!("created");
    };
    assert_eq!(created.seq, 2);
    let stored = one.stored_entries(&created.chain, 2, 1).await.unwrap();
    let line = ledger::EntryRef::parse(stored[0].line.as_bytes()).unwrap();
    let kept = stored[0].receipt.clone().expect("kept");
    assert_eq!(
        created.receipt.as_deref(),
        Some(kept.as_str()),
        "the answer's is the kept one"
    );
    let (_, said) = ledger::ReceiptDocument::from_note(&kept).unwrap();
    assert_eq!(
        (said.seq, said.entry_hash, said.at.as_str()),
        (line.seq, line.hash, line.at)
    );

    // A retry is answered with the kept receipt.
    let two = &two;
    let replay = || {
        let (retry, retry_event) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(3));
        async move {
            let response = serde_json::to_value(&retry).unwrap();
            let claim = IdempotencyClaim {
                response: &response,
                ..claim
            };
            two.create_request(&retry, &retry_event, Some(claim)).await
        }
    };
    let Ok(CreateOutcome::Replayed { appended, .. }) = replay().await else {
        panic!("replayed");
    };
    assert_eq!(appended.receipt.as_deref(), Some(kept.as_str()));

    // The operator forges an entry at seq 2 (a well-formed line of its own) and points the
    // idempotency record at it.
    let forged = ledger::ChainHead::genesis(created.chain.clone())
        .append(
            &(t0() + minutes(2)),
            "created",
            &serde_json::json!({ "requestId": r3.id() }),
        )
        .unwrap()
        .0;
    let forged_at = ledger::EntryRef::parse(forged.line.as_bytes()).unwrap().at.to_owned();
    // The operator's own ledger item: any line, seq, request and receipt.
    let put_item = |seq: u64, line: String, rid: Option<&str>, receipt: Option<&str>| {
        let mut item = std::collections::HashMap::from([
            ("chain".to_owned(), AttributeValue::S("partner-a".into())),
            ("seq".to_owned(), AttributeValue::N(seq.to_string())),
            ("line".to_owned(), AttributeValue::S(line)),
            ("kind".to_owned(), AttributeValue::S("created".into())),
            ("at".to_owned(), AttributeValue::S(forged_at.clone())),
        ]);
        if let Some(rid) = rid {
            item.insert("rid".into(), AttributeValue::S(rid.into()));
        }
        if let Some(receipt) = receipt {
            item.insert("receipt".into(), AttributeValue::S(receipt.into()));
        }
        h.client
            .put_item()
            .table_name(&h.tables.ledger)
            .set_item(Some(item))
            .send()
    };
    // (Its seq rewritten, the line no longer hashes to its hash: refused as another entry.)
    put_item(2, forged.line.replace("\"seq\":0", "\"seq\":2"), None, None)
        .await
        .unwrap();
    assert!(matches!(replay().await, Err(StoreError::IntegrityAlarm(_))));
    // A consistent forgery: seq 0 of a fresh chain, the record pointed at it.
    let records = h.scan(&h.tables.idempotency).await;
    let pk = records[0]["pk"].clone();
    let point_at = |chain: &str, seq: u64, hash: String, at: String| {
        h.client
            .update_item()
            .table_name(&h.tables.idempotency)
            .key("pk", pk.clone())
            .update_expression("SET chain = :c, entry_seq = :s, entry_hash = :h, entry_at = :a")
            .expression_attribute_values(":c", AttributeValue::S(chain.into()))
            .expression_attribute_values(":s", AttributeValue::N(seq.to_string()))
            .expression_attribute_values(":h", AttributeValue::S(hash))
            .expression_attribute_values(":a", AttributeValue::S(at))
            .send()
    };
    let rid = format!("partner-a#{}", r3.id());
    let forged_zero = |receipt: Option<&str>| put_item(0, forged.line.clone(), Some(&rid), receipt);
    point_at("partner-a", 0, forged.hash.to_hex(), forged_at.clone())
        .await
        .unwrap();
    // With the genuine entry's receipt left on it: not about the forgery, an alarm.
    let genuine_zero = one.stored_entries(&created.chain, 0, 1).await.unwrap()[0]
        .receipt
        .clone()
        .unwrap();
    forged_zero(Some(&genuine_zero)).await.unwrap();
    assert!(matches!(replay().await, Err(StoreError::IntegrityAlarm(_))));
    // Without one: every entry is kept with its receipt, so it is not the writer's — an alarm.
    forged_zero(None).await.unwrap();
    assert!(matches!(replay().await, Err(StoreError::IntegrityAlarm(_))));
    // In a stack upgraded to kept receipts, an entry from before has none: the answer has
    // none either, and none is signed for it.
    let mut upgraded = stamped(&h, &key);
    upgraded.set_receipts_required_since(Some(ledger::entry::format_at(&(t0() + minutes(3)))));
    let (retry, retry_event) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(4));
    let retry_response = serde_json::to_value(&retry).unwrap();
    let retry_claim = IdempotencyClaim {
        response: &retry_response,
        ..claim
    };
    let Ok(CreateOutcome::Replayed { appended, .. }) =
        upgraded.create_request(&retry, &retry_event, Some(retry_claim)).await
    else {
        panic!("replayed");
    };
    assert_eq!((appended.seq, appended.receipt), (0, None));
    // Another kind, or another request's entry, named by the record: an alarm.
    h.client
        .update_item()
        .table_name(&h.tables.ledger)
        .key("chain", AttributeValue::S("partner-a".into()))
        .key("seq", AttributeValue::N("0".into()))
        .update_expression("SET rid = :r")
        .expression_attribute_values(":r", AttributeValue::S(format!("partner-a#{}", r1.id())))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        upgraded.create_request(&retry, &retry_event, Some(retry_claim)).await,
        Err(StoreError::IntegrityAlarm(_))
    ));
    // A record answering with another request than the one it names: an alarm.
    h.client
        .update_item()
        .table_name(&h.tables.idempotency)
        .key("pk", pk.clone())
        .update_expression("SET request_id = :r")
        .expression_attribute_values(":r", AttributeValue::S(r1.id().to_string()))
        .send()
        .await
        .unwrap();
    assert!(matches!(replay().await, Err(StoreError::IntegrityAlarm(_))));
    // A record naming another partner's chain: an alarm, whatever that chain holds.
    point_at("partner-b", 0, forged.hash.to_hex(), forged_at.clone())
        .await
        .unwrap();
    assert!(matches!(replay().await, Err(StoreError::IntegrityAlarm(_))));
}

/// Support's first response to `request`, `after` minutes past t0.
fn respond(request: &ServiceRequest, after: i64) -> (ServiceRequest, DomainEvent) {
    request
        .apply(
            Action::Respond {
                message: Message::parse("On it").unwrap(),
            },
            &engineer(),
            Timestamp::from(t0() + minutes(after)),
            &policy(),
        )
        .unwrap()
}
