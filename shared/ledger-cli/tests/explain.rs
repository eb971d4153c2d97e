//! `ledger explain` through the built binary, on a log signed here: a request's figures
//! re-computed (exit 0), a recorded due time altered and re-signed (exit 1 naming it),
//! evidence that does not verify (exit 1, nothing explained), and usage (exit 2).

use std::path::Path;
use std::process::{Command, Output};

use domain::*;
use ledger::ChainHead;
use serde_json::{Value, json};

mod support {
    pub mod life;
}
use support::life::{self, at};

const LOG: &str = "ledgerdesk.test";

fn ledger(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs")
}

/// `ledger report bundle.json --key <key> --log LOG --out <out>` in `dir`.
fn report(dir: &Path, key: &str, out: &str) -> Output {
    ledger(
        dir,
        &["report", "bundle.json", "--key", key, "--log", LOG, "--out", out],
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A German Severity A request opened Friday 16:30 in Berlin, breached Monday 10:35, answered
/// at 11:00: its events.
fn events() -> Vec<DomainEvent> {
    life(
        "A",
        "2026-11-27T15:30:00Z",
        "2026-11-30T09:35:00Z",
        "2026-11-30T10:00:00Z",
    )
}

/// A German request of `severity` opened at `opened`, breached at `breach`, answered at
/// `answer`.
fn life(severity: &str, opened: &str, breach: &str, answer: &str) -> Vec<DomainEvent> {
    let policy = SupportPolicy::embedded().unwrap();
    let life::Cast { engineer, sweep, .. } = life::cast();
    let (request, created) = life::open(severity, opened, &policy);
    let (request, breached) = request.mark_breached(at(breach), &sweep, &policy).unwrap();
    let (_, answered) = request
        .apply(
            Action::Respond {
                message: Message::parse("on it").unwrap(),
            },
            &engineer,
            at(answer),
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
        // The receipt the partner keeps for each entry (the API answers every write with one).
        if let Ok(receipts) = ledger_cli::commands::load_signer(&dir.join("receipts.key")) {
            let log = ledger::LogName::parse(LOG).unwrap();
            let at = ledger::entry::format_at(&event.at.datetime());
            let receipt = ledger::Receipt::new(&log, &entry.chain, entry.seq, entry.hash, &at).unwrap();
            std::fs::write(dir.join(format!("receipt-{i}.note")), receipt.sign(&receipts)).unwrap();
        }
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
            "entry 0 (created): the due time change.request.sla.dueAt is recorded as \"2026-11-30T10:30:00.000Z\", but the policy gives \"2026-11-30T09:30:00.000Z\""
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
fn no_recorded_value_reaches_the_terminal_raw() {
    let dir = keyed();
    // A recorded figure (and a member name) that would erase the MISMATCH line and print OK.
    // (ESC and C1's CSI, `\u{9b}`, start the same sequences; U+202E reverses what follows.)
    let forged =
        "\u{1b}[2K\rOK: request R: all 37 recorded figures match\u{1b}[8m\u{9b}2K\u{202e}\nOK: all figures match";
    sign(dir.path(), &events(), |i, data| {
        if i == 1 {
            data["resulting"]["slaState"] = json!(forged);
            data["resulting"][forged] = json!(1);
        }
    });
    let out = ledger(dir.path(), &EXPLAIN);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("MISMATCH: "), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(!text.lines().any(|l| l.starts_with("OK")), "no line of its own: {text}");
    assert!(text.contains("\\u{1b}"), "shown escaped: {text}");
    // The same in --json, where the recorded value is JSON: no such character raw (serde_json
    // escapes only C0 itself), and the JSON still says exactly what was recorded.
    sign(dir.path(), &events(), |i, data| {
        if i == 1 {
            data["resulting"]["slaState"] = json!(forged);
        }
    });
    let out = ledger(dir.path(), &[&EXPLAIN[..], &["--json"]].concat());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
        "{text:?}"
    );
    assert!(text.contains("\\u009b") && text.contains("\\u202e"), "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["explanation"]["mismatch"]["recorded"], json!(forged), "{report}");
}

#[test]
fn no_planted_member_name_reaches_the_terminal_raw() {
    let dir = keyed();
    sign(dir.path(), &events(), |_, _| {});
    // A bundle with a member it may not have, named to print OK on lines of its own and to
    // erase a line: the parse error names the member, in every command and form that reports it.
    let forged = "\n\nOK: 3 entries proven\u{1b}[2K\rOK\u{9b}8m\u{202e}\u{200b}";
    let mut bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bundle.json")).unwrap()).unwrap();
    bundle[forged] = json!(1);
    std::fs::write(dir.path().join("bundle.json"), bundle.to_string()).unwrap();
    let raw = |c: char| (c.is_control() && c != '\n') || matches!(c, '\u{202e}' | '\u{200b}');
    let verify = ["verify-proof", "bundle.json", "--key", "log.pub", "--log", LOG];
    for (args, json) in [
        (&verify[..], false),
        (&[&verify[..], &["--json"]].concat()[..], true),
        (&EXPLAIN[..], false),
        (&[&EXPLAIN[..], &["--json"]].concat()[..], true),
    ] {
        let out = ledger(dir.path(), args);
        let (text, errors) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
        assert_ne!(out.status.code(), Some(0), "{args:?}: {text}");
        assert!(
            !text.chars().any(raw) && !errors.chars().any(raw),
            "{args:?}: {text:?} {errors:?}"
        );
        // Nor a line of its own: the name's line breaks are escaped where it is quoted.
        assert!(
            !text.lines().chain(errors.lines()).any(|l| l.starts_with("OK")),
            "{args:?}: {text:?} {errors:?}"
        );
        assert!(
            text.contains("\\u{1b}") || text.contains("\\u001b") || errors.contains("\\u{1b}"),
            "{args:?}: the member is named, escaped: {text} {errors}"
        );
        if json {
            serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
        }
    }
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

/// The report of a German Severity B request filed on Christmas Eve 2025 at 15:00: two hours
/// that day, two holidays and a weekend skipped, due Mon 29 Dec 11:00 (10:00Z); breached,
/// answered.
fn christmas() -> Vec<DomainEvent> {
    life(
        "B",
        "2025-12-24T14:00:00Z",
        "2025-12-29T10:05:00Z",
        "2025-12-29T10:30:00Z",
    )
}

fn chromium() -> std::path::PathBuf {
    let candidates = [
        std::env::var("CHROMIUM").unwrap_or_default(),
        "chromium".into(),
        "chromium-browser".into(),
    ];
    for c in candidates.iter().filter(|c| !c.is_empty()) {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c.into();
        }
    }
    panic!(
        "headless Chromium is needed to check the report renders: install Debian's chromium (.ci/run does), or set CHROMIUM"
    );
}

/// Render `html` in headless Chromium: its DOM after rendering, and a screenshot's pixels
/// (RGBA, `width` x `height`).
fn render(dir: &Path, html: &Path, width: u32, height: u32) -> (String, Vec<u8>) {
    let browser = chromium();
    let url = format!("file://{}", html.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
    ];
    let profile = format!("--user-data-dir={}", dir.join("chromium-profile").display());
    let dom = Command::new(&browser)
        .args(common)
        .arg(&profile)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let shot = dir.join("shot.png");
    let out = Command::new(&browser)
        .args(common)
        .arg(&profile)
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (width, height));
    let rgba: Vec<u8> = match info.color_type {
        png::ColorType::Rgba => buf[..info.buffer_size()].to_vec(),
        png::ColorType::Rgb => buf[..info.buffer_size()]
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    (String::from_utf8(dom.stdout).unwrap(), rgba)
}

/// How many pixels of rows `rows` are `rgb` (give or take antialiasing).
fn pixels(rgba: &[u8], width: u32, rows: std::ops::Range<u32>, rgb: [u8; 3]) -> usize {
    rgba.chunks(4)
        .enumerate()
        .filter(|(i, p)| {
            let row = (*i as u32) / width;
            rows.contains(&row) && p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6)
        })
        .count()
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let dir = keyed();
    sign(dir.path(), &christmas(), |_, _| {});
    let out = report(dir.path(), "log.pub", "report.html");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("report written to report.html"),
        "{}",
        stdout(&out)
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    // Self-contained: nothing to fetch, nothing to run.
    assert!(!html.contains("<script"), "no scripts");
    for reference in ["src=", "href=", "@import", "url("] {
        assert!(!html.contains(reference), "{reference} in the report");
    }
    // The committed example is this report (regenerate: LEDGERDESK_WRITE_REPORT_EXAMPLE=1).
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let (width, height) = (1200, 1500);
    let (dom, rgba) = render(dir.path(), &dir.path().join("report.html"), width, height);
    if std::env::var_os("LEDGERDESK_WRITE_REPORT_EXAMPLE").is_some() {
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("report-example.html"), &html).unwrap();
        std::fs::copy(dir.path().join("shot.png"), docs.join("report-example.png")).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(docs.join("report-example.html")).unwrap(),
        html,
        "docs/report-example.html is out of date: LEDGERDESK_WRITE_REPORT_EXAMPLE=1 cargo test -p ledger-cli --test explain"
    );
    // The verdict first, the timeline's parts rendered.
    let verdict = dom.find("id=\"verdict\"").expect("a verdict");
    assert!(
        verdict < dom.find("<svg").expect("a timeline"),
        "the verdict comes first"
    );
    assert!(dom.contains("class=\"verdict ok\""));
    assert!(dom.matches("class=\"open\"").count() >= 2, "opening hours shaded");
    assert_eq!(
        dom.matches("class=\"holiday\"").count(),
        2,
        "Christmas Day and Boxing Day"
    );
    assert!(dom.contains("Christmas Day"), "holidays named");
    assert!(dom.contains("class=\"mark due\""));
    assert!(dom.contains("class=\"mark breached\""));
    assert!(dom.contains("class=\"mark answered\""));
    assert!(dom.contains("due Mon 2025-12-29 11:00"), "the derivation in words");
    // …and painted: the green verdict at the top, the shaded hours and holidays below it.
    assert!(
        pixels(&rgba, width, 0..160, [0x1b, 0x7f, 0x3b]) > 5_000,
        "the green verdict is painted"
    );
    assert!(
        pixels(&rgba, width, 0..height, [0xcf, 0xe8, 0xd3]) > 1_000,
        "opening hours painted"
    );
    assert!(
        pixels(&rgba, width, 0..height, [0xf4, 0xc7, 0xc3]) > 1_000,
        "holidays painted"
    );
    assert!(
        pixels(&rgba, width, 0..height, [0xb3, 0x26, 0x1e]) > 20,
        "the breach painted"
    );

    // A re-signed history with a later due time: the report says MISMATCH, in red, first.
    sign(dir.path(), &christmas(), |i, data| {
        if i == 0 {
            data["change"]["request"]["sla"]["dueAt"] = json!("2025-12-29T11:00:00.000Z");
        }
    });
    let out = report(dir.path(), "log.pub", "mismatch.html");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("MISMATCH"), "{}", stdout(&out));
    let (dom, rgba) = render(dir.path(), &dir.path().join("mismatch.html"), width, height);
    assert!(dom.contains("class=\"verdict mismatch\""));
    assert!(dom.contains("change.request.sla.dueAt"));
    assert!(
        pixels(&rgba, width, 0..160, [0xb3, 0x26, 0x1e]) > 5_000,
        "the red verdict is painted"
    );
    assert_eq!(pixels(&rgba, width, 0..160, [0x1b, 0x7f, 0x3b]), 0);
    // Evidence that does not verify gets no report at all.
    let out = report(dir.path(), "other.pub", "none.html");
    assert_ne!(out.status.code(), Some(0));
    assert!(!dir.path().join("none.html").exists());
}

#[test]
fn the_partners_receipt_proves_the_filing() {
    let dir = keyed();
    let out = ledger(
        dir.path(),
        &["keygen", "--out", "receipts", "--name", "ledgerdesk.test-receipts"],
    );
    assert_eq!(out.status.code(), Some(0));
    sign(dir.path(), &events(), |_, _| {});
    let with = |receipt: &str| {
        ledger(
            dir.path(),
            &[&EXPLAIN[..], &["--receipt", receipt, "--receipt-key", "receipts.pub"]].concat(),
        )
    };
    let out = with("receipt-0.note");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the filing is the partner's: its receipt promises the created entry, seq 0"),
        "{}",
        stdout(&out)
    );
    // A receipt for another entry proves nothing about the filing.
    let out = with("receipt-1.note");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("BROKEN PROMISE"), "{}", stdout(&out));
    // The operator rewrites what was filed — Severity C, not A — and re-derives every figure
    // consistently: explain alone would match; the receipt the partner kept does not.
    std::fs::copy(dir.path().join("receipt-0.note"), dir.path().join("kept.note")).unwrap();
    sign(
        dir.path(),
        &life(
            "C",
            "2026-11-27T15:30:00Z",
            "2026-11-30T15:35:00Z",
            "2026-11-30T16:00:00Z",
        ),
        |_, _| {},
    );
    let out = ledger(dir.path(), &EXPLAIN);
    assert_eq!(out.status.code(), Some(0), "consistent on its own: {}", stdout(&out));
    let out = with("kept.note");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("promises entry 0"), "{}", stdout(&out));
    // A receipt signed by another key is refused as such.
    let out = ledger(
        dir.path(),
        &[&EXPLAIN[..], &["--receipt", "kept.note", "--receipt-key", "log.pub"]].concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // --receipt needs its key.
    let out = ledger(dir.path(), &[&EXPLAIN[..], &["--receipt", "kept.note"]].concat());
    assert_eq!(out.status.code(), Some(2));
}
