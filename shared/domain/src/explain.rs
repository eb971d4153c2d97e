//! A request explained from its ledger entries alone: every due time, breach and fee the
//! service recorded, re-computed from the policy each entry pins (by version and SHA-256), and
//! the derivation in words.
//!
//! The re-computation runs the same code the service ran — the request's lifecycle
//! ([`ServiceRequest::apply`], [`ServiceRequest::mark_breached`], …) under the pinned policy —
//! replaying each entry as the action that produced it, and compares what it gives with what
//! the entry recorded, figure by figure. Personal values play no part in any figure, so the
//! entries' commitments suffice; texts are replayed as placeholders.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::enums::{Party, Role, Severity, SlaState, Status};
use crate::event::{Change, DomainEvent};
use crate::ids::{RequestId, Subject};
use crate::lifecycle::{Action, Actor, AssignTo, TransitionError};
use crate::personal::{CaseReference, CommitmentId, ErasureScope, LegalBasis};
use crate::policy::{Calendar, PolicyRef, SupportPolicy, WalkStep, published_policy};
use crate::request::ServiceRequest;
use crate::text::Message;
use crate::values::Timestamp;

/// One ledger entry of the request, as recorded: its envelope's `seq`, `kind` and `at`, and
/// its `data` (the domain event, personal values as commitments).
#[derive(Debug, Clone)]
pub struct RecordedEntry {
    pub seq: u64,
    pub kind: String,
    pub at: Timestamp,
    pub data: Value,
}

/// Why a request cannot be explained at all (as opposed to a figure that does not match).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("no entries of request {0}")]
    NoEntries(String),
    #[error("{0} is not a request id")]
    NotARequestId(String),
    #[error("the entries hold several requests ({0}); name one")]
    SeveralRequests(String),
    #[error(
        "the request's first entry is {kind} (seq {seq}), not created: explain needs the request from its creation"
    )]
    NoCreation { seq: u64, kind: String },
    #[error("entry {seq}: {message}")]
    Malformed { seq: u64, message: String },
    #[error("entry {seq} names policy {version}, which the service never published")]
    UnknownPolicy { seq: u64, version: String },
    #[error(
        "entry {seq} pins policy {version} by SHA-256 {recorded}, but the published document hashes to {published}"
    )]
    PolicyDigest {
        seq: u64,
        version: String,
        recorded: String,
        published: String,
    },
    #[error("entry {seq}: policy {version} is published but this build cannot interpret it ({reason})")]
    Uninterpretable { seq: u64, version: String, reason: String },
}

/// A recorded figure that its re-computation does not give.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    pub seq: u64,
    pub kind: String,
    /// The figure, as a path in the entry's data (`resulting.dueAt`, `change.request.sla.dueAt`).
    pub figure: String,
    pub recorded: Value,
    pub computed: Value,
    pub message: String,
}

/// The whole derivation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub request_id: String,
    /// Every recorded figure matches its re-computation.
    pub matches: bool,
    /// The first that does not.
    pub mismatch: Option<Mismatch>,
    /// How many recorded figures were compared.
    pub figures_checked: usize,
    /// The policies the entries pin (or, for entries from before pinning, name).
    pub policies: Vec<PolicyUse>,
    /// How the initial-response clock was set when the request was opened.
    pub initial_response: ClockDerivation,
    /// Where the initial-response clock stands after the last entry (severity changes and a
    /// reopening move it; see `steps`).
    pub initial_response_outcome: ClockOutcome,
    pub fee: FeeDerivation,
    /// Each entry, in order, with what it did to the clocks.
    pub steps: Vec<Step>,
    /// The next-response cycles, as re-computed.
    pub cycles: Vec<CycleDerivation>,
    /// What a time axis of the request shows.
    pub timeline: Timeline,
    /// What the explanation noticed that is not a recorded figure differing from the rules:
    /// a clock left past its due time with no breach recorded, a policy older than one an
    /// earlier entry pinned.
    pub warnings: Vec<String>,
    /// Entries of the request that change nothing the rules compute (listed, not replayed).
    pub not_changes: Vec<NotAChange>,
    /// The seq of the created entry a receipt the partner kept proves (set by whoever checked
    /// the receipt: the filing itself is then the partner's, not the operator's word).
    pub filing_receipt: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotAChange {
    pub seq: u64,
    pub kind: String,
    pub at: Timestamp,
}

/// The request on a time axis: when support was open, the holidays, and the moments that
/// matter (entries, due times, answers, breaches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub from: Timestamp,
    pub to: Timestamp,
    /// The calendar's time zone (`None`: 24x7, shown in UTC).
    pub time_zone: Option<String>,
    pub open: Vec<Span>,
    pub holidays: Vec<HolidaySpan>,
    pub marks: Vec<Mark>,
    /// Where each local day begins (`date` as "Mon 2026-11-30").
    pub days: Vec<DayTick>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayTick {
    pub date: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub from: Timestamp,
    pub to: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HolidaySpan {
    pub date: String,
    pub name: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// One moment on the axis. `kind`: `entry`, `due` (a due time), `answered`, `breached`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark {
    pub at: Timestamp,
    pub kind: String,
    pub label: String,
}

/// The longest stretch a timeline shades day by day.
const TIMELINE_MAX_DAYS: i64 = 62;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockOutcome {
    pub due_at: Timestamp,
    pub state: SlaState,
    pub first_response_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyUse {
    pub version: String,
    pub sha256: String,
    /// False for entries recorded before the service pinned policies by digest: the version
    /// named, and the published document of that version assumed.
    pub pinned: bool,
}

/// How one clock's due time follows from the policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockDerivation {
    pub severity: Severity,
    pub category: String,
    pub language: String,
    pub calendar: String,
    /// Why this calendar serves the language tag.
    pub calendar_reason: String,
    pub calendar_description: String,
    pub time_zone: Option<String>,
    pub target_minutes: u32,
    pub target_reason: String,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    /// The opening time counted, stretch by stretch.
    pub counted: Vec<Stretch>,
    /// Local dates skipped whole.
    pub skipped: Vec<Skip>,
    /// Changes of the calendar's UTC offset between the start and the due time.
    pub offset_changes: Vec<OffsetChange>,
    /// The derivation in words.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stretch {
    pub date: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub local_from: String,
    pub local_to: String,
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skip {
    pub date: String,
    /// `holiday` or `closed` (no hours that weekday: a weekend).
    pub reason: String,
    /// The holiday's name, for a holiday.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetChange {
    pub date: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeDerivation {
    pub product: String,
    pub category: String,
    pub coverage: Option<String>,
    pub billable: bool,
    pub basis: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub seq: u64,
    pub kind: String,
    pub at: Timestamp,
    pub role: String,
    pub policy_version: String,
    pub text: String,
    /// For a breach: how long after the due time the service recorded it (the sweep's lag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleDerivation {
    pub cycle: u32,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    pub target_minutes: u32,
    pub policy_version: String,
    pub answered_at: Option<Timestamp>,
    /// `met`, `breached`, `withdrawn`, or `running`.
    pub outcome: String,
}

/// Explain request `request` (or the only request) of `entries`, in seq order.
pub fn explain(entries: &[RecordedEntry], request: Option<&str>) -> Result<Explanation, ExplainError> {
    let id = match request {
        Some(id) => id.to_owned(),
        None => {
            let ids: std::collections::BTreeSet<&str> = entries
                .iter()
                .filter_map(|e| e.data.get("requestId").and_then(Value::as_str))
                .collect();
            match ids.len() {
                0 => return Err(ExplainError::NoEntries("(none)".into())),
                1 => ids.into_iter().next().unwrap_or_default().to_owned(),
                _ => {
                    return Err(ExplainError::SeveralRequests(
                        ids.into_iter().collect::<Vec<_>>().join(", "),
                    ));
                }
            }
        }
    };
    let id = RequestId::parse(&id)
        .map_err(|_| ExplainError::NotARequestId(id.escape_debug().to_string()))?
        .to_string();
    let (mine, others): (Vec<&RecordedEntry>, Vec<&RecordedEntry>) = entries
        .iter()
        .filter(|e| e.data.get("requestId").and_then(Value::as_str) == Some(id.as_str()))
        .partition(|e| !NOT_CHANGES.contains(&e.kind.as_str()));
    let Some(first) = mine.first() else {
        return Err(ExplainError::NoEntries(id));
    };
    if first.kind != "created" {
        return Err(ExplainError::NoCreation {
            seq: first.seq,
            kind: first.kind.clone(),
        });
    }
    for e in &others {
        let role = e.data.pointer("/actor/role").and_then(Value::as_str);
        if ["version", "change", "resulting"]
            .iter()
            .any(|m| e.data.get(*m).is_some())
            || role != Some("auditor")
        {
            return Err(malformed(
                e.seq,
                format!(
                    "a {} entry is an auditor's and changes nothing: no version, change or resulting",
                    e.kind
                ),
            ));
        }
    }
    let mut explanation = Replay::new(id).run(&mine)?;
    explanation.not_changes = others
        .iter()
        .map(|e| NotAChange {
            seq: e.seq,
            kind: e.kind.clone(),
            at: e.at,
        })
        .collect();
    Ok(explanation)
}

/// Entries about a request that change nothing the rules compute (an auditor shown its
/// personal values): listed, not replayed.
pub const NOT_CHANGES: &[&str] = &["personal_data_disclosed"];

/// How long after a first response fell due an entry may come with no breach recorded before
/// the explanation says so (the sweep runs every 5 minutes).
const UNRECORDED_BREACH_MINUTES: i64 = 15;

/// The longest the ledger's clamp (a chain's times never go backwards) may stamp an entry after
/// the time its change was computed at (`data.eventAt`), in milliseconds: a Lambda function's
/// longest run (900 s: the sweep computes every breach of a run at its start) and the writers'
/// allowed skew (60 s). Replayed at both times, a change must decide the same (see `outcome`).
const MAX_EVENT_LAG_MILLIS: i64 = (900 + 60) * 1000;

struct Replay {
    id: String,
    /// Each policy parsed once, shared by every entry that pins it.
    policies: BTreeMap<String, std::rc::Rc<SupportPolicy>>,
    uses: Vec<PolicyUse>,
    checked: usize,
    mismatch: Option<Mismatch>,
    steps: Vec<Step>,
    warnings: Vec<String>,
    /// The newest published policy an entry pinned so far (its index), and whether any was
    /// pinned.
    newest_pin: Option<usize>,
}

fn malformed(seq: u64, message: impl Into<String>) -> ExplainError {
    ExplainError::Malformed {
        seq,
        message: message.into(),
    }
}

/// Replace each personal value of a filed request that the entry holds as its commitment
/// (`{"commitment": "<64 lower-case hex>"}`, only where a personal value belongs) by `null`: an
/// erased value, as far as the rules are concerned. Anything else that looks like one stays as
/// recorded (and then does not parse, or does not match).
fn without_commitments(request: &mut Value) {
    for path in crate::personal::REQUEST_FIELDS {
        if let Some(slot) = request.pointer_mut(path)
            && is_commitment(slot)
        {
            *slot = Value::Null;
        }
    }
}

fn is_commitment(value: &Value) -> bool {
    value.as_object().is_some_and(|m| {
        m.len() == 1
            && m.get("commitment")
                .and_then(Value::as_str)
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    })
}

/// What a change decided, without the instants it happened at: whether an answer was in time,
/// which due times hold, how each cycle ended. Two replays of one entry at two nearby times
/// must agree on it.
fn outcome(request: &ServiceRequest) -> Value {
    let sla = request.sla();
    json!({
        "status": request.status(),
        "severity": request.severity(),
        "state": sla.state,
        "dueAt": sla.due_at,
        "current": sla.current.as_ref().map(|o| json!({ "owedBy": o.owed_by, "cycle": o.cycle, "dueAt": o.due_at, "state": o.state })),
        "cycles": sla.cycles.iter().map(|c| json!({ "cycle": c.cycle, "dueAt": c.due_at, "outcome": c.outcome })).collect::<Vec<_>>(),
    })
}

fn placeholder() -> Message {
    Message::parse("(not disclosed)").unwrap_or_else(|_| unreachable!("a valid message"))
}

fn local(calendar: &Calendar, at: DateTime<Utc>) -> String {
    let offset = calendar.utc_offset_seconds(at);
    let shifted = at + chrono::Duration::seconds(i64::from(offset));
    shifted.format("%a %Y-%m-%d %H:%M").to_string()
}

fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

fn minutes_text(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// How `start` plus the target on `calendar` gives the due time, step by step.
pub fn derive_clock(
    policy: &SupportPolicy,
    request: &ServiceRequest,
    severity: Severity,
    start: Timestamp,
    next_response: bool,
) -> Result<ClockDerivation, crate::PolicyError> {
    let language = request.language();
    let calendar = policy.calendar_for(language);
    let category = request.category();
    let target_minutes = if next_response {
        policy.next_target_minutes(category, severity, calendar)
    } else {
        policy.target_minutes(category, severity, calendar)
    };
    let calendar_reason = if calendar.id().contains('-') {
        format!("{language} is served by the calendar of its language and region")
    } else if calendar.id().eq_ignore_ascii_case(language.primary()) {
        format!("{language} is served by the calendar of its language")
    } else {
        format!(
            "no calendar serves {language}: the fallback, {}",
            policy.fallback_calendar().id()
        )
    };
    let target_reason = if category.is_break_fix() {
        format!(
            "Severity {} break-fix: {}",
            severity.as_str(),
            minutes_text(i64::from(target_minutes))
        )
    } else {
        format!(
            "{} is not break-fix: business days of {} a day, {}",
            category.as_str(),
            minutes_text(i64::from(calendar.business_day_minutes())),
            minutes_text(i64::from(target_minutes))
        )
    };
    let holidays: BTreeMap<chrono::NaiveDate, String> = calendar
        .holiday_set()
        .and_then(|id| policy.holiday_sets().find(|s| s.id() == id))
        .map(|set| {
            let (first, last) = policy.holiday_years();
            let from = start.datetime().date_naive();
            use chrono::Datelike;
            (from.year().max(first)..=(from.year() + 1).min(last))
                .flat_map(|y| set.holidays_in(y))
                .collect()
        })
        .unwrap_or_default();
    let mut counted = Vec::new();
    let mut skipped = Vec::new();
    let due = calendar.walk(start.datetime(), target_minutes, |step| match step {
        WalkStep::Counted { date, from, to } => counted.push(Stretch {
            date: date.to_string(),
            from: Timestamp::from_datetime(from),
            to: Timestamp::from_datetime(to),
            local_from: local(calendar, from),
            local_to: local(calendar, to),
            minutes: (to - from).num_minutes(),
        }),
        WalkStep::Skipped { date, holiday } => skipped.push(Skip {
            date: date.to_string(),
            reason: if holiday { "holiday" } else { "closed" }.into(),
            name: holiday.then(|| holidays.get(&date).cloned()).flatten(),
        }),
    })?;
    let mut offset_changes = Vec::new();
    let mut last = calendar.utc_offset_seconds(start.datetime());
    for s in &counted {
        for at in [s.from.datetime(), s.to.datetime()] {
            let now = calendar.utc_offset_seconds(at);
            if now != last {
                offset_changes.push(OffsetChange {
                    date: s.date.clone(),
                    from: offset_text(last),
                    to: offset_text(now),
                });
                last = now;
            }
        }
    }
    let due_at = Timestamp::from_datetime(due);
    let mut parts: Vec<String> = Vec::new();
    let mut stretches = counted.iter().peekable();
    let mut skips = skipped.iter().peekable();
    // In date order: each counted stretch, each skipped day.
    loop {
        let take_stretch = match (stretches.peek(), skips.peek()) {
            (Some(s), Some(k)) => s.date <= k.date,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_stretch {
            if let Some(s) = stretches.next() {
                parts.push(format!(
                    "{} {} ({}–{})",
                    minutes_text(s.minutes),
                    &s.local_from[..3],
                    &s.local_from[15..],
                    &s.local_to[15..]
                ));
            }
        } else if let Some(k) = skips.next() {
            parts.push(match (&k.reason[..], &k.name) {
                ("holiday", Some(name)) => format!("{} skipped ({name})", k.date),
                ("holiday", None) => format!("{} skipped (public holiday)", k.date),
                _ => format!("{} closed", k.date),
            });
        }
    }
    let dst = offset_changes
        .iter()
        .map(|c| format!("; the clocks change on {} ({} → {})", c.date, c.from, c.to))
        .collect::<String>();
    let text = format!(
        "Severity {}, {} → calendar {} ({}); {}; {}; from {} → {} → due {}{dst}",
        severity.as_str(),
        language,
        calendar.id(),
        calendar.description(),
        calendar_reason,
        target_reason,
        local(calendar, start.datetime()),
        if parts.is_empty() {
            "nothing to count".into()
        } else {
            parts.join(", ")
        },
        local(calendar, due)
    );
    Ok(ClockDerivation {
        severity,
        category: category.as_str().into(),
        language: language.to_string(),
        calendar: calendar.id().into(),
        calendar_reason,
        calendar_description: calendar.description().into(),
        time_zone: calendar.time_zone().map(str::to_owned),
        target_minutes,
        target_reason,
        started_at: start,
        due_at,
        counted,
        skipped,
        offset_changes,
        text,
    })
}

impl Replay {
    fn new(id: String) -> Self {
        Self {
            id,
            policies: BTreeMap::new(),
            uses: Vec::new(),
            checked: 0,
            mismatch: None,
            steps: Vec::new(),
            warnings: Vec::new(),
            newest_pin: None,
        }
    }

    /// The policy an entry pins (or, before pinning, `fallback_version` names).
    fn policy(
        &mut self,
        entry: &RecordedEntry,
        fallback_version: &str,
    ) -> Result<std::rc::Rc<SupportPolicy>, ExplainError> {
        let (version, recorded, pinned) = match entry.data.get("policy") {
            Some(pin) => {
                let pin: PolicyRef =
                    serde_json::from_value(pin.clone()).map_err(|e| malformed(entry.seq, format!("policy: {e}")))?;
                (pin.version, Some(pin.sha256), true)
            }
            None => (fallback_version.to_owned(), None, false),
        };
        let published = published_policy(&version).ok_or_else(|| ExplainError::UnknownPolicy {
            seq: entry.seq,
            version: version.clone(),
        })?;
        let index = crate::policy::published_policies()
            .iter()
            .position(|p| p.pin.version == version)
            .unwrap_or_default();
        match (self.newest_pin, pinned) {
            (Some(newest), true) if index < newest => self.warnings.push(format!(
                "entry {} pins policy {version}, older than one an earlier entry pinned (a rollback of the service, or a history put together)",
                entry.seq
            )),
            (Some(_), false) => self.warnings.push(format!(
                "entry {} names no policy though an earlier entry pinned one",
                entry.seq
            )),
            _ => {}
        }
        if pinned {
            self.newest_pin = Some(self.newest_pin.map_or(index, |n| n.max(index)));
        }
        if let Some(recorded) = recorded
            && recorded != published.pin.sha256
        {
            return Err(ExplainError::PolicyDigest {
                seq: entry.seq,
                version,
                recorded,
                published: published.pin.sha256.clone(),
            });
        }
        let policy = match self.policies.get(&version) {
            Some(policy) => policy.clone(),
            None => {
                let parsed = SupportPolicy::from_toml(published.text).map_err(|e| ExplainError::Uninterpretable {
                    seq: entry.seq,
                    version: version.clone(),
                    reason: e.to_string(),
                })?;
                let parsed = std::rc::Rc::new(parsed);
                self.policies.insert(version.clone(), std::rc::Rc::clone(&parsed));
                parsed
            }
        };
        let use_ = PolicyUse {
            version,
            sha256: published.pin.sha256.clone(),
            pinned,
        };
        if !self.uses.contains(&use_) {
            self.uses.push(use_);
        }
        Ok(policy)
    }

    /// Compare one figure; the first that differs is the mismatch.
    fn check(&mut self, entry: &RecordedEntry, figure: &str, recorded: Value, computed: Value, what: &str) {
        self.checked += 1;
        if recorded == computed || self.mismatch.is_some() {
            return;
        }
        // Strings as JSON (quoted, every control character escaped): recorded values never
        // reach a terminal raw.
        let show = |v: &Value| match v {
            Value::Null => "nothing".into(),
            other => other.to_string(),
        };
        self.mismatch = Some(Mismatch {
            seq: entry.seq,
            kind: entry.kind.clone(),
            figure: figure.into(),
            message: format!(
                "entry {} ({}): {what} {figure} is recorded as {}, but the policy gives {}",
                entry.seq,
                entry.kind,
                show(&recorded),
                show(&computed)
            ),
            recorded,
            computed,
        });
    }

    fn refused(&mut self, entry: &RecordedEntry, error: &TransitionError) {
        self.checked += 1;
        if self.mismatch.is_none() {
            self.mismatch = Some(Mismatch {
                seq: entry.seq,
                kind: entry.kind.clone(),
                figure: "kind".into(),
                recorded: json!(entry.kind),
                computed: Value::Null,
                message: format!(
                    "entry {} ({}): the rules would not have recorded it: {error}",
                    entry.seq, entry.kind
                ),
            });
        }
    }

    fn run(mut self, entries: &[&RecordedEntry]) -> Result<Explanation, ExplainError> {
        let Some((created, later)) = entries.split_first() else {
            return Err(ExplainError::NoEntries(self.id));
        };
        let created = *created;
        let mut request_json = created
            .data
            .pointer("/change/request")
            .cloned()
            .ok_or_else(|| malformed(created.seq, "a created entry without change.request"))?;
        without_commitments(&mut request_json);
        let filed: ServiceRequest =
            serde_json::from_value(request_json).map_err(|e| malformed(created.seq, format!("change.request: {e}")))?;
        let policy = self.policy(created, &filed.sla().policy_version)?;
        let policy_for_timeline = policy.clone();
        let policy = &policy;
        // The creation: the clock and the fee, from the request as filed.
        let clock = derive_clock(policy, &filed, filed.severity(), filed.created_at(), false)
            .map_err(|e| malformed(created.seq, format!("the policy cannot compute its due time: {e}")))?;
        let fee = policy.fee(filed.product(), filed.category(), filed.fee_coverage());
        let fee_text = format!(
            "{} {} support{}: {} ({})",
            filed.product().as_str(),
            filed.category().as_str(),
            filed
                .fee_coverage()
                .map(|c| format!(", covered by {}", c.as_str()))
                .unwrap_or_default(),
            if fee.billable {
                "carries the fee"
            } else {
                "free of charge"
            },
            fee.basis.as_str()
        );
        let fee_derivation = FeeDerivation {
            product: filed.product().as_str().into(),
            category: filed.category().as_str().into(),
            coverage: filed.fee_coverage().map(|c| c.as_str().into()),
            billable: fee.billable,
            basis: Some(fee.basis.as_str().into()),
            text: fee_text.clone(),
        };
        let pol_version = policy.version().to_owned();
        let created_at = self.event_time(created)?;
        // The state the service started from: the request as the rules would have filed it.
        let actor = self.actor(created)?;
        let (mut state, event) = filed
            .refiled(policy, &actor)
            .map_err(|e| malformed(created.seq, format!("the policy cannot compute its due time: {e}")))?;
        // Who filed it, which request, and when: as the entry itself and the id say.
        self.check(
            created,
            "actor.role",
            json!(actor.role),
            json!(Role::PartnerAgent),
            "the filer's",
        );
        self.check(
            created,
            "change.request.id",
            json!(filed.id().to_string()),
            json!(self.id),
            "the request's",
        );
        self.check(
            created,
            "change.request.createdAt",
            json!(filed.created_at()),
            json!(created_at),
            "the request's",
        );
        self.check(
            created,
            "requestId",
            json!(filed.id().minted_at_millis()),
            json!(u64::try_from(filed.created_at().datetime().timestamp_millis()).unwrap_or(0)),
            "the millisecond in the request id's",
        );
        // Every member of the request as filed, as the rules file it (the clock, the fee, the
        // state), its clock member by member.
        let mut recorded = created.data.pointer("/change/request").cloned().unwrap_or(Value::Null);
        without_commitments(&mut recorded);
        let mut computed = serde_json::to_value(&state).unwrap_or(Value::Null);
        without_commitments(&mut computed);
        self.compare_members(created, "change.request", &recorded, &computed, &["sla"]);
        self.compare_event(created, &event);
        self.steps.push(Step {
            seq: created.seq,
            kind: created.kind.clone(),
            at: created_at,
            role: actor.role.as_str().into(),
            policy_version: pol_version,
            text: format!(
                "Opened: first response due {} (see the initial response). {fee_text}.",
                local(policy.calendar_for(filed.language()), clock.due_at.datetime())
            ),
            lag_seconds: None,
        });
        let mut cycles: Vec<CycleDerivation> = Vec::new();
        let mut previous = created;
        let mut unrecorded_breach_told = false;
        let mut unrecorded_reply_breach_told = false;
        for entry in later {
            if entry.at < previous.at {
                self.check(
                    entry,
                    "at",
                    json!(entry.at),
                    json!(previous.at),
                    "the entry's time (a chain's times never go back)",
                );
            }
            previous = entry;
            let fallback = state.sla().policy_version.clone();
            let policy = self.policy(entry, &fallback)?;
            let version = policy.version().to_owned();
            let actor = self.actor(entry)?;
            let at = self.event_time(entry)?;
            let late =
                |due: Timestamp| at.datetime() > due.datetime() + chrono::Duration::minutes(UNRECORDED_BREACH_MINUTES);
            let due = state.sla().due_at;
            if !unrecorded_breach_told && state.awaits_first_response() && entry.kind != "sla_breached" && late(due) {
                unrecorded_breach_told = true;
                self.warnings.push(format!(
                    "no breach was recorded by entry {} ({at}), {} after the first response fell due ({due}): the sweep runs every 5 minutes",
                    entry.seq,
                    minutes_text((at.datetime() - due.datetime()).num_minutes()),
                ));
            }
            if let Some((due, SlaState::Pending)) = state.reply_owed()
                && state.sla().first_response_at.is_some()
                && !unrecorded_reply_breach_told
                && entry.kind != "next_response_breached"
                && late(due)
            {
                unrecorded_reply_breach_told = true;
                self.warnings.push(format!(
                    "no breach of the reply owed by {due} was recorded by entry {} ({at}): the sweep runs every 5 minutes",
                    entry.seq
                ));
            }
            let before = state.clone();
            let replayed = self.replay(entry, at, &state, &actor, &policy)?;
            // Replayed at the time it was computed (eventAt), a change must decide what it
            // decides at the entry's own time too: the latitude eventAt gives never turns a
            // late answer into one in time, nor a breach into none.
            if at != entry.at
                && let Ok((computed, _)) = &replayed
            {
                let stamped = self.replay(entry, entry.at, &state, &actor, &policy)?;
                let differs = match &stamped {
                    Ok((at_stamp, _)) => outcome(at_stamp) != outcome(computed),
                    Err(_) => true,
                };
                if differs {
                    self.check(
                        entry,
                        "eventAt",
                        json!(at),
                        json!(entry.at),
                        "the outcome depends on the time: the entry's",
                    );
                }
            }
            let (next, event) = match replayed {
                Ok(changed) => changed,
                Err(e) => {
                    self.refused(entry, &e);
                    break;
                }
            };
            self.check(entry, "kind", json!(entry.kind), json!(event.kind()), "the entry's");
            self.compare_event(entry, &event);
            let text = describe(&before, &next, &event, &policy);
            let lag_seconds = match &event.change {
                Change::SlaBreached { due_at } | Change::NextResponseBreached { due_at, .. } => {
                    Some((at.datetime() - due_at.datetime()).num_seconds())
                }
                _ => None,
            };
            self.steps.push(Step {
                seq: entry.seq,
                kind: entry.kind.clone(),
                at,
                role: actor.role.as_str().into(),
                policy_version: version,
                text,
                lag_seconds,
            });
            state = next;
        }
        for c in &state.sla().cycles {
            cycles.push(CycleDerivation {
                cycle: c.cycle,
                started_at: c.started_at,
                due_at: c.due_at,
                target_minutes: c.target_minutes,
                policy_version: c.policy_version.clone(),
                answered_at: c.answered_at,
                outcome: c.outcome.as_str().into(),
            });
        }
        if let Some(owed) = &state.sla().current
            && owed.owed_by == Party::Vendor
            && let (Some(cycle), Some(due_at), Some(target), Some(version)) = (
                owed.cycle,
                owed.due_at,
                owed.target_minutes,
                owed.policy_version.clone(),
            )
        {
            cycles.push(CycleDerivation {
                cycle,
                started_at: owed.since,
                due_at,
                target_minutes: target,
                policy_version: version,
                answered_at: None,
                outcome: if owed.state == Some(SlaState::Breached) {
                    "breached"
                } else {
                    "running"
                }
                .into(),
            });
        }
        let timeline = timeline(&filed, &state, &self.steps, &clock, &cycles, &policy_for_timeline)
            .map_err(|e| malformed(created.seq, format!("the policy cannot lay out its timeline: {e}")))?;
        Ok(Explanation {
            request_id: self.id,
            matches: self.mismatch.is_none(),
            mismatch: self.mismatch,
            figures_checked: self.checked,
            policies: self.uses,
            initial_response: clock,
            initial_response_outcome: ClockOutcome {
                due_at: state.sla().due_at,
                state: state.sla().state,
                first_response_at: state.sla().first_response_at,
                breached_at: state.sla().breached_at,
            },
            fee: fee_derivation,
            steps: self.steps,
            cycles,
            timeline,
            warnings: self.warnings,
            not_changes: Vec::new(),
            filing_receipt: None,
        })
    }

    fn actor(&self, entry: &RecordedEntry) -> Result<Actor, ExplainError> {
        let role: Role = entry
            .data
            .pointer("/actor/role")
            .cloned()
            .ok_or_else(|| malformed(entry.seq, "no actor.role"))
            .and_then(|r| serde_json::from_value(r).map_err(|e| malformed(entry.seq, format!("actor.role: {e}"))))?;
        let subject = entry
            .data
            .pointer("/actor/subject")
            .and_then(Value::as_str)
            .and_then(|s| Subject::parse(s).ok())
            .unwrap_or_else(|| Subject::parse("not-disclosed").unwrap_or_else(|_| unreachable!()));
        Ok(Actor::new(role, subject))
    }

    /// The action an entry records, applied to `state` under `policy`.
    #[allow(clippy::type_complexity)]
    fn replay(
        &self,
        entry: &RecordedEntry,
        at: Timestamp,
        state: &ServiceRequest,
        actor: &Actor,
        policy: &SupportPolicy,
    ) -> Result<Result<(ServiceRequest, DomainEvent), TransitionError>, ExplainError> {
        let change = entry.data.get("change").cloned().unwrap_or(Value::Null);
        let status = |name: &str| -> Result<Status, ExplainError> {
            change
                .get(name)
                .cloned()
                .ok_or_else(|| malformed(entry.seq, format!("no change.{name}")))
                .and_then(|v| {
                    serde_json::from_value(v).map_err(|e| malformed(entry.seq, format!("change.{name}: {e}")))
                })
        };
        let resulting_status: Option<Status> = entry
            .data
            .pointer("/resulting/status")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok());
        let action = match entry.kind.as_str() {
            "sla_breached" => return Ok(state.mark_breached(at, actor, policy)),
            "next_response_breached" => return Ok(state.mark_next_response_breached(at, actor, policy)),
            "personal_data_erased" => {
                let field = |name: &str| change.get(name).cloned().unwrap_or(Value::Null);
                let scope: ErasureScope = serde_json::from_value(field("scope"))
                    .map_err(|e| malformed(entry.seq, format!("change.scope: {e}")))?;
                let basis: LegalBasis = serde_json::from_value(field("legalBasis"))
                    .map_err(|e| malformed(entry.seq, format!("change.legalBasis: {e}")))?;
                let reference: Option<CaseReference> = serde_json::from_value(field("reference")).unwrap_or(None);
                let commitments: Vec<CommitmentId> = serde_json::from_value(field("commitments")).unwrap_or_default();
                return Ok(state.erase_personal_data(scope, commitments, basis, reference, actor, at, policy));
            }
            "first_response" if resulting_status == Some(Status::AwaitingPartner) => {
                Action::AwaitPartner { message: placeholder() }
            }
            "first_response" | "response_added" => Action::Respond { message: placeholder() },
            "note_added" => Action::Note { message: placeholder() },
            "severity_changed" => {
                let to: Severity = serde_json::from_value(change.get("to").cloned().unwrap_or(Value::Null))
                    .map_err(|e| malformed(entry.seq, format!("change.to: {e}")))?;
                Action::ChangeSeverity {
                    severity: to,
                    reason: change.get("reason").filter(|r| !r.is_null()).map(|_| placeholder()),
                }
            }
            "assigned" => Action::Assign {
                to: if change.get("assignee").is_none_or(Value::is_null) {
                    AssignTo::Nobody
                } else {
                    AssignTo::Engineer(
                        Subject::parse(&format!("assignee-{}", entry.seq)).unwrap_or_else(|_| unreachable!()),
                    )
                },
            },
            "status_changed" => {
                let from = status("from")?;
                let to = status("to")?;
                let message = change.get("message").filter(|m| !m.is_null()).map(|_| placeholder());
                match (from, to) {
                    (Status::Resolved | Status::Closed, _) if to != Status::Closed => Action::Reopen {
                        reason: message.unwrap_or_else(placeholder),
                    },
                    (_, Status::AwaitingPartner) => Action::AwaitPartner {
                        message: message.unwrap_or_else(placeholder),
                    },
                    (_, Status::Resolved) => Action::Resolve {
                        message: message.unwrap_or_else(placeholder),
                    },
                    (_, Status::Closed) => Action::Close { reason: message },
                    _ => return Err(malformed(entry.seq, format!("no action changes {from} to {to}"))),
                }
            }
            other => {
                return Err(malformed(
                    entry.seq,
                    format!("{other} is not a change of a service request"),
                ));
            }
        };
        Ok(state.apply(action, actor, at, policy))
    }

    /// When an entry's change was computed: `data.eventAt` when the ledger stamped the entry
    /// later (a chain's times never go back, FORMAT.md §2.2), else the entry's own time.
    fn event_time(&self, entry: &RecordedEntry) -> Result<Timestamp, ExplainError> {
        let Some(value) = entry.data.get("eventAt") else {
            return Ok(entry.at);
        };
        // Exactly the ledger's time format (UTC, milliseconds, Z), as the writer puts it.
        let at = value
            .as_str()
            .and_then(|t| Timestamp::parse(t).ok().filter(|at| at.to_string() == t))
            .ok_or_else(|| malformed(entry.seq, "eventAt is not a time in the ledger's format"))?;
        let lag = (entry.at.datetime() - at.datetime()).num_milliseconds();
        if at >= entry.at || lag > MAX_EVENT_LAG_MILLIS {
            return Err(malformed(
                entry.seq,
                format!(
                    "eventAt {at} must come before the entry's time {} by at most {} s",
                    entry.at,
                    MAX_EVENT_LAG_MILLIS / 1000
                ),
            ));
        }
        Ok(at)
    }

    /// Compare two objects member by member (`nested` members one level deeper), naming each
    /// figure `<prefix>.<member>`.
    fn compare_members(
        &mut self,
        entry: &RecordedEntry,
        prefix: &str,
        recorded: &Value,
        computed: &Value,
        nested: &[&str],
    ) {
        let empty = serde_json::Map::new();
        let r = recorded.as_object().unwrap_or(&empty);
        let c = computed.as_object().unwrap_or(&empty);
        let mut names: Vec<&String> = c.keys().collect();
        names.extend(r.keys().filter(|k| !c.contains_key(*k)));
        for name in names {
            let (rv, cv) = (r.get(name).unwrap_or(&Value::Null), c.get(name).unwrap_or(&Value::Null));
            let figure = format!("{prefix}.{}", name.escape_debug());
            if nested.contains(&name.as_str()) {
                self.compare_members(entry, &figure, rv, cv, &[]);
            } else {
                let what = match name.as_str() {
                    "dueAt" => "the due time",
                    "calendar" => "the calendar",
                    "targetMinutes" => "the target",
                    "policyVersion" => "the policy",
                    "billable" => "the fee",
                    "feeBasis" => "the fee's basis",
                    _ => "the recorded",
                };
                self.check(entry, &figure, rv.clone(), cv.clone(), what);
            }
        }
    }

    /// Compare what the replayed event records with what the entry recorded: the request's
    /// version, every figure of the resulting state, and the change's own figures.
    fn compare_event(&mut self, entry: &RecordedEntry, event: &DomainEvent) {
        let computed = serde_json::to_value(event).unwrap_or(Value::Null);
        self.check(
            entry,
            "version",
            entry.data.get("version").cloned().unwrap_or(Value::Null),
            computed.get("version").cloned().unwrap_or(Value::Null),
            "the request's",
        );
        let empty = serde_json::Map::new();
        let recorded = entry.data.get("resulting").and_then(Value::as_object).unwrap_or(&empty);
        let replayed = computed
            .get("resulting")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let names: std::collections::BTreeSet<&String> = recorded.keys().chain(replayed.keys()).collect();
        for name in names {
            self.check(
                entry,
                &format!("resulting.{}", name.escape_debug()),
                recorded.get(name).cloned().unwrap_or(Value::Null),
                replayed.get(name).cloned().unwrap_or(Value::Null),
                "the resulting",
            );
        }
        for name in [
            "from",
            "to",
            "dueAt",
            "previousDueAt",
            "replyDueAt",
            "previousReplyDueAt",
            "cycle",
        ] {
            let recorded = entry
                .data
                .pointer(&format!("/change/{name}"))
                .cloned()
                .unwrap_or(Value::Null);
            let replayed = computed
                .pointer(&format!("/change/{name}"))
                .cloned()
                .unwrap_or(Value::Null);
            if recorded.is_null() && replayed.is_null() {
                continue;
            }
            self.check(entry, &format!("change.{name}"), recorded, replayed, "the change's");
        }
    }
}

/// One entry's effect on the clocks, in words.
fn describe(before: &ServiceRequest, after: &ServiceRequest, event: &DomainEvent, policy: &SupportPolicy) -> String {
    let calendar = policy.calendar_for(after.language());
    let at = |t: Timestamp| local(calendar, t.datetime());
    let owed = |r: &ServiceRequest| {
        r.sla()
            .current
            .as_ref()
            .filter(|o| o.owed_by == Party::Vendor)
            .and_then(|o| o.cycle.zip(o.due_at))
    };
    let mut text = match &event.change {
        Change::FirstResponse { .. } => {
            let sla = after.sla();
            if sla.state == SlaState::Met {
                format!("Support's first response, by the due time {}: met.", at(sla.due_at))
            } else {
                format!(
                    "Support's first response, after the due time {}: breached.",
                    at(sla.due_at)
                )
            }
        }
        Change::ResponseAdded { .. } => "Support replied.".into(),
        Change::NoteAdded { .. } => "A note.".into(),
        Change::StatusChanged { from, to, .. } => format!("Status {from} → {to}."),
        Change::SeverityChanged {
            from,
            to,
            previous_due_at,
            due_at,
            ..
        } => {
            let how = if to.is_more_severe_than(*from) {
                "raised: due by the new target counted from the change, or the old due time if earlier"
            } else {
                "lowered: the new target from the clock's start, never earlier than before, not once passed"
            };
            format!(
                "Severity {} → {} ({how}); first response due {} → {}.",
                from.as_str(),
                to.as_str(),
                at(*previous_due_at),
                at(*due_at)
            )
        }
        Change::SlaBreached { due_at } => format!(
            "No first response by {}: breached, recorded {} later.",
            at(*due_at),
            minutes_text((event.at.datetime() - due_at.datetime()).num_minutes())
        ),
        Change::NextResponseBreached { cycle, due_at } => format!(
            "No reply in cycle {cycle} by {}: breached, recorded {} later.",
            at(*due_at),
            minutes_text((event.at.datetime() - due_at.datetime()).num_minutes())
        ),
        Change::Assigned { .. } => "Assignment changed (no clock moves).".into(),
        Change::PersonalDataErased { .. } => "Personal data erased (no clock moves).".into(),
        Change::Created { .. } => String::new(),
    };
    match (owed(before), owed(after)) {
        (None, Some((cycle, due))) => text.push_str(&format!(
            " The partner followed up: support owes a reply by {} (cycle {cycle}).",
            at(due)
        )),
        (Some((cycle, _)), None) => {
            if let Some(c) = after.sla().cycles.iter().find(|c| c.cycle == cycle) {
                text.push_str(&format!(" Cycle {cycle} ends: {}.", c.outcome.as_str()));
            }
        }
        _ => {}
    }
    if after
        .sla()
        .current
        .as_ref()
        .is_some_and(|o| o.owed_by == Party::Partner)
        && !before
            .sla()
            .current
            .as_ref()
            .is_some_and(|o| o.owed_by == Party::Partner)
    {
        text.push_str(" Support asked for information: no vendor clock runs until the partner replies.");
    }
    text
}

/// Lay the request out on a time axis, from its opening to a little past the last moment that
/// matters (at most [`TIMELINE_MAX_DAYS`] days are shaded).
fn timeline(
    filed: &ServiceRequest,
    state: &ServiceRequest,
    steps: &[Step],
    clock: &ClockDerivation,
    cycles: &[CycleDerivation],
    policy: &SupportPolicy,
) -> Result<Timeline, crate::PolicyError> {
    let calendar = policy.calendar_for(filed.language());
    let mut marks = Vec::new();
    for s in steps {
        marks.push(Mark {
            at: s.at,
            kind: "entry".into(),
            label: format!("{} {}", s.seq, s.kind),
        });
        match s.kind.as_str() {
            "sla_breached" | "next_response_breached" => marks.push(Mark {
                at: s.at,
                kind: "breached".into(),
                label: format!("breach recorded (seq {})", s.seq),
            }),
            "first_response" => marks.push(Mark {
                at: s.at,
                kind: "answered".into(),
                label: "first response".into(),
            }),
            _ => {}
        }
    }
    marks.push(Mark {
        at: clock.due_at,
        kind: "due".into(),
        label: "first response due (as opened)".into(),
    });
    if state.sla().due_at != clock.due_at {
        marks.push(Mark {
            at: state.sla().due_at,
            kind: "due".into(),
            label: "first response due (after changes)".into(),
        });
    }
    for c in cycles {
        marks.push(Mark {
            at: c.due_at,
            kind: "due".into(),
            label: format!("cycle {} reply due", c.cycle),
        });
        if let Some(a) = c.answered_at {
            marks.push(Mark {
                at: a,
                kind: "answered".into(),
                label: format!("cycle {} answered ({})", c.cycle, c.outcome),
            });
        }
    }
    marks.sort_by_key(|m| m.at);
    let from = filed.created_at().datetime();
    let last = marks.iter().map(|m| m.at.datetime()).max().unwrap_or(from);
    let span = (last - from).max(chrono::Duration::hours(2));
    let to = (last + span / 12).min(from + chrono::Duration::days(TIMELINE_MAX_DAYS));
    let holiday_names: BTreeMap<chrono::NaiveDate, String> = calendar
        .holiday_set()
        .and_then(|id| policy.holiday_sets().find(|s| s.id() == id))
        .map(|set| {
            use chrono::Datelike;
            (from.year()..=to.year()).flat_map(|y| set.holidays_in(y)).collect()
        })
        .unwrap_or_default();
    let (open, holidays) = calendar.opening_between(from, to)?;
    Ok(Timeline {
        from: Timestamp::from_datetime(from),
        to: Timestamp::from_datetime(to),
        time_zone: calendar.time_zone().map(str::to_owned),
        open: open
            .into_iter()
            .map(|(a, b)| Span {
                from: Timestamp::from_datetime(a),
                to: Timestamp::from_datetime(b),
            })
            .collect(),
        holidays: holidays
            .into_iter()
            .map(|(date, a, b)| HolidaySpan {
                date: date.to_string(),
                name: holiday_names.get(&date).cloned(),
                from: Timestamp::from_datetime(a),
                to: Timestamp::from_datetime(b),
            })
            .collect(),
        marks,
        days: calendar
            .local_midnights(from, to)
            .into_iter()
            .map(|(date, at)| DayTick {
                date: date.format("%a %Y-%m-%d").to_string(),
                at: Timestamp::from_datetime(at),
            })
            .collect(),
    })
}
