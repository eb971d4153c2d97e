//! Store errors: typed for callers, with SDK detail kept for logs only.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What can go wrong in the store. `Display` is safe to show to a caller; the `String`s
/// carry detail for logs (see [`StoreError::detail`]) and never reach an API response.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request changed since it was read (optimistic concurrency).
    #[error("the service request was changed concurrently; reload it and retry")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// The `Idempotency-Key` was used before with a different request.
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyMismatch,
    /// A pagination cursor failed authentication or belongs to another query.
    #[error("the cursor is not valid for this query")]
    InvalidCursor,
    /// Throttled, unreachable or timed out: retry later.
    #[error("the store is temporarily unavailable; retry")]
    Unavailable(String),
    /// The partner has no active relationship with the customer.
    #[error("the partner has no active relationship with this customer")]
    NoRelationship,
    /// A partner changes a request of a customer its relationship with has ended (or never
    /// was active): nothing written. Its own evidence and ledger stay readable.
    #[error("the partner's relationship with this request's customer has ended")]
    RelationshipEnded,
    /// Appends to one partner's ledger kept colliding; retry later.
    #[error("the partner's audit ledger is busy; retry")]
    Contention,
    /// The ledger's stored state cannot be right (e.g. a chain head stamped ahead of this
    /// writer's clock: FORMAT.md §2.2): nothing is written, and the alarm is raised.
    #[error("the audit ledger needs attention; retry later")]
    IntegrityAlarm(String),
    /// A bug or a broken record.
    #[error("internal store error")]
    Internal(String),
}

impl StoreError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        StoreError::Internal(e.to_string())
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Contention)
    }

    /// The detail to log (never to return to a caller).
    pub fn detail(&self) -> Option<&str> {
        match self {
            StoreError::Unavailable(d) | StoreError::Internal(d) | StoreError::IntegrityAlarm(d) => Some(d),
            _ => None,
        }
    }
}

/// DynamoDB error codes after which a retry may succeed.
const RETRYABLE: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Map an SDK error to a store error.
pub(crate) fn sdk<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(detail)
        }
        SdkError::ServiceError(service) if service.err().code().is_some_and(|c| RETRYABLE.contains(&c)) => {
            StoreError::Unavailable(detail)
        }
        _ => StoreError::Internal(detail),
    }
}
