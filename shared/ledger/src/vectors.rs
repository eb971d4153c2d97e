//! The committed test vectors (FORMAT.md §15) for code that needs them in-process — the fuzz
//! targets and their corpus replay — so that no other crate reaches into this one's files.

/// The vectors' checkpoint key (`ledgerdesk-vectors.pub`, Go `note` verifier format).
pub const PUBLIC_KEY: &str = include_str!("../vectors/ledgerdesk-vectors.pub");
/// The v1 chain's checkpoint of size 8 (`valid/checkpoint-8.note`).
pub const CHECKPOINT_8: &str = include_str!("../vectors/valid/checkpoint-8.note");
/// The v2 chain with commitments (`v2/chain.jsonl`).
pub const V2_CHAIN: &str = include_str!("../vectors/v2/chain.jsonl");
