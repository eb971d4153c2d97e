//! Witnessed checkpoints (FORMAT.md §17): C2SP `tlog-cosignature` (`cosignature/v1`, Ed25519)
//! and the decision a C2SP `tlog-witness` makes on `add-checkpoint`.
//!
//! A witness is an independent party — the partner itself, the vendor's internal audit, an
//! outside audit firm — that remembers, per log origin, the latest checkpoint it cosigned, and
//! cosigns a new one only if it is consistent with it. A verifier that requires a quorum of
//! witnesses' cosignatures cannot be shown a history the witnesses did not see grow from the
//! one they saw before: a re-signed history, or one history to the partner and another to the
//! auditor, cannot both be cosigned.
//!
//! ```text
//! cosignature line:  — <witness name> base64( key id (4) ‖ timestamp (8, big-endian) ‖ Ed25519 signature (64) )
//! key id:            SHA-256( name ‖ "\n" ‖ 0x04 ‖ 32-byte public key )[..4]
//! signed message:    "cosignature/v1\n" ‖ "time <timestamp>\n" ‖ the checkpoint body
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::checkpoint::{Checkpoint, KeyError, LogName, NoteError, SignedNote, TrustedKeys};
use crate::hash::Hash;
use crate::merkle::{TreeSize, empty_root, verify_consistency};

/// The signature type byte of `cosignature/v1` keys (C2SP tlog-cosignature).
pub const COSIGNATURE_V1_ALG: u8 = 0x04;
/// The first line of every cosigned message.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1";
/// At most this many consistency proof lines in an `add-checkpoint` request (C2SP).
pub const MAX_PROOF_LINES: usize = 63;
/// "—" (U+2014) and a space: a note signature line.
const SIG_PREFIX: &str = "\u{2014} ";

use crate::checkpoint::valid_key_name as key_name_ok;

/// `SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[..4]`.
pub fn cosigner_key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    crate::checkpoint::typed_key_id(COSIGNATURE_V1_ALG, name, public)
}

/// What a `cosignature/v1` signs: the header, the time line, and the checkpoint's body
/// (its text up to and including its final newline, without signature lines).
pub fn cosigned_message(checkpoint_body: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{checkpoint_body}")
}

/// A witness's private key. Text form: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 ‖ seed)>`.
#[derive(Clone)]
pub struct CosignerKey {
    name: String,
    id: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CosignerKey({}, <secret>)", self.name)
    }
}

impl CosignerKey {
    /// A fresh key from the operating system's random source. The name SHOULD be a
    /// schema-less URL that identifies the witness (e.g. `witness.contoso.example/ledger`).
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self::from_seed(name, seed)
    }

    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        if !key_name_ok(name) {
            return Err(KeyError::Malformed(
                "a key name is non-empty and has no whitespace or '+'",
            ));
        }
        let key = SigningKey::from_bytes(&seed);
        Ok(Self {
            name: name.to_owned(),
            id: cosigner_key_id(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let malformed = KeyError::Malformed("expected PRIVATE+KEY+<name>+<hex id>+<base64(0x04 ‖ seed)>");
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or(malformed.clone())?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed);
        };
        let bytes = B64
            .decode(material)
            .map_err(|_| KeyError::Malformed("key material is not base64"))?;
        let Some((&COSIGNATURE_V1_ALG, raw)) = bytes.split_first() else {
            return Err(KeyError::Malformed(
                "not a witness (cosignature/v1) key: its type byte is not 0x04",
            ));
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

    /// The private key's text form. Keep it secret.
    pub fn to_text(&self) -> String {
        let mut material = vec![COSIGNATURE_V1_ALG];
        material.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(material)
        )
    }

    pub fn verifier(&self) -> WitnessKey {
        WitnessKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The cosignature line (ending in a newline) for a checkpoint body at `timestamp`.
    pub fn cosign(&self, checkpoint_body: &str, timestamp: u64) -> String {
        let signature = self.key.sign(cosigned_message(checkpoint_body, timestamp).as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// A witness's public key, as verifiers and logs configure it. Text form (a C2SP vkey):
/// `<name>+<hex key id>+<base64(0x04 ‖ public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl WitnessKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Malformed("expected <name>+<hex id>+<base64(0x04 ‖ key)>"));
        };
        if !key_name_ok(name) {
            return Err(KeyError::Malformed("bad key name"));
        }
        let mut id = [0u8; 4];
        if id_hex.len() != 8 || hex::decode_to_slice(id_hex, &mut id).is_err() {
            return Err(KeyError::Malformed("the key id is not 8 hex digits"));
        }
        let bytes = B64
            .decode(material)
            .map_err(|_| KeyError::Malformed("key material is not base64"))?;
        let Some((&COSIGNATURE_V1_ALG, raw)) = bytes.split_first() else {
            return Err(KeyError::Malformed(
                "not a witness (cosignature/v1) key: its type byte is not 0x04",
            ));
        };
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| KeyError::Malformed("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(raw).map_err(|_| KeyError::Malformed("not a valid Ed25519 point"))?;
        if cosigner_key_id(name, key.as_bytes()) != id {
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

    /// This witness's cosignature on `note`, checked: its timestamp, `None` if it has none.
    pub fn check(&self, note: &SignedNote<'_>) -> Result<Option<u64>, WitnessError> {
        let Some(signature) = note.signatures.iter().find(|s| s.name == self.name && s.id == self.id) else {
            return Ok(None);
        };
        let bad = || WitnessError::BadCosignature {
            witness: self.name.clone(),
        };
        if signature.blob.len() != 4 + 8 + 64 {
            return Err(bad());
        }
        let timestamp = u64::from_be_bytes(signature.blob[4..12].try_into().map_err(|_| bad())?);
        if timestamp > i64::MAX as u64 {
            return Err(bad());
        }
        let sig = Signature::from_slice(&signature.blob[12..]).map_err(|_| bad())?;
        self.key
            .verify_strict(cosigned_message(note.text, timestamp).as_bytes(), &sig)
            .map_err(|_| bad())?;
        Ok(Some(timestamp))
    }
}

impl std::fmt::Display for WitnessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut material = vec![COSIGNATURE_V1_ALG];
        material.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex::encode(self.id), B64.encode(material))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("the cosignature of witness {witness} does not verify")]
    BadCosignature { witness: String },
    #[error("cosigned by {found} of the required {quorum} witnesses ({names})", names = if cosigned.is_empty() { "none".to_owned() } else { cosigned.join(", ") })]
    Unwitnessed {
        found: usize,
        quorum: usize,
        cosigned: Vec<String>,
    },
}

/// A witness that cosigned a checkpoint, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cosigned {
    pub witness: String,
    pub timestamp: u64,
}

/// The witnesses a verifier requires, and how many of them must have cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    keys: Vec<WitnessKey>,
    quorum: usize,
}

impl WitnessPolicy {
    /// `quorum` of `keys` (distinct witnesses), 1 ≤ quorum ≤ their number.
    pub fn new(keys: Vec<WitnessKey>, quorum: usize) -> Result<Self, String> {
        let mut names: Vec<&str> = keys.iter().map(WitnessKey::name).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() != keys.len() {
            return Err("each witness is named once".into());
        }
        // cosignature/v1 does not commit to the cosigner's name: one key under two names
        // would let one witness's cosignature count twice (C2SP tlog-cosignature).
        let mut public: Vec<[u8; 32]> = keys.iter().map(|k| k.key.to_bytes()).collect();
        public.sort_unstable();
        public.dedup();
        if public.len() != keys.len() {
            return Err("each witness has a key of its own: one public key is given under two names".into());
        }
        if quorum == 0 || quorum > keys.len() {
            return Err(format!(
                "the quorum is 1 to the number of witnesses ({}), not {quorum}",
                keys.len()
            ));
        }
        Ok(Self { keys, quorum })
    }

    pub fn quorum(&self) -> usize {
        self.quorum
    }

    pub fn keys(&self) -> &[WitnessKey] {
        &self.keys
    }

    /// Check a signed note's cosignatures: every one by a required witness must verify, and at
    /// least the quorum of them must be there. The witnesses that cosigned, and when.
    pub fn check(&self, note: &str) -> Result<Vec<Cosigned>, WitnessError> {
        let parsed = SignedNote::parse(note)?;
        let mut cosigned = Vec::new();
        for key in &self.keys {
            if let Some(timestamp) = key.check(&parsed)? {
                cosigned.push(Cosigned {
                    witness: key.name.clone(),
                    timestamp,
                });
            }
        }
        if cosigned.len() < self.quorum {
            return Err(WitnessError::Unwitnessed {
                found: cosigned.len(),
                quorum: self.quorum,
                cosigned: cosigned.into_iter().map(|c| c.witness).collect(),
            });
        }
        Ok(cosigned)
    }
}

/// Add cosignature lines (as a witness returns them) to a signed note.
pub fn with_cosignatures(note: &str, lines: &[String]) -> String {
    let mut out = note.to_owned();
    for line in lines {
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// An `add-checkpoint` request (C2SP tlog-witness): the size of the checkpoint the witness
/// last cosigned for this origin (as the log believes), a consistency proof from it, and the
/// new checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}

impl AddCheckpoint {
    /// The request body: `old <size>\n`, proof lines (base64), an empty line, the note.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&hash.to_base64());
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }

    /// Read a request body exactly; an error is a 400.
    pub fn parse(body: &str) -> Result<Self, &'static str> {
        let (old_line, mut rest) = body.split_once('\n').ok_or("the body starts with an old size line")?;
        let old = old_line
            .strip_prefix("old ")
            .ok_or("the first line is \"old <size>\"")?;
        let old_size: u64 = old.parse().map_err(|_| "the old size is a decimal number")?;
        if old_size.to_string() != old {
            return Err("the old size is a decimal number without leading zeros");
        }
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or("the proof ends with an empty line")?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err("more than 63 consistency proof lines");
            }
            let hash = Hash::from_base64(line)
                .filter(|h| h.to_base64() == line)
                .ok_or("a proof line is not base64 of a 32-byte hash")?;
            proof.push(hash);
        }
        Ok(Self {
            old_size,
            proof,
            note: rest.to_owned(),
        })
    }
}

/// Which origins a witness vouches for, with which log keys.
#[derive(Debug, Clone)]
pub struct TrustedLog {
    pub keys: TrustedKeys,
    pub origins: Origins,
}

/// The origins of a trusted log a witness cosigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// Exactly this one (a partner witnessing its own chain: `<log>/<chain>`).
    Exact(String),
    /// Every chain of this log (`<log>/<chain>`, an auditor).
    EveryChainOf(LogName),
}

impl Origins {
    fn matches(&self, origin: &str) -> bool {
        match self {
            Origins::Exact(o) => o == origin,
            Origins::EveryChainOf(log) => origin
                .strip_prefix(log.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|chain| crate::hash::ChainId::parse(chain).is_ok()),
        }
    }
}

/// What a witness answers an `add-checkpoint` request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// 200: cosigned. Persist `latest` (the checkpoint with its cosignature) before answering.
    Cosign {
        origin: String,
        size: u64,
        root: Hash,
        /// The response body: the cosignature line(s).
        response: String,
        /// The checkpoint with the log's signatures and this cosignature, to keep and serve.
        latest: String,
    },
    /// 409: the old size is not this witness's; the body is its size.
    Conflict { size: u64 },
    /// Any other refusal: the status and why.
    Refuse { status: u16, reason: String },
}

/// A witness: its key and what it vouches for. It keeps no state: the caller reads the
/// latest cosigned (size, root) of the request's origin, and persists what [`Decision::Cosign`]
/// says before answering — atomically with the read (C2SP tlog-witness).
#[derive(Debug, Clone)]
pub struct Witness {
    key: CosignerKey,
    logs: Vec<TrustedLog>,
}

/// The origin a request's checkpoint names (for the caller to look up its state first).
pub fn request_origin(note: &str) -> Option<String> {
    let parsed = SignedNote::parse(note).ok()?;
    Checkpoint::parse_text(parsed.text).ok().map(|c| c.origin)
}

impl Witness {
    pub fn new(key: CosignerKey, logs: Vec<TrustedLog>) -> Self {
        Self { key, logs }
    }

    pub fn key(&self) -> &CosignerKey {
        &self.key
    }

    /// Whether this witness vouches for `origin`.
    pub fn trusts(&self, origin: &str) -> bool {
        self.logs.iter().any(|l| l.origins.matches(origin))
    }

    /// Decide on `request`, given the latest (size, root) this witness cosigned for its origin
    /// (`None`: never), at `now` (POSIX seconds). The checks in C2SP tlog-witness's order.
    pub fn decide(&self, request: &AddCheckpoint, latest: Option<(u64, Hash)>, now: u64) -> Decision {
        let refuse = |status: u16, reason: &str| Decision::Refuse {
            status,
            reason: reason.to_owned(),
        };
        let Ok(parsed) = SignedNote::parse(&request.note) else {
            return refuse(400, "the checkpoint is not a signed note");
        };
        let Ok(checkpoint) = Checkpoint::parse_text(parsed.text) else {
            return refuse(400, "the note is not a checkpoint");
        };
        let Some(log) = self.logs.iter().find(|l| l.origins.matches(&checkpoint.origin)) else {
            return refuse(404, "this witness does not know the checkpoint's origin");
        };
        if let Err(e) = log.keys.verify(&parsed) {
            return refuse(403, &format!("the checkpoint is not signed by the log: {e}"));
        }
        if request.old_size > checkpoint.size {
            return refuse(400, "the old size is larger than the checkpoint's");
        }
        let (latest_size, latest_root) = latest.unwrap_or((0, empty_root()));
        if request.old_size != latest_size {
            return Decision::Conflict { size: latest_size };
        }
        if checkpoint.size == 0 && checkpoint.root != empty_root() {
            return refuse(422, "a checkpoint of size 0 has the empty tree's root");
        }
        if request.old_size == 0 && !request.proof.is_empty() {
            return refuse(422, "from size 0 the consistency proof is empty");
        }
        if request.old_size == checkpoint.size {
            if !request.proof.is_empty() {
                return refuse(422, "from the checkpoint's own size the consistency proof is empty");
            }
            if checkpoint.root != latest_root {
                return refuse(
                    422,
                    "the checkpoint has the size of the one cosigned before, but another root",
                );
            }
        } else if request.old_size > 0
            && verify_consistency(
                TreeSize(request.old_size),
                TreeSize(checkpoint.size),
                latest_root.as_bytes(),
                checkpoint.root.as_bytes(),
                &request.proof,
            )
            .is_err()
        {
            return refuse(
                422,
                "the consistency proof does not verify: the checkpoint does not extend the one cosigned before",
            );
        }
        let response = self.key.cosign(parsed.text, now);
        // What is kept is the body, the log's own signatures (verified above, each once) and
        // this witness's cosignature: nothing else the submitter sent, so that what the
        // witness stores and serves stays as small as the trusted keys are few.
        let mut kept = format!("{}\n", parsed.text);
        let mut seen: Vec<(&str, [u8; 4])> = Vec::new();
        for signature in &parsed.signatures {
            if log.keys.knows(signature.name, signature.id) && !seen.contains(&(signature.name, signature.id)) {
                seen.push((signature.name, signature.id));
                kept.push_str(&format!(
                    "{SIG_PREFIX}{} {}\n",
                    signature.name,
                    B64.encode(&signature.blob)
                ));
            }
        }
        kept.push_str(&response);
        Decision::Cosign {
            origin: checkpoint.origin,
            size: checkpoint.size,
            root: checkpoint.root,
            latest: kept,
            response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::SignerKey;
    use crate::merkle::{consistency_proof, leaf_hash};

    fn log_key() -> SignerKey {
        SignerKey::from_seed("ledgerdesk-test", [7; 32]).unwrap()
    }

    fn witness_key() -> CosignerKey {
        CosignerKey::from_seed("witness.example/w1", [8; 32]).unwrap()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn note(n: u64) -> String {
        let root = crate::merkle::root_of(&leaves(n));
        Checkpoint::new("ledgerdesk.test/contoso".into(), n, root).sign(&log_key())
    }

    fn witness() -> Witness {
        Witness::new(
            witness_key(),
            vec![TrustedLog {
                keys: TrustedKeys::new([log_key().verifier()]),
                origins: Origins::EveryChainOf(LogName::parse("ledgerdesk.test").unwrap()),
            }],
        )
    }

    fn request(old: u64, n: u64) -> AddCheckpoint {
        let proof = if old == 0 || old >= n {
            Vec::new()
        } else {
            consistency_proof(&leaves(n), TreeSize(old)).unwrap()
        };
        AddCheckpoint {
            old_size: old,
            proof,
            note: note(n),
        }
    }

    #[test]
    fn keys_round_trip_and_the_key_id_is_the_specs() {
        let key = witness_key();
        assert_eq!(CosignerKey::parse(&key.to_text()).unwrap().to_text(), key.to_text());
        let public = key.verifier();
        assert_eq!(WitnessKey::parse(&public.to_string()).unwrap(), public);
        // SHA-256("witness.example/w1" ‖ "\n" ‖ 0x04 ‖ key)[..4], computed here independently.
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"witness.example/w1\n\x04");
        h.update(public.key.as_bytes());
        assert_eq!(public.id, h.finalize()[..4]);
        // A checkpoint key (type 0x01) is no witness key, and the other way round.
        assert!(WitnessKey::parse(&log_key().verifier().to_string()).is_err());
        assert!(crate::checkpoint::VerifierKey::parse(&public.to_string()).is_err());
    }

    #[test]
    fn a_witness_cosigns_what_extends_what_it_cosigned_before_and_nothing_else() {
        let w = witness();
        let Decision::Cosign {
            size, root, response, ..
        } = w.decide(&request(0, 5), None, 1_700_000_000)
        else {
            panic!()
        };
        assert_eq!(size, 5);
        let latest = Some((size, root));
        // Extends it: cosigned.
        assert!(matches!(
            w.decide(&request(5, 9), latest, 1),
            Decision::Cosign { size: 9, .. }
        ));
        // The same again: cosigned. Another root at the same size: 422.
        assert!(matches!(
            w.decide(&request(5, 5), latest, 1),
            Decision::Cosign { size: 5, .. }
        ));
        let mut forked = request(5, 5);
        forked.note = Checkpoint::new("ledgerdesk.test/contoso".into(), 5, Hash::digest(b"other")).sign(&log_key());
        assert!(matches!(
            w.decide(&forked, latest, 1),
            Decision::Refuse { status: 422, .. }
        ));
        // Not from the witness's size: 409 with its size (a replay of an older one too).
        assert_eq!(w.decide(&request(0, 9), latest, 1), Decision::Conflict { size: 5 });
        assert_eq!(w.decide(&request(3, 4), latest, 1), Decision::Conflict { size: 5 });
        // A proof that does not verify: 422.
        let mut bad = request(5, 9);
        bad.proof[0] = Hash::digest(b"wrong");
        assert!(matches!(
            w.decide(&bad, latest, 1),
            Decision::Refuse { status: 422, .. }
        ));
        // Unknown origin: 404. Not signed by the log: 403. Old size past the new: 400.
        let mut unknown = request(0, 5);
        unknown.note = Checkpoint::new("elsewhere.example/x".into(), 5, Hash::digest(b"r")).sign(&log_key());
        assert!(matches!(
            w.decide(&unknown, None, 1),
            Decision::Refuse { status: 404, .. }
        ));
        let mut unsigned = request(0, 5);
        let root = crate::merkle::root_of(&leaves(5));
        unsigned.note = Checkpoint::new("ledgerdesk.test/contoso".into(), 5, root)
            .sign(&SignerKey::from_seed("ledgerdesk-test", [9; 32]).unwrap());
        assert!(matches!(
            w.decide(&unsigned, None, 1),
            Decision::Refuse { status: 403, .. }
        ));
        assert!(matches!(
            w.decide(&request(9, 5), latest, 1),
            Decision::Refuse { status: 400, .. }
        ));
        // The response is one cosignature line that verifies.
        assert!(response.starts_with("— witness.example/w1 ") && response.ends_with('\n'));
    }

    #[test]
    fn a_cosignature_verifies_as_the_spec_writes_it() {
        // Checked here without this module's verifier: the message and the blob by the spec's text.
        let key = witness_key();
        let checkpoint_note = note(5);
        let body = SignedNote::parse(&checkpoint_note).unwrap().text.to_owned();
        let line = key.cosign(&body, 1_679_315_147);
        let blob = B64.decode(line.trim_end().rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(blob.len(), 76);
        assert_eq!(&blob[4..12], &1_679_315_147u64.to_be_bytes());
        let message = format!("cosignature/v1\ntime 1679315147\n{body}");
        let signature = Signature::from_slice(&blob[12..]).unwrap();
        key.verifier()
            .key
            .verify_strict(message.as_bytes(), &signature)
            .unwrap();
        // The cosigned note is still a signed note; the log's signature still verifies.
        let cosigned = with_cosignatures(&checkpoint_note, &[line]);
        let (cp, signed_by) = Checkpoint::open(&cosigned, &TrustedKeys::new([log_key().verifier()])).unwrap();
        assert_eq!((cp.size, signed_by), (5, vec!["ledgerdesk-test".to_owned()]));
        let policy = WitnessPolicy::new(vec![key.verifier()], 1).unwrap();
        assert_eq!(policy.check(&cosigned).unwrap()[0].timestamp, 1_679_315_147);
        // Without it, the quorum is not met; with an altered one, it is a bad cosignature.
        assert!(matches!(
            policy.check(&checkpoint_note),
            Err(WitnessError::Unwitnessed {
                found: 0,
                quorum: 1,
                ..
            })
        ));
        let altered = cosigned.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(
            policy.check(&altered),
            Err(WitnessError::BadCosignature { .. })
        ));
    }

    #[test]
    fn what_a_witness_keeps_is_bounded_by_the_keys_it_trusts() {
        let w = witness();
        // A submitter pads the note with strangers' signature lines and the log's own twice.
        let honest = note(5);
        let log_line = honest.lines().last().unwrap().to_owned();
        let mut padded = honest.clone();
        for i in 0..90 {
            padded.push_str(&format!("— stranger-{i} {}\n", B64.encode([i as u8; 68])));
        }
        padded.push_str(&format!("{log_line}\n"));
        let mut padded_request = request(0, 5);
        padded_request.note = padded;
        let Decision::Cosign { latest, response, .. } = w.decide(&padded_request, None, 7) else {
            panic!("cosigned")
        };
        // The body, the log's signature once, and the witness's cosignature.
        assert_eq!(latest, format!("{honest}{response}"));
        assert_eq!(SignedNote::parse(&latest).unwrap().signatures.len(), 2);
        // From its own size, a consistency proof is refused (it must be empty).
        let cosigned = Checkpoint::parse_text(SignedNote::parse(&latest).unwrap().text).unwrap();
        let mut same = request(5, 5);
        same.proof = vec![Hash::digest(b"x")];
        assert!(matches!(
            w.decide(&same, Some((5, cosigned.root)), 8),
            Decision::Refuse { status: 422, .. }
        ));
    }

    #[test]
    fn one_key_under_two_names_is_no_quorum_of_two() {
        let key = witness_key();
        // The same private key under another name: its own key id, the same public key.
        let twin = CosignerKey::from_seed("witness.example/w2", [8; 32])
            .unwrap()
            .verifier();
        let refused = WitnessPolicy::new(vec![key.verifier(), twin], 2).unwrap_err();
        assert!(refused.contains("key of its own"), "{refused}");
        let other = CosignerKey::from_seed("witness.example/w2", [9; 32])
            .unwrap()
            .verifier();
        assert!(WitnessPolicy::new(vec![key.verifier(), other], 2).is_ok());
    }

    #[test]
    fn requests_are_read_exactly() {
        let r = request(3, 9);
        assert_eq!(AddCheckpoint::parse(&r.to_body()).unwrap(), r);
        for bad in [
            "old 03\n\nx".to_owned(),
            "old x\n\n".to_owned(),
            "new 3\n\n".to_owned(),
            "old 3\nnot base64\n\n".to_owned(),
            "old 3\n".to_owned(),
            format!(
                "old 3\n{}\n",
                format!("{}\n", Hash::digest(b"h").to_base64()).repeat(64)
            ),
        ] {
            assert!(AddCheckpoint::parse(&bad).is_err(), "{bad}");
        }
    }
}
