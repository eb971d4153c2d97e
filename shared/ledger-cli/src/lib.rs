//! The `ledger` command-line tool for partners and auditors: verify an export offline, prove
//! and check entries, check receipts, monitor a log through its API (`sync`), generate keys
//! and realistic samples, run a witness that cosigns checkpoints (`witness`), and (feature `export`) read a ledger out of DynamoDB. See `ledger --help` and the crate's README section in the project README.

pub mod commands;
pub mod explain;
#[cfg(feature = "export")]
pub mod export;
mod http1;
pub mod report;
pub mod sample;
pub mod sync;
pub mod terminal;
pub mod witness;
