//! Signing secrets and the `webhook-signature` header (Standard Webhooks, "Signature scheme" and
//! "Webhook headers").

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const SECRET_PREFIX: &str = "whsec_";
const SIGNING_KEY_PREFIX: &str = "whsk_";
const PUBLIC_KEY_PREFIX: &str = "whpk_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret is whsec_ followed by the base64 of 24 to 64 bytes")]
    Secret,
    #[error("an Ed25519 key is whsk_ (secret) or whpk_ (public) followed by the base64 of 32 bytes")]
    Key,
}

/// A symmetric signing secret: 24 to 64 random bytes (the specification's 192 bits at least),
/// shown as `whsec_<base64>`. Never logged: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(whsec_…)")
    }
}

impl SigningSecret {
    /// A new secret of 32 random bytes.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        rand::fill(&mut bytes[..]);
        Self(bytes)
    }

    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(SecretError::Secret)?;
        let bytes = B64.decode(encoded).map_err(|_| SecretError::Secret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Secret);
        }
        Ok(Self(bytes))
    }

    /// `whsec_<base64>`: what the partner is shown once, and configures in its receiver.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(&self.0))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("any key length"))
    }
}

/// An Ed25519 signing key (`whsk_<base64 of the 32-byte seed>`).
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(whsk_…)")
    }
}

/// An Ed25519 public key (`whpk_<base64 of 32 bytes>`): what a receiver trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

fn key_bytes(text: &str, prefix: &str) -> Result<[u8; 32], SecretError> {
    let encoded = text.strip_prefix(prefix).ok_or(SecretError::Key)?;
    let bytes = B64.decode(encoded).map_err(|_| SecretError::Key)?;
    bytes.try_into().map_err(|_| SecretError::Key)
}

impl SigningKey {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn parse(text: &str) -> Result<Self, SecretError> {
        key_bytes(text, SIGNING_KEY_PREFIX).map(|seed| Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    pub fn reveal(&self) -> String {
        format!("{SIGNING_KEY_PREFIX}{}", B64.encode(self.0.to_bytes()))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let bytes = key_bytes(text, PUBLIC_KEY_PREFIX)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| SecretError::Key)
    }

    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_PREFIX}{}", B64.encode(self.0.to_bytes()))
    }
}

/// What is signed: `{id}.{timestamp}.{body}`, the body byte for byte.
fn content(id: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(id.len() + 24 + body.len());
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    signed
}

/// Signs deliveries with every secret in force (the new and, during a rotation's overlap, the
/// old one) and, if the endpoint has one, an Ed25519 key.
#[derive(Debug, Clone)]
pub struct Signer {
    secrets: Vec<SigningSecret>,
    key: Option<SigningKey>,
}

impl Signer {
    /// `secrets` newest first; at least one secret or a key.
    pub fn new(secrets: Vec<SigningSecret>, key: Option<SigningKey>) -> Option<Self> {
        (!secrets.is_empty() || key.is_some()).then_some(Self { secrets, key })
    }

    /// The `webhook-signature` header's value: `v1,<base64>` per secret, then `v1a,<base64>`,
    /// space-delimited.
    pub fn signature(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let signed = content(id, timestamp, body);
        let mut out: Vec<String> = self
            .secrets
            .iter()
            .map(|s| {
                let mut mac = s.mac();
                mac.update(&signed);
                format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
            })
            .collect();
        if let Some(key) = &self.key {
            out.push(format!("v1a,{}", B64.encode(key.0.sign(&signed).to_bytes())));
        }
        out.join(" ")
    }

    /// The three headers of a delivery: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    pub fn headers(&self, id: &str, timestamp: u64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", self.signature(id, timestamp, body)),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp is not within the tolerance of now")]
    Timestamp,
    #[error("no signature matches")]
    NoMatch,
}

/// What a receiver trusts.
#[derive(Debug, Clone)]
pub enum Trusted<'a> {
    Secret(&'a SigningSecret),
    Key(&'a PublicKey),
}

/// Verify a delivery as a receiver does: the timestamp within `tolerance_seconds` of `now`, and
/// one of the header's signatures made with `trusted` (HMAC compared in constant time).
pub fn verify(
    trusted: Trusted<'_>,
    id: &str,
    timestamp: u64,
    signature_header: &str,
    body: &[u8],
    now: u64,
    tolerance_seconds: u64,
) -> Result<(), VerifyError> {
    if timestamp.abs_diff(now) > tolerance_seconds {
        return Err(VerifyError::Timestamp);
    }
    let signed = content(id, timestamp, body);
    let found = signature_header.split(' ').any(|versioned| {
        let Some((version, encoded)) = versioned.split_once(',') else {
            return false;
        };
        let Ok(raw) = B64.decode(encoded) else {
            return false;
        };
        match (&trusted, version) {
            (Trusted::Secret(secret), "v1") => {
                let mut mac = secret.mac();
                mac.update(&signed);
                mac.verify_slice(&raw).is_ok()
            }
            (Trusted::Key(key), "v1a") => {
                ed25519_dalek::Signature::from_slice(&raw).is_ok_and(|sig| key.0.verify_strict(&signed, &sig).is_ok())
            }
            _ => false,
        }
    });
    if found { Ok(()) } else { Err(VerifyError::NoMatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An example secret, id, timestamp and body, and the v1 signature an implementation we did
    /// not write computes for them (an independent known answer: the `standardwebhooks` package
    /// from PyPI, 1.3.0, `Webhook(SECRET).sign(ID, datetime.fromtimestamp(TIMESTAMP, utc), BODY)`).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: u64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn signer() -> Signer {
        Signer::new(vec![SigningSecret::parse(SECRET).unwrap()], None).unwrap()
    }

    #[test]
    fn v1_matches_the_reference_signature() {
        assert_eq!(signer().signature(ID, TIMESTAMP, BODY), EXPECTED);
        let headers = signer().headers(ID, TIMESTAMP, BODY);
        assert_eq!(headers[0], ("webhook-id", ID.to_owned()));
        assert_eq!(headers[1], ("webhook-timestamp", "1614265330".to_owned()));
        assert_eq!(headers[2].1, EXPECTED);
    }

    #[test]
    fn secrets_parse_strictly_and_never_print() {
        assert_eq!(SigningSecret::parse(SECRET).unwrap().reveal(), SECRET);
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_!!",
            "whsec_AAAA",
            &format!("whsec_{}", B64.encode([0u8; 65])),
        ] {
            assert_eq!(SigningSecret::parse(bad), Err(SecretError::Secret), "{bad}");
        }
        let fresh = SigningSecret::generate();
        assert_ne!(fresh, SigningSecret::generate());
        assert_eq!(SigningSecret::parse(&fresh.reveal()).unwrap(), fresh);
        assert!(!format!("{fresh:?}").contains(&fresh.reveal()[6..]));
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_and_either_verifies() {
        let (new, old) = (SigningSecret::generate(), SigningSecret::generate());
        let key = SigningKey::generate();
        let signer = Signer::new(vec![new.clone(), old.clone()], Some(key.clone())).unwrap();
        let header = signer.signature(ID, TIMESTAMP, BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[0].starts_with("v1,") && parts[1].starts_with("v1,") && parts[2].starts_with("v1a,"));
        for trusted in [
            Trusted::Secret(&new),
            Trusted::Secret(&old),
            Trusted::Key(&key.public_key()),
        ] {
            assert_eq!(
                verify(trusted, ID, TIMESTAMP, &header, BODY, TIMESTAMP + 10, 300),
                Ok(())
            );
        }
        let stranger = SigningSecret::generate();
        assert_eq!(
            verify(Trusted::Secret(&stranger), ID, TIMESTAMP, &header, BODY, TIMESTAMP, 300),
            Err(VerifyError::NoMatch)
        );
        // Any change of id, timestamp or body, or an old delivery, fails.
        let t = Trusted::Secret(&new);
        assert!(verify(t.clone(), "msg_other", TIMESTAMP, &header, BODY, TIMESTAMP, 300).is_err());
        assert!(verify(t.clone(), ID, TIMESTAMP + 1, &header, BODY, TIMESTAMP, 300).is_err());
        assert!(
            verify(
                t.clone(),
                ID,
                TIMESTAMP,
                &header,
                b"{\"test\":2432232314}",
                TIMESTAMP,
                300
            )
            .is_err()
        );
        assert_eq!(
            verify(t, ID, TIMESTAMP, &header, BODY, TIMESTAMP + 301, 300),
            Err(VerifyError::Timestamp)
        );
        // A v1a signature is not taken for a v1 one, nor the other way round.
        let v1a_only = parts[2];
        assert!(verify(Trusted::Secret(&new), ID, TIMESTAMP, v1a_only, BODY, TIMESTAMP, 300).is_err());
        assert!(
            verify(
                Trusted::Key(&key.public_key()),
                ID,
                TIMESTAMP,
                parts[0],
                BODY,
                TIMESTAMP,
                300
            )
            .is_err()
        );
    }

    #[test]
    fn ed25519_keys_round_trip_and_verify_with_the_library() {
        let key = SigningKey::generate();
        let text = key.reveal();
        assert!(text.starts_with("whsk_"));
        let back = SigningKey::parse(&text).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let public = PublicKey::parse(&key.public_key().to_text()).unwrap();
        let signer = Signer::new(Vec::new(), Some(key)).unwrap();
        let header = signer.signature(ID, TIMESTAMP, BODY);
        // An independent check: ed25519-dalek's own verifier over the specification's content.
        let raw = B64.decode(header.strip_prefix("v1a,").unwrap()).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&raw).unwrap();
        let content = format!("{ID}.{TIMESTAMP}.{}", std::str::from_utf8(BODY).unwrap());
        assert!(public.0.verify_strict(content.as_bytes(), &sig).is_ok());
        assert!(PublicKey::parse("whpk_AAAA").is_err());
        assert!(
            SigningKey::parse(&public.to_text()).is_err(),
            "a public key is not a signing key"
        );
        assert!(Signer::new(Vec::new(), None).is_none());
    }
}
