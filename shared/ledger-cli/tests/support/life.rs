//! The request the `explain` tests and the `explain` bench replay: a German Azure request of
//! contoso's customer, and the actors that change it. Included by both with
//! `#[path = …] mod life;` (a bench cannot use a test's modules otherwise).

use domain::*;
use serde_json::json;

pub fn at(t: &str) -> Timestamp {
    Timestamp::parse(t).expect("a time")
}

/// Who changes the request: contoso's agent, the vendor's engineer and the SLA sweep.
pub struct Cast {
    pub agent: Actor,
    pub engineer: Actor,
    pub sweep: Actor,
}

pub fn cast() -> Cast {
    Cast {
        agent: Actor::new(Role::PartnerAgent, Subject::parse("agent@contoso").expect("subject")),
        engineer: Actor::new(Role::SupportEngineer, Subject::parse("eng@vendor").expect("subject")),
        sweep: Actor::system("sla-sweep").expect("sweep"),
    }
}

/// The request of `severity`, opened by the agent at `opened`: it and its creation event.
pub fn open(severity: &str, opened: &str, policy: &SupportPolicy) -> (ServiceRequest, DomainEvent) {
    let partner = PartnerId::parse("contoso").expect("partner");
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": "azure",
        "category": "technical",
        "severity": severity,
        "supportTopic": "Virtual machines / cannot connect",
        "title": "VMs unreachable",
        "description": "Since 10:00 no VM in West Europe answers.",
        "language": "de-DE",
        "contact": { "name": "Erika Partner", "email": "erika@partner.example", "preferredContactMethod": "email" }
    }))
    .expect("input");
    let new = NewServiceRequest::parse(
        input,
        TenantInput::Customer("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        &partner,
    )
    .expect("valid");
    let opened = at(opened);
    ServiceRequest::open(
        new,
        partner,
        RequestId::new(opened.datetime(), 1),
        opened,
        &cast().agent,
        policy,
    )
    .expect("open")
}
