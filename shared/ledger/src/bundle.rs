//! Evidence bundles (FORMAT.md §9): disputed entries, their inclusion proofs and the signed
//! checkpoint they are included in — and, optionally, disclosed personal values — verifiable
//! with the public key alone.

use std::io::Read;

use serde_json::Value;

use crate::canonical::{check_data, encode_data};
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

/// An evidence bundle. Its file is exactly [`EvidenceBundle::to_text`]: canonical JSON and a
/// newline, so that it has one reading.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceBundle {
    pub format: String,
    /// The signed checkpoint (signed-note text) the proofs lead to.
    pub checkpoint: String,
    pub tree_size: u64,
    pub entries: Vec<BundleEntry>,
    /// Optionally: that this checkpoint extends an older one the auditor already holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<ConsistencyEvidence>,
}

/// One entry of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleEntry {
    /// The entry's line, exactly as exported.
    pub entry: String,
    pub leaf_index: u64,
    /// Base64 SHA-256 hashes, RFC 6962 order.
    pub inclusion_proof: Vec<String>,
    /// Personal values of this entry, disclosed with their salts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disclosures: Vec<BundleDisclosure>,
}

/// A disclosed value of the entry it is listed under (see [`Disclosure`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleDisclosure {
    pub path: String,
    pub value: String,
    pub salt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsistencyEvidence {
    pub older_checkpoint: String,
    pub proof: Vec<String>,
}

impl EvidenceBundle {
    /// The bundle's file: canonical JSON and a newline.
    pub fn to_text(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut text = encode_data(&value).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Read a bundle file: exactly the canonical form [`EvidenceBundle::to_text`] writes.
    pub fn parse(text: &str) -> Result<Self, Failure> {
        let malformed = |m: String| failure(FailureKind::Malformed, None, None, None, m);
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("a bundle file ends with a newline".into()))?;
        check_data(body.as_bytes())
            .map_err(|e| malformed(format!("a bundle is canonical JSON (as `ledger prove` writes it): {e}")))?;
        let bundle: EvidenceBundle =
            serde_json::from_str(body).map_err(|e| malformed(format!("not an evidence bundle: {e}")))?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(malformed(format!("unknown bundle format {:?}", bundle.format)));
        }
        if bundle.to_text() != text {
            return Err(malformed("the bundle is not in its canonical form".into()));
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
                    value: d.value.clone(),
                    salt: d.salt.clone(),
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
        entries: proven,
        consistent_with_size,
    })
}
