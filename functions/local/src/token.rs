//! Development bearer tokens, verified by the local router the way API Gateway's JWT
//! authorizer verifies real ones: signature, expiry, issuer, audience.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "ledgerdesk-local";
pub const AUDIENCE: &str = "ledgerdesk";

/// Who a development token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenRole {
    /// A partner agent: requests/read requests/write, with a partner id.
    Partner,
    /// A vendor support engineer: requests/read requests/respond.
    Support,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
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
    let scope = match role {
        TokenRole::Partner => "requests/read requests/write",
        TokenRole::Support => "requests/read requests/respond",
    };
    if role == TokenRole::Partner && partner.is_none() {
        anyhow::bail!("a partner token needs --partner");
    }
    let claims = Claims {
        sub: subject.to_owned(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: now + ttl_seconds,
        iat: now,
        scope: scope.into(),
        partner_id: partner.map(str::to_owned),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )?)
}

/// Verify a bearer token; on success, its claims as API Gateway hands them to a Lambda
/// (every value a string; lists as `[a b]`).
pub fn verify(secret: &[u8], token: &str) -> Option<HashMap<String, String>> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &DecodingKey::from_secret(secret),
        &validation,
    )
    .ok()?;
    Some(
        data.claims
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
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_the_claims() {
        let token = issue(b"secret", TokenRole::Partner, Some("contoso"), "agent-1", 60).unwrap();
        let claims = verify(b"secret", &token).unwrap();
        assert_eq!(claims["partner_id"], "contoso");
        assert_eq!(claims["scope"], "requests/read requests/write");
        assert_eq!(claims["sub"], "agent-1");
    }

    #[test]
    fn wrong_key_expired_or_foreign_tokens_are_refused() {
        let token = issue(b"secret", TokenRole::Support, None, "eng", 60).unwrap();
        assert!(verify(b"other", &token).is_none());
        let expired = issue(b"secret", TokenRole::Support, None, "eng", 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(verify(b"secret", &expired).is_none());
        let now = jsonwebtoken::get_current_timestamp();
        for (iss, aud) in [("someone-else", AUDIENCE), (ISSUER, "another-api")] {
            let claims =
                serde_json::json!({ "sub": "x", "iss": iss, "aud": aud, "exp": now + 60, "scope": "requests/read" });
            let foreign = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"secret"),
            )
            .unwrap();
            assert!(verify(b"secret", &foreign).is_none(), "{iss} {aud}");
        }
        assert!(verify(b"secret", "not.a.token").is_none());
        assert!(issue(b"secret", TokenRole::Partner, None, "agent", 60).is_err());
    }
}
