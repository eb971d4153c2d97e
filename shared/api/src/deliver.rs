//! The webhook deliverer (issue #27): the partner's chain is the event log. Each endpoint has a
//! cursor in it; its entries are sent in seq order, one at a time, each until it is accepted
//! (2xx) or the endpoint is disabled — so delivery is ordered, gap-free and at least once, and
//! a repeat carries the same `webhook-id` (the entry's chain and seq). A failing endpoint backs
//! off on its own schedule without holding up any other.
//!
//! The body is the ledger's own: the entry exactly as hashed (`data.entry`), with its `chain`,
//! `seq` and `hash` beside it, so a partner can prove any notification with `ledger sync` (the
//! hash is in its chain, under the log's signed checkpoints); and
//! the request it is about as the API shows it to the partner at the delivery (`data.request`:
//! personal values joined, erased ones null; `null` for an entry about no request, or one of a
//! customer the partner's relationship with has ended).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use domain::{PartnerId, RequestId, Timestamp};
use ledger::{ChainId, EntryRef, ReceiptDocument};
use store::webhook_http::{Answer, WebhookClient};
use store::webhooks_io::DELIVERY_LOG_DAYS;
use store::{DeliveryAttempt, EndpointState, StoreError, StoredEntry, WebhookEndpoint};
use webhooks::cursor::{Cursor, Disabled, Next, State};
use webhooks::{Signer, webhook_id};

use crate::App;
use crate::webhooks_api::{WebhookConfig, signing_key, signing_secrets};

/// Entries read from the chain at a time, per endpoint.
const BATCH: u64 = 100;
/// The most entries one endpoint is sent in one round (its cursor is written after each
/// batch, and whenever an attempt fails).
const PER_ROUND: usize = 1_000;
/// The most entries one endpoint's round reads (skipped ones too: a narrow `kinds` filter
/// replayed over a long chain goes on in the next round).
const EXAMINED_PER_ROUND: usize = 10_000;
/// How long a round may go on starting deliveries (a slow receiver that still answers could
/// otherwise hold a round — and a Lambda invocation — for 1,000 × 15 s). The next round
/// goes on from the cursor.
pub const ROUND_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);
/// A round writes its cursor at least this often (and after each batch), so a round cut
/// short (a Lambda's timeout) loses little, and a change of the endpoint by its partner stops
/// a round within it (the write loses to the change).
const SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Partners' rounds run at most this many at once.
const PARTNERS_AT_ONCE: usize = 8;

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

/// The body of the delivery of one entry (Standard Webhooks' `type`, `timestamp`, `data`):
/// the entry as hashed, the request as the partner reads it, and the receipt its writer
/// signed and kept with it (`null` for entries that have none: disclosures, and entries kept
/// before receipts were).
///
/// The deliverer signs no receipt itself: it reads entries from the table, and before a
/// checkpoint covers them it cannot tell the writer's entry from one put there by someone with
/// table access — signing here would hand them the log's promise. It sends the writer's.
pub fn body(
    entry: &EntryRef<'_>,
    line: &str,
    request: &serde_json::Value,
    receipt: Option<&ReceiptDocument>,
) -> Result<String, serde_json::Error> {
    Ok(format!(
        r#"{{"type":{},"timestamp":{},"data":{{"chain":{},"seq":{},"hash":"{}","entry":{line},"request":{},"receipt":{}}}}}"#,
        serde_json::to_string(&format!("ledger.{}", entry.kind))?,
        serde_json::to_string(entry.at)?,
        serde_json::to_string(entry.chain)?,
        entry.seq,
        entry.hash.to_hex(),
        serde_json::to_string(request)?,
        serde_json::to_string(&receipt)?,
    ))
}

/// Whether `entry` is the ledger's entry `seq` of `chain` after `previous` (the hash and time
/// of the entry before it): hashing to its hash, linked to the one before, no earlier than it.
fn is_next(entry: &EntryRef<'_>, chain: &ChainId, seq: u64, previous: &(ledger::Hash, String)) -> bool {
    entry.seq == seq
        && entry.chain == chain.as_str()
        && entry.computed_hash() == entry.hash
        && entry.prev == previous.0
        && entry.at >= previous.1.as_str()
}

/// How the deliverer checks the receipts kept with entries before it sends them (FORMAT.md
/// §10.2): with the published receipt key (it holds no private key) and the log name; and
/// from when on every entry must carry one (`None`: every entry — a deployment that kept
/// receipts from its start; one upgraded gives a time after every writer was upgraded).
#[derive(Debug, Clone)]
pub struct ReceiptCheck {
    pub keys: ledger::TrustedKeys,
    pub log: ledger::LogName,
    /// A ledger timestamp (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub required_since: Option<String>,
}

/// The receipt kept with `entry` (its signed note), checked before it is sent: signed by the
/// receipt key for this log, and naming this chain, seq, hash and time. One that is not, or
/// none where one must be, was not put there by the writer: an integrity alarm, and the
/// endpoint waits at the entry. Sent as the API answers with it.
pub fn kept_receipt(
    entry: &EntryRef<'_>,
    kept: Option<&str>,
    check: &ReceiptCheck,
) -> Result<Option<ReceiptDocument>, StoreError> {
    let alarm = |why: &str| {
        StoreError::IntegrityAlarm(format!(
            "the receipt kept with entry {} of chain {} {why}",
            entry.seq, entry.chain
        ))
    };
    let Some(note) = kept else {
        let required = check.required_since.as_deref().is_none_or(|since| entry.at >= since);
        return if required { Err(alarm("is missing")) } else { Ok(None) };
    };
    let said =
        ledger::Receipt::open(note, &check.keys, &check.log).map_err(|e| alarm(&format!("does not verify: {e}")))?;
    if !said.names(entry.chain, entry.seq, &entry.hash, entry.at) {
        return Err(alarm("is about another entry"));
    }
    Ok(Some(ReceiptDocument::with_note(&said, note.to_owned())))
}

/// The views of requests one partner's round has read, shared by its endpoints: with 100
/// endpoints, an entry's request is read once, not 100 times. A view is used for an entry only
/// if it is at least the version that entry made (a view read earlier in the round, before a
/// later change, is read again).
#[derive(Debug, Default)]
struct Views(std::sync::Mutex<std::collections::HashMap<RequestId, (u64, std::time::Instant, serde_json::Value)>>);

/// How long a view read is shared: an erasure or an ended relationship shows within it.
const VIEW_FRESH: std::time::Duration = std::time::Duration::from_secs(2);

impl Views {
    fn get(&self, id: RequestId, at_least: u64) -> Option<serde_json::Value> {
        let views = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        views
            .get(&id)
            .filter(|(version, read, _)| *version >= at_least && read.elapsed() < VIEW_FRESH)
            .map(|(_, _, view)| view.clone())
    }

    fn put(&self, id: RequestId, version: u64, view: serde_json::Value) {
        let mut views = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        views.insert(id, (version, std::time::Instant::now(), view));
    }
}

/// The request version an entry made (its data's `version`; 0 when it names none).
fn entry_version(entry: &EntryRef<'_>) -> u64 {
    #[derive(serde::Deserialize)]
    struct Version {
        version: Option<u64>,
    }
    serde_json::from_slice::<Version>(entry.data)
        .ok()
        .and_then(|v| v.version)
        .unwrap_or(0)
}

/// The request `id` as the API shows it to `partner` now, for an entry that made version
/// `at_least` of it (`null`: no request, none of its, or one of a customer its relationship
/// with has ended).
async fn request_view(
    app: &App,
    views: &Views,
    partner: &PartnerId,
    id: Option<RequestId>,
    at_least: u64,
) -> Result<serde_json::Value, StoreError> {
    let Some(id) = id else {
        return Ok(serde_json::Value::Null);
    };
    if let Some(view) = views.get(id, at_least) {
        return Ok(view);
    }
    let Some(found) = app.store.get_request(partner, id).await? else {
        return Ok(serde_json::Value::Null);
    };
    let version = found.version();
    let view = match found.customer_id() {
        Some(customer) if !app.store.is_related(partner, customer).await? => serde_json::Value::Null,
        _ => serde_json::to_value(&found).map_err(StoreError::internal)?,
    };
    views.put(id, version, view.clone());
    Ok(view)
}

/// The delivery log's record of one attempt.
fn attempt_record(
    endpoint: &WebhookEndpoint,
    seq: u64,
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
    answer: &Answer,
    cursor: &Cursor,
) -> DeliveryAttempt {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let outcome = match (&cursor.state, cursor.next_seq > seq) {
        (_, true) => "delivered",
        (State::Disabled(Disabled::Gone), _) => "gone",
        (State::Disabled(_), _) => "retries_spent",
        (State::Enabled, false) => "failed",
    };
    let next_attempt_at = (outcome == "failed")
        .then(|| chrono::DateTime::from_timestamp_millis(i64::try_from(cursor.not_before_ms).unwrap_or(i64::MAX)))
        .flatten()
        .map(Timestamp::from);
    DeliveryAttempt {
        endpoint: DeliveryAttempt::key(&endpoint.partner, &endpoint.endpoint),
        attempt: DeliveryAttempt::sort_key(millis, seq),
        seq,
        webhook_id: id.to_owned(),
        url: endpoint.url.clone(),
        attempted_at: Timestamp::from(at),
        status: answer.status,
        outcome: outcome.to_owned(),
        error: answer.error.clone(),
        next_attempt_at,
        expires_at: u64::try_from((at + chrono::Duration::days(DELIVERY_LOG_DAYS)).timestamp()).unwrap_or(0),
    }
}

/// One round for every endpoint of `partner`: each is sent what is due, on its own, starting no
/// delivery after [`ROUND_BUDGET`].
pub async fn deliver_partner(
    app: &App,
    client: &WebhookClient,
    partner: &PartnerId,
) -> Result<RoundReport, StoreError> {
    deliver_partner_until(app, client, partner, std::time::Instant::now() + ROUND_BUDGET).await
}

async fn deliver_partner_until(
    app: &App,
    client: &WebhookClient,
    partner: &PartnerId,
    deadline: std::time::Instant,
) -> Result<RoundReport, StoreError> {
    let config = app
        .webhooks
        .as_ref()
        .ok_or_else(|| StoreError::Internal("the deliverer has no webhook seal key".into()))?;
    let endpoints = app.store.webhook_endpoints(partner).await?;
    let views = Views::default();
    let rounds = endpoints
        .into_iter()
        .filter(|e| e.is_live() && e.state == EndpointState::Enabled)
        .map(|endpoint| deliver_endpoint(app, config, client, &views, endpoint, deadline));
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

/// Send `endpoint` what is due now, in order, until it has nothing more, an attempt fails,
/// [`PER_ROUND`] entries, or `deadline`.
async fn deliver_endpoint(
    app: &App,
    config: &WebhookConfig,
    client: &WebhookClient,
    views: &Views,
    mut endpoint: WebhookEndpoint,
    deadline: std::time::Instant,
) -> Result<RoundReport, StoreError> {
    let mut report = RoundReport::default();
    let receipts = config
        .receipts
        .as_ref()
        .ok_or_else(|| StoreError::Internal("the deliverer has no receipt key to check receipts with".into()))?;
    let chain = ChainId::parse(endpoint.partner.as_str()).map_err(StoreError::internal)?;
    let secrets = signing_secrets(config, &endpoint, Timestamp::from(app.store.now()));
    // No secret that opens: alarmed already (`signing_secrets`); the endpoint waits, its
    // cursor where it is, until the partner rotates its secret.
    let Some(signer) = Signer::new(secrets, signing_key(config, &endpoint)) else {
        return Ok(report);
    };
    let mut cursor = cursor_of(&endpoint);
    let mut saved = cursor.clone();
    let mut saved_at = std::time::Instant::now();
    let mut sent = 0;
    let mut log = Vec::new();
    let mut examined = 0usize;
    'rounds: while sent < PER_ROUND && examined < EXAMINED_PER_ROUND {
        if cursor.not_before_ms > now_ms(app) || cursor.state != State::Enabled {
            break;
        }
        // The batch, read with the entry before it: each entry sent must link to the one before
        // and not go back in time, so an entry put at the tail cannot pass for an older one.
        let from = cursor.next_seq.saturating_sub(1);
        let mut stored = app.store.stored_entries(&chain, from, BATCH + 1).await?;
        let mut previous = if cursor.next_seq == 0 {
            (ledger::entry::GENESIS_PREV, String::new())
        } else {
            let before = (!stored.is_empty()).then(|| stored.remove(0));
            let before = before.as_ref().and_then(|b| EntryRef::parse(b.line.as_bytes()).ok());
            match before {
                Some(b) if b.seq == from && b.chain == chain.as_str() && b.computed_hash() == b.hash => {
                    (b.hash, b.at.to_owned())
                }
                _ => {
                    return Err(StoreError::IntegrityAlarm(format!(
                        "the entry before {} of chain {} is missing or not the ledger's",
                        cursor.next_seq, chain
                    )));
                }
            }
        };
        if stored.is_empty() {
            break;
        }
        examined += stored.len();
        for StoredEntry { line, request, receipt } in &stored {
            let entry = EntryRef::parse(line.as_bytes()).map_err(StoreError::internal)?;
            // Only what the ledger holds is signed: the partner's own chain, each entry at
            // the seq asked for, hashing to the hash it claims, linked to the one before and
            // no earlier than it.
            if !is_next(&entry, &chain, cursor.next_seq, &previous) {
                return Err(StoreError::IntegrityAlarm(format!(
                    "the entry read at {} of chain {} is not the ledger's (seq {}, chain {}, its hash, its link or its time)",
                    cursor.next_seq, chain, entry.seq, entry.chain
                )));
            }
            previous = (entry.hash, entry.at.to_owned());
            let size = cursor.next_seq + 1;
            let wants = |kind: &str| endpoint.kinds.is_empty() || endpoint.kinds.iter().any(|k| k == kind);
            match cursor.next(size, Some(entry.kind), wants, now_ms(app)) {
                Next::Skip { .. } if std::time::Instant::now() >= deadline => break 'rounds,
                Next::Skip { .. } => {
                    cursor = cursor.skipped();
                    report.skipped += 1;
                    continue;
                }
                Next::Deliver { .. } if std::time::Instant::now() >= deadline => break 'rounds,
                Next::Deliver { seq } => {
                    let view = request_view(app, views, &endpoint.partner, *request, entry_version(&entry)).await?;
                    let receipt = kept_receipt(&entry, receipt.as_deref(), receipts)?;
                    let payload = body(&entry, line, &view, receipt.as_ref()).map_err(StoreError::internal)?;
                    let id = webhook_id(entry.chain, seq);
                    let timestamp = wall_seconds();
                    let headers = signer.headers(&id, timestamp, payload.as_bytes());
                    let answer = client.post(&endpoint.url, &headers, Bytes::from(payload)).await;
                    sent += 1;
                    let at = app.store.now();
                    endpoint.last_status = answer.status;
                    endpoint.last_attempt_at = Some(Timestamp::from(at));
                    cursor = cursor.attempted(answer.status, answer.retry_after.as_deref(), now_ms(app));
                    log.push(attempt_record(&endpoint, seq, &id, at, &answer, &cursor));
                    if cursor.next_seq == seq {
                        report.failed += 1;
                        log_failure(&endpoint, seq, &answer, &cursor);
                        if cursor.state != State::Enabled {
                            report.disabled += 1;
                        }
                        break 'rounds;
                    }
                    report.delivered += 1;
                    if saved_at.elapsed() >= SAVE_EVERY {
                        save(app, &mut endpoint, &cursor, &mut log).await?;
                        saved = cursor.clone();
                        saved_at = std::time::Instant::now();
                    }
                }
                Next::Wait | Next::Idle => break 'rounds,
            }
        }
        if cursor != saved {
            save(app, &mut endpoint, &cursor, &mut log).await?;
            saved = cursor.clone();
            saved_at = std::time::Instant::now();
        }
    }
    if cursor != saved || !log.is_empty() {
        save(app, &mut endpoint, &cursor, &mut log).await?;
    }
    Ok(report)
}

/// Keep the attempts in the delivery log, then move the cursor (the log may show an attempt
/// whose cursor move then lost a race: it was made, and is made again).
async fn save(
    app: &App,
    endpoint: &mut WebhookEndpoint,
    cursor: &Cursor,
    log: &mut Vec<DeliveryAttempt>,
) -> Result<(), StoreError> {
    app.store.record_delivery_attempts(log).await?;
    log.clear();
    apply(endpoint, cursor);
    endpoint.version += 1;
    app.store.put_webhook_endpoint(endpoint).await
}

fn log_failure(endpoint: &WebhookEndpoint, seq: u64, answer: &Answer, cursor: &Cursor) {
    if cursor.state != State::Enabled {
        // The stack alarms on this line's `webhook_alarm` (a metric filter).
        tracing::error!(
            webhook_alarm = "endpoint_disabled",
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

/// One round for every partner with an enabled endpoint, [`PARTNERS_AT_ONCE`] at a time, none
/// starting a delivery after [`ROUND_BUDGET`] (the local run's deliverer, a few times a
/// second; in AWS the schedule, for the retries that came due). A partner whose round failed
/// does not stop the others': the first error is returned after all have run.
pub async fn deliver_all(app: &App, client: &WebhookClient) -> Result<RoundReport, StoreError> {
    use futures::StreamExt;
    let deadline = std::time::Instant::now() + ROUND_BUDGET;
    let mut partners = app.store.partners_with_webhooks().await?;
    // A different partner first each time: those late in the order are not always the ones
    // left when the deadline comes.
    if !partners.is_empty() {
        let first = usize::try_from(rand::random::<u64>() % partners.len() as u64).unwrap_or(0);
        partners.rotate_left(first);
    }
    let mut rounds = futures::stream::iter(partners)
        .map(|partner| async move {
            let result = deliver_partner_until(app, client, &partner, deadline).await;
            (partner, result)
        })
        .buffer_unordered(PARTNERS_AT_ONCE);
    let mut report = RoundReport::default();
    let mut first_error = None;
    while let Some((partner, result)) = rounds.next().await {
        match result {
            Ok(r) => report.add(&r),
            Err(e @ StoreError::IntegrityAlarm(_)) => integrity_alarm(&partner, &e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// An entry that is not the ledger's: the stack alarms on this line (`integrity_alarm`).
fn integrity_alarm(partner: &PartnerId, e: &StoreError) {
    tracing::error!(
        integrity_alarm = "ledger",
        partner = %partner,
        detail = e.detail().unwrap_or("-"),
        "ledger integrity alarm: a webhook round found an entry that is not the ledger's; nothing of it was sent"
    );
}

/// The chains a DynamoDB stream batch of the ledger table names (its records' `chain` key), each
/// with the sequence numbers of its records, in the batch's order.
pub fn stream_chains(event: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    let mut chains: Vec<(String, Vec<String>)> = Vec::new();
    for record in event["Records"].as_array().into_iter().flatten() {
        let dynamodb = &record["dynamodb"];
        let (Some(chain), Some(sequence)) = (
            dynamodb["Keys"]["chain"]["S"].as_str(),
            dynamodb["SequenceNumber"].as_str(),
        ) else {
            continue;
        };
        match chains.iter_mut().find(|(c, _)| c == chain) {
            Some((_, sequences)) => sequences.push(sequence.to_owned()),
            None => chains.push((chain.to_owned(), vec![sequence.to_owned()])),
        }
    }
    chains
}

/// The `deliver-webhooks` function's answer to one invocation:
/// - a DynamoDB stream batch of the ledger table: a round for each partner whose chain grew;
///   a partner whose round could not finish (the store failed) has its records reported as
///   batch item failures, so Lambda retries from them (a receiver's failure is not one: its
///   endpoint's cursor waits for it);
/// - anything else (the schedule, every minute): a round for every partner with an enabled
///   endpoint, for the retries that have come due.
pub async fn on_event(app: &App, client: &WebhookClient, event: &serde_json::Value) -> serde_json::Value {
    if event.get("Records").is_none() {
        return match deliver_all(app, client).await {
            Ok(report) => serde_json::json!({ "delivered": report.delivered, "failed": report.failed }),
            Err(e) => {
                tracing::error!(error = %e, detail = e.detail().unwrap_or("-"), "scheduled webhook round failed");
                serde_json::json!({ "error": "the round failed; the next one tries again" })
            }
        };
    }
    let mut failures = Vec::new();
    for (chain, sequences) in stream_chains(event) {
        let Ok(partner) = PartnerId::parse(&chain) else {
            tracing::error!(chain, "a ledger chain that names no partner");
            continue;
        };
        if let Err(e) = deliver_partner(app, client, &partner).await {
            tracing::warn!(partner = %partner, error = %e, detail = e.detail().unwrap_or("-"), "webhook round failed; the stream retries it");
            failures.extend(
                sequences
                    .into_iter()
                    .map(|s| serde_json::json!({ "itemIdentifier": s })),
            );
        }
    }
    serde_json::json!({ "batchItemFailures": failures })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_batch_names_its_chains_in_order_with_their_records() {
        let record = |chain: &str, seq: &str| {
            serde_json::json!({
                "eventName": "INSERT",
                "dynamodb": { "Keys": { "chain": { "S": chain }, "seq": { "N": "1" } }, "SequenceNumber": seq }
            })
        };
        let event = serde_json::json!({ "Records": [
            record("contoso", "100"), record("fabrikam", "101"), record("contoso", "102"),
            { "dynamodb": { "Keys": {} } }
        ] });
        assert_eq!(
            stream_chains(&event),
            [
                ("contoso".to_owned(), vec!["100".to_owned(), "102".to_owned()]),
                ("fabrikam".to_owned(), vec!["101".to_owned()])
            ]
        );
        assert!(stream_chains(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn the_body_carries_the_entry_exactly_as_hashed() {
        let line = r#"{"v":2,"chain":"contoso","seq":3,"prev":"0000000000000000000000000000000000000000000000000000000000000000","at":"2026-11-24T10:00:00.000Z","kind":"created","data":{"a":1},"hash":"1111111111111111111111111111111111111111111111111111111111111111"}"#;
        let entry = EntryRef::parse(line.as_bytes()).unwrap();
        let text = body(&entry, line, &serde_json::json!({ "id": "r1" }), None).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "ledger.created");
        assert_eq!(value["timestamp"], "2026-11-24T10:00:00.000Z");
        assert_eq!(value["data"]["chain"], "contoso");
        assert_eq!(value["data"]["seq"], 3);
        assert_eq!(value["data"]["hash"], "1".repeat(64));
        assert_eq!(value["data"]["request"]["id"], "r1");
        assert_eq!(value["data"]["receipt"], serde_json::Value::Null);
        // The line itself, byte for byte, inside the body.
        assert!(text.contains(line));
    }

    const LINE: &str = r#"{"v":2,"chain":"contoso","seq":3,"prev":"0000000000000000000000000000000000000000000000000000000000000000","at":"2026-11-24T10:00:00.000Z","kind":"created","data":{"a":1},"hash":"1111111111111111111111111111111111111111111111111111111111111111"}"#;

    fn receipt_key() -> ledger::SignerKey {
        ledger::SignerKey::from_seed("ledgerdesk.test-receipts", [7; 32]).unwrap()
    }

    fn check(required_since: Option<&str>) -> ReceiptCheck {
        ReceiptCheck {
            keys: ledger::TrustedKeys::new([receipt_key().verifier()]),
            log: ledger::LogName::parse("ledgerdesk.test").unwrap(),
            required_since: required_since.map(str::to_owned),
        }
    }

    fn receipt_for(chain: &str, seq: u64, hash: ledger::Hash, at: &str) -> ReceiptDocument {
        let log = ledger::LogName::parse("ledgerdesk.test").unwrap();
        let receipt = ledger::Receipt::new(&log, &ChainId::parse(chain).unwrap(), seq, hash, at).unwrap();
        ReceiptDocument::new(&receipt, &receipt_key())
    }

    #[test]
    fn the_kept_receipt_goes_in_the_body_as_the_write_answered_with_it() {
        let entry = EntryRef::parse(LINE.as_bytes()).unwrap();
        let answered = receipt_for("contoso", 3, entry.hash, entry.at);
        let checked = kept_receipt(&entry, Some(&answered.note), &check(None))
            .unwrap()
            .expect("a receipt");
        assert_eq!(checked, answered);
        let text = body(&entry, LINE, &serde_json::Value::Null, Some(&checked)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["data"]["receipt"], serde_json::to_value(&answered).unwrap());
    }

    #[test]
    fn a_kept_receipt_not_the_writers_for_the_entry_is_an_integrity_alarm() {
        let entry = EntryRef::parse(LINE.as_bytes()).unwrap();
        let alarm = |kept: &str| {
            matches!(
                kept_receipt(&entry, Some(kept), &check(None)),
                Err(StoreError::IntegrityAlarm(_))
            )
        };
        // Another seq, hash, time or chain: each signed by the receipt key, none about this entry.
        for (chain, seq, hash, at) in [
            ("contoso", 4, entry.hash, entry.at),
            ("contoso", 3, ledger::Hash::digest(b"other"), entry.at),
            ("contoso", 3, entry.hash, "2026-11-24T10:00:01.000Z"),
            ("fabrikam", 3, entry.hash, entry.at),
        ] {
            assert!(alarm(&receipt_for(chain, seq, hash, at).note), "{chain} {seq} {at}");
        }
        // About this entry, but signed by another key, or for another log.
        let log = ledger::LogName::parse("ledgerdesk.test").unwrap();
        let receipt = ledger::Receipt::new(&log, &ChainId::parse("contoso").unwrap(), 3, entry.hash, entry.at).unwrap();
        let other_key = ledger::SignerKey::from_seed("ledgerdesk.test-receipts", [8; 32]).unwrap();
        assert!(alarm(&receipt.sign(&other_key)));
        let other_log = ledger::LogName::parse("ledgerdesk.other").unwrap();
        let elsewhere =
            ledger::Receipt::new(&other_log, &ChainId::parse("contoso").unwrap(), 3, entry.hash, entry.at).unwrap();
        assert!(alarm(&elsewhere.sign(&receipt_key())));
        // Things that are no receipt note at all.
        let document = serde_json::to_string(&receipt_for("contoso", 3, entry.hash, entry.at)).unwrap();
        assert!(alarm(&document));
        assert!(alarm("not a note"));
    }

    #[test]
    fn an_entry_is_sent_only_after_the_entry_before_it() {
        let head = ledger::ChainHead::genesis(ChainId::parse("contoso").unwrap());
        let at = |s: &str| ledger::entry::parse_at(s).unwrap();
        let (first, after) = head
            .append(&at("2026-11-24T10:00:00.000Z"), "created", &serde_json::json!({}))
            .unwrap();
        let (second, _) = after
            .append(&at("2026-11-24T10:01:00.000Z"), "note_added", &serde_json::json!({}))
            .unwrap();
        let chain = ChainId::parse("contoso").unwrap();
        let first = EntryRef::parse(first.line.as_bytes()).unwrap();
        let second = EntryRef::parse(second.line.as_bytes()).unwrap();
        let genesis = (ledger::entry::GENESIS_PREV, String::new());
        assert!(is_next(&first, &chain, 0, &genesis));
        let before_second = (first.hash, first.at.to_owned());
        assert!(is_next(&second, &chain, 1, &before_second));
        // Another seq, another chain, another entry before it, or a time before that entry's.
        assert!(!is_next(&second, &chain, 2, &before_second));
        assert!(!is_next(
            &second,
            &ChainId::parse("fabrikam").unwrap(),
            1,
            &before_second
        ));
        assert!(!is_next(&second, &chain, 1, &genesis));
        assert!(!is_next(
            &second,
            &chain,
            1,
            &(first.hash, "2026-11-24T10:01:00.001Z".to_owned())
        ));
        // A line whose hash is not its own.
        let tampered = LINE.replace("\"a\":1", "\"a\":2");
        let tampered = EntryRef::parse(tampered.as_bytes()).unwrap();
        assert!(!is_next(
            &tampered,
            &chain,
            3,
            &(ledger::entry::GENESIS_PREV, String::new())
        ));
    }

    #[test]
    fn an_entry_without_its_receipt_is_sent_only_if_it_is_older_than_kept_receipts() {
        let entry = EntryRef::parse(LINE.as_bytes()).unwrap();
        let missing = |check: &ReceiptCheck| kept_receipt(&entry, None, check);
        assert!(matches!(missing(&check(None)), Err(StoreError::IntegrityAlarm(_))));
        assert!(matches!(
            missing(&check(Some("2026-11-24T10:00:00.000Z"))),
            Err(StoreError::IntegrityAlarm(_))
        ));
        assert_eq!(missing(&check(Some("2026-11-24T10:00:00.001Z"))).unwrap(), None);
        // A disclosure too: every entry is kept with its receipt.
        let disclosure = LINE.replace("\"kind\":\"created\"", "\"kind\":\"personal_data_disclosed\"");
        let disclosure = EntryRef::parse(disclosure.as_bytes()).unwrap();
        assert!(matches!(
            kept_receipt(&disclosure, None, &check(None)),
            Err(StoreError::IntegrityAlarm(_))
        ));
    }
}
