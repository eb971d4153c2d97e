//! Who is calling: only ever from the claims the JWT authorizer verified (API Gateway, or the
//! local router doing the same checks). Never from the body or the query.
//!
//! Two populations use the API, told apart by the token's audience — which a partner's
//! identity provider cannot issue for the vendor's application:
//!
//! - **partners**: tokens for the partner audience, carrying the partner id claim; scopes
//!   `requests/read`, `requests/write`, `ledger/read` (and `privacy/erase` for a partner's
//!   own privacy officer);
//! - **vendor staff**: tokens for the vendor audience, never carrying a partner id; scopes
//!   `requests/respond` (support engineers), `ledger/audit` (auditors), `privacy/erase`,
//!   `relationships/admin`.
//!
//! A token that mixes the two (the vendor audience with a partner id, or a partner's token
//! with a vendor-only scope) is refused whole (403).

use domain::{PartnerId, Subject};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::routes::{LEDGER_AUDIT, RELATIONSHIPS_ADMIN, RESPOND, WRITE};

/// Scopes only vendor staff hold.
pub const VENDOR_ONLY_SCOPES: &[&str] = &[RESPOND, LEDGER_AUDIT, RELATIONSHIPS_ADMIN];

/// How tokens map to callers (from the function's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// The claim that carries the partner id (`partner_id`).
    pub partner_claim: String,
    /// The audience of vendor staff tokens.
    pub vendor_audience: String,
}

impl IdentityConfig {
    pub fn new(partner_claim: impl Into<String>, vendor_audience: impl Into<String>) -> Self {
        Self {
            partner_claim: partner_claim.into(),
            vendor_audience: vendor_audience.into(),
        }
    }
}

/// Which population a caller belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Population {
    /// A partner's agent (or privacy officer), for this partner (absent: a token without
    /// the claim, which partner routes refuse).
    Partner(Option<PartnerId>),
    /// The vendor's staff.
    Vendor,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: Subject,
    pub population: Population,
    scopes: Vec<String>,
}

/// The verified claims of a request (API Gateway passes list claims as `[a b]`).
fn claims(request: &Request) -> Option<&std::collections::HashMap<String, String>> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .map(|jwt| &jwt.claims)
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .filter(|s| !s.is_empty())
}

impl Caller {
    /// The caller of `request`.
    pub fn from_request(request: &Request, config: &IdentityConfig) -> Result<Self, ApiError> {
        let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
            return Err(ApiError::Unauthenticated);
        };
        let jwt = context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .ok_or(ApiError::Unauthenticated)?;
        Self::from_claims(&jwt.claims, jwt.scopes.as_deref().unwrap_or_default(), config)
    }

    /// The caller the verified claims (as API Gateway passes them: every value a string,
    /// lists as `[a b]`) and the authorizer's scopes describe.
    pub fn from_claims(
        claims: &std::collections::HashMap<String, String>,
        authorizer_scopes: &[String],
        config: &IdentityConfig,
    ) -> Result<Self, ApiError> {
        let subject = claims
            .get("sub")
            .and_then(|s| Subject::parse(s).ok())
            .ok_or(ApiError::Unauthenticated)?;
        let vendor = claims
            .get("aud")
            .is_some_and(|aud| list(aud).any(|a| a == config.vendor_audience));
        let partner = match claims.get(&config.partner_claim) {
            None => None,
            Some(value) => Some(PartnerId::parse(value).map_err(|_| {
                ApiError::Forbidden(format!(
                    "the token's {} claim is not a valid partner id",
                    config.partner_claim
                ))
            })?),
        };
        let population = match (vendor, partner) {
            (true, Some(_)) => {
                return Err(ApiError::Forbidden(
                    "a token is either a partner's or the vendor's staff's, never both: this one carries a partner id for the vendor's audience".into(),
                ));
            }
            (true, None) => Population::Vendor,
            (false, partner) => Population::Partner(partner),
        };
        let mut scopes: Vec<String> = authorizer_scopes.to_vec();
        for claim in ["scope", "scp"] {
            if let Some(value) = claims.get(claim) {
                scopes.extend(list(value).map(str::to_owned));
            }
        }
        if matches!(population, Population::Partner(_))
            && let Some(scope) = scopes.iter().find(|s| VENDOR_ONLY_SCOPES.contains(&s.as_str()))
        {
            // A partner's identity provider has no business issuing these: a token that
            // claims both populations is refused whole, not served as either.
            return Err(ApiError::Forbidden(format!(
                "a token is either a partner's or the vendor's staff's, never both: this partner token carries the vendor scope {scope}"
            )));
        }
        Ok(Self {
            subject,
            population,
            scopes,
        })
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// 403 unless the caller holds one of `scopes`.
    pub fn require_any(&self, scopes: &[&str]) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.has(s)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the scope {}",
                scopes.join(" or ")
            )))
        }
    }

    /// The caller's partner; 403 for vendor staff and for a partner token without one.
    pub fn partner(&self) -> Result<&PartnerId, ApiError> {
        match &self.population {
            Population::Partner(Some(p)) => Ok(p),
            Population::Partner(None) => Err(ApiError::Forbidden("the token carries no partner".into())),
            Population::Vendor => Err(ApiError::Forbidden(
                "this is an operation of a partner; vendor staff tokens carry no partner".into(),
            )),
        }
    }

    pub fn is_vendor(&self) -> bool {
        self.population == Population::Vendor
    }

    /// Whether the caller acts as a vendor support engineer (on every partner's requests).
    pub fn is_support(&self) -> bool {
        self.is_vendor() && self.has(RESPOND)
    }

    /// The role the caller acts in when changing a request.
    pub fn acting_role(&self) -> Result<domain::Role, ApiError> {
        if self.is_support() {
            Ok(domain::Role::SupportEngineer)
        } else if self.has(WRITE) {
            self.partner()?;
            Ok(domain::Role::PartnerAgent)
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the scope {WRITE} (partners) or {RESPOND} (vendor support)"
            )))
        }
    }

    pub fn actor(&self, role: domain::Role) -> domain::Actor {
        domain::Actor::new(role, self.subject.clone())
    }
}

/// For the per-request log line: the partner id claim (if it is one) and a short hash of the
/// subject — who called, without the subject itself (which may be an e-mail address).
pub fn log_identity(request: &Request, partner_claim: &str) -> (Option<String>, Option<String>) {
    let Some(claims) = claims(request) else {
        return (None, None);
    };
    let partner = claims
        .get(partner_claim)
        .filter(|p| PartnerId::parse(p).is_ok())
        .cloned();
    let subject = claims
        .get("sub")
        .map(|s| hex::encode(&Sha256::digest(format!("ledgerdesk/log-subject/v1\n{s}").as_bytes())[..8]));
    (partner, subject)
}
