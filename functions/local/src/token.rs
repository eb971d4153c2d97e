//! Development bearer tokens, verified by the local router the way API Gateway's JWT
//! authorizer verifies real ones: signature, expiry, not-before, issuer, audience.
//!
//! Two audiences, as in AWS: partners' tokens are for [`AUDIENCE`], vendor staff's for
//! [`VENDOR_AUDIENCE`] (the API tells the populations apart by it).

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "ledgerdesk-local";
/// The audience of partners' tokens.
pub const AUDIENCE: &str = "ledgerdesk";
/// The audience of vendor staff's tokens.
pub const VENDOR_AUDIENCE: &str = "ledgerdesk-vendor";

/// Who a development token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenRole {
    /// A partner agent: requests/read requests/write ledger/read, with a partner id.
    Partner,
    /// A vendor support engineer: requests/read requests/respond.
    Support,
    /// A vendor auditor (fraud review): ledger/audit, any chain.
    Auditor,
    /// A privacy officer: privacy/erase (the vendor's; with --partner, that partner's own).
    Privacy,
    /// A vendor administrator of partner–customer relationships: relationships/admin.
    Admin,
    /// A partner's integration administrator: webhooks/manage (its webhook endpoints) with
    /// requests/read and ledger/read (what its endpoints receive), with a partner id.
    Integrator,
}

impl TokenRole {
    pub fn scope(self) -> &'static str {
        match self {
            TokenRole::Partner => "requests/read requests/write ledger/read",
            TokenRole::Support => "requests/read requests/respond",
            TokenRole::Auditor => "ledger/audit",
            TokenRole::Privacy => "privacy/erase",
            TokenRole::Admin => "relationships/admin",
            TokenRole::Integrator => "webhooks/manage requests/read ledger/read",
        }
    }

    /// Whether the token is for the vendor's audience (given the partner, if any).
    fn vendor(self, partner: Option<&str>) -> bool {
        match self {
            TokenRole::Partner | TokenRole::Integrator => false,
            TokenRole::Privacy => partner.is_none(),
            TokenRole::Support | TokenRole::Auditor | TokenRole::Admin => true,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_id: Option<String>,
}

/// A signed HS256 token for `subject`, valid for `ttl_seconds`.
pub fn issue(
    secret: &[u8],
    role: TokenRole,
    partner: Option<&str>,
    subject: &str,
    ttl_seconds: u64,
) -> anyhow::Result<String> {
    let now = jsonwebtoken::get_current_timestamp();
    if role == TokenRole::Partner && partner.is_none() {
        anyhow::bail!("a partner token needs --partner");
    }
    if matches!(role, TokenRole::Support | TokenRole::Auditor | TokenRole::Admin) && partner.is_some() {
        anyhow::bail!("vendor staff tokens carry no partner");
    }
    let claims = Claims {
        sub: subject.to_owned(),
        iss: ISSUER.into(),
        aud: if role.vendor(partner) {
            VENDOR_AUDIENCE
        } else {
            AUDIENCE
        }
        .into(),
        exp: now + ttl_seconds,
        nbf: now,
        iat: now,
        scope: role.scope().into(),
        partner_id: partner.map(str::to_owned),
    };
    sign(secret, &serde_json::to_value(claims)?)
}

/// A token with exactly these claims (for tests that need an odd one).
pub fn sign(secret: &[u8], claims: &serde_json::Value) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )?)
}

/// Why a bearer token is refused (the 401's detail, and the server's log line), as API
/// Gateway's authorizer says it in `WWW-Authenticate`.
pub fn rejection(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => {
            "the token has expired (make a new one: local token; --ttl sets its lifetime)".into()
        }
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => {
            "the token's signature does not verify: it was made with another data directory's jwt-secret, or altered"
                .into()
        }
        ErrorKind::InvalidIssuer => "the token is from another issuer".into(),
        ErrorKind::InvalidAudience => "the token is for another audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        _ => "not a token this API accepts (an HS256 JWT from local token)".into(),
    }
}

/// Verify a bearer token; on success, its claims as API Gateway hands them to a Lambda
/// (every value a string; lists as `[a b]`).
pub fn verify(secret: &[u8], token: &str) -> Option<HashMap<String, String>> {
    check(secret, token).ok()
}

/// [`verify`], or why the token is refused ([`rejection`]).
pub fn check(secret: &[u8], token: &str) -> Result<HashMap<String, String>, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE, VENDOR_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &DecodingKey::from_secret(secret),
        &validation,
    )
    .map_err(|e| rejection(&e))?;
    Ok(data
        .claims
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Array(items) => {
                    format!(
                        "[{}]",
                        items
                            .iter()
                            .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                }
                other => other.to_string(),
            };
            (name, text)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_the_claims() {
        let token = issue(b"secret", TokenRole::Partner, Some("contoso"), "agent-1", 60).unwrap();
        let claims = verify(b"secret", &token).unwrap();
        assert_eq!(claims["partner_id"], "contoso");
        assert_eq!(claims["scope"], "requests/read requests/write ledger/read");
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["sub"], "agent-1");
        let support = verify(
            b"secret",
            &issue(b"secret", TokenRole::Support, None, "eng", 60).unwrap(),
        )
        .unwrap();
        assert_eq!(support["aud"], VENDOR_AUDIENCE);
        assert!(!support.contains_key("partner_id"));
        let own_dpo = verify(
            b"secret",
            &issue(b"secret", TokenRole::Privacy, Some("contoso"), "dpo", 60).unwrap(),
        )
        .unwrap();
        assert_eq!(own_dpo["aud"], AUDIENCE);
        assert!(issue(b"secret", TokenRole::Support, Some("contoso"), "eng", 60).is_err());
    }

    #[test]
    fn wrong_key_expired_early_or_foreign_tokens_are_refused() {
        let token = issue(b"secret", TokenRole::Support, None, "eng", 60).unwrap();
        assert!(verify(b"other", &token).is_none());
        let expired = issue(b"secret", TokenRole::Support, None, "eng", 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(verify(b"secret", &expired).is_none());
        let now = jsonwebtoken::get_current_timestamp();
        for (iss, aud, nbf) in [
            ("someone-else", AUDIENCE, now),
            (ISSUER, "another-api", now),
            (ISSUER, AUDIENCE, now + 120),
        ] {
            let claims = serde_json::json!({ "sub": "x", "iss": iss, "aud": aud, "exp": now + 600, "nbf": nbf, "scope": "requests/read" });
            let foreign = sign(b"secret", &claims).unwrap();
            assert!(verify(b"secret", &foreign).is_none(), "{iss} {aud} {nbf}");
        }
        assert!(verify(b"secret", "not.a.token").is_none());
        // Each refusal says why.
        assert!(
            check(b"other", &token)
                .unwrap_err()
                .contains("another data directory's jwt-secret")
        );
        assert!(
            check(b"secret", &expired)
                .unwrap_err()
                .starts_with("the token has expired")
        );
        assert!(
            check(b"secret", "not.a.token")
                .unwrap_err()
                .starts_with("not a token this API accepts")
        );
        assert!(issue(b"secret", TokenRole::Partner, None, "agent", 60).is_err());
    }
}
