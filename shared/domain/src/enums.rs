//! The closed vocabularies of a service request, each with its one wire spelling.

use crate::error::Problem;

/// Declares an enum with one wire name per variant, `parse`/`as_str`, and serde through them.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The accepted spellings, for error messages and documentation.
            pub const NAMES: &'static str = concat!($($wire, ", "),+);

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            pub fn parse(input: &str) -> Result<Self, Problem> {
                match input {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(Problem::NotOneOf { allowed: Self::NAMES.trim_end_matches(", ") }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = Problem;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for &'static str {
            fn from(value: $name) -> &'static str {
                value.as_str()
            }
        }
    };
}

wire_enum!(
    /// Business impact as the partner declares it when filing.
    pub enum Severity {
        /// Critical: production down or severely degraded.
        A => "A",
        /// Moderate: production partly affected.
        B => "B",
        /// Minimal: services usable, or non-production affected.
        C => "C",
    }
);

impl Severity {
    /// Whether `self` is a greater business impact than `other` (A > B > C).
    pub fn is_more_severe_than(self, other: Severity) -> bool {
        let rank = |s: Severity| match s {
            Severity::A => 3,
            Severity::B => 2,
            Severity::C => 1,
        };
        rank(self) > rank(other)
    }
}

wire_enum!(
    /// The online service the request is about.
    pub enum Product {
        Azure => "azure",
        Office365 => "office365",
        DynamicsCrmOnline => "dynamics_crm_online",
        EnterpriseMobilitySuite => "enterprise_mobility_suite",
    }
);

wire_enum!(
    /// What kind of case it is. Only `technical` (break-fix) has severity-based targets.
    pub enum Category {
        Technical => "technical",
        Billing => "billing",
        BillingDispute => "billing_dispute",
        Fraud => "fraud",
        SubscriptionManagement => "subscription_management",
    }
);

impl Category {
    /// Break-fix cases get the severity targets; every other category up to one business day.
    pub fn is_break_fix(self) -> bool {
        self == Category::Technical
    }
}

wire_enum!(
    /// How support reaches the partner's contact. There is no telephone support.
    pub enum ContactMethod {
        Email => "email",
    }
);

impl ContactMethod {
    /// Like `parse`, but says why `phone` is refused.
    pub fn parse_preference(input: &str) -> Result<Self, Problem> {
        if input.trim().eq_ignore_ascii_case("phone") || input.trim().eq_ignore_ascii_case("telephone") {
            return Err(Problem::PhoneNotOffered);
        }
        Self::parse(input)
    }
}

wire_enum!(
    /// Proof of a support entitlement for the partner's own tenant.
    pub enum EntitlementKind {
        MpnContract => "mpn_contract",
        Premier => "premier",
        AzureSupportPlan => "azure_support_plan",
    }
);

wire_enum!(
    /// Whose tenant the request is about.
    pub enum Scope {
        /// A customer's tenant: covered by the CSP support benefit.
        Customer => "customer",
        /// The partner's own tenant: not covered, needs an entitlement.
        PartnerOwn => "partner_own",
    }
);

wire_enum!(
    /// A partner benefit declared to cover the Azure support fee.
    pub enum FeeCoverage {
        SignatureCloudSupport => "signature_cloud_support",
        MpnBenefit => "mpn_benefit",
    }
);

wire_enum!(
    /// Why a request does or does not carry the support fee (the policy's `[fees]` rule).
    pub enum FeeBasis {
        /// Azure technical (break-fix) support, no benefit covering it: the fee applies.
        AzureTechnical => "azure_technical",
        /// Azure technical support whose fee a declared partner benefit covers.
        CoveredByBenefit => "covered_by_benefit",
        /// Billing, billing disputes, subscription management and suspected fraud: support
        /// included free of charge for every product.
        BillingSupportIncluded => "billing_support_included",
        /// Office 365, Dynamics CRM Online and EMS: support carries no fee.
        ProductWithoutFee => "product_without_fee",
    }
);

wire_enum!(
    /// The support plan the request is filed under.
    pub enum SupportPlan {
        CloudSolutionProvider => "Cloud Solution Provider",
        MpnContract => "MPN contract",
        Premier => "Premier",
        AzureSupportPlan => "Azure support plan",
    }
);

impl From<EntitlementKind> for SupportPlan {
    fn from(kind: EntitlementKind) -> Self {
        match kind {
            EntitlementKind::MpnContract => SupportPlan::MpnContract,
            EntitlementKind::Premier => SupportPlan::Premier,
            EntitlementKind::AzureSupportPlan => SupportPlan::AzureSupportPlan,
        }
    }
}

wire_enum!(
    /// Where a request is in its life.
    pub enum Status {
        Open => "open",
        InProgress => "in_progress",
        AwaitingPartner => "awaiting_partner",
        Resolved => "resolved",
        Closed => "closed",
    }
);

wire_enum!(
    /// Where the initial-response clock stands.
    pub enum SlaState {
        /// No first response yet; the clock runs.
        Pending => "pending",
        /// First response at or before the due time.
        Met => "met",
        /// No first response by the due time.
        Breached => "breached",
    }
);

wire_enum!(
    /// Who owes the next reply on a request.
    pub enum Party {
        /// Vendor support: a next-response clock runs.
        Vendor => "vendor",
        /// The partner: support asked for information; no vendor clock runs.
        Partner => "partner",
    }
);

wire_enum!(
    /// How a next-response cycle ended.
    pub enum CycleOutcome {
        /// Support replied by the due time.
        Met => "met",
        /// No reply by the due time (recorded once, when the sweep noticed, or by the late reply).
        Breached => "breached",
        /// The partner closed the request before a reply was due.
        Withdrawn => "withdrawn",
    }
);

wire_enum!(
    /// Who may do what: partner agents file and follow up, support engineers answer, the
    /// system (the SLA sweep) records breaches, privacy officers erase personal data.
    pub enum Role {
        PartnerAgent => "partner_agent",
        SupportEngineer => "support_engineer",
        System => "system",
        /// The vendor's (or a partner's) privacy officer: erases personal data.
        PrivacyOfficer => "privacy_officer",
        /// The vendor's staff who register partner–customer relationships.
        RelationshipAdmin => "relationship_admin",
        /// The vendor's auditors (fraud reviews, billing disputes): read any chain.
        Auditor => "auditor",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_wire_name() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Result<T, Problem>,
        ) {
            for v in all {
                assert_eq!(parse(as_str(*v)), Ok(*v));
            }
        }
        check(Severity::ALL, Severity::as_str, Severity::parse);
        check(Product::ALL, Product::as_str, Product::parse);
        check(Category::ALL, Category::as_str, Category::parse);
        check(ContactMethod::ALL, ContactMethod::as_str, ContactMethod::parse);
        check(EntitlementKind::ALL, EntitlementKind::as_str, EntitlementKind::parse);
        check(Scope::ALL, Scope::as_str, Scope::parse);
        check(FeeCoverage::ALL, FeeCoverage::as_str, FeeCoverage::parse);
        check(FeeBasis::ALL, FeeBasis::as_str, FeeBasis::parse);
        check(Party::ALL, Party::as_str, Party::parse);
        check(CycleOutcome::ALL, CycleOutcome::as_str, CycleOutcome::parse);
        check(SupportPlan::ALL, SupportPlan::as_str, SupportPlan::parse);
        check(Status::ALL, Status::as_str, Status::parse);
        check(SlaState::ALL, SlaState::as_str, SlaState::parse);
        check(Role::ALL, Role::as_str, Role::parse);
    }

    #[test]
    fn unknown_values_list_what_is_accepted() {
        assert_eq!(Severity::parse("D"), Err(Problem::NotOneOf { allowed: "A, B, C" }));
        assert_eq!(Severity::parse("a"), Err(Problem::NotOneOf { allowed: "A, B, C" }));
        assert!(matches!(Product::parse("xbox"), Err(Problem::NotOneOf { .. })));
    }

    #[test]
    fn phone_is_refused_with_the_policy_reason() {
        assert_eq!(ContactMethod::parse_preference("phone"), Err(Problem::PhoneNotOffered));
        assert_eq!(
            ContactMethod::parse_preference("Telephone"),
            Err(Problem::PhoneNotOffered)
        );
        assert_eq!(ContactMethod::parse_preference("email"), Ok(ContactMethod::Email));
        assert!(matches!(
            ContactMethod::parse_preference("fax"),
            Err(Problem::NotOneOf { .. })
        ));
    }

    #[test]
    fn only_technical_is_break_fix() {
        let break_fix: Vec<_> = Category::ALL.iter().filter(|c| c.is_break_fix()).collect();
        assert_eq!(break_fix, vec![&Category::Technical]);
    }
}
