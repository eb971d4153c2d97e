//! Signing secrets at rest. The service must show an endpoint's secret once and still sign
//! with it for years, so it keeps it — sealed: XChaCha20-Poly1305 under a 32-byte key that
//! lives outside the table (an SSM SecureString under its own customer-managed KMS key in AWS,
//! a file of the local run), with the partner and the endpoint as associated data, so a
//! sealed secret copied onto another partner's or another endpoint's item does not open.
//!
//! The sealed form is text: `v1.` + base64url (no padding) of the 24-byte nonce and the
//! ciphertext with its tag.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const PREFIX: &str = "v1.";
const NONCE: usize = 24;

/// The key that seals signing secrets. Never logged: its `Debug` hides it.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<secret>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the webhook seal key must be 32 bytes of standard base64")]
    Key,
    /// Not sealed by us, sealed under another key, for another endpoint, or altered.
    #[error("the sealed secret does not open")]
    Open,
}

impl SealKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from its text form (standard base64 of 32 bytes: how configuration carries it).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SealError::Key)?;
        Ok(Self(bytes.try_into().map_err(|_| SealError::Key)?))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Seal `secret` for the endpoint named by `context` (the partner and endpoint id).
    pub fn seal(&self, context: &str, secret: &[u8]) -> String {
        let mut nonce = [0u8; NONCE];
        rand::fill(&mut nonce[..]);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 seals any message under 256 GiB"));
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Open what [`seal`](Self::seal) sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .ok_or(SealError::Open)?;
        if bytes.len() < NONCE {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::from_bytes([byte; 32])
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_for_its_endpoint_only() {
        let sealed = key(1).seal("contoso/ep_1", b"the secret");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("the secret"));
        assert_eq!(key(1).open("contoso/ep_1", &sealed).unwrap(), b"the secret");
        // Another key, another endpoint, another partner: refused.
        assert_eq!(key(2).open("contoso/ep_1", &sealed), Err(SealError::Open));
        assert_eq!(key(1).open("contoso/ep_2", &sealed), Err(SealError::Open));
        assert_eq!(key(1).open("fabrikam/ep_1", &sealed), Err(SealError::Open));
        // Any altered byte: refused.
        let bytes = B64.decode(&sealed[3..]).unwrap();
        for i in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 1;
            let text = format!("v1.{}", B64.encode(&altered));
            assert_eq!(key(1).open("contoso/ep_1", &text), Err(SealError::Open), "byte {i}");
        }
        // Not ours at all.
        for junk in ["", "v1.", "v1.AAAA", "v2.AAAA", "whsec_abc"] {
            assert_eq!(key(1).open("contoso/ep_1", junk), Err(SealError::Open), "{junk}");
        }
    }

    #[test]
    fn sealing_twice_gives_two_texts() {
        // A fresh nonce each time: equal secrets are not recognisable in the table.
        assert_ne!(key(1).seal("c", b"s"), key(1).seal("c", b"s"));
    }

    #[test]
    fn the_key_is_32_bytes_of_base64() {
        let text = STANDARD.encode([7u8; 32]);
        let sealed = SealKey::from_base64(&text).unwrap().seal("c", b"s");
        assert_eq!(key(7).open("c", &sealed).unwrap(), b"s");
        assert_eq!(
            SealKey::from_base64(&STANDARD.encode([7u8; 31])).unwrap_err(),
            SealError::Key
        );
        assert_eq!(SealKey::from_base64("not base64!").unwrap_err(), SealError::Key);
        assert_eq!(format!("{:?}", key(7)), "SealKey(<secret>)");
    }
}
