//! `ledger verify-receipt` of one receipt against a 100,000-entry export and its checkpoint,
//! as the auditor runs it: the command's time and peak RSS (best of five), and — with
//! `RECEIPT_BENCH_BASELINE=<another ledger binary>` — the same for that binary in the same
//! run, and the ratio. (`RECEIPT_BENCH_ENTRIES` replaces 100,000.) Prints figures; asserts
//! nothing but that every run verifies.
//!
//! `cargo build --release -p ledger-cli && cargo bench -p local --bench receipt` (the
//! `ledger` binary beside the bench's target directory, or `RECEIPT_BENCH_LEDGER=<binary>`).
//!
//! The command now verifies the export up to the checkpoint (links, hashes, the recomputed
//! root) before it judges the receipt by it; a version that only looked the entry up is the
//! natural baseline.

mod common;

use std::ffi::OsString;
use std::path::PathBuf;

use common::{best_measured, mib, run_measured};
use ledger::{ChainId, EntryRef, LogName, Receipt, SignerKey};

fn main() {
    let entries: u64 = std::env::var("RECEIPT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let chain = ChainId::parse("bench-partner").expect("chain");
    let log = LogName::parse("ledgerdesk.bench").expect("log");
    let key = SignerKey::from_seed("bench", [5; 32]).expect("key");
    let receipt_key = SignerKey::from_seed("bench-receipts", [6; 32]).expect("receipt key");
    let mut export = Vec::new();
    let head = ledger_cli::sample::write_sample(&chain, entries, 7, &mut export).expect("sample");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("export.jsonl"), &export).expect("export");
    std::fs::write(path("checkpoint.note"), head.sign_checkpoint(log.as_str(), &key)).expect("checkpoint");
    std::fs::write(path("key.pub"), format!("{}\n", key.verifier())).expect("key");
    std::fs::write(path("receipts.pub"), format!("{}\n", receipt_key.verifier())).expect("receipt key");
    // The receipt of the entry in the middle of the chain.
    let seq = entries / 2;
    let line = export.split(|b| *b == b'\n').nth(seq as usize).expect("the entry");
    let entry = EntryRef::parse(line).expect("an entry");
    let receipt = Receipt::new(&log, &chain, seq, entry.hash, entry.at).expect("receipt");
    std::fs::write(path("receipt.note"), receipt.sign(&receipt_key)).expect("receipt");
    println!(
        "export: {entries} entries, {:.1} MB; the receipt is for seq {seq}",
        export.len() as f64 / 1e6
    );

    let args: Vec<OsString> = [
        "verify-receipt".into(),
        path("receipt.note").into(),
        "--receipt-key".into(),
        path("receipts.pub").into(),
        "--log".into(),
        log.as_str().into(),
        "--export".into(),
        path("export.jsonl").into(),
        "--key".into(),
        path("key.pub").into(),
        "--checkpoint".into(),
        path("checkpoint.note").into(),
    ]
    .into_iter()
    .collect();
    let ours = std::env::var_os("RECEIPT_BENCH_LEDGER")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.join("ledger"))
        })
        .filter(|p| p.exists())
        .expect("a ledger binary: cargo build --release -p ledger-cli, or RECEIPT_BENCH_LEDGER=<binary>");
    let (secs, kib) = best_measured(5, |_| run_measured(&ours, &args));
    println!(
        "ledger verify-receipt (this build):  {secs:.3} s, peak RSS {} ({:.0} entries/s)",
        mib(kib),
        entries as f64 / secs
    );
    if let Some(baseline) = std::env::var_os("RECEIPT_BENCH_BASELINE").map(PathBuf::from) {
        let (base_secs, base_kib) = best_measured(5, |_| run_measured(&baseline, &args));
        println!(
            "ledger verify-receipt (baseline):    {base_secs:.3} s, peak RSS {} ({})",
            mib(base_kib),
            baseline.display()
        );
        println!("time: {:.2}x the baseline", secs / base_secs);
    }
}
