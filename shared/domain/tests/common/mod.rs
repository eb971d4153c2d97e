//! Fixtures shared by the domain's integration tests.
#![allow(dead_code)]

use domain::*;
use serde_json::{Value, json};

pub const CUSTOMER: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/// The shipped policy, parsed once per test binary (it computes every holiday of its years).
pub fn policy() -> &'static SupportPolicy {
    static POLICY: std::sync::OnceLock<SupportPolicy> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| SupportPolicy::embedded().expect("shipped policy parses"))
}

pub fn partner() -> PartnerId {
    PartnerId::parse("contoso-partner").unwrap()
}

pub fn agent() -> Actor {
    Actor::new(Role::PartnerAgent, Subject::parse("agent-7").unwrap())
}

pub fn engineer() -> Actor {
    Actor::new(Role::SupportEngineer, Subject::parse("engineer-1").unwrap())
}

pub fn sweep() -> Actor {
    Actor::system("sla-sweep").unwrap()
}

pub fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse(rfc3339).unwrap()
}

/// A valid create body for a customer request; tests change one thing at a time.
pub fn body() -> Value {
    json!({
        "product": "azure",
        "category": "technical",
        "severity": "B",
        "supportTopic": "Virtual machines / cannot connect",
        "title": "VMs unreachable",
        "description": "Since 10:00 no VM in West Europe answers.",
        "language": "en",
        "contact": { "name": "Erika Partner", "email": "erika@partner.example", "preferredContactMethod": "email" }
    })
}

pub fn input(value: Value) -> NewRequestInput {
    serde_json::from_value(value).expect("body has the input shape")
}

pub fn parse_customer(value: Value) -> Result<NewServiceRequest, ValidationErrors> {
    NewServiceRequest::parse(input(value), TenantInput::Customer(CUSTOMER), &partner())
}

pub fn parse_own(value: Value) -> Result<NewServiceRequest, ValidationErrors> {
    NewServiceRequest::parse(input(value), TenantInput::PartnerOwn, &partner())
}

/// Open a request from `value` (customer scope) at `opened`.
pub fn open(value: Value, opened: &str) -> ServiceRequest {
    let new = parse_customer(value).expect("valid body");
    let opened = at(opened);
    ServiceRequest::open(
        new,
        partner(),
        RequestId::new(opened.datetime(), 7),
        opened,
        &agent(),
        policy(),
    )
    .expect("opens")
    .0
}

pub fn message(text: &str) -> Message {
    Message::parse(text).unwrap()
}
