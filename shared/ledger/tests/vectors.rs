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
use ledger::personal::{Disclosure, Disclosures};
use ledger::{ChainId, Checkpoint, EntryRef, FailureKind, Receipt, Verifier, VerifyError, VerifyOptions, Version};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

struct Vectors {
    files: BTreeMap<String, String>,
    /// Files that are not UTF-8 (some tampered vectors).
    binary: BTreeMap<String, Vec<u8>>,
    cases: Vec<Value>,
    bundles: Vec<Value>,
}

impl Vectors {
    fn file(&mut self, path: &str, content: String) {
        self.files.insert(path.to_owned(), content);
    }

    fn file_bytes(&mut self, path: &str, content: Vec<u8>) {
        match String::from_utf8(content) {
            Ok(text) => self.file(path, text),
            Err(e) => {
                self.binary.insert(path.to_owned(), e.into_bytes());
            }
        }
    }

    fn case(&mut self, name: &str, class: &str, export: &str, checkpoints: &[&str], expect: Value, about: &str) {
        self.cases.push(json!({ "name": name, "attack": class, "export": export, "checkpoints": checkpoints, "expect": expect, "about": about }));
    }

    /// A case that also checks a disclosures file.
    #[allow(clippy::too_many_arguments)]
    fn case_with_disclosures(
        &mut self,
        name: &str,
        class: &str,
        export: &str,
        checkpoints: &[&str],
        disclosures: &str,
        expect: Value,
        about: &str,
    ) {
        self.cases.push(json!({ "name": name, "attack": class, "export": export, "checkpoints": checkpoints, "disclosures": disclosures, "expect": expect, "about": about }));
    }
}

fn fails(kind: &str, seq: Option<u64>, line: Option<u64>) -> Value {
    json!({ "valid": false, "kind": kind, "seq": seq, "line": line })
}

fn generate() -> BTreeMap<String, Vec<u8>> {
    let mut v = Vectors {
        files: BTreeMap::new(),
        binary: BTreeMap::new(),
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
        json!({ "valid": true, "entries": 12, "checkpointsChecked": 2, "uncovered": 0 }),
        "12 entries of one chain (format v1) and two checkpoints of it",
    );
    v.case(
        "valid-two-chains",
        "none",
        "valid/two-chains.jsonl",
        &["valid/checkpoint-12.note", "valid/fabrikam-5.note"],
        json!({ "valid": true, "entries": 17, "checkpointsChecked": 2, "uncovered": 0 }),
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
        json!({ "valid": true, "entries": 12, "checkpointsChecked": 0, "uncovered": 12 }),
        "the same forgery passes when the auditor kept no checkpoint (and the report says nothing is covered): keep checkpoints",
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
        .append_v1(
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
            .append_v1(
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
        Checkpoint::new(
            Checkpoint::origin_for(LOG_NAME, &ChainId::parse("contoso-partner").unwrap()),
            8,
            f.root(),
        )
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

    v2_cases(&mut v);
    crafted_cases(&mut v, &lines);

    // Evidence bundles (of the v2 chain: its checkpoints are written by v2_cases).
    let v2_export = v.files["v2/chain.jsonl"].clone();
    let v2_cp12 = v.files["v2/checkpoint-12.note"].clone();
    let v2_cp8 = v.files["v2/checkpoint-8.note"].clone();
    let disclosures: Disclosures = serde_json::from_str(&v.files["v2/disclosures.json"]).unwrap();
    let at5: Vec<Disclosure> = disclosures.disclosures.iter().filter(|d| d.seq == 5).cloned().collect();
    assert!(!at5.is_empty());
    let bundle = prove(v2_export.as_bytes(), &[4, 5], &v2_cp12, Some(&v2_cp8), &at5).unwrap();
    v.file("bundles/seq-4-5.json", bundle.to_text());
    v.bundles.push(json!({ "name": "valid-bundle", "bundle": "bundles/seq-4-5.json", "expect": { "valid": true, "seqs": [4, 5], "disclosed": at5.len() }, "about": "seq 4 and 5 in checkpoint 12, consistent with checkpoint 8, with seq 5's personal values disclosed" }));
    let v2_lines: Vec<&str> = v2_export.lines().collect();
    let mut edited = bundle.clone();
    edited.entries[1].entry = v2_lines[5].replacen("\"severity\":\"B\"", "\"severity\":\"A\"", 1);
    v.file("bundles/tampered-entry.json", edited.to_text());
    v.bundles.push(json!({ "name": "bundle-modified-entry", "bundle": "bundles/tampered-entry.json", "expect": fails("modified", Some(5), None), "about": "an entry was edited" }));
    let mut forged_bundle = bundle.clone();
    let rehashed_v2 = rewrite_from(
        &v2_lines
            .iter()
            .map(|l| l.replacen("\"severity\":\"B\"", "\"severity\":\"A\"", 1))
            .collect::<Vec<_>>(),
        0,
    );
    forged_bundle.entries[1].entry = rehashed_v2[5].clone();
    forged_bundle.entries[1].disclosures.clear();
    v.file("bundles/forged-entry.json", forged_bundle.to_text());
    v.bundles.push(json!({ "name": "bundle-forged-entry", "bundle": "bundles/forged-entry.json", "expect": fails("fork", Some(5), None), "about": "a re-hashed forgery: valid alone, but not in the signed tree" }));
    let mut fork_bundle = bundle.clone();
    fork_bundle.consistency.as_mut().unwrap().older_checkpoint = v.files["v2/fork-checkpoint-8.note"].clone();
    v.file("bundles/inconsistent.json", fork_bundle.to_text());
    v.bundles.push(json!({ "name": "bundle-inconsistent", "bundle": "bundles/inconsistent.json", "expect": fails("fork", None, None), "about": "the older checkpoint is not a prefix of the newer one" }));
    let mut lying = bundle.clone();
    lying.entries[1].disclosures[0].value = "someone else".into();
    v.file("bundles/bad-disclosure.json", lying.to_text());
    v.bundles.push(json!({ "name": "bundle-bad-disclosure", "bundle": "bundles/bad-disclosure.json", "expect": fails("bad_disclosure", Some(5), None), "about": "a disclosed value that is not the committed one" }));
    let foreign_log = {
        let cp = Checkpoint::open(&v2_cp12, &trusted()).unwrap().0;
        Checkpoint::new("attacker.example/staging/contoso-partner".into(), cp.size, cp.root).sign(&k)
    };
    let mut staged = bundle.clone();
    staged.checkpoint = foreign_log;
    staged.consistency = None;
    v.file("bundles/wrong-log.json", staged.to_text());
    v.bundles.push(json!({ "name": "bundle-wrong-log", "bundle": "bundles/wrong-log.json", "expect": fails("wrong_log", None, None), "about": "the same tree signed by the trusted key for another deployment's log: proves nothing about this one" }));

    // Receipts.
    let rk = receipt_key();
    v.file("ledgerdesk-vectors-receipts.pub", format!("{}\n", rk.verifier()));
    let e5 = EntryRef::parse(v2_lines[5].as_bytes()).unwrap();
    let receipt = Receipt::new(&log(), &ChainId::parse(e5.chain).unwrap(), 5, e5.hash, e5.at).unwrap();
    v.file("receipts/seq-5.note", receipt.sign(&rk));
    let mut wrong = receipt.clone();
    wrong.entry_hash = EntryRef::parse(v2_lines[6].as_bytes()).unwrap().hash;
    v.file("receipts/broken-promise-5.note", wrong.sign(&rk));
    v.file("receipts/signed-by-checkpoint-key.note", receipt.sign(&k));
    // A deadline further out than the entry's time + 300 s is not the promise (FORMAT.md §10).
    let mut stretched = receipt.clone();
    stretched.merge_deadline = "9999-12-31T23:59:59.999Z".into();
    v.file("receipts/stretched-deadline.note", stretched.sign(&rk));

    let manifest = json!({
        "format": "ledgerdesk-ledger-vectors/v2",
        "key": "ledgerdesk-vectors.pub",
        "receiptKey": "ledgerdesk-vectors-receipts.pub",
        "log": LOG_NAME,
        "about": "Each case: verify `export` with `ledger verify <export> --key <key> --log <log> --checkpoint <each checkpoint> [--disclosures <file>]`; expect says the outcome. Bundles: `ledger verify-proof <bundle> --key <key> --log <log>`. Receipts: `ledger verify-receipt <note> --receipt-key <receiptKey> --log <log>`.",
        "cases": v.cases,
        "bundles": v.bundles,
    });
    v.file(
        "manifest.json",
        format!("{}\n", serde_json::to_string_pretty(&manifest).unwrap()),
    );
    let mut all: BTreeMap<String, Vec<u8>> = v.files.into_iter().map(|(k, t)| (k, t.into_bytes())).collect();
    all.extend(v.binary);
    all
}

/// The v2 chain: personal values as commitments, a disclosures file, an erasure.
fn v2_cases(v: &mut Vectors) {
    let k = key();
    let (entries, head12, values) = chain_v2("contoso-partner", 12);
    let lines: Vec<String> = entries.iter().map(|e| e.line.clone()).collect();
    let (_, head8, _) = chain_v2("contoso-partner", 8);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("Erika") || l.contains("partner.example")),
        "no personal value in clear"
    );
    v.file("v2/chain.jsonl", jsonl(&lines));
    v.file("v2/checkpoint-8.note", head8.sign_checkpoint(LOG_NAME, &k));
    v.file("v2/checkpoint-12.note", head12.sign_checkpoint(LOG_NAME, &k));
    let disclosures = Disclosures {
        format: ledger::personal::DISCLOSURES_FORMAT.into(),
        disclosures: values
            .iter()
            .filter(|(seq, _)| *seq == 4 || *seq == 5)
            .map(|(seq, s)| Disclosure {
                chain: "contoso-partner".into(),
                seq: *seq,
                path: s.path.clone(),
                value: s.value.clone(),
                salt: s.salt.to_hex(),
            })
            .collect(),
    };
    let disclosures_text = |d: &Disclosures| format!("{}\n", serde_json::to_string_pretty(d).unwrap());
    v.file("v2/disclosures.json", disclosures_text(&disclosures));
    v.case_with_disclosures(
        "v2-valid-chain",
        "none",
        "v2/chain.jsonl",
        &["v2/checkpoint-8.note", "v2/checkpoint-12.note"],
        "v2/disclosures.json",
        json!({ "valid": true, "entries": 12, "checkpointsChecked": 2, "uncovered": 0, "disclosuresChecked": disclosures.disclosures.len() }),
        "12 v2 entries whose personal values are salted commitments; the disclosed values of seq 4 and 5 match",
    );
    // An erasure: the values and salts are gone; the ledger is untouched and still verifies.
    let (_, erased_head) = {
        let (kind, data) = (
            "personal_data_erased",
            json!({ "requestId": "01KAW000000000000000001001", "actor": { "role": "privacy_officer" }, "legalBasis": "gdpr_art_17_1_a", "commitments": values.iter().filter(|(seq, _)| (4..8).contains(seq)).map(|(_, s)| s.commitment.to_hex()).collect::<Vec<_>>() }),
        );
        let (entry, next) = head12.append(&at(12), kind, &data).unwrap();
        let mut with = lines.clone();
        with.push(entry.line);
        v.file("v2/erased.jsonl", jsonl(&with));
        (with, next)
    };
    v.file("v2/checkpoint-13.note", erased_head.sign_checkpoint(LOG_NAME, &k));
    v.case(
        "v2-erasure",
        "none",
        "v2/erased.jsonl",
        &["v2/checkpoint-12.note", "v2/checkpoint-13.note"],
        json!({ "valid": true, "entries": 13, "checkpointsChecked": 2, "uncovered": 0 }),
        "a personal_data_erased entry names the erased commitments; the old checkpoint and the new one both verify",
    );

    let mut changed = lines.clone();
    let commitment = EntryRef::parse(changed[5].as_bytes()).unwrap();
    let first = serde_json::from_slice::<Value>(commitment.data).unwrap()["actor"]["subject"]["commitment"]
        .as_str()
        .unwrap()
        .to_owned();
    changed[5] = changed[5].replacen(&first, &"0".repeat(64), 1);
    v.file("v2/tampered/changed-commitment.jsonl", jsonl(&changed));
    v.case(
        "v2-changed-commitment",
        "modification",
        "v2/tampered/changed-commitment.jsonl",
        &["v2/checkpoint-12.note"],
        fails("modified", Some(5), Some(6)),
        "seq 5's commitment to its actor's subject replaced, hash left as it was",
    );
    let rewritten = rewrite_from(&changed, 5);
    v.file("v2/tampered/changed-commitment-rehashed.jsonl", jsonl(&rewritten));
    v.case(
        "v2-changed-commitment-rehashed",
        "modification",
        "v2/tampered/changed-commitment-rehashed.jsonl",
        &["v2/checkpoint-8.note"],
        fails("fork", Some(7), Some(8)),
        "the same, with seq 5 and everything after it re-hashed: the checkpoint of size 8 exposes it",
    );
    v.file("v2/fork-checkpoint-8.note", {
        let mut f = ledger::Frontier::new();
        for l in &rewritten[..8] {
            f.push(ledger::merkle::leaf_hash(
                EntryRef::parse(l.as_bytes()).unwrap().hash.as_bytes(),
            ));
        }
        Checkpoint::new(
            Checkpoint::origin_for(LOG_NAME, &ChainId::parse("contoso-partner").unwrap()),
            8,
            f.root(),
        )
        .sign(&k)
    });

    let mut lying = disclosures.clone();
    lying.disclosures[1].value = "Someone Else".into();
    v.file("v2/tampered/bad-disclosure.json", disclosures_text(&lying));
    v.case_with_disclosures(
        "v2-bad-disclosure",
        "false disclosure",
        "v2/chain.jsonl",
        &["v2/checkpoint-12.note"],
        "v2/tampered/bad-disclosure.json",
        fails(
            "bad_disclosure",
            Some(lying.disclosures[1].seq),
            Some(lying.disclosures[1].seq + 1),
        ),
        "a disclosed value that is not the one committed to",
    );
    // After an erasure the operator no longer holds the value: "restoring" one with a guessed
    // value (and a made-up salt) does not match the commitment.
    let mut restored = disclosures.clone();
    restored.disclosures[0].salt = "11".repeat(32);
    v.file("v2/tampered/restored-differently.json", disclosures_text(&restored));
    v.case_with_disclosures(
        "v2-restored-differently",
        "false disclosure",
        "v2/erased.jsonl",
        &["v2/checkpoint-13.note"],
        "v2/tampered/restored-differently.json",
        fails(
            "bad_disclosure",
            Some(restored.disclosures[0].seq),
            Some(restored.disclosures[0].seq + 1),
        ),
        "an erased value \"restored\" with the right text but another salt: it proves nothing",
    );

    // Times go backwards (re-hashed, so only the time rule catches it).
    let mut backwards = lines.clone();
    let e = EntryRef::parse(backwards[6].as_bytes()).unwrap();
    backwards[6] = backwards[6].replacen(e.at, "1999-01-01T00:00:00.000Z", 1);
    let backwards = rewrite_from(&backwards, 6);
    v.file("v2/tampered/time-reversed.jsonl", jsonl(&backwards));
    v.case(
        "time-reversed",
        "backdating",
        "v2/tampered/time-reversed.jsonl",
        &[],
        fails("time_reversed", Some(6), Some(7)),
        "seq 6 dated 1999, after an entry of 2026 (and re-hashed)",
    );

    // A v1 entry after v2 entries.
    let (v1_entries, _) = chain("contoso-partner", 12);
    let mut regressed = lines[..4].to_vec();
    let e3 = EntryRef::parse(lines[3].as_bytes()).unwrap();
    let v1_line = EntryRef::parse(v1_entries[4].line.as_bytes()).unwrap();
    regressed.push(
        String::from_utf8(forge(
            Version::V1,
            "contoso-partner",
            4,
            &e3.hash.to_hex(),
            v1_line.at,
            v1_line.kind,
            v1_line.data,
        ))
        .unwrap(),
    );
    v.file("v2/tampered/version-regressed.jsonl", jsonl(&regressed));
    v.case(
        "version-regressed",
        "downgrade",
        "v2/tampered/version-regressed.jsonl",
        &[],
        fails("malformed", Some(4), Some(5)),
        "a v1 entry (personal data in clear) appended after v2 entries",
    );

    // A commitment where no personal value belongs (FORMAT.md §4.1): an SLA breach recorded
    // as a "personal value", which an erasure could then make unprovable for ever.
    let mut misplaced = lines.clone();
    let e11 = EntryRef::parse(lines[11].as_bytes()).unwrap();
    let hidden = ledger::Hash::digest(b"the breach").to_hex();
    misplaced.push(
        String::from_utf8(forge(
            Version::V2,
            "contoso-partner",
            12,
            &e11.hash.to_hex(),
            &ledger::entry::format_at(&at(12)),
            "sla_breached",
            format!(r#"{{"change":{{"commitment":"{hidden}"}},"requestId":"01KAW000000000000000001000"}}"#).as_bytes(),
        ))
        .unwrap(),
    );
    v.file("v2/tampered/misplaced-commitment.jsonl", jsonl(&misplaced));
    v.case(
        "misplaced-commitment",
        "hidden fact",
        "v2/tampered/misplaced-commitment.jsonl",
        &["v2/checkpoint-12.note"],
        fails("misplaced_commitment", Some(12), Some(13)),
        "an sla_breached entry whose change is a commitment: a fact that an erasure naming it would hide",
    );

    // Coverage: entries no checkpoint binds.
    let mut head = head12.clone();
    let mut grown = lines.clone();
    for i in 12..15 {
        let (kind, data, _) = event_v2("contoso-partner", i);
        let (entry, next) = head.append(&at(i), kind, &data).unwrap();
        grown.push(entry.line);
        head = next;
    }
    v.file("v2/tampered/appended-after-checkpoint.jsonl", jsonl(&grown));
    v.case(
        "uncovered-tail",
        "unbound entries",
        "v2/tampered/appended-after-checkpoint.jsonl",
        &["v2/checkpoint-12.note"],
        fails("uncovered", Some(12), None),
        "three entries appended after the last kept checkpoint: nothing signed binds them",
    );
    let (made_up, _, _) = chain_v2("fabrikam-partner", 3);
    let mut second = lines.clone();
    second.extend(made_up.into_iter().map(|e| e.line));
    v.file("v2/tampered/made-up-chain.jsonl", jsonl(&second));
    v.case(
        "uncovered-chain",
        "unbound entries",
        "v2/tampered/made-up-chain.jsonl",
        &["v2/checkpoint-12.note"],
        fails("uncovered", Some(0), None),
        "a whole second chain that no kept checkpoint covers",
    );

    // The log's name: a checkpoint the trusted key signed for another log.
    let cp12 = Checkpoint::open(&v.files["v2/checkpoint-12.note"], &trusted())
        .unwrap()
        .0;
    for (name, origin) in [
        ("wrong-log-other-name", "evil.example/contoso-partner"),
        ("wrong-log-bare-chain", "contoso-partner"),
        ("wrong-log-staging", "ledgerdesk.vectors/staging/contoso-partner"),
    ] {
        let path = format!("v2/tampered/{name}.note");
        v.file(&path, Checkpoint::new(origin.into(), 12, cp12.root).sign(&k));
        v.case(
            name,
            "another log",
            "v2/chain.jsonl",
            &[path.as_str()],
            fails("wrong_log", None, None),
            &format!("the right tree signed by the trusted key, but as the log {origin:?}"),
        );
    }
    // A size-0 checkpoint must carry the empty tree's root.
    let path = "v2/tampered/empty-with-root.note";
    v.file(path, {
        let text = format!("{LOG_NAME}/contoso-partner\n0\n{}\n", cp12.root.to_base64());
        k.sign_note(&text)
    });
    v.case(
        "empty-checkpoint-with-root",
        "damage",
        "v2/chain.jsonl",
        &[path],
        fails("malformed", None, None),
        "a checkpoint of size 0 whose root is not the empty tree's",
    );
    // A chain that starts inside another.
    let (fab, _, _) = chain_v2("fabrikam-partner", 1);
    let mut inside = lines.clone();
    inside.insert(6, fab[0].line.clone());
    v.file("v2/tampered/chain-inside-chain.jsonl", jsonl(&inside));
    v.case(
        "chain-inside-chain",
        "entry from another chain",
        "v2/tampered/chain-inside-chain.jsonl",
        &["v2/checkpoint-12.note"],
        fails("foreign_entry", Some(0), Some(7)),
        "fabrikam-partner's first entry between contoso-partner's seq 5 and 6",
    );
}

/// One line of data that a re-hashing forger might write, and what the verifier must say.
fn crafted_cases(v: &mut Vectors, v1_lines: &[String]) {
    let e0 = EntryRef::parse(v1_lines[0].as_bytes()).unwrap();
    let forms: &[(&str, &[u8], &str, &str)] = &[
        (
            "injection",
            br#"{"amount":100},"kind":"sla_breached","chain":"fabrikam","seq":99,"data":{"amount":999999}"#,
            "not_canonical",
            "a data value that closes early: JSON readers see another kind, chain and amount",
        ),
        ("garbage", b"{garbage}", "not_canonical", "not JSON inside the braces"),
        (
            "invalid-utf8",
            b"{\"a\":\"\xff\xfe\"}",
            "not_canonical",
            "bytes that are not UTF-8",
        ),
        (
            "duplicate-key",
            br#"{"a":1,"a":2}"#,
            "not_canonical",
            "one key twice: readers disagree which value counts",
        ),
        (
            "key-order",
            br#"{"b":1,"a":2}"#,
            "not_canonical",
            "members not in canonical order",
        ),
        ("fraction", br#"{"a":1.0}"#, "not_canonical", "1.0 for 1"),
        ("exponent", br#"{"a":1e0}"#, "not_canonical", "1e0 for 1"),
        ("negative-zero", br#"{"a":-0}"#, "not_canonical", "-0"),
        (
            "unsafe-integer",
            br#"{"a":9007199254740993}"#,
            "not_canonical",
            "2^53+1, which readers round differently",
        ),
        ("escaped-letter", br#"{"a":"\u00e9"}"#, "not_canonical", "\\u00e9 for é"),
        (
            "nfd",
            "{\"a\":\"e\u{301}\"}".as_bytes(),
            "not_canonical",
            "é decomposed (NFD)",
        ),
        ("escaped-slash", br#"{"a":"\/"}"#, "not_canonical", "\\/ for /"),
        (
            "lone-surrogate",
            br#"{"a":"\ud800"}"#,
            "not_canonical",
            "an unpaired surrogate",
        ),
        (
            "raw-cr",
            b"{\"a\":\"x\ry\"}",
            "not_canonical",
            "a raw carriage return inside a string",
        ),
        ("whitespace", br#"{"a": 1}"#, "not_canonical", "a space after the colon"),
        (
            "nested-whitespace",
            b"{\"a\":[1,\n2]}",
            "not_canonical",
            "a newline inside the data (which also splits the line)",
        ),
    ];
    for (name, data, kind, about) in forms {
        let line = forge(Version::V1, e0.chain, 0, &"0".repeat(64), e0.at, e0.kind, data);
        let mut file = line.clone();
        file.push(b'\n');
        let path = format!("tampered/noncanonical/{name}.jsonl");
        v.file_bytes(&path, file);
        let expect = if *name == "nested-whitespace" {
            fails("malformed", None, Some(1))
        } else {
            fails(kind, None, Some(1))
        };
        v.case(name, "non-canonical data", &path, &[], expect, about);
    }
    let mut crlf = v1_lines[0].clone().into_bytes();
    crlf.extend_from_slice(b"\r\n");
    v.file_bytes("tampered/noncanonical/crlf.jsonl", crlf);
    v.case(
        "crlf",
        "damage",
        "tampered/noncanonical/crlf.jsonl",
        &[],
        fails("malformed", None, Some(1)),
        "a line ended by CR LF",
    );
    let max = forge(
        Version::V1,
        e0.chain,
        u64::MAX,
        &"0".repeat(64),
        e0.at,
        e0.kind,
        e0.data,
    );
    let mut file = max;
    file.push(b'\n');
    v.file_bytes("tampered/max-seq.jsonl", file);
    v.case(
        "max-seq",
        "damage",
        "tampered/max-seq.jsonl",
        &[],
        fails("deleted", Some(0), Some(1)),
        "a first entry with seq 18446744073709551615: reported, not a crash",
    );
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
        let committed = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (regenerate with LEDGER_WRITE_VECTORS=1)", file.display()));
        assert!(&committed == content, "{path} differs from what the code generates");
    }
    // And nothing stale is left behind.
    let mut stack = vec![dir()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir()).unwrap().to_string_lossy().replace('\\', "/");
                assert!(
                    generated.contains_key(&relative),
                    "{relative} is not generated any more: remove it"
                );
            }
        }
    }
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(dir().join(path)).unwrap()
}

fn read_bytes(path: &str) -> Vec<u8> {
    std::fs::read(dir().join(path)).unwrap()
}

fn options() -> VerifyOptions {
    VerifyOptions {
        log: Some(log()),
        ..VerifyOptions::default()
    }
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
    let mut verifier = Verifier::new(trusted(), options());
    if let Some(path) = case["disclosures"].as_str() {
        let file: Disclosures = serde_json::from_str(&read(path)).unwrap();
        for d in file.disclosures {
            verifier.add_disclosure(d);
        }
    }
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
            .verify(read_bytes(case["export"].as_str().unwrap()).as_slice(), |_| {})
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
            assert_eq!(report.uncovered, expect["uncovered"].as_u64().unwrap(), "{name}");
            if let Some(n) = expect["disclosuresChecked"].as_u64() {
                assert_eq!(report.disclosures_checked as u64, n, "{name}");
            }
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
fn v2_chains_verify_with_their_disclosures() {
    check("v2-valid-chain");
    check("v2-erasure");
}

#[test]
fn v2_tampering_is_detected() {
    check("v2-changed-commitment");
    check("v2-changed-commitment-rehashed");
}

#[test]
fn a_commitment_where_no_personal_value_belongs_is_refused() {
    check("misplaced-commitment");
}

#[test]
fn false_disclosures_are_detected() {
    check("v2-bad-disclosure");
    check("v2-restored-differently");
}

#[test]
fn times_never_go_back() {
    check("time-reversed");
}

#[test]
fn a_chain_never_goes_back_to_v1() {
    check("version-regressed");
}

#[test]
fn uncovered_entries_fail_when_checkpoints_are_kept() {
    check("uncovered-tail");
    check("uncovered-chain");
}

#[test]
fn checkpoints_of_another_log_are_refused() {
    check("wrong-log-other-name");
    check("wrong-log-bare-chain");
    check("wrong-log-staging");
}

#[test]
fn an_empty_checkpoint_with_a_root_is_malformed() {
    check("empty-checkpoint-with-root");
}

#[test]
fn a_chain_inside_another_is_a_foreign_entry() {
    check("chain-inside-chain");
}

#[test]
fn every_noncanonical_form_is_refused() {
    check("injection");
    check("garbage");
    check("invalid-utf8");
    check("duplicate-key");
    check("key-order");
    check("fraction");
    check("exponent");
    check("negative-zero");
    check("unsafe-integer");
    check("escaped-letter");
    check("nfd");
    check("escaped-slash");
    check("lone-surrogate");
    check("raw-cr");
    check("whitespace");
    check("nested-whitespace");
    check("crlf");
}

#[test]
fn the_largest_seq_is_reported_not_a_crash() {
    check("max-seq");
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
        let expect = &case["expect"];
        let outcome = EvidenceBundle::parse(&read(case["bundle"].as_str().unwrap()))
            .and_then(|bundle| verify_bundle(&bundle, &trusted(), &log()));
        match outcome {
            Ok(report) => {
                assert_eq!(expect["valid"], true, "{}", case["name"]);
                let seqs: Vec<u64> = report.entries.iter().map(|e| e.seq).collect();
                assert_eq!(json!(seqs), expect["seqs"]);
                let disclosed: usize = report.entries.iter().map(|e| e.disclosed.len()).sum();
                assert_eq!(json!(disclosed), expect["disclosed"]);
                assert_eq!(report.consistent_with_size, Some(8));
                assert_eq!(report.origin, format!("{LOG_NAME}/contoso-partner"));
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
    let bundle = EvidenceBundle::parse(&read("bundles/seq-4-5.json")).unwrap();
    let other = ledger::TrustedKeys::new([ledger::SignerKey::from_seed("other", [1; 32]).unwrap().verifier()]);
    let f = verify_bundle(&bundle, &other, &log()).unwrap_err();
    assert_eq!(f.kind, FailureKind::MissingSignature);
}

#[test]
fn a_bundle_reformatted_reads_the_same_and_nothing_else_does() {
    let text = read("bundles/seq-4-5.json");
    let bundle = EvidenceBundle::parse(&text).unwrap();
    assert_eq!(bundle.to_text(), text, "written canonically");
    // `jq .` of it: indented, members in another order, other string escapes, no final newline.
    let value: Value = serde_json::from_str(&text).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    let reordered = {
        let object = value.as_object().unwrap();
        let members: Vec<String> = object
            .iter()
            .rev()
            .map(|(k, v)| format!("{}: {}", serde_json::to_string(k).unwrap(), v))
            .collect();
        format!("{{\n  {}\n}}", members.join(",\n  "))
    };
    for reformatted in [pretty.clone(), format!("{pretty}\n\n"), reordered] {
        let read = EvidenceBundle::parse(&reformatted).unwrap();
        assert_eq!(read, bundle);
        assert_eq!(read.to_text(), text, "and written canonically again");
        verify_bundle(&read, &trusted(), &log()).unwrap();
    }
    // Objects written as arrays (serde would fill the fields by position), an entry listed twice
    // or out of order, `"consistency": null`, more than 10,000 entries: malformed.
    let as_array = serde_json::to_string(&json!([
        value["checkpoint"],
        null,
        value["entries"],
        value["format"],
        value["treeSize"]
    ]))
    .unwrap();
    assert!(
        EvidenceBundle::parse(&as_array)
            .unwrap_err()
            .message
            .contains("a JSON object")
    );
    let mut entry_as_array = value.clone();
    let first = entry_as_array["entries"][0].clone();
    entry_as_array["entries"][0] = json!([
        first["disclosures"],
        first["entry"],
        first["inclusionProof"],
        first["leafIndex"]
    ]);
    assert!(EvidenceBundle::parse(&entry_as_array.to_string()).is_err());
    let mut null_consistency = value.clone();
    null_consistency["consistency"] = Value::Null;
    assert!(EvidenceBundle::parse(&null_consistency.to_string()).is_err());
    for entries in [
        vec![value["entries"][0].clone(), value["entries"][0].clone()],
        value["entries"].as_array().unwrap().iter().rev().cloned().collect(),
    ] {
        let mut twice = value.clone();
        twice["entries"] = Value::Array(entries);
        let read = EvidenceBundle::parse(&twice.to_string()).unwrap();
        let failure = verify_bundle(&read, &trusted(), &log()).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Malformed);
        assert!(failure.message.contains("ascending order, each once"), "{failure}");
    }
    let many = format!(
        "{{\"checkpoint\":\"x\",\"entries\":[{}],\"format\":\"ledgerdesk-evidence/v2\",\"treeSize\":1}}",
        vec!["{\"entry\":\"x\",\"inclusionProof\":[],\"leafIndex\":0}"; ledger::bundle::MAX_BUNDLE_ENTRIES + 1]
            .join(",")
    );
    assert!(
        EvidenceBundle::parse(&many)
            .unwrap_err()
            .message
            .contains("at most 10000")
    );
    // A member twice, an unknown member, or anything after the object: malformed.
    let twice = pretty.replacen("\"treeSize\"", "\"treeSize\": 3,\n  \"treeSize\"", 1);
    let unknown = pretty.replacen("\"treeSize\"", "\"surprise\": 1,\n  \"treeSize\"", 1);
    let after = format!("{pretty}\n{{}}");
    for (bad, says) in [
        (twice, "duplicate field"),
        (unknown, "unknown field"),
        (after, "trailing"),
    ] {
        let failure = EvidenceBundle::parse(&bad).unwrap_err();
        assert_eq!(failure.kind, FailureKind::Malformed);
        assert!(failure.message.contains(says), "{failure}");
    }
}

#[test]
fn a_bundle_is_written_in_the_canonical_form_without_a_json_tree() {
    // The members are declared in canonical order: serialising writes what the canonical
    // encoder writes, for every committed bundle.
    for path in [
        "bundles/seq-4-5.json",
        "bundles/bad-disclosure.json",
        "bundles/wrong-log.json",
    ] {
        let bundle = EvidenceBundle::parse(&read(path)).unwrap();
        let canonical = ledger::canonical::encode_data(&serde_json::to_value(&bundle).unwrap()).unwrap();
        assert_eq!(bundle.to_text(), format!("{canonical}\n"), "{path}");
    }
}

#[test]
fn a_bundle_is_read_within_bounds() {
    let bundle = EvidenceBundle::parse(&read("bundles/seq-4-5.json")).unwrap();
    let mut value = serde_json::to_value(&bundle).unwrap();
    let hash = bundle.entries[0].inclusion_proof[0].clone();
    let refused = |value: &Value| {
        let text = format!("{}\n", ledger::canonical::encode_data(value).unwrap());
        EvidenceBundle::parse(&text).unwrap_err()
    };
    // 65 hashes in an inclusion proof: more than any tree of 2^64 entries needs.
    value["entries"][0]["inclusionProof"] = json!(vec![hash; 65]);
    let failure = refused(&value);
    assert_eq!(failure.kind, FailureKind::Malformed);
    assert!(failure.message.contains("at most 64"), "{failure}");
    // Empty strings where hashes belong: refused before they are kept.
    value["entries"][0]["inclusionProof"] = json!(vec![""; 3]);
    assert!(refused(&value).message.contains("base64"), "{}", refused(&value));
    // 65 disclosures for one entry.
    let mut value = serde_json::to_value(&bundle).unwrap();
    value["entries"][0]["disclosures"] = json!(vec![json!({ "path": "/x", "salt": "00", "value": "v" }); 65]);
    assert!(refused(&value).message.contains("at most 64"), "{}", refused(&value));
}

#[test]
fn proving_against_a_checkpoint_the_export_does_not_match_fails() {
    let err = prove(
        read("tampered/rewritten.jsonl").as_bytes(),
        &[2],
        &read("valid/checkpoint-12.note"),
        None,
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(err, ledger::bundle::ProveError::RootMismatch { size: 12 }),
        "{err}"
    );
    let err = prove(
        read("valid/chain.jsonl").as_bytes(),
        &[12],
        &read("valid/checkpoint-12.note"),
        None,
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(err, ledger::bundle::ProveError::NotInCheckpoint { .. }),
        "{err}"
    );
}

#[test]
fn receipts_verify_with_the_receipt_key_and_keep_their_promise_or_not() {
    let receipts = ledger::TrustedKeys::new([receipt_key().verifier()]);
    let kept = Receipt::open(&read("receipts/seq-5.note"), &receipts, &log()).unwrap();
    let line = read("v2/chain.jsonl").lines().nth(5).unwrap().to_owned();
    let entry = EntryRef::parse(line.as_bytes()).unwrap();
    assert_eq!((kept.seq, kept.entry_hash), (5, entry.hash));
    let broken = Receipt::open(&read("receipts/broken-promise-5.note"), &receipts, &log()).unwrap();
    assert_ne!(broken.entry_hash, entry.hash, "the promise names another entry");
    assert!(Receipt::open(&read("receipts/signed-by-checkpoint-key.note"), &receipts, &log()).is_err());
    assert!(matches!(
        Receipt::open(&read("receipts/stretched-deadline.note"), &receipts, &log()),
        Err(ledger::receipt::ReceiptError::Malformed(_))
    ));
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
