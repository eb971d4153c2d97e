//! The partner's webhook endpoints (`webhooks/manage`, issue #27): create (the signing secret
//! is shown once, in the answer), list, read, change (URL, kinds, enabled), delete, and rotate
//! the secret with an overlap in which both sign. Every read and write is scoped to the
//! caller's own partner: another partner's endpoint is as unknown as one that does not exist.
//! A URL must be `https` to a public address (locally also `http://127.0.0.1`): checked as
//! written, and against every address its name resolves to now (the deliverer checks again
//! at each delivery: a name can be re-pointed).

use std::net::IpAddr;
use std::time::Duration;

use domain::{ENTRY_KINDS, PartnerId, Timestamp};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use store::{EndpointState, SealedSecret, StoreError, WebhookEndpoint};
use webhooks::{EndpointId, EndpointUrl, Mode, SealKey, SigningKey, SigningSecret};

use crate::App;
use crate::http::{json_body, json_response, path_param, query_params};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::routes::{LEDGER_READ, READ, WEBHOOKS_MANAGE};

/// Live endpoints a partner may have.
pub const MAX_ENDPOINTS: usize = 100;
/// The longest overlap a rotation may ask for (both secrets sign until it ends).
pub const MAX_OVERLAP_SECONDS: u64 = 7 * 24 * 3600;
/// The overlap when a rotation names none.
pub const DEFAULT_OVERLAP_SECONDS: u64 = 24 * 3600;
/// How long a registration waits for the URL's name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// How the service reaches webhook receivers: the key that seals their secrets, and which
/// URLs are allowed (in AWS: `https` to public addresses only).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub key: SealKey,
    pub mode: Mode,
    /// How the deliverer checks the receipts it sends (the deliverer only).
    pub receipts: Option<crate::deliver::ReceiptCheck>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EndpointInput {
    url: Option<String>,
    kinds: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReplayInput {
    from_seq: Option<u64>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RotationInput {
    overlap_seconds: Option<u64>,
}

fn manager<'a>(app: &'a App, request: &Request) -> Result<(PartnerId, &'a WebhookConfig), ApiError> {
    manager_reading(app, request, false)
}

/// The scopes a caller needs, besides `webhooks/manage`, to point an endpoint somewhere or to
/// have the chain sent again: what an endpoint receives is what they read (the requests with
/// their personal values, and the ledger's entries), so managing endpoints alone must not be a
/// way round them.
pub const SENDS_WHAT_THEY_READ: [&str; 2] = [READ, LEDGER_READ];

/// [`manager`]; with `reads`, also every scope of [`SENDS_WHAT_THEY_READ`].
fn manager_reading<'a>(
    app: &'a App,
    request: &Request,
    reads: bool,
) -> Result<(PartnerId, &'a WebhookConfig), ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[WEBHOOKS_MANAGE])?;
    let partner = caller.partner()?.clone();
    if reads && let Some(missing) = SENDS_WHAT_THEY_READ.iter().find(|scope| !caller.has(scope)) {
        return Err(ApiError::Forbidden(format!(
            "pointing an endpoint somewhere or sending the chain again also needs the scope {missing}: an endpoint receives what that scope reads"
        )));
    }
    let config = app.webhooks.as_ref().ok_or_else(|| {
        tracing::error!("a webhook route reached a function without the webhook seal key");
        ApiError::Internal
    })?;
    Ok((partner, config))
}

/// A sealed secret's associated data: whose endpoint it is, the URL it signs for, and until
/// when (`None`: the current one). An operator who re-points an endpoint in the table, or
/// extends a rotated-out secret, gets an endpoint whose secrets do not open (and an alarm),
/// never deliveries signed for a URL or a time the partner did not set. (Partner and endpoint
/// ids hold no `/` or newline; a serialized URL holds no newline.)
fn context(partner: &PartnerId, id: &str, url: &str, expires_at: Option<Timestamp>) -> String {
    let until = expires_at.map_or_else(|| "current".to_owned(), |t| t.to_string());
    format!("{partner}/{id}\n{url}\n{until}")
}

/// The sealed Ed25519 key's: the same, and that it is the `v1a` key (a sealed secret moved
/// into its place does not open).
fn key_context(partner: &PartnerId, id: &str, url: &str) -> String {
    format!("{partner}/{id}/v1a\n{url}")
}

/// Open `sealed` as text under `context`.
fn open_text(config: &WebhookConfig, context: &str, sealed: &str) -> Option<String> {
    config
        .key
        .open(context, sealed)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Why a delivery cannot be signed: logged with the field the stack alarms on.
fn stalled(partner: &PartnerId, endpoint: &str, what: &str) {
    tracing::error!(
        webhook_alarm = "endpoint_stalled",
        partner = %partner,
        endpoint,
        what,
        "a sealed webhook secret does not open (the item was altered, or sealed under another key)"
    );
}

/// `endpoint`'s secrets and key sealed again for `url` (a change of URL); an error if one
/// does not open (the item was altered).
fn reseal_for(config: &WebhookConfig, endpoint: &mut WebhookEndpoint, url: &str) -> Result<(), ApiError> {
    for secret in &mut endpoint.secrets {
        let old = context(&endpoint.partner, &endpoint.endpoint, &endpoint.url, secret.expires_at);
        let text = open_text(config, &old, &secret.sealed).ok_or_else(|| {
            stalled(&endpoint.partner, &endpoint.endpoint, "secret");
            ApiError::Internal
        })?;
        let new = context(&endpoint.partner, &endpoint.endpoint, url, secret.expires_at);
        secret.sealed = config.key.seal(&new, text.as_bytes());
    }
    if let Some(sealed) = &endpoint.signing_key {
        let old = key_context(&endpoint.partner, &endpoint.endpoint, &endpoint.url);
        let text = open_text(config, &old, sealed).ok_or_else(|| {
            stalled(&endpoint.partner, &endpoint.endpoint, "v1a key");
            ApiError::Internal
        })?;
        endpoint.signing_key = Some(config.key.seal(
            &key_context(&endpoint.partner, &endpoint.endpoint, url),
            text.as_bytes(),
        ));
    }
    Ok(())
}

/// The URL as written, then every address its name resolves to (a name that resolves to
/// nothing, or not in time, is refused too: it could be pointed anywhere later).
async fn parse_url(text: &str, mode: Mode, errors: &mut Vec<FieldMessage>) -> Option<EndpointUrl> {
    let url = match EndpointUrl::parse(text, mode) {
        Ok(url) => url,
        Err(e) => {
            errors.push(FieldMessage::new("$.url", e.to_string()));
            return None;
        }
    };
    let (host, port) = url.host_and_port();
    let addresses = match host.parse::<IpAddr>() {
        Ok(ip) => Some(vec![ip]),
        Err(_) => match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(found)) => Some(found.map(|a| a.ip()).collect()),
            Ok(Err(_)) | Err(_) => None,
        },
    };
    match resolved_ok(&url, mode, addresses.as_deref()) {
        Ok(()) => Some(url),
        Err(problem) => {
            errors.push(FieldMessage::new("$.url", problem));
            None
        }
    }
}

/// Whether `url`, whose name resolved to `addresses` (`None`: it did not resolve), may be
/// registered: every address must be one a delivery may reach.
fn resolved_ok(url: &EndpointUrl, mode: Mode, addresses: Option<&[IpAddr]>) -> Result<(), String> {
    match addresses {
        None | Some([]) => Err("the host name does not resolve".into()),
        Some(addresses) => addresses
            .iter()
            .try_for_each(|ip| url.may_connect(*ip, mode))
            .map_err(|e| e.to_string()),
    }
}

fn parse_kinds(kinds: Vec<String>, errors: &mut Vec<FieldMessage>) -> Option<Vec<String>> {
    let before = errors.len();
    let mut seen = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        if !ENTRY_KINDS.contains(&kind.as_str()) {
            errors.push(FieldMessage::new(
                format!("$.kinds[{i}]"),
                format!("must be one of: {}", ENTRY_KINDS.join(", ")),
            ));
        } else if seen.contains(&kind) {
            errors.push(FieldMessage::new(format!("$.kinds[{i}]"), "is named twice"));
        } else {
            seen.push(kind);
        }
    }
    (errors.len() == before).then_some(seen)
}

fn state_text(state: EndpointState) -> &'static str {
    match state {
        EndpointState::Enabled => "enabled",
        EndpointState::DisabledByPartner => "disabled_by_partner",
        EndpointState::Gone => "gone",
        EndpointState::RetriesSpent => "retries_spent",
    }
}

/// An endpoint as the partner sees it (never its secrets).
fn view(endpoint: &WebhookEndpoint, now: Timestamp) -> Value {
    let in_force = endpoint
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .count();
    json!({
        "id": endpoint.endpoint,
        "url": endpoint.url,
        "kinds": endpoint.kinds,
        "enabled": endpoint.state == EndpointState::Enabled,
        "state": state_text(endpoint.state),
        "nextSeq": endpoint.next_seq,
        "attempts": endpoint.attempts,
        "lastStatus": endpoint.last_status,
        "lastAttemptAt": endpoint.last_attempt_at,
        "secretsInForce": in_force,
        "publicKey": endpoint.public_key,
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
    })
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict => ApiError::Conflict("the endpoint was changed concurrently; reload it and retry".into()),
        other => other.into(),
    }
}

fn endpoint_id(request: &Request) -> Result<EndpointId, ApiError> {
    path_param(request, "endpointId")
        .and_then(EndpointId::parse)
        .ok_or_else(|| ApiError::Missing("no such webhook endpoint".into()))
}

/// The caller's live endpoint named by the path, or 404.
async fn live(app: &App, partner: &PartnerId, request: &Request) -> Result<WebhookEndpoint, ApiError> {
    let id = endpoint_id(request)?;
    app.store
        .webhook_endpoint(partner, id.as_str())
        .await?
        .filter(WebhookEndpoint::is_live)
        .ok_or_else(|| ApiError::Missing("no such webhook endpoint".into()))
}

/// How many times a change to an endpoint is applied to it read afresh when its write meets
/// another (usually the deliverer saving its cursor) before the caller gets a 409.
const CHANGE_ATTEMPTS: usize = 5;

/// Read the caller's live endpoint named by the path (404 if none), make `change` to it, and
/// write it, its version one up and `updatedAt` now. The deliverer saves its cursor on the same
/// item while it delivers, so a change whose write meets another is made again to the
/// endpoint read afresh — each change names only what the caller asked for, so making it
/// again is making it to the newer endpoint — a few times before the caller is told to retry.
async fn change_endpoint<T>(
    app: &App,
    partner: &PartnerId,
    request: &Request,
    mut change: impl FnMut(&mut WebhookEndpoint, Timestamp) -> Result<T, ApiError>,
) -> Result<(WebhookEndpoint, Timestamp, T), ApiError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut endpoint = live(app, partner, request).await?;
        let now = Timestamp::from(app.store.now());
        let made = change(&mut endpoint, now)?;
        endpoint.updated_at = now;
        endpoint.version += 1;
        match app.store.put_webhook_endpoint(&endpoint).await {
            Ok(()) => return Ok((endpoint, now, made)),
            Err(StoreError::Conflict) if attempt < CHANGE_ATTEMPTS => {}
            Err(e) => return Err(conflict(e)),
        }
    }
}

fn created(location: &str, body: &Value) -> Result<Response<Body>, ApiError> {
    let mut response = json_response(StatusCode::CREATED, body)?;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// `POST /webhook-endpoints` `{"url", "kinds"?, "enabled"?}`: 201 with the endpoint and its
/// signing secret (`whsec_…`), which is never shown again. The endpoint hears the partner's
/// chain from its next entry on (older entries by replay).
pub async fn create(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, config) = manager_reading(app, request, true)?;
    query_params(request, &[])?;
    let (input, _): (EndpointInput, Value) = json_body(request)?;
    let mut errors = Vec::new();
    let url = match input.url.as_deref() {
        Some(text) => parse_url(text, config.mode, &mut errors).await,
        None => {
            errors.push(FieldMessage::new("$.url", "is required"));
            None
        }
    };
    let kinds = parse_kinds(input.kinds.unwrap_or_default(), &mut errors);
    let (Some(url), Some(kinds)) = (url, kinds) else {
        return Err(ApiError::Validation(errors));
    };
    let live = app
        .store
        .webhook_endpoints(&partner)
        .await?
        .iter()
        .filter(|e| e.is_live())
        .count();
    if live >= MAX_ENDPOINTS {
        return Err(ApiError::UnprocessableAction(format!(
            "a partner has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let chain = ledger::ChainId::parse(partner.as_str()).map_err(|_| ApiError::Internal)?;
    let next_seq = app.store.chain_size(&chain).await?;
    let id = EndpointId::generate();
    let secret = SigningSecret::generate();
    let key = SigningKey::generate();
    let now = Timestamp::from(app.store.now());
    let endpoint = WebhookEndpoint {
        partner: partner.clone(),
        endpoint: id.as_str().to_owned(),
        url: url.as_str().to_owned(),
        kinds,
        secrets: vec![SealedSecret {
            sealed: config.key.seal(
                &context(&partner, id.as_str(), url.as_str(), None),
                secret.reveal().as_bytes(),
            ),
            expires_at: None,
        }],
        signing_key: Some(config.key.seal(
            &key_context(&partner, id.as_str(), url.as_str()),
            key.reveal().as_bytes(),
        )),
        public_key: Some(key.public_key().to_text()),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        state: if input.enabled.unwrap_or(true) {
            EndpointState::Enabled
        } else {
            EndpointState::DisabledByPartner
        },
        next_seq,
        attempts: 0,
        not_before_ms: 0,
        last_status: None,
        last_attempt_at: None,
        version: 1,
    };
    app.store.put_webhook_endpoint(&endpoint).await.map_err(conflict)?;
    tracing::info!(partner = %partner, endpoint = id.as_str(), "webhook endpoint created");
    let mut body = view(&endpoint, now);
    body["secret"] = Value::from(secret.reveal());
    created(&format!("/webhook-endpoints/{}", id.as_str()), &body)
}

/// `GET /webhook-endpoints`: the caller's live endpoints, oldest first.
pub async fn list(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, _) = manager(app, request)?;
    query_params(request, &[])?;
    let now = Timestamp::from(app.store.now());
    let items: Vec<Value> = app
        .store
        .webhook_endpoints(&partner)
        .await?
        .iter()
        .filter(|e| e.is_live())
        .map(|e| view(e, now))
        .collect();
    json_response(StatusCode::OK, &json!({ "items": items }))
}

/// `GET /webhook-endpoints/{endpointId}`.
pub async fn get(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, _) = manager(app, request)?;
    query_params(request, &[])?;
    let endpoint = live(app, &partner, request).await?;
    json_response(StatusCode::OK, &view(&endpoint, Timestamp::from(app.store.now())))
}

/// `PATCH /webhook-endpoints/{endpointId}` `{"url"?, "kinds"?, "enabled"?}`. Enabling an
/// endpoint the receiver or the retries disabled resumes where its cursor stands, its
/// retries reset.
pub async fn update(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, config) = manager(app, request)?;
    query_params(request, &[])?;
    let (input, _): (EndpointInput, Value) = json_body(request)?;
    if input.url.is_some() {
        manager_reading(app, request, true)?;
    }
    let mut errors = Vec::new();
    if input.url.is_none() && input.kinds.is_none() && input.enabled.is_none() {
        errors.push(FieldMessage::new("$", "name at least one of url, kinds, enabled"));
    }
    let url = match input.url.as_deref() {
        Some(text) => parse_url(text, config.mode, &mut errors).await.map(Some),
        None => Some(None),
    };
    let kinds = match input.kinds {
        Some(kinds) => parse_kinds(kinds, &mut errors).map(Some),
        None => Some(None),
    };
    let (Some(url), Some(kinds), true) = (url, kinds, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let (endpoint, now, ()) = change_endpoint(app, &partner, request, |endpoint, _| {
        if let Some(url) = &url
            && url.as_str() != endpoint.url
        {
            reseal_for(config, endpoint, url.as_str())?;
            endpoint.url = url.as_str().to_owned();
        }
        if let Some(kinds) = &kinds {
            endpoint.kinds.clone_from(kinds);
        }
        match input.enabled {
            Some(true) if endpoint.state != EndpointState::Enabled => {
                endpoint.state = EndpointState::Enabled;
                endpoint.attempts = 0;
                endpoint.not_before_ms = 0;
            }
            Some(false) => endpoint.state = EndpointState::DisabledByPartner,
            _ => {}
        }
        Ok(())
    })
    .await?;
    json_response(StatusCode::OK, &view(&endpoint, now))
}

/// `DELETE /webhook-endpoints/{endpointId}`: 204; nothing is delivered to it again. The
/// record stays (which URL the partner's events went to, and until when).
pub async fn delete(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, _) = manager(app, request)?;
    query_params(request, &[])?;
    let (endpoint, _, ()) = change_endpoint(app, &partner, request, |endpoint, now| {
        endpoint.deleted_at = Some(now);
        endpoint.state = EndpointState::DisabledByPartner;
        // Its secrets are of no further use to anyone.
        endpoint.secrets.clear();
        endpoint.signing_key = None;
        Ok(())
    })
    .await?;
    tracing::info!(partner = %partner, endpoint = endpoint.endpoint, "webhook endpoint deleted");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `POST /webhook-endpoints/{endpointId}/rotate-secret` `{"overlapSeconds"?}`: a new secret,
/// shown once; the one it replaces keeps signing (beside it) for the overlap (default a day,
/// at most seven), so the receiver can switch without missing a delivery.
pub async fn rotate(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, config) = manager(app, request)?;
    query_params(request, &[])?;
    let input: RotationInput = if request.body().is_empty() {
        RotationInput::default()
    } else {
        json_body(request)?.0
    };
    let overlap = input.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if overlap > MAX_OVERLAP_SECONDS {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "$.overlapSeconds",
            format!("must be 0 to {MAX_OVERLAP_SECONDS} (seven days)"),
        )]));
    }
    let secret = SigningSecret::generate();
    let overlap_for = chrono::Duration::seconds(i64::try_from(overlap).map_err(|_| ApiError::Internal)?);
    let (endpoint, now, until) = change_endpoint(app, &partner, request, |endpoint, now| {
        let until = Timestamp::from(now.datetime() + overlap_for);
        // The outgoing secret signs beside the new one until `until` (sealed again for that
        // end); one that was already on its way out is dropped: never more than two sign.
        let mut secrets = Vec::with_capacity(2);
        secrets.push(SealedSecret {
            sealed: config.key.seal(
                &context(&partner, &endpoint.endpoint, &endpoint.url, None),
                secret.reveal().as_bytes(),
            ),
            expires_at: None,
        });
        let outgoing = endpoint.secrets.iter().find(|s| s.expires_at.is_none());
        if let Some(outgoing) = outgoing
            && overlap > 0
        {
            let current = context(&partner, &endpoint.endpoint, &endpoint.url, None);
            let text = open_text(config, &current, &outgoing.sealed).ok_or_else(|| {
                stalled(&partner, &endpoint.endpoint, "secret");
                ApiError::Internal
            })?;
            secrets.push(SealedSecret {
                sealed: config.key.seal(
                    &context(&partner, &endpoint.endpoint, &endpoint.url, Some(until)),
                    text.as_bytes(),
                ),
                expires_at: Some(until),
            });
        }
        endpoint.secrets = secrets;
        Ok(until)
    })
    .await?;
    tracing::info!(partner = %partner, endpoint = endpoint.endpoint, overlap, "webhook secret rotated");
    let mut body = view(&endpoint, now);
    body["secret"] = Value::from(secret.reveal());
    body["previousSecretExpiresAt"] = json!((overlap > 0).then_some(until));
    json_response(StatusCode::OK, &body)
}

/// `POST /webhook-endpoints/{endpointId}/replay` `{"fromSeq"}`: the endpoint is sent the
/// partner's chain again from entry `fromSeq` (any seq up to the chain's size), in order, each
/// under its own `webhook-id` as before; it is enabled again, its retries reset.
pub async fn replay(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, _) = manager_reading(app, request, true)?;
    query_params(request, &[])?;
    let (input, _): (ReplayInput, Value) = json_body(request)?;
    let Some(from) = input.from_seq else {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "$.fromSeq",
            "is required",
        )]));
    };
    let chain = ledger::ChainId::parse(partner.as_str()).map_err(|_| ApiError::Internal)?;
    let size = app.store.chain_size(&chain).await?;
    if from > size {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "$.fromSeq",
            format!("must be at most {size}, the number of entries in the partner's chain"),
        )]));
    }
    let (endpoint, now, ()) = change_endpoint(app, &partner, request, |endpoint, _| {
        endpoint.next_seq = from;
        endpoint.attempts = 0;
        endpoint.not_before_ms = 0;
        endpoint.state = EndpointState::Enabled;
        Ok(())
    })
    .await?;
    tracing::info!(partner = %partner, endpoint = endpoint.endpoint, from, "webhook replay");
    json_response(StatusCode::OK, &view(&endpoint, now))
}

/// Delivery-log entries per page, at most.
pub const MAX_DELIVERIES: usize = 100;

/// `GET /webhook-endpoints/{endpointId}/deliveries?outcome=&limit=&cursor=`: the attempts,
/// newest first (30 days): seq, `webhook-id`, status, outcome, next attempt — never bodies.
pub async fn deliveries(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, _) = manager(app, request)?;
    let params = query_params(request, &["outcome", "limit", "cursor"])?;
    let param = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let mut errors = Vec::new();
    let outcome = param("outcome");
    if let Some(o) = outcome
        && !OUTCOMES.contains(&o)
    {
        errors.push(FieldMessage::new(
            "query:outcome",
            format!("must be one of: {}", OUTCOMES.join(", ")),
        ));
    }
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 25,
        Some(Ok(n)) if (1..=MAX_DELIVERIES).contains(&n) => n,
        Some(_) => {
            errors.push(FieldMessage::new(
                "query:limit",
                format!("must be 1 to {MAX_DELIVERIES}"),
            ));
            25
        }
    };
    let cursor = param("cursor");
    if cursor.is_some_and(|c| !store::DeliveryAttempt::is_sort_key(c)) {
        return Err(ApiError::BadRequest {
            detail: "the cursor is not valid for this query".into(),
            errors: vec![FieldMessage::new(
                "query:cursor",
                "is not a nextCursor this API returned",
            )],
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let endpoint = live(app, &partner, request).await?;
    let page = app
        .store
        .delivery_attempts(&partner, &endpoint.endpoint, outcome, cursor, limit)
        .await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|a| {
            json!({
                "seq": a.seq,
                "webhookId": a.webhook_id,
                "url": a.url,
                "attemptedAt": a.attempted_at,
                "status": a.status,
                "outcome": a.outcome,
                "error": a.error,
                "nextAttemptAt": a.next_attempt_at,
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({ "items": items, "nextCursor": page.next }))
}

/// The outcomes of an attempt the delivery log names.
pub const OUTCOMES: [&str; 4] = ["delivered", "failed", "gone", "retries_spent"];

/// The Ed25519 key `endpoint` signs `v1a` with, opened (`None`: it has none, or it does not
/// open — alarmed).
pub fn signing_key(config: &WebhookConfig, endpoint: &WebhookEndpoint) -> Option<SigningKey> {
    let sealed = endpoint.signing_key.as_deref()?;
    let context = key_context(&endpoint.partner, &endpoint.endpoint, &endpoint.url);
    let opened = open_text(config, &context, sealed).and_then(|text| SigningKey::parse(&text).ok());
    if opened.is_none() {
        stalled(&endpoint.partner, &endpoint.endpoint, "v1a key");
    }
    opened
}

/// The secrets `endpoint` signs with at `now` (the current first), opened, each under the URL
/// and end it was sealed for. One that does not open is left out and alarmed.
pub fn signing_secrets(config: &WebhookConfig, endpoint: &WebhookEndpoint, now: Timestamp) -> Vec<SigningSecret> {
    endpoint
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .filter_map(|s| {
            let context = context(&endpoint.partner, &endpoint.endpoint, &endpoint.url, s.expires_at);
            let opened = open_text(config, &context, &s.sealed).and_then(|text| SigningSecret::parse(&text).ok());
            if opened.is_none() {
                stalled(&endpoint.partner, &endpoint.endpoint, "secret");
            }
            opened
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    /// Registration in AWS: a name is judged by every address it resolves to now.
    #[test]
    fn a_name_that_resolves_to_a_forbidden_address_is_refused() {
        let url = EndpointUrl::parse("https://hooks.partner.example/in", Mode::Aws).unwrap();
        assert_eq!(resolved_ok(&url, Mode::Aws, Some(&ips(&["93.184.215.14"]))), Ok(()));
        for forbidden in [
            vec!["127.0.0.1"],
            vec!["::1"],
            vec!["10.1.2.3"],
            vec!["169.254.169.254"],
            vec!["fd00:ec2::254"],
            vec!["::ffff:127.0.0.1"],
            // One bad address among good ones is enough: the name could answer either.
            vec!["93.184.215.14", "192.168.0.10"],
        ] {
            let refused = resolved_ok(&url, Mode::Aws, Some(&ips(&forbidden)));
            assert!(refused.is_err(), "{forbidden:?}");
        }
        assert_eq!(
            resolved_ok(&url, Mode::Aws, None),
            Err("the host name does not resolve".to_owned())
        );
        assert!(resolved_ok(&url, Mode::Aws, Some(&[])).is_err());
        // Locally too, a name is never let through to loopback (only the literal 127.0.0.1).
        let local = EndpointUrl::parse("https://hooks.partner.example/in", Mode::Local).unwrap();
        assert!(resolved_ok(&local, Mode::Local, Some(&ips(&["127.0.0.1"]))).is_err());
    }

    #[tokio::test]
    async fn registration_resolves_the_name() {
        // `localhost.` with a trailing dot and other spellings are refused by their text; a
        // name that does not resolve is refused after the lookup.
        let mut errors = Vec::new();
        assert!(
            parse_url("https://does-not-exist.invalid/hook", Mode::Aws, &mut errors)
                .await
                .is_none()
        );
        assert_eq!(errors[0].field, "$.url");
        assert_eq!(errors[0].message, "the host name does not resolve");
    }
}
