//! # ledgerdesk domain: the support-policy rules
//!
//! A CSP partner files service requests on behalf of its customers (or, with proof of an
//! entitlement, for its own tenant). This crate holds the rules, and nothing else: no AWS,
//! no async runtime, no I/O. Everything that crosses the boundary is parsed into a newtype
//! here ([`Title`], [`CustomerId`], [`LanguageTag`], …) and a parse reports **every** bad field
//! with its JSON path ([`ValidationErrors`]).
//!
//! - [`NewServiceRequest::parse`] validates a create body: the partner's contact (email only —
//!   there is no telephone support), an entitlement for the partner's own tenant, fee
//!   coverage only for Azure.
//! - [`ServiceRequest::open`] opens it: support plan, the fee ([`SupportPolicy::fee`]), and the initial-response
//!   due time from the versioned [`SupportPolicy`] (`policy/support-policy.toml`).
//! - [`ServiceRequest::apply`] moves it through its life ([`lifecycle`]) and
//!   [`ServiceRequest::mark_breached`] records a missed first response; each returns the
//!   [`DomainEvent`] the audit ledger records.
//!
//! ## Worked example: a German Severity A request on a Friday afternoon
//!
//! German-language support works Monday to Friday, 09:00–17:00 Europe/Berlin. A Severity A
//! break-fix request opened on Friday 27 November 2026 at 16:30 CET (15:30 UTC) has a 2-hour
//! target: 30 minutes run on Friday, the weekend does not count, and the other 90 minutes run
//! from 09:00 on Monday. The first response is due **Monday 30 November 2026, 10:30 CET
//! (09:30 UTC)**.
//!
//! ```
//! use domain::*;
//!
//! let policy = SupportPolicy::embedded()?;
//! let partner = PartnerId::parse("contoso-partner")?;
//! let agent = Actor::new(Role::PartnerAgent, Subject::parse("agent-7")?);
//! let input: NewRequestInput = serde_json::from_value(serde_json::json!({
//!     "product": "azure",
//!     "category": "technical",
//!     "severity": "A",
//!     "supportTopic": "Virtual machines / cannot connect",
//!     "title": "Production VMs unreachable",
//!     "description": "All VMs in West Europe stopped answering at 16:10.",
//!     "language": "de-DE",
//!     "contact": { "name": "Erika Partner", "email": "erika@partner.example" }
//! }))?;
//! let new = NewServiceRequest::parse(
//!     input,
//!     TenantInput::Customer("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
//!     &partner,
//! )?;
//! let opened = Timestamp::parse("2026-11-27T16:30:00+01:00")?;
//! let id = RequestId::new(opened.datetime(), 42);
//! let (request, event) = ServiceRequest::open(new, partner, id, opened, &agent, &policy)?;
//!
//! assert_eq!(request.sla().due_at.to_string(), "2026-11-30T09:30:00.000Z");
//! assert_eq!(request.sla().calendar, "de");
//! assert_eq!(request.sla().target_minutes, 120);
//! assert_eq!(request.sla().policy_version, policy.version());
//! assert_eq!(request.support_plan(), SupportPlan::CloudSolutionProvider);
//! assert!(request.billable()); // Azure, and no benefit declared to cover the fee
//! assert_eq!(event.kind(), "created");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

mod enums;
mod error;
mod event;
pub mod explain;
mod ids;
pub mod lifecycle;
pub mod personal;
mod policy;
mod request;
mod text;
pub mod topics;
mod values;

pub use enums::{
    Category, ContactMethod, CycleOutcome, EntitlementKind, FeeBasis, FeeCoverage, Party, Product, Role, Scope,
    Severity, SlaState, Status, SupportPlan,
};
pub use error::{FieldError, Problem, ValidationErrors};
pub use event::{Change, DomainEvent, ENTRY_KINDS, Snapshot};
pub use ids::{CustomerId, IdempotencyKey, PartnerId, RequestId, Subject};
pub use lifecycle::{Action, ActionInput, Actor, AssignTo, REOPEN_WINDOW_DAYS, TransitionError};
pub use personal::{CaseReference, CommitmentId, ErasureScope, LegalBasis, Personal};
pub use policy::{
    Calendar, EMBEDDED_POLICY, Fee, HolidaySet, InitialResponseDue, Owed, PUBLISHED_POLICIES, PolicyError, PolicyRef,
    PublishedPolicy, ResponseCycle, Sla, SupportPolicy, policy_digest, published_policies, published_policy,
};
pub use request::{
    Contact, ContactInput, Conversation, Entitlement, EntitlementInput, NewRequestInput, NewServiceRequest, OpenError,
    ServiceRequest, TenantInput, Written,
};
pub use text::{ContactName, Description, EntitlementReference, Message, SupportTopic, Title};
pub use values::{Email, LanguageTag, Phone, Timestamp};
