//! The SLA sweep: mark every request past its due time without a first response as breached
//! (exactly once, ledgered), log an escalation record per breach, and sign a checkpoint of
//! every chain that grew.

use domain::{Actor, RequestId, Timestamp, TransitionError};
use ledger::SignerKey;
use store::{Store, StoreError};

use crate::App;

/// How many due requests one sweep handles at most (the next run continues).
const MAX_PER_RUN: usize = 5_000;
const BATCH: u16 = 200;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub breached: Vec<String>,
    /// Due requests left alone: answered, changed or breached by someone else meanwhile.
    pub skipped: usize,
    pub checkpoints: Vec<String>,
}

/// What the sweep needs beyond the request handlers.
#[derive(Debug)]
pub struct Signing {
    pub key: SignerKey,
    /// The checkpoints' log name: origins are `<log name>/<partner>`.
    pub log_name: String,
}

pub async fn sweep(app: &App, signing: &Signing, now: Timestamp) -> Result<SweepReport, StoreError> {
    let actor = Actor::system("sla-sweep").map_err(StoreError::internal)?;
    let mut report = SweepReport::default();
    let mut seen: std::collections::HashSet<RequestId> = std::collections::HashSet::new();
    while report.breached.len() + report.skipped < MAX_PER_RUN {
        let due = app.store.due_for_sweep(now, BATCH).await?;
        let fresh: Vec<_> = due.into_iter().filter(|(_, id)| seen.insert(*id)).collect();
        if fresh.is_empty() {
            break;
        }
        for (partner, id) in fresh {
            match breach(&app.store, &actor, &partner, id, now).await {
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
    let written = app
        .store
        .checkpoint_grown_chains(&signing.key, &signing.log_name, now)
        .await?;
    for checkpoint in &written {
        tracing::info!(chain = %checkpoint.chain, size = checkpoint.size, "signed checkpoint written");
    }
    report.checkpoints = written.iter().map(|c| format!("{}@{}", c.chain, c.size)).collect();
    tracing::info!(breached = report.breached.len(), skipped = report.skipped, checkpoints = written.len(), at = %now, "sla sweep done");
    Ok(report)
}

/// Mark one request breached; `Ok(false)` if it no longer needs it.
async fn breach(
    store: &Store,
    actor: &Actor,
    partner: &domain::PartnerId,
    id: RequestId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(current) = store.get_request(partner, id).await? else {
        return Ok(false);
    };
    let (next, event) = match current.mark_breached(now, actor) {
        Ok(changed) => changed,
        Err(TransitionError::NotAwaitingFirstResponse | TransitionError::NotYetDue { .. }) => return Ok(false),
        Err(other) => return Err(StoreError::internal(other)),
    };
    match store.save_change(&next, current.version(), &event).await {
        Ok(()) => {
            // One structured escalation record per breach (the stack's alarm counts these).
            tracing::warn!(
                escalation = "sla_breach",
                partner = %partner,
                request_id = %id,
                customer = next.customer_id().map(|c| c.as_str()).unwrap_or("own-tenant"),
                product = %next.product(),
                category = %next.category(),
                severity = %next.severity(),
                language = %next.language(),
                calendar = %next.sla().calendar,
                due_at = %next.sla().due_at,
                breached_at = %now,
                "SLA breached: no first response by the due time"
            );
            Ok(true)
        }
        // Answered or changed at the same moment: the next run looks again.
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A scheduled run: "now" is the schedule event's time (the Lambda's clock if absent).
pub async fn scheduled(
    app: &App,
    signing: &Signing,
    event_time: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<SweepReport, StoreError> {
    let now = event_time.unwrap_or_else(chrono::Utc::now);
    sweep(app, signing, Timestamp::from(now)).await
}
