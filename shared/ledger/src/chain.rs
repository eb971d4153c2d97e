//! Appending to a chain: the one piece of code the service, the sample generator and the
//! tests all use to write entries.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::canonical::{CanonicalError, encode_data};
use crate::checkpoint::{Checkpoint, SignerKey};
use crate::entry::{Entry, GENESIS_PREV, Version, build, format_at, is_kind};
use crate::hash::{ChainId, Hash};
use crate::merkle::{Frontier, leaf_hash};

/// Everything a writer needs to append the next entry: small enough (≤ 64 hashes) to be
/// stored in one chain-head record and read in one request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainHead {
    pub chain: ChainId,
    /// The number of entries; the next entry's `seq`.
    pub size: u64,
    /// The hash of entry `size - 1` ([`GENESIS_PREV`] when empty).
    pub last_hash: Hash,
    /// The Merkle tree over the entries so far.
    pub frontier: Frontier,
    /// The time of entry `size - 1`: entries' times never go backwards within a chain.
    #[serde(default)]
    pub last_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("event kind {0:?} is not 1-64 characters of a-z, 0-9 and _")]
    BadKind(String),
    #[error(transparent)]
    Data(#[from] CanonicalError),
    #[error("the chain head is inconsistent: size {size} but a frontier of size {frontier}")]
    InconsistentHead { size: u64, frontier: u64 },
    #[error("a v2 entry's data must not repeat the envelope member {0:?}")]
    RepeatsEnvelope(&'static str),
    #[error("the chain is full")]
    Full,
    /// The entry built would not be read back as written (a verifier would refuse it): e.g. a
    /// commitment where FORMAT.md §4.1 puts none. Nothing is written.
    #[error("the entry would not verify: {0}")]
    Invalid(crate::entry::FormatError),
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis(chain: ChainId) -> Self {
        Self {
            chain,
            size: 0,
            last_hash: GENESIS_PREV,
            frontier: Frontier::new(),
            last_at: None,
        }
    }

    /// The v2 entry that records `kind` with `data` at `at`, and the head after it. `data`
    /// must not repeat the envelope (`kind`, `at`, `partnerId`); its personal values must
    /// already be commitments ([`crate::personal::seal`]). The entry's time is `at`, or the
    /// previous entry's if that is later (clocks of concurrent writers differ slightly; the
    /// chain's times never go backwards).
    pub fn append(&self, at: &DateTime<Utc>, kind: &str, data: &Value) -> Result<(Entry, ChainHead), AppendError> {
        for member in ["kind", "at", "partnerId"] {
            if data.get(member).is_some() {
                return Err(AppendError::RepeatsEnvelope(member));
            }
        }
        self.append_version(Version::V2, at, kind, data)
    }

    /// A v1 entry (personal data in clear; `data` may repeat the envelope). Only for the v1
    /// test vectors and drills: the service writes v2.
    pub fn append_v1(&self, at: &DateTime<Utc>, kind: &str, data: &Value) -> Result<(Entry, ChainHead), AppendError> {
        self.append_version(Version::V1, at, kind, data)
    }

    fn append_version(
        &self,
        version: Version,
        at: &DateTime<Utc>,
        kind: &str,
        data: &Value,
    ) -> Result<(Entry, ChainHead), AppendError> {
        if !is_kind(kind) {
            return Err(AppendError::BadKind(kind.to_owned()));
        }
        if self.frontier.size() != self.size {
            return Err(AppendError::InconsistentHead {
                size: self.size,
                frontier: self.frontier.size(),
            });
        }
        let size = self.size.checked_add(1).ok_or(AppendError::Full)?;
        let at = match self.last_at {
            Some(last) if last > *at => last,
            _ => *at,
        };
        let data = encode_data(data)?;
        let entry = build(
            version,
            &self.chain,
            self.size,
            &self.last_hash,
            &format_at(&at),
            kind,
            &data,
        );
        // What is written is read back by every verifier with the one strict parser: refuse
        // here what it would refuse there.
        crate::entry::EntryRef::parse(entry.line.as_bytes()).map_err(AppendError::Invalid)?;
        let mut frontier = self.frontier.clone();
        frontier.push(leaf_hash(entry.hash.as_bytes()));
        let head = ChainHead {
            chain: self.chain.clone(),
            size,
            last_hash: entry.hash,
            frontier,
            last_at: Some(at),
        };
        Ok((entry, head))
    }

    /// The Merkle root over all entries.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The checkpoint of this head in the log named `log_name`.
    pub fn checkpoint(&self, log_name: &str) -> Checkpoint {
        Checkpoint::new(Checkpoint::origin_for(log_name, &self.chain), self.size, self.root())
    }

    /// The signed checkpoint of this head.
    pub fn sign_checkpoint(&self, log_name: &str, key: &SignerKey) -> String {
        self.checkpoint(log_name).sign(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryRef;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn appends_link_and_count() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        let mut head = ChainHead::genesis(ChainId::parse("p1").unwrap());
        let mut previous = GENESIS_PREV;
        for i in 0..5u64 {
            let (entry, next) = head.append(&at, "note_added", &json!({ "i": i })).unwrap();
            let parsed = EntryRef::parse(entry.line.as_bytes()).unwrap();
            assert_eq!(parsed.version, crate::entry::Version::V2);
            assert_eq!(parsed.seq, i);
            assert_eq!(parsed.prev, previous);
            assert_eq!(parsed.computed_hash(), entry.hash);
            previous = entry.hash;
            head = next;
        }
        assert_eq!(head.size, 5);
        assert_eq!(head.last_hash, previous);
    }

    #[test]
    fn bad_input_is_refused() {
        let at = Utc::now();
        let head = ChainHead::genesis(ChainId::parse("p1").unwrap());
        assert!(matches!(
            head.append(&at, "Bad Kind", &json!({})),
            Err(AppendError::BadKind(_))
        ));
        assert!(matches!(
            head.append(&at, "k", &json!({ "x": 0.5 })),
            Err(AppendError::Data(_))
        ));
        assert!(matches!(
            head.append(&at, "k", &json!("not an object")),
            Err(AppendError::Data(_))
        ));
        assert!(matches!(
            head.append(&at, "k", &json!({ "kind": "k" })),
            Err(AppendError::RepeatsEnvelope("kind"))
        ));
        // A commitment where no personal value belongs (FORMAT.md §4.1) is never written.
        let commitment = crate::personal::commitment_value(&crate::Hash::digest(b"x"));
        assert!(matches!(
            head.append(&at, "sla_breached", &json!({ "change": commitment })),
            Err(AppendError::Invalid(crate::entry::FormatError::Commitment(_)))
        ));
        assert!(
            head.append(&at, "sla_breached", &json!({ "actor": { "subject": commitment } }))
                .is_ok()
        );
        // Nor the data as a whole, nor inside an array, nor in a v1 entry anywhere.
        assert!(matches!(
            head.append(&at, "sla_breached", &commitment),
            Err(AppendError::Invalid(crate::entry::FormatError::Commitment(_)))
        ));
        assert!(matches!(
            head.append(
                &at,
                "note_added",
                &json!({ "change": { "message": [commitment.clone()] } })
            ),
            Err(AppendError::Invalid(crate::entry::FormatError::Commitment(_)))
        ));
        assert!(matches!(
            head.append_v1(&at, "note_added", &json!({ "actor": { "subject": commitment } })),
            Err(AppendError::Invalid(crate::entry::FormatError::Commitment(_)))
        ));
        assert!(
            head.append(&at, "note_added", &json!({ "change": { "message": commitment } }))
                .is_ok()
        );
    }

    #[test]
    fn times_never_go_backwards() {
        let head = ChainHead::genesis(ChainId::parse("p1").unwrap());
        let later = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 1).unwrap();
        let earlier = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        let (_, head) = head.append(&later, "a", &json!({})).unwrap();
        let (entry, head) = head.append(&earlier, "b", &json!({})).unwrap();
        assert_eq!(
            EntryRef::parse(entry.line.as_bytes()).unwrap().at,
            "2026-11-24T10:00:01.000Z"
        );
        assert_eq!(head.last_at, Some(later));
    }
}
