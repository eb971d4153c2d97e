//! The life of a request: who may do what, in which status, and what it changes.
//!
//! ```text
//!            respond / await_partner (support)            resolve (support)
//!   open ──────────────────────────────────▶ in_progress ◀──────▶ awaiting_partner ───┐
//!    │                                         │   ▲        respond / partner note      │
//!    │ close (partner: withdraw)               │   └──── reopen (≤ 14 days) ────┐       │
//!    ▼                                         ▼ resolve (support)             │       │
//!  closed ◀──────── close (partner, support) ── resolved ◀──────────────────────┼───────┘
//!    └──────────────── reopen (≤ 14 days) ──────────────────────────────────────┘
//! ```
//!
//! | action | who | from | to |
//! |---|---|---|---|
//! | `respond` | support engineer | open, in_progress, awaiting_partner | in_progress |
//! | `await_partner` | support engineer | open, in_progress | awaiting_partner |
//! | `note` | partner agent, support engineer | any but closed | unchanged; a partner's note on awaiting_partner → in_progress |
//! | `resolve` | support engineer | in_progress, awaiting_partner | resolved |
//! | `close` | partner agent (any but closed), support engineer (resolved) | | closed |
//! | `reopen` | partner agent, support engineer | resolved, closed, within 14 days | in_progress (open if never answered) |
//! | `change_severity` | partner agent (raise or lower), support engineer (raise only) | open, in_progress, awaiting_partner | unchanged |
//! | `assign` | support engineer | any but closed | unchanged: `assignee` is the engineer (`me`, a subject) or nobody |
//!
//! The first `respond` or `await_partner` is the **first response**: it stops the
//! initial-response clock (`met` if on time, `breached` if late). Changing the severity while
//! a clock runs moves its due time by rules a dispute can live with: **raised**, it is due by
//! the new target counted from the change, or at the old due time if that comes first (never
//! late at once); **lowered** (by the partner only, who declares the business impact), by the
//! new target counted from the clock's start, but never earlier than before and not at all
//! once the old due time has passed. Every change is ledgered with who, why, and both times.
//!
//! After it, the **next-response clock**: a partner's note (or reopen) on an answered
//! request starts a cycle in which support owes a reply within the policy's next-response
//! target; support's `respond`, `await_partner` or `resolve` ends it (`met` or `breached`),
//! a partner's `close` withdraws it. `await_partner` leaves the partner owing information:
//! no vendor clock runs until they reply. The sweep records a cycle's breach once
//! (`next_response_breached`, with the cycle number).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::enums::{CycleOutcome, Party, Role, Severity, SlaState, Status};
use crate::error::{Collector, Problem, ValidationErrors};
use crate::event::{Change, DomainEvent};
use crate::ids::Subject;
use crate::policy::{Owed, PolicyError, ResponseCycle, SupportPolicy};
use crate::request::{Conversation, ServiceRequest, Written};
use crate::text::Message;
use crate::values::Timestamp;

/// How long after being resolved or closed a request can be reopened.
pub const REOPEN_WINDOW_DAYS: i64 = 14;

/// Who acts: a role and the token subject that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub role: Role,
    pub subject: Subject,
}

impl Actor {
    pub fn new(role: Role, subject: Subject) -> Self {
        Self { role, subject }
    }

    /// The SLA sweep.
    pub fn system(name: &str) -> Result<Self, Problem> {
        Ok(Self {
            role: Role::System,
            subject: Subject::parse(name)?,
        })
    }
}

/// A change a person asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Respond {
        message: Message,
    },
    Note {
        message: Message,
    },
    AwaitPartner {
        message: Message,
    },
    Resolve {
        message: Message,
    },
    Close {
        reason: Option<Message>,
    },
    Reopen {
        reason: Message,
    },
    ChangeSeverity {
        severity: Severity,
        reason: Option<Message>,
    },
    Assign {
        to: AssignTo,
    },
}

/// Whom an `assign` gives the request to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignTo {
    /// The engineer acting.
    Me,
    /// Another engineer, by their token subject.
    Engineer(Subject),
    /// Nobody: release it to the queue.
    Nobody,
}

impl Action {
    /// The text this action writes (message, note or reason), if any.
    pub fn text(&self) -> Option<&Message> {
        match self {
            Action::Respond { message }
            | Action::Note { message }
            | Action::AwaitPartner { message }
            | Action::Resolve { message }
            | Action::Reopen { reason: message } => Some(message),
            Action::Close { reason } | Action::ChangeSeverity { reason, .. } => reason.as_ref(),
            Action::Assign { .. } => None,
        }
    }

    pub const NAMES: &'static str = "respond, note, await_partner, resolve, close, reopen, change_severity, assign";

    pub fn name(&self) -> &'static str {
        match self {
            Action::Respond { .. } => "respond",
            Action::Note { .. } => "note",
            Action::AwaitPartner { .. } => "await_partner",
            Action::Resolve { .. } => "resolve",
            Action::Close { .. } => "close",
            Action::Reopen { .. } => "reopen",
            Action::ChangeSeverity { .. } => "change_severity",
            Action::Assign { .. } => "assign",
        }
    }

    /// Parse a PATCH body, reporting every bad field.
    pub fn parse(input: ActionInput) -> Result<Self, ValidationErrors> {
        let mut c = Collector::new();
        let Some(name) = c.required("$.action", input.action, |s| {
            ACTION_NAMES
                .iter()
                .copied()
                .find(|n| *n == s)
                .ok_or(Problem::NotOneOf { allowed: Self::NAMES })
        }) else {
            c.finish()?;
            return Err(ValidationErrors { errors: Vec::new() });
        };
        let uses = |field: &str| match field {
            "message" => matches!(name, "respond" | "note" | "await_partner" | "resolve"),
            "reason" => matches!(name, "close" | "reopen" | "change_severity"),
            "severity" => name == "change_severity",
            "assignee" => name == "assign",
            _ => false,
        };
        for (field, present) in [
            ("message", input.message.is_some()),
            ("reason", input.reason.is_some()),
            ("severity", input.severity.is_some()),
            ("assignee", input.assignee.is_some()),
        ] {
            if present && !uses(field) {
                c.push(&format!("$.{field}"), Problem::NotForAction { action: name });
            }
        }
        let message = |c: &mut Collector| c.required("$.message", input.message.clone(), |s| Message::parse(&s));
        let reason = |c: &mut Collector| c.optional("$.reason", input.reason.clone(), |s| Message::parse(&s));
        let action = match name {
            "respond" => message(&mut c).map(|message| Action::Respond { message }),
            "note" => message(&mut c).map(|message| Action::Note { message }),
            "await_partner" => message(&mut c).map(|message| Action::AwaitPartner { message }),
            "resolve" => message(&mut c).map(|message| Action::Resolve { message }),
            "close" => reason(&mut c).map(|reason| Action::Close { reason }),
            "reopen" => c
                .required("$.reason", input.reason.clone(), |s| Message::parse(&s))
                .map(|reason| Action::Reopen { reason }),
            "assign" => match input.assignee.clone() {
                None => {
                    c.push("$.assignee", Problem::Required);
                    None
                }
                Some(None) => Some(Action::Assign { to: AssignTo::Nobody }),
                Some(Some(who)) if who == "me" => Some(Action::Assign { to: AssignTo::Me }),
                Some(Some(who)) => c
                    .required("$.assignee", Some(who), |s| Subject::parse(&s))
                    .map(|subject| Action::Assign {
                        to: AssignTo::Engineer(subject),
                    }),
            },
            _ => {
                let severity = c.required("$.severity", input.severity.clone(), |s| Severity::parse(&s));
                let reason = reason(&mut c);
                severity
                    .zip(reason)
                    .map(|(severity, reason)| Action::ChangeSeverity { severity, reason })
            }
        };
        c.finish()?;
        action.ok_or_else(|| ValidationErrors { errors: Vec::new() })
    }
}

const ACTION_NAMES: [&str; 8] = [
    "respond",
    "note",
    "await_partner",
    "resolve",
    "close",
    "reopen",
    "change_severity",
    "assign",
];

/// The PATCH body exactly as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionInput {
    pub action: Option<String>,
    pub message: Option<String>,
    pub reason: Option<String>,
    pub severity: Option<String>,
    /// `assign`: `"me"`, an engineer's subject, or `null` to release (absent: not given).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Option<String>>,
}

/// A member that is present (even as `null`) is `Some`; an absent one stays `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a {role} may not {action} a service request")]
    NotPermitted { action: &'static str, role: Role },
    #[error("cannot {action} a service request that is {status}")]
    InvalidTransition { action: &'static str, status: Status },
    #[error("a service request can be reopened within 14 days of becoming {status}; that window ended at {deadline}")]
    ReopenWindowClosed { status: Status, deadline: Timestamp },
    #[error("the severity is already {0}")]
    SeverityUnchanged(Severity),
    #[error(
        "this side has taken {} actions and written {} texts ({} bytes) on this service request; at most {} actions, {} texts and {} bytes are kept per side, and this action's text has {bytes} bytes: open a new request that refers to this one",
        written.actions, written.texts, written.bytes, Conversation::MAX_ACTIONS, Conversation::MAX_TEXTS, Conversation::MAX_BYTES
    )]
    ConversationFull { written: Written, bytes: u64 },
    #[error(
        "only the partner lowers a severity: it declares the business impact (support may raise one, or ask the partner in a note)"
    )]
    LoweredOnlyByPartner,
    #[error("the service request already has this assignee")]
    AssigneeUnchanged,
    #[error("support owes no reply on this service request")]
    NoReplyOwed,
    #[error("the service request does not await a first response")]
    NotAwaitingFirstResponse,
    #[error("the first response is not due before {due_at}")]
    NotYetDue { due_at: Timestamp },
    #[error("the service request's personal data was erased already")]
    AlreadyErased,
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

use Status::{AwaitingPartner, Closed, InProgress, Open, Resolved};

impl ServiceRequest {
    /// Apply `action` by `actor` at `at`: the request afterwards and the event to record.
    pub fn apply(
        &self,
        action: Action,
        actor: &Actor,
        at: Timestamp,
        policy: &SupportPolicy,
    ) -> Result<(ServiceRequest, DomainEvent), TransitionError> {
        let name = action.name();
        let role = actor.role;
        let permitted = match &action {
            Action::Respond { .. } | Action::AwaitPartner { .. } | Action::Resolve { .. } => {
                role == Role::SupportEngineer
            }
            Action::Note { .. } | Action::Close { .. } | Action::Reopen { .. } | Action::ChangeSeverity { .. } => {
                matches!(role, Role::PartnerAgent | Role::SupportEngineer)
            }
            Action::Assign { .. } => role == Role::SupportEngineer,
        };
        if !permitted {
            return Err(TransitionError::NotPermitted { action: name, role });
        }
        let from = self.status;
        let allowed_from: &[Status] = match (&action, role) {
            (Action::Respond { .. }, _) => &[Open, InProgress, AwaitingPartner],
            (Action::AwaitPartner { .. }, _) => &[Open, InProgress],
            (Action::Note { .. }, _) => &[Open, InProgress, AwaitingPartner, Resolved],
            (Action::Resolve { .. }, _) => &[InProgress, AwaitingPartner],
            (Action::Close { .. }, Role::SupportEngineer) => &[Resolved],
            (Action::Close { .. }, _) => &[Open, InProgress, AwaitingPartner, Resolved],
            (Action::Reopen { .. }, _) => &[Resolved, Closed],
            (Action::ChangeSeverity { .. }, _) => &[Open, InProgress, AwaitingPartner],
            (Action::Assign { .. }, _) => &[Open, InProgress, AwaitingPartner, Resolved],
        };
        if !allowed_from.contains(&from) {
            return Err(TransitionError::InvalidTransition {
                action: name,
                status: from,
            });
        }
        // Events never go back in time, even if a clock does.
        let at = at.max(self.updated_at);
        let mut next = self.clone();
        {
            let side = if role == Role::PartnerAgent {
                &mut next.conversation.partner
            } else {
                &mut next.conversation.vendor
            };
            let bytes = action.text().map_or(0, |text| text.as_str().len() as u64);
            let texts = u32::from(action.text().is_some());
            let full = side.actions >= Conversation::MAX_ACTIONS
                || side.texts + texts > Conversation::MAX_TEXTS
                || side.bytes + bytes > Conversation::MAX_BYTES;
            let owed_reply = role == Role::SupportEngineer
                && matches!(
                    action,
                    Action::Respond { .. } | Action::AwaitPartner { .. } | Action::Resolve { .. }
                )
                && self.reply_owed().is_some()
                && bytes <= Conversation::OWED_REPLY_BYTES;
            if full && !owed_reply {
                return Err(TransitionError::ConversationFull { written: *side, bytes });
            }
            side.actions += 1;
            side.texts += texts;
            side.bytes += bytes;
        }
        let change = match action {
            Action::Respond { message } => {
                next.status = InProgress;
                if next.record_first_response(at) {
                    Change::FirstResponse { message }
                } else {
                    next.settle_reply(at, CycleOutcome::Met);
                    Change::ResponseAdded { message }
                }
            }
            Action::AwaitPartner { message } => {
                next.status = AwaitingPartner;
                let first = next.record_first_response(at);
                next.settle_reply(at, CycleOutcome::Met);
                next.sla.current = Some(Owed::partner(at));
                if first {
                    Change::FirstResponse { message }
                } else {
                    Change::StatusChanged {
                        from,
                        to: AwaitingPartner,
                        message: Some(message),
                    }
                }
            }
            Action::Note { message } => {
                if role == Role::PartnerAgent && from == AwaitingPartner {
                    next.status = InProgress;
                }
                if role == Role::PartnerAgent && matches!(from, InProgress | AwaitingPartner) {
                    next.owe_reply(at, policy)?;
                }
                Change::NoteAdded { message }
            }
            Action::Resolve { message } => {
                next.status = Resolved;
                next.settle_reply(at, CycleOutcome::Met);
                next.sla.current = None;
                Change::StatusChanged {
                    from,
                    to: Resolved,
                    message: Some(message),
                }
            }
            Action::Close { reason } => {
                next.status = Closed;
                // Closed unanswered after the first response fell due: the breach is recorded
                // now (the sweep does not look at closed requests), as a late reply ends a cycle
                // breached (policy 2026.12.4 on; before, the clock stayed pending).
                if policy.withdrawal_settles_first_response()
                    && next.sla.state == SlaState::Pending
                    && next.sla.first_response_at.is_none()
                    && at > next.sla.due_at
                {
                    next.sla.state = SlaState::Breached;
                    next.sla.breached_at = Some(at);
                }
                let outcome = if role == Role::PartnerAgent {
                    CycleOutcome::Withdrawn
                } else {
                    CycleOutcome::Met
                };
                next.settle_reply(at, outcome);
                next.sla.current = None;
                Change::StatusChanged {
                    from,
                    to: Closed,
                    message: reason,
                }
            }
            Action::Reopen { reason } => {
                let deadline =
                    Timestamp::from_datetime(self.status_since.datetime() + Duration::days(REOPEN_WINDOW_DAYS));
                if at > deadline {
                    return Err(TransitionError::ReopenWindowClosed { status: from, deadline });
                }
                let to = if next.sla.first_response_at.is_some() {
                    InProgress
                } else {
                    Open
                };
                next.status = to;
                if role == Role::PartnerAgent && to == InProgress {
                    next.owe_reply(at, policy)?;
                }
                // Withdrawn before any answer (and before its due time) and asked again: the
                // first response is owed by the target counted from the reopening (never
                // earlier than before), not from the opening, which a closed request's clock
                // may have passed meanwhile. The entry's resulting state records the due time.
                // Only a withdrawal before the due time: one after it leaves the breach to be
                // recorded.
                let in_time = if policy.withdrawal_settles_first_response() {
                    self.status_since <= self.sla.due_at
                } else {
                    self.status_since < self.sla.due_at
                };
                if to == Open && next.sla.state == SlaState::Pending && in_time {
                    let due = policy.initial_response_due(at, self.category, self.severity, &self.language)?;
                    if due.due_at > next.sla.due_at {
                        next.sla.policy_version = due.policy_version;
                        next.sla.target_minutes = due.target_minutes;
                        next.sla.calendar = due.calendar;
                        next.sla.due_at = due.due_at;
                        next.sla.started_at = Some(at);
                    }
                }
                Change::StatusChanged {
                    from,
                    to,
                    message: Some(reason),
                }
            }
            Action::Assign { to } => {
                let assignee = match to {
                    AssignTo::Me => Some(actor.subject.clone()),
                    AssignTo::Engineer(subject) => Some(subject),
                    AssignTo::Nobody => None,
                };
                if assignee == self.assignee {
                    return Err(TransitionError::AssigneeUnchanged);
                }
                next.assignee = assignee.clone();
                Change::Assigned {
                    assignee,
                    previous_assignee: self.assignee.clone(),
                }
            }
            Action::ChangeSeverity { severity, reason } => {
                if severity == self.severity {
                    return Err(TransitionError::SeverityUnchanged(severity));
                }
                let raising = severity.is_more_severe_than(self.severity);
                if !raising && role != Role::PartnerAgent {
                    return Err(TransitionError::LoweredOnlyByPartner);
                }
                next.severity = severity;
                let previous_due_at = self.sla.due_at;
                // Once answered, the initial-response clock is settled; only a running clock moves.
                if self.sla.state == SlaState::Pending {
                    let due = if raising {
                        // Due by the new target counted from the change, unless the old due
                        // time comes first: raising never makes a request late at once.
                        Some(policy.initial_response_due(at, self.category, severity, &self.language)?)
                            .filter(|due| due.due_at < self.sla.due_at)
                    } else if self.sla.due_at > at {
                        // Lowered before its due time: the new target from the opening, but never
                        // earlier than the due time it had.
                        let started = self.sla.started_at.unwrap_or(self.created_at);
                        Some(policy.initial_response_due(started, self.category, severity, &self.language)?)
                            .filter(|due| due.due_at > self.sla.due_at)
                    } else {
                        // A due time that has passed is not moved by lowering the severity.
                        None
                    };
                    if let Some(due) = due {
                        next.sla.policy_version = due.policy_version;
                        next.sla.target_minutes = due.target_minutes;
                        next.sla.calendar = due.calendar;
                        next.sla.due_at = due.due_at;
                    }
                }
                // A reply support owes moves by the same rules (raised: from the change;
                // lowered: from the cycle's start, never earlier, never once passed).
                if let Some(owed) = next.sla.current.as_mut()
                    && owed.owed_by == Party::Vendor
                    && owed.state == Some(SlaState::Pending)
                    && let Some(old_due) = owed.due_at
                {
                    let due = if raising {
                        Some(policy.next_response_due(at, self.category, severity, &self.language)?)
                            .filter(|due| due.due_at < old_due)
                    } else if old_due > at {
                        Some(policy.next_response_due(owed.since, self.category, severity, &self.language)?)
                            .filter(|due| due.due_at > old_due)
                    } else {
                        None
                    };
                    if let Some(due) = due {
                        owed.policy_version = Some(due.policy_version);
                        owed.target_minutes = Some(due.target_minutes);
                        owed.due_at = Some(due.due_at);
                    }
                }
                let owed_due = |r: &ServiceRequest| {
                    r.sla
                        .current
                        .as_ref()
                        .filter(|o| o.owed_by == Party::Vendor)
                        .and_then(|o| o.due_at)
                };
                Change::SeverityChanged {
                    from: self.severity,
                    to: severity,
                    reason,
                    previous_due_at,
                    due_at: next.sla.due_at,
                    previous_reply_due_at: owed_due(self),
                    reply_due_at: owed_due(&next),
                }
            }
        };
        Ok(next.finish_change(from, at, actor, change, policy))
    }

    /// Record that no first response came by the due time. `at` is the sweep's "now".
    pub fn mark_breached(
        &self,
        at: Timestamp,
        actor: &Actor,
        policy: &SupportPolicy,
    ) -> Result<(ServiceRequest, DomainEvent), TransitionError> {
        if actor.role != Role::System {
            return Err(TransitionError::NotPermitted {
                action: "mark_breached",
                role: actor.role,
            });
        }
        if !self.awaits_first_response() {
            return Err(TransitionError::NotAwaitingFirstResponse);
        }
        if at <= self.sla.due_at {
            return Err(TransitionError::NotYetDue {
                due_at: self.sla.due_at,
            });
        }
        let at = at.max(self.updated_at);
        let mut next = self.clone();
        next.sla.state = SlaState::Breached;
        next.sla.breached_at = Some(at);
        let due_at = self.sla.due_at;
        Ok(next.finish_change(self.status, at, actor, Change::SlaBreached { due_at }, policy))
    }

    /// Record that support's reply in the current next-response cycle did not come by its due
    /// time (once per cycle). `at` is the sweep's "now".
    pub fn mark_next_response_breached(
        &self,
        at: Timestamp,
        actor: &Actor,
        policy: &SupportPolicy,
    ) -> Result<(ServiceRequest, DomainEvent), TransitionError> {
        if actor.role != Role::System {
            return Err(TransitionError::NotPermitted {
                action: "mark_next_response_breached",
                role: actor.role,
            });
        }
        let Some(owed) = self
            .sla
            .current
            .as_ref()
            .filter(|o| o.owed_by == Party::Vendor && o.state == Some(SlaState::Pending) && self.status != Closed)
        else {
            return Err(TransitionError::NoReplyOwed);
        };
        let (Some(due_at), Some(cycle)) = (owed.due_at, owed.cycle) else {
            return Err(TransitionError::NoReplyOwed);
        };
        if at <= due_at {
            return Err(TransitionError::NotYetDue { due_at });
        }
        let at = at.max(self.updated_at);
        let mut next = self.clone();
        if let Some(owed) = next.sla.current.as_mut() {
            owed.state = Some(SlaState::Breached);
            owed.breached_at = Some(at);
        }
        Ok(next.finish_change(
            self.status,
            at,
            actor,
            Change::NextResponseBreached { cycle, due_at },
            policy,
        ))
    }

    /// Erase the request's personal values (a privacy officer, on a data subject's request).
    /// `commitments` are the ledger commitments to every value being erased (the store knows
    /// them); the event names them, the basis and the case, and no personal data. Erasing an
    /// erased request is refused ([`TransitionError::AlreadyErased`]): the caller treats it
    /// as done.
    // What an erasure needs, each from another source (the caller's request, the store's
    // commitments, the body, the token, the clock, the policy): a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn erase_personal_data(
        &self,
        scope: crate::personal::ErasureScope,
        commitments: Vec<crate::personal::CommitmentId>,
        legal_basis: crate::personal::LegalBasis,
        reference: Option<crate::personal::CaseReference>,
        actor: &Actor,
        at: Timestamp,
        policy: &SupportPolicy,
    ) -> Result<(ServiceRequest, DomainEvent), TransitionError> {
        use crate::personal::{ErasureScope, Personal};
        if actor.role != Role::PrivacyOfficer {
            return Err(TransitionError::NotPermitted {
                action: "erase_personal_data",
                role: actor.role,
            });
        }
        if scope == ErasureScope::Request && self.personal_data_erased_at.is_some() {
            return Err(TransitionError::AlreadyErased);
        }
        let at = at.max(self.updated_at);
        let mut next = self.clone();
        if scope == ErasureScope::Request {
            next.title = Personal::Erased;
            next.description = Personal::Erased;
            // Optional free text: erased reads as absent (`null`), as it does on the wire.
            next.support_topic = None;
            next.contact.name = Personal::Erased;
            next.contact.email = Personal::Erased;
            next.contact.phone = None;
            if let Some(e) = next.entitlement.as_mut() {
                e.reference = Personal::Erased;
            }
            next.personal_data_erased_at = Some(at);
        }
        let status = self.status;
        Ok(next.finish_change(
            status,
            at,
            actor,
            Change::PersonalDataErased {
                scope,
                legal_basis,
                reference,
                commitments,
            },
            policy,
        ))
    }

    /// A partner's follow-up at `at`: support owes a reply (a new cycle), unless it already
    /// does — the clock counts from the earliest follow-up not yet answered.
    fn owe_reply(&mut self, at: Timestamp, policy: &SupportPolicy) -> Result<(), TransitionError> {
        if self.sla.first_response_at.is_none() || self.sla.current.as_ref().is_some_and(|o| o.owed_by == Party::Vendor)
        {
            return Ok(());
        }
        let due = policy.next_response_due(at, self.category, self.severity, &self.language)?;
        let cycle = u32::try_from(self.sla.cycles.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.sla.current = Some(Owed {
            owed_by: Party::Vendor,
            since: at,
            cycle: Some(cycle),
            policy_version: Some(due.policy_version),
            target_minutes: Some(due.target_minutes),
            due_at: Some(due.due_at),
            state: Some(SlaState::Pending),
            breached_at: None,
        });
        Ok(())
    }

    /// End the vendor's cycle, if one runs, at `at`: `ended` (met, withdrawn) if on time,
    /// breached if late or already breached.
    fn settle_reply(&mut self, at: Timestamp, ended: CycleOutcome) {
        let Some(owed) = self.sla.current.take() else {
            return;
        };
        let (Party::Vendor, Some(cycle), Some(due_at), Some(target), Some(version)) = (
            owed.owed_by,
            owed.cycle,
            owed.due_at,
            owed.target_minutes,
            owed.policy_version.clone(),
        ) else {
            // The partner owed information: nothing to record.
            return;
        };
        let late = owed.state == Some(SlaState::Breached) || at > due_at;
        let breached_at = owed.breached_at.or(late.then_some(at));
        self.sla.cycles.push(ResponseCycle {
            cycle,
            started_at: owed.since,
            due_at,
            target_minutes: target,
            policy_version: version,
            answered_at: (ended != CycleOutcome::Withdrawn).then_some(at),
            outcome: if late { CycleOutcome::Breached } else { ended },
            breached_at,
        });
    }

    /// Stop the initial-response clock at `at` if it runs; true if this was the first response.
    fn record_first_response(&mut self, at: Timestamp) -> bool {
        if self.sla.first_response_at.is_some() {
            return false;
        }
        self.sla.first_response_at = Some(at);
        if self.sla.state == SlaState::Pending {
            if at <= self.sla.due_at {
                self.sla.state = SlaState::Met;
            } else {
                self.sla.state = SlaState::Breached;
                self.sla.breached_at = Some(at);
            }
        }
        true
    }

    fn finish_change(
        mut self,
        from: Status,
        at: Timestamp,
        actor: &Actor,
        change: Change,
        policy: &SupportPolicy,
    ) -> (ServiceRequest, DomainEvent) {
        if self.status != from {
            self.status_since = at;
        }
        self.updated_at = at;
        self.version += 1;
        let event = DomainEvent::new(&self, actor, at, change, policy);
        (self, event)
    }
}
