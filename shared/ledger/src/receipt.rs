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
use crate::entry::{MAX_VERIFIER_SKEW_SECONDS, format_at, is_timestamp, latest_believable, parse_at};
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
    #[error("the receipt object's {0} disagrees with its signed note")]
    Disagrees(&'static str),
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
        let seq = match crate::checkpoint::canonical_decimal(seq) {
            Some(Ok(seq)) => seq,
            Some(Err(_)) => return Err(bad("seq is too large")),
            None => return Err(bad("seq is not a decimal number")),
        };
        let entry_hash = Hash::from_base64(hash).ok_or(bad("the entry hash is not a base64 SHA-256 hash"))?;
        if entry_hash.to_base64() != *hash {
            return Err(bad("the entry hash is not in canonical base64"));
        }
        for time in [at, deadline] {
            if !is_timestamp(time.as_bytes()) {
                return Err(bad("times are ledger timestamps YYYY-MM-DDTHH:MM:SS.mmmZ"));
            }
        }
        // The promise is exactly the documented delay: a deadline further out (year 9999)
        // would keep a dropped entry "pending" for ever.
        let expected = parse_at(at)
            .map(|t| format_at(&(t + Duration::seconds(MAX_MERGE_DELAY_SECONDS))))
            .ok_or(bad("the entry time is not a ledger timestamp"))?;
        if *deadline != expected {
            return Err(bad(
                "the merge deadline is not the entry's time plus the maximum merge delay (300 s)",
            ));
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

    /// Whether the receipt's time is believable by a clock that reads `now`: at most
    /// [`MAX_VERIFIER_SKEW_SECONDS`] ahead of it (FORMAT.md §2.2). A receipt from the future —
    /// its entry stamped ahead, and so its deadline pushed out — is refused.
    pub fn check_time(&self, now: &DateTime<Utc>) -> Result<(), String> {
        if self.at.as_bytes() > &latest_believable(now, MAX_VERIFIER_SKEW_SECONDS)[..] {
            return Err(format!(
                "the receipt's time {} is ahead of this clock ({}) by more than {MAX_VERIFIER_SKEW_SECONDS} s: a time from the future",
                self.at,
                format_at(now)
            ));
        }
        Ok(())
    }

    /// Whether this receipt is the one for entry `seq` of `chain`, hashing to `hash`, stamped
    /// `at` (FORMAT.md §10.2: a kept receipt must name its own entry).
    pub fn names(&self, chain: &str, seq: u64, hash: &Hash, at: &str) -> bool {
        self.chain.as_str() == chain && self.seq == seq && self.entry_hash == *hash && self.at == at
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
        Self::with_note(receipt, receipt.sign(key))
    }

    /// The document of a signed receipt `note` as kept (FORMAT.md §10.2), its members read
    /// from the note's text, and the receipt that text says. The signature is not checked
    /// here: check it with [`KeptReceipt::open`] or [`Receipt::open`].
    pub fn from_note(note: &str) -> Result<(Self, Receipt), ReceiptError> {
        let signed = SignedNote::parse(note)?;
        let receipt = Receipt::parse_text(signed.text)?;
        Ok((Self::with_note(&receipt, note.to_owned()), receipt))
    }

    /// The document of `receipt`, whose signed note is `note` (as [`Receipt::open`] read it).
    pub fn with_note(receipt: &Receipt, note: String) -> Self {
        Self {
            format: RECEIPT_FORMAT.to_owned(),
            origin: receipt.origin.clone(),
            chain: receipt.chain.to_string(),
            seq: receipt.seq,
            entry_hash: receipt.entry_hash.to_hex(),
            at: receipt.at.clone(),
            merge_deadline: receipt.merge_deadline.clone(),
            note,
        }
    }
}

/// A receipt as a partner keeps it (FORMAT.md §10.1): the signed note itself (`jq -j
/// .receipt.note`), the note as a JSON string (`jq .receipt.note`), or the receipt object
/// exactly as the API returns it (`jq .receipt`) — whose note is what is checked, and whose
/// other members must say what the note says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptReceipt {
    Note(String),
    Document(ReceiptDocument),
}

/// Whether a kept file means to be a receipt (so one that does not open is evidence, not
/// clutter): it is empty or `null` (saved from an answer that had no receipt), it starts —
/// after a byte-order mark, white space, an opening quote — with the receipt format, or it is a
/// JSON object with a `note` member or the format in it.
pub fn looks_like_receipt(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let text = &bytes[start..];
    let format = RECEIPT_FORMAT.as_bytes();
    // An empty file or `null`: a receipt saved from an answer that had none.
    text.is_empty()
        || text.trim_ascii_end() == b"null"
        || text.starts_with(format)
        || text.strip_prefix(b"\"").is_some_and(|t| t.starts_with(format))
        || (text.starts_with(b"{")
            && [&b"\"note\""[..], format]
                .iter()
                .any(|needle| text.windows(needle.len()).any(|w| w == *needle)))
}

impl KeptReceipt {
    /// Read a kept file; `None` when it is none of the three forms (not a receipt at all).
    pub fn parse(text: &str) -> Option<Self> {
        let is_note = |t: &str| t.starts_with(RECEIPT_FORMAT) && t[RECEIPT_FORMAT.len()..].starts_with('\n');
        if is_note(text) {
            return Some(Self::Note(text.to_owned()));
        }
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.starts_with('"') {
            return serde_json::from_str::<String>(trimmed)
                .ok()
                .filter(|t| is_note(t))
                .map(Self::Note);
        }
        // The receipt object, or a whole answer of the API that carries one (`"receipt": {…}`).
        let document = serde_json::from_str::<ReceiptDocument>(trimmed).ok().or_else(|| {
            let mut answer: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed).ok()?;
            serde_json::from_value(answer.remove("receipt")?).ok()
        });
        document.filter(|d| is_note(&d.note)).map(Self::Document)
    }

    /// Check the receipt (its signature, its log) and read it; a document's members must
    /// agree with its signed note.
    pub fn open(&self, keys: &TrustedKeys, log: &LogName) -> Result<Receipt, ReceiptError> {
        match self {
            Self::Note(note) => Receipt::open(note, keys, log),
            Self::Document(doc) => {
                let receipt = Receipt::open(&doc.note, keys, log)?;
                let disagrees = [
                    ("format", doc.format == RECEIPT_FORMAT),
                    ("origin", doc.origin == receipt.origin),
                    ("chain", doc.chain == receipt.chain.as_str()),
                    ("seq", doc.seq == receipt.seq),
                    ("entryHash", doc.entry_hash == receipt.entry_hash.to_hex()),
                    ("at", doc.at == receipt.at),
                    ("mergeDeadline", doc.merge_deadline == receipt.merge_deadline),
                ]
                .into_iter()
                .find(|(_, same)| !same);
                match disagrees {
                    Some((member, _)) => Err(ReceiptError::Disagrees(member)),
                    None => Ok(receipt),
                }
            }
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
    fn a_receipt_from_the_future_is_not_believed() {
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        let r = receipt();
        assert!(r.check_time(&at("2026-11-24T10:00:00Z")).is_ok());
        // Up to the allowed skew ahead of the clock, and no further.
        assert!(r.check_time(&at("2026-11-24T09:55:00Z")).is_ok());
        let refused = r.check_time(&at("2026-11-24T09:54:59.999Z")).unwrap_err();
        assert!(refused.contains("from the future"), "{refused}");
    }

    #[test]
    fn a_receipt_is_read_as_the_api_returns_it_or_as_its_note() {
        let key = SignerKey::from_seed("ledgerdesk-test-receipts", [3; 32]).unwrap();
        let keys = TrustedKeys::new([key.verifier()]);
        let doc = ReceiptDocument::new(&receipt(), &key);
        let object = serde_json::to_string_pretty(&doc).unwrap();
        let string = serde_json::to_string(&doc.note).unwrap();
        for kept in [doc.note.clone(), format!("{object}\n"), format!("{string}\n")] {
            let parsed = KeptReceipt::parse(&kept).unwrap_or_else(|| panic!("{kept}"));
            assert_eq!(parsed.open(&keys, &log()).unwrap(), receipt());
        }
        // Not a receipt at all: none of the three forms.
        for other in ["# my receipts\n", "{}", "{\"note\":\"hello\"}", "", "\"text\""] {
            assert_eq!(KeptReceipt::parse(other), None, "{other}");
        }
        // What means to be one, whether it opens or not; and what does not.
        for meant in [
            doc.note.clone(),
            format!("  {object}"),
            string.clone(),
            "{\"note\":\"hello\"}".to_owned(),
            format!("{{\"extra\":1,{}", &object[1..]),
        ] {
            assert!(looks_like_receipt(meant.as_bytes()), "{meant}");
        }
        for clutter in ["# Receipts of ledgerdesk-receipt/v1\n", "{}", "notes"] {
            assert!(!looks_like_receipt(clutter.as_bytes()), "{clutter}");
        }
        // What an answer without a receipt saves: meant, and no receipt.
        for saved in ["", "null\n", "\u{feff}ledgerdesk-receipt/v1\nx\n"] {
            assert!(looks_like_receipt(saved.as_bytes()), "{saved:?}");
            assert_eq!(KeptReceipt::parse(saved), None, "{saved:?}");
        }
        // A whole answer of the API, saved as it came: its receipt is read.
        let answer = serde_json::json!({ "id": "r-1", "receipt": doc }).to_string();
        assert_eq!(
            KeptReceipt::parse(&answer).unwrap().open(&keys, &log()).unwrap(),
            receipt()
        );
        // A document whose members say something its note does not.
        let mut lying = doc.clone();
        lying.seq = 8;
        let parsed = KeptReceipt::parse(&serde_json::to_string(&lying).unwrap()).unwrap();
        assert_eq!(parsed.open(&keys, &log()), Err(ReceiptError::Disagrees("seq")));
    }

    #[test]
    fn malformed_receipts_are_refused() {
        let text = receipt().to_text();
        for bad in [
            text.replacen("ledgerdesk-receipt/v1", "ledgerdesk-receipt/v2", 1),
            text.replacen("\n7\n", "\n07\n", 1),
            text.replacen("2026-11-24T10:05:00.000Z", "2026-11-24T09:05:00.000Z", 1),
            // A deadline further out than the documented delay is not the promise.
            text.replacen("2026-11-24T10:05:00.000Z", "9999-12-31T23:59:59.999Z", 1),
            text.replacen("2026-11-24T10:05:00.000Z", "2026-11-24T10:05:00.001Z", 1),
            format!("{text}extra\n"),
            text.replacen("contoso", "con toso", 1),
        ] {
            assert!(Receipt::parse_text(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_receipt_seq_is_a_canonical_decimal_number() {
        let text = receipt().to_text();
        let with_seq = |seq: &str| text.replacen("\n7\n", &format!("\n{seq}\n"), 1);
        for bad in ["", "07", "00", "7a", "-7", "+7", " 7"] {
            assert!(
                matches!(
                    Receipt::parse_text(&with_seq(bad)),
                    Err(ReceiptError::Malformed("seq is not a decimal number"))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Receipt::parse_text(&with_seq("18446744073709551616")),
            Err(ReceiptError::Malformed("seq is too large"))
        ));
        assert_eq!(Receipt::parse_text(&with_seq("0")).unwrap().seq, 0);
        assert_eq!(
            Receipt::parse_text(&with_seq("18446744073709551615")).unwrap().seq,
            u64::MAX
        );
    }

    #[test]
    fn the_deadline_is_the_entry_time_plus_the_merge_delay() {
        let deadline = receipt().deadline().unwrap();
        assert_eq!(deadline.to_rfc3339(), "2026-11-24T10:05:00+00:00");
    }

    #[test]
    fn a_file_looks_like_a_receipt_only_in_one_of_its_forms() {
        let note = receipt().sign(&SignerKey::from_seed("ledgerdesk-test-receipts", [3; 32]).unwrap());
        for yes in [
            String::new(),
            "null\n".to_owned(),
            note.clone(),
            format!("\u{feff}  \"{}\"", note.replace('\n', "\\n")),
            "{\"note\": 1}".to_owned(),
            "{\"format\": \"ledgerdesk-receipt/v1\"}".to_owned(),
        ] {
            assert!(looks_like_receipt(yes.as_bytes()), "{yes:?}");
        }
        for no in ["{\"other\": 1}", "{}", "ledgerdesk-checkpoint\n", "[1]", "nul"] {
            assert!(!looks_like_receipt(no.as_bytes()), "{no:?}");
        }
    }
}
