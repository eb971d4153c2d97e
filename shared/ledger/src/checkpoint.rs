//! Signed checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note` envelopes with
//! Ed25519 signatures, and the key formats of the Go `note` package.
//!
//! ```text
//! ledgerdesk.local/contoso-partner      ← origin: <log name>/<chain>
//! 1024                                  ← tree size
//! 7jv0…Wc=                              ← base64 root hash
//!                                       ← blank line
//! — ledgerdesk-local Ab3x…==            ← one line per signature: key name, base64(key id ‖ signature)
//! ```

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::{ChainId, Hash};

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// "—" (U+2014) followed by a space starts a signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Notes larger than this are refused before parsing.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// At most this many signature lines are read.
pub const MAX_SIGNATURES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    #[error("the key's id does not match its name and key material")]
    IdMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    #[error("the signature by {key} does not verify")]
    BadSignature { key: String },
    #[error("no signature by a trusted key")]
    NoTrustedSignature,
    #[error("the checkpoint is of the log {origin:?}, not of {expected}/<chain>")]
    WrongLog { origin: String, expected: String },
}

/// The 4-byte key id: `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[..4]`.
fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    typed_key_id(ED25519, name, public.as_bytes())
}

/// A C2SP signed-note key id for a key of type `alg` (0x01 Ed25519 signatures, 0x04
/// `cosignature/v1`): `SHA-256(name ‖ "\n" ‖ alg ‖ public key)[..4]`.
pub(crate) fn typed_key_id(alg: u8, name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A number written as the formats here write them: ASCII digits, no sign, no leading zero
/// (but "0"). `None` if it is not one; `Some(Err)` if it does not fit a u64.
pub(crate) fn canonical_decimal(text: &str) -> Option<Result<u64, std::num::ParseIntError>> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    (digits && !leading_zero).then(|| text.parse())
}

/// A signed-note key name: non-empty, no '+', no white space or control characters.
pub(crate) fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A key that verifies checkpoint signatures. Text form: `<name>+<hex key id>+<base64(0x01 ‖ key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Malformed("expected <name>+<hex id>+<base64 key>"));
        };
        if !valid_key_name(name) {
            return Err(KeyError::Malformed("bad key name"));
        }
        let mut id = [0u8; 4];
        if id_hex.len() != 8 || hex::decode_to_slice(id_hex, &mut id).is_err() {
            return Err(KeyError::Malformed("the key id is not 8 hex digits"));
        }
        let bytes = B64
            .decode(material)
            .map_err(|_| KeyError::Malformed("key material is not base64"))?;
        let Some((&ED25519, raw)) = bytes.split_first() else {
            return Err(KeyError::Malformed("not an Ed25519 key"));
        };
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| KeyError::Malformed("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(raw).map_err(|_| KeyError::Malformed("not a valid Ed25519 point"))?;
        if key_id(name, &key) != id {
            return Err(KeyError::IdMismatch);
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut material = vec![ED25519];
        material.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex::encode(self.id), B64.encode(material))
    }
}

/// A key that signs checkpoints. Text form: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    id: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({}, <secret>)", self.name)
    }
}

impl SignerKey {
    /// A fresh key pair from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self::from_seed(name, seed)
    }

    /// The key pair with this 32-byte seed (deterministic: for test vectors and samples).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        if !valid_key_name(name) {
            return Err(KeyError::Malformed(
                "a key name is non-empty and has no whitespace or '+'",
            ));
        }
        let key = SigningKey::from_bytes(&seed);
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &key.verifying_key()),
            key,
        })
    }

    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or(KeyError::Malformed(
            "expected PRIVATE+KEY+<name>+<hex id>+<base64 seed>",
        ))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Malformed(
                "expected PRIVATE+KEY+<name>+<hex id>+<base64 seed>",
            ));
        };
        let bytes = B64
            .decode(material)
            .map_err(|_| KeyError::Malformed("key material is not base64"))?;
        let Some((&ED25519, raw)) = bytes.split_first() else {
            return Err(KeyError::Malformed("not an Ed25519 key"));
        };
        let seed: [u8; 32] = raw
            .try_into()
            .map_err(|_| KeyError::Malformed("an Ed25519 seed is 32 bytes"))?;
        let key = Self::from_seed(name, seed)?;
        if hex::encode(key.id) != id_hex {
            return Err(KeyError::IdMismatch);
        }
        Ok(key)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The private key's text form. Keep it secret.
    pub fn to_text(&self) -> String {
        let mut material = vec![ED25519];
        material.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(material)
        )
    }

    /// Sign a note body (text ending in a newline): the complete signed note.
    pub fn sign_note(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// The keys an auditor trusts, by (name, id).
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<(String, [u8; 4]), VerifierKey>,
}

impl TrustedKeys {
    pub fn new(keys: impl IntoIterator<Item = VerifierKey>) -> Self {
        Self {
            keys: keys.into_iter().map(|k| ((k.name.clone(), k.id), k)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a signature line names one of these keys (by name and key id).
    pub fn knows(&self, name: &str, id: [u8; 4]) -> bool {
        self.keys.contains_key(&(name.to_owned(), id))
    }

    /// Check a signed note: every signature by a trusted key must verify, signatures by
    /// unknown keys are ignored, and at least one trusted key must have signed. Returns the
    /// note's text (its body) and the names of the keys that signed it.
    pub fn open_note<'n>(&self, note: &'n str) -> Result<(&'n str, Vec<String>), NoteError> {
        let parsed = SignedNote::parse(note)?;
        let signed_by = self.verify(&parsed)?;
        Ok((parsed.text, signed_by))
    }

    /// The names of the trusted keys that signed `note` (at least one, and every signature
    /// by a trusted key verifies).
    pub fn verify(&self, note: &SignedNote<'_>) -> Result<Vec<String>, NoteError> {
        let mut signed_by = Vec::new();
        for signature in &note.signatures {
            let Some(key) = self.keys.get(&(signature.name.to_owned(), signature.id)) else {
                continue; // a witness or a rotated-out key: not ours to judge
            };
            let bad = || NoteError::BadSignature {
                key: signature.name.to_owned(),
            };
            let signature_bytes = Signature::from_slice(&signature.blob[4..]).map_err(|_| bad())?;
            key.key
                .verify_strict(note.text.as_bytes(), &signature_bytes)
                .map_err(|_| bad())?;
            signed_by.push(signature.name.to_owned());
        }
        if signed_by.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(signed_by)
    }
}

/// One signature line of a signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature<'n> {
    pub name: &'n str,
    pub id: [u8; 4],
    /// Key id ‖ signature, as decoded from the line's base64.
    pub blob: Vec<u8>,
}

/// A C2SP signed note, read but not verified: its text (ending in a newline) and its
/// signature lines. [`SignedNote::to_string`] gives back the exact bytes it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote<'n> {
    pub text: &'n str,
    pub signatures: Vec<NoteSignature<'n>>,
}

impl<'n> SignedNote<'n> {
    /// Parse `note` by the rules of C2SP signed-note: UTF-8 text without control characters
    /// other than newline, ending in a newline, a blank line, then one or more lines
    /// `— <key name> <base64(key id ‖ signature)>`.
    pub fn parse(note: &'n str) -> Result<Self, NoteError> {
        let malformed = NoteError::Malformed;
        if note.len() > MAX_NOTE_BYTES {
            return Err(malformed("larger than 1 MiB"));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(malformed("control characters other than newline are not allowed"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(malformed("no blank line before the signatures"))?;
        let text = &note[..split + 1];
        if text.len() <= 1 {
            return Err(malformed("the text is empty"));
        }
        let block = &note[split + 2..];
        if !block.ends_with('\n') {
            return Err(malformed("signature block must end with a newline"));
        }
        let mut signatures = Vec::new();
        for (count, line) in block[..block.len() - 1].split('\n').enumerate() {
            if count >= MAX_SIGNATURES {
                return Err(malformed("too many signatures"));
            }
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or(malformed("a signature line starts with \"— \""))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or(malformed("a signature line is \"— <name> <base64>\""))?;
            if !valid_key_name(name) {
                return Err(malformed("a key name is non-empty and has no whitespace or '+'"));
            }
            let decoded = B64.decode(blob).map_err(|_| malformed("a signature is not base64"))?;
            if B64.encode(&decoded) != blob {
                return Err(malformed("a signature is not in canonical base64"));
            }
            let Some(id) = decoded.first_chunk::<4>().copied() else {
                return Err(malformed("a signature is shorter than its key id"));
            };
            signatures.push(NoteSignature {
                name,
                id,
                blob: decoded,
            });
        }
        if signatures.is_empty() {
            return Err(malformed("no signature"));
        }
        Ok(Self { text, signatures })
    }
}

impl std::fmt::Display for SignedNote<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            writeln!(f, "{SIG_PREFIX}{} {}", s.name, B64.encode(&s.blob))?;
        }
        Ok(())
    }
}

/// The name of a deployment's log: the part of every checkpoint origin before `/<chain>`
/// (FORMAT.md §6), e.g. `ledgerdesk.example.com/prod`. 1-200 characters of ASCII letters,
/// digits, `.`, `_`, `-` and `:`, in one or more segments separated by `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct LogName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a log name is 1-200 characters of ASCII letters, digits, '.', '_', '-', ':' in segments separated by '/', e.g. ledgerdesk.example.com/prod"
)]
pub struct BadLogName;

impl LogName {
    pub fn parse(text: &str) -> Result<Self, BadLogName> {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
        };
        if text.is_empty() || text.len() > 200 || !text.split('/').all(segment_ok) {
            return Err(BadLogName);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin of `chain`'s log: `<log name>/<chain>`.
    pub fn origin(&self, chain: &ChainId) -> String {
        format!("{}/{chain}", self.0)
    }
}

impl std::fmt::Display for LogName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tree head: which log, how many entries, which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Extension lines (C2SP tlog-checkpoint), kept so the body can be written back exactly.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: String, size: u64, root: Hash) -> Self {
        Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The origin of a chain's log: `<log name>/<chain>`.
    pub fn origin_for(log_name: &str, chain: &ChainId) -> String {
        format!("{log_name}/{chain}")
    }

    /// The chain a checkpoint is about: the origin's last path segment.
    pub fn chain(&self) -> Option<ChainId> {
        self.origin.rsplit_once('/').and_then(|(_, c)| ChainId::parse(c).ok())
    }

    /// The log the checkpoint is of: the origin without its last segment.
    pub fn log(&self) -> Option<&str> {
        self.origin.rsplit_once('/').map(|(log, _)| log)
    }

    /// The checkpoint body (C2SP tlog-checkpoint).
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Read a checkpoint body by the rules of C2SP tlog-checkpoint (and FORMAT.md §6: a tree
    /// of size 0 has the empty tree's root).
    pub fn parse_text(text: &str) -> Result<Self, NoteError> {
        let bad = NoteError::MalformedCheckpoint;
        let body = text.strip_suffix('\n').ok_or(bad("the body must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(bad("missing origin line"))?;
        let size_text = lines.next().ok_or(bad("missing tree size line"))?;
        let size = match canonical_decimal(size_text) {
            Some(Ok(size)) => size,
            Some(Err(_)) => return Err(bad("the tree size is too large")),
            None => return Err(bad("the tree size is not a decimal number")),
        };
        let root_text = lines.next().ok_or(bad("missing root hash line"))?;
        let root = Hash::from_base64(root_text).ok_or(bad("the root is not a base64 SHA-256 hash"))?;
        if root.to_base64() != root_text {
            return Err(bad("the root is not in canonical base64"));
        }
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("extension lines must not be empty"));
        }
        if size == 0 && root != crate::merkle::empty_root() {
            return Err(bad("a checkpoint of size 0 must carry the empty tree's root"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Sign this checkpoint with `key`.
    pub fn sign(&self, key: &SignerKey) -> String {
        key.sign_note(&self.to_text())
    }

    /// Check a signed checkpoint against `keys` and read it (without pinning its log: see
    /// [`Checkpoint::open_pinned`]).
    pub fn open(note: &str, keys: &TrustedKeys) -> Result<(Self, Vec<String>), NoteError> {
        let (text, signed_by) = keys.open_note(note)?;
        Ok((Self::parse_text(text)?, signed_by))
    }

    /// Check a signed checkpoint of the log `log` against `keys`: the signature, then that
    /// its origin is `<log>/<chain>` for a valid chain id.
    pub fn open_pinned(note: &str, keys: &TrustedKeys, log: &LogName) -> Result<(Self, Vec<String>), NoteError> {
        let (checkpoint, signed_by) = Self::open(note, keys)?;
        if checkpoint.log() != Some(log.as_str()) || checkpoint.chain().is_none() {
            return Err(NoteError::WrongLog {
                origin: checkpoint.origin,
                expected: log.to_string(),
            });
        }
        Ok((checkpoint, signed_by))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SignerKey {
        SignerKey::from_seed("ledgerdesk-test", [7; 32]).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint::new(
            Checkpoint::origin_for("ledgerdesk.test", &ChainId::parse("contoso").unwrap()),
            12,
            Hash::digest(b"root"),
        )
    }

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let k = key();
        let again = SignerKey::parse(&k.to_text()).unwrap();
        assert_eq!(again.verifier(), k.verifier());
        let v = VerifierKey::parse(&k.verifier().to_string()).unwrap();
        assert_eq!(v, k.verifier());
        assert!(v.to_string().starts_with("ledgerdesk-test+"));
        // A key whose id does not match is refused.
        let text = k.verifier().to_string();
        let tampered = text.replacen("ledgerdesk-test+", "ledgerdesk-tesT+", 1);
        assert_eq!(VerifierKey::parse(&tampered), Err(KeyError::IdMismatch));
    }

    #[test]
    fn sign_and_open() {
        let k = key();
        let note = checkpoint().sign(&k);
        assert!(note.starts_with("ledgerdesk.test/contoso\n12\n"));
        assert!(note.contains("\n\n\u{2014} ledgerdesk-test "));
        let trusted = TrustedKeys::new([k.verifier()]);
        let (cp, by) = Checkpoint::open(&note, &trusted).unwrap();
        assert_eq!(cp, checkpoint());
        assert_eq!(cp.chain().unwrap().as_str(), "contoso");
        assert_eq!(by, vec!["ledgerdesk-test".to_owned()]);
    }

    #[test]
    fn unknown_signers_are_ignored_but_one_trusted_signature_is_required() {
        let ours = key();
        let witness = SignerKey::from_seed("witness", [9; 32]).unwrap();
        let body = checkpoint().to_text();
        let witnessed = format!(
            "{}{}",
            ours.sign_note(&body),
            witness.sign_note(&body).rsplit("\n\n").next().unwrap()
        );
        let trusted = TrustedKeys::new([ours.verifier()]);
        assert!(Checkpoint::open(&witnessed, &trusted).is_ok());
        let only_witness = witness.sign_note(&body);
        assert_eq!(
            Checkpoint::open(&only_witness, &trusted).unwrap_err(),
            NoteError::NoTrustedSignature
        );
    }

    #[test]
    fn a_changed_body_breaks_the_signature() {
        let note = checkpoint().sign(&key()).replacen("\n12\n", "\n13\n", 1);
        let trusted = TrustedKeys::new([key().verifier()]);
        assert_eq!(
            Checkpoint::open(&note, &trusted).unwrap_err(),
            NoteError::BadSignature {
                key: "ledgerdesk-test".into()
            }
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        let trusted = TrustedKeys::new([key().verifier()]);
        for bad in [
            "",
            "origin\n12\nroot\n",
            "origin\n12\n\n\u{2014} x\n",
            "a\n\nnot a signature\n",
        ] {
            assert!(
                matches!(Checkpoint::open(bad, &trusted), Err(NoteError::Malformed(_))),
                "{bad:?}"
            );
        }
        let bad_body = key().sign_note("origin\n012\nAAAA\n");
        assert!(matches!(
            Checkpoint::open(&bad_body, &trusted),
            Err(NoteError::MalformedCheckpoint(_))
        ));
        let root = Hash::digest(b"root").to_base64();
        let empty = crate::merkle::empty_root().to_base64();
        for body in [
            format!("origin\n12\n{root}\n\n"),
            format!("origin\n12\n{root}\next\n\n"),
            format!("origin\n0\n{root}\n"),
            format!("\n12\n{root}\n"),
        ] {
            let note = key().sign_note(&body);
            assert!(Checkpoint::open(&note, &trusted).is_err(), "{body:?}");
        }
        for body in [
            format!("or\u{0}igin\n12\n{root}\n"),
            format!("or\u{1b}igin\n12\n{root}\n"),
        ] {
            let note = key().sign_note(&body);
            assert!(
                matches!(Checkpoint::open(&note, &trusted), Err(NoteError::Malformed(_))),
                "{body:?}"
            );
        }
        let with_extension = key().sign_note(&format!("origin/c\n12\n{root}\nwitness: x\n"));
        let (cp, _) = Checkpoint::open(&with_extension, &trusted).unwrap();
        assert_eq!(cp.extensions, vec!["witness: x".to_owned()]);
        assert_eq!(key().sign_note(&cp.to_text()), with_extension);
        assert!(Checkpoint::open(&key().sign_note(&format!("origin/c\n0\n{empty}\n")), &trusted).is_ok());
    }

    #[test]
    fn the_log_name_is_pinned() {
        let trusted = TrustedKeys::new([key().verifier()]);
        let log = LogName::parse("ledgerdesk.test").unwrap();
        let note = checkpoint().sign(&key());
        assert!(Checkpoint::open_pinned(&note, &trusted, &log).is_ok());
        for origin in [
            "evil.example/contoso",
            "contoso",
            "ledgerdesk.test/staging/contoso",
            "ledgerdesk.test/",
        ] {
            let other = Checkpoint::new(origin.into(), 12, Hash::digest(b"root")).sign(&key());
            assert!(
                matches!(
                    Checkpoint::open_pinned(&other, &trusted, &log),
                    Err(NoteError::WrongLog { .. })
                ),
                "{origin}"
            );
        }
        for bad in ["", "/x", "x/", "a//b", "a b", "é"] {
            assert!(LogName::parse(bad).is_err(), "{bad}");
        }
        assert!(LogName::parse("ledgerdesk.example.com/prod").is_ok());
    }

    #[test]
    fn a_signed_note_is_written_back_exactly() {
        let note = checkpoint().sign(&key());
        assert_eq!(SignedNote::parse(&note).unwrap().to_string(), note);
    }

    #[test]
    fn a_key_name_is_non_empty_without_plus_whitespace_or_controls() {
        for bad in ["", "a+b", "a b", "a\tb", "a\u{7}b", "a\u{a0}b"] {
            assert!(
                matches!(SignerKey::from_seed(bad, [7; 32]), Err(KeyError::Malformed(_))),
                "{bad:?} accepted"
            );
        }
        for good in ["ledgerdesk-test", "witness.example/partner", "ü"] {
            assert_eq!(SignerKey::from_seed(good, [7; 32]).unwrap().name(), good);
        }
        // A verifier key with a bad name is refused as well.
        let text = key()
            .verifier()
            .to_string()
            .replacen("ledgerdesk-test", "ledgerdesk test", 1);
        assert!(matches!(
            VerifierKey::parse(&text),
            Err(KeyError::Malformed("bad key name"))
        ));
    }

    #[test]
    fn keys_keep_their_names_and_never_print_the_secret() {
        let k = key();
        assert_eq!(k.name(), "ledgerdesk-test");
        assert_eq!(k.verifier().name(), "ledgerdesk-test");
        assert_eq!(
            VerifierKey::parse(&k.verifier().to_string()).unwrap().name(),
            "ledgerdesk-test"
        );
        let shown = format!("{k:?}");
        assert_eq!(shown, "SignerKey(ledgerdesk-test, <secret>)");
        let seed = k.to_text();
        let material = seed.rsplit('+').next().unwrap();
        assert!(!shown.contains(material));
    }

    #[test]
    fn trusted_keys_know_whether_they_are_empty() {
        assert!(TrustedKeys::new([]).is_empty());
        assert!(!TrustedKeys::new([key().verifier()]).is_empty());
    }

    #[test]
    fn a_note_of_exactly_the_limit_is_read_and_one_byte_more_is_not() {
        let note = checkpoint().sign(&key());
        let (text, signatures) = note.split_once("\n\n").unwrap();
        let pad = |extra: usize| {
            let filler = MAX_NOTE_BYTES + extra - note.len() - 1;
            format!("{text}\n{}\n\n{signatures}", "x".repeat(filler))
        };
        let exact = pad(0);
        assert_eq!(exact.len(), MAX_NOTE_BYTES);
        assert_eq!(SignedNote::parse(&exact).unwrap().signatures.len(), 1);
        let over = pad(1);
        assert_eq!(over.len(), MAX_NOTE_BYTES + 1);
        assert!(matches!(
            SignedNote::parse(&over),
            Err(NoteError::Malformed("larger than 1 MiB"))
        ));
    }

    #[test]
    fn a_log_name_is_at_most_200_characters_of_segments() {
        let name = |n: usize| format!("ledgerdesk.test/{}", "a".repeat(n - "ledgerdesk.test/".len()));
        assert_eq!(LogName::parse(&name(200)).unwrap().as_str().len(), 200);
        assert_eq!(LogName::parse(&name(201)), Err(BadLogName));
        for bad in ["", "/", "a//b", "a/", "a b", "a+b", "ü"] {
            assert_eq!(LogName::parse(bad), Err(BadLogName), "{bad:?}");
        }
        for good in ["ledgerdesk.example.com/prod", "a", "a:b_c-d.e/f"] {
            assert_eq!(LogName::parse(good).unwrap().to_string(), good);
        }
    }

    #[test]
    fn a_tree_size_is_a_canonical_decimal_number() {
        let root = crate::merkle::empty_root().to_base64();
        let body = |size: &str| format!("ledgerdesk.test/contoso\n{size}\n{root}\n");
        for bad in ["", "01", "00", "1a", "-1", "+1", " 1"] {
            assert!(
                matches!(
                    Checkpoint::parse_text(&body(bad)),
                    Err(NoteError::MalformedCheckpoint("the tree size is not a decimal number"))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Checkpoint::parse_text(&body("18446744073709551616")),
            Err(NoteError::MalformedCheckpoint("the tree size is too large"))
        ));
        assert_eq!(Checkpoint::parse_text(&body("0")).unwrap().size, 0);
    }
}
