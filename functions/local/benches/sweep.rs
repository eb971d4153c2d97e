//! The SLA sweep at scale, against the embedded DynamoDB-compatible server (the real SDK over
//! HTTP): the idle sweep (nothing due, every chain signed already) with 10 and 10,000
//! partners, and a sweep that breaches 5,000 requests spread over 1,000 partners — time and
//! round trips, per run and per breach. Then the witnesses' cost: the same sweep over 1,000
//! chains, first signed and then grown by a breach each, with no witnesses and with two
//! witnesses on loopback (`ledger witness`'s server, in process), interleaved, median of
//! five setups each, with the CPU time each used and the spread of each round's own ratio
//! (FORMAT.md §17 gives the figures and where the time goes).
//!
//! Last, what checking each entry's kept receipt adds to the signer.
//!
//! `cargo bench -p local --bench sweep` (`SWEEP_BENCH_PARTNERS` replaces 10,000;
//! `SWEEP_BENCH_ONLY=witnesses` or `=receipts` runs that part alone;
//! `SWEEP_BENCH_WITNESS_STATE=<dir>` keeps the witnesses' state there;
//! `SWEEP_BENCH_ROUNDS` replaces the five setups of each). Prints
//! figures and ratios; asserts nothing. The emulator serialises writes on SQLite: compare
//! the rows with each other, not with DynamoDB.

use std::time::Instant;

use api::App;
use api::sweep::{Signing, sweep};
use chrono::{DateTime, Duration, Utc};
use domain::*;
use ledger::witness::{CosignerKey, Origins, TrustedLog, Witness};
use ledger::{LogName, SignerKey, TrustedKeys};
use serde_json::json;
use store::embedded::EmbeddedDynamo;
use store::witnesses::{WitnessEndpoint, Witnesses};
use store::{Store, TableNames};

fn request(partner: &str, n: u64, at: DateTime<Utc>) -> (ServiceRequest, DomainEvent) {
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": "azure", "category": "technical", "severity": "A", "supportTopic": "Compute",
        "title": "Bench request", "description": "A realistic but short description.",
        "language": "en", "contact": { "name": "Agent", "email": "agent@partner.example" },
        "entitlement": { "kind": "mpn_contract", "reference": "MPN-1" }
    }))
    .expect("input");
    let partner = PartnerId::parse(partner).expect("partner");
    let new = NewServiceRequest::parse(input, TenantInput::PartnerOwn, &partner).expect("valid");
    let actor = Actor::new(Role::PartnerAgent, Subject::parse("bench").expect("subject"));
    let policy = SupportPolicy::embedded().expect("policy");
    ServiceRequest::open(
        new,
        partner,
        RequestId::new(at, u128::from(n) << 16 | 3),
        Timestamp::from(at),
        &actor,
        &policy,
    )
    .expect("open")
}

struct Setup {
    app: App,
    signing: Signing,
    _witnesses: Vec<(ledger_cli::witness::Serving, tempfile::TempDir)>,
    _dynamo: EmbeddedDynamo,
}

fn signer_key() -> SignerKey {
    SignerKey::from_seed("bench", [7; 32]).expect("key")
}

fn log_name() -> LogName {
    LogName::parse("bench.local").expect("log")
}

/// The writers' receipt signer: every entry is kept with its receipt, as in the stack, and
/// the sweep checks each before it signs (FORMAT.md §10.2).
fn receipt_signer() -> api::receipts::ReceiptSigner {
    api::receipts::ReceiptSigner {
        key: SignerKey::from_seed("bench-receipts", [8; 32]).expect("key"),
        log: log_name(),
    }
}

/// `n` witnesses on loopback, each trusting the bench's checkpoint key for every chain.
fn start_witnesses(
    n: u8,
) -> (
    Vec<(ledger_cli::witness::Serving, tempfile::TempDir)>,
    Vec<WitnessEndpoint>,
) {
    let mut servers = Vec::new();
    let mut endpoints = Vec::new();
    for i in 0..n {
        let key = CosignerKey::from_seed(&format!("witness-{i}.bench"), [40 + i; 32]).expect("witness key");
        let verifier = key.verifier();
        let witness = Witness::new(
            key,
            vec![TrustedLog {
                keys: TrustedKeys::new(vec![signer_key().verifier()]),
                origins: Origins::EveryChainOf(log_name()),
            }],
        );
        // SWEEP_BENCH_WITNESS_STATE=<dir>: the witnesses' state there (e.g. /dev/shm, to
        // see what their flushes cost on this machine's disk).
        let dir = match std::env::var_os("SWEEP_BENCH_WITNESS_STATE") {
            Some(parent) => tempfile::tempdir_in(parent),
            None => tempfile::tempdir(),
        }
        .expect("witness state");
        let state = ledger_cli::witness::WitnessState::open(dir.path()).expect("state");
        let serving = ledger_cli::witness::Serving::start(witness, state, "127.0.0.1:0").expect("witness");
        endpoints.push(WitnessEndpoint {
            url: serving.url(),
            key: verifier,
        });
        servers.push((serving, dir));
    }
    (servers, endpoints)
}

async fn setup(partners: usize, per_partner: u64, at: DateTime<Utc>) -> Setup {
    setup_witnessed(partners, per_partner, at, 0).await
}

async fn setup_witnessed(partners: usize, per_partner: u64, at: DateTime<Utc>, witnesses: u8) -> Setup {
    let dynamo = EmbeddedDynamo::start("127.0.0.1:0".parse().expect("addr"), None)
        .await
        .expect("dynoxide");
    let client = store::dynamodb_at(dynamo.endpoint(), "eu-central-1").await;
    let mut store = Store::new(client, TableNames::with_prefix("bench"));
    store.set_receipts(std::sync::Arc::new(api::receipts::Receipts::ready(receipt_signer())));
    store.set_receipt_verifier(TrustedKeys::new([receipt_signer().key.verifier()]), log_name());
    store.create_tables().await.expect("tables");
    let mut n = 0;
    let mut tasks = tokio::task::JoinSet::new();
    let store = std::sync::Arc::new(store);
    for p in 0..partners {
        for _ in 0..per_partner {
            n += 1;
            let store = std::sync::Arc::clone(&store);
            let (r, e) = request(&format!("partner-{p:05}"), n, at);
            tasks.spawn(async move { store.create_request(&r, &e, None).await.map(|_| ()) });
            if tasks.len() >= 32 {
                tasks
                    .join_next()
                    .await
                    .expect("a task")
                    .expect("joined")
                    .expect("created");
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("joined").expect("created");
    }
    let mut store = std::sync::Arc::try_unwrap(store).unwrap_or_else(|_| panic!("one owner"));
    let (servers, endpoints) = start_witnesses(witnesses);
    if !endpoints.is_empty() {
        let quorum = endpoints.len();
        store = store.with_witnesses(Witnesses::new(endpoints, quorum).expect("witnesses"));
    }
    let app = App::new(
        store,
        SupportPolicy::embedded().expect("policy"),
        api::identity::IdentityConfig::new("partner_id", "ledgerdesk", "vendor"),
    )
    .with_receipts(receipt_signer());
    let signing = Signing {
        key: signer_key(),
        log: log_name(),
    };
    Setup {
        app,
        signing,
        _witnesses: servers,
        _dynamo: dynamo,
    }
}

/// One sweep at `now`: seconds, round trips, breaches, checkpoints.
async fn timed(s: &Setup, now: DateTime<Utc>) -> (f64, u64, usize, usize) {
    let t = timed_witnessed(s, now).await;
    assert_eq!(t.unwitnessed, 0, "every checkpoint witnessed");
    (t.secs, t.trips, t.breached, t.signed)
}

/// One sweep's figures.
struct Timed {
    secs: f64,
    trips: u64,
    cpu: f64,
    breached: usize,
    signed: usize,
    unwitnessed: usize,
}

/// The CPU time this process has used (user and system, every thread: the signer, the
/// emulator and the in-process witnesses), from `/proc/self/stat` in clock ticks of 1/100 s.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // utime and stime, fields 14 and 15 of the line (proc(5)): the 12th and 13th after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// One sweep at `now`.
async fn timed_witnessed(s: &Setup, now: DateTime<Utc>) -> Timed {
    let before = s.app.store.round_trips();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let report = sweep(&s.app, &s.signing, Timestamp::from(now)).await.expect("sweep");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    if let Some(first) = report.unwitnessed.first() {
        eprintln!(
            "  {} checkpoints unwitnessed, e.g. {} at {}: {:?}",
            report.unwitnessed.len(),
            first.chain,
            first.size,
            first.refused
        );
    }
    Timed {
        secs: elapsed,
        trips: s.app.store.round_trips() - before,
        cpu,
        breached: report.breached.len(),
        signed: report.checkpoints.len(),
        unwitnessed: report.unwitnessed.len(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 1,000 chains signed (first sweep) and then grown by one breach each and signed again,
/// with no witnesses and with two, interleaved so drift falls on both: a round is one setup
/// of each, in turns none first and two first (`SWEEP_BENCH_ROUNDS`, default 5). Besides the
/// ratio of the medians, the spread of each round's own ratio shows how much of a difference
/// this machine can tell apart.
async fn witnesses_cost(t0: DateTime<Utc>) {
    const CHAINS: usize = 1_000;
    let rounds: usize = std::env::var("SWEEP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // Per phase (first signed, grown), per setup (none, two): wall and CPU seconds, by round.
    let mut runs = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let witnesses = [0u8, 2][i];
            let s = setup_witnessed(CHAINS, 1, t0, witnesses).await;
            let t = timed_witnessed(&s, t0 + Duration::minutes(1)).await;
            assert_eq!((t.signed, t.unwitnessed), (CHAINS, 0), "first sweep");
            runs[0][i].push((t.secs, t.cpu));
            let t = timed_witnessed(&s, t0 + Duration::hours(3)).await;
            assert_eq!(
                (t.breached, t.signed, t.unwitnessed),
                (CHAINS, CHAINS, 0),
                "grown sweep"
            );
            runs[1][i].push((t.secs, t.cpu));
        }
    }
    for (phase, [none, two]) in ["first signed", "grown by a breach each"].iter().zip(runs) {
        let wall = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.0).collect());
        let cpu = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.1).collect());
        let (wall_none, wall_two, cpu_none, cpu_two) = (wall(&none), wall(&two), cpu(&none), cpu(&two));
        println!(
            "  {CHAINS} chains {phase}: no witnesses {wall_none:.2} s ({cpu_none:.2} CPU s), two loopback witnesses {wall_two:.2} s ({cpu_two:.2} CPU s) = {:.2}x (median of {rounds} each)",
            wall_two / wall_none
        );
        let per_round: Vec<f64> = none.iter().zip(&two).map(|(n, t)| t.0 / n.0).collect();
        let (low, high) = per_round
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(low, high), &r| (low.min(r), high.max(r)));
        println!(
            "    each round's own ratio: {low:.2}x to {high:.2}x, median {:.2}x",
            median(per_round)
        );
        // The witnesses' work runs on the same cores as the signer here: the added CPU time
        // spread over every core is the least wall time it can add.
        println!(
            "    added CPU {:.2} s over {cores} cores: at least {:.2}x on this machine whatever the witnesses do in parallel",
            cpu_two - cpu_none,
            (wall_none + (cpu_two - cpu_none) / cores as f64) / wall_none
        );
    }
}

/// What checking kept receipts adds to the signer: 1,000 chains grown by a breach each, signed
/// with the check and without it (`Store::set_signer_checks_receipts`), interleaved, median of
/// five setups each.
async fn receipts_cost(t0: DateTime<Utc>) {
    const CHAINS: usize = 1_000;
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..5 {
        for (i, checked) in [false, true].into_iter().enumerate() {
            let s = setup(CHAINS, 1, t0).await;
            s.app.store.set_signer_checks_receipts(checked);
            let t = timed_witnessed(&s, t0 + Duration::minutes(1)).await;
            assert_eq!(t.signed, CHAINS, "first sweep");
            let t = timed_witnessed(&s, t0 + Duration::hours(3)).await;
            assert_eq!((t.breached, t.signed), (CHAINS, CHAINS), "grown sweep");
            runs[i].push((t.secs, t.cpu));
        }
    }
    let wall = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.0).collect());
    let cpu = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.1).collect());
    let [unchecked, checked] = runs;
    println!(
        "  {CHAINS} chains grown by a breach each: kept receipts not checked {:.2} s ({:.2} CPU s), checked {:.2} s ({:.2} CPU s) = {:.2}x (median of 5 each)",
        wall(&unchecked),
        cpu(&unchecked),
        wall(&checked),
        cpu(&checked),
        wall(&checked) / wall(&unchecked)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let large: usize = std::env::var("SWEEP_BENCH_PARTNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let t0: DateTime<Utc> = DateTime::from_timestamp(1_796_000_000, 0).expect("time");
    println!("the SLA sweep against embedded dynoxide");
    if std::env::var("SWEEP_BENCH_ONLY").as_deref() == Ok("witnesses") {
        witnesses_cost(t0).await;
        return;
    }
    if std::env::var("SWEEP_BENCH_ONLY").as_deref() == Ok("receipts") {
        receipts_cost(t0).await;
        return;
    }
    let mut idle = Vec::new();
    for partners in [10, large] {
        let s = setup(partners, 1, t0).await;
        // The first sweep signs every chain; the second has nothing to do.
        let (first, first_trips, _, signed) = timed(&s, t0 + Duration::minutes(1)).await;
        let runs: Vec<(f64, u64)> = {
            let mut v = Vec::new();
            for i in 0..5 {
                let (secs, trips, breached, signed) = timed(&s, t0 + Duration::minutes(2 + i)).await;
                assert_eq!((breached, signed), (0, 0), "idle");
                v.push((secs, trips));
            }
            v
        };
        let mut secs: Vec<f64> = runs.iter().map(|r| r.0).collect();
        secs.sort_by(f64::total_cmp);
        let median = secs[secs.len() / 2];
        println!(
            "  {partners:>6} partners: first sweep {first:.3} s ({first_trips} round trips, {signed} checkpoints), idle sweep median {:.1} ms, {} round trips",
            median * 1e3,
            runs[0].1
        );
        idle.push(median);
    }
    println!(
        "  idle sweep, {large} partners / 10 partners: {:.2}x",
        idle[1] / idle[0]
    );
    let s = setup(1_000, 5, t0).await;
    // Sign the chains first, so the run below is the breaches (and their checkpoints).
    timed(&s, t0 + Duration::minutes(1)).await;
    let (secs, trips, breached, signed) = timed(&s, t0 + Duration::hours(3)).await;
    println!(
        "  5,000 due over 1,000 partners: {breached} breached in {secs:.2} s ({:.0} breaches/s), {trips} round trips = {:.2} per breach (signing {signed} checkpoints included)",
        breached as f64 / secs,
        trips as f64 / breached.max(1) as f64
    );
    witnesses_cost(t0).await;
    receipts_cost(t0).await;
}
