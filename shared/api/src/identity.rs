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
//! A token that mixes the two (both audiences, the vendor audience with a partner id, or a
//! partner's token with a vendor-only scope) is refused whole (403), and so is a token that
//! also names an audience the deployment does not (API Gateway's authorizer accepts a token
//! when any one of its audiences matches).

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
    /// The audience of partners' tokens.
    pub partner_audience: String,
    /// The audience of vendor staff tokens.
    pub vendor_audience: String,
}

impl IdentityConfig {
    pub fn new(
        partner_claim: impl Into<String>,
        partner_audience: impl Into<String>,
        vendor_audience: impl Into<String>,
    ) -> Self {
        Self {
            partner_claim: partner_claim.into(),
            partner_audience: partner_audience.into(),
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
        let audiences: Vec<&str> = claims.get("aud").map(|aud| list(aud).collect()).unwrap_or_default();
        if audiences.is_empty() {
            return Err(ApiError::Unauthenticated);
        }
        if audiences
            .iter()
            .any(|a| *a != config.partner_audience && *a != config.vendor_audience)
        {
            return Err(ApiError::Forbidden(
                "the token is also for an audience this deployment does not name: ask your identity provider for a token for this API alone".into(),
            ));
        }
        let vendor = audiences.contains(&config.vendor_audience.as_str());
        if vendor && audiences.contains(&config.partner_audience.as_str()) {
            return Err(ApiError::Forbidden(
                "a token is either a partner's or the vendor's staff's, never both: this one is for both audiences"
                    .into(),
            ));
        }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config() -> IdentityConfig {
        IdentityConfig::new("partner_id", "ledgerdesk", "ledgerdesk-vendor")
    }

    fn claims(aud: Option<&str>, partner: Option<&str>, scope: &str) -> HashMap<String, String> {
        let mut c = HashMap::from([
            ("sub".to_owned(), "someone".to_owned()),
            ("scope".to_owned(), scope.to_owned()),
        ]);
        if let Some(aud) = aud {
            c.insert("aud".into(), aud.into());
        }
        if let Some(p) = partner {
            c.insert("partner_id".into(), p.into());
        }
        c
    }

    fn caller(aud: Option<&str>, partner: Option<&str>, scope: &str) -> Result<Caller, ApiError> {
        Caller::from_claims(&claims(aud, partner, scope), &[], &config())
    }

    fn forbidden_because(result: Result<Caller, ApiError>) -> String {
        match result {
            Err(ApiError::Forbidden(why)) => why,
            Err(other) => panic!("expected 403, got {other:?}"),
            Ok(c) => panic!("expected 403, got a caller {:?}", c.population),
        }
    }

    #[test]
    fn each_population_by_its_own_audience() {
        let partner = caller(Some("ledgerdesk"), Some("contoso"), "requests/read requests/write").unwrap();
        assert_eq!(partner.partner().unwrap().as_str(), "contoso");
        assert!(!partner.is_vendor() && partner.has("requests/write") && !partner.has("requests/read2"));
        assert_eq!(partner.acting_role().unwrap(), domain::Role::PartnerAgent);
        let support = caller(Some("[ledgerdesk-vendor]"), None, "requests/read requests/respond").unwrap();
        assert!(support.is_vendor() && support.is_support());
        assert_eq!(support.acting_role().unwrap(), domain::Role::SupportEngineer);
        assert!(support.partner().is_err());
        let auditor = caller(Some("ledgerdesk-vendor"), None, "ledger/audit").unwrap();
        assert!(auditor.is_vendor() && !auditor.is_support());
        assert!(auditor.acting_role().is_err());
        // A partner token without the claim is a partner without a partner.
        let anonymous = caller(Some("ledgerdesk"), None, "requests/write").unwrap();
        assert_eq!(anonymous.population, Population::Partner(None));
        assert!(matches!(anonymous.acting_role(), Err(ApiError::Forbidden(_))));
    }

    #[test]
    fn a_token_for_both_audiences_is_refused_with_or_without_a_partner() {
        for partner in [None, Some("contoso")] {
            let why = forbidden_because(caller(
                Some("[ledgerdesk ledgerdesk-vendor]"),
                partner,
                "requests/respond",
            ));
            assert!(why.contains("never both"), "{why}");
        }
        let why = forbidden_because(caller(Some("ledgerdesk-vendor"), Some("contoso"), "requests/respond"));
        assert!(why.contains("partner id for the vendor's audience"), "{why}");
        let why = forbidden_because(caller(
            Some("ledgerdesk"),
            Some("contoso"),
            "requests/read ledger/audit",
        ));
        assert!(why.contains("vendor scope ledger/audit"), "{why}");
    }

    #[test]
    fn an_audience_the_deployment_does_not_name_is_refused() {
        for aud in ["[ledgerdesk other-api]", "[other-api ledgerdesk-vendor]", "other-api"] {
            let why = forbidden_because(caller(Some(aud), None, "requests/read"));
            assert!(why.contains("audience this deployment does not name"), "{aud}: {why}");
        }
        for aud in [None, Some(""), Some("[]")] {
            assert!(
                matches!(
                    caller(aud, Some("contoso"), "requests/read"),
                    Err(ApiError::Unauthenticated)
                ),
                "{aud:?}"
            );
        }
    }

    #[test]
    fn a_bad_partner_id_or_subject_is_refused() {
        let why = forbidden_because(caller(Some("ledgerdesk"), Some("not a partner!"), "requests/read"));
        assert!(why.contains("partner_id claim is not a valid partner id"), "{why}");
        let mut no_subject = claims(Some("ledgerdesk"), Some("contoso"), "requests/read");
        no_subject.remove("sub");
        assert!(matches!(
            Caller::from_claims(&no_subject, &[], &config()),
            Err(ApiError::Unauthenticated)
        ));
    }

    #[test]
    fn scopes_come_from_the_authorizer_and_both_claims() {
        let mut c = claims(Some("ledgerdesk"), Some("contoso"), "requests/read");
        c.insert("scp".into(), "[ledger/read]".into());
        let caller = Caller::from_claims(&c, &["requests/write".to_owned()], &config()).unwrap();
        for scope in ["requests/read", "ledger/read", "requests/write"] {
            assert!(caller.has(scope), "{scope}");
        }
        assert!(caller.require_any(&["ledger/read", "nope"]).is_ok());
        match caller.require_any(&["privacy/erase", "ledger/audit"]) {
            Err(ApiError::Forbidden(why)) => assert_eq!(why, "this needs the scope privacy/erase or ledger/audit"),
            other => panic!("{other:?}"),
        }
    }

    /// An API Gateway (payload 2.0) event as a Lambda receives it, claims edited by `edit`.
    fn gateway_request(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Request {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/create-for-customer.json")).unwrap();
        edit(
            event["requestContext"]["authorizer"]["jwt"]["claims"]
                .as_object_mut()
                .unwrap(),
        );
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn the_caller_and_the_log_line_come_from_the_authorizer_claims() {
        let request = gateway_request(|_| {});
        let caller = Caller::from_request(&request, &config()).unwrap();
        assert_eq!(caller.partner().unwrap().as_str(), "contoso");
        assert!(caller.has("requests/write"));
        // The log line: the partner id, and a short hash of the subject, never the subject.
        let expected = hex::encode(&Sha256::digest(b"ledgerdesk/log-subject/v1\nagent@contoso")[..8]);
        assert_eq!(
            log_identity(&request, "partner_id"),
            (Some("contoso".to_owned()), Some(expected))
        );
        // A claim that is not a partner id is not logged as one.
        let odd = gateway_request(|claims| {
            claims.insert("partner_id".into(), "not a partner!".into());
        });
        assert_eq!(log_identity(&odd, "partner_id").0, None);
        assert!(log_identity(&odd, "partner_id").1.is_some());
        // Without the authorizer's context: no caller, nothing to log.
        let bare = Request::new(lambda_http::Body::Empty);
        assert!(matches!(
            Caller::from_request(&bare, &config()),
            Err(ApiError::Unauthenticated)
        ));
        assert_eq!(log_identity(&bare, "partner_id"), (None, None));
    }
}
