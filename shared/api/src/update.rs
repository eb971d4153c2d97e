//! `PATCH /service-requests/{id}`: one action per call.

use domain::{Action, ActionInput, Timestamp};
use http::{StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::App;
use crate::http::{json_body, json_response, query_params, with_etag};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::read::load;

pub async fn update(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.partner_claim)?;
    let role = caller.acting_role()?;
    query_params(request, &[])?;
    let expected = if_match(request)?;
    let (input, _): (ActionInput, serde_json::Value) = json_body(request)?;
    let action = Action::parse(input)?;
    let current = load(app, &caller, request).await?;
    if let Some(expected) = expected
        && expected != current.version()
    {
        return Err(ApiError::PreconditionFailed {
            expected,
            current: current.version(),
        });
    }
    let now = Timestamp::from(chrono::Utc::now());
    let (next, event) = current.apply(action, &caller.actor(role), now, &app.policy)?;
    app.store.save_change(&next, current.version(), &event).await?;
    tracing::info!(
        partner = %next.partner_id(),
        request_id = %next.id(),
        event = event.kind(),
        role = %role,
        status = %next.status(),
        sla = %next.sla().state,
        "service request changed"
    );
    Ok(with_etag(json_response(StatusCode::OK, &next)?, next.version()))
}

/// `If-Match: "3"` (or `3`): the version the caller last saw.
fn if_match(request: &Request) -> Result<Option<u64>, ApiError> {
    let Some(value) = request.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest {
            detail: "the If-Match header is invalid".into(),
            errors: vec![FieldMessage::new(
                "header:If-Match",
                "must be the version (ETag) of the service request, e.g. \"3\"",
            )],
        })
}
