//! Domain events: one per state change, carrying what a billing dispute or a fraud review
//! needs to see. The audit ledger records exactly these.

use serde::Serialize;

use crate::enums::{FeeBasis, FeeCoverage, Severity, SlaState, Status};
use crate::ids::{CustomerId, PartnerId, RequestId, Subject};
use crate::lifecycle::Actor;
use crate::personal::{CaseReference, CommitmentId, ErasureScope, LegalBasis};
use crate::policy::{PolicyRef, SupportPolicy};
use crate::request::ServiceRequest;
use crate::text::Message;
use crate::values::Timestamp;

/// Who did what to which request, when, and what the request looked like afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub request_id: RequestId,
    pub partner_id: PartnerId,
    pub customer_id: Option<CustomerId>,
    pub at: Timestamp,
    pub actor: Actor,
    /// The request's version after this change (1 for `created`).
    pub version: u64,
    /// The support policy in force for this change, by version and by the SHA-256 of its
    /// document: every due time, breach and fee in the entry was computed by it.
    pub policy: PolicyRef,
    #[serde(flatten)]
    pub change: Change,
    pub resulting: Snapshot,
}

/// What changed. Serialised as `"kind": "<snake_case name>", "change": {…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    content = "change",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Change {
    /// The request as filed, in full.
    Created {
        request: Box<ServiceRequest>,
    },
    /// Support's first answer: stops the initial-response clock.
    FirstResponse {
        message: Message,
    },
    /// A later answer from support.
    ResponseAdded {
        message: Message,
    },
    NoteAdded {
        message: Message,
    },
    StatusChanged {
        from: Status,
        to: Status,
        message: Option<Message>,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
        reason: Option<Message>,
        previous_due_at: Timestamp,
        due_at: Timestamp,
        /// While support owes a next reply: its due time before and after the change.
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_reply_due_at: Option<Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_due_at: Option<Timestamp>,
    },
    /// No first response by the due time.
    SlaBreached {
        due_at: Timestamp,
    },
    /// No reply by the due time of next-response cycle `cycle`.
    NextResponseBreached {
        cycle: u32,
        due_at: Timestamp,
    },
    /// Support took, handed on or released the request.
    Assigned {
        assignee: Option<Subject>,
        previous_assignee: Option<Subject>,
    },
    /// The request's personal values were erased; the ledger keeps only their commitments,
    /// listed here (and no personal data).
    PersonalDataErased {
        scope: ErasureScope,
        legal_basis: LegalBasis,
        reference: Option<CaseReference>,
        commitments: Vec<CommitmentId>,
    },
}

/// Every kind of entry a partner's chain holds: the request changes ([`Change::kind`]), and the
/// vendor's relationship changes and disclosures of personal data. A webhook endpoint names
/// the kinds it wants from these.
pub const ENTRY_KINDS: &[&str] = &[
    "created",
    "first_response",
    "response_added",
    "note_added",
    "status_changed",
    "severity_changed",
    "sla_breached",
    "next_response_breached",
    "assigned",
    "personal_data_erased",
    "relationship_changed",
    "personal_data_disclosed",
];

impl Change {
    /// The event's kind, as the ledger names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Created { .. } => "created",
            Change::FirstResponse { .. } => "first_response",
            Change::ResponseAdded { .. } => "response_added",
            Change::NoteAdded { .. } => "note_added",
            Change::StatusChanged { .. } => "status_changed",
            Change::SeverityChanged { .. } => "severity_changed",
            Change::SlaBreached { .. } => "sla_breached",
            Change::NextResponseBreached { .. } => "next_response_breached",
            Change::Assigned { .. } => "assigned",
            Change::PersonalDataErased { .. } => "personal_data_erased",
        }
    }
}

/// The request's billing- and SLA-relevant state after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub status: Status,
    pub severity: Severity,
    pub billable: bool,
    pub fee_basis: Option<FeeBasis>,
    pub fee_coverage: Option<FeeCoverage>,
    pub sla_state: SlaState,
    pub due_at: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
}

impl DomainEvent {
    pub(crate) fn new(
        after: &ServiceRequest,
        actor: &Actor,
        at: Timestamp,
        change: Change,
        policy: &SupportPolicy,
    ) -> Self {
        Self {
            policy: policy.pin(),
            request_id: after.id(),
            partner_id: after.partner_id().clone(),
            customer_id: after.customer_id().cloned(),
            at,
            actor: actor.clone(),
            version: after.version(),
            change,
            resulting: Snapshot {
                status: after.status(),
                severity: after.severity(),
                billable: after.billable(),
                fee_basis: after.fee_basis(),
                fee_coverage: after.fee_coverage(),
                sla_state: after.sla().state,
                due_at: after.sla().due_at,
                first_response_at: after.sla().first_response_at,
                breached_at: after.sla().breached_at,
            },
        }
    }

    pub fn kind(&self) -> &'static str {
        self.change.kind()
    }
}
