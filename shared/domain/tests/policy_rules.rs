//! The vendor's support-policy rules for filing a request, one test each, plus validation.

mod common;

use common::*;
use domain::*;
use serde_json::json;

#[test]
fn a_customer_request_carries_the_partners_contact_under_the_csp_plan() {
    let request = open(body(), "2026-11-24T10:00:00Z");
    assert_eq!(request.scope(), Scope::Customer);
    assert_eq!(request.customer_id().map(CustomerId::as_str), Some(CUSTOMER));
    assert_eq!(request.support_plan(), SupportPlan::CloudSolutionProvider);
    assert_eq!(request.support_plan().as_str(), "Cloud Solution Provider");
    assert_eq!(request.contact().email.as_str(), Some("erika@partner.example"));
    assert_eq!(request.contact().preferred_contact_method, ContactMethod::Email);
    assert_eq!(request.partner_id(), &partner());
}

#[test]
fn the_partners_own_tenant_needs_an_entitlement() {
    let errors = parse_own(body()).unwrap_err();
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(errors.problem("$.entitlement"), Some(&Problem::EntitlementRequired));
    assert!(errors.to_string().contains("not part of the CSP benefit"), "{errors}");

    let mut with = body();
    with["entitlement"] = json!({ "kind": "mpn_contract", "reference": "MPN-4711" });
    let new = parse_own(with).unwrap();
    assert_eq!(new.scope(), Scope::PartnerOwn);
    let opened = at("2026-11-24T10:00:00Z");
    let (request, _) = ServiceRequest::open(
        new,
        partner(),
        RequestId::new(opened.datetime(), 1),
        opened,
        &agent(),
        policy(),
    )
    .unwrap();
    assert_eq!(request.scope(), Scope::PartnerOwn);
    assert_eq!(request.customer_id(), None);
    assert_eq!(request.support_plan(), SupportPlan::MpnContract);
    assert_eq!(
        request.entitlement().and_then(|e| e.reference.as_str()),
        Some("MPN-4711")
    );
}

#[test]
fn every_entitlement_kind_names_its_support_plan() {
    for (kind, plan) in [
        ("mpn_contract", SupportPlan::MpnContract),
        ("premier", SupportPlan::Premier),
        ("azure_support_plan", SupportPlan::AzureSupportPlan),
    ] {
        let mut b = body();
        b["entitlement"] = json!({ "kind": kind, "reference": "REF-1" });
        let opened = at("2026-11-24T10:00:00Z");
        let (request, _) = ServiceRequest::open(
            parse_own(b).unwrap(),
            partner(),
            RequestId::new(opened.datetime(), 1),
            opened,
            &agent(),
            policy(),
        )
        .unwrap();
        assert_eq!(request.support_plan(), plan, "{kind}");
    }
}

#[test]
fn an_incomplete_entitlement_names_each_missing_part() {
    let mut b = body();
    b["entitlement"] = json!({ "kind": "gold_partner" });
    let errors = parse_own(b).unwrap_err();
    assert!(matches!(
        errors.problem("$.entitlement.kind"),
        Some(Problem::NotOneOf { .. })
    ));
    assert_eq!(errors.problem("$.entitlement.reference"), Some(&Problem::Required));
}

#[test]
fn an_entitlement_on_a_customer_request_is_refused() {
    let mut b = body();
    b["entitlement"] = json!({ "kind": "premier", "reference": "P-1" });
    let errors = parse_customer(b).unwrap_err();
    assert_eq!(
        errors.problem("$.entitlement"),
        Some(&Problem::EntitlementNotApplicable)
    );
}

#[test]
fn the_partners_own_tenant_cannot_be_filed_as_a_customer() {
    let partner = PartnerId::parse(CUSTOMER).unwrap();
    let errors = NewServiceRequest::parse(input(body()), TenantInput::Customer(CUSTOMER), &partner).unwrap_err();
    assert_eq!(
        errors.problem("path:customerId"),
        Some(&Problem::OwnTenantOnCustomerRoute)
    );
}

#[test]
fn phone_contact_is_refused_because_there_is_no_telephone_support() {
    let mut b = body();
    b["contact"]["preferredContactMethod"] = json!("phone");
    let errors = parse_customer(b).unwrap_err();
    assert_eq!(
        errors.problem("$.contact.preferredContactMethod"),
        Some(&Problem::PhoneNotOffered)
    );
    assert!(
        errors.to_string().contains("telephone support is not offered"),
        "{errors}"
    );
}

#[test]
fn a_phone_number_may_be_recorded_but_the_channel_stays_email() {
    let mut b = body();
    b["contact"]["phone"] = json!("+49 30 1234567");
    b["contact"].as_object_mut().unwrap().remove("preferredContactMethod");
    let request = open(b, "2026-11-24T10:00:00Z");
    assert_eq!(
        request.contact().phone.as_ref().map(Phone::as_str),
        Some("+49 30 1234567")
    );
    assert_eq!(request.contact().preferred_contact_method, ContactMethod::Email);
}

#[test]
fn billable_table() {
    // (product, feeCoverage, billable)
    let cases = [
        ("azure", None, true),
        ("azure", Some("signature_cloud_support"), false),
        ("azure", Some("mpn_benefit"), false),
        ("office365", None, false),
        ("dynamics_crm_online", None, false),
        ("enterprise_mobility_suite", None, false),
    ];
    for (product, coverage, billable) in cases {
        let mut b = body();
        b["product"] = json!(product);
        if let Some(c) = coverage {
            b["feeCoverage"] = json!(c);
        }
        let request = open(b, "2026-11-24T10:00:00Z");
        assert_eq!(request.billable(), billable, "{product} {coverage:?}");
        assert_eq!(
            request.fee_coverage().map(FeeCoverage::as_str),
            coverage,
            "coverage is recorded"
        );
    }
}

#[test]
fn fee_coverage_applies_only_to_azure() {
    let mut b = body();
    b["product"] = json!("office365");
    b["feeCoverage"] = json!("mpn_benefit");
    let errors = parse_customer(b).unwrap_err();
    assert_eq!(
        errors.problem("$.feeCoverage"),
        Some(&Problem::FeeCoverageNotApplicable)
    );
}

#[test]
fn every_bad_field_is_reported_with_its_path() {
    let b = json!({
        "product": "xbox",
        "category": "complaint",
        "severity": "D",
        "supportTopic": "",
        "title": "x".repeat(256),
        "description": "bell\u{0007}",
        "language": "english!",
        "contact": { "name": "", "email": "not-an-email", "phone": "call me", "preferredContactMethod": "phone" },
        "feeCoverage": "coupon"
    });
    let errors = NewServiceRequest::parse(input(b), TenantInput::Customer("nope"), &partner()).unwrap_err();
    let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "path:customerId",
            "$.product",
            "$.category",
            "$.severity",
            "$.supportTopic",
            "$.title",
            "$.description",
            "$.language",
            "$.contact.name",
            "$.contact.email",
            "$.contact.phone",
            "$.contact.preferredContactMethod",
            "$.feeCoverage",
        ]
    );
    assert_eq!(
        errors.problem("$.title"),
        Some(&Problem::TooLong { max: 255, actual: 256 })
    );
    assert_eq!(
        errors.problem("$.description"),
        Some(&Problem::ControlCharacter { code: 7, position: 4 })
    );
}

#[test]
fn missing_fields_are_required() {
    let errors = parse_customer(json!({})).unwrap_err();
    for field in [
        "$.product",
        "$.category",
        "$.severity",
        // A catalogue topic (or, for older clients, free text alone).
        "$.supportTopicId",
        "$.title",
        "$.description",
        "$.language",
        "$.contact",
    ] {
        assert_eq!(errors.problem(field), Some(&Problem::Required), "{field}");
    }
    let errors = parse_customer(json!({ "contact": {} })).unwrap_err();
    assert_eq!(errors.problem("$.contact.name"), Some(&Problem::Required));
    assert_eq!(errors.problem("$.contact.email"), Some(&Problem::Required));
}

#[test]
fn unknown_fields_are_not_silently_dropped() {
    let mut b = body();
    b["customerEmail"] = json!("someone@customer.example");
    assert!(serde_json::from_value::<NewRequestInput>(b).is_err());
    let mut b = body();
    b["contact"]["mobile"] = json!("+1 555 0100");
    assert!(serde_json::from_value::<NewRequestInput>(b).is_err());
}

#[test]
fn only_partner_agents_file_requests() {
    let opened = at("2026-11-24T10:00:00Z");
    let err = ServiceRequest::open(
        parse_customer(body()).unwrap(),
        partner(),
        RequestId::new(opened.datetime(), 1),
        opened,
        &engineer(),
        policy(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        OpenError::Transition(TransitionError::NotPermitted {
            action: "create",
            role: Role::SupportEngineer
        })
    );
}

#[test]
fn opening_records_the_sla_basis_and_emits_created() {
    let opened = at("2026-11-24T10:00:00Z");
    let (request, event) = ServiceRequest::open(
        parse_customer(body()).unwrap(),
        partner(),
        RequestId::new(opened.datetime(), 1),
        opened,
        &agent(),
        policy(),
    )
    .unwrap();
    assert_eq!(request.status(), Status::Open);
    assert_eq!(request.version(), 1);
    let sla = request.sla();
    assert_eq!(sla.state, SlaState::Pending);
    assert_eq!(sla.policy_version, policy().version());
    assert_eq!(sla.target_minutes, 240);
    assert_eq!(sla.due_at, at("2026-11-24T14:00:00Z"));
    assert_eq!(event.kind(), "created");
    assert_eq!(event.version, 1);
    assert_eq!(event.actor, agent());
    assert_eq!(event.resulting.due_at, sla.due_at);
    assert!(event.resulting.billable);
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["kind"], "created");
    assert_eq!(json["change"]["request"]["title"], "VMs unreachable");
    assert_eq!(json["actor"]["role"], "partner_agent");
}

#[test]
fn the_resource_serialises_in_the_api_shape_and_round_trips() {
    let request = open(body(), "2026-11-24T10:00:00Z");
    let json = serde_json::to_value(&request).unwrap();
    for key in [
        "id",
        "partnerId",
        "customerId",
        "scope",
        "product",
        "category",
        "severity",
        "supportTopic",
        "title",
        "description",
        "language",
        "contact",
        "supportPlan",
        "billable",
        "status",
        "sla",
        "createdAt",
        "updatedAt",
        "version",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["sla"]["state"], "pending");
    assert_eq!(json["sla"]["dueAt"], "2026-11-24T14:00:00.000Z");
    let back: ServiceRequest = serde_json::from_value(json).unwrap();
    assert_eq!(back, request);
}

/// A request opened under the previous policy (no fee basis; billing then charged) keeps
/// its due time and fee record through later changes: the new policy applies to new requests.
#[test]
fn requests_opened_under_an_earlier_policy_keep_their_due_time_and_fee_record() {
    let mut b = body();
    b["category"] = json!("billing");
    let current = open(b, "2026-11-24T09:00:00Z");
    let mut stored = serde_json::to_value(&current).unwrap();
    stored.as_object_mut().unwrap().remove("feeBasis");
    stored["billable"] = json!(true);
    stored["sla"]["policyVersion"] = json!("2026.11.1");
    stored["sla"]["dueAt"] = json!("2026-11-25T08:00:00.000Z");
    let old: ServiceRequest = serde_json::from_value(stored).unwrap();
    assert_eq!(old.fee_basis(), None);
    let (next, event) = old
        .apply(
            Action::Note {
                message: message("still looking"),
            },
            &agent(),
            at("2026-11-24T10:00:00Z"),
            policy(),
        )
        .unwrap();
    assert!(next.billable(), "the fee record it was given");
    assert_eq!(next.fee_basis(), None);
    assert_eq!(next.sla().policy_version, "2026.11.1");
    assert_eq!(next.sla().due_at, at("2026-11-25T08:00:00Z"));
    let recorded = serde_json::to_value(&event).unwrap();
    assert_eq!(recorded["resulting"]["billable"], true);
    assert_eq!(recorded["resulting"]["feeBasis"], serde_json::Value::Null);
}
