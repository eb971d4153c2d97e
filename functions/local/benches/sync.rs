//! `ledger sync` of a 100,000-entry chain over loopback, next to `ledger verify` of the file it
//! kept — the partner's monitor against the offline verifier, in the same run.
//!
//! `cargo bench -p local --bench sync` (`SYNC_BENCH_ENTRIES` replaces 100,000). The chain is
//! filled through the store (creates for one partner) and signed by the sweep, then synced
//! into a fresh state directory through the local run's HTTP API (best of three runs, each
//! into a fresh directory). Prints figures and the ratio; asserts nothing.
//! `SYNC_BENCH_HOLD=<seconds>` keeps the filled stack serving afterwards and prints its URL,
//! token file and key, to profile a `ledger` build against it without filling again.
//! `SYNC_BENCH_LEDGER=<a ledger binary>` also times both as the commands a partner runs
//! (`ledger sync`, then `ledger verify` of the copy), each a process of its own, best of five,
//! with each one's peak RSS (GNU time); `SYNC_BENCH_BASELINE=<another ledger binary>` times
//! that binary's sync too, in the same run, against the same stack.

use std::time::Instant;

mod common;

use chrono::Utc;
use common::{best_measured, mib, run_measured, verify_chain};
use domain::*;
use ledger_cli::commands::Exit;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let entries: u64 = std::env::var("SYNC_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let running = local::start(local::LocalConfig {
        port: 0,
        dynamodb_port: 0,
        data_dir: dir.path().join("data"),
        ephemeral: true,
        dynamodb_endpoint: None,
        sweep_every: None,
        deliver_every: None,
        relationships: Vec::new(),
        clock: store::Clock::system(),
        ..local::LocalConfig::default()
    })
    .await
    .expect("local run");
    let store = &running.state.app.store;
    let started = Instant::now();
    let now = Utc::now();
    for n in 0..entries {
        let (r, e) = common::own_tenant(n, now);
        store.create_request(&r, &e, None).await.expect("create");
    }
    let filled = started.elapsed();
    let signed = Instant::now();
    let report = running.sweep(Timestamp::from(Utc::now())).await.expect("sweep");
    println!(
        "{entries} entries written in {:.1} s; the sweep signed {:?} in {:.1} s",
        filled.as_secs_f64(),
        report.checkpoints,
        signed.elapsed().as_secs_f64()
    );
    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        local::token::issue(
            &running.jwt_secret,
            local::token::TokenRole::Partner,
            Some("contoso"),
            "agent@contoso",
            3600,
        )
        .expect("token"),
    )
    .expect("token file");
    // Best of three runs, each into a fresh state directory (a first sync of the whole chain),
    // and best of three verifications of the file the last one kept.
    let mut sync_secs = f64::INFINITY;
    let mut state = dir.path().join("state");
    let mut answer = String::new();
    for run in 0..3 {
        state = dir.path().join(format!("state-{run}"));
        let args = ledger_cli::sync::SyncArgs {
            api: running.base_url(),
            token_file: token_file.clone(),
            keys: vec![running.public_key.clone()],
            receipt_keys: vec![running.receipt_public_key.clone()],
            state: state.clone(),
            log: Some(local::LOG_NAME.to_owned()),
            chain: Some("contoso".to_owned()),
            json: true,
            now: None,
            page: ledger_cli::sync::PAGE,
            witnesses: None,
        };
        let synced = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || ledger_cli::sync::run(args))
            .await
            .expect("joined")
            .expect("sync ran");
        sync_secs = sync_secs.min(synced.elapsed().as_secs_f64());
        assert_eq!(outcome.exit, Exit::Ok, "{}", outcome.stdout);
        answer = outcome.stdout;
    }
    let export = state.join("entries.jsonl");
    let checkpoint = state.join("checkpoint.note");
    let mut verify_secs = f64::INFINITY;
    for _ in 0..3 {
        let verified = Instant::now();
        let outcome = verify_chain(&export, &running.public_key, &checkpoint);
        verify_secs = verify_secs.min(verified.elapsed().as_secs_f64());
        assert_eq!(outcome.exit, Exit::Ok, "{}", outcome.stdout);
    }
    let requests = serde_json::from_str::<serde_json::Value>(&answer).map(|v| v["requests"].clone());
    println!("one sync asked {} requests", requests.unwrap_or_default());
    let bytes = std::fs::metadata(&export).map(|m| m.len()).unwrap_or(0);
    let sync_rate = entries as f64 / sync_secs;
    let verify_rate = entries as f64 / verify_secs;
    println!(
        "ledger sync of {entries} entries ({:.1} MB) over loopback: {sync_secs:.2} s = {sync_rate:.0} entries/s",
        bytes as f64 / 1e6
    );
    println!("ledger verify of the file it kept:            {verify_secs:.2} s = {verify_rate:.0} entries/s");
    println!("sync / verify: {:.0} %", 100.0 * sync_rate / verify_rate);
    if let Ok(bin) = std::env::var("SYNC_BENCH_LEDGER") {
        as_commands(&bin, &running, &token_file, dir.path(), entries).await;
    }
    if let Ok(secs) = std::env::var("SYNC_BENCH_HOLD") {
        println!(
            "HOLD {} {} {}",
            running.base_url(),
            token_file.display(),
            running.public_key.display()
        );
        tokio::time::sleep(std::time::Duration::from_secs(secs.parse().unwrap_or(600))).await;
    }
    running.stop().await;
}

/// `ledger sync` into a fresh directory and `ledger verify` of what it kept, as processes:
/// the best of five of each, their ratio, and each one's peak RSS. With
/// `SYNC_BENCH_BASELINE=<another ledger binary>` that binary's sync too, in the same run.
async fn as_commands(
    bin: &str,
    running: &local::Running,
    token: &std::path::Path,
    dir: &std::path::Path,
    entries: u64,
) {
    let (bin, url, token, dir) = (
        std::path::PathBuf::from(bin),
        running.base_url(),
        token.to_owned(),
        dir.to_owned(),
    );
    let (key, receipt_key) = (running.public_key.clone(), running.receipt_public_key.clone());
    let baseline = std::env::var_os("SYNC_BENCH_BASELINE").map(std::path::PathBuf::from);
    let lines = tokio::task::spawn_blocking(move || {
        let arg = |s: &str| std::ffi::OsString::from(s);
        let sync_args = |state: &std::path::Path| -> Vec<std::ffi::OsString> {
            vec![
                arg("sync"),
                arg("--api"),
                arg(&url),
                arg("--token-file"),
                token.clone().into(),
                arg("--key"),
                key.clone().into(),
                arg("--receipt-key"),
                receipt_key.clone().into(),
                arg("--state"),
                state.into(),
                arg("--log"),
                arg(local::LOG_NAME),
                arg("--chain"),
                arg("contoso"),
                arg("--json"),
            ]
        };
        let sync = best_measured(5, |run| run_measured(&bin, &sync_args(&dir.join(format!("commands-{run}")))));
        let verify = best_measured(5, |run| {
            let state = dir.join(format!("commands-{run}"));
            run_measured(
                &bin,
                &[
                    arg("verify"),
                    state.join("entries.jsonl").into(),
                    arg("--key"),
                    key.clone().into(),
                    arg("--log"),
                    arg(local::LOG_NAME),
                    arg("--checkpoint"),
                    state.join("checkpoint.note").into(),
                ],
            )
        });
        let mut lines = vec![format!(
            "as commands (best of 5): ledger sync {:.2} s = {:.0} entries/s, peak RSS {}; ledger verify {:.2} s = {:.0} entries/s, peak RSS {}; sync / verify: {:.0} %",
            sync.0,
            entries as f64 / sync.0,
            mib(sync.1),
            verify.0,
            entries as f64 / verify.0,
            mib(verify.1),
            100.0 * verify.0 / sync.0
        )];
        if let Some(baseline) = baseline {
            let base = best_measured(5, |run| {
                run_measured(&baseline, &sync_args(&dir.join(format!("baseline-{run}"))))
            });
            lines.push(format!(
                "baseline {} (best of 5): ledger sync {:.2} s = {:.0} entries/s, peak RSS {}; this build's sync takes {:.2}x its time",
                baseline.display(),
                base.0,
                entries as f64 / base.0,
                mib(base.1),
                sync.0 / base.0
            ));
        }
        lines
    })
    .await
    .expect("joined");
    for line in lines {
        println!("{line}");
    }
}
