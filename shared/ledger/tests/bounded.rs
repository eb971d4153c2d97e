//! What the verifier keeps is bounded whatever an export holds: chains come in ascending
//! order of their ids (so no set of every chain seen is needed), and a report lists at most
//! `MAX_LISTED_CHAINS` chains one by one (the totals count them all).

mod common;

use common::*;
use ledger::verify::MAX_LISTED_CHAINS;
use ledger::{ChainHead, ChainId, FailureKind, Verifier, VerifyError, VerifyOptions};
use serde_json::json;

fn one_entry(chain: &str) -> String {
    let head = ChainHead::genesis(ChainId::parse(chain).unwrap());
    let (entry, _) = head.append(&at(0), "note_added", &json!({})).unwrap();
    format!("{}\n", entry.line)
}

fn verify(export: &str) -> Result<ledger::Report, VerifyError> {
    Verifier::new(trusted(), VerifyOptions::default()).verify(export.as_bytes(), |_| {})
}

#[test]
fn more_chains_than_a_report_lists_are_verified_and_counted() {
    let n = MAX_LISTED_CHAINS + 5;
    let export: String = (0..n).map(|i| one_entry(&format!("c{i:06}"))).collect();
    let report = verify(&export).unwrap();
    assert_eq!(report.entries, n as u64);
    assert_eq!(report.chains.len(), MAX_LISTED_CHAINS);
    assert_eq!(report.chains_not_listed, 5);
    assert_eq!(report.uncovered, n as u64, "the totals count every chain");
    assert_eq!(serde_json::to_value(&report).unwrap()["chainsNotListed"], 5);
    // A report that lists every chain does not mention the count.
    let small = serde_json::to_value(verify(&one_entry("contoso")).unwrap()).unwrap();
    assert!(small.get("chainsNotListed").is_none(), "{small}");
}

#[test]
fn watched_entries_are_reported_as_the_verified_export_holds_them() {
    let (entries, _) = chain("contoso", 3);
    let export = jsonl(entries.iter().map(|e| e.line.as_str()));
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    let contoso = ChainId::parse("contoso").unwrap();
    verifier.watch(&contoso, 1);
    verifier.watch(&contoso, 7);
    let report = verifier.verify(export.as_bytes(), |_| {}).unwrap();
    assert_eq!(
        report.watched.len(),
        1,
        "seq 7 is not in the export: {:?}",
        report.watched
    );
    let w = &report.watched[0];
    assert_eq!((w.chain.as_str(), w.seq), ("contoso", 1));
    assert_eq!(w.hash, entries[1].hash.to_hex());
    assert!(entries[1].line.contains(&format!("\"at\":\"{}\"", w.at)), "{}", w.at);
    // Nothing watched, nothing reported (and not serialized).
    let plain = verify(&export).unwrap();
    assert!(plain.watched.is_empty());
    assert!(serde_json::to_value(&plain).unwrap().get("watched").is_none());
}

#[test]
fn a_chain_out_of_order_is_a_foreign_entry() {
    // Each chain whole, but fabrikam before contoso: a second reading of the order.
    let export = format!("{}{}", one_entry("fabrikam"), one_entry("contoso"));
    match verify(&export) {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.kind, FailureKind::ForeignEntry, "{f}");
            assert_eq!(f.chain.as_deref(), Some("contoso"));
        }
        other => panic!("{other:?}"),
    }
    assert!(verify(&format!("{}{}", one_entry("contoso"), one_entry("fabrikam"))).is_ok());
}
