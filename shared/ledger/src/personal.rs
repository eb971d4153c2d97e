//! Personal data in a v2 ledger: salted commitments in the hashed line, values and salts
//! outside it (FORMAT.md §4).
//!
//! ```text
//! commitment = SHA-256( "ledgerdesk/personal-data/v1\n" ‖ salt (32 random bytes) ‖ value (UTF-8) )
//! ```
//!
//! In an entry's data a personal value is replaced by `{"commitment":"<64 hex>"}`. Erasing
//! a value deletes it and its salt: the entry, its hash, the Merkle tree and every
//! checkpoint are unchanged, and nobody holding only the ledger learns the value (a salt of
//! 32 random bytes makes guessing a short value, such as an e-mail address, hopeless). For a
//! dispute the operator hands over a [`Disclosure`] — the value and its salt — and anyone can
//! check it against the commitment in the signed entry.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::entry::EntryRef;
use crate::hash::Hash;

/// The domain separator of personal-data commitments.
pub const COMMITMENT_PREFIX: &[u8] = b"ledgerdesk/personal-data/v1\n";
/// The one member of a commitment object.
pub const COMMITMENT_MEMBER: &str = "commitment";

/// Where a personal value — so a commitment object — may stand in a v2 entry's data
/// (FORMAT.md §4.1): JSON Pointers by entry kind. Every kind may also commit to the acting
/// person ([`ACTOR_SUBJECT`]). A commitment anywhere else (another member, an array, an
/// unknown kind's data) makes the line invalid: otherwise a fact such as an SLA breach could
/// be recorded as a "personal value" and then erased, and could never be proven again.
pub const COMMITMENT_POSITIONS: &[(&str, &[&str])] = &[
    (
        "created",
        &[
            "/change/request/title",
            "/change/request/description",
            "/change/request/supportTopic",
            "/change/request/contact/name",
            "/change/request/contact/email",
            "/change/request/contact/phone",
            "/change/request/entitlement/reference",
        ],
    ),
    ("first_response", &["/change/message"]),
    ("response_added", &["/change/message"]),
    ("note_added", &["/change/message", "/change/note"]),
    ("status_changed", &["/change/message"]),
    ("severity_changed", &["/change/reason"]),
    ("assigned", &["/change/assignee", "/change/previousAssignee"]),
];

/// The acting person: a commitment in every kind's data.
pub const ACTOR_SUBJECT: &str = "/actor/subject";

/// Whether a commitment may stand at `path` (the keys from the top of the data) in an entry
/// of `kind`: [`COMMITMENT_POSITIONS`], compiled to one match (the parser asks this for every
/// commitment of every entry; a test checks the two agree).
pub fn commitment_permitted(kind: &str, path: &[&[u8]]) -> bool {
    match path {
        [b"actor", b"subject"] => true,
        [b"change", rest @ ..] => matches!(
            (kind, rest),
            ("created", [b"request", b"title" | b"description" | b"supportTopic"])
                | ("created", [b"request", b"contact", b"name" | b"email" | b"phone"])
                | ("created", [b"request", b"entitlement", b"reference"])
                | ("first_response" | "response_added" | "status_changed", [b"message"])
                | ("note_added", [b"message" | b"note"])
                | ("severity_changed", [b"reason"])
                | ("assigned", [b"assignee" | b"previousAssignee"])
        ),
        _ => false,
    }
}

/// 32 random bytes that make a commitment unguessable. Hex in text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Salt(pub [u8; 32]);

impl Salt {
    /// A fresh salt from the operating system's random source.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// 64 lower-case hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        Hash::from_hex(text).map(|h| Self(h.0))
    }
}

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(<secret>)")
    }
}

/// The commitment to one personal value.
pub fn commit(salt: &Salt, value: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(COMMITMENT_PREFIX);
    h.update(salt.0);
    h.update(value.as_bytes());
    Hash(h.finalize().into())
}

/// The JSON that stands for a personal value in an entry's data.
pub fn commitment_value(commitment: &Hash) -> Value {
    serde_json::json!({ COMMITMENT_MEMBER: commitment.to_hex() })
}

/// The commitment a JSON value stands for, if it is exactly `{"commitment":"<64 hex>"}`.
pub fn as_commitment(value: &Value) -> Option<Hash> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get(COMMITMENT_MEMBER)?.as_str().and_then(Hash::from_hex)
}

/// One personal value taken out of a JSON document: where it was, what it was, its salt and
/// the commitment that replaced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// A JSON Pointer (RFC 6901) into the document.
    pub path: String,
    pub value: String,
    pub salt: Salt,
    pub commitment: Hash,
}

/// Replace the string at each of `paths` (JSON Pointers) in `document` by its commitment
/// under a fresh salt from `salt`. Paths that are absent or `null` are left alone (the
/// absence of a value is not personal); a path that holds anything else but a string is an
/// error (a schema change that would otherwise leak a value in clear).
pub fn seal(document: &mut Value, paths: &[&str], mut salt: impl FnMut() -> Salt) -> Result<Vec<Sealed>, SealError> {
    let mut sealed = Vec::new();
    for path in paths {
        let Some(slot) = document.pointer_mut(path) else {
            continue;
        };
        match slot {
            Value::Null => {}
            Value::String(value) => {
                let salt = salt();
                let commitment = commit(&salt, value);
                sealed.push(Sealed {
                    path: (*path).to_owned(),
                    value: std::mem::take(value),
                    salt,
                    commitment,
                });
                *slot = commitment_value(&commitment);
            }
            _ => return Err(SealError::NotAString((*path).to_owned())),
        }
    }
    Ok(sealed)
}

/// Put values back where their commitments are: each commitment object found in `document`
/// whose commitment `lookup` knows becomes `{"commitment", "value", "erased": false}`, and one
/// it does not know becomes `{"commitment", "value": null, "erased": true}`. For display: the
/// hashed bytes are the entry's line, never this.
pub fn reveal(document: &mut Value, lookup: &impl Fn(&Hash) -> Option<String>) {
    match document {
        Value::Object(map) => {
            if let Some(commitment) = as_commitment(&Value::Object(map.clone())) {
                let value = lookup(&commitment);
                map.insert("erased".into(), Value::Bool(value.is_none()));
                map.insert("value".into(), value.map_or(Value::Null, Value::String));
                return;
            }
            for item in map.values_mut() {
                reveal(item, lookup);
            }
        }
        Value::Array(items) => {
            for item in items {
                reveal(item, lookup);
            }
        }
        _ => {}
    }
}

/// Every commitment in a JSON document with its JSON Pointer.
pub fn commitment_paths(document: &Value) -> Vec<(String, Hash)> {
    let mut out = Vec::new();
    walk(document, String::new(), &mut out);
    out
}

fn walk(document: &Value, path: String, out: &mut Vec<(String, Hash)>) {
    if let Some(c) = as_commitment(document) {
        out.push((path, c));
        return;
    }
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match document {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| walk(v, format!("{path}/{}", escape(k)), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| walk(v, format!("{path}/{i}"), out)),
        _ => {}
    }
}

/// Every commitment in a JSON document (for an erasure record).
pub fn commitments(document: &Value) -> Vec<Hash> {
    let mut out = Vec::new();
    collect(document, &mut out);
    out
}

fn collect(document: &Value, out: &mut Vec<Hash>) {
    if let Some(c) = as_commitment(document) {
        out.push(c);
        return;
    }
    match document {
        Value::Object(map) => map.values().for_each(|v| collect(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the personal field {0} is not a string")]
    NotAString(String),
}

/// A personal value handed over with its salt, for one entry: anyone can check it against
/// the commitment at `path` in that entry's data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disclosure {
    pub chain: String,
    pub seq: u64,
    /// A JSON Pointer into the entry's data.
    pub path: String,
    pub value: String,
    /// 64 hex digits.
    pub salt: String,
}

/// The format tag of a disclosures file.
pub const DISCLOSURES_FORMAT: &str = "ledgerdesk-disclosures/v1";

/// A disclosures file (`ledger verify --disclosures`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosures {
    pub format: String,
    pub disclosures: Vec<Disclosure>,
}

/// Why a disclosure does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    #[error("the disclosure is for {chain}/{seq}, not for this entry")]
    WrongEntry { chain: String, seq: u64 },
    #[error("the salt is not 64 lower-case hex digits")]
    BadSalt,
    #[error("the entry has no commitment at {0}")]
    NoCommitment(String),
    #[error("the value and salt do not match the commitment at {0}")]
    Mismatch(String),
}

impl Disclosure {
    /// Check this disclosure against its entry (already verified by the caller).
    pub fn check(&self, entry: &EntryRef<'_>) -> Result<(), DisclosureError> {
        if self.chain != entry.chain || self.seq != entry.seq {
            return Err(DisclosureError::WrongEntry {
                chain: self.chain.clone(),
                seq: self.seq,
            });
        }
        let salt = Salt::from_hex(&self.salt).ok_or(DisclosureError::BadSalt)?;
        let data: Value =
            serde_json::from_slice(entry.data).map_err(|_| DisclosureError::NoCommitment(self.path.clone()))?;
        let committed = data
            .pointer(&self.path)
            .and_then(as_commitment)
            .ok_or_else(|| DisclosureError::NoCommitment(self.path.clone()))?;
        if commit(&salt, &self.value) == committed {
            Ok(())
        } else {
            Err(DisclosureError::Mismatch(self.path.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segments(pointer: &str) -> Vec<&[u8]> {
        pointer.split('/').skip(1).map(str::as_bytes).collect()
    }

    #[test]
    fn the_compiled_positions_are_the_documented_table() {
        let kinds = [
            "created",
            "first_response",
            "response_added",
            "note_added",
            "status_changed",
            "severity_changed",
            "sla_breached",
            "next_response_breached",
            "assigned",
            "personal_data_erased",
            "relationship_changed",
            "personal_data_disclosed",
            "unknown_kind",
        ];
        // Every pointer of the table, and of any kind's table, asked of every kind.
        let mut pointers: Vec<&str> = COMMITMENT_POSITIONS
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        pointers.extend([
            ACTOR_SUBJECT,
            "/actor",
            "/change",
            "/change/request",
            "/subject",
            "",
            "/actor/subject/x",
        ]);
        for kind in kinds {
            for pointer in &pointers {
                let documented = *pointer == ACTOR_SUBJECT
                    || COMMITMENT_POSITIONS
                        .iter()
                        .any(|(k, ps)| *k == kind && ps.contains(pointer));
                assert_eq!(
                    commitment_permitted(kind, &segments(pointer)),
                    documented,
                    "{kind} {pointer}"
                );
            }
        }
    }

    #[test]
    fn the_commitment_is_the_documented_hash() {
        // The test vector in FORMAT.md §4.
        let salt = Salt([0x11; 32]);
        let mut message = COMMITMENT_PREFIX.to_vec();
        message.extend_from_slice(&[0x11; 32]);
        message.extend_from_slice("Erika Partner".as_bytes());
        assert_eq!(commit(&salt, "Erika Partner"), Hash::digest(&message));
        assert_eq!(
            commit(&salt, "Erika Partner").to_hex(),
            "72e0b61913f9c400304d49456662486c49a54be1117b1a58a7156f3cf6f86e1a"
        );
        let counting: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            commit(&Salt(counting), "erika@partner.example").to_hex(),
            "384984c111ab0e44504394824ccca8f227fe126ee73c133a4e43ef03d775528b"
        );
        assert_ne!(
            commit(&salt, "Erika Partner"),
            commit(&Salt([0x12; 32]), "Erika Partner")
        );
    }

    #[test]
    fn seal_replaces_strings_and_leaves_absent_values_alone() {
        let mut doc = json!({ "actor": { "subject": "agent@contoso" }, "change": { "message": "hi", "reason": null } });
        let mut n = 0u8;
        let sealed = seal(
            &mut doc,
            &["/actor/subject", "/change/message", "/change/reason", "/missing"],
            || {
                n += 1;
                Salt([n; 32])
            },
        )
        .unwrap();
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[0].value, "agent@contoso");
        assert_eq!(as_commitment(&doc["actor"]["subject"]), Some(sealed[0].commitment));
        assert_eq!(doc["change"]["reason"], Value::Null);
        assert!(!doc.to_string().contains("agent@contoso"));
        assert_eq!(commitments(&doc), vec![sealed[0].commitment, sealed[1].commitment]);
        assert!(matches!(
            seal(&mut json!({ "a": 1 }), &["/a"], Salt::random),
            Err(SealError::NotAString(_))
        ));
    }

    #[test]
    fn reveal_marks_what_was_erased() {
        let mut doc =
            json!({ "a": commitment_value(&commit(&Salt([1; 32]), "x")), "b": commitment_value(&Hash::ZERO) });
        let known = commit(&Salt([1; 32]), "x");
        reveal(&mut doc, &|c| (*c == known).then(|| "x".to_owned()));
        assert_eq!(doc["a"]["value"], "x");
        assert_eq!(doc["a"]["erased"], false);
        assert_eq!(doc["b"]["value"], Value::Null);
        assert_eq!(doc["b"]["erased"], true);
    }
}
