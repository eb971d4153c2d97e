//! Filing a service request: the create input, its validation, and the request itself.

use serde::{Deserialize, Serialize};

use crate::enums::{
    Category, ContactMethod, EntitlementKind, FeeBasis, FeeCoverage, Product, Role, Scope, Severity, Status,
    SupportPlan,
};
use crate::error::{Collector, Problem, ValidationErrors};
use crate::event::{Change, DomainEvent};
use crate::ids::{CustomerId, PartnerId, RequestId, Subject};
use crate::lifecycle::{Actor, TransitionError};
use crate::personal::Personal;
use crate::policy::{PolicyError, Sla, SupportPolicy};
use crate::text::{ContactName, Description, EntitlementReference, SupportTopic, Title};
use crate::topics::{TopicCatalogue, TopicRef};
use crate::values::{Email, LanguageTag, Phone, Timestamp};

/// The create body exactly as sent: every field optional and every enum a string, so that
/// one response can list every problem instead of the first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRequestInput {
    pub product: Option<String>,
    pub category: Option<String>,
    pub severity: Option<String>,
    /// A topic of the support-topic catalogue (`GET /support-topics`).
    pub support_topic_id: Option<String>,
    /// Free-text detail of the topic (optional when `supportTopicId` is given).
    pub support_topic: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    pub contact: Option<ContactInput>,
    pub entitlement: Option<EntitlementInput>,
    pub fee_coverage: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preferred_contact_method: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntitlementInput {
    pub kind: Option<String>,
    pub reference: Option<String>,
}

/// Whose tenant a new request is for, as the route says (the customer id still unparsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantInput<'a> {
    Customer(&'a str),
    PartnerOwn,
}

/// The partner's contact for the request: the partner's details, never the customer's.
/// Name, e-mail address and phone are personal data (erasable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(default)]
    pub name: Personal<ContactName>,
    #[serde(default)]
    pub email: Personal<Email>,
    #[serde(default)]
    pub phone: Option<Phone>,
    pub preferred_contact_method: ContactMethod,
}

/// Proof of a support entitlement, required for the partner's own tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    pub kind: EntitlementKind,
    #[serde(default)]
    pub reference: Personal<EntitlementReference>,
}

/// A validated request to open, before it has an id, a time or an SLA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceRequest {
    customer_id: Option<CustomerId>,
    product: Product,
    category: Category,
    severity: Severity,
    topic: Option<TopicRef>,
    support_topic: Option<SupportTopic>,
    title: Title,
    description: Description,
    language: LanguageTag,
    contact: Contact,
    entitlement: Option<Entitlement>,
    fee_coverage: Option<FeeCoverage>,
}

impl NewServiceRequest {
    /// Validate a create body for `partner`, reporting every bad field with its path.
    pub fn parse(
        input: NewRequestInput,
        tenant: TenantInput<'_>,
        partner: &PartnerId,
    ) -> Result<Self, ValidationErrors> {
        let mut c = Collector::new();
        let customer_id = match tenant {
            TenantInput::Customer(raw) => c
                .check(
                    "path:customerId",
                    CustomerId::parse(raw).and_then(|id| not_own_tenant(id, partner)),
                )
                .map(Some),
            TenantInput::PartnerOwn => Some(None),
        };
        let product = c.required("$.product", input.product, |s| Product::parse(&s));
        let category = c.required("$.category", input.category, |s| Category::parse(&s));
        let severity = c.required("$.severity", input.severity, |s| Severity::parse(&s));
        let topic_id = c.optional("$.supportTopicId", input.support_topic_id, |s| {
            crate::topics::parse_topic_id(&s)
        });
        let support_topic = c.optional("$.supportTopic", input.support_topic, |s| SupportTopic::parse(&s));
        // The topic from the catalogue, checked against the product and category.
        let topic = match (&topic_id, product, category) {
            (Some(Some(id)), Some(product), Some(category)) => c
                .check(
                    "$.supportTopicId",
                    TopicCatalogue::embedded().resolve(id, product, category),
                )
                .map(Some),
            (Some(None), _, _) if matches!(support_topic, Some(None)) => {
                c.push("$.supportTopicId", Problem::Required);
                None
            }
            (Some(None), _, _) => Some(None),
            // A bad id, product or category is reported already.
            _ => None,
        };
        let title = c.required("$.title", input.title, |s| Title::parse(&s));
        let description = c.required("$.description", input.description, |s| Description::parse(&s));
        let language = c.required("$.language", input.language, |s| LanguageTag::parse(&s));
        let contact = parse_contact(&mut c, input.contact);
        let entitlement = parse_entitlement(&mut c, input.entitlement, tenant);
        let fee_coverage = c.optional("$.feeCoverage", input.fee_coverage, |s| FeeCoverage::parse(&s));
        if let (Some(product), Some(Some(_))) = (product, fee_coverage)
            && product != Product::Azure
        {
            c.push("$.feeCoverage", Problem::FeeCoverageNotApplicable);
        }
        let parsed = (|| {
            Some(Self {
                customer_id: customer_id?,
                product: product?,
                category: category?,
                severity: severity?,
                topic: topic?,
                support_topic: support_topic?,
                title: title?,
                description: description?,
                language: language?,
                contact: contact?,
                entitlement: entitlement?,
                fee_coverage: fee_coverage?,
            })
        })();
        c.finish()?;
        // Every `None` above was recorded as an error, so `finish` has returned already.
        parsed.ok_or_else(|| ValidationErrors { errors: Vec::new() })
    }

    pub fn scope(&self) -> Scope {
        if self.customer_id.is_some() {
            Scope::Customer
        } else {
            Scope::PartnerOwn
        }
    }
}

fn not_own_tenant(id: CustomerId, partner: &PartnerId) -> Result<CustomerId, Problem> {
    if partner.tenant().is_some() && partner.tenant() == id.uuid() {
        Err(Problem::OwnTenantOnCustomerRoute)
    } else {
        Ok(id)
    }
}

fn parse_contact(c: &mut Collector, input: Option<ContactInput>) -> Option<Contact> {
    let Some(input) = input else {
        c.push("$.contact", Problem::Required);
        return None;
    };
    let name = c.required("$.contact.name", input.name, |s| ContactName::parse(&s));
    let email = c.required("$.contact.email", input.email, |s| Email::parse(&s));
    let phone = c.optional("$.contact.phone", input.phone, |s| Phone::parse(&s));
    // Email is the only channel; an absent preference means email.
    let preferred = c.check(
        "$.contact.preferredContactMethod",
        input
            .preferred_contact_method
            .map_or(Ok(ContactMethod::Email), |s| ContactMethod::parse_preference(&s)),
    );
    Some(Contact {
        name: name?.into(),
        email: email?.into(),
        phone: phone?,
        preferred_contact_method: preferred?,
    })
}

/// `Some(Some(_))`: a valid entitlement; `Some(None)`: none, and none needed; `None`: an error was recorded.
fn parse_entitlement(
    c: &mut Collector,
    input: Option<EntitlementInput>,
    tenant: TenantInput<'_>,
) -> Option<Option<Entitlement>> {
    match (tenant, input) {
        (TenantInput::Customer(_), None) => Some(None),
        (TenantInput::Customer(_), Some(_)) => {
            c.push("$.entitlement", Problem::EntitlementNotApplicable);
            None
        }
        (TenantInput::PartnerOwn, None) => {
            c.push("$.entitlement", Problem::EntitlementRequired);
            None
        }
        (TenantInput::PartnerOwn, Some(e)) => {
            let kind = c.required("$.entitlement.kind", e.kind, |s| EntitlementKind::parse(&s));
            let reference = c.required("$.entitlement.reference", e.reference, |s| {
                EntitlementReference::parse(&s)
            });
            Some(Some(Entitlement {
                kind: kind?,
                reference: reference?.into(),
            }))
        }
    }
}

/// A service request as stored and as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRequest {
    pub(crate) id: RequestId,
    pub(crate) partner_id: PartnerId,
    pub(crate) customer_id: Option<CustomerId>,
    pub(crate) scope: Scope,
    pub(crate) product: Product,
    pub(crate) category: Category,
    pub(crate) severity: Severity,
    /// The catalogue topic, as it was when the request was filed.
    #[serde(default)]
    pub(crate) topic: Option<TopicRef>,
    /// Free-text detail (personal: it is the partner's words).
    #[serde(default)]
    pub(crate) support_topic: Option<Personal<SupportTopic>>,
    #[serde(default)]
    pub(crate) title: Personal<Title>,
    #[serde(default)]
    pub(crate) description: Personal<Description>,
    pub(crate) language: LanguageTag,
    pub(crate) contact: Contact,
    pub(crate) entitlement: Option<Entitlement>,
    pub(crate) support_plan: SupportPlan,
    pub(crate) fee_coverage: Option<FeeCoverage>,
    pub(crate) billable: bool,
    /// Why `billable` is what it is (absent on requests opened under a policy before
    /// 2026.12.1, which did not record it).
    #[serde(default)]
    pub(crate) fee_basis: Option<FeeBasis>,
    pub(crate) status: Status,
    pub(crate) status_since: Timestamp,
    pub(crate) sla: Sla,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) version: u64,
    /// When its personal data was erased (then every personal field is `null`).
    #[serde(default)]
    pub(crate) personal_data_erased_at: Option<Timestamp>,
    /// The support engineer working on it (their token subject), if anyone took it.
    #[serde(default)]
    pub(crate) assignee: Option<Subject>,
    /// What each side has written on it so far, against its budget (absent until someone
    /// writes: a new request's `created` entry does not carry it).
    #[serde(default, skip_serializing_if = "Conversation::is_empty")]
    pub(crate) conversation: Conversation,
}

/// The text each side has written on a request (messages, notes, reasons), which is bounded
/// per side so that neither can exhaust the other's room and its history stays readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conversation {
    #[serde(default)]
    pub partner: Written,
    #[serde(default)]
    pub vendor: Written,
}

/// One side's part: how many actions (each one ledger entry), how many of them wrote a text,
/// and how many bytes (UTF-8) of text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Written {
    #[serde(default)]
    pub actions: u32,
    pub texts: u32,
    pub bytes: u64,
}

impl Conversation {
    /// Actions (each a ledger entry: a note, a severity change, an assignment …) one side may
    /// take on one request.
    pub const MAX_ACTIONS: u32 = 500;
    /// Texts (messages, notes, reasons) one side may write on one request.
    pub const MAX_TEXTS: u32 = 250;
    /// Bytes (UTF-8) of text one side may write on one request: 512 KiB.
    pub const MAX_BYTES: u64 = 512 * 1024;
    /// Support's reply to a reply it owes is never refused for the budget when its text is at
    /// most this long: a partner cannot force a breach by outlasting the vendor's budget (and
    /// such replies stay bounded: each answers a partner's follow-up, which its budget bounds).
    pub const OWED_REPLY_BYTES: u64 = 1024;

    pub fn is_empty(&self) -> bool {
        *self == Conversation::default()
    }
}

impl ServiceRequest {
    /// Open `new` as request `id` of `partner` at `opened_at`, filed by `actor`.
    pub fn open(
        new: NewServiceRequest,
        partner: PartnerId,
        id: RequestId,
        opened_at: Timestamp,
        actor: &Actor,
        policy: &SupportPolicy,
    ) -> Result<(Self, DomainEvent), OpenError> {
        if actor.role != Role::PartnerAgent {
            return Err(OpenError::Transition(TransitionError::NotPermitted {
                action: "create",
                role: actor.role,
            }));
        }
        let due = policy.initial_response_due(opened_at, new.category, new.severity, &new.language)?;
        let fee = policy.fee(new.product, new.category, new.fee_coverage);
        let support_plan = match &new.entitlement {
            None => SupportPlan::CloudSolutionProvider,
            Some(e) => SupportPlan::from(e.kind),
        };
        let request = Self {
            id,
            partner_id: partner,
            scope: new.scope(),
            customer_id: new.customer_id,
            product: new.product,
            category: new.category,
            severity: new.severity,
            topic: new.topic,
            support_topic: new.support_topic.map(Personal::from),
            title: new.title.into(),
            description: new.description.into(),
            language: new.language,
            contact: new.contact,
            entitlement: new.entitlement,
            support_plan,
            billable: fee.billable,
            fee_basis: Some(fee.basis),
            fee_coverage: new.fee_coverage,
            status: Status::Open,
            status_since: opened_at,
            sla: Sla::pending(due),
            created_at: opened_at,
            updated_at: opened_at,
            version: 1,
            personal_data_erased_at: None,
            assignee: None,
            conversation: Conversation::default(),
        };
        let event = DomainEvent::new(
            &request,
            actor,
            opened_at,
            Change::Created {
                request: Box::new(request.clone()),
            },
            policy,
        );
        Ok((request, event))
    }

    /// This request as `open` files it under `policy`: its clock and fee re-computed from what
    /// was filed, the state and event of its creation (`domain::explain` replays from here).
    pub(crate) fn refiled(&self, policy: &SupportPolicy, actor: &Actor) -> Result<(Self, DomainEvent), PolicyError> {
        let due = policy.initial_response_due(self.created_at, self.category, self.severity, &self.language)?;
        let fee = policy.fee(self.product, self.category, self.fee_coverage);
        let support_plan = match &self.entitlement {
            None => SupportPlan::CloudSolutionProvider,
            Some(e) => SupportPlan::from(e.kind),
        };
        let request = Self {
            billable: fee.billable,
            fee_basis: Some(fee.basis),
            support_plan,
            status: Status::Open,
            status_since: self.created_at,
            sla: Sla::pending(due),
            updated_at: self.created_at,
            version: 1,
            personal_data_erased_at: None,
            assignee: None,
            conversation: Conversation::default(),
            ..self.clone()
        };
        let event = DomainEvent::new(
            &request,
            actor,
            self.created_at,
            Change::Created {
                request: Box::new(request.clone()),
            },
            policy,
        );
        Ok((request, event))
    }

    pub fn id(&self) -> RequestId {
        self.id
    }
    pub fn partner_id(&self) -> &PartnerId {
        &self.partner_id
    }
    pub fn customer_id(&self) -> Option<&CustomerId> {
        self.customer_id.as_ref()
    }
    pub fn scope(&self) -> Scope {
        self.scope
    }
    pub fn product(&self) -> Product {
        self.product
    }
    pub fn category(&self) -> Category {
        self.category
    }
    pub fn severity(&self) -> Severity {
        self.severity
    }
    pub fn title(&self) -> &Personal<Title> {
        &self.title
    }
    pub fn description(&self) -> &Personal<Description> {
        &self.description
    }
    pub fn support_topic(&self) -> Option<&Personal<SupportTopic>> {
        self.support_topic.as_ref()
    }
    pub fn topic(&self) -> Option<&TopicRef> {
        self.topic.as_ref()
    }
    /// When the request's personal data was erased, if it was.
    pub fn personal_data_erased_at(&self) -> Option<Timestamp> {
        self.personal_data_erased_at
    }
    pub fn language(&self) -> &LanguageTag {
        &self.language
    }
    pub fn contact(&self) -> &Contact {
        &self.contact
    }
    pub fn entitlement(&self) -> Option<&Entitlement> {
        self.entitlement.as_ref()
    }
    pub fn support_plan(&self) -> SupportPlan {
        self.support_plan
    }
    pub fn fee_coverage(&self) -> Option<FeeCoverage> {
        self.fee_coverage
    }
    pub fn billable(&self) -> bool {
        self.billable
    }
    pub fn fee_basis(&self) -> Option<FeeBasis> {
        self.fee_basis
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn status_since(&self) -> Timestamp {
        self.status_since
    }
    pub fn sla(&self) -> &Sla {
        &self.sla
    }
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the SLA sweep must look at this request: no first response yet, not breached,
    /// not closed (a withdrawn request has nobody waiting for an answer).
    pub fn awaits_first_response(&self) -> bool {
        self.sla.state == crate::SlaState::Pending && self.status != Status::Closed
    }

    /// What each side has written on it, against [`Conversation::MAX_TEXTS`] and
    /// [`Conversation::MAX_BYTES`].
    pub fn conversation(&self) -> Conversation {
        self.conversation
    }

    pub fn assignee(&self) -> Option<&Subject> {
        self.assignee.as_ref()
    }

    /// When the sweep must next look at this request: the due time of a response clock
    /// that runs (the first response, or support's reply in a next-response cycle).
    pub fn sweep_due_at(&self) -> Option<Timestamp> {
        if self.awaits_first_response() {
            return Some(self.sla.due_at);
        }
        self.sla
            .current
            .as_ref()
            .filter(|o| o.owed_by == crate::Party::Vendor && o.state == Some(crate::SlaState::Pending))
            .and_then(|o| o.due_at)
            .filter(|_| self.status != Status::Closed)
    }

    /// What support owes on this request, for its queue: the due time of the reply owed
    /// (first or next) and whether it is already late. `None` when nobody at the vendor owes
    /// anything (answered, waiting for the partner, resolved, closed).
    pub fn reply_owed(&self) -> Option<(Timestamp, crate::SlaState)> {
        if matches!(self.status, Status::Closed | Status::Resolved) {
            return None;
        }
        if self.sla.first_response_at.is_none() {
            return Some((self.sla.due_at, self.sla.state));
        }
        self.sla
            .current
            .as_ref()
            .filter(|o| o.owed_by == crate::Party::Vendor)
            .and_then(|o| Some((o.due_at?, o.state?)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}
