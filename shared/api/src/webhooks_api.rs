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
use crate::routes::WEBHOOKS_MANAGE;

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
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[WEBHOOKS_MANAGE])?;
    let partner = caller.partner()?.clone();
    let config = app.webhooks.as_ref().ok_or_else(|| {
        tracing::error!("a webhook route reached a function without the webhook seal key");
        ApiError::Internal
    })?;
    Ok((partner, config))
}

/// The sealed secret's associated data: whose endpoint it is.
fn context(partner: &PartnerId, id: &str) -> String {
    format!("{partner}/{id}")
}

/// The sealed Ed25519 key's: whose endpoint, and that it is the `v1a` key (a sealed secret
/// moved into its place does not open).
fn key_context(partner: &PartnerId, id: &str) -> String {
    format!("{partner}/{id}/v1a")
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
    let addresses: Result<Vec<IpAddr>, &str> = match host.parse::<IpAddr>() {
        Ok(ip) => Ok(vec![ip]),
        Err(_) => match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(found)) => Ok(found.map(|a| a.ip()).collect()),
            Ok(Err(_)) | Err(_) => Err("the host name does not resolve"),
        },
    };
    match addresses {
        Ok(addresses) if addresses.is_empty() => {
            errors.push(FieldMessage::new("$.url", "the host name does not resolve"));
            None
        }
        Ok(addresses) => {
            for ip in addresses {
                if let Err(e) = url.may_connect(ip, mode) {
                    errors.push(FieldMessage::new("$.url", e.to_string()));
                    return None;
                }
            }
            Some(url)
        }
        Err(problem) => {
            errors.push(FieldMessage::new("$.url", problem));
            None
        }
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
    let (partner, config) = manager(app, request)?;
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
            sealed: config
                .key
                .seal(&context(&partner, id.as_str()), secret.reveal().as_bytes()),
            expires_at: None,
        }],
        signing_key: Some(
            config
                .key
                .seal(&key_context(&partner, id.as_str()), key.reveal().as_bytes()),
        ),
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
    let mut endpoint = live(app, &partner, request).await?;
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
    if let Some(url) = url {
        endpoint.url = url.as_str().to_owned();
    }
    if let Some(kinds) = kinds {
        endpoint.kinds = kinds;
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
    let now = Timestamp::from(app.store.now());
    endpoint.updated_at = now;
    endpoint.version += 1;
    app.store.put_webhook_endpoint(&endpoint).await.map_err(conflict)?;
    json_response(StatusCode::OK, &view(&endpoint, now))
}

/// `DELETE /webhook-endpoints/{endpointId}`: 204; nothing is delivered to it again. The
/// record stays (which URL the partner's events went to, and until when).
pub async fn delete(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let (partner, _) = manager(app, request)?;
    query_params(request, &[])?;
    let mut endpoint = live(app, &partner, request).await?;
    let now = Timestamp::from(app.store.now());
    endpoint.deleted_at = Some(now);
    endpoint.updated_at = now;
    endpoint.state = EndpointState::DisabledByPartner;
    // Its secrets are of no further use to anyone.
    endpoint.secrets.clear();
    endpoint.signing_key = None;
    endpoint.version += 1;
    app.store.put_webhook_endpoint(&endpoint).await.map_err(conflict)?;
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
    let mut endpoint = live(app, &partner, request).await?;
    let now = Timestamp::from(app.store.now());
    let until = Timestamp::from(
        app.store.now() + chrono::Duration::seconds(i64::try_from(overlap).map_err(|_| ApiError::Internal)?),
    );
    // The outgoing secret signs until `until`; any older one keeps its own (earlier) end;
    // those already past are dropped.
    let mut secrets: Vec<SealedSecret> = endpoint
        .secrets
        .drain(..)
        .map(|mut s| {
            s.expires_at = Some(s.expires_at.map_or(until, |at| at.min(until)));
            s
        })
        .filter(|s| s.expires_at.is_some_and(|at| at > now))
        .collect();
    let secret = SigningSecret::generate();
    secrets.insert(
        0,
        SealedSecret {
            sealed: config
                .key
                .seal(&context(&partner, &endpoint.endpoint), secret.reveal().as_bytes()),
            expires_at: None,
        },
    );
    endpoint.secrets = secrets;
    endpoint.updated_at = now;
    endpoint.version += 1;
    app.store.put_webhook_endpoint(&endpoint).await.map_err(conflict)?;
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
    let (partner, _) = manager(app, request)?;
    query_params(request, &[])?;
    let (input, _): (ReplayInput, Value) = json_body(request)?;
    let Some(from) = input.from_seq else {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "$.fromSeq",
            "is required",
        )]));
    };
    let mut endpoint = live(app, &partner, request).await?;
    let chain = ledger::ChainId::parse(partner.as_str()).map_err(|_| ApiError::Internal)?;
    let size = app.store.chain_size(&chain).await?;
    if from > size {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "$.fromSeq",
            format!("must be at most {size}, the number of entries in the partner's chain"),
        )]));
    }
    endpoint.next_seq = from;
    endpoint.attempts = 0;
    endpoint.not_before_ms = 0;
    endpoint.state = EndpointState::Enabled;
    let now = Timestamp::from(app.store.now());
    endpoint.updated_at = now;
    endpoint.version += 1;
    app.store.put_webhook_endpoint(&endpoint).await.map_err(conflict)?;
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
/// open — logged).
pub fn signing_key(config: &WebhookConfig, endpoint: &WebhookEndpoint) -> Option<SigningKey> {
    let sealed = endpoint.signing_key.as_deref()?;
    let opened = config
        .key
        .open(&key_context(&endpoint.partner, &endpoint.endpoint), sealed)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| SigningKey::parse(&text).ok());
    if opened.is_none() {
        tracing::error!(partner = %endpoint.partner, endpoint = endpoint.endpoint, "a webhook signing key does not open");
    }
    opened
}

/// The secrets `endpoint` signs with at `now` (the current first), opened. A secret that does
/// not open is left out and logged: the item was altered, or sealed under another key.
pub fn signing_secrets(config: &WebhookConfig, endpoint: &WebhookEndpoint, now: Timestamp) -> Vec<SigningSecret> {
    endpoint
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .filter_map(|s| {
            let opened = config
                .key
                .open(&context(&endpoint.partner, &endpoint.endpoint), &s.sealed)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| SigningSecret::parse(&text).ok());
            if opened.is_none() {
                tracing::error!(partner = %endpoint.partner, endpoint = endpoint.endpoint, "a webhook secret does not open");
            }
            opened
        })
        .collect()
}
