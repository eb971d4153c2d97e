//! Validation errors: what is wrong with one value ([`Problem`]) and where ([`FieldError`]).

use std::fmt;

/// Why one value was refused. The messages are written for the partner who sent the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("is required")]
    Required,
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters (got {actual})")]
    TooLong { max: usize, actual: usize },
    #[error("must be at least {min} characters (got {actual})")]
    TooShort { min: usize, actual: usize },
    #[error("contains the control character U+{code:04X} at character {position}; only newline and tab are allowed")]
    ControlCharacter { code: u32, position: usize },
    #[error("must be a single line")]
    Multiline,
    #[error(
        "contains the invisible or direction-changing character U+{code:04X} at character {position}; such characters make text read differently from what it says"
    )]
    InvisibleCharacter { code: u32, position: usize },
    #[error("must be one of: {allowed}")]
    NotOneOf { allowed: &'static str },
    #[error("must be a tenant GUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6")]
    NotAGuid,
    #[error("must be a request id (a 26-character ULID)")]
    NotARequestId,
    #[error("must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")]
    NotAPartnerId,
    #[error("must be an e-mail address such as agent@partner.example")]
    NotAnEmail,
    #[error("must be a phone number of digits, spaces and + - ( )")]
    NotAPhoneNumber,
    #[error("must be a BCP 47 language tag such as en, de-DE or ja")]
    NotALanguageTag,
    #[error("must be an RFC 3339 timestamp such as 2026-11-27T15:30:00Z")]
    NotATimestamp,
    #[error("must be printable ASCII (1-255 characters)")]
    NotPrintableAscii,
    #[error("telephone support is not offered for this program; the preferred contact method must be email")]
    PhoneNotOffered,
    #[error(
        "is required for a request on the partner's own tenant: support for your own tenant is not part of the CSP benefit, so give proof of an entitlement (kind mpn_contract, premier or azure_support_plan, and its reference)"
    )]
    EntitlementRequired,
    #[error(
        "applies only to a request on the partner's own tenant; requests on behalf of a customer use the Cloud Solution Provider support plan"
    )]
    EntitlementNotApplicable,
    #[error(
        "applies only to Azure: Office 365, Dynamics CRM Online and Enterprise Mobility Suite support carry no fee"
    )]
    FeeCoverageNotApplicable,
    #[error("does not apply to the action {action}")]
    NotForAction { action: &'static str },
    #[error("is your own tenant: file requests for your own tenant with POST /service-requests and an entitlement")]
    OwnTenantOnCustomerRoute,
    #[error("must be a case reference: 1-64 characters of letters, digits and . _ - : / (a ticket id, never a name)")]
    NotACaseReference,
    #[error("must be a commitment: 64 lower-case hex digits")]
    NotACommitment,
    #[error("is not a topic of the support-topic catalogue; see GET /support-topics?product={product}")]
    UnknownTopic { product: &'static str },
    #[error("is a {product} topic; see GET /support-topics for this request's product")]
    TopicOfAnotherProduct { product: &'static str },
    #[error("does not fit the category {category}; see the topic's categories in GET /support-topics")]
    TopicNotForCategory { category: &'static str },
}

/// One refused field, located by its JSON path (`$.contact.email`) or parameter name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Every field that failed validation, in input order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s): {}", .errors.len(), summary(.errors))]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

fn summary(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ValidationErrors {
    /// Whether `field` is among the refused fields (mostly for tests and logging).
    pub fn has(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    pub fn problem(&self, field: &str) -> Option<&Problem> {
        self.errors.iter().find(|e| e.field == field).map(|e| &e.problem)
    }
}

/// Collects field errors while parsing a whole input, so that one response lists them all.
#[derive(Debug, Default)]
pub struct Collector {
    errors: Vec<FieldError>,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `result`'s error under `field`; hand back the value if it parsed.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Problem>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(problem) => {
                self.push(field, problem);
                None
            }
        }
    }

    /// A required input: `None` is reported as [`Problem::Required`].
    pub fn required<R, T>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, Problem>,
    ) -> Option<T> {
        match raw {
            Some(raw) => self.check(field, parse(raw)),
            None => {
                self.push(field, Problem::Required);
                None
            }
        }
    }

    /// An optional input: `None` is fine and yields `Some(None)`; a bad value yields `None`.
    pub fn optional<R, T>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, Problem>,
    ) -> Option<Option<T>> {
        match raw {
            Some(raw) => self.check(field, parse(raw)).map(Some),
            None => Some(None),
        }
    }

    pub fn push(&mut self, field: &str, problem: Problem) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            problem,
        });
    }

    /// `Ok(())` if nothing was refused, else every error collected.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors { errors: self.errors })
        }
    }
}
