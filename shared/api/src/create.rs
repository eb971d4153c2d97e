//! `POST /customers/{customerId}/service-requests` and `POST /service-requests`.

use domain::{IdempotencyKey, NewRequestInput, NewServiceRequest, RequestId, ServiceRequest, TenantInput, Timestamp};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};
use store::{CreateOutcome, IdempotencyClaim};

use crate::App;
use crate::http::{json_body, path_param, raw_json_response, with_etag};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::routes::WRITE;

pub async fn create(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[WRITE])?;
    let partner = caller.partner()?.clone();
    let key = idempotency_key(request)?;
    let (input, body): (NewRequestInput, serde_json::Value) = json_body(request)?;
    let tenant = match path_param(request, "customerId") {
        Some(customer) => TenantInput::Customer(customer),
        None => TenantInput::PartnerOwn,
    };
    let new = NewServiceRequest::parse(input, tenant, &partner)?;
    let now = Timestamp::from(app.store.now());
    let id = RequestId::new(now.datetime(), rand::random());
    let actor = caller.actor(domain::Role::PartnerAgent);
    let (created, event) =
        ServiceRequest::open(new, partner.clone(), id, now, &actor, &app.policy).map_err(|e| match e {
            domain::OpenError::Transition(t) => ApiError::from(t),
            domain::OpenError::Policy(p) => ApiError::from(domain::TransitionError::Policy(p)),
        })?;
    let resource = serde_json::to_value(&created).map_err(|_| ApiError::Internal)?;
    let fingerprint = fingerprint(request, &body);
    let claim = key.as_ref().map(|key| IdempotencyClaim {
        key,
        fingerprint: &fingerprint,
        response: &resource,
        now,
    });
    // The receipt key before anything is written (FORMAT.md §10: every write gets one).
    let signer = app.receipts.signer().await?;
    // The relationship with the customer is checked inside the same transaction.
    let (resource, appended, replayed) = match app.store.create_request(&created, &event, claim).await? {
        CreateOutcome::Created(appended) => (resource, appended, false),
        CreateOutcome::Replayed { response, appended } => (response, appended, true),
    };
    let id = resource["id"].as_str().unwrap_or_default().to_owned();
    let version = resource["version"].as_u64().unwrap_or(1);
    tracing::info!(partner = %partner, request_id = %id, replayed, severity = %created.severity(), seq = appended.seq, "service request created");
    let body = crate::receipts::attach(signer, resource, &appended)?;
    let mut response = with_etag(raw_json_response(StatusCode::CREATED, body.to_string()), version);
    if let Ok(location) = HeaderValue::from_str(&format!("/service-requests/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    match request.headers().get("idempotency-key") {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| IdempotencyKey::parse(v).ok())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest {
                detail: "the Idempotency-Key header is invalid".into(),
                errors: vec![FieldMessage::new(
                    "header:Idempotency-Key",
                    "must be 1-255 printable ASCII characters",
                )],
            }),
    }
}

/// What makes two creates "the same request": the route (customer) and the body as JSON
/// (whitespace and member order do not matter).
fn fingerprint(request: &Request, body: &serde_json::Value) -> String {
    let mut hash = Sha256::new();
    hash.update(request.uri().path().as_bytes());
    hash.update([0]);
    hash.update(body.to_string().as_bytes());
    hex::encode(hash.finalize())
}
