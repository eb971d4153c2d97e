//! The ledger beyond appends, against a real DynamoDB-compatible server: the honest signer
//! (and what it refuses to sign), proofs from its tiles, erasure of personal values, and the
//! partner–customer relationship the create transaction checks.

mod common;

use common::*;
use domain::*;
use ledger::merkle::{LeafIndex, TreeSize, consistency_proof, inclusion_proof};
use ledger::{ChainId, Checkpoint, EntryRef, Hash};
use store::{CreateOutcome, StoreError};

fn key() -> ledger::SignerKey {
    ledger::SignerKey::from_seed("store-ledger-test", [8; 32]).unwrap()
}

async fn seed(h: &Harness, partner: &str, n: usize, from: i64) -> Vec<ServiceRequest> {
    let mut out = Vec::new();
    for i in 0..n {
        let (request, event) = open(partner, CUSTOMER_A, "B", "azure", t0() + minutes(from + i as i64));
        h.store.create_request(&request, &event, None).await.unwrap();
        out.push(request);
    }
    out
}

async fn sign(h: &Harness) -> store::SignReport {
    h.store
        .sign_grown_chains(&key(), &log(), Timestamp::from(t0()))
        .await
        .unwrap()
}

#[tokio::test]
async fn proofs_from_the_signers_tiles_match_the_entries() {
    let h = Harness::new().await;
    let chain = ChainId::parse("partner-a").unwrap();
    // Grow over several signing runs, across a tile boundary (256 leaves).
    for (n, from) in [(3, 0), (250, 10), (20, 400)] {
        seed(&h, "partner-a", n, from).await;
        let report = sign(&h).await;
        assert!(report.alarms.is_empty(), "{:?}", report.alarms);
    }
    let lines = h.export("partner-a").await;
    let all = leaves(&lines);
    assert_eq!(all.len(), 273);
    for (from, to) in [(1, 273), (3, 253), (253, 273), (256, 273), (100, 257)] {
        let stored = h.store.consistency_proof(&chain, from, to).await.unwrap();
        assert_eq!(
            stored,
            consistency_proof(&all[..to as usize], TreeSize(from)).unwrap(),
            "{from}->{to}"
        );
    }
    for (seq, size) in [(0, 273), (255, 273), (256, 273), (272, 273), (10, 253)] {
        let stored = h.store.inclusion_proof(&chain, seq, size).await.unwrap();
        assert_eq!(
            stored,
            inclusion_proof(&all[..size as usize], LeafIndex(seq)).unwrap(),
            "{seq}@{size}"
        );
    }
    // The latest checkpoint is the signer's own computation of the whole chain.
    let latest = h.store.latest_checkpoint(&chain).await.unwrap().unwrap();
    let (cp, _) = Checkpoint::open_pinned(&latest.note, &trusted(&key()), &log()).unwrap();
    assert_eq!((cp.size, cp.root), (273, ledger::merkle::root_of(&all)));
}

#[tokio::test]
async fn the_signer_refuses_a_rewritten_history_and_raises_the_alarm() {
    let h = Harness::new().await;
    seed(&h, "partner-a", 4, 0).await;
    assert_eq!(sign(&h).await.signed.len(), 1);
    // A dishonest operator rewrites entry 1 and every later one, and the head to match, then
    // lets the chain grow: consistent on its own, but not with what was signed.
    h.rewrite_from("partner-a", 1).await;
    // The service goes on writing on the (rewritten) head it reads.
    let fresh = h.another_store();
    let (request, event) = open("partner-a", CUSTOMER_A, "B", "azure", t0() + minutes(10));
    fresh.create_request(&request, &event, None).await.unwrap();
    let report = sign(&h).await;
    assert!(report.signed.is_empty());
    assert_eq!(report.alarms.len(), 1, "{report:?}");
    assert!(
        report.alarms[0].problem.contains("rewritten"),
        "{}",
        report.alarms[0].problem
    );
    // …and keeps refusing on every run.
    assert_eq!(sign(&h).await.alarms.len(), 1);
}

#[tokio::test]
async fn the_signer_refuses_a_truncated_chain_and_a_head_that_lies() {
    let h = Harness::new().await;
    seed(&h, "partner-a", 5, 0).await;
    seed(&h, "partner-b", 2, 0).await;
    assert_eq!(sign(&h).await.signed.len(), 2);
    // partner-a: rewind the head below the signed size.
    let lines = h.export("partner-a").await;
    let mut head = h.head("partner-a").await.unwrap();
    head.size = 3;
    head.last_hash = EntryRef::parse(lines[2].as_bytes()).unwrap().hash;
    head.frontier = frontier_of(&lines[..3]);
    h.overwrite_head(&head).await;
    // partner-b: a head that claims an entry the ledger does not hold.
    let mut lying = h.head("partner-b").await.unwrap();
    lying.size += 1;
    lying.frontier.push(Hash::digest(b"made up"));
    lying.last_hash = Hash::digest(b"made up");
    h.overwrite_head(&lying).await;
    let report = sign(&h).await;
    assert!(report.signed.is_empty(), "{report:?}");
    let mut chains: Vec<&str> = report.alarms.iter().map(|a| a.chain.as_str()).collect();
    chains.sort();
    assert_eq!(chains, ["partner-a", "partner-b"]);
}

#[tokio::test]
async fn erasure_deletes_the_values_and_leaves_the_ledger_verifiable() {
    let h = Harness::new().await;
    let requests = seed(&h, "partner-a", 2, 0).await;
    let target = &requests[0];
    let before = sign(&h).await.signed[0].note.clone();
    let items = h
        .store
        .personal_items(target.partner_id(), target.id(), None)
        .await
        .unwrap();
    assert_eq!(
        items.len(),
        2,
        "the request's own values and its created entry's subject"
    );
    let commitments: Vec<CommitmentId> = items
        .iter()
        .flat_map(|i| i.values.iter())
        .map(|v| CommitmentId::parse(&v.commitment().unwrap().to_hex()).unwrap())
        .collect();
    let officer = Actor::new(Role::PrivacyOfficer, Subject::parse("dpo@vendor").unwrap());
    let (erased, event) = target
        .erase_personal_data(
            ErasureScope::Request,
            commitments.clone(),
            LegalBasis::GdprArt17_1A,
            None,
            &officer,
            Timestamp::from(t0() + minutes(60)),
            &policy(),
        )
        .unwrap();
    h.store
        .save_erasure(&erased, target.version(), &event, &items)
        .await
        .unwrap();
    let read = h
        .store
        .get_request(target.partner_id(), target.id())
        .await
        .unwrap()
        .unwrap();
    assert!(read.title().is_erased() && read.contact().email.is_erased());
    assert!(read.personal_data_erased_at().is_some());
    // The other request keeps its values.
    let other = h
        .store
        .get_request(requests[1].partner_id(), requests[1].id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other, requests[1]);
    // Only the officer's record of the erasure is left of the request's personal data.
    let left = h
        .store
        .personal_items(target.partner_id(), target.id(), None)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind.as_deref(), Some("personal_data_erased"));
    // The erasure entry names the commitments, and the ledger still verifies against the
    // checkpoint signed before it and the one after.
    let lines = h.export("partner-a").await;
    let last = EntryRef::parse(lines.last().unwrap().as_bytes()).unwrap();
    assert_eq!(last.kind, "personal_data_erased");
    let data: serde_json::Value = serde_json::from_slice(last.data).unwrap();
    assert_eq!(
        data["change"]["commitments"].as_array().unwrap().len(),
        commitments.len()
    );
    let after = sign(&h).await.signed[0].note.clone();
    let report = verify_export(&lines, &key(), &[before, after]).unwrap();
    assert_eq!(report.uncovered, 0);
}

#[tokio::test]
async fn a_partner_files_only_for_customers_it_has_a_relationship_with() {
    let h = Harness::new().await;
    const STRANGER: &str = "0b5e1d2c-3a4f-4b6c-8d7e-9f0a1b2c3d4e";
    let (request, event) = open("partner-a", STRANGER, "B", "azure", t0());
    let before = h.store.round_trips();
    assert!(matches!(
        h.store.create_request(&request, &event, None).await,
        Err(StoreError::NoRelationship)
    ));
    // Checked inside the create's one transaction (cold: one head read, one transaction).
    assert_eq!(h.store.round_trips() - before, 2);
    assert_eq!(h.count(&h.tables.requests).await, 0);
    assert_eq!(h.count(&h.tables.ledger).await, 0);
    assert_eq!(h.count(&h.tables.personal_data).await, 0);
    h.relate("partner-a", STRANGER).await;
    assert!(matches!(
        h.store.create_request(&request, &event, None).await.unwrap(),
        CreateOutcome::Created(_)
    ));
    // Warm, the check costs nothing extra: still one round trip per create.
    let (second, second_event) = open("partner-a", STRANGER, "B", "azure", t0() + minutes(1));
    let before = h.store.round_trips();
    h.store.create_request(&second, &second_event, None).await.unwrap();
    assert_eq!(h.store.round_trips() - before, 1);
}
