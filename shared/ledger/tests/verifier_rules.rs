//! The verifier's rules one at a time, each at its edge: kept checkpoints (one log, one root
//! per size, counted, covering), a pinned chain, times (the allowed skew, equal times),
//! deletions counted, disclosures named. Written to kill the mutants `.ci/mutants` found alive.

mod common;

use common::*;
use ledger::{FailureKind, LogName, Verifier, VerifyOptions};

#[test]
fn checkpoints_of_two_logs_are_refused() {
    let (_, head) = chain("contoso", 3);
    let ours = head.sign_checkpoint(LOG_NAME, &key());
    let theirs = head.sign_checkpoint("another.log", &key());
    // The first checkpoint names the log; a second of another log is refused.
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier.add_checkpoint(&ours, "kept").unwrap();
    assert_eq!(verifier.log(), Some(LOG_NAME));
    let failure = verifier.add_checkpoint(&theirs, "theirs").unwrap_err();
    assert_eq!(failure.kind, FailureKind::WrongLog, "{failure}");
    assert!(failure.to_string().contains("is of the log another.log"), "{failure}");
    // A pinned log refuses another from the first checkpoint on.
    let mut pinned = Verifier::new(
        trusted(),
        VerifyOptions {
            log: Some(LogName::parse(LOG_NAME).unwrap()),
            ..VerifyOptions::default()
        },
    );
    assert_eq!(
        pinned.add_checkpoint(&theirs, "theirs").unwrap_err().kind,
        FailureKind::WrongLog
    );
    pinned.add_checkpoint(&ours, "kept").unwrap();
}

#[test]
fn two_roots_for_one_size_are_a_fork() {
    let (_, head) = chain("contoso", 3);
    let other = chain_v2("contoso", 3);
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier
        .add_checkpoint(&head.sign_checkpoint(LOG_NAME, &key()), "kept")
        .unwrap();
    let failure = verifier
        .add_checkpoint(&other.1.sign_checkpoint(LOG_NAME, &key()), "other")
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Fork, "{failure}");
    // The same checkpoint twice is no fork.
    verifier
        .add_checkpoint(&head.sign_checkpoint(LOG_NAME, &key()), "again")
        .unwrap();
}

fn export_of(chains: &[&[ledger::Entry]]) -> String {
    jsonl(chains.iter().flat_map(|c| c.iter().map(|e| e.line.as_str())))
}

#[test]
fn every_kept_checkpoint_is_counted_and_uncovered_entries_are_named() {
    let (contoso, contoso_head) = chain("contoso", 3);
    let (fabrikam, fabrikam_head) = chain("fabrikam", 2);
    let export = export_of(&[&contoso, &fabrikam]);
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier
        .add_checkpoint(&contoso_head.sign_checkpoint(LOG_NAME, &key()), "contoso")
        .unwrap();
    verifier
        .add_checkpoint(&fabrikam_head.sign_checkpoint(LOG_NAME, &key()), "fabrikam")
        .unwrap();
    let report = verifier.verify(export.as_bytes(), |_| {}).unwrap();
    assert_eq!(report.checkpoints_checked, 2);
    assert_eq!((report.covered, report.uncovered), (5, 0));

    // A chain no kept checkpoint covers at all, while others are covered: named as such.
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier
        .add_checkpoint(&fabrikam_head.sign_checkpoint(LOG_NAME, &key()), "fabrikam")
        .unwrap();
    match verifier.verify(export.as_bytes(), |_| {}) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!(f.kind, FailureKind::Uncovered);
            assert!(
                f.to_string()
                    .contains("no kept checkpoint covers any of the chain's 3 entries"),
                "{f}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Entries past the largest kept checkpoint: named by their range.
    let (_, head_of_two) = chain("contoso", 2);
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier
        .add_checkpoint(&head_of_two.sign_checkpoint(LOG_NAME, &key()), "two")
        .unwrap();
    match verifier.verify(export_of(&[&contoso]).as_bytes(), |_| {}) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!(f.kind, FailureKind::Uncovered);
            assert!(
                f.to_string()
                    .contains("entries 2 to 2 come after the largest kept checkpoint (2)"),
                "{f}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_disclosure_of_an_entry_the_export_lacks_is_named() {
    let (entries, _, sealed) = chain_v2("contoso", 3);
    let (other, _, _) = chain_v2("fabrikam", 1);
    let (seq, value) = sealed.first().cloned().unwrap();
    let disclosure = |seq: u64| ledger::personal::Disclosure {
        chain: "contoso".into(),
        seq,
        path: value.path.clone(),
        value: value.value.clone(),
        salt: hex::encode(value.salt.0),
    };
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier.add_disclosure(disclosure(seq));
    verifier.add_disclosure(disclosure(9));
    match verifier.verify(export_of(&[&entries, &other]).as_bytes(), |_| {}) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!(f.kind, FailureKind::BadDisclosure, "{f}");
            assert_eq!((f.chain.as_deref(), f.seq), (Some("contoso"), Some(9)), "{f}");
        }
        other => panic!("{other:?}"),
    }
    // The one that is there is checked.
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier.add_disclosure(disclosure(seq));
    let report = verifier
        .verify(export_of(&[&entries, &other]).as_bytes(), |_| {})
        .unwrap();
    assert_eq!(report.disclosures_checked, 1);
}

#[test]
fn a_pinned_chain_passes_alone_and_refuses_another() {
    let (contoso, _) = chain("contoso", 2);
    let (fabrikam, _) = chain("fabrikam", 1);
    let pinned = || {
        Verifier::new(
            trusted(),
            VerifyOptions {
                chain: Some(ledger::ChainId::parse("contoso").unwrap()),
                require_covered: Some(false),
                ..VerifyOptions::default()
            },
        )
    };
    assert_eq!(
        pinned()
            .verify(export_of(&[&contoso]).as_bytes(), |_| {})
            .unwrap()
            .entries,
        2
    );
    match pinned().verify(export_of(&[&contoso, &fabrikam]).as_bytes(), |_| {}) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!(
                (f.kind, f.chain.as_deref()),
                (FailureKind::ForeignEntry, Some("fabrikam")),
                "{f}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_entry_is_from_the_future_one_millisecond_past_the_allowed_skew() {
    use ledger::entry::MAX_VERIFIER_SKEW_SECONDS;
    let (entries, _) = chain("contoso", 3);
    let export = export_of(&[&entries]);
    let verify_at = |now: chrono::DateTime<chrono::Utc>| {
        Verifier::new(
            trusted(),
            VerifyOptions {
                now: Some(now),
                require_covered: Some(false),
                ..VerifyOptions::default()
            },
        )
        .verify(export.as_bytes(), |_| {})
    };
    let skew = chrono::Duration::seconds(MAX_VERIFIER_SKEW_SECONDS);
    // The last entry exactly at the latest believable time: fine.
    assert_eq!(verify_at(at(2) - skew).unwrap().entries, 3);
    // One millisecond less of clock: the last entry is from the future.
    match verify_at(at(2) - skew - chrono::Duration::milliseconds(1)) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!((f.kind, f.seq), (FailureKind::FutureTime, Some(2)), "{f}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_kept_checkpoint_of_a_chain_the_export_lacks_is_truncation_unless_it_commits_to_nothing() {
    let (contoso, contoso_head) = chain("contoso", 2);
    let (_, fabrikam_head) = chain("fabrikam", 1);
    let empty = ledger::ChainHead::genesis(ledger::ChainId::parse("northwind").unwrap());
    let export = export_of(&[&contoso]);
    let verifier = |pinned: Option<&str>| {
        let mut v = Verifier::new(
            trusted(),
            VerifyOptions {
                chain: pinned.map(|c| ledger::ChainId::parse(c).unwrap()),
                require_covered: Some(false),
                ..VerifyOptions::default()
            },
        );
        v.add_checkpoint(&contoso_head.sign_checkpoint(LOG_NAME, &key()), "contoso")
            .unwrap();
        v.add_checkpoint(&empty.sign_checkpoint(LOG_NAME, &key()), "northwind, size 0")
            .unwrap();
        v
    };
    // A size-0 checkpoint commits to nothing: its chain may be absent.
    assert_eq!(verifier(None).verify(export.as_bytes(), |_| {}).unwrap().entries, 2);
    // A chain with entries signed but none exported: truncated.
    let mut v = verifier(None);
    v.add_checkpoint(&fabrikam_head.sign_checkpoint(LOG_NAME, &key()), "fabrikam")
        .unwrap();
    match v.verify(export.as_bytes(), |_| {}) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!(
                (f.kind, f.chain.as_deref()),
                (FailureKind::Truncated, Some("fabrikam")),
                "{f}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Verifying contoso alone, fabrikam's checkpoint is not contoso's business…
    let mut v = verifier(Some("contoso"));
    v.add_checkpoint(&fabrikam_head.sign_checkpoint(LOG_NAME, &key()), "fabrikam")
        .unwrap();
    assert_eq!(v.verify(export.as_bytes(), |_| {}).unwrap().entries, 2);
    // …but contoso's own checkpoint with contoso missing from the export is.
    match verifier(Some("contoso")).verify(&b""[..], |_| {}) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!(
                (f.kind, f.chain.as_deref()),
                (FailureKind::Truncated, Some("contoso")),
                "{f}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn deleted_entries_are_counted_in_the_failure() {
    let (entries, _) = chain("contoso", 5);
    let verify = |keep: &[usize]| {
        let lines: Vec<&str> = keep.iter().map(|&i| entries[i].line.as_str()).collect();
        Verifier::new(
            trusted(),
            VerifyOptions {
                require_covered: Some(false),
                ..VerifyOptions::default()
            },
        )
        .verify(jsonl(lines).as_bytes(), |_| {})
    };
    for (keep, message) in [
        (&[0, 3, 4][..], "expected seq 1, found 3: 2 entries are missing"),
        (&[0, 1, 3, 4][..], "expected seq 2, found 3: 1 entry is missing"),
    ] {
        match verify(keep) {
            Err(ledger::VerifyError::Tampered(f)) => {
                assert_eq!(f.kind, FailureKind::Deleted, "{f}");
                assert!(f.to_string().contains(message), "{f}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn entries_may_share_a_time_but_not_go_back() {
    let contoso = ledger::ChainId::parse("contoso").unwrap();
    let mut head = ledger::ChainHead::genesis(contoso);
    let mut lines = Vec::new();
    let mut hashes = Vec::new();
    for t in [at(1), at(1)] {
        let (entry, next) = head.append(&t, "note_added", &serde_json::json!({})).unwrap();
        lines.push(entry.line);
        hashes.push(entry.hash.to_hex());
        head = next;
    }
    // The writer never goes back (it takes the later of now and its last time): forged.
    let earlier = at(0).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let back = forge(
        ledger::Version::V2,
        "contoso",
        2,
        &hashes[1],
        &earlier,
        "note_added",
        b"{}",
    );
    lines.push(String::from_utf8(back).unwrap());
    let verify = |n: usize| {
        Verifier::new(
            trusted(),
            VerifyOptions {
                require_covered: Some(false),
                ..VerifyOptions::default()
            },
        )
        .verify(jsonl(&lines[..n]).as_bytes(), |_| {})
    };
    assert_eq!(verify(2).unwrap().entries, 2, "the same time twice is fine");
    match verify(3) {
        Err(ledger::VerifyError::Tampered(f)) => {
            assert_eq!((f.kind, f.seq), (FailureKind::TimeReversed, Some(2)), "{f}");
        }
        other => panic!("{other:?}"),
    }
}
