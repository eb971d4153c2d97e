//! The SLA sweep: mark every request past its due time without a first response as breached
//! (exactly once, ledgered), log an escalation record per breach, and sign a checkpoint of
//! every chain that grew — computed from the entries themselves (the honest signer).

use std::collections::HashSet;

use domain::{Actor, RequestId, ServiceRequest, SupportPolicy, Timestamp, TransitionError};
use futures::StreamExt;
use ledger::{LogName, SignerKey};
use store::{IntegrityAlarm, Store, StoreError};

use crate::App;

/// How many due requests one sweep handles at most (the next run continues).
const MAX_PER_RUN: usize = 5_000;
const BATCH: u16 = 200;
/// Breaches written at the same time.
const CONCURRENCY: usize = 16;
/// A scheduled event whose time is further than this from the function's clock is not
/// believed: the sweep's "now" is its own clock.
pub const MAX_EVENT_SKEW_SECONDS: i64 = 300;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// The time the sweep judged due times by.
    pub at: String,
    pub breached: Vec<String>,
    /// Due requests left alone: answered, changed or breached by someone else meanwhile.
    pub skipped: usize,
    pub checkpoints: Vec<String>,
    /// Chains the signer refused to sign (the stack's alarm fires).
    pub integrity_alarms: Vec<IntegrityAlarm>,
    /// The support policy running out of years (the stack's PolicyHorizon alarm fires).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub policy_alarms: Vec<String>,
    /// Checkpoints signed without the witnesses' quorum (the stack's alarm fires).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub unwitnessed: Vec<store::Unwitnessed>,
}

/// How far ahead of now the support policy's holidays must reach: a due time is at most a
/// few weeks away, so a year's warning leaves time to ship a policy that reaches further.
pub const POLICY_WARNING_DAYS: i64 = 365;

/// The policy's early warning: an alarm while its holidays do not reach a year past `now`.
fn policy_horizon(app: &App, now: Timestamp) -> Option<String> {
    let ahead = (now.datetime() + chrono::Duration::days(POLICY_WARNING_DAYS)).date_naive();
    if app.policy.covers(ahead) {
        return None;
    }
    let (first, last) = app.policy.holiday_years();
    let problem = format!(
        "the support policy {} knows holidays for {first}-{last} only; due times after {last} will be refused: ship a policy that reaches past {}",
        app.policy.version(),
        ahead
    );
    tracing::error!(policy_alarm = "holiday_horizon", problem = %problem, "support policy horizon alarm");
    Some(problem)
}

/// What the sweep needs beyond the request handlers.
#[derive(Debug)]
pub struct Signing {
    pub key: SignerKey,
    /// The checkpoints' log name: origins are `<log name>/<partner>`.
    pub log: LogName,
}

pub async fn sweep(app: &App, signing: &Signing, now: Timestamp) -> Result<SweepReport, StoreError> {
    let actor = Actor::system("sla-sweep").map_err(StoreError::internal)?;
    let mut report = SweepReport {
        at: now.to_string(),
        ..SweepReport::default()
    };
    let mut seen: HashSet<RequestId> = HashSet::new();
    // A breach is an entry the partner is told of, kept with its receipt: without the receipt
    // key at hand no breach is written this run (the next one tries again; `signer` logged
    // why), and checkpoints are still signed.
    let can_write = app.receipts.signer().await.is_ok();
    while can_write && report.breached.len() + report.skipped < MAX_PER_RUN {
        let due = app.store.due_for_sweep(now, BATCH).await?;
        let fresh: Vec<ServiceRequest> = due.into_iter().filter(|r| seen.insert(r.id())).collect();
        if fresh.is_empty() {
            break;
        }
        let mut results = futures::stream::iter(fresh)
            .map(|request| {
                let actor = &actor;
                let store = &app.store;
                let policy = &app.policy;
                async move {
                    let id = request.id();
                    (id, breach(store, actor, policy, request, now).await)
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((id, outcome)) = results.next().await {
            match outcome {
                Ok(true) => report.breached.push(id.to_string()),
                Ok(false) => report.skipped += 1,
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::warn!(request_id = %id, error = %e, "sweep could not mark a breach; the next run retries");
                    report.skipped += 1;
                }
            }
        }
    }
    report.breached.sort();
    let signed = app.store.sign_grown_chains(&signing.key, &signing.log, now).await?;
    for checkpoint in &signed.signed {
        tracing::info!(chain = %checkpoint.chain, size = checkpoint.size, "signed checkpoint written");
    }
    report.checkpoints = signed
        .signed
        .iter()
        .map(|c| format!("{}@{}", c.chain, c.size))
        .collect();
    report.integrity_alarms = signed.alarms;
    report.unwitnessed = signed.unwitnessed;
    report.policy_alarms.extend(policy_horizon(app, now));
    if !can_write {
        // Checkpoints are signed; the run fails so that the stack's error alarm says that no
        // breach could be written.
        return Err(StoreError::Unavailable(
            "the receipt key could not be read: no breach was written this run (checkpoints were signed)".into(),
        ));
    }
    tracing::info!(
        breached = report.breached.len(),
        skipped = report.skipped,
        checkpoints = report.checkpoints.len(),
        integrity_alarms = report.integrity_alarms.len(),
        at = %now,
        "sla sweep done"
    );
    Ok(report)
}

/// Mark one request's running clock breached (as the sweep index read it): the first
/// response, or support's reply in a next-response cycle; `Ok(false)` if it no longer needs
/// it. One transaction: the index carries the whole request.
async fn breach(
    store: &Store,
    actor: &Actor,
    policy: &SupportPolicy,
    current: ServiceRequest,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let first = current.awaits_first_response();
    let marked = if first {
        current.mark_breached(now, actor, policy)
    } else {
        current.mark_next_response_breached(now, actor, policy)
    };
    let (next, event) = match marked {
        Ok(changed) => changed,
        Err(
            TransitionError::NotAwaitingFirstResponse
            | TransitionError::NoReplyOwed
            | TransitionError::NotYetDue { .. },
        ) => return Ok(false),
        Err(other) => return Err(StoreError::internal(other)),
    };
    match store.save_change(&next, current.version(), &event).await {
        Ok(_) => {
            // One structured escalation record per breach (the stack's alarm counts these).
            // Nothing personal: ids, the product and the clock.
            let (clock, cycle, due_at) = match next.sla().current.as_ref().filter(|_| !first) {
                Some(owed) => (
                    "next_response",
                    owed.cycle.unwrap_or(0),
                    owed.due_at.unwrap_or(next.sla().due_at),
                ),
                None => ("first_response", 0, next.sla().due_at),
            };
            tracing::warn!(
                escalation = "sla_breach",
                clock,
                cycle,
                partner = %next.partner_id(),
                request_id = %next.id(),
                customer = next.customer_id().map(|c| c.as_str()).unwrap_or("own-tenant"),
                product = %next.product(),
                category = %next.category(),
                severity = %next.severity(),
                language = %next.language(),
                calendar = %next.sla().calendar,
                due_at = %due_at,
                breached_at = %now,
                "SLA breached: no response by the due time"
            );
            Ok(true)
        }
        // Answered or changed at the same moment (or the index lagged): the next run looks again.
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A scheduled run. "Now" is the function's own clock: the event's time is only compared
/// with it (an invoker cannot push the sweep into the future and breach what is not due).
pub async fn scheduled(
    app: &App,
    signing: &Signing,
    event_time: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<SweepReport, StoreError> {
    let now = app.store.now();
    if let Some(claimed) = event_time {
        let skew = (claimed - now).num_seconds();
        if skew.abs() > MAX_EVENT_SKEW_SECONDS {
            tracing::warn!(
                event_time = %claimed,
                clock = %now,
                skew_seconds = skew,
                "the scheduled event's time is far from the clock: ignored, sweeping as of the clock"
            );
        }
    }
    sweep(app, signing, Timestamp::from(now)).await
}
