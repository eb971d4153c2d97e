//! The signer's memory (FORMAT.md §6.1): what the next checkpoint of a chain must extend —
//! the tree's size, root and frontier, and the last entry's hash, time and version — signed
//! with the checkpoint key when the checkpoint is, so that whoever can write the table it is
//! kept in (but does not hold the key) cannot make the signer resume from a state of their
//! choosing.
//!
//! A signed note whose text is
//!
//! ```text
//! ledgerdesk-signer-state/v1
//! origin <log name>/<chain>
//! size <n>
//! root <base64>
//! last <entry hash, hex> <at> v<version>     (absent when size is 0)
//! frontier <hex>                              (one line per node, left to right)
//! ```
//!
//! Its second line is not a tree size, so it never opens as a checkpoint (nor as a receipt:
//! its first line differs), even under the same key.

use crate::checkpoint::{LogName, NoteError, SignedNote, SignerKey, TrustedKeys};
use crate::entry::{Version, is_timestamp};
use crate::hash::{ChainId, Hash};
use crate::merkle::Frontier;

/// The first line of every signer state.
pub const SIGNER_STATE_FORMAT: &str = "ledgerdesk-signer-state/v1";

/// The last entry a signed state covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEntry {
    pub hash: Hash,
    /// Its time, as in the entry.
    pub at: String,
    pub version: Version,
}

/// The signer's state after signing a checkpoint of `size` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerState {
    pub origin: String,
    pub chain: ChainId,
    pub frontier: Frontier,
    /// `None` for the empty tree.
    pub last: Option<LastEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("malformed signer state: {0}")]
    Malformed(&'static str),
    #[error("the signer state is of {found:?}, not of {expected:?}")]
    WrongOrigin { found: String, expected: String },
}

impl SignerState {
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The state's text (the signed note's body).
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{SIGNER_STATE_FORMAT}\norigin {}\nsize {}\nroot {}\n",
            self.origin,
            self.size(),
            self.root().to_base64()
        );
        if let Some(last) = &self.last {
            text.push_str(&format!(
                "last {} {} v{}\n",
                last.hash.to_hex(),
                last.at,
                last.version.number()
            ));
        }
        for node in self.frontier.nodes() {
            text.push_str(&format!("frontier {}\n", node.to_hex()));
        }
        text
    }

    /// The signed state.
    pub fn sign(&self, key: &SignerKey) -> String {
        key.sign_note(&self.to_text())
    }

    /// Read a state's text exactly; the root it names must be the root of its frontier.
    pub fn parse_text(text: &str) -> Result<Self, StateError> {
        let bad = StateError::Malformed;
        let body = text.strip_suffix('\n').ok_or(bad("the text must end with a newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(SIGNER_STATE_FORMAT) {
            return Err(bad("the first line must be ledgerdesk-signer-state/v1"));
        }
        let mut field = |name: &'static str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(' '))
                .ok_or(bad("a line is missing or out of order"))
        };
        let origin = field("origin")?.to_owned();
        let chain = origin
            .rsplit_once('/')
            .and_then(|(log, chain)| LogName::parse(log).ok().and(ChainId::parse(chain).ok()))
            .ok_or(bad("the origin is not <log name>/<chain>"))?;
        let size_text = field("size")?;
        let size: u64 = size_text.parse().map_err(|_| bad("size is not a number"))?;
        if size.to_string() != size_text {
            return Err(bad("size is not in canonical decimal"));
        }
        let root_text = field("root")?;
        let root = Hash::from_base64(root_text).ok_or(bad("root is not base64 of 32 bytes"))?;
        let rest: Vec<&str> = lines.collect();
        let (last, nodes) = match rest.split_first() {
            Some((line, nodes)) if line.starts_with("last ") => (Some(parse_last(line)?), nodes),
            _ => (None, rest.as_slice()),
        };
        if last.is_none() != (size == 0) {
            return Err(bad("the last entry is named exactly when the tree is not empty"));
        }
        let nodes = nodes
            .iter()
            .map(|l| l.strip_prefix("frontier ").and_then(Hash::from_hex))
            .collect::<Option<Vec<_>>>()
            .ok_or(bad("a frontier line is not 64 hex digits"))?;
        let frontier = Frontier::from_parts(size, nodes).map_err(|_| bad("the frontier does not fit the size"))?;
        if frontier.root() != root || root.to_base64() != root_text {
            return Err(bad("the root is not the root of the frontier"));
        }
        Ok(Self {
            origin,
            chain,
            frontier,
            last,
        })
    }

    /// Check a signed state against the signer's own key(s) and read it; it must be of `log`
    /// and `chain`.
    pub fn open(note: &str, keys: &TrustedKeys, log: &LogName, chain: &ChainId) -> Result<Self, StateError> {
        let parsed = SignedNote::parse(note)?;
        let state = Self::parse_text(parsed.text)?;
        keys.verify(&parsed)?;
        let expected = log.origin(chain);
        if state.origin != expected {
            return Err(StateError::WrongOrigin {
                found: state.origin,
                expected,
            });
        }
        Ok(state)
    }
}

fn parse_last(line: &str) -> Result<LastEntry, StateError> {
    let bad = StateError::Malformed;
    let mut parts = line.split(' ').skip(1);
    let hash = parts
        .next()
        .and_then(Hash::from_hex)
        .ok_or(bad("the last entry's hash is not 64 hex digits"))?;
    let at = parts
        .next()
        .filter(|t| is_timestamp(t.as_bytes()))
        .ok_or(bad("the last entry's time is not a ledger timestamp"))?;
    let version = match parts.next() {
        Some("v1") => Version::V1,
        Some("v2") => Version::V2,
        _ => return Err(bad("the last entry's version is v1 or v2")),
    };
    if parts.next().is_some() {
        return Err(bad("the last line has extra fields"));
    }
    Ok(LastEntry {
        hash,
        at: at.to_owned(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::merkle::leaf_hash;

    fn log() -> LogName {
        LogName::parse("ledgerdesk.test").unwrap()
    }

    fn state(size: u64) -> SignerState {
        let chain = ChainId::parse("contoso").unwrap();
        let mut frontier = Frontier::new();
        for i in 0..size {
            frontier.push(leaf_hash(&i.to_be_bytes()));
        }
        SignerState {
            origin: log().origin(&chain),
            chain,
            frontier,
            last: (size > 0).then(|| LastEntry {
                hash: Hash::digest(b"last"),
                at: "2026-11-24T10:00:00.000Z".into(),
                version: Version::V2,
            }),
        }
    }

    #[test]
    fn a_state_round_trips_and_opens_only_with_the_signers_key() {
        let key = SignerKey::from_seed("ledgerdesk-test", [5; 32]).unwrap();
        let trusted = TrustedKeys::new([key.verifier()]);
        let chain = ChainId::parse("contoso").unwrap();
        for size in [0, 1, 6, 1025] {
            let s = state(size);
            let note = s.sign(&key);
            assert_eq!(SignerState::open(&note, &trusted, &log(), &chain).unwrap(), s);
        }
        let note = state(6).sign(&key);
        let other = SignerKey::from_seed("ledgerdesk-test", [6; 32]).unwrap();
        assert!(matches!(
            SignerState::open(&note, &TrustedKeys::new([other.verifier()]), &log(), &chain),
            Err(StateError::Note(_))
        ));
        assert!(matches!(
            SignerState::open(&note, &trusted, &log(), &ChainId::parse("fabrikam").unwrap()),
            Err(StateError::WrongOrigin { .. })
        ));
        // An edited column (here the last hash) no longer carries the signature.
        let edited = note.replacen(&Hash::digest(b"last").to_hex(), &Hash::digest(b"forged").to_hex(), 1);
        assert!(matches!(
            SignerState::open(&edited, &trusted, &log(), &chain),
            Err(StateError::Note(NoteError::BadSignature { .. }))
        ));
    }

    #[test]
    fn a_state_never_opens_as_a_checkpoint_under_the_same_key() {
        let key = SignerKey::from_seed("shared", [5; 32]).unwrap();
        let note = state(6).sign(&key);
        let trusted = TrustedKeys::new([key.verifier()]);
        assert!(Checkpoint::open_pinned(&note, &trusted, &log()).is_err());
        assert!(Checkpoint::open(&note, &trusted).is_err());
    }

    #[test]
    fn inconsistent_states_are_refused() {
        let text = state(6).to_text();
        let other_root = Hash::digest(b"other").to_base64();
        for bad in [
            text.replacen("size 6", "size 7", 1),
            text.replacen("size 6", "size 06", 1),
            text.replacen(&state(6).root().to_base64(), &other_root, 1),
            text.replacen(" v2\n", " v3\n", 1),
            text.replacen("origin ledgerdesk.test/contoso", "origin contoso", 1),
            state(0).to_text().replacen("size 0", "size 6", 1),
            format!("{text}extra\n"),
        ] {
            assert!(SignerState::parse_text(&bad).is_err(), "{bad}");
        }
    }
}
