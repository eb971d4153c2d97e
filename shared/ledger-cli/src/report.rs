//! `ledger report`: the explanation of one request as a single self-contained HTML file for a
//! person — the verdict first, then the request on a time axis (opening hours shaded, holidays
//! marked, due times, answers and breaches), then the derivation in words. No scripts, no
//! network: styles and the timeline (SVG) are inline, and every value is escaped (maud).

use std::path::Path;

use domain::explain::{Explanation, Mark, Timeline};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use crate::commands::{CliError, Exit, Outcome};
use crate::explain::{ExplainArgs, explained};

/// The plot's geometry (SVG user units).
const LEFT: f64 = 16.0;
const WIDTH: f64 = 1088.0;
const BAND_TOP: f64 = 34.0;
const BAND_HEIGHT: f64 = 90.0;

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 24px auto; max-width: 1120px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.verdict { padding: 14px 18px; border-radius: 6px; font-size: 17px; font-weight: 600; color: #fff; }
.verdict.ok { background: #1b7f3b; } .verdict.mismatch { background: #b3261e; }
.verdict small { display: block; font-weight: 400; font-size: 14px; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f6f6f6; } code { font: 12.5px ui-monospace, Menlo, Consolas, monospace; }
.derivation { background: #f6f8fa; border-left: 4px solid #4a7bd0; padding: 10px 14px; }
.legend span { display: inline-block; margin-right: 16px; font-size: 13px; } .chip { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; border-radius: 2px; }
.bad { color: #b3261e; font-weight: 600; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
"#;

/// `ledger report`: verify, explain, and write the report to `out`.
pub fn report(mut args: ExplainArgs<'_>, out: &Path) -> Result<Outcome, CliError> {
    args.json = false;
    let (explanation, verified) = match explained(args)? {
        Ok(done) => done,
        Err(outcome) => return Ok(outcome),
    };
    let html = render(&explanation, &verified);
    std::fs::write(out, html).map_err(|source| CliError::Io {
        path: out.to_owned(),
        source,
    })?;
    let (exit, verdict) = match &explanation.mismatch {
        None => (
            Exit::Ok,
            format!("OK: request {}: every recorded figure matches", explanation.request_id),
        ),
        Some(m) => (
            Exit::Tampered,
            format!("MISMATCH: request {}: {}", explanation.request_id, m.message),
        ),
    };
    Ok(Outcome::text(
        exit,
        format!("{verdict}\n  report written to {}\n", out.display()),
    ))
}

fn x(t: &Timeline, at: &domain::Timestamp) -> f64 {
    let from = t.from.datetime().timestamp_millis() as f64;
    let to = t.to.datetime().timestamp_millis() as f64;
    let span = (to - from).max(1.0);
    LEFT + (at.datetime().timestamp_millis() as f64 - from) / span * WIDTH
}

fn color(kind: &str) -> &'static str {
    match kind {
        "due" => "#d9822b",
        "answered" => "#1b7f3b",
        "breached" => "#b3261e",
        _ => "#6b6b6b",
    }
}

fn mark_shape(t: &Timeline, m: &Mark, n: usize) -> Markup {
    let px = x(t, &m.at);
    let title = format!("{}: {} ({})", n, m.label, m.at);
    match m.kind.as_str() {
        "due" => html! {
            g class="mark due" {
                title { (title) }
                line x1=(px) x2=(px) y1=(BAND_TOP - 6.0) y2=(BAND_TOP + BAND_HEIGHT + 6.0) stroke=(color("due")) stroke-width="2" stroke-dasharray="5 3" {}
                text x=(px + 3.0) y=(BAND_TOP - 9.0) { (n) }
            }
        },
        "answered" => html! {
            g class="mark answered" {
                title { (title) }
                circle cx=(px) cy=(BAND_TOP + BAND_HEIGHT / 2.0) r="7" fill=(color("answered")) stroke="#fff" stroke-width="1.5" {}
                text x=(px + 9.0) y=(BAND_TOP + BAND_HEIGHT / 2.0 - 8.0) { (n) }
            }
        },
        "breached" => {
            let y = BAND_TOP + BAND_HEIGHT / 2.0;
            html! {
                g class="mark breached" {
                    title { (title) }
                    polygon points=(format!("{px},{} {},{} {},{}", y - 9.0, px - 8.0, y + 6.0, px + 8.0, y + 6.0)) fill=(color("breached")) stroke="#fff" stroke-width="1.5" {}
                    text x=(px + 9.0) y=(y + 16.0) { (n) }
                }
            }
        }
        _ => html! {
            g class="mark entry" {
                title { (title) }
                line x1=(px) x2=(px) y1=(BAND_TOP + BAND_HEIGHT + 4.0) y2=(BAND_TOP + BAND_HEIGHT + 16.0) stroke=(color("entry")) stroke-width="2" {}
            }
        },
    }
}

fn timeline_svg(t: &Timeline) -> Markup {
    let height = BAND_TOP + BAND_HEIGHT + 44.0;
    // Label the days only where they fit.
    let day_width = t
        .days
        .windows(2)
        .map(|w| x(t, &w[1].at) - x(t, &w[0].at))
        .fold(f64::MAX, f64::min);
    let every = if day_width >= 90.0 {
        1
    } else {
        (90.0 / day_width.max(1.0)).ceil() as usize
    };
    html! {
        svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="100%" viewBox=(format!("0 0 {} {height}", LEFT * 2.0 + WIDTH)) role="img" aria-label="The request on a time axis" {
            rect class="closed" x=(LEFT) y=(BAND_TOP) width=(WIDTH) height=(BAND_HEIGHT) fill="#ececec" {}
            @for s in &t.open {
                rect class="open" x=(x(t, &s.from)) y=(BAND_TOP) width=((x(t, &s.to) - x(t, &s.from)).max(0.5)) height=(BAND_HEIGHT) fill="#cfe8d3" {
                    title { "support open " (s.from) " – " (s.to) }
                }
            }
            @for h in &t.holidays {
                rect class="holiday" x=(x(t, &h.from)) y=(BAND_TOP) width=((x(t, &h.to) - x(t, &h.from)).max(0.5)) height=(BAND_HEIGHT) fill="#f4c7c3" {
                    title { (h.date) " " (h.name.as_deref().unwrap_or("public holiday")) }
                }
                text class="holiday-label" x=(x(t, &h.from) + 3.0) y=(BAND_TOP + 12.0) { (h.name.as_deref().unwrap_or("holiday")) }
            }
            @for (i, d) in t.days.iter().enumerate() {
                line x1=(x(t, &d.at)) x2=(x(t, &d.at)) y1=(BAND_TOP) y2=(BAND_TOP + BAND_HEIGHT) stroke="#fff" stroke-width="1" {}
                @if i % every == 0 {
                    text x=(x(t, &d.at) + 3.0) y=(BAND_TOP + BAND_HEIGHT + 30.0) { (d.date) }
                }
            }
            // Moments past the shaded stretch are in the table below, not drawn.
            @for (n, m) in t.marks.iter().enumerate().filter(|(_, m)| m.at <= t.to) {
                (mark_shape(t, m, n + 1))
            }
        }
    }
}

fn render(e: &Explanation, verified: &Value) -> String {
    let t = &e.timeline;
    let zone = t.time_zone.as_deref().unwrap_or("UTC");
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Request " (e.request_id) " — explained from its evidence" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "Request " code { (e.request_id) } }
                @match &e.mismatch {
                    None => div class="verdict ok" id="verdict" {
                        "Every recorded figure matches: " (e.figures_checked) " due times, states, breaches and fee figures re-computed from the pinned policy."
                        small { "The evidence verified first (signatures and inclusion proofs); " (crate::explain::COMPLETENESS) "; " (filing(e)) "." }
                    },
                    Some(m) => div class="verdict mismatch" id="verdict" {
                        "MISMATCH at entry " (m.seq) " (" (m.kind) "): " code style="color:#fff" { (crate::terminal::printable(&m.figure)) }
                        small { (crate::terminal::printable(&m.message)) }
                        small { (crate::explain::COMPLETENESS) "; " (filing(e)) "." }
                    },
                }
                @for w in &e.warnings {
                    p class="bad" { "Note: " (w) }
                }
                h2 { "The evidence" }
                table {
                    tr { th { "Checkpoint" } td { code { (verified["origin"].as_str().unwrap_or("")) } " at size " (verified["treeSize"].as_u64().unwrap_or(0)) } }
                    tr { th { "Signed by" } td { (join(verified["signedBy"].as_array().map_or(&[][..], Vec::as_slice))) } }
                    tr { th { "Entries of this request" } td { (e.steps.len()) } }
                    @for p in &e.policies {
                        tr { th { "Policy" } td { (p.version) " — SHA-256 " code { (p.sha256) } @if !p.pinned { " (named only: recorded before pinning)" } } }
                    }
                }
                h2 { "Timeline (" (zone) ")" }
                div class="legend" {
                    span { i class="chip" style="background:#cfe8d3" {} "support open" }
                    span { i class="chip" style="background:#ececec" {} "closed" }
                    span { i class="chip" style="background:#f4c7c3" {} "public holiday" }
                    span { i class="chip" style=(format!("background:{}", color("due"))) {} "due time" }
                    span { i class="chip" style=(format!("background:{}", color("answered"))) {} "answered" }
                    span { i class="chip" style=(format!("background:{}", color("breached"))) {} "breach recorded" }
                    span { i class="chip" style=(format!("background:{}", color("entry"))) {} "entry" }
                }
                (timeline_svg(t))
                table class="moments" {
                    tr { th { "#" } th { "When (UTC)" } th { "What" } }
                    @for (n, m) in t.marks.iter().enumerate() {
                        tr class=(m.kind) { td { (n + 1) } td { code { (m.at) } } td { span style=(format!("color:{}", color(&m.kind))) { "● " } (m.label) } }
                    }
                }
                h2 { "How the first response was due" }
                p class="derivation" { (e.initial_response.text) }
                table {
                    tr { th { "Date" } th { "Counted" } th { "Local" } }
                    @for (date, counted, local) in days(e) {
                        tr { td { (date) } td { (counted) } td { (local) } }
                    }
                }
                @for c in &e.initial_response.offset_changes {
                    p { "The clocks change on " (c.date) ": " (c.from) " → " (c.to) "." }
                }
                p { "Now: due " code { (e.initial_response_outcome.due_at) } ", " (e.initial_response_outcome.state.as_str())
                    @if let Some(f) = e.initial_response_outcome.first_response_at { ", first response " code { (f) } }
                    @if let Some(b) = e.initial_response_outcome.breached_at { ", breach recorded " code { (b) } } "." }
                h2 { "Fee" }
                p { (e.fee.text) }
                h2 { "Entries" }
                table {
                    tr { th { "seq" } th { "at (UTC)" } th { "kind" } th { "by" } th { "policy" } th { "what it did" } }
                    @for s in &e.steps {
                        @let bad = e.mismatch.as_ref().is_some_and(|m| m.seq == s.seq);
                        tr class=[bad.then_some("bad")] {
                            td { (s.seq) } td { code { (s.at) } } td { (s.kind) } td { (s.role) } td { (s.policy_version) }
                            td { (s.text) @if let Some(l) = s.lag_seconds { " (lag " (l) " s)" } }
                        }
                    }
                }
                @if !e.not_changes.is_empty() {
                    p { "Entries that change nothing the rules compute: "
                        @for n in &e.not_changes { (n.seq) " (" (n.kind) ", " (n.at) ") " } }
                }
                @if !e.cycles.is_empty() {
                    h2 { "Next-response cycles" }
                    table {
                        tr { th { "cycle" } th { "from" } th { "due" } th { "target" } th { "answered" } th { "outcome" } }
                        @for c in &e.cycles {
                            tr { td { (c.cycle) } td { code { (c.started_at) } } td { code { (c.due_at) } } td { (c.target_minutes) " min" }
                                td { @if let Some(a) = c.answered_at { code { (a) } } @else { "—" } } td { (c.outcome) } }
                        }
                    }
                }
                p style="color:#777;font-size:12px;margin-top:32px" { "Written offline by ledger report " (env!("CARGO_PKG_VERSION")) " from the evidence alone." }
            }
        }
    };
    markup.into_string()
}

/// The initial response's days in date order: each stretch counted, each day skipped.
fn days(e: &Explanation) -> Vec<(String, String, String)> {
    let c = &e.initial_response;
    let mut rows: Vec<(String, String, String)> = c
        .counted
        .iter()
        .map(|s| {
            (
                s.date.clone(),
                format!("{} min", s.minutes),
                format!("{} – {}", s.local_from, s.local_to),
            )
        })
        .chain(c.skipped.iter().map(|k| {
            let why = match &k.name {
                Some(name) => format!("{}: {name}", k.reason),
                None => k.reason.clone(),
            };
            (k.date.clone(), "skipped".to_owned(), why)
        }))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// Whose word the filing is.
fn filing(e: &Explanation) -> String {
    match e.filing_receipt {
        Some(seq) => format!("the filing is the partner's: its receipt promises the created entry, seq {seq}"),
        None => crate::explain::AS_FILED.to_owned(),
    }
}

fn join(values: &[Value]) -> String {
    values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
}
