//! Verification throughput against SHA-256 over the same bytes, measured in one run.
//!
//! `cargo bench -p ledger-cli --bench verify` (`LEDGER_BENCH_ENTRIES` changes the size;
//! default 300,000). Baselines: `openssl dgst -sha256` over the export file (when openssl is
//! installed) and the `sha2` crate over the same bytes in memory. Prints figures and ratios;
//! asserts nothing.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use ledger::{ChainId, LogName, SignerKey, TrustedKeys, Verifier, VerifyOptions};
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

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

fn main() {
    let entries: u64 = std::env::var("LEDGER_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let key = SignerKey::from_seed("bench", [5; 32]).expect("key");
    let chain = ChainId::parse("bench-partner").expect("chain");
    let log = LogName::parse("ledgerdesk.bench").expect("log");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("export.jsonl");

    let start = Instant::now();
    let mut export = Vec::with_capacity(entries as usize * 900);
    let head = ledger_cli::sample::write_sample(&chain, entries, 7, &mut export).expect("sample");
    let generated = start.elapsed();
    std::fs::write(&path, &export).expect("write the export");
    let note = head.sign_checkpoint(log.as_str(), &key);
    let mb = export.len() as f64 / 1e6;
    println!(
        "sample: {entries} entries (format v2), {mb:.1} MB ({:.0} bytes/entry), generated in {:.2} s ({:.0} appends/s)",
        export.len() as f64 / entries as f64,
        generated.as_secs_f64(),
        entries as f64 / generated.as_secs_f64()
    );

    if std::env::var_os("LEDGER_BENCH_PROFILE").is_some() {
        // For `perf record`: only the verifier, single-threaded, many times.
        for _ in 0..30 {
            let mut verifier = Verifier::new(
                TrustedKeys::new([key.verifier()]),
                VerifyOptions {
                    log: Some(log.clone()),
                    threads: Some(1),
                    ..VerifyOptions::default()
                },
            );
            verifier.add_checkpoint(&note, "bench").expect("checkpoint");
            black_box(verifier.verify(export.as_slice(), |_| {}).expect("verifies"));
        }
        return;
    }
    let openssl = best_of(5, || {
        Command::new("openssl")
            .args(["dgst", "-sha256"])
            .arg(&path)
            .output()
            .ok()
            .filter(|o| o.status.success())
    });
    let (raw, digest) = best_of(5, || Sha256::digest(black_box(&export)));
    black_box(digest);

    let verify = |threads: usize| {
        let mut verifier = Verifier::new(
            TrustedKeys::new([key.verifier()]),
            VerifyOptions {
                log: Some(log.clone()),
                threads: Some(threads),
                ..VerifyOptions::default()
            },
        );
        verifier.add_checkpoint(&note, "bench").expect("checkpoint");
        let file = std::fs::File::open(&path).expect("open");
        verifier.verify(file, |_| {}).expect("verifies")
    };
    let parallel = std::thread::available_parallelism().map_or(1, usize::from);
    let (one, report) = best_of(3, || verify(1));
    assert_eq!(report.entries, entries);
    assert_eq!(report.uncovered, 0);
    let (many, _) = best_of(5, || verify(parallel));

    let rate = |d: Duration| entries as f64 / d.as_secs_f64();
    let mbps = |d: Duration| mb / d.as_secs_f64();
    if let (d, Some(_)) = &openssl {
        println!(
            "openssl dgst -sha256 over the file:     {:>6.0} MB/s  {:>7.3} s  (baseline)",
            mbps(*d),
            d.as_secs_f64()
        );
    } else {
        println!("openssl: not installed, baseline skipped");
    }
    println!(
        "sha2 over the bytes in memory:          {:>6.0} MB/s  {:>7.3} s",
        mbps(raw),
        raw.as_secs_f64()
    );
    let against = |d: Duration| match &openssl {
        (o, Some(_)) => format!("{:.2}x openssl's time", d.as_secs_f64() / o.as_secs_f64()),
        _ => String::new(),
    };
    println!(
        "ledger verify, 1 thread:                {:>6.0} MB/s  {:>7.3} s  = {:>9.0} entries/s  {}",
        mbps(one),
        one.as_secs_f64(),
        rate(one),
        against(one)
    );
    println!(
        "ledger verify, {parallel} threads:               {:>6.0} MB/s  {:>7.3} s  = {:>9.0} entries/s  {}",
        mbps(many),
        many.as_secs_f64(),
        rate(many),
        against(many)
    );
    println!("  (every entry's layout, canonical data, hash, link, time and Merkle leaf checked; 1 checkpoint)");
    drop(export);
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS of this process (includes the in-memory export copy): {:.0} MiB",
            kib as f64 / 1024.0
        );
    }
}
