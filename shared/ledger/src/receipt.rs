//! Signed receipts (FORMAT.md §10): the log's promise, handed to whoever caused an entry,
//! that the entry is at this position of this chain and that a checkpoint covering it will be
//! signed within the maximum merge delay — in the spirit of Certificate Transparency's SCTs.
//!
//! A receipt is a C2SP signed note whose text is
//!
//! ```text
//! ledgerdesk-receipt/v1
//! <origin>                 <log name>/<chain>
//! <seq>
//! <entry hash, base64>
//! <at>                     the entry's time
//! <merge deadline>         at + the maximum merge delay
//! ```
//!
//! signed by the deployment's receipt key — never the checkpoint key. Its first line can
//! never be a checkpoint's origin (a pinned origin is `<log>/<chain>`) and its second line is
//! not a tree size, so a receipt never verifies as a checkpoint, even under the same key.

use chrono::{DateTime, Duration, Utc};

use crate::checkpoint::{LogName, NoteError, SignedNote, SignerKey, TrustedKeys};
use crate::entry::{format_at, is_timestamp, parse_at};
use crate::hash::{ChainId, Hash};

/// The first line of every receipt.
pub const RECEIPT_FORMAT: &str = "ledgerdesk-receipt/v1";
/// The maximum merge delay: the sweep signs checkpoints every 5 minutes.
pub const MAX_MERGE_DELAY_SECONDS: i64 = 300;

/// A receipt's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub origin: String,
    pub chain: ChainId,
    pub seq: u64,
    pub entry_hash: Hash,
    /// The entry's time, as in the entry.
    pub at: String,
    /// By when a checkpoint covering the entry will be signed.
    pub merge_deadline: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("malformed receipt: {0}")]
    Malformed(&'static str),
    #[error("the receipt is of the log {origin:?}, not of {expected}/<chain>")]
    WrongLog { origin: String, expected: String },
}

impl Receipt {
    /// The receipt for the entry `seq` with `entry_hash` at `at` of `chain` in `log`.
    pub fn new(log: &LogName, chain: &ChainId, seq: u64, entry_hash: Hash, at: &str) -> Result<Self, ReceiptError> {
        let time = parse_at(at).ok_or(ReceiptError::Malformed("the entry time is not a ledger timestamp"))?;
        Ok(Self {
            origin: log.origin(chain),
            chain: chain.clone(),
            seq,
            entry_hash,
            at: at.to_owned(),
            merge_deadline: format_at(&(time + Duration::seconds(MAX_MERGE_DELAY_SECONDS))),
        })
    }

    /// The receipt's note text.
    pub fn to_text(&self) -> String {
        format!(
            "{RECEIPT_FORMAT}\n{}\n{}\n{}\n{}\n{}\n",
            self.origin,
            self.seq,
            self.entry_hash.to_base64(),
            self.at,
            self.merge_deadline
        )
    }

    /// The signed receipt.
    pub fn sign(&self, key: &SignerKey) -> String {
        key.sign_note(&self.to_text())
    }

    /// Read a receipt's text exactly (FORMAT.md §10).
    pub fn parse_text(text: &str) -> Result<Self, ReceiptError> {
        let bad = ReceiptError::Malformed;
        let body = text.strip_suffix('\n').ok_or(bad("the text must end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [format, origin, seq, hash, at, deadline] = lines.as_slice() else {
            return Err(bad("a receipt has exactly six lines"));
        };
        if *format != RECEIPT_FORMAT {
            return Err(bad("the first line must be ledgerdesk-receipt/v1"));
        }
        let (log, chain) = origin.rsplit_once('/').ok_or(bad("the origin is <log name>/<chain>"))?;
        LogName::parse(log).map_err(|_| bad("the origin's log name is not valid"))?;
        let chain = ChainId::parse(chain).map_err(|_| bad("the origin's chain is not a chain id"))?;
        if seq.is_empty() || (seq.len() > 1 && seq.starts_with('0')) || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("seq is not a decimal number"));
        }
        let seq: u64 = seq.parse().map_err(|_| bad("seq is too large"))?;
        let entry_hash = Hash::from_base64(hash).ok_or(bad("the entry hash is not a base64 SHA-256 hash"))?;
        if entry_hash.to_base64() != *hash {
            return Err(bad("the entry hash is not in canonical base64"));
        }
        for time in [at, deadline] {
            if !is_timestamp(time.as_bytes()) {
                return Err(bad("times are ledger timestamps YYYY-MM-DDTHH:MM:SS.mmmZ"));
            }
        }
        if deadline < at {
            return Err(bad("the merge deadline is before the entry's time"));
        }
        Ok(Self {
            origin: (*origin).to_owned(),
            chain,
            seq,
            entry_hash,
            at: (*at).to_owned(),
            merge_deadline: (*deadline).to_owned(),
        })
    }

    /// Check a signed receipt against the receipt keys and read it; its origin must be of `log`.
    pub fn open(note: &str, keys: &TrustedKeys, log: &LogName) -> Result<Self, ReceiptError> {
        let parsed = SignedNote::parse(note)?;
        let receipt = Self::parse_text(parsed.text)?;
        keys.verify(&parsed)?;
        if receipt.origin != log.origin(&receipt.chain) {
            return Err(ReceiptError::WrongLog {
                origin: receipt.origin,
                expected: log.to_string(),
            });
        }
        Ok(receipt)
    }

    /// The merge deadline as a time.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        parse_at(&self.merge_deadline)
    }
}

/// A receipt as the API returns it: the signed note and, for convenience, what it says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptDocument {
    pub format: String,
    pub origin: String,
    pub chain: String,
    pub seq: u64,
    /// Hex, as in the entry line.
    pub entry_hash: String,
    pub at: String,
    pub merge_deadline: String,
    /// The signed note: what `ledger verify-receipt` checks.
    pub note: String,
}

impl ReceiptDocument {
    pub fn new(receipt: &Receipt, key: &SignerKey) -> Self {
        Self {
            format: RECEIPT_FORMAT.to_owned(),
            origin: receipt.origin.clone(),
            chain: receipt.chain.to_string(),
            seq: receipt.seq,
            entry_hash: receipt.entry_hash.to_hex(),
            at: receipt.at.clone(),
            merge_deadline: receipt.merge_deadline.clone(),
            note: receipt.sign(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;

    fn log() -> LogName {
        LogName::parse("ledgerdesk.test").unwrap()
    }

    fn receipt() -> Receipt {
        Receipt::new(
            &log(),
            &ChainId::parse("contoso").unwrap(),
            7,
            Hash::digest(b"entry"),
            "2026-11-24T10:00:00.000Z",
        )
        .unwrap()
    }

    #[test]
    fn a_receipt_round_trips_and_verifies_with_the_receipt_key_only() {
        let key = SignerKey::from_seed("ledgerdesk-test-receipts", [3; 32]).unwrap();
        let note = receipt().sign(&key);
        assert!(note.starts_with("ledgerdesk-receipt/v1\nledgerdesk.test/contoso\n7\n"));
        assert!(note.contains("\n2026-11-24T10:05:00.000Z\n\n"), "{note}");
        let opened = Receipt::open(&note, &TrustedKeys::new([key.verifier()]), &log()).unwrap();
        assert_eq!(opened, receipt());
        assert_eq!(Receipt::parse_text(&opened.to_text()).unwrap(), opened);
        let other = SignerKey::from_seed("ledgerdesk-test", [4; 32]).unwrap();
        assert!(matches!(
            Receipt::open(&note, &TrustedKeys::new([other.verifier()]), &log()),
            Err(ReceiptError::Note(NoteError::NoTrustedSignature))
        ));
        assert!(matches!(
            Receipt::open(
                &note,
                &TrustedKeys::new([key.verifier()]),
                &LogName::parse("other").unwrap()
            ),
            Err(ReceiptError::WrongLog { .. })
        ));
    }

    #[test]
    fn a_receipt_never_verifies_as_a_checkpoint_even_under_the_same_key() {
        let key = SignerKey::from_seed("shared", [3; 32]).unwrap();
        let note = receipt().sign(&key);
        let trusted = TrustedKeys::new([key.verifier()]);
        assert!(Checkpoint::open_pinned(&note, &trusted, &log()).is_err());
        assert!(Checkpoint::open(&note, &trusted).is_err());
    }

    #[test]
    fn malformed_receipts_are_refused() {
        let text = receipt().to_text();
        for bad in [
            text.replacen("ledgerdesk-receipt/v1", "ledgerdesk-receipt/v2", 1),
            text.replacen("\n7\n", "\n07\n", 1),
            text.replacen("2026-11-24T10:05:00.000Z", "2026-11-24T09:05:00.000Z", 1),
            format!("{text}extra\n"),
            text.replacen("contoso", "con toso", 1),
        ] {
            assert!(Receipt::parse_text(&bad).is_err(), "{bad}");
        }
    }
}
