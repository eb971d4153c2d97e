//! Known answers computed outside this crate, so regenerating the vectors
//! (`LEDGER_WRITE_VECTORS=1`) cannot silently re-bless a changed entry hash or commitment.
//!
//! The hex constants below were computed with Python's `hashlib` (3.11) straight from
//! FORMAT.md §4 and §5, not from this code:
//!
//! ```python
//! hashlib.sha256(b"ledgerdesk/ledger/v2\n" + line[:-75] + b"}").hexdigest()
//! hashlib.sha256(b"ledgerdesk/personal-data/v1\n" + bytes.fromhex(salt) + value.encode()).hexdigest()
//! ```
//!
//! Each is also re-computed here with `sha2` over the bytes, as a second implementation
//! beside the library's.

use std::path::Path;

use ledger::EntryRef;
use sha2::{Digest, Sha256};

/// A v2 entry written by hand (its `data` as canonical JSON), without its hash member.
const HAND_WRITTEN_V2: &str = concat!(
    r#"{"v":2,"chain":"kat","seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","#,
    r#""at":"2026-01-01T00:00:00.000Z","kind":"sla_breached","data":{"actor":{"role":"system","#,
    r#""subject":{"commitment":"abababababababababababababababababababababababababababababababab"}},"#,
    r#""change":{"dueAt":"2026-01-01T00:00:00.000Z"}}}"#
);
/// Its hash by Python: v2's domain string.
const HAND_WRITTEN_V2_HASH: &str = "7e44b80ead75761ef0aa61bdd5d110eade53ef59d17a3602bcdc37f8b8a2e778";
/// The same bytes under v1's domain string: what a v2 hash must never equal.
const HAND_WRITTEN_AS_V1_HASH: &str = "07cf3a97c3713afcf80bfa9c3235d3a8d0fd96b4f3a7d7bf3f09022ea15f0b4c";

/// The first entry of the committed v2 vectors (`vectors/v2/chain.jsonl`) and its hash by Python.
const VECTOR_V2_FIRST_HASH: &str = "8c9239a6e824fe9d357d5f7315838d98a86e6dbd1dfcd9fa8f51f6f5610f3f27";

/// A disclosure of the committed v2 vectors and its commitment by Python.
const DISCLOSED_SALT: &str = "413953245de922429a4940e583e271e5e44d4411abf431641731a95d3e799846";
const DISCLOSED_VALUE: &str = "partner_agent-1";
const DISCLOSED_COMMITMENT: &str = "610bb149a2a1a3d621e5c7a6b29cbfe44b69caf944cfb4b3919f0e808a20fe86";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// FORMAT.md §5, written again: the domain string of the line's version, then the line
/// without its hash member.
fn entry_hash(line: &str) -> String {
    let version = if line.starts_with(r#"{"v":2,"#) {
        "2"
    } else {
        assert!(line.starts_with(r#"{"v":1,"#), "a versioned line: {line}");
        "1"
    };
    let unsigned = &line.as_bytes()[..line.len() - 75];
    let mut h = Sha256::new();
    h.update(format!("ledgerdesk/ledger/v{version}\n"));
    h.update(unsigned);
    h.update(b"}");
    hex(&h.finalize())
}

fn with_hash(unsigned: &str, hash: &str) -> String {
    format!("{},\"hash\":\"{hash}\"}}", &unsigned[..unsigned.len() - 1])
}

fn vectors(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors").join(path)).unwrap()
}

#[test]
fn a_hand_written_v2_entry_hashes_to_the_independent_answer() {
    let line = with_hash(HAND_WRITTEN_V2, HAND_WRITTEN_V2_HASH);
    assert_eq!(entry_hash(&line), HAND_WRITTEN_V2_HASH, "sha2 here agrees with Python");
    let entry = EntryRef::parse(line.as_bytes()).expect("a valid v2 line");
    assert_eq!(entry.version.number(), 2);
    assert_eq!(
        entry.computed_hash().to_hex(),
        HAND_WRITTEN_V2_HASH,
        "the library agrees"
    );
    assert_eq!(entry.hash.to_hex(), HAND_WRITTEN_V2_HASH);
}

#[test]
fn a_v2_entry_hashed_with_v1s_domain_string_is_refused() {
    assert_ne!(HAND_WRITTEN_V2_HASH, HAND_WRITTEN_AS_V1_HASH);
    let line = with_hash(HAND_WRITTEN_V2, HAND_WRITTEN_AS_V1_HASH);
    // The line parses (the parser reads what it claims), but the claim is not its hash:
    // the verifier compares the two.
    let entry = EntryRef::parse(line.as_bytes()).expect("well-formed");
    assert_eq!(entry.hash.to_hex(), HAND_WRITTEN_AS_V1_HASH);
    assert_eq!(entry.computed_hash().to_hex(), HAND_WRITTEN_V2_HASH);
}

#[test]
fn the_committed_v2_vectors_carry_the_independent_hashes() {
    let chain = vectors("v2/chain.jsonl");
    let first = chain.lines().next().unwrap();
    assert_eq!(
        entry_hash(first),
        VECTOR_V2_FIRST_HASH,
        "the first v2 vector as Python hashed it"
    );
    assert!(first.ends_with(&format!("\"hash\":\"{VECTOR_V2_FIRST_HASH}\"}}")));
    for file in [
        "v2/chain.jsonl",
        "v2/erased.jsonl",
        "valid/chain.jsonl",
        "valid/two-chains.jsonl",
    ] {
        let text = vectors(file);
        let mut count = 0;
        for line in text.lines() {
            let claimed = &line[line.len() - 66..line.len() - 2];
            assert_eq!(entry_hash(line), claimed, "{file}: {line}");
            assert_eq!(
                EntryRef::parse(line.as_bytes()).unwrap().computed_hash().to_hex(),
                claimed
            );
            count += 1;
        }
        assert!(count >= 5, "{file} has entries");
    }
}

#[test]
fn a_commitment_is_the_independent_answer() {
    let mut h = Sha256::new();
    h.update(b"ledgerdesk/personal-data/v1\n");
    h.update(
        (0..32)
            .map(|i| u8::from_str_radix(&DISCLOSED_SALT[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<_>>(),
    );
    h.update(DISCLOSED_VALUE.as_bytes());
    assert_eq!(hex(&h.finalize()), DISCLOSED_COMMITMENT, "sha2 here agrees with Python");
    // The committed vector carries it at the disclosed position.
    let chain = vectors("v2/chain.jsonl");
    let entry: serde_json::Value = serde_json::from_str(chain.lines().nth(4).unwrap()).unwrap();
    assert_eq!(entry["data"]["actor"]["subject"]["commitment"], DISCLOSED_COMMITMENT);
    let disclosures: serde_json::Value = serde_json::from_str(&vectors("v2/disclosures.json")).unwrap();
    assert!(
        disclosures["disclosures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["salt"] == DISCLOSED_SALT && d["value"] == DISCLOSED_VALUE && d["seq"] == 4)
    );
}
