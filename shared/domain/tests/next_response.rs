//! The next-response clock and assignment: what support owes after the first response.

mod common;

use common::*;
use domain::*;
use serde_json::json;

fn act(r: &ServiceRequest, action: Action, actor: &Actor, time: &str) -> ServiceRequest {
    r.apply(action, actor, at(time), policy()).unwrap().0
}

fn respond(text: &str) -> Action {
    Action::Respond { message: message(text) }
}

fn note(text: &str) -> Action {
    Action::Note { message: message(text) }
}

/// An English (24x7) severity-B request answered at 09:10.
fn answered() -> ServiceRequest {
    let mut b = body();
    b["language"] = json!("en");
    b["severity"] = json!("B");
    act(
        &open(b, "2026-11-24T09:00:00Z"),
        respond("on it"),
        &engineer(),
        "2026-11-24T09:10:00Z",
    )
}

#[test]
fn a_partners_follow_up_starts_a_cycle_and_a_reply_ends_it() {
    let r = answered();
    assert_eq!(r.sla().current, None, "answered: nobody owes anything");
    let r = act(&r, note("still down"), &agent(), "2026-11-24T10:00:00Z");
    let owed = r.sla().current.clone().unwrap();
    assert_eq!(owed.owed_by, Party::Vendor);
    assert_eq!(owed.cycle, Some(1));
    assert_eq!(owed.target_minutes, Some(240));
    assert_eq!(owed.due_at, Some(at("2026-11-24T14:00:00Z")));
    assert_eq!(owed.state, Some(SlaState::Pending));
    assert_eq!(r.sweep_due_at(), Some(at("2026-11-24T14:00:00Z")));
    // A second follow-up does not restart the clock: the earliest unanswered one counts.
    let r = act(&r, note("any news?"), &agent(), "2026-11-24T11:00:00Z");
    assert_eq!(
        r.sla().current.as_ref().unwrap().due_at,
        Some(at("2026-11-24T14:00:00Z"))
    );
    // Support's own note is not a reply.
    let r = act(&r, note("looking"), &engineer(), "2026-11-24T12:00:00Z");
    assert!(r.sla().current.is_some());
    let r = act(&r, respond("found it"), &engineer(), "2026-11-24T13:00:00Z");
    assert_eq!(r.sla().current, None);
    let cycle = &r.sla().cycles[0];
    assert_eq!((cycle.cycle, cycle.outcome), (1, CycleOutcome::Met));
    assert_eq!(cycle.answered_at, Some(at("2026-11-24T13:00:00Z")));
    assert_eq!(r.sweep_due_at(), None);
    // The next follow-up is cycle 2.
    let r = act(&r, note("again"), &agent(), "2026-11-25T08:00:00Z");
    assert_eq!(r.sla().current.as_ref().unwrap().cycle, Some(2));
}

#[test]
fn the_sweep_records_a_cycles_breach_once_and_the_late_reply_keeps_it() {
    let r = act(&answered(), note("still down"), &agent(), "2026-11-24T10:00:00Z");
    assert!(matches!(
        r.mark_next_response_breached(at("2026-11-24T13:59:00Z"), &sweep(), policy()),
        Err(TransitionError::NotYetDue { .. })
    ));
    let (r, event) = r
        .mark_next_response_breached(at("2026-11-24T14:05:00Z"), &sweep(), policy())
        .unwrap();
    assert_eq!(event.kind(), "next_response_breached");
    let data = serde_json::to_value(&event).unwrap();
    assert_eq!(data["change"]["cycle"], 1);
    assert_eq!(r.sla().current.as_ref().unwrap().state, Some(SlaState::Breached));
    assert_eq!(r.sweep_due_at(), None, "nothing more for the sweep in this cycle");
    assert_eq!(
        r.reply_owed(),
        Some((at("2026-11-24T14:00:00Z"), SlaState::Breached)),
        "still in the queue, late"
    );
    assert!(matches!(
        r.mark_next_response_breached(at("2026-11-24T15:00:00Z"), &sweep(), policy()),
        Err(TransitionError::NoReplyOwed)
    ));
    let r = act(&r, respond("sorry"), &engineer(), "2026-11-24T16:00:00Z");
    let cycle = &r.sla().cycles[0];
    assert_eq!(cycle.outcome, CycleOutcome::Breached);
    assert_eq!(
        cycle.breached_at,
        Some(at("2026-11-24T14:05:00Z")),
        "when the sweep recorded it"
    );
    // A late reply the sweep had not seen yet is recorded as breached at the reply.
    let r = act(&r, note("and now?"), &agent(), "2026-11-25T09:00:00Z");
    let r = act(&r, respond("late"), &engineer(), "2026-11-25T14:00:00Z");
    assert_eq!(r.sla().cycles[1].outcome, CycleOutcome::Breached);
    assert_eq!(r.sla().cycles[1].breached_at, Some(at("2026-11-25T14:00:00Z")));
}

#[test]
fn waiting_for_the_partner_stops_the_vendors_clock_until_they_reply() {
    let r = act(&answered(), note("still down"), &agent(), "2026-11-24T10:00:00Z");
    let r = act(
        &r,
        Action::AwaitPartner {
            message: message("logs please"),
        },
        &engineer(),
        "2026-11-24T11:00:00Z",
    );
    assert_eq!(r.status(), Status::AwaitingPartner);
    assert_eq!(r.sla().cycles[0].outcome, CycleOutcome::Met, "asking is a reply");
    let owed = r.sla().current.clone().unwrap();
    assert_eq!((owed.owed_by, owed.due_at), (Party::Partner, None));
    assert_eq!(r.reply_owed(), None, "not in support's queue");
    assert_eq!(r.sweep_due_at(), None);
    // Days later the partner replies: a full target from then, not what was left.
    let r = act(&r, note("here are the logs"), &agent(), "2026-11-27T09:00:00Z");
    assert_eq!(r.status(), Status::InProgress);
    let owed = r.sla().current.clone().unwrap();
    assert_eq!((owed.owed_by, owed.cycle), (Party::Vendor, Some(2)));
    assert_eq!(owed.due_at, Some(at("2026-11-27T13:00:00Z")));
}

#[test]
fn closing_withdraws_resolving_answers_reopening_owes_again() {
    let owing = act(&answered(), note("still down"), &agent(), "2026-11-24T10:00:00Z");
    let closed = act(&owing, Action::Close { reason: None }, &agent(), "2026-11-24T10:30:00Z");
    assert_eq!(closed.sla().cycles[0].outcome, CycleOutcome::Withdrawn);
    assert_eq!(closed.sla().cycles[0].answered_at, None);
    assert_eq!(closed.reply_owed(), None);
    let resolved = act(
        &owing,
        Action::Resolve {
            message: message("fixed"),
        },
        &engineer(),
        "2026-11-24T10:30:00Z",
    );
    assert_eq!(resolved.sla().cycles[0].outcome, CycleOutcome::Met);
    let reopened = act(
        &resolved,
        Action::Reopen {
            reason: message("back"),
        },
        &agent(),
        "2026-11-25T10:00:00Z",
    );
    assert_eq!(reopened.sla().current.as_ref().unwrap().cycle, Some(2));
    let by_support = act(
        &resolved,
        Action::Reopen {
            reason: message("checking"),
        },
        &engineer(),
        "2026-11-25T10:00:00Z",
    );
    assert_eq!(by_support.sla().current, None, "support reopening owes nobody a reply");
}

#[test]
fn changing_the_severity_moves_the_owed_reply_from_the_same_start() {
    let r = act(&answered(), note("still down"), &agent(), "2026-11-24T10:00:00Z");
    let answered_note = r.clone();
    let r = act(
        &r,
        Action::ChangeSeverity {
            severity: Severity::A,
            reason: None,
        },
        &agent(),
        "2026-11-24T10:30:00Z",
    );
    // Raised to A at 10:30: 120 min from the change (before B's 14:00 from the follow-up),
    // and the entry says so.
    let (_, event) = answered_note
        .apply(
            Action::ChangeSeverity {
                severity: Severity::A,
                reason: None,
            },
            &agent(),
            at("2026-11-24T10:30:00Z"),
            policy(),
        )
        .unwrap();
    let change = serde_json::to_value(&event).unwrap()["change"].clone();
    assert_eq!(change["previousReplyDueAt"], "2026-11-24T14:00:00.000Z", "{change}");
    assert_eq!(change["replyDueAt"], "2026-11-24T12:30:00.000Z", "{change}");
    let owed = r.sla().current.clone().unwrap();
    assert_eq!(owed.target_minutes, Some(120));
    assert_eq!(owed.due_at, Some(at("2026-11-24T12:30:00Z")));
    // Support cannot lower it back; the partner can, by the lower target from the follow-up
    // (C: 480 min from 10:00), never earlier than it was.
    let lower = Action::ChangeSeverity {
        severity: Severity::C,
        reason: None,
    };
    assert_eq!(
        r.apply(lower.clone(), &engineer(), at("2026-11-24T11:00:00Z"), policy())
            .unwrap_err(),
        TransitionError::LoweredOnlyByPartner
    );
    let lowered = act(&r, lower.clone(), &agent(), "2026-11-24T11:00:00Z");
    let owed = lowered.sla().current.clone().unwrap();
    assert_eq!(
        (owed.target_minutes, owed.due_at),
        (Some(480), Some(at("2026-11-24T18:00:00Z")))
    );
    // Once the reply was due, lowering leaves the due time where it was.
    let late = act(&r, lower, &agent(), "2026-11-24T13:00:00Z");
    assert_eq!(late.sla().current, r.sla().current);
}

#[test]
fn before_the_first_response_a_follow_up_owes_nothing_new() {
    let r = open(body(), "2026-11-24T09:00:00Z");
    let r = act(&r, note("more detail"), &agent(), "2026-11-24T09:05:00Z");
    assert_eq!(r.sla().current, None);
    assert_eq!(
        r.reply_owed(),
        Some((r.sla().due_at, SlaState::Pending)),
        "the first response is owed"
    );
}

#[test]
fn support_assigns_takes_hands_on_and_releases() {
    let r = open(body(), "2026-11-24T09:00:00Z");
    let (r, event) = r
        .apply(
            Action::Assign { to: AssignTo::Me },
            &engineer(),
            at("2026-11-24T09:01:00Z"),
            policy(),
        )
        .unwrap();
    assert_eq!(r.assignee(), Some(&engineer().subject));
    assert_eq!(event.kind(), "assigned");
    let other = Subject::parse("second@vendor").unwrap();
    let r = act(
        &r,
        Action::Assign {
            to: AssignTo::Engineer(other.clone()),
        },
        &engineer(),
        "2026-11-24T09:02:00Z",
    );
    assert_eq!(r.assignee(), Some(&other));
    assert!(matches!(
        r.apply(
            Action::Assign {
                to: AssignTo::Engineer(other)
            },
            &engineer(),
            at("2026-11-24T09:03:00Z"),
            policy()
        ),
        Err(TransitionError::AssigneeUnchanged)
    ));
    let r = act(
        &r,
        Action::Assign { to: AssignTo::Nobody },
        &engineer(),
        "2026-11-24T09:04:00Z",
    );
    assert_eq!(r.assignee(), None);
    assert!(matches!(
        r.apply(
            Action::Assign { to: AssignTo::Me },
            &agent(),
            at("2026-11-24T09:05:00Z"),
            policy()
        ),
        Err(TransitionError::NotPermitted { .. })
    ));
    let closed = act(&r, Action::Close { reason: None }, &agent(), "2026-11-24T09:06:00Z");
    assert!(matches!(
        closed.apply(
            Action::Assign { to: AssignTo::Me },
            &engineer(),
            at("2026-11-24T09:07:00Z"),
            policy()
        ),
        Err(TransitionError::InvalidTransition { .. })
    ));
}

#[test]
fn assign_bodies_parse_strictly() {
    let parse = |v: serde_json::Value| Action::parse(serde_json::from_value(v).unwrap());
    assert_eq!(
        parse(json!({ "action": "assign", "assignee": "me" })).unwrap(),
        Action::Assign { to: AssignTo::Me }
    );
    assert_eq!(
        parse(json!({ "action": "assign", "assignee": null })).unwrap(),
        Action::Assign { to: AssignTo::Nobody }
    );
    assert!(matches!(
        parse(json!({ "action": "assign", "assignee": "e@vendor" })).unwrap(),
        Action::Assign {
            to: AssignTo::Engineer(_)
        }
    ));
    let fields = |v| {
        parse(v)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect::<Vec<_>>()
    };
    assert_eq!(fields(json!({ "action": "assign" })), ["$.assignee"]);
    assert_eq!(
        fields(json!({ "action": "note", "message": "x", "assignee": "me" })),
        ["$.assignee"]
    );
    assert_eq!(fields(json!({ "action": "assign", "assignee": "" })), ["$.assignee"]);
}
