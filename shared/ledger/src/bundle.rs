//! Evidence bundles (FORMAT.md §9): disputed entries, their inclusion proofs and the signed
//! checkpoint they are included in — and, optionally, disclosed personal values — verifiable
//! with the public key alone.

use std::io::Read;

use crate::checkpoint::{Checkpoint, LogName, NoteError, TrustedKeys};
use crate::entry::EntryRef;
use crate::hash::Hash;
use crate::lines::{LineReader, ReadError};
use crate::merkle::{
    LeafIndex, ProofError, TreeSize, consistency_proof, inclusion_proof, leaf_hash, root_of, verify_consistency,
    verify_inclusion,
};
use crate::personal::{Disclosure, DisclosureError};
use crate::verify::{Failure, FailureKind, failure};

pub const BUNDLE_FORMAT: &str = "ledgerdesk-evidence/v2";

/// An evidence bundle. It is written as [`EvidenceBundle::to_text`]: canonical JSON and a
/// newline; it is read in any JSON formatting of the same members.
///
/// Members are declared in their canonical (RFC 8785) order, so that serialising a bundle
/// writes its canonical form directly (no JSON tree in memory); a test checks it against the
/// canonical encoder. Reading one is bounded too: proofs of at most 64 (inclusion) and 128
/// (consistency) canonical base64 hashes, at most 64 disclosures per entry — a 16 MiB file of
/// empty strings cannot become a hundred million small allocations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceBundle {
    /// The signed checkpoint (signed-note text) the proofs lead to.
    pub checkpoint: String,
    /// Optionally: that this checkpoint extends an older one the auditor already holds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_object"
    )]
    pub consistency: Option<ConsistencyEvidence>,
    #[serde(deserialize_with = "objects_at_most::<_, BundleEntry, MAX_BUNDLE_ENTRIES>")]
    pub entries: Vec<BundleEntry>,
    pub format: String,
    pub tree_size: u64,
}

/// One entry of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleEntry {
    /// Personal values of this entry, disclosed with their salts.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "objects_at_most::<_, BundleDisclosure, 64>"
    )]
    pub disclosures: Vec<BundleDisclosure>,
    /// The entry's line, exactly as exported.
    pub entry: String,
    /// Base64 SHA-256 hashes, RFC 6962 order.
    #[serde(deserialize_with = "proof_hashes::<_, 64>")]
    pub inclusion_proof: Vec<String>,
    pub leaf_index: u64,
}

/// A disclosed value of the entry it is listed under (see [`Disclosure`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleDisclosure {
    pub path: String,
    pub salt: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsistencyEvidence {
    pub older_checkpoint: String,
    #[serde(deserialize_with = "proof_hashes::<_, 128>")]
    pub proof: Vec<String>,
}

/// The most entries one bundle holds (the API's pages hold at most 500): reading stays
/// within the verifier's memory bound however the file is written.
pub const MAX_BUNDLE_ENTRIES: usize = 10_000;

/// A value read only from a JSON object (serde would also take an array, by position).
struct Obj<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectOnly(std::marker::PhantomData))
            .map(Obj)
    }
}

/// A JSON array of at most `N` objects.
fn objects_at_most<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(at_most::<_, Obj<T>, N>(deserializer)?
        .into_iter()
        .map(|Obj(t)| t)
        .collect())
}

/// A member that, when present, is an object (not `null`: absent says none).
fn present_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Obj<T> as serde::Deserialize>::deserialize(deserializer).map(|Obj(t)| Some(t))
}

/// A JSON array of at most `N` items.
fn at_most<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct Bounded<T, const N: usize>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for Bounded<T, N> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an array of at most {N} items")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                if items.len() == N {
                    return Err(serde::de::Error::invalid_length(N + 1, &self));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(Bounded::<T, N>(std::marker::PhantomData))
}

/// At most `N` hashes, each canonical base64 of 32 bytes.
fn proof_hashes<'de, D, const N: usize>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let hashes: Vec<String> = at_most::<_, String, N>(deserializer)?;
    if let Some(bad) = hashes
        .iter()
        .find(|h| Hash::from_base64(h).is_none_or(|hash| hash.to_base64() != **h))
    {
        return Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(bad),
            &"canonical base64 of a 32-byte hash",
        ));
    }
    Ok(hashes)
}

impl EvidenceBundle {
    /// The bundle's file: canonical JSON and a newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Read a bundle file: the bundle object in any JSON formatting (`jq .` of one reads the
    /// same: its meaning is in its entry lines, which are canonical strings, and its signed
    /// notes), but exactly the bundle's members — none unknown, none twice — and nothing
    /// after it but whitespace. Bundles are written canonically ([`EvidenceBundle::to_text`]).
    pub fn parse(text: &str) -> Result<Self, Failure> {
        let malformed = |m: String| failure(FailureKind::Malformed, None, None, None, m);
        let mut reader = serde_json::Deserializer::from_str(text);
        let bundle = serde::Deserialize::deserialize(&mut reader)
            .and_then(|Obj(bundle): Obj<EvidenceBundle>| reader.end().map(|()| bundle))
            // serde's message quotes an unknown member's name: escaped, so that no name (a
            // line break, a control) can forge what a reader sees.
            .map_err(|e| malformed(format!("not an evidence bundle: {}", e.to_string().escape_debug())))?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(malformed(format!("unknown bundle format {:?}", bundle.format)));
        }
        Ok(bundle)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("the checkpoint cannot be read: {0}")]
    Checkpoint(NoteError),
    #[error("line {line}: {message}")]
    Ledger { line: u64, message: String },
    #[error("seq {seq} is not below the checkpoint's tree size {size}")]
    NotInCheckpoint { seq: u64, size: u64 },
    #[error("the export holds {found} entries of chain {chain}, fewer than the checkpoint's {size}")]
    TooShort { chain: String, found: u64, size: u64 },
    #[error("the export does not match the checkpoint: its first {size} entries have another root")]
    RootMismatch { size: u64 },
    #[error("a disclosure does not hold: {0}")]
    Disclosure(DisclosureError),
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// Read the body of a signed note without checking signatures (the prover holds no keys;
/// the auditor checks them in [`verify_bundle`]).
fn unverified_checkpoint(note: &str) -> Result<Checkpoint, NoteError> {
    let parsed = crate::checkpoint::SignedNote::parse(note)?;
    Checkpoint::parse_text(parsed.text)
}

/// Build the evidence for entries `seqs` of the checkpoint's chain from an export, with the
/// given disclosures (each for one of those entries).
pub fn prove(
    export: impl Read,
    seqs: &[u64],
    checkpoint_note: &str,
    older_note: Option<&str>,
    disclosures: &[Disclosure],
) -> Result<EvidenceBundle, ProveError> {
    let checkpoint = unverified_checkpoint(checkpoint_note).map_err(ProveError::Checkpoint)?;
    let chain = checkpoint
        .chain()
        .ok_or(ProveError::Checkpoint(NoteError::MalformedCheckpoint(
            "the origin names no chain",
        )))?;
    if let Some(&seq) = seqs.iter().find(|s| **s >= checkpoint.size) {
        return Err(ProveError::NotInCheckpoint {
            seq,
            size: checkpoint.size,
        });
    }
    let mut leaves: Vec<Hash> = Vec::new();
    let mut lines: Vec<(u64, String)> = Vec::new();
    let mut last = crate::entry::GENESIS_PREV;
    let mut reader = LineReader::new(export);
    'read: loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(ReadError::Io(e)) => return Err(ProveError::Io(e)),
            Err(e @ (ReadError::TooLong { line } | ReadError::Unterminated { line })) => {
                return Err(ProveError::Ledger {
                    line,
                    message: e.to_string(),
                });
            }
        };
        for (i, line) in chunk.lines.iter().enumerate() {
            let number = chunk.first_line + i as u64;
            let bad = |message: String| ProveError::Ledger { line: number, message };
            let entry = EntryRef::parse(line).map_err(|e| bad(e.to_string()))?;
            if entry.chain != chain.as_str() {
                continue;
            }
            if leaves.len() as u64 == checkpoint.size {
                break 'read;
            }
            if entry.seq != leaves.len() as u64 || entry.prev != last || entry.computed_hash() != entry.hash {
                return Err(bad("the chain does not verify here; run `ledger verify` first".into()));
            }
            last = entry.hash;
            leaves.push(leaf_hash(entry.hash.as_bytes()));
            if seqs.contains(&entry.seq) {
                for d in disclosures.iter().filter(|d| d.seq == entry.seq) {
                    d.check(&entry).map_err(ProveError::Disclosure)?;
                }
                lines.push((entry.seq, entry.line_str().to_owned()));
            }
        }
    }
    if (leaves.len() as u64) < checkpoint.size {
        return Err(ProveError::TooShort {
            chain: chain.to_string(),
            found: leaves.len() as u64,
            size: checkpoint.size,
        });
    }
    if root_of(&leaves) != checkpoint.root {
        return Err(ProveError::RootMismatch { size: checkpoint.size });
    }
    if let Some(d) = disclosures
        .iter()
        .find(|d| !seqs.contains(&d.seq) || d.chain != chain.as_str())
    {
        return Err(ProveError::Disclosure(DisclosureError::WrongEntry {
            chain: d.chain.clone(),
            seq: d.seq,
        }));
    }
    lines.sort_by_key(|(seq, _)| *seq);
    lines.dedup_by_key(|(seq, _)| *seq);
    let mut entries = Vec::new();
    for (seq, line) in lines {
        let proof = inclusion_proof(&leaves, LeafIndex(seq))?;
        entries.push(BundleEntry {
            entry: line,
            leaf_index: seq,
            inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
            disclosures: disclosures
                .iter()
                .filter(|d| d.seq == seq)
                .map(|d| BundleDisclosure {
                    path: d.path.clone(),
                    salt: d.salt.clone(),
                    value: d.value.clone(),
                })
                .collect(),
        });
    }
    let consistency = match older_note {
        None => None,
        Some(note) => {
            let older = unverified_checkpoint(note).map_err(ProveError::Checkpoint)?;
            let proof = consistency_proof(&leaves, TreeSize(older.size))?;
            Some(ConsistencyEvidence {
                older_checkpoint: note.to_owned(),
                proof: proof.iter().map(Hash::to_base64).collect(),
            })
        }
    };
    Ok(EvidenceBundle {
        format: BUNDLE_FORMAT.to_owned(),
        checkpoint: checkpoint_note.to_owned(),
        tree_size: checkpoint.size,
        entries,
        consistency,
    })
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    pub origin: String,
    pub chain: String,
    pub tree_size: u64,
    pub root: String,
    pub signed_by: Vec<String>,
    /// The witnesses whose cosignatures of the checkpoint were checked (FORMAT.md §17).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub witnessed_by: Vec<String>,
    pub entries: Vec<ProvenEntry>,
    pub consistent_with_size: Option<u64>,
}

/// One proven entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenEntry {
    pub seq: u64,
    pub kind: String,
    pub at: String,
    /// The JSON Pointers of the personal values whose disclosure was checked.
    pub disclosed: Vec<String>,
}

fn fail(kind: FailureKind, chain: Option<&str>, seq: Option<u64>, message: impl Into<String>) -> Failure {
    failure(kind, chain, seq, None, message)
}

fn note_failure(which: &str, e: NoteError) -> Failure {
    fail(FailureKind::of_note(&e), None, None, format!("{which}: {e}"))
}

fn decode_proof(proof: &[String]) -> Result<Vec<Hash>, Failure> {
    proof
        .iter()
        .map(|p| {
            Hash::from_base64(p).filter(|h| h.to_base64() == *p).ok_or_else(|| {
                fail(
                    FailureKind::Malformed,
                    None,
                    None,
                    "a proof hash is not canonical base64 of 32 bytes",
                )
            })
        })
        .collect()
}

/// Check a bundle with the auditor's keys alone; its checkpoint must be of `log`.
pub fn verify_bundle(bundle: &EvidenceBundle, keys: &TrustedKeys, log: &LogName) -> Result<BundleReport, Failure> {
    verify_bundle_witnessed(bundle, keys, log, None)
}

/// [`verify_bundle`], and the checkpoint must carry the quorum of `witnesses` (FORMAT.md §17).
pub fn verify_bundle_witnessed(
    bundle: &EvidenceBundle,
    keys: &TrustedKeys,
    log: &LogName,
    witnesses: Option<&crate::witness::WitnessPolicy>,
) -> Result<BundleReport, Failure> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(fail(
            FailureKind::Malformed,
            None,
            None,
            format!("unknown bundle format {:?}", bundle.format),
        ));
    }
    let (checkpoint, signed_by) =
        Checkpoint::open_pinned(&bundle.checkpoint, keys, log).map_err(|e| note_failure("checkpoint", e))?;
    let chain = checkpoint.chain().map(|c| c.to_string()).unwrap_or_default();
    // Each entry once, in the chain's order (as `prove` and the API write them): a bundle's
    // count of entries is what it proves.
    if let Some(w) = bundle.entries.windows(2).find(|w| w[1].leaf_index <= w[0].leaf_index) {
        return Err(fail(
            FailureKind::Malformed,
            Some(&chain),
            Some(w[1].leaf_index),
            format!(
                "entry {} follows entry {}: a bundle lists its entries in ascending order, each once",
                w[1].leaf_index, w[0].leaf_index
            ),
        ));
    }
    let witnessed_by = match witnesses {
        Some(policy) => policy
            .check(&bundle.checkpoint)
            .map_err(|e| {
                fail(
                    FailureKind::of_witness(&e),
                    Some(&chain),
                    None,
                    format!("checkpoint: {e}"),
                )
            })?
            .into_iter()
            .map(|c| c.witness)
            .collect(),
        None => Vec::new(),
    };
    if bundle.tree_size != checkpoint.size {
        return Err(fail(
            FailureKind::Modified,
            Some(&chain),
            None,
            "the bundle's tree size is not its checkpoint's",
        ));
    }
    if bundle.entries.is_empty() {
        return Err(fail(
            FailureKind::Malformed,
            Some(&chain),
            None,
            "the bundle holds no entry",
        ));
    }
    let mut proven = Vec::new();
    for item in &bundle.entries {
        let entry = EntryRef::parse(item.entry.as_bytes())
            .map_err(|e| fail(FailureKind::of_format(&e), None, None, format!("entry: {e}")))?;
        let seq = entry.seq;
        if entry.computed_hash() != entry.hash {
            return Err(fail(
                FailureKind::Modified,
                Some(entry.chain),
                Some(seq),
                "the entry's bytes do not match its hash",
            ));
        }
        if entry.chain != chain {
            return Err(fail(
                FailureKind::ForeignEntry,
                Some(entry.chain),
                Some(seq),
                format!(
                    "the entry is of chain {}, the checkpoint of {}",
                    entry.chain, checkpoint.origin
                ),
            ));
        }
        if item.leaf_index != seq {
            return Err(fail(
                FailureKind::Modified,
                Some(&chain),
                Some(seq),
                "the bundle's leaf index does not match its entry",
            ));
        }
        let proof = decode_proof(&item.inclusion_proof)?;
        verify_inclusion(
            LeafIndex(seq),
            TreeSize(checkpoint.size),
            leaf_hash(entry.hash.as_bytes()).as_bytes(),
            &proof,
            checkpoint.root.as_bytes(),
        )
        .map_err(|e| {
            fail(
                FailureKind::Fork,
                Some(&chain),
                Some(seq),
                format!("the entry is not in the tree the checkpoint signs: {e}"),
            )
        })?;
        let mut disclosed = Vec::new();
        for d in &item.disclosures {
            Disclosure {
                chain: chain.clone(),
                seq,
                path: d.path.clone(),
                value: d.value.clone(),
                salt: d.salt.clone(),
            }
            .check(&entry)
            .map_err(|e| fail(FailureKind::BadDisclosure, Some(&chain), Some(seq), e.to_string()))?;
            disclosed.push(d.path.clone());
        }
        proven.push(ProvenEntry {
            seq,
            kind: entry.kind.to_owned(),
            at: entry.at.to_owned(),
            disclosed,
        });
    }
    let consistent_with_size = match &bundle.consistency {
        None => None,
        Some(c) => {
            let (older, _) = Checkpoint::open_pinned(&c.older_checkpoint, keys, log)
                .map_err(|e| note_failure("older checkpoint", e))?;
            if older.origin != checkpoint.origin {
                return Err(fail(
                    FailureKind::WrongLog,
                    Some(&chain),
                    None,
                    "the older checkpoint is of another chain",
                ));
            }
            let proof = decode_proof(&c.proof)?;
            verify_consistency(
                TreeSize(older.size),
                TreeSize(checkpoint.size),
                older.root.as_bytes(),
                checkpoint.root.as_bytes(),
                &proof,
            )
            .map_err(|e| {
                fail(
                    FailureKind::Fork,
                    Some(&chain),
                    None,
                    format!(
                        "the checkpoint does not extend the older one of size {}: {e}",
                        older.size
                    ),
                )
            })?;
            Some(older.size)
        }
    };
    Ok(BundleReport {
        origin: checkpoint.origin.clone(),
        chain,
        tree_size: checkpoint.size,
        root: checkpoint.root.to_base64(),
        signed_by,
        witnessed_by,
        entries: proven,
        consistent_with_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChainHead, ChainId, LogName, SignerKey, TrustedKeys};

    #[test]
    fn an_entry_whose_escapes_precede_a_combining_mark_can_be_proven() {
        // The data's text is NFC (a newline composes with nothing); the raw line is not, once
        // a bundle carries it as a string: the bundle's check must not refuse it.
        let key = SignerKey::from_seed("ledgerdesk-test", [7; 32]).unwrap();
        let log = LogName::parse("ledgerdesk.test").unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .to_utc();
        let head = ChainHead::genesis(ChainId::parse("contoso").unwrap());
        let (entry, head) = head
            .append(
                &at,
                "status_changed",
                &serde_json::json!({ "change": { "from": "\n\u{303}" } }),
            )
            .unwrap();
        let export = format!("{}\n", entry.line);
        let note = head.sign_checkpoint(log.as_str(), &key);
        let bundle = prove(export.as_bytes(), &[0], &note, None, &[]).unwrap();
        let text = bundle.to_text();
        let read = EvidenceBundle::parse(&text).unwrap();
        verify_bundle(&read, &TrustedKeys::new([key.verifier()]), &log).unwrap();
        // Reformatted, it reads the same.
        let spaced = text.replacen("{\"checkpoint\"", "{ \"checkpoint\"", 1);
        assert_eq!(EvidenceBundle::parse(&spaced).unwrap(), read);
    }

    /// `n` entries of a chain (each its own line of export) and the head after them.
    fn chain_of(chain: &str, n: u64, tag: &str) -> (Vec<String>, ChainHead) {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut head = ChainHead::genesis(ChainId::parse(chain).unwrap());
        let mut lines = Vec::new();
        for i in 0..n {
            let (entry, next) = head
                .append(&at, "note_added", &serde_json::json!({ "note": format!("{tag} {i}") }))
                .unwrap();
            lines.push(entry.line);
            head = next;
        }
        (lines, head)
    }

    fn note_of(head: &ChainHead) -> String {
        let key = SignerKey::from_seed("ledgerdesk-test", [7; 32]).unwrap();
        head.sign_checkpoint("ledgerdesk.test", &key)
    }

    fn export(lines: &[&String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn prove_refuses_an_entry_that_does_not_link_naming_its_line() {
        // A second history of the same chain: its seq 1 is well formed and hashes right, but
        // its prev is not the first history's seq 0.
        let (a, head) = chain_of("contoso", 3, "a");
        let (b, _) = chain_of("contoso", 3, "b");
        let (other, _) = chain_of("fabrikam", 1, "c");
        let text = export(&[&other[0], &a[0], &b[1], &a[2]]);
        match prove(text.as_bytes(), &[0], &note_of(&head), None, &[]) {
            Err(ProveError::Ledger { line, message }) => {
                assert_eq!(line, 3, "the fork's line");
                assert!(message.contains("does not verify"), "{message}");
            }
            other => panic!("expected the line of the fork, got {other:?}"),
        }
        // A skipped seq and an altered hash are refused the same way.
        let text = export(&[&a[0], &a[2]]);
        assert!(matches!(
            prove(text.as_bytes(), &[0], &note_of(&head), None, &[]),
            Err(ProveError::Ledger { line: 2, .. })
        ));
    }

    #[test]
    fn prove_refuses_an_export_shorter_than_the_checkpoint() {
        let (a, head) = chain_of("contoso", 3, "a");
        let text = export(&[&a[0], &a[1]]);
        match prove(text.as_bytes(), &[0], &note_of(&head), None, &[]) {
            Err(ProveError::TooShort { chain, found, size }) => {
                assert_eq!((chain.as_str(), found, size), ("contoso", 2, 3));
            }
            other => panic!("expected too short, got {other:?}"),
        }
    }

    #[test]
    fn prove_refuses_a_disclosure_for_an_entry_it_does_not_prove() {
        let (a, head) = chain_of("contoso", 3, "a");
        let text = export(&[&a[0], &a[1], &a[2]]);
        let disclosure = |chain: &str, seq| Disclosure {
            chain: chain.into(),
            seq,
            path: "/note".into(),
            value: "x".into(),
            salt: "00".repeat(32),
        };
        for (d, chain, seq) in [
            (disclosure("contoso", 2), "contoso", 2),
            (disclosure("fabrikam", 0), "fabrikam", 0),
        ] {
            match prove(text.as_bytes(), &[0], &note_of(&head), None, &[d]) {
                Err(ProveError::Disclosure(DisclosureError::WrongEntry { chain: c, seq: s })) => {
                    assert_eq!((c.as_str(), s), (chain, seq));
                }
                other => panic!("expected the wrong entry, got {other:?}"),
            }
        }
        // The same export proves seq 0 without it.
        assert!(prove(text.as_bytes(), &[0], &note_of(&head), None, &[]).is_ok());
    }

    #[test]
    fn a_bundle_with_too_many_proof_hashes_is_refused_naming_the_bound() {
        let hash = Hash::digest(b"x").to_base64();
        let proof = vec![hash; 129];
        let json = serde_json::json!({ "olderCheckpoint": "x", "proof": proof }).to_string();
        let err = serde_json::from_str::<ConsistencyEvidence>(&json)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid length 129, expected an array of at most 128 items"),
            "{err}"
        );
    }
}
