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
//! - [`EntryRef::parse`]: the one strict parser every command reads entries with.
//! - [`Verifier`]: streams an export in memory independent of its size, checks entries on
//!   several threads, names the first bad entry, and says what the checkpoints cover.
//! - [`personal`]: salted commitments for personal data (erasable without breaking hashes).
//! - [`merkle`], [`tiles`]: RFC 6962/9162 hashing and proofs, from leaves or stored tiles.
//! - [`entry_tiles`]: the entries in immutable compressed runs, for monitors to fetch.
//! - [`checkpoint`]: C2SP tlog-checkpoint + signed-note with Ed25519, Go `note` key formats.
//! - [`receipt`]: the signed promise given for every write.
//! - [`signer_state`]: the checkpoint signer's own memory, signed, so it resumes only from itself.
//! - [`witness`]: C2SP cosignatures, quorum policies and the witness's `add-checkpoint` decision.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bundle;
pub mod canonical;
mod chain;
pub mod checkpoint;
pub mod entry;
pub mod entry_tiles;
mod hash;
pub mod lines;
pub mod merkle;
pub mod personal;
pub mod receipt;
pub mod signer_state;
pub mod tiles;
#[cfg(feature = "vectors")]
pub mod vectors;
pub mod verify;
pub mod witness;

pub use chain::{AppendError, ChainHead};
pub use checkpoint::{Checkpoint, LogName, SignedNote, SignerKey, TrustedKeys, VerifierKey};
pub use entry::{Entry, EntryRef, Version};
pub use hash::{BadChainId, ChainId, Hash};
pub use merkle::Frontier;
pub use receipt::{KeptReceipt, Receipt, ReceiptDocument};
pub use verify::{ChainReport, Failure, FailureKind, Report, Verifier, VerifyError, VerifyOptions, Watched};
