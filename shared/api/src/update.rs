//! `PATCH /service-requests/{id}`: one action per call.
//!
//! `If-Match` is the only way to ask for a conflict. Without it, a change that loses a race
//! with another change is applied again to the fresh request (a note is simply appended; a
//! transition that is still valid goes through; one that is not answers 409 with the
//! domain's reason). With `If-Match: "<version>"` a stale version is 412, as is a request
//! that changes between the check and the write.

use std::time::{Duration, Instant};

use domain::{Action, ActionInput, Timestamp};
use http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use rand::RngExt;
use store::StoreError;

use crate::App;
use crate::http::{json_body, query_params, raw_json_response, with_etag};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::read::load;

/// How long a change that keeps losing races is re-applied. Each attempt may itself retry
/// its ledger append for up to `store::RETRY_BUDGET` (10 s), so the worst case, 12 s + 10 s,
/// stays inside the functions' 29-second timeout and API Gateway's 30.
const REAPPLY_BUDGET: Duration = Duration::from_secs(12);

/// What `If-Match` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Precondition {
    /// No `If-Match`: re-apply on a fresh read if another change wins.
    None,
    /// `If-Match: *`: the request must exist (it always does when found); re-apply as above.
    Any,
    /// `If-Match: "<version>"` (or a list of them): one of these versions, or 412.
    Versions(Vec<u64>),
}

pub async fn update(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    let role = caller.acting_role()?;
    query_params(request, &[])?;
    let precondition = if_match(request)?;
    let (input, _): (ActionInput, serde_json::Value) = json_body(request)?;
    let action = Action::parse(input)?;
    let actor = caller.actor(role);
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        let current = load(app, &caller, request).await?;
        if let Precondition::Versions(expected) = &precondition
            && !expected.contains(&current.version())
        {
            return Err(ApiError::PreconditionFailed {
                expected: expected.clone(),
                current: current.version(),
            });
        }
        let now = Timestamp::from(app.store.now());
        let (next, event) = current.apply(action.clone(), &actor, now, &app.policy)?;
        // The receipt key before anything is written (awaited at most once per process).
        let signer = app.receipts.signer().await?;
        // A partner's change holds only while its relationship with the customer is active
        // (checked in the write's own transaction); the vendor's staff are not limited by it.
        let saved = if caller.is_vendor() {
            app.store.save_change(&next, current.version(), &event).await
        } else {
            app.store.save_partner_change(&next, current.version(), &event).await
        };
        match saved {
            Ok(appended) => {
                tracing::info!(
                    partner = %next.partner_id(),
                    request_id = %next.id(),
                    event = event.kind(),
                    role = %role,
                    status = %next.status(),
                    sla = %next.sla().state,
                    seq = appended.seq,
                    reapplied = attempt,
                    "service request changed"
                );
                let body = serde_json::to_value(&next).map_err(|_| ApiError::Internal)?;
                let body = crate::receipts::attach(signer, body, &appended)?;
                return Ok(with_etag(
                    raw_json_response(StatusCode::OK, body.to_string()),
                    next.version(),
                ));
            }
            Err(StoreError::Conflict) => {
                if let Precondition::Versions(expected) = &precondition {
                    // Someone changed it between our read and our write.
                    return Err(ApiError::PreconditionFailed {
                        expected: expected.clone(),
                        current: current.version() + 1,
                    });
                }
                attempt += 1;
                if started.elapsed() > REAPPLY_BUDGET {
                    tracing::warn!(attempts = attempt, "a change kept losing races; giving up");
                    return Err(ApiError::Unavailable);
                }
                // Full jitter, growing: writers that collided spread out.
                let ceiling = (4u64 << attempt.min(5)).min(100);
                let wait = rand::rng().random_range(0..=ceiling);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `If-Match`: `*`, or a list of entity tags (`"3"`, `"3", "4"`) compared strongly (RFC 9110
/// §13.1.1): a weak tag (`W/"3"`) never matches. Only weak tags: 412 saying why.
fn if_match(request: &Request) -> Result<Precondition, ApiError> {
    let Some(value) = request.headers().get(header::IF_MATCH) else {
        return Ok(Precondition::None);
    };
    let bad = || ApiError::BadRequest {
        detail: "the If-Match header is invalid".into(),
        errors: vec![FieldMessage::new(
            "header:If-Match",
            "must be * or the quoted version (ETag) of the service request, e.g. \"3\" (a list: \"3\", \"4\")",
        )],
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() {
        // An empty list names no version: as if the header were absent.
        return Ok(Precondition::None);
    }
    if text == "*" {
        return Ok(Precondition::Any);
    }
    let mut versions = Vec::new();
    let mut weak = 0;
    for tag in text.split(',').map(str::trim) {
        let (is_weak, quoted) = match tag.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let version: u64 = quoted
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)?;
        if is_weak {
            weak += 1;
        } else {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err(if weak > 0 { ApiError::WeakPrecondition } else { bad() });
    }
    Ok(Precondition::Versions(versions))
}
