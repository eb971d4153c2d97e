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
