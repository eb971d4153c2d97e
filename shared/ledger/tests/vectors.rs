//! The committed test vectors (`shared/ledger/vectors/`): they are reproducible from the
//! append code, and the verifier reports exactly the failure each one documents — one test
//! per attack class.
//!
//! Regenerate after a deliberate format change: `LEDGER_WRITE_VECTORS=1 cargo test -p ledger --test vectors`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use ledger::bundle::{EvidenceBundle, prove, verify_bundle};
use ledger::{ChainId, Checkpoint, EntryRef, FailureKind, Verifier, VerifyError, VerifyOptions};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

struct Vectors {
    files: BTreeMap<String, String>,
    cases: Vec<Value>,
    bundles: Vec<Value>,
}

impl Vectors {
    fn file(&mut self, path: &str, content: String) {
        self.files.insert(path.to_owned(), content);
    }

    fn case(&mut self, name: &str, class: &str, export: &str, checkpoints: &[&str], expect: Value, about: &str) {
        self.cases.push(json!({ "name": name, "attack": class, "export": export, "checkpoints": checkpoints, "expect": expect, "about": about }));
    }
}

fn fails(kind: &str, seq: Option<u64>, line: Option<u64>) -> Value {
    json!({ "valid": false, "kind": kind, "seq": seq, "line": line })
}

fn generate() -> BTreeMap<String, String> {
    let mut v = Vectors {
        files: BTreeMap::new(),
        cases: Vec::new(),
        bundles: Vec::new(),
    };
    let k = key();
    v.file("ledgerdesk-vectors.pub", format!("{}\n", k.verifier()));
    v.file("ledgerdesk-vectors.key", format!("{}\n", k.to_text()));

    let (entries, head12) = chain("contoso-partner", 12);
    let lines: Vec<String> = entries.iter().map(|e| e.line.clone()).collect();
    let (fab, fab_head) = chain("fabrikam-partner", 5);
    let fab_lines: Vec<String> = fab.iter().map(|e| e.line.clone()).collect();
    let (_, head8) = chain("contoso-partner", 8);
    v.file("valid/chain.jsonl", jsonl(&lines));
    v.file("valid/two-chains.jsonl", jsonl(lines.iter().chain(&fab_lines)));
    v.file("valid/checkpoint-8.note", head8.sign_checkpoint(LOG_NAME, &k));
    v.file("valid/checkpoint-12.note", head12.sign_checkpoint(LOG_NAME, &k));
    v.file("valid/fabrikam-5.note", fab_head.sign_checkpoint(LOG_NAME, &k));
    v.case(
        "valid-chain",
        "none",
        "valid/chain.jsonl",
        &["valid/checkpoint-8.note", "valid/checkpoint-12.note"],
        json!({ "valid": true, "entries": 12, "checkpointsChecked": 2 }),
        "12 entries of one chain and two checkpoints of it",
    );
    v.case(
        "valid-two-chains",
        "none",
        "valid/two-chains.jsonl",
        &["valid/checkpoint-12.note", "valid/fabrikam-5.note"],
        json!({ "valid": true, "entries": 17, "checkpointsChecked": 2 }),
        "two chains, one after the other, each with a checkpoint",
    );

    // Modification without re-hashing: the entry no longer matches its own hash.
    let mut modified = lines.clone();
    modified[5] = modified[5].replacen("\"severity\":\"B\"", "\"severity\":\"A\"", 1);
    assert_ne!(modified[5], lines[5]);
    v.file("tampered/modified.jsonl", jsonl(&modified));
    v.case(
        "modified",
        "modification",
        "tampered/modified.jsonl",
        &[],
        fails("modified", Some(5), Some(6)),
        "seq 5's severity changed from B to A, hash left as it was",
    );

    // Modification with the entry re-hashed: its successor's prev no longer matches.
    let mut rehashed = lines.clone();
    rehashed[5] = rewrite_from(&modified, 5)[5].clone();
    v.file("tampered/modified-rehashed.jsonl", jsonl(&rehashed));
    v.case(
        "modified-rehashed",
        "modification",
        "tampered/modified-rehashed.jsonl",
        &[],
        fails("modified", Some(5), Some(6)),
        "seq 5 changed and re-hashed; seq 6 still links to the original",
    );

    // The whole tail re-hashed: internally consistent, exposed only by a checkpoint.
    let rewritten = rewrite_from(&modified, 5);
    v.file("tampered/rewritten.jsonl", jsonl(&rewritten));
    v.case(
        "rewritten",
        "modification",
        "tampered/rewritten.jsonl",
        &["valid/checkpoint-8.note"],
        fails("fork", Some(7), Some(8)),
        "seq 5 changed and every later entry re-hashed; the checkpoint of size 8 exposes it",
    );
    v.case(
        "rewritten-without-checkpoint",
        "modification",
        "tampered/rewritten.jsonl",
        &[],
        json!({ "valid": true, "entries": 12, "checkpointsChecked": 0 }),
        "the same forgery passes when the auditor kept no checkpoint: keep checkpoints",
    );

    let mut deleted = lines.clone();
    deleted.remove(4);
    v.file("tampered/deleted.jsonl", jsonl(&deleted));
    v.case(
        "deleted",
        "deletion",
        "tampered/deleted.jsonl",
        &[],
        fails("deleted", Some(4), Some(5)),
        "seq 4 removed",
    );

    // A forged entry that links correctly to seq 3, inserted before the real seq 4.
    let head4 = {
        let (_, h) = chain("contoso-partner", 4);
        h
    };
    let forged_at = EntryRef::parse(lines[4].as_bytes()).unwrap().at_datetime().unwrap();
    let (forged, _) = head4
        .append(
            &forged_at,
            "note_added",
            &json!({ "message": "refund approved", "requestId": "01KAW000000000000001001" }),
        )
        .unwrap();
    let mut inserted = lines.clone();
    inserted.insert(4, forged.line.clone());
    v.file("tampered/inserted.jsonl", jsonl(&inserted));
    v.case(
        "inserted",
        "insertion",
        "tampered/inserted.jsonl",
        &[],
        fails("inserted", Some(4), Some(5)),
        "a forged seq 4 that links to seq 3, inserted before the real seq 4",
    );

    let mut reordered = lines.clone();
    reordered.swap(6, 7);
    v.file("tampered/reordered.jsonl", jsonl(&reordered));
    v.case(
        "reordered",
        "reordering",
        "tampered/reordered.jsonl",
        &[],
        fails("reordered", Some(7), Some(7)),
        "seq 6 and seq 7 swapped",
    );

    let mut duplicated = lines[..10].to_vec();
    duplicated.push(lines[9].clone());
    duplicated.extend_from_slice(&lines[10..]);
    v.file("tampered/duplicated.jsonl", jsonl(&duplicated));
    v.case(
        "duplicated",
        "duplication",
        "tampered/duplicated.jsonl",
        &[],
        fails("duplicated", Some(9), Some(11)),
        "seq 9 repeated right after itself",
    );

    let mut replayed = lines.clone();
    replayed.push(lines[2].clone());
    v.file("tampered/replayed.jsonl", jsonl(&replayed));
    v.case(
        "replayed",
        "replay",
        "tampered/replayed.jsonl",
        &[],
        fails("duplicated", Some(2), Some(13)),
        "seq 2 replayed at the end",
    );

    let mut foreign = lines.clone();
    foreign.insert(7, fab_lines[3].clone());
    v.file("tampered/foreign-entry.jsonl", jsonl(&foreign));
    v.case(
        "foreign-entry",
        "entry from another chain",
        "tampered/foreign-entry.jsonl",
        &[],
        fails("foreign_entry", Some(3), Some(8)),
        "fabrikam-partner's seq 3 inside contoso-partner's chain",
    );

    v.file("tampered/truncated.jsonl", jsonl(&lines[..10]));
    v.case(
        "truncated",
        "truncation",
        "tampered/truncated.jsonl",
        &["valid/checkpoint-12.note"],
        fails("truncated", Some(10), None),
        "the last two entries cut off, below the kept checkpoint of size 12",
    );

    // Rollback: cut back to 8 entries and write 4 different ones.
    let mut rollback = lines[..8].to_vec();
    let mut head = head8.clone();
    for i in 8..12u64 {
        let (kind, mut data) = event("contoso-partner", i);
        data["change"] = json!({ "message": format!("rewritten history {i}") });
        let (entry, next) = head
            .append(
                &EntryRef::parse(lines[i as usize].as_bytes())
                    .unwrap()
                    .at_datetime()
                    .unwrap(),
                kind,
                &data,
            )
            .unwrap();
        rollback.push(entry.line);
        head = next;
    }
    v.file("tampered/rollback.jsonl", jsonl(&rollback));
    v.case(
        "rollback",
        "rollback",
        "tampered/rollback.jsonl",
        &["valid/checkpoint-12.note"],
        fails("fork", Some(11), Some(12)),
        "rolled back to 8 entries and re-grown to 12 with different ones",
    );

    // Equivocation: the log signed two different trees of the same size.
    v.file("tampered/fork-checkpoint-12.note", head.sign_checkpoint(LOG_NAME, &k));
    v.case(
        "fork",
        "fork",
        "valid/chain.jsonl",
        &["valid/checkpoint-12.note", "tampered/fork-checkpoint-12.note"],
        fails("fork", None, None),
        "two validly signed checkpoints of size 12 with different roots",
    );
    let rewritten_head8 = {
        let mut f = ledger::Frontier::new();
        for l in &rewritten[..8] {
            f.push(ledger::merkle::leaf_hash(
                EntryRef::parse(l.as_bytes()).unwrap().hash.as_bytes(),
            ));
        }
        Checkpoint {
            origin: Checkpoint::origin_for(LOG_NAME, &ChainId::parse("contoso-partner").unwrap()),
            size: 8,
            root: f.root(),
        }
    };
    v.file("tampered/fork-checkpoint-8.note", rewritten_head8.sign(&k));
    v.case(
        "inconsistent-checkpoint",
        "fork",
        "valid/chain.jsonl",
        &["valid/checkpoint-12.note", "tampered/fork-checkpoint-8.note"],
        fails("fork", Some(7), Some(8)),
        "a signed checkpoint of size 8 that is not a prefix of the one of size 12",
    );

    let cp12 = v.files["valid/checkpoint-12.note"].clone();
    v.file("tampered/bad-signature.note", cp12.replacen("\n12\n", "\n13\n", 1));
    v.case(
        "bad-signature",
        "bad signature",
        "valid/chain.jsonl",
        &["tampered/bad-signature.note"],
        fails("bad_signature", None, None),
        "the checkpoint's size changed after signing",
    );
    let stranger = ledger::SignerKey::from_seed("someone-else", [0x13; 32]).unwrap();
    v.file("tampered/unsigned.note", head12.sign_checkpoint(LOG_NAME, &stranger));
    v.case(
        "missing-signature",
        "missing signature",
        "valid/chain.jsonl",
        &["tampered/unsigned.note"],
        fails("missing_signature", None, None),
        "a checkpoint signed only by a key the auditor does not trust",
    );

    let mut malformed = lines.clone();
    malformed[2].truncate(100);
    v.file("tampered/malformed.jsonl", jsonl(&malformed));
    v.case(
        "malformed",
        "damage",
        "tampered/malformed.jsonl",
        &[],
        fails("malformed", None, Some(3)),
        "line 3 cut short",
    );

    // Evidence bundles.
    let cp8 = v.files["valid/checkpoint-8.note"].clone();
    let bundle = prove(v.files["valid/chain.jsonl"].as_bytes(), 5, &cp12, Some(&cp8)).unwrap();
    let bundle_text = |b: &EvidenceBundle| format!("{}\n", serde_json::to_string_pretty(b).unwrap());
    v.file("bundles/seq-5.json", bundle_text(&bundle));
    v.bundles.push(json!({ "name": "valid-bundle", "bundle": "bundles/seq-5.json", "expect": { "valid": true, "seq": 5 }, "about": "seq 5 in checkpoint 12, consistent with checkpoint 8" }));
    let mut edited = bundle.clone();
    edited.entry = modified[5].clone();
    v.file("bundles/tampered-entry.json", bundle_text(&edited));
    v.bundles.push(json!({ "name": "bundle-modified-entry", "bundle": "bundles/tampered-entry.json", "expect": fails("modified", Some(5), None), "about": "the entry was edited" }));
    let mut rehashed_bundle = bundle.clone();
    rehashed_bundle.entry = rewritten[5].clone();
    v.file("bundles/forged-entry.json", bundle_text(&rehashed_bundle));
    v.bundles.push(json!({ "name": "bundle-forged-entry", "bundle": "bundles/forged-entry.json", "expect": fails("fork", Some(5), None), "about": "a re-hashed forgery: valid alone, but not in the signed tree" }));
    let mut fork_bundle = bundle.clone();
    fork_bundle.consistency.as_mut().unwrap().older_checkpoint = v.files["tampered/fork-checkpoint-8.note"].clone();
    v.file("bundles/inconsistent.json", bundle_text(&fork_bundle));
    v.bundles.push(json!({ "name": "bundle-inconsistent", "bundle": "bundles/inconsistent.json", "expect": fails("fork", None, None), "about": "the older checkpoint is not a prefix of the newer one" }));

    let manifest = json!({
        "format": "ledgerdesk-ledger-vectors/v1",
        "key": "ledgerdesk-vectors.pub",
        "about": "Each case: verify `export` with `ledger verify --key <key> --checkpoint <each checkpoint>`; expect says the outcome. Bundles: `ledger verify-proof <bundle> --key <key>`.",
        "cases": v.cases,
        "bundles": v.bundles,
    });
    v.file(
        "manifest.json",
        format!("{}\n", serde_json::to_string_pretty(&manifest).unwrap()),
    );
    v.files
}

#[test]
fn committed_vectors_are_reproducible() {
    let generated = generate();
    let write = std::env::var_os("LEDGER_WRITE_VECTORS").is_some();
    for (path, content) in &generated {
        let file = dir().join(path);
        if write {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, content).unwrap();
        }
        let committed = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (regenerate with LEDGER_WRITE_VECTORS=1)", file.display()));
        assert_eq!(&committed, content, "{path} differs from what the code generates");
    }
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(dir().join(path)).unwrap()
}

/// Run one manifest case through the library verifier and compare with its expectation.
fn check(name: &str) {
    let m = manifest();
    let case = m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let expect = &case["expect"];
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    let mut outcome = Ok(());
    for cp in case["checkpoints"].as_array().unwrap() {
        let path = cp.as_str().unwrap();
        if let Err(f) = verifier.add_checkpoint(&read(path), path) {
            outcome = Err(f);
            break;
        }
    }
    let result = outcome.and_then(|()| {
        verifier
            .verify(read(case["export"].as_str().unwrap()).as_bytes(), |_| {})
            .map_err(|e| match e {
                VerifyError::Tampered(f) => f,
                VerifyError::Io(e) => panic!("io: {e}"),
            })
    });
    match result {
        Ok(report) => {
            assert_eq!(expect["valid"], true, "{name}: expected {expect}, but it verified");
            assert_eq!(report.entries, expect["entries"].as_u64().unwrap(), "{name}");
            assert_eq!(
                report.checkpoints_checked as u64,
                expect["checkpointsChecked"].as_u64().unwrap(),
                "{name}"
            );
        }
        Err(failure) => {
            assert_eq!(expect["valid"], false, "{name}: unexpected failure {failure}");
            assert_eq!(failure.kind.as_str(), expect["kind"], "{name}: {failure}");
            assert_eq!(failure.seq, expect["seq"].as_u64(), "{name}: {failure}");
            assert_eq!(failure.line, expect["line"].as_u64(), "{name}: {failure}");
        }
    }
}

#[test]
fn valid_chain_verifies() {
    check("valid-chain");
}

#[test]
fn two_chains_verify() {
    check("valid-two-chains");
}

#[test]
fn modification_is_detected() {
    check("modified");
}

#[test]
fn modification_with_rehash_is_detected() {
    check("modified-rehashed");
}

#[test]
fn rewritten_history_is_detected_by_a_checkpoint() {
    check("rewritten");
    check("rewritten-without-checkpoint");
}

#[test]
fn deletion_is_detected() {
    check("deleted");
}

#[test]
fn insertion_is_detected() {
    check("inserted");
}

#[test]
fn reordering_is_detected() {
    check("reordered");
}

#[test]
fn duplication_is_detected() {
    check("duplicated");
}

#[test]
fn replay_is_detected() {
    check("replayed");
}

#[test]
fn an_entry_from_another_chain_is_detected() {
    check("foreign-entry");
}

#[test]
fn truncation_below_a_kept_checkpoint_is_detected() {
    check("truncated");
}

#[test]
fn rollback_below_a_kept_checkpoint_is_detected() {
    check("rollback");
}

#[test]
fn two_checkpoints_of_one_size_with_different_roots_are_a_fork() {
    check("fork");
}

#[test]
fn a_checkpoint_inconsistent_with_another_is_a_fork() {
    check("inconsistent-checkpoint");
}

#[test]
fn a_bad_signature_is_detected() {
    check("bad-signature");
}

#[test]
fn a_checkpoint_without_a_trusted_signature_is_refused() {
    check("missing-signature");
}

#[test]
fn a_damaged_line_is_detected() {
    check("malformed");
}

#[test]
fn every_manifest_case_is_exercised_by_a_test() {
    let names: Vec<String> = manifest()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let this_file = include_str!("vectors.rs");
    for name in names {
        assert!(
            this_file.contains(&format!("check(\"{name}\")")),
            "case {name} has no test"
        );
    }
}

#[test]
fn evidence_bundles() {
    for case in manifest()["bundles"].as_array().unwrap() {
        let bundle: EvidenceBundle = serde_json::from_str(&read(case["bundle"].as_str().unwrap())).unwrap();
        let expect = &case["expect"];
        match verify_bundle(&bundle, &trusted()) {
            Ok(report) => {
                assert_eq!(expect["valid"], true, "{}", case["name"]);
                assert_eq!(report.seq, expect["seq"].as_u64().unwrap());
                assert_eq!(report.consistent_with_size, Some(8));
            }
            Err(f) => {
                assert_eq!(expect["valid"], false, "{}: {f}", case["name"]);
                assert_eq!(f.kind.as_str(), expect["kind"], "{}: {f}", case["name"]);
                assert_eq!(f.seq, expect["seq"].as_u64(), "{}: {f}", case["name"]);
            }
        }
    }
}

#[test]
fn a_bundle_verifies_with_the_public_key_alone_and_not_with_another() {
    let bundle: EvidenceBundle = serde_json::from_str(&read("bundles/seq-5.json")).unwrap();
    let other = ledger::TrustedKeys::new([ledger::SignerKey::from_seed("other", [1; 32]).unwrap().verifier()]);
    let f = verify_bundle(&bundle, &other).unwrap_err();
    assert_eq!(f.kind, FailureKind::MissingSignature);
}

#[test]
fn proving_against_a_checkpoint_the_export_does_not_match_fails() {
    let err = prove(
        read("tampered/rewritten.jsonl").as_bytes(),
        2,
        &read("valid/checkpoint-12.note"),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ledger::bundle::ProveError::RootMismatch { size: 12 }),
        "{err}"
    );
    let err = prove(
        read("valid/chain.jsonl").as_bytes(),
        12,
        &read("valid/checkpoint-12.note"),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ledger::bundle::ProveError::NotInCheckpoint { .. }),
        "{err}"
    );
}

#[test]
fn a_chain_head_reproduces_the_checkpoint() {
    let (_, head) = chain("contoso-partner", 12);
    let (cp, _) = Checkpoint::open(&read("valid/checkpoint-12.note"), &trusted()).unwrap();
    assert_eq!(cp, head.checkpoint(LOG_NAME));
}

#[test]
fn lines_that_straddle_the_read_buffer_are_read_whole() {
    // A 7-byte buffer makes nearly every line straddle a buffer boundary.
    for (name, expect_ok) in [
        ("valid/chain.jsonl", true),
        ("tampered/deleted.jsonl", false),
        ("tampered/reordered.jsonl", false),
    ] {
        let text = read(name);
        let verifier = Verifier::new(trusted(), VerifyOptions::default());
        let small = verifier.verify(std::io::BufReader::with_capacity(7, text.as_bytes()), |_| {});
        let whole = verifier.verify(text.as_bytes(), |_| {});
        assert_eq!(small.is_ok(), expect_ok, "{name}");
        match (small, whole) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(VerifyError::Tampered(a)), Err(VerifyError::Tampered(b))) => assert_eq!(a, b),
            other => panic!("{name}: {other:?}"),
        }
    }
}
