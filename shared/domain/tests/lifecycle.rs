//! The lifecycle: who may do what in which status, the first response, breaches, events.

mod common;

use common::*;
use domain::*;
use serde_json::json;

const OPENED: &str = "2026-11-24T10:00:00Z"; // Severity B, English: due 14:00Z

fn request() -> ServiceRequest {
    open(body(), OPENED)
}

fn apply(
    r: &ServiceRequest,
    action: Action,
    actor: &Actor,
    when: &str,
) -> Result<(ServiceRequest, DomainEvent), TransitionError> {
    r.apply(action, actor, at(when), policy())
}

fn respond() -> Action {
    Action::Respond {
        message: message("Looking into it."),
    }
}

/// A request in `status`, reached the usual way.
fn in_status(status: Status) -> ServiceRequest {
    let r = request();
    let ok = |r: &ServiceRequest, a: Action, who: &Actor| apply(r, a, who, "2026-11-24T11:00:00Z").unwrap().0;
    match status {
        Status::Open => r,
        Status::InProgress => ok(&r, respond(), &engineer()),
        Status::AwaitingPartner => ok(
            &r,
            Action::AwaitPartner {
                message: message("Logs, please."),
            },
            &engineer(),
        ),
        Status::Resolved => ok(
            &in_status(Status::InProgress),
            Action::Resolve {
                message: message("Fixed."),
            },
            &engineer(),
        ),
        Status::Closed => ok(&r, Action::Close { reason: None }, &agent()),
    }
}

fn all_actions() -> Vec<Action> {
    vec![
        respond(),
        Action::Note {
            message: message("note"),
        },
        Action::AwaitPartner {
            message: message("need logs"),
        },
        Action::Resolve {
            message: message("done"),
        },
        Action::Close { reason: None },
        Action::Reopen {
            reason: message("again"),
        },
        Action::ChangeSeverity {
            severity: Severity::A,
            reason: None,
        },
    ]
}

#[test]
fn transition_table() {
    use Status::*;
    // (action index in all_actions, actor is support?, from, expected resulting status or None for InvalidTransition)
    let table: &[(&str, bool, Status, Option<Status>)] = &[
        ("respond", true, Open, Some(InProgress)),
        ("respond", true, InProgress, Some(InProgress)),
        ("respond", true, AwaitingPartner, Some(InProgress)),
        ("respond", true, Resolved, None),
        ("respond", true, Closed, None),
        ("await_partner", true, Open, Some(AwaitingPartner)),
        ("await_partner", true, InProgress, Some(AwaitingPartner)),
        ("await_partner", true, AwaitingPartner, None),
        ("await_partner", true, Resolved, None),
        ("note", false, Open, Some(Open)),
        ("note", false, AwaitingPartner, Some(InProgress)),
        ("note", true, AwaitingPartner, Some(AwaitingPartner)),
        ("note", false, Resolved, Some(Resolved)),
        ("note", false, Closed, None),
        ("resolve", true, Open, None),
        ("resolve", true, InProgress, Some(Resolved)),
        ("resolve", true, AwaitingPartner, Some(Resolved)),
        ("resolve", true, Resolved, None),
        ("close", false, Open, Some(Closed)),
        ("close", false, InProgress, Some(Closed)),
        ("close", false, Resolved, Some(Closed)),
        ("close", false, Closed, None),
        ("close", true, InProgress, None),
        ("close", true, Resolved, Some(Closed)),
        ("reopen", false, Resolved, Some(InProgress)),
        ("reopen", false, Closed, Some(Open)), // withdrawn before any answer
        ("reopen", true, Resolved, Some(InProgress)),
        ("reopen", false, Open, None),
        ("reopen", false, InProgress, None),
        ("change_severity", false, Open, Some(Open)),
        ("change_severity", true, AwaitingPartner, Some(AwaitingPartner)),
        ("change_severity", false, Resolved, None),
        ("change_severity", false, Closed, None),
    ];
    for (name, support, from, expected) in table {
        let action = all_actions().into_iter().find(|a| a.name() == *name).unwrap();
        let who = if *support { engineer() } else { agent() };
        let r = in_status(*from);
        assert_eq!(r.status(), *from);
        let result = apply(&r, action, &who, "2026-11-24T12:00:00Z");
        match expected {
            Some(to) => {
                let (next, event) = result.unwrap_or_else(|e| panic!("{name} from {from} by {}: {e}", who.role));
                assert_eq!(next.status(), *to, "{name} from {from}");
                assert_eq!(next.version(), r.version() + 1);
                assert_eq!(event.version, next.version());
                assert_eq!(event.resulting.status, *to);
                assert_eq!(event.actor, who);
            }
            None => assert_eq!(
                result.unwrap_err(),
                TransitionError::InvalidTransition {
                    action: name,
                    status: *from
                },
                "{name} from {from}"
            ),
        }
    }
}

#[test]
fn who_may_do_what() {
    let r = in_status(Status::InProgress);
    for action in [
        respond(),
        Action::AwaitPartner { message: message("x") },
        Action::Resolve { message: message("x") },
    ] {
        let name = action.name();
        assert_eq!(
            apply(&r, action, &agent(), "2026-11-24T12:00:00Z").unwrap_err(),
            TransitionError::NotPermitted {
                action: name,
                role: Role::PartnerAgent
            }
        );
    }
    for action in all_actions() {
        let name = action.name();
        assert_eq!(
            apply(&r, action, &sweep(), "2026-11-24T12:00:00Z").unwrap_err(),
            TransitionError::NotPermitted {
                action: name,
                role: Role::System
            }
        );
    }
    assert!(matches!(
        r.mark_breached(at("2026-11-25T00:00:00Z"), &engineer(), policy()),
        Err(TransitionError::NotPermitted { .. })
    ));
}

#[test]
fn the_first_response_stops_the_clock_in_time() {
    let (r, event) = apply(&request(), respond(), &engineer(), "2026-11-24T13:59:59Z").unwrap();
    assert_eq!(r.sla().state, SlaState::Met);
    assert_eq!(r.sla().first_response_at, Some(at("2026-11-24T13:59:59Z")));
    assert_eq!(event.kind(), "first_response");
    assert_eq!(event.resulting.sla_state, SlaState::Met);
    assert!(!r.awaits_first_response());
    // A second answer is an ordinary response and changes nothing on the clock.
    let (r2, event2) = apply(&r, respond(), &engineer(), "2026-11-24T15:00:00Z").unwrap();
    assert_eq!(event2.kind(), "response_added");
    assert_eq!(r2.sla(), r.sla());
}

#[test]
fn asking_the_partner_for_information_is_a_first_response() {
    let (r, event) = apply(
        &request(),
        Action::AwaitPartner {
            message: message("Which VM?"),
        },
        &engineer(),
        "2026-11-24T11:00:00Z",
    )
    .unwrap();
    assert_eq!(event.kind(), "first_response");
    assert_eq!(r.status(), Status::AwaitingPartner);
    assert_eq!(r.sla().state, SlaState::Met);
}

#[test]
fn a_late_first_response_is_a_breach() {
    let (r, _) = apply(&request(), respond(), &engineer(), "2026-11-24T14:00:01Z").unwrap();
    assert_eq!(r.sla().state, SlaState::Breached);
    assert_eq!(r.sla().breached_at, Some(at("2026-11-24T14:00:01Z")));
}

#[test]
fn a_response_exactly_at_the_due_time_is_in_time() {
    let (r, _) = apply(&request(), respond(), &engineer(), "2026-11-24T14:00:00Z").unwrap();
    assert_eq!(r.sla().state, SlaState::Met);
}

#[test]
fn the_sweep_marks_a_breach_once_and_only_after_the_due_time() {
    let r = request();
    assert_eq!(
        r.mark_breached(at("2026-11-24T14:00:00Z"), &sweep(), policy())
            .unwrap_err(),
        TransitionError::NotYetDue {
            due_at: at("2026-11-24T14:00:00Z")
        }
    );
    let (breached, event) = r.mark_breached(at("2026-11-24T14:05:00Z"), &sweep(), policy()).unwrap();
    assert_eq!(breached.sla().state, SlaState::Breached);
    assert_eq!(breached.sla().breached_at, Some(at("2026-11-24T14:05:00Z")));
    assert_eq!(breached.status(), Status::Open);
    assert_eq!(event.kind(), "sla_breached");
    assert_eq!(event.actor.role, Role::System);
    assert_eq!(
        serde_json::to_value(&event).unwrap()["change"],
        json!({ "dueAt": "2026-11-24T14:00:00.000Z" })
    );
    assert_eq!(
        breached
            .mark_breached(at("2026-11-24T14:10:00Z"), &sweep(), policy())
            .unwrap_err(),
        TransitionError::NotAwaitingFirstResponse
    );
    // The late answer after a breach is still the first response; the breach stands.
    let (answered, e) = apply(&breached, respond(), &engineer(), "2026-11-24T15:00:00Z").unwrap();
    assert_eq!(e.kind(), "first_response");
    assert_eq!(answered.sla().state, SlaState::Breached);
    assert_eq!(answered.sla().breached_at, Some(at("2026-11-24T14:05:00Z")));
}

#[test]
fn answered_or_withdrawn_requests_are_not_swept() {
    let answered = in_status(Status::InProgress);
    assert_eq!(
        answered
            .mark_breached(at("2026-11-30T00:00:00Z"), &sweep(), policy())
            .unwrap_err(),
        TransitionError::NotAwaitingFirstResponse
    );
    let withdrawn = in_status(Status::Closed);
    assert!(!withdrawn.awaits_first_response());
    assert_eq!(
        withdrawn
            .mark_breached(at("2026-11-30T00:00:00Z"), &sweep(), policy())
            .unwrap_err(),
        TransitionError::NotAwaitingFirstResponse
    );
}

fn severity(severity: Severity) -> Action {
    Action::ChangeSeverity {
        severity,
        reason: Some(message("impact changed")),
    }
}

/// A German-language request of `severity` opened Tuesday 2026-11-24 10:00 CET.
fn german(severity: &str) -> ServiceRequest {
    let mut b = body();
    b["language"] = json!("de");
    b["severity"] = json!(severity);
    open(b, "2026-11-24T09:00:00Z")
}

#[test]
fn raising_the_severity_counts_the_new_target_from_the_change() {
    // C = 480 business minutes (Mon-Fri 09:00-17:00 CET) → Wednesday 10:00 CET.
    let r = german("C");
    assert_eq!(r.sla().due_at, at("2026-11-25T09:00:00Z"));
    // Raised to A at 15:00 CET: A = 120 min from the change → 17:00 CET today, before the old
    // due time. (Counted from the opening it would be 12:00 CET: late at once.)
    let (raised, event) = apply(&r, severity(Severity::A), &agent(), "2026-11-24T14:00:00Z").unwrap();
    assert_eq!(raised.severity(), Severity::A);
    assert_eq!(raised.sla().due_at, at("2026-11-24T16:00:00Z"));
    assert_eq!(raised.sla().target_minutes, 120);
    assert_eq!(raised.sla().state, SlaState::Pending);
    assert_eq!(raised.created_at(), r.created_at());
    assert_eq!(event.kind(), "severity_changed");
    let change = serde_json::to_value(&event).unwrap()["change"].clone();
    assert_eq!(change["from"], "C");
    assert_eq!(change["to"], "A");
    assert_eq!(change["reason"], "impact changed");
    assert_eq!(change["previousDueAt"], "2026-11-25T09:00:00.000Z");
    assert_eq!(change["dueAt"], "2026-11-24T16:00:00.000Z");
    assert!(
        raised
            .mark_breached(at("2026-11-24T15:55:00Z"), &sweep(), policy())
            .is_err(),
        "not yet due"
    );
    assert!(
        raised
            .mark_breached(at("2026-11-24T16:05:00Z"), &sweep(), policy())
            .is_ok()
    );
    // Support may raise too, by the same rule.
    let (by_support, _) = apply(&r, severity(Severity::A), &engineer(), "2026-11-24T14:00:00Z").unwrap();
    assert_eq!(by_support.sla(), raised.sla());
}

#[test]
fn raising_the_severity_never_moves_the_due_time_later() {
    // Raised to A at Wednesday 09:30 CET: 11:30 CET by the new target, but the old due time
    // (10:00 CET) comes first and stands, with the target it was computed by.
    let r = german("C");
    let (raised, event) = apply(&r, severity(Severity::A), &agent(), "2026-11-25T08:30:00Z").unwrap();
    assert_eq!(raised.severity(), Severity::A);
    assert_eq!(raised.sla(), r.sla());
    let change = serde_json::to_value(&event).unwrap()["change"].clone();
    assert_eq!(change["previousDueAt"], change["dueAt"]);
}

#[test]
fn only_the_partner_lowers_a_severity_and_never_past_a_due_time() {
    // A = 120 min → 12:00 CET.
    let r = german("A");
    assert_eq!(r.sla().due_at, at("2026-11-24T11:00:00Z"));
    // Support cannot stretch its own deadline, whatever the reason.
    for target in [Severity::B, Severity::C] {
        assert_eq!(
            apply(&r, severity(target), &engineer(), "2026-11-24T10:00:00Z").unwrap_err(),
            TransitionError::LoweredOnlyByPartner
        );
    }
    // The partner, who declares the business impact, lowers it before the due time: C's
    // target from the opening → Wednesday 10:00 CET.
    let (lowered, event) = apply(&r, severity(Severity::C), &agent(), "2026-11-24T10:00:00Z").unwrap();
    assert_eq!(lowered.sla().due_at, at("2026-11-25T09:00:00Z"));
    assert_eq!(lowered.sla().target_minutes, 480);
    let change = serde_json::to_value(&event).unwrap()["change"].clone();
    assert_eq!(change["previousDueAt"], "2026-11-24T11:00:00.000Z");
    assert_eq!(change["dueAt"], "2026-11-25T09:00:00.000Z");
    // After the due time has passed, lowering changes the severity but not the due time: the
    // sweep still records the breach.
    let (late, _) = apply(&r, severity(Severity::C), &agent(), "2026-11-24T11:30:00Z").unwrap();
    assert_eq!(late.severity(), Severity::C);
    assert_eq!(late.sla(), r.sla());
    assert!(
        late.mark_breached(at("2026-11-24T11:35:00Z"), &sweep(), policy())
            .is_ok()
    );
}

#[test]
fn lowering_after_raising_never_brings_the_due_time_forward() {
    // C opened Tuesday 10:00 CET; raised to A at Wednesday 09:00 CET (due 10:00 CET, the old
    // due time, which comes first); then lowered to B at 09:30 CET: B from the opening would
    // be Tuesday 14:00 CET, already past — the due time stays Wednesday 10:00 CET.
    let r = german("C");
    let (raised, _) = apply(&r, severity(Severity::A), &agent(), "2026-11-25T08:00:00Z").unwrap();
    assert_eq!(raised.sla().due_at, at("2026-11-25T09:00:00Z"));
    let (lowered, _) = apply(&raised, severity(Severity::B), &agent(), "2026-11-25T08:30:00Z").unwrap();
    assert_eq!(lowered.severity(), Severity::B);
    assert_eq!(lowered.sla().due_at, at("2026-11-25T09:00:00Z"));
}

#[test]
fn changing_severity_after_the_first_response_leaves_the_settled_clock_alone() {
    let answered = in_status(Status::InProgress);
    let (changed, _) = apply(
        &answered,
        Action::ChangeSeverity {
            severity: Severity::A,
            reason: None,
        },
        &agent(),
        "2026-11-24T12:00:00Z",
    )
    .unwrap();
    assert_eq!(changed.severity(), Severity::A);
    assert_eq!(changed.sla(), answered.sla());
}

#[test]
fn the_same_severity_is_not_a_change() {
    assert_eq!(
        apply(
            &request(),
            Action::ChangeSeverity {
                severity: Severity::B,
                reason: None
            },
            &agent(),
            "2026-11-24T12:00:00Z"
        )
        .unwrap_err(),
        TransitionError::SeverityUnchanged(Severity::B)
    );
}

#[test]
fn reopen_is_possible_for_fourteen_days() {
    let resolved = in_status(Status::Resolved); // resolved at 2026-11-24T11:00Z
    assert!(
        apply(
            &resolved,
            Action::Reopen {
                reason: message("back")
            },
            &agent(),
            "2026-12-08T11:00:00Z"
        )
        .is_ok()
    );
    assert_eq!(
        apply(
            &resolved,
            Action::Reopen {
                reason: message("back")
            },
            &agent(),
            "2026-12-08T11:00:00.001Z"
        )
        .unwrap_err(),
        TransitionError::ReopenWindowClosed {
            status: Status::Resolved,
            deadline: at("2026-12-08T11:00:00Z")
        }
    );
}

#[test]
fn events_never_go_back_in_time() {
    let r = in_status(Status::InProgress); // updated at 11:00Z
    let (next, event) = apply(
        &r,
        Action::Note { message: message("n") },
        &agent(),
        "2026-11-24T10:30:00Z",
    )
    .unwrap();
    assert_eq!(event.at, at("2026-11-24T11:00:00Z"));
    assert_eq!(next.updated_at(), at("2026-11-24T11:00:00Z"));
}

#[test]
fn patch_bodies_parse_per_action() {
    let parse = |v: serde_json::Value| Action::parse(serde_json::from_value(v).unwrap());
    assert_eq!(
        parse(json!({ "action": "respond", "message": "On it" })).unwrap(),
        Action::Respond {
            message: message("On it")
        }
    );
    assert_eq!(
        parse(json!({ "action": "change_severity", "severity": "A" })).unwrap(),
        Action::ChangeSeverity {
            severity: Severity::A,
            reason: None
        }
    );
    assert_eq!(
        parse(json!({ "action": "close" })).unwrap(),
        Action::Close { reason: None }
    );

    let errors = parse(json!({ "action": "respond" })).unwrap_err();
    assert_eq!(errors.problem("$.message"), Some(&Problem::Required));
    let errors = parse(json!({ "action": "escalate" })).unwrap_err();
    assert!(matches!(errors.problem("$.action"), Some(Problem::NotOneOf { .. })));
    let errors = parse(json!({})).unwrap_err();
    assert_eq!(errors.problem("$.action"), Some(&Problem::Required));
    let errors = parse(json!({ "action": "change_severity", "severity": "Z", "message": "x" })).unwrap_err();
    assert!(matches!(errors.problem("$.severity"), Some(Problem::NotOneOf { .. })));
    assert_eq!(
        errors.problem("$.message"),
        Some(&Problem::NotForAction {
            action: "change_severity"
        })
    );
    let errors = parse(json!({ "action": "reopen" })).unwrap_err();
    assert_eq!(errors.problem("$.reason"), Some(&Problem::Required));
    assert!(
        serde_json::from_value::<ActionInput>(json!({ "action": "note", "message": "x", "partnerId": "other" }))
            .is_err()
    );
}

#[test]
fn a_request_withdrawn_unanswered_and_reopened_is_due_from_the_reopening() {
    // A: 120 min from Tuesday 10:00 CET (de) → 12:00 CET.
    let r = german("A");
    let (closed, _) = apply(&r, Action::Close { reason: None }, &agent(), "2026-11-24T09:01:00Z").unwrap();
    // Reopened at 15:00 CET, after the old due time: due 17:00 CET, not breached at once.
    let (reopened, event) = apply(
        &closed,
        Action::Reopen {
            reason: message("it is back"),
        },
        &agent(),
        "2026-11-24T14:00:00Z",
    )
    .unwrap();
    assert_eq!(reopened.status(), Status::Open);
    assert_eq!(reopened.sla().due_at, at("2026-11-24T16:00:00Z"));
    assert_eq!(reopened.sla().state, SlaState::Pending);
    assert_eq!(event.resulting.due_at, at("2026-11-24T16:00:00Z"), "ledgered");
    assert!(
        reopened
            .mark_breached(at("2026-11-24T14:05:00Z"), &sweep(), policy())
            .is_err()
    );
    // Reopened a minute after it was withdrawn: two hours from the reopening.
    let (soon, _) = apply(
        &closed,
        Action::Reopen {
            reason: message("it is back"),
        },
        &agent(),
        "2026-11-24T09:02:00Z",
    )
    .unwrap();
    assert_eq!(soon.sla().due_at, at("2026-11-24T11:02:00Z"));
}

#[test]
fn each_side_has_a_budget_of_actions_and_support_can_always_answer_what_it_owes() {
    let mut r = open(body(), "2026-11-24T09:00:00Z");
    let severity_to = |s: Severity| Action::ChangeSeverity {
        severity: s,
        reason: None,
    };
    // The partner flips the severity 500 times (no text): then its budget of actions is spent.
    for i in 0..500 {
        let to = if i % 2 == 0 { Severity::A } else { Severity::B };
        r = apply(&r, severity_to(to), &agent(), "2026-11-24T09:01:00Z").unwrap().0;
    }
    assert_eq!(r.conversation().partner.actions, 500);
    assert!(matches!(
        apply(&r, severity_to(Severity::A), &agent(), "2026-11-24T09:02:00Z"),
        Err(TransitionError::ConversationFull { .. })
    ));
    // Support's own budget is untouched; it spends it assigning back and forth.
    for i in 0..500 {
        let to = if i % 2 == 0 { AssignTo::Me } else { AssignTo::Nobody };
        r = apply(&r, Action::Assign { to }, &engineer(), "2026-11-24T09:03:00Z")
            .unwrap()
            .0;
    }
    assert!(matches!(
        apply(
            &r,
            Action::Assign { to: AssignTo::Me },
            &engineer(),
            "2026-11-24T09:04:00Z"
        ),
        Err(TransitionError::ConversationFull { .. })
    ));
    // But the first response it owes goes through, when short.
    let long = Action::Respond {
        message: message(&"x".repeat(1025)),
    };
    assert!(matches!(
        apply(&r, long, &engineer(), "2026-11-24T09:05:00Z"),
        Err(TransitionError::ConversationFull { .. })
    ));
    let (answered, _) = apply(
        &r,
        Action::Respond {
            message: message("On it."),
        },
        &engineer(),
        "2026-11-24T09:05:00Z",
    )
    .unwrap();
    assert_eq!(answered.sla().state, SlaState::Met);
    assert_eq!(answered.conversation().vendor.actions, 501);
    // Owing nothing, it cannot write past the budget.
    assert!(matches!(
        apply(
            &answered,
            Action::Respond {
                message: message("more")
            },
            &engineer(),
            "2026-11-24T09:06:00Z"
        ),
        Err(TransitionError::ConversationFull { .. })
    ));
}

#[test]
fn a_request_withdrawn_after_its_due_time_keeps_its_breach_and_a_reopened_one_lowers_from_the_reopening() {
    let r = german("A"); // due 12:00 CET (11:00Z)
    // Withdrawn after the due time (before the sweep came by): the close records the breach
    // (the sweep does not look at closed requests); reopened later, it stays breached, once.
    let (closed, event) = apply(&r, Action::Close { reason: None }, &agent(), "2026-11-24T11:30:00Z").unwrap();
    assert_eq!(closed.sla().state, SlaState::Breached);
    assert_eq!(closed.sla().breached_at, Some(at("2026-11-24T11:30:00Z")));
    assert_eq!(event.resulting.sla_state, SlaState::Breached);
    let reopen = || Action::Reopen {
        reason: message("it is back"),
    };
    let (late, _) = apply(&closed, reopen(), &agent(), "2026-11-24T14:00:00Z").unwrap();
    assert_eq!(late.sla().due_at, at("2026-11-24T11:00:00Z"));
    assert_eq!(late.sla().state, SlaState::Breached);
    assert!(
        late.mark_breached(at("2026-11-24T14:01:00Z"), &sweep(), policy())
            .is_err(),
        "recorded once"
    );
    // Closed before the due time: nothing breached.
    let (early, _) = apply(&r, Action::Close { reason: None }, &agent(), "2026-11-24T10:59:00Z").unwrap();
    assert_eq!(early.sla().state, SlaState::Pending);
    // Withdrawn in time and reopened at 15:00 CET: due 17:00 CET; lowered to B (240 min), it
    // counts from the reopening: two hours Tuesday, two Wednesday → Wednesday 11:00 CET.
    let (closed, _) = apply(&r, Action::Close { reason: None }, &agent(), "2026-11-24T09:30:00Z").unwrap();
    let (reopened, _) = apply(&closed, reopen(), &agent(), "2026-11-24T14:00:00Z").unwrap();
    assert_eq!(reopened.sla().due_at, at("2026-11-24T16:00:00Z"));
    assert_eq!(reopened.sla().started_at, Some(at("2026-11-24T14:00:00Z")));
    let (lowered, _) = apply(&reopened, severity(Severity::B), &agent(), "2026-11-24T14:10:00Z").unwrap();
    assert_eq!(lowered.sla().due_at, at("2026-11-25T10:00:00Z"));
}
