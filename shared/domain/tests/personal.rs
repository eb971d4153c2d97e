//! Personal data: every value of a request and of its events is either personal (listed in
//! `domain::personal`, so storage seals it) or deliberately clear — a new field cannot slip
//! into the ledger in clear without this test naming it. And erasure.

mod common;

use common::*;
use domain::personal::{CREATED_REQUEST, EVENT_FIELDS, REQUEST_FIELDS};
use domain::*;
use serde_json::{Value, json};

/// The JSON Pointers of every string leaf (array elements as `*`).
fn string_leaves(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::String(_) => out.push(path.to_owned()),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| string_leaves(v, &format!("{path}/{k}"), out)),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, &format!("{path}/*"), out)),
        _ => {}
    }
}

/// Request fields that are not about people: ids, enums, times, policy figures.
const CLEAR_REQUEST: &[&str] = &[
    "/id",
    "/partnerId",
    "/customerId",
    "/scope",
    "/product",
    "/category",
    "/severity",
    "/language",
    "/contact/preferredContactMethod",
    "/entitlement/kind",
    "/supportPlan",
    "/feeCoverage",
    "/feeBasis",
    "/status",
    "/statusSince",
    "/sla/policyVersion",
    "/sla/calendar",
    "/sla/dueAt",
    "/sla/firstResponseAt",
    "/sla/state",
    "/sla/breachedAt",
    "/createdAt",
    "/updatedAt",
    "/personalDataErasedAt",
    // The support engineer's token subject: the vendor's own operational identifier of its
    // staff, kept in clear on the resource to filter the queue (the ledger seals it, as
    // every subject: /change/assignee).
    "/assignee",
    "/sla/current/owedBy",
    "/sla/current/since",
    "/sla/current/policyVersion",
    "/sla/current/dueAt",
    "/sla/current/state",
    "/sla/current/breachedAt",
    "/sla/cycles/*/startedAt",
    "/sla/cycles/*/dueAt",
    "/sla/cycles/*/policyVersion",
    "/sla/cycles/*/answeredAt",
    "/sla/cycles/*/outcome",
    "/sla/cycles/*/breachedAt",
];

const CLEAR_EVENT: &[&str] = &[
    "/requestId",
    "/partnerId",
    "/customerId",
    "/at",
    "/kind",
    "/policy/version",
    "/policy/sha256",
    "/actor/role",
    "/change/from",
    "/change/to",
    "/change/dueAt",
    "/change/previousDueAt",
    "/change/legalBasis",
    "/change/scope",
    "/change/reference",
    "/change/commitments/*",
    "/resulting/status",
    "/resulting/severity",
    "/resulting/feeCoverage",
    "/resulting/feeBasis",
    "/resulting/slaState",
    "/resulting/dueAt",
    "/resulting/firstResponseAt",
    "/resulting/breachedAt",
];

fn own_tenant_request() -> ServiceRequest {
    let mut b = body();
    b["entitlement"] = json!({ "kind": "mpn_contract", "reference": "MPN-4711" });
    b["contact"]["phone"] = json!("+49 30 1234567");
    let new = parse_own(b).unwrap();
    let opened = at("2026-11-24T09:00:00Z");
    ServiceRequest::open(
        new,
        partner(),
        RequestId::new(opened.datetime(), 9),
        opened,
        &agent(),
        policy(),
    )
    .unwrap()
    .0
}

#[test]
fn every_request_field_is_classified() {
    let mut leaves = Vec::new();
    string_leaves(&serde_json::to_value(own_tenant_request()).unwrap(), "", &mut leaves);
    let customer = serde_json::to_value(open(body(), "2026-11-24T09:00:00Z")).unwrap();
    string_leaves(&customer, "", &mut leaves);
    // A request with a finished next-response cycle, one running, and an assignee.
    let mut worked = own_tenant_request();
    for (action, actor, time) in [
        (
            Action::Respond {
                message: message("on it"),
            },
            engineer(),
            "2026-11-24T09:10:00Z",
        ),
        (
            Action::Note {
                message: message("still down"),
            },
            agent(),
            "2026-11-24T09:20:00Z",
        ),
        (
            Action::Respond {
                message: message("fixed?"),
            },
            engineer(),
            "2026-11-24T09:30:00Z",
        ),
        (Action::Note { message: message("no") }, agent(), "2026-11-24T09:40:00Z"),
        (Action::Assign { to: AssignTo::Me }, engineer(), "2026-11-24T09:45:00Z"),
    ] {
        worked = worked.apply(action, &actor, at(time), policy()).unwrap().0;
    }
    let worked = serde_json::to_value(&worked).unwrap();
    assert!(worked["sla"]["cycles"][0]["outcome"].is_string() && worked["sla"]["current"]["dueAt"].is_string());
    string_leaves(&worked, "", &mut leaves);
    for leaf in leaves {
        assert!(
            REQUEST_FIELDS.contains(&leaf.as_str()) || CLEAR_REQUEST.contains(&leaf.as_str()),
            "{leaf}: is it personal (domain::personal::REQUEST_FIELDS) or clear (this test)?"
        );
    }
}

#[test]
fn every_event_field_is_classified() {
    let request = own_tenant_request();
    let later = at("2026-11-24T10:00:00Z");
    let mut events = Vec::new();
    let (created, event) = (request.clone(), {
        let new = parse_own({
            let mut b = body();
            b["entitlement"] = json!({ "kind": "premier", "reference": "P-1" });
            b
        })
        .unwrap();
        ServiceRequest::open(new, partner(), request.id(), later, &agent(), policy())
            .unwrap()
            .1
    });
    events.push(event);
    let mut current = created;
    let actions = [
        (
            Action::ChangeSeverity {
                severity: Severity::A,
                reason: Some(message("worse")),
            },
            agent(),
        ),
        (
            Action::Respond {
                message: message("on it"),
            },
            engineer(),
        ),
        (
            Action::Note {
                message: message("more"),
            },
            agent(),
        ),
        (Action::Assign { to: AssignTo::Me }, engineer()),
        (
            Action::Assign {
                to: AssignTo::Engineer(Subject::parse("second@vendor").unwrap()),
            },
            engineer(),
        ),
        (
            Action::AwaitPartner {
                message: message("logs?"),
            },
            engineer(),
        ),
        (
            Action::Resolve {
                message: message("fixed"),
            },
            engineer(),
        ),
        (
            Action::Close {
                reason: Some(message("done")),
            },
            agent(),
        ),
        (
            Action::Reopen {
                reason: message("again"),
            },
            agent(),
        ),
    ];
    for (action, actor) in actions {
        let (next, event) = current.apply(action, &actor, later, policy()).unwrap();
        events.push(event);
        current = next;
    }
    let officer = Actor::new(Role::PrivacyOfficer, Subject::parse("dpo@vendor").unwrap());
    let (_, erased) = current
        .erase_personal_data(
            ErasureScope::Request,
            vec![CommitmentId::parse(&"ab".repeat(32)).unwrap()],
            LegalBasis::GdprArt17_1A,
            Some(CaseReference::parse("DSR-1").unwrap()),
            &officer,
            later,
            policy(),
        )
        .unwrap();
    events.push(erased);
    let breach = open(body(), "2026-11-24T09:00:00Z")
        .mark_breached(at("2026-11-25T09:00:00Z"), &sweep(), policy())
        .unwrap()
        .1;
    events.push(breach);
    let answered = open(body(), "2026-11-24T09:00:00Z")
        .apply(
            Action::Respond {
                message: message("on it"),
            },
            &engineer(),
            at("2026-11-24T09:10:00Z"),
            policy(),
        )
        .unwrap()
        .0
        .apply(
            Action::Note {
                message: message("still down"),
            },
            &agent(),
            at("2026-11-24T09:20:00Z"),
            policy(),
        )
        .unwrap()
        .0;
    let late = answered
        .mark_next_response_breached(at("2026-11-26T09:00:00Z"), &sweep(), policy())
        .unwrap()
        .1;
    events.push(late);
    let request_paths: Vec<String> = REQUEST_FIELDS.iter().map(|p| format!("{CREATED_REQUEST}{p}")).collect();
    let clear_request: Vec<String> = CLEAR_REQUEST.iter().map(|p| format!("{CREATED_REQUEST}{p}")).collect();
    for event in events {
        let mut leaves = Vec::new();
        string_leaves(&serde_json::to_value(&event).unwrap(), "", &mut leaves);
        for leaf in leaves {
            let personal = EVENT_FIELDS.contains(&leaf.as_str()) || request_paths.contains(&leaf);
            let clear = CLEAR_EVENT.contains(&leaf.as_str()) || clear_request.contains(&leaf);
            assert!(
                personal || clear,
                "{} {leaf}: is it personal (domain::personal::EVENT_FIELDS) or clear (this test)?",
                event.kind()
            );
        }
    }
}

#[test]
fn erasure_nulls_every_personal_value_and_happens_once() {
    let request = own_tenant_request();
    let officer = Actor::new(Role::PrivacyOfficer, Subject::parse("dpo@vendor").unwrap());
    let when = at("2026-11-25T09:00:00Z");
    let commitments = vec![CommitmentId::parse(&"cd".repeat(32)).unwrap()];
    let (erased, event) = request
        .erase_personal_data(
            ErasureScope::Request,
            commitments.clone(),
            LegalBasis::GdprArt17_1B,
            None,
            &officer,
            when,
            policy(),
        )
        .unwrap();
    assert_eq!(event.kind(), "personal_data_erased");
    assert_eq!(erased.version(), request.version() + 1);
    assert_eq!(erased.personal_data_erased_at(), Some(when));
    let value = serde_json::to_value(&erased).unwrap();
    for path in REQUEST_FIELDS {
        let v = value.pointer(path).unwrap_or(&Value::Null);
        assert!(v.is_null(), "{path} is {v}");
    }
    // What disputes need stays.
    assert_eq!(value["severity"], "B");
    assert_eq!(value["billable"], true);
    let data = serde_json::to_value(&event).unwrap();
    assert_eq!(data["change"]["commitments"], json!([commitments[0].as_str()]));
    assert!(!data.to_string().contains("Erika"));
    // The erased request still reads back, and still moves on.
    let back: ServiceRequest = serde_json::from_value(value).unwrap();
    assert_eq!(back, erased);
    assert!(
        back.apply(
            Action::Note {
                message: message("still here")
            },
            &agent(),
            when,
            policy()
        )
        .is_ok()
    );
    assert_eq!(
        erased
            .erase_personal_data(
                ErasureScope::Request,
                commitments.clone(),
                LegalBasis::GdprArt17_1B,
                None,
                &officer,
                when,
                policy()
            )
            .unwrap_err(),
        TransitionError::AlreadyErased
    );
    assert!(matches!(
        request.erase_personal_data(
            ErasureScope::Request,
            commitments.clone(),
            LegalBasis::GdprArt17_1B,
            None,
            &engineer(),
            when,
            policy()
        ),
        Err(TransitionError::NotPermitted { .. })
    ));
    // Erasing only what some entries introduced keeps the request's own fields.
    let (partial, _) = request
        .erase_personal_data(
            ErasureScope::Entries,
            commitments,
            LegalBasis::GdprArt17_1A,
            None,
            &officer,
            when,
            policy(),
        )
        .unwrap();
    assert_eq!(partial.title().as_str(), Some("VMs unreachable"));
    assert_eq!(partial.personal_data_erased_at(), None);
}
