//! The webhook deliverer (issue #27): the partner's chain is the event log. Each endpoint has a
//! cursor in it; its entries are sent in seq order, one at a time, each until it is accepted
//! (2xx) or the endpoint is disabled — so delivery is ordered, gap-free and at least once, and
//! a repeat carries the same `webhook-id` (the entry's chain and seq). A failing endpoint backs
//! off on its own schedule without holding up any other.
//!
//! The body is the ledger's own: the entry exactly as hashed (`data.entry`), with its `chain`,
//! `seq` and `hash` beside it, so a partner can prove any notification with `ledger sync`.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use domain::{PartnerId, Timestamp};
use ledger::{ChainId, EntryRef};
use store::webhook_http::{Answer, WebhookClient};
use store::{EndpointState, StoreError, WebhookEndpoint};
use webhooks::cursor::{Cursor, Disabled, Next, State};
use webhooks::{Signer, webhook_id};

use crate::App;
use crate::webhooks_api::{WebhookConfig, signing_secrets};

/// Entries read from the chain at a time, per endpoint.
const BATCH: u64 = 100;
/// The most entries one endpoint is sent in one round (its cursor is written after each
/// batch, and whenever an attempt fails).
const PER_ROUND: usize = 1_000;

/// What one round did, for the log and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    pub delivered: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Endpoints disabled in this round (410, or the retries spent).
    pub disabled: usize,
}

impl RoundReport {
    fn add(&mut self, other: &RoundReport) {
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.disabled += other.disabled;
    }
}

/// Now by the service's clock (what retries are scheduled by; a test moves it).
fn now_ms(app: &App) -> u64 {
    u64::try_from(app.store.now().timestamp_millis()).unwrap_or(0)
}

/// The `webhook-timestamp`: the attempt's wall-clock time (the receiver checks it against its
/// own clock).
fn wall_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn cursor_of(endpoint: &WebhookEndpoint) -> Cursor {
    Cursor {
        next_seq: endpoint.next_seq,
        attempts: endpoint.attempts as usize,
        not_before_ms: endpoint.not_before_ms,
        state: match endpoint.state {
            EndpointState::Enabled => State::Enabled,
            EndpointState::DisabledByPartner => State::Disabled(Disabled::ByPartner),
            EndpointState::Gone => State::Disabled(Disabled::Gone),
            EndpointState::RetriesSpent => State::Disabled(Disabled::RetriesSpent),
        },
    }
}

fn apply(endpoint: &mut WebhookEndpoint, cursor: &Cursor) {
    endpoint.next_seq = cursor.next_seq;
    endpoint.attempts = u32::try_from(cursor.attempts).unwrap_or(u32::MAX);
    endpoint.not_before_ms = cursor.not_before_ms;
    endpoint.state = match cursor.state {
        State::Enabled => EndpointState::Enabled,
        State::Disabled(Disabled::ByPartner) => EndpointState::DisabledByPartner,
        State::Disabled(Disabled::Gone) => EndpointState::Gone,
        State::Disabled(Disabled::RetriesSpent) => EndpointState::RetriesSpent,
    };
}

/// The body of the delivery of one entry (Standard Webhooks' `type`, `timestamp`, `data`).
pub fn body(entry: &EntryRef<'_>, line: &str) -> Result<String, serde_json::Error> {
    Ok(format!(
        r#"{{"type":{},"timestamp":{},"data":{{"chain":{},"seq":{},"hash":"{}","entry":{line}}}}}"#,
        serde_json::to_string(&format!("ledger.{}", entry.kind))?,
        serde_json::to_string(entry.at)?,
        serde_json::to_string(entry.chain)?,
        entry.seq,
        entry.hash.to_hex(),
    ))
}

/// One round for every endpoint of `partner`: each is sent what is due, on its own.
pub async fn deliver_partner(
    app: &App,
    client: &WebhookClient,
    partner: &PartnerId,
) -> Result<RoundReport, StoreError> {
    let config = app
        .webhooks
        .as_ref()
        .ok_or_else(|| StoreError::Internal("the deliverer has no webhook seal key".into()))?;
    let endpoints = app.store.webhook_endpoints(partner).await?;
    let rounds = endpoints
        .into_iter()
        .filter(|e| e.is_live() && e.state == EndpointState::Enabled)
        .map(|endpoint| deliver_endpoint(app, config, client, endpoint));
    let mut report = RoundReport::default();
    for result in futures::future::join_all(rounds).await {
        match result {
            Ok(r) => report.add(&r),
            // Another write came first (the partner changed it, or another deliverer moved
            // it): the next round reads it again.
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Send `endpoint` what is due now, in order, until it has nothing more, an attempt fails, or
/// [`PER_ROUND`] entries.
async fn deliver_endpoint(
    app: &App,
    config: &WebhookConfig,
    client: &WebhookClient,
    mut endpoint: WebhookEndpoint,
) -> Result<RoundReport, StoreError> {
    let mut report = RoundReport::default();
    let chain = ChainId::parse(endpoint.partner.as_str()).map_err(StoreError::internal)?;
    let secrets = signing_secrets(config, &endpoint, Timestamp::from(app.store.now()));
    let Some(signer) = Signer::new(secrets, None) else {
        tracing::error!(partner = %endpoint.partner, endpoint = endpoint.endpoint, "a webhook endpoint has no secret that opens");
        return Ok(report);
    };
    let mut cursor = cursor_of(&endpoint);
    let mut sent = 0;
    'rounds: while sent < PER_ROUND {
        if cursor.not_before_ms > now_ms(app) || cursor.state != State::Enabled {
            break;
        }
        let lines = app.store.entries(&chain, cursor.next_seq, BATCH).await?;
        if lines.is_empty() {
            break;
        }
        let before = cursor.clone();
        for line in &lines {
            let entry = EntryRef::parse(line.as_bytes()).map_err(StoreError::internal)?;
            if entry.seq != cursor.next_seq {
                return Err(StoreError::Internal(format!(
                    "the chain answered entry {} where {} was asked",
                    entry.seq, cursor.next_seq
                )));
            }
            let size = cursor.next_seq + 1;
            let wants = |kind: &str| endpoint.kinds.is_empty() || endpoint.kinds.iter().any(|k| k == kind);
            match cursor.next(size, Some(entry.kind), wants, now_ms(app)) {
                Next::Skip { .. } => {
                    cursor = cursor.skipped();
                    report.skipped += 1;
                    continue;
                }
                Next::Deliver { seq } => {
                    let payload = body(&entry, line).map_err(StoreError::internal)?;
                    let id = webhook_id(entry.chain, seq);
                    let timestamp = wall_seconds();
                    let headers = signer.headers(&id, timestamp, payload.as_bytes());
                    let answer = client.post(&endpoint.url, &headers, Bytes::from(payload)).await;
                    sent += 1;
                    let attempted_at = Timestamp::from(app.store.now());
                    endpoint.last_status = answer.status;
                    endpoint.last_attempt_at = Some(attempted_at);
                    cursor = cursor.attempted(answer.status, answer.retry_after.as_deref(), now_ms(app));
                    if cursor.next_seq == seq {
                        report.failed += 1;
                        log_failure(&endpoint, seq, &answer, &cursor);
                        if cursor.state != State::Enabled {
                            report.disabled += 1;
                        }
                        break 'rounds;
                    }
                    report.delivered += 1;
                }
                Next::Wait | Next::Idle => break 'rounds,
            }
        }
        if cursor != before {
            save(app, &mut endpoint, &cursor).await?;
        }
    }
    if cursor != cursor_of(&endpoint) {
        save(app, &mut endpoint, &cursor).await?;
    }
    Ok(report)
}

async fn save(app: &App, endpoint: &mut WebhookEndpoint, cursor: &Cursor) -> Result<(), StoreError> {
    apply(endpoint, cursor);
    endpoint.version += 1;
    app.store.put_webhook_endpoint(endpoint).await
}

fn log_failure(endpoint: &WebhookEndpoint, seq: u64, answer: &Answer, cursor: &Cursor) {
    if cursor.state != State::Enabled {
        tracing::error!(
            partner = %endpoint.partner,
            endpoint = endpoint.endpoint,
            seq,
            status = answer.status,
            state = ?cursor.state,
            "webhook endpoint disabled"
        );
    } else {
        tracing::warn!(
            partner = %endpoint.partner,
            endpoint = endpoint.endpoint,
            seq,
            status = answer.status,
            error = answer.error.as_deref().unwrap_or("-"),
            attempts = cursor.attempts,
            "webhook delivery failed; retried later"
        );
    }
}

/// One round for every partner with an enabled endpoint (the local run's deliverer, a few
/// times a second; in AWS the ledger's stream names the partners instead).
pub async fn deliver_all(app: &App, client: &WebhookClient) -> Result<RoundReport, StoreError> {
    let mut report = RoundReport::default();
    for partner in app.store.partners_with_webhooks().await? {
        report.add(&deliver_partner(app, client, &partner).await?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_the_entry_exactly_as_hashed() {
        let line = r#"{"v":2,"chain":"contoso","seq":3,"prev":"0000000000000000000000000000000000000000000000000000000000000000","at":"2026-11-24T10:00:00.000Z","kind":"created","data":{"a":1},"hash":"1111111111111111111111111111111111111111111111111111111111111111"}"#;
        let entry = EntryRef::parse(line.as_bytes()).unwrap();
        let text = body(&entry, line).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "ledger.created");
        assert_eq!(value["timestamp"], "2026-11-24T10:00:00.000Z");
        assert_eq!(value["data"]["chain"], "contoso");
        assert_eq!(value["data"]["seq"], 3);
        assert_eq!(value["data"]["hash"], "1".repeat(64));
        // The line itself, byte for byte, inside the body.
        assert!(text.contains(line));
    }
}
