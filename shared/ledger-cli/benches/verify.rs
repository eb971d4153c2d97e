//! Verification throughput against raw SHA-256 over the same bytes, measured in one run.
//!
//! `cargo bench -p ledger-cli --bench verify` (set `LEDGER_BENCH_ENTRIES` to change the size;
//! default 1,000,000). Single-threaded. Prints figures; asserts nothing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ledger::{ChainId, SignerKey, TrustedKeys, Verifier, VerifyOptions};
use sha2::{Digest, Sha256};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let entries: u64 = std::env::var("LEDGER_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let key = SignerKey::from_seed("bench", [5; 32]).expect("key");
    let chain = ChainId::parse("bench-partner").expect("chain");

    let start = Instant::now();
    let mut export = Vec::with_capacity(entries as usize * 700);
    let head = ledger_cli::sample::write_sample(&chain, entries, 7, &mut export).expect("sample");
    let generated = start.elapsed();
    let note = head.sign_checkpoint("ledgerdesk.bench", &key);
    let mb = export.len() as f64 / 1e6;
    println!(
        "sample: {entries} entries, {mb:.1} MB ({:.0} bytes/entry), generated in {:.2} s ({:.0} appends/s)",
        export.len() as f64 / entries as f64,
        generated.as_secs_f64(),
        entries as f64 / generated.as_secs_f64()
    );

    let (raw, digest) = best_of(5, || Sha256::digest(black_box(&export)));
    black_box(digest);

    let verify = |strict: bool| {
        let mut verifier = Verifier::new(
            TrustedKeys::new([key.verifier()]),
            VerifyOptions { strict, chain: None },
        );
        verifier.add_checkpoint(&note, "bench").expect("checkpoint");
        verifier.verify(black_box(export.as_slice()), |_| {}).expect("verifies")
    };
    let (fast, report) = best_of(3, || verify(false));
    assert_eq!(report.entries, entries);
    assert_eq!(report.checkpoints_checked, 1);
    let (strict, _) = best_of(1, || verify(true));

    let rate = |d: Duration| entries as f64 / d.as_secs_f64();
    let mbps = |d: Duration| mb / d.as_secs_f64();
    println!(
        "raw SHA-256 (sha2) over the export:  {:>8.0} MB/s  = {:>10.0} entries/s  (baseline)",
        mbps(raw),
        rate(raw)
    );
    println!(
        "ledger verify:                       {:>8.0} MB/s  = {:>10.0} entries/s  ratio {:.2} of raw SHA-256",
        mbps(fast),
        rate(fast),
        raw.as_secs_f64() / fast.as_secs_f64()
    );
    println!(
        "ledger verify --strict:              {:>8.0} MB/s  = {:>10.0} entries/s  ratio {:.2} of raw SHA-256",
        mbps(strict),
        rate(strict),
        raw.as_secs_f64() / strict.as_secs_f64()
    );
}
