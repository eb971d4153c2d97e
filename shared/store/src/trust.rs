//! Which certificate authorities the AWS clients trust.
//!
//! The functions only ever call AWS endpoints (DynamoDB, Parameter Store, STS), and every
//! AWS endpoint's certificate chains to an Amazon Trust Services root. So by default they
//! trust those five roots and nothing else ([`TrustRoots::Amazon`], `certs/` in this crate):
//! no other certificate authority can vouch for an endpoint, and a cold start does not read
//! and decode the operating system's ~150 roots (about a millisecond here, on the init path
//! of every function). `LEDGERDESK_TLS_ROOTS=system` trusts the operating system's store
//! instead, as the SDK does by default (a TLS-inspecting proxy; a new AWS root before a
//! release). Plain-HTTP endpoints (the local run, the tests) use no TLS at all.

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

/// The Amazon Trust Services roots (Amazon Root CA 1–4, Starfield Services Root G2), PEM.
pub const AMAZON_ROOTS_PEM: &str = include_str!("../certs/amazon-trust-services.pem");

/// The environment variable that chooses the trust store.
pub const TLS_ROOTS_VAR: &str = "LEDGERDESK_TLS_ROOTS";

/// The certificate authorities an AWS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustRoots {
    /// The Amazon Trust Services roots only (the default).
    #[default]
    Amazon,
    /// The operating system's store (the SDK's default).
    System,
}

impl TrustRoots {
    /// `LEDGERDESK_TLS_ROOTS`: `amazon` (also when unset or empty) or `system`.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::var(TLS_ROOTS_VAR).ok().as_deref())
    }

    /// The setting's value, as [`TrustRoots::from_env`] reads it.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("") | Some("amazon") => Ok(Self::Amazon),
            Some("system") => Ok(Self::System),
            Some(other) => Err(format!("{TLS_ROOTS_VAR} is amazon or system, not {other:?}")),
        }
    }

    /// An HTTPS client for the AWS SDK that trusts these roots (and `extra_pem`, for tests).
    /// `None` for [`TrustRoots::System`] with nothing extra: the SDK's own default client.
    pub fn http_client(self, extra_pem: Option<&str>) -> Option<SharedHttpClient> {
        let mut store = match self {
            TrustRoots::Amazon => TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM.as_bytes()),
            TrustRoots::System if extra_pem.is_none() => return None,
            TrustRoots::System => TrustStore::default(),
        };
        if let Some(pem) = extra_pem {
            store = store.with_pem_certificate(pem.as_bytes());
        }
        let context = TlsContext::builder().with_trust_store(store).build().ok()?;
        Some(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                .tls_context(context)
                .build_https(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The published SHA-256 fingerprints (https://www.amazontrust.com/repository/).
    const FINGERPRINTS: [(&str, &str); 5] = [
        (
            "Amazon Root CA 1",
            "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
        ),
        (
            "Amazon Root CA 2",
            "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
        ),
        (
            "Amazon Root CA 3",
            "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
        ),
        (
            "Amazon Root CA 4",
            "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
        ),
        (
            "Starfield Services Root Certificate Authority - G2",
            "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
        ),
    ];

    fn ders() -> Vec<Vec<u8>> {
        use base64::Engine;
        let mut ders = Vec::new();
        let mut block = None::<String>;
        for line in AMAZON_ROOTS_PEM.lines() {
            match (line, &mut block) {
                ("-----BEGIN CERTIFICATE-----", None) => block = Some(String::new()),
                ("-----END CERTIFICATE-----", Some(b64)) => {
                    ders.push(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64.as_bytes())
                            .expect("base64"),
                    );
                    block = None;
                }
                (text, Some(b64)) => b64.push_str(text),
                (_, None) => {}
            }
        }
        ders
    }

    #[test]
    fn the_bundle_is_exactly_the_five_amazon_trust_services_roots() {
        let found: Vec<String> = ders().iter().map(|d| hex::encode(Sha256::digest(d))).collect();
        let expected: Vec<String> = FINGERPRINTS.iter().map(|(_, f)| (*f).to_owned()).collect();
        assert_eq!(found, expected);
        for (name, _) in FINGERPRINTS {
            assert!(AMAZON_ROOTS_PEM.contains(&format!("CN = {name}")), "{name} is labelled");
        }
    }

    #[test]
    fn the_setting_is_amazon_or_system_and_a_typo_is_an_error() {
        for (value, expected) in [
            (None, TrustRoots::Amazon),
            (Some(""), TrustRoots::Amazon),
            (Some("amazon"), TrustRoots::Amazon),
            (Some("system"), TrustRoots::System),
        ] {
            assert_eq!(TrustRoots::parse(value), Ok(expected), "{value:?}");
        }
        for typo in ["System", "system ", "native", "none"] {
            let problem = TrustRoots::parse(Some(typo)).expect_err(typo);
            assert!(problem.contains("amazon or system"), "{problem}");
        }
        assert!(TrustRoots::System.http_client(None).is_none(), "the SDK's own default");
        assert!(TrustRoots::Amazon.http_client(None).is_some());
    }
}
