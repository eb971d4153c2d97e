//! `ledger explain` and `ledger report` of one request's evidence bundle, against
//! `ledger verify-proof` of the same bundle (the baseline: both verify it first), measured in
//! one run, in process.
//!
//! `cargo bench -p ledger-cli --bench explain`. The request: German, Severity A, opened on a
//! Friday afternoon, raised, breached, answered, followed up five times (cycles met and
//! breached), asked for logs, resolved — 20 entries. Prints figures and the ratio; asserts
//! nothing.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use domain::*;
use ledger::ChainHead;

#[path = "../tests/support/life.rs"]
mod life;
use life::at;

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        f();
        best = best.min(start.elapsed());
    }
    best
}

fn life() -> Vec<DomainEvent> {
    let policy = SupportPolicy::embedded().expect("policy");
    let life::Cast { agent, engineer, sweep } = life::cast();
    let (mut request, created) = life::open("B", "2026-11-27T15:30:00Z", &policy);
    let mut events = vec![created];
    let step = |r: &ServiceRequest, action: Action, who: &Actor, t: &str| {
        r.apply(action, who, at(t), &policy).expect("a valid step")
    };
    let text = |t: &str| Message::parse(t).expect("message");
    let (r, e) = step(
        &request,
        Action::ChangeSeverity {
            severity: Severity::A,
            reason: Some(text("down")),
        },
        &agent,
        "2026-11-27T15:40:00Z",
    );
    events.push(e);
    let (r, e) = r
        .mark_breached(at("2026-11-30T09:45:00Z"), &sweep, &policy)
        .expect("breach");
    events.push(e);
    let (r, e) = step(
        &r,
        Action::Respond { message: text("on it") },
        &engineer,
        "2026-11-30T10:00:00Z",
    );
    events.push(e);
    request = r;
    for day in 1..=5 {
        let (r, e) = step(
            &request,
            Action::Note {
                message: text("still down"),
            },
            &agent,
            &format!("2026-12-0{day}T09:00:00Z"),
        );
        events.push(e);
        let (r, e) = if day % 2 == 0 {
            let (r, e) = r
                .mark_next_response_breached(at(&format!("2026-12-0{day}T12:05:00Z")), &sweep, &policy)
                .expect("breach");
            events.push(e);
            step(
                &r,
                Action::Respond { message: text("late") },
                &engineer,
                &format!("2026-12-0{day}T13:00:00Z"),
            )
        } else {
            step(
                &r,
                Action::Respond {
                    message: text("on time"),
                },
                &engineer,
                &format!("2026-12-0{day}T10:00:00Z"),
            )
        };
        events.push(e);
        request = r;
    }
    let ending = [
        (
            Action::AwaitPartner { message: text("logs?") },
            &engineer,
            "2026-12-05T10:00:00Z",
        ),
        (Action::Note { message: text("logs") }, &agent, "2026-12-05T11:00:00Z"),
        (
            Action::Resolve { message: text("fixed") },
            &engineer,
            "2026-12-05T12:00:00Z",
        ),
    ];
    for (action, who, t) in ending {
        let (r, e) = step(&request, action, who, t);
        events.push(e);
        request = r;
    }
    events
}

fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let key = ledger::SignerKey::from_seed("ledgerdesk.bench", [9; 32]).expect("key");
    let (_, public) = ledger_cli::commands::write_key_pair(&dir.path().join("log"), &key, false).expect("keys");
    let events = life();
    let mut head = ChainHead::genesis(ledger::ChainId::parse("contoso").expect("chain"));
    let mut lines = String::new();
    for event in &events {
        let mut data = serde_json::to_value(event).expect("json");
        for member in ["kind", "at", "partnerId"] {
            data.as_object_mut().expect("object").remove(member);
        }
        let (entry, next) = head.append(&event.at.datetime(), event.kind(), &data).expect("append");
        lines.push_str(&entry.line);
        lines.push('\n');
        head = next;
    }
    let note = head.sign_checkpoint("ledgerdesk.bench", &key);
    let seqs: Vec<u64> = (0..events.len() as u64).collect();
    let bundle = ledger::bundle::prove(lines.as_bytes(), &seqs, &note, None, &[]).expect("prove");
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, bundle.to_text()).expect("write");
    let inputs: Vec<PathBuf> = vec![path];
    let keys = vec![public];
    let log = ledger::LogName::parse("ledgerdesk.bench").expect("log");
    let verify = || {
        let out = ledger_cli::commands::verify_proof(&inputs, &keys, &log, None, true).expect("runs");
        assert_eq!(out.exit, ledger_cli::commands::Exit::Ok, "{}", out.stdout);
        black_box(out);
    };
    let explain = |json| {
        let out = ledger_cli::explain::explain(ledger_cli::explain::ExplainArgs {
            inputs: &inputs,
            keys: &keys,
            log: log.clone(),
            checkpoints: &[],
            request: None,
            witnesses: None,
            receipt: None,
            json,
        })
        .expect("runs");
        assert_eq!(out.exit, ledger_cli::commands::Exit::Ok, "{}", out.stdout);
        black_box(out);
    };
    let report_out = dir.path().join("report.html");
    let report = || {
        let out = ledger_cli::report::report(
            ledger_cli::explain::ExplainArgs {
                inputs: &inputs,
                keys: &keys,
                log: log.clone(),
                checkpoints: &[],
                request: None,
                witnesses: None,
                receipt: None,
                json: false,
            },
            &report_out,
        )
        .expect("runs");
        assert_eq!(out.exit, ledger_cli::commands::Exit::Ok, "{}", out.stdout);
        black_box(out);
    };
    let policy = best_of(50, || {
        black_box(SupportPolicy::from_toml(EMBEDDED_POLICY).expect("parses"));
    });
    let base = best_of(200, verify);
    let text = best_of(200, || explain(false));
    let json = best_of(200, || explain(true));
    let html = best_of(200, report);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("one request, {} entries (best of 200, in process):", events.len());
    println!("  verify-proof (baseline)     {:8.3} ms", ms(base));
    println!(
        "  explain                      {:8.3} ms  {:5.1}x the baseline",
        ms(text),
        ms(text) / ms(base)
    );
    println!(
        "  explain --json               {:8.3} ms  {:5.1}x the baseline",
        ms(json),
        ms(json) / ms(base)
    );
    println!(
        "  report (HTML written)        {:8.3} ms  {:5.1}x the baseline",
        ms(html),
        ms(html) / ms(base)
    );
    println!(
        "  of which parsing the policy  {:8.3} ms (its holidays for every year it covers)",
        ms(policy)
    );
}
