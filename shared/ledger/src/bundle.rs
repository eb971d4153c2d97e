//! Evidence bundles: one disputed entry, its inclusion proof and the signed checkpoint it is
//! included in, verifiable with the public key alone.

use std::io::BufRead;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{Checkpoint, NoteError, TrustedKeys};
use crate::entry::EntryRef;
use crate::hash::Hash;
use crate::merkle::{
    LeafIndex, ProofError, TreeSize, consistency_proof, inclusion_proof, leaf_hash, root_of, verify_consistency,
    verify_inclusion,
};
use crate::verify::{Failure, FailureKind};

pub const BUNDLE_FORMAT: &str = "ledgerdesk-evidence/v1";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceBundle {
    pub format: String,
    /// The entry's line, exactly as exported.
    pub entry: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64 SHA-256 hashes, RFC 6962 order.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint (signed-note text) the proof leads to.
    pub checkpoint: String,
    /// Optionally: that this checkpoint extends an older one the auditor already holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<ConsistencyEvidence>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsistencyEvidence {
    pub older_checkpoint: String,
    pub proof: Vec<String>,
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
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// Read the body of a signed note without checking signatures (the prover holds no keys;
/// the auditor checks them in [`verify_bundle`]).
fn unverified_checkpoint(note: &str) -> Result<Checkpoint, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    Checkpoint::parse_text(&note[..split + 1])
}

/// Build the evidence for entry `seq` of the checkpoint's chain from an export.
pub fn prove(
    export: impl BufRead,
    seq: u64,
    checkpoint_note: &str,
    older_note: Option<&str>,
) -> Result<EvidenceBundle, ProveError> {
    let checkpoint = unverified_checkpoint(checkpoint_note).map_err(ProveError::Checkpoint)?;
    let chain = checkpoint
        .chain()
        .ok_or(ProveError::Checkpoint(NoteError::MalformedCheckpoint(
            "the origin names no chain",
        )))?;
    if seq >= checkpoint.size {
        return Err(ProveError::NotInCheckpoint {
            seq,
            size: checkpoint.size,
        });
    }
    let mut leaves: Vec<Hash> = Vec::new();
    let mut entry_line = None;
    let mut last = crate::entry::GENESIS_PREV;
    for (index, line) in export.split(b'\n').enumerate() {
        let line = line?;
        let number = index as u64 + 1;
        if line.is_empty() {
            continue;
        }
        let bad = |message: &str| ProveError::Ledger {
            line: number,
            message: message.to_owned(),
        };
        let entry = EntryRef::parse(&line).map_err(|e| bad(&e.to_string()))?;
        if entry.chain != chain.as_str() {
            continue;
        }
        if leaves.len() as u64 == checkpoint.size {
            break;
        }
        if entry.seq != leaves.len() as u64 || entry.prev != last || entry.computed_hash() != entry.hash {
            return Err(bad("the chain does not verify here; run `ledger verify` first"));
        }
        last = entry.hash;
        leaves.push(leaf_hash(entry.hash.as_bytes()));
        if entry.seq == seq {
            entry_line = Some(String::from_utf8_lossy(&line).into_owned());
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
    let proof = inclusion_proof(&leaves, LeafIndex(seq))?;
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
        entry: entry_line.unwrap_or_default(),
        leaf_index: seq,
        tree_size: checkpoint.size,
        inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
        checkpoint: checkpoint_note.to_owned(),
        consistency,
    })
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    pub chain: String,
    pub seq: u64,
    pub kind: String,
    pub at: String,
    pub tree_size: u64,
    pub root: String,
    pub signed_by: Vec<String>,
    pub consistent_with_size: Option<u64>,
}

fn fail(kind: FailureKind, chain: Option<&str>, seq: Option<u64>, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        chain: chain.map(str::to_owned),
        seq,
        line: None,
        message: message.into(),
    }
}

fn note_failure(which: &str, e: NoteError) -> Failure {
    fail(FailureKind::of_note(&e), None, None, format!("{which}: {e}"))
}

fn decode_proof(proof: &[String]) -> Result<Vec<Vec<u8>>, Failure> {
    proof
        .iter()
        .map(|p| {
            B64.decode(p)
                .map_err(|_| fail(FailureKind::Malformed, None, None, "a proof hash is not base64"))
        })
        .collect()
}

/// Check a bundle with the auditor's keys alone.
pub fn verify_bundle(bundle: &EvidenceBundle, keys: &TrustedKeys) -> Result<BundleReport, Failure> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(fail(
            FailureKind::Malformed,
            None,
            None,
            format!("unknown bundle format {:?}", bundle.format),
        ));
    }
    let (checkpoint, signed_by) =
        Checkpoint::open(&bundle.checkpoint, keys).map_err(|e| note_failure("checkpoint", e))?;
    let entry = EntryRef::parse(bundle.entry.as_bytes())
        .map_err(|e| fail(FailureKind::Malformed, None, None, format!("entry: {e}")))?;
    let (chain, seq) = (entry.chain, entry.seq);
    if entry.computed_hash() != entry.hash {
        return Err(fail(
            FailureKind::Modified,
            Some(chain),
            Some(seq),
            "the entry's bytes do not match its hash",
        ));
    }
    if checkpoint.chain().as_ref().map(|c| c.as_str()) != Some(chain) {
        return Err(fail(
            FailureKind::ForeignEntry,
            Some(chain),
            Some(seq),
            format!("the entry is of chain {chain}, the checkpoint of {}", checkpoint.origin),
        ));
    }
    if bundle.leaf_index != seq || bundle.tree_size != checkpoint.size {
        return Err(fail(
            FailureKind::Modified,
            Some(chain),
            Some(seq),
            "the bundle's leaf index or tree size does not match its entry and checkpoint",
        ));
    }
    let proof = decode_proof(&bundle.inclusion_proof)?;
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
            Some(chain),
            Some(seq),
            format!("the entry is not in the tree the checkpoint signs: {e}"),
        )
    })?;
    let consistent_with_size = match &bundle.consistency {
        None => None,
        Some(c) => {
            let (older, _) =
                Checkpoint::open(&c.older_checkpoint, keys).map_err(|e| note_failure("older checkpoint", e))?;
            if older.origin != checkpoint.origin {
                return Err(fail(
                    FailureKind::ForeignEntry,
                    Some(chain),
                    None,
                    "the older checkpoint is of another log",
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
                    Some(chain),
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
        chain: chain.to_owned(),
        seq,
        kind: entry.kind.to_owned(),
        at: entry.at.to_owned(),
        tree_size: checkpoint.size,
        root: checkpoint.root.to_base64(),
        signed_by,
        consistent_with_size,
    })
}
