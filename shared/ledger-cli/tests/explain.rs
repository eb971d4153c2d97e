//! `ledger explain` through the built binary, on a log signed here: a request's figures
//! re-computed (exit 0), a recorded due time altered and re-signed (exit 1 naming it),
//! evidence that does not verify (exit 1, nothing explained), and usage (exit 2).

use std::path::Path;
use std::process::{Command, Output};

use domain::*;
use ledger::ChainHead;
use serde_json::{Value, json};

const LOG: &str = "ledgerdesk.test";
const CUSTOMER: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn ledger(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn at(t: &str) -> Timestamp {
    Timestamp::parse(t).unwrap()
}

/// A German Severity A request opened Friday 16:30 in Berlin, breached Monday 10:35, answered
/// at 11:00: its events.
fn events() -> Vec<DomainEvent> {
    let policy = SupportPolicy::embedded().unwrap();
    let partner = PartnerId::parse("contoso").unwrap();
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": "azure",
        "category": "technical",
        "severity": "A",
        "supportTopic": "Virtual machines / cannot connect",
        "title": "VMs unreachable",
        "description": "Since 10:00 no VM in West Europe answers.",
        "language": "de-DE",
        "contact": { "name": "Erika Partner", "email": "erika@partner.example", "preferredContactMethod": "email" }
    }))
    .unwrap();
    let new = NewServiceRequest::parse(input, TenantInput::Customer(CUSTOMER), &partner).unwrap();
    let agent = Actor::new(Role::PartnerAgent, Subject::parse("agent@contoso").unwrap());
    let engineer = Actor::new(Role::SupportEngineer, Subject::parse("eng@vendor").unwrap());
    let sweep = Actor::system("sla-sweep").unwrap();
    let opened = at("2026-11-27T15:30:00Z");
    let (request, created) = ServiceRequest::open(
        new,
        partner,
        RequestId::new(opened.datetime(), 1),
        opened,
        &agent,
        &policy,
    )
    .unwrap();
    let (request, breached) = request
        .mark_breached(at("2026-11-30T09:35:00Z"), &sweep, &policy)
        .unwrap();
    let (_, answered) = request
        .apply(
            Action::Respond {
                message: Message::parse("on it").unwrap(),
            },
            &engineer,
            at("2026-11-30T10:00:00Z"),
            &policy,
        )
        .unwrap();
    vec![created, breached, answered]
}

/// Sign `events` (data altered by `alter` first) as chain contoso of the test log: the export
/// and checkpoint in `dir`.
fn sign(dir: &Path, events: &[DomainEvent], alter: impl Fn(usize, &mut Value)) {
    let key = ledger_cli::commands::load_signer(&dir.join("log.key")).unwrap();
    let mut head = ChainHead::genesis(ledger::ChainId::parse("contoso").unwrap());
    let mut lines = String::new();
    for (i, event) in events.iter().enumerate() {
        let mut data = serde_json::to_value(event).unwrap();
        for member in ["kind", "at", "partnerId"] {
            data.as_object_mut().unwrap().remove(member);
        }
        alter(i, &mut data);
        let (entry, next) = head.append(&event.at.datetime(), event.kind(), &data).unwrap();
        lines.push_str(&entry.line);
        lines.push('\n');
        head = next;
    }
    std::fs::write(dir.join("export.jsonl"), lines).unwrap();
    std::fs::write(dir.join("checkpoint.note"), head.sign_checkpoint(LOG, &key)).unwrap();
    let out = ledger(
        dir,
        &[
            "prove",
            "export.jsonl",
            "--seq",
            "0",
            "--seq",
            "1",
            "--seq",
            "2",
            "--checkpoint",
            "checkpoint.note",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("bundle.json"), &out.stdout).unwrap();
}

fn keyed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = ledger(dir.path(), &["keygen", "--out", "log", "--name", LOG]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

const EXPLAIN: [&str; 6] = ["explain", "bundle.json", "--key", "log.pub", "--log", LOG];

#[test]
fn a_bundle_is_verified_then_explained() {
    let dir = keyed();
    sign(dir.path(), &events(), |_, _| {});
    let out = ledger(dir.path(), &EXPLAIN);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("OK: request "), "the verdict first: {text}");
    for words in [
        "recorded figures match their re-computation under policy",
        "Severity A, de-DE → calendar de",
        "30 min Fri (16:30–17:00)",
        "due Mon 2026-11-30 10:30",
        "azure technical support: carries the fee (azure_technical)",
        "No first response by Mon 2026-11-30 10:30: breached, recorded 5 min later.",
        "after the due time",
    ] {
        assert!(text.contains(words), "{words:?} in {text}");
    }
    let out = ledger(dir.path(), &[&EXPLAIN[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["matches"], true);
    assert_eq!(report["verified"]["valid"], true);
    let e = &report["explanation"];
    assert_eq!(e["initialResponse"]["dueAt"], "2026-11-30T09:30:00.000Z");
    assert_eq!(e["steps"].as_array().unwrap().len(), 3);
    assert_eq!(e["steps"][1]["lagSeconds"], 300);
    assert_eq!(
        e["policies"][0]["version"],
        SupportPolicy::embedded().unwrap().version()
    );
    // The export, verified against the checkpoint, explains the same.
    let out = ledger(
        dir.path(),
        &[
            "explain",
            "export.jsonl",
            "--checkpoint",
            "checkpoint.note",
            "--request",
            e["requestId"].as_str().unwrap(),
            "--key",
            "log.pub",
            "--log",
            LOG,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("due Mon 2026-11-30 10:30"));
}

#[test]
fn an_altered_due_time_re_signed_is_named() {
    let dir = keyed();
    // The operator records a later due time (so the breach looks smaller) and re-signs.
    sign(dir.path(), &events(), |i, data| {
        if i == 0 {
            data["change"]["request"]["sla"]["dueAt"] = json!("2026-11-30T10:30:00.000Z");
        }
    });
    let out = ledger(dir.path(), &EXPLAIN);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("MISMATCH: request "), "{text}");
    assert!(
        text.contains(
            "entry 0 (created): the due time change.request.sla.dueAt is recorded as 2026-11-30T10:30:00.000Z, but the policy gives 2026-11-30T09:30:00.000Z"
        ),
        "{text}"
    );
    let out = ledger(dir.path(), &[&EXPLAIN[..], &["--json"]].concat());
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["matches"], false);
    assert_eq!(report["explanation"]["mismatch"]["figure"], "change.request.sla.dueAt");
    // A fee recorded as free of charge.
    sign(dir.path(), &events(), |_, data| {
        data["resulting"]["billable"] = json!(false);
    });
    let out = ledger(dir.path(), &EXPLAIN);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("resulting.billable"), "{}", stdout(&out));
}

#[test]
fn evidence_that_does_not_verify_is_not_explained() {
    let dir = keyed();
    sign(dir.path(), &events(), |_, _| {});
    let other = ledger(dir.path(), &["keygen", "--out", "other", "--name", LOG]);
    assert_eq!(other.status.code(), Some(0));
    let out = ledger(
        dir.path(),
        &["explain", "bundle.json", "--key", "other.pub", "--log", LOG],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("Initial response"), "nothing explained: {text}");
    // An entry changed after signing: the proof fails before any figure is read.
    let mut bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bundle.json")).unwrap()).unwrap();
    let entry = bundle["entries"][0]["entry"]
        .as_str()
        .unwrap()
        .replace("\"severity\":\"A\"", "\"severity\":\"C\"");
    bundle["entries"][0]["entry"] = json!(entry);
    std::fs::write(dir.path().join("bundle.json"), bundle.to_string()).unwrap();
    let out = ledger(dir.path(), &EXPLAIN);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(!stdout(&out).contains("Initial response"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = keyed();
    sign(dir.path(), &events(), |_, _| {});
    for args in [
        // An export needs a checkpoint and a request.
        &["explain", "export.jsonl", "--key", "log.pub", "--log", LOG][..],
        &[
            "explain",
            "export.jsonl",
            "--checkpoint",
            "checkpoint.note",
            "--key",
            "log.pub",
            "--log",
            LOG,
        ],
        &["explain", "missing.json", "--key", "log.pub", "--log", LOG],
        &["explain", "bundle.json", "--log", LOG],
    ] {
        let out = ledger(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
    }
}
