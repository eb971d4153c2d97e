//! Deterministic ledgers for the ledger's tests and committed test vectors.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger::personal::{Salt, Sealed, seal};
use ledger::{ChainHead, ChainId, Entry, LogName, SignerKey, TrustedKeys, Version};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const KEY_NAME: &str = "ledgerdesk-vectors";
pub const LOG_NAME: &str = "ledgerdesk.vectors";

/// The test-vector signing key. Its seed is public: never use it for anything real.
pub fn key() -> SignerKey {
    SignerKey::from_seed(KEY_NAME, [0x42; 32]).unwrap()
}

pub fn trusted() -> TrustedKeys {
    TrustedKeys::new([key().verifier()])
}

pub fn log() -> LogName {
    LogName::parse(LOG_NAME).unwrap()
}

/// The test-vector receipt key (a different key from the checkpoint key).
pub fn receipt_key() -> SignerKey {
    SignerKey::from_seed("ledgerdesk-vectors-receipts", [0x24; 32]).unwrap()
}

pub fn at(i: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap() + Duration::minutes(7 * i as i64)
}

/// The data of the `i`-th event of a realistic request history.
pub fn event(chain: &str, i: u64) -> (&'static str, Value) {
    let request = format!("01KAW{:021}", 1000 + i / 4);
    let base = json!({
        "requestId": request,
        "partnerId": chain,
        "customerId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "at": ledger::entry::format_at(&at(i)),
        "version": i % 4 + 1,
    });
    let (kind, actor, change, status, sla) = match i % 4 {
        0 => (
            "created",
            "partner_agent",
            json!({ "severity": "B", "product": "azure", "title": "VMs unreachable" }),
            "open",
            "pending",
        ),
        1 => (
            "first_response",
            "support_engineer",
            json!({ "message": "We are looking into it." }),
            "in_progress",
            "met",
        ),
        2 => (
            "note_added",
            "partner_agent",
            json!({ "message": "Customer confirms since 10:00." }),
            "in_progress",
            "met",
        ),
        _ => (
            "status_changed",
            "support_engineer",
            json!({ "from": "in_progress", "to": "resolved", "message": "Host restarted." }),
            "resolved",
            "met",
        ),
    };
    let mut data = base;
    data["kind"] = json!(kind);
    data["actor"] = json!({ "role": actor, "subject": format!("{actor}-1") });
    data["change"] = change;
    data["resulting"] = json!({ "status": status, "severity": "B", "billable": true, "slaState": sla, "dueAt": "2026-11-24T13:00:00.000Z" });
    (kind, data)
}

/// `n` v1 entries of `chain` (personal data in clear, the envelope repeated in `data`), and
/// the head after them: the v1 vectors, unchanged since v1.
pub fn chain(chain: &str, n: u64) -> (Vec<Entry>, ChainHead) {
    let mut head = ChainHead::genesis(ChainId::parse(chain).unwrap());
    let mut entries = Vec::new();
    for i in 0..n {
        let (kind, data) = event(chain, i);
        let (entry, next) = head.append_v1(&at(i), kind, &data).unwrap();
        entries.push(entry);
        head = next;
    }
    (entries, head)
}

/// The personal fields of the vectors' events (as the service seals them).
pub const PERSONAL: &[&str] = &[
    "/actor/subject",
    "/change/message",
    "/change/reason",
    "/change/request/title",
    "/change/request/contact/name",
    "/change/request/contact/email",
];

/// A deterministic salt for entry `i`'s value at `path` (vectors must be reproducible).
pub fn salt(chain: &str, i: u64, path: &str) -> Salt {
    Salt(Sha256::digest(format!("vector salt {chain} {i} {path}")).into())
}

/// The data of the `i`-th v2 event: the v1 event without the envelope members, the request
/// as filed in full on `created`, and every personal value sealed.
pub fn event_v2(chain: &str, i: u64) -> (&'static str, Value, Vec<Sealed>) {
    let (kind, mut data) = event(chain, i);
    let object = data.as_object_mut().unwrap();
    for member in ["kind", "at", "partnerId"] {
        object.remove(member);
    }
    if kind == "created" {
        data["change"] = json!({ "request": {
            "title": "VMs unreachable", "product": "azure", "severity": "B", "category": "technical",
            "contact": { "name": "Erika Partner", "email": format!("erika+{i}@partner.example") },
        }});
    }
    let mut sealed = Vec::new();
    for path in PERSONAL {
        sealed.extend(seal(&mut data, &[path], || salt(chain, i, path)).unwrap());
    }
    (kind, data, sealed)
}

/// `n` v2 entries of `chain`, the head after them, and every sealed value by seq.
pub fn chain_v2(chain: &str, n: u64) -> (Vec<Entry>, ChainHead, Vec<(u64, Sealed)>) {
    let mut head = ChainHead::genesis(ChainId::parse(chain).unwrap());
    let mut entries = Vec::new();
    let mut values = Vec::new();
    for i in 0..n {
        let (kind, data, sealed) = event_v2(chain, i);
        let (entry, next) = head.append(&at(i), kind, &data).unwrap();
        entries.push(entry);
        values.extend(sealed.into_iter().map(|s| (i, s)));
        head = next;
    }
    (entries, head, values)
}

/// The line of an entry with these exact `data` bytes and a correct hash — how a forger
/// who re-hashes writes a malformed entry.
pub fn forge(version: Version, chain: &str, seq: u64, prev: &str, at: &str, kind: &str, data: &[u8]) -> Vec<u8> {
    let mut line = format!(
        "{{\"v\":{},\"chain\":\"{chain}\",\"seq\":{seq},\"prev\":\"{prev}\",\"at\":\"{at}\",\"kind\":\"{kind}\",\"data\":",
        version as u8
    )
    .into_bytes();
    line.extend_from_slice(data);
    let prefix: &[u8] = match version {
        Version::V1 => b"ledgerdesk/ledger/v1\n",
        Version::V2 => b"ledgerdesk/ledger/v2\n",
    };
    let mut h = Sha256::new();
    h.update(prefix);
    h.update(&line);
    h.update(b"}");
    let hash = hex::encode(h.finalize());
    line.extend_from_slice(format!(",\"hash\":\"{hash}\"}}").as_bytes());
    line
}

/// Lines joined as a JSON Lines file.
pub fn jsonl<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(l.as_ref());
        out.push('\n');
    }
    out
}

/// Re-hash a (modified) line and everything after it so that the chain is internally
/// consistent again: the forgery only a signed checkpoint exposes.
pub fn rewrite_from(lines: &[String], from: usize) -> Vec<String> {
    let mut out: Vec<String> = lines[..from].to_vec();
    let mut prev = if from == 0 {
        ledger::entry::GENESIS_PREV
    } else {
        ledger::EntryRef::parse(lines[from - 1].as_bytes()).unwrap().hash
    };
    for line in &lines[from..] {
        let e = ledger::EntryRef::parse(line.as_bytes()).unwrap();
        let data: Value = serde_json::from_slice(e.data).unwrap();
        // The frontier does not enter the line; any frontier of the right size will do.
        let head = ChainHead {
            chain: ChainId::parse(e.chain).unwrap(),
            size: e.seq,
            last_hash: prev,
            frontier: frontier_of_size(e.seq),
            last_at: None,
        };
        let at = e.at_datetime().unwrap();
        let (entry, _) = match e.version {
            Version::V1 => head.append_v1(&at, e.kind, &data),
            Version::V2 => head.append(&at, e.kind, &data),
        }
        .unwrap();
        prev = entry.hash;
        out.push(entry.line);
    }
    out
}

fn frontier_of_size(n: u64) -> ledger::Frontier {
    let mut f = ledger::Frontier::new();
    for i in 0..n {
        f.push(ledger::merkle::leaf_hash(&i.to_be_bytes()));
    }
    f
}
