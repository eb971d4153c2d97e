//! The one mapping from errors to HTTP statuses: RFC 9457 `application/problem+json`.

use domain::{TransitionError, ValidationErrors};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;
use store::StoreError;

/// One bad field (JSON path in the body, or `query:<name>` / `path:<name>` / `header:<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

impl FieldMessage {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a handler can answer besides success. Messages are for the caller; nothing
/// internal (SDK text, stack, table names) is ever put in them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("no such service request")]
    NotFound,
    /// Something else the caller asked for does not exist (or is not theirs to see).
    #[error("{0}")]
    Missing(String),
    #[error("there is no such route; see the OpenAPI document at /openapi.json")]
    NoSuchRoute,
    #[error("this route does not take {method}; it takes {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// The body is not JSON, or not the members this operation takes: `errors` names where
    /// (`$` with the line and column for a syntax error, `$.member` for an unknown member).
    #[error("the request body is not valid JSON for this operation: {detail}")]
    MalformedJson { detail: String, errors: Vec<FieldMessage> },
    #[error("{detail}")]
    BadRequest { detail: String, errors: Vec<FieldMessage> },
    #[error("the request has invalid fields")]
    Validation(Vec<FieldMessage>),
    #[error("{0}")]
    UnprocessableAction(String),
    /// Larger than the operation takes (in KiB: 64 for JSON bodies, more for a CSV import).
    #[error("the request body is larger than {0} KiB")]
    PayloadTooLarge(usize),
    /// The body's Content-Type is not the one the operation takes (named).
    #[error("the request body must be {0}")]
    UnsupportedMediaType(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the service request is at version {current}, not {} as If-Match says; reload it", versions(.expected))]
    PreconditionFailed { expected: Vec<u64>, current: u64 },
    #[error(
        "If-Match is compared strongly: a weak entity tag (W/\"…\") never matches; send the ETag as it was returned"
    )]
    WeakPrecondition,
    #[error("the service is busy; retry shortly")]
    Unavailable,
    #[error("the support policy cannot compute this due time yet; the operator has been alerted")]
    PolicyOutOfDate,
    #[error("an internal error occurred")]
    Internal,
}

/// Every problem type the API answers with (`/problems/<slug>`), for the OpenAPI document.
pub const PROBLEM_TYPES: &[&str] = &[
    "/problems/unauthenticated",
    "/problems/forbidden",
    "/problems/not-found",
    "/problems/no-such-route",
    "/problems/method-not-allowed",
    "/problems/malformed-request",
    "/problems/bad-request",
    "/problems/validation-failed",
    "/problems/unprocessable-action",
    "/problems/payload-too-large",
    "/problems/unsupported-media-type",
    "/problems/conflict",
    "/problems/precondition-failed",
    "/problems/unavailable",
    "/problems/policy-out-of-date",
    "/problems/internal",
];

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::Missing(_) | ApiError::NoSuchRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MalformedJson { .. } | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::UnprocessableAction(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } | ApiError::WeakPrecondition => StatusCode::PRECONDITION_FAILED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PolicyOutOfDate | ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type (a relative URI documented in the README and the OpenAPI document).
    fn slug(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound | ApiError::Missing(_) => "not-found",
            ApiError::NoSuchRoute => "no-such-route",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::MalformedJson { .. } => "malformed-request",
            ApiError::BadRequest { .. } => "bad-request",
            ApiError::Validation(_) => "validation-failed",
            ApiError::UnprocessableAction(_) => "unprocessable-action",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed { .. } | ApiError::WeakPrecondition => "precondition-failed",
            ApiError::Unavailable => "unavailable",
            ApiError::PolicyOutOfDate => "policy-out-of-date",
            ApiError::Internal => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "Unauthenticated",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound | ApiError::Missing(_) => "Not found",
            ApiError::NoSuchRoute => "No such route",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::MalformedJson { .. } => "Malformed request",
            ApiError::BadRequest { .. } => "Bad request",
            ApiError::Validation(_) => "Validation failed",
            ApiError::UnprocessableAction(_) => "Action not possible",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Conflict(_) => "Conflict",
            ApiError::PreconditionFailed { .. } | ApiError::WeakPrecondition => "Precondition failed",
            ApiError::Unavailable => "Service unavailable",
            ApiError::PolicyOutOfDate => "Support policy out of date",
            ApiError::Internal => "Internal error",
        }
    }

    fn errors(&self) -> Vec<serde_json::Value> {
        let list: &[FieldMessage] = match self {
            ApiError::Validation(errors)
            | ApiError::BadRequest { errors, .. }
            | ApiError::MalformedJson { errors, .. } => errors,
            _ => &[],
        };
        list.iter()
            .map(|e| json!({ "field": e.field, "message": e.message }))
            .collect()
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let detail = match &self {
            ApiError::Validation(errors) => format!("{} field(s) are invalid; see errors", errors.len()),
            other => other.to_string(),
        };
        let body = json!({
            "type": format!("/problems/{}", self.slug()),
            "title": self.title(),
            "status": status.as_u16(),
            "detail": detail,
            "errors": self.errors(),
        });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            ApiError::Unauthenticated => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            ApiError::Unavailable => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(
            errors
                .errors
                .iter()
                .map(|e| FieldMessage::new(&e.field, e.problem.to_string()))
                .collect(),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => {
                ApiError::Conflict("the service request was changed concurrently; reload it and retry".into())
            }
            StoreError::NotFound => ApiError::NotFound,
            StoreError::NoRelationship => ApiError::Validation(vec![FieldMessage::new(
                "path:customerId",
                "your organisation has no active Cloud Solution Provider relationship with this customer; the vendor registers relationships (PUT /relationships/{partnerId}/{customerId})",
            )]),
            StoreError::RelationshipEnded => ApiError::Forbidden(
                "your organisation's Cloud Solution Provider relationship with this request's customer is not active: its requests are closed to you, except their evidence (GET /service-requests/{id}/evidence) and your ledger (GET /ledger/...)".into(),
            ),
            StoreError::IdempotencyMismatch => {
                ApiError::Conflict("this Idempotency-Key was already used for a different request".into())
            }
            StoreError::InvalidCursor => ApiError::BadRequest {
                detail: "the cursor is not valid for this query".into(),
                errors: vec![FieldMessage::new(
                    "query:cursor",
                    "must be a nextCursor this API returned to you for the same query",
                )],
            },
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Contention => {
                tracing::warn!("ledger contention: append gave up");
                ApiError::Unavailable
            }
            StoreError::IntegrityAlarm(problem) => {
                // Counted by the stack's ledger-integrity alarm, as the signer's are.
                tracing::error!(integrity_alarm = "ledger", problem = %problem, "ledger integrity alarm: nothing written");
                ApiError::Unavailable
            }
            StoreError::Internal(detail) => {
                tracing::error!(error = %detail, "store failure");
                ApiError::Internal
            }
        }
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::NotPermitted { .. } | TransitionError::LoweredOnlyByPartner => {
                ApiError::Forbidden(e.to_string())
            }
            TransitionError::InvalidTransition { .. }
            | TransitionError::ReopenWindowClosed { .. }
            | TransitionError::NotAwaitingFirstResponse
            | TransitionError::AlreadyErased
            | TransitionError::NoReplyOwed
            | TransitionError::NotYetDue { .. }
            // The request is already so: a conflict with its current state (RFC 9110 §15.5.10).
            | TransitionError::SeverityUnchanged(_)
            | TransitionError::AssigneeUnchanged => ApiError::Conflict(e.to_string()),
            TransitionError::ConversationFull { .. } => ApiError::UnprocessableAction(e.to_string()),
            TransitionError::Policy(p) if p.is_beyond_horizon() => {
                // The metric filter behind the PolicyHorizon alarm matches this field.
                tracing::error!(policy_alarm = "holiday_horizon", error = %p, "the support policy's holidays do not reach this due time");
                ApiError::PolicyOutOfDate
            }
            TransitionError::Policy(p) => {
                tracing::error!(error = %p, "support policy failure");
                ApiError::Internal
            }
        }
    }
}

/// `3`, or `3 or 4`: the versions an If-Match named.
fn versions(expected: &[u64]) -> String {
    expected.iter().map(u64::to_string).collect::<Vec<_>>().join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_is_listed_for_the_document() {
        let every = [
            ApiError::Unauthenticated,
            ApiError::Forbidden(String::new()),
            ApiError::NotFound,
            ApiError::Missing(String::new()),
            ApiError::NoSuchRoute,
            ApiError::MethodNotAllowed {
                method: String::new(),
                allow: String::new(),
            },
            ApiError::MalformedJson {
                detail: String::new(),
                errors: Vec::new(),
            },
            ApiError::BadRequest {
                detail: String::new(),
                errors: Vec::new(),
            },
            ApiError::Validation(Vec::new()),
            ApiError::UnprocessableAction(String::new()),
            ApiError::PayloadTooLarge(64),
            ApiError::UnsupportedMediaType("application/json"),
            ApiError::Conflict(String::new()),
            ApiError::PreconditionFailed {
                expected: vec![1],
                current: 2,
            },
            ApiError::WeakPrecondition,
            ApiError::Unavailable,
            ApiError::PolicyOutOfDate,
            ApiError::Internal,
        ];
        for e in every {
            let slug = format!("/problems/{}", e.slug());
            assert!(PROBLEM_TYPES.contains(&slug.as_str()), "{slug}");
        }
    }

    #[test]
    fn a_policy_past_its_holiday_years_is_a_5xx_problem_that_says_so_and_no_more() {
        let horizon = domain::PolicyError::BeyondHorizon {
            calendar: "de".into(),
            date: chrono::NaiveDate::from_ymd_opt(2046, 1, 2).unwrap(),
            first: 2026,
            last: 2045,
        };
        let error = ApiError::from(TransitionError::Policy(horizon));
        assert!(matches!(error, ApiError::PolicyOutOfDate));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["type"], "/problems/policy-out-of-date", "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            !detail.contains("2045") && !detail.contains("calendar de"),
            "no internals: {detail}"
        );
        // Any other policy failure stays an opaque internal error.
        let other = ApiError::from(TransitionError::Policy(domain::PolicyError::NoOpeningHours(
            "de".into(),
        )));
        assert!(matches!(other, ApiError::Internal));
    }
}
