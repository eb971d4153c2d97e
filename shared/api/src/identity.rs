//! Who is calling: only ever from the claims the JWT authorizer verified (API Gateway, or the
//! local router doing the same checks). Never from the body or the query.

use domain::{PartnerId, Subject};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::problem::ApiError;
use crate::routes::{RESPOND, WRITE};

#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: Subject,
    partner: Option<PartnerId>,
    scopes: Vec<String>,
}

impl Caller {
    /// The caller of `request`, whose partner id is in the claim `partner_claim`.
    pub fn from_request(request: &Request, partner_claim: &str) -> Result<Self, ApiError> {
        let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
            return Err(ApiError::Unauthenticated);
        };
        let jwt = context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .ok_or(ApiError::Unauthenticated)?;
        let subject = jwt
            .claims
            .get("sub")
            .and_then(|s| Subject::parse(s).ok())
            .ok_or(ApiError::Unauthenticated)?;
        let partner = match jwt.claims.get(partner_claim) {
            None => None,
            Some(value) => Some(PartnerId::parse(value).map_err(|_| {
                ApiError::Forbidden(format!("the token's {partner_claim} claim is not a valid partner id"))
            })?),
        };
        let mut scopes: Vec<String> = jwt.scopes.clone().unwrap_or_default();
        for claim in ["scope", "scp"] {
            if let Some(value) = jwt.claims.get(claim) {
                // API Gateway passes list claims as "[a b]".
                let value = value.trim_start_matches('[').trim_end_matches(']');
                scopes.extend(value.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned));
            }
        }
        Ok(Self {
            subject,
            partner,
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

    /// The caller's partner; 403 for a token without one.
    pub fn partner(&self) -> Result<&PartnerId, ApiError> {
        self.partner
            .as_ref()
            .ok_or_else(|| ApiError::Forbidden("the token carries no partner".into()))
    }

    /// Whether the caller acts as a vendor support engineer (on every partner's requests).
    pub fn is_support(&self) -> bool {
        self.has(RESPOND)
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
                "this needs the scope {WRITE} or {RESPOND}"
            )))
        }
    }

    pub fn actor(&self, role: domain::Role) -> domain::Actor {
        domain::Actor::new(role, self.subject.clone())
    }
}
