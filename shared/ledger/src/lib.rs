//! # ledgerdesk audit ledger
//!
//! Every state change of a service request is appended to a tamper-evident ledger: one hash
//! chain per partner, with an RFC 6962 Merkle tree over it and C2SP signed checkpoints of
//! that tree. An auditor verifies an export offline with the public key alone, and a single
//! disputed entry with an [`bundle::EvidenceBundle`].
//!
//! This crate is the whole of it, small enough to review on its own: no AWS, no async, no
//! I/O beyond the readers it is handed. The byte-level format is in `FORMAT.md`.
//!
//! - [`ChainHead::append`]: the one function that writes entries (service, samples, tests).
//! - [`Verifier`]: streams an export in O(log n) memory, names the first bad entry.
//! - [`merkle`]: RFC 6962/9162 hashing, inclusion and consistency proofs.
//! - [`checkpoint`]: C2SP tlog-checkpoint + signed-note with Ed25519, Go `note` key formats.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bundle;
pub mod canonical;
mod chain;
pub mod checkpoint;
pub mod entry;
mod hash;
pub mod merkle;
mod verify;

pub use chain::{AppendError, ChainHead};
pub use checkpoint::{Checkpoint, SignerKey, TrustedKeys, VerifierKey};
pub use entry::{Entry, EntryRef};
pub use hash::{BadChainId, ChainId, Hash};
pub use merkle::Frontier;
pub use verify::{ChainReport, Failure, FailureKind, Report, Verifier, VerifyError, VerifyOptions};
