//! Opaque pagination cursors, authenticated with HMAC-SHA-256 under a server key so a caller
//! cannot forge one that points into another partner's data or another query.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::StoreError;

/// Cursors longer than this are refused unread.
const MAX_CURSOR_LEN: usize = 2048;

/// The server's cursor key (32 bytes).
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<secret>)")
    }
}

impl CursorKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from its base64 text form (how configuration carries it).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| StoreError::Internal("the cursor key is not base64".into()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Internal("the cursor key must be 32 bytes".into()))?;
        Ok(Self(bytes))
    }

    fn mac(&self) -> Result<Hmac<Sha256>, StoreError> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).map_err(StoreError::internal)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Body {
    v: u8,
    /// The partner the cursor belongs to.
    p: String,
    /// The query it continues (a fingerprint of its filters).
    q: String,
    /// The last evaluated key (all our key attributes are strings).
    k: BTreeMap<String, String>,
}

/// Seal `last_key` into a cursor for `partner`'s query `query`.
pub fn seal(
    key: &CursorKey,
    partner: &str,
    query: &str,
    last_key: &HashMap<String, AttributeValue>,
) -> Result<String, StoreError> {
    let k = last_key
        .iter()
        .map(|(name, value)| match value {
            AttributeValue::S(s) => Ok((name.clone(), s.clone())),
            _ => Err(StoreError::Internal(format!("key attribute {name} is not a string"))),
        })
        .collect::<Result<_, _>>()?;
    let body = serde_json::to_vec(&Body {
        v: 1,
        p: partner.to_owned(),
        q: query.to_owned(),
        k,
    })
    .map_err(StoreError::internal)?;
    let mut mac = key.mac()?;
    mac.update(&body);
    let tag = mac.finalize().into_bytes();
    let cursor = format!("{}.{}", B64.encode(&body), B64.encode(tag));
    // Never hand out a cursor `open` would refuse (DynamoDB's keys are far smaller).
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::Internal("a key too large for a cursor".into()));
    }
    Ok(cursor)
}

/// Open a cursor: authentic, for this partner and this query, or [`StoreError::InvalidCursor`].
pub fn open(
    key: &CursorKey,
    token: &str,
    partner: &str,
    query: &str,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    if token.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let (body, tag) = token.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let body = B64.decode(body).map_err(|_| StoreError::InvalidCursor)?;
    let tag = B64.decode(tag).map_err(|_| StoreError::InvalidCursor)?;
    let mut mac = key.mac()?;
    mac.update(&body);
    mac.verify_slice(&tag).map_err(|_| StoreError::InvalidCursor)?;
    let body: Body = serde_json::from_slice(&body).map_err(|_| StoreError::InvalidCursor)?;
    if body.v != 1 || body.p != partner || body.q != query {
        return Err(StoreError::InvalidCursor);
    }
    Ok(body.k.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S("P#a".into())),
            ("sk".to_owned(), AttributeValue::S("R#01".into())),
        ])
    }

    #[test]
    fn round_trip_and_binding() {
        let key = CursorKey::from_bytes([1; 32]);
        let token = seal(&key, "a", "q1", &last_key()).unwrap();
        assert_eq!(open(&key, &token, "a", "q1").unwrap(), last_key());
        assert!(matches!(open(&key, &token, "b", "q1"), Err(StoreError::InvalidCursor)));
        assert!(matches!(open(&key, &token, "a", "q2"), Err(StoreError::InvalidCursor)));
        assert!(matches!(
            open(&CursorKey::from_bytes([2; 32]), &token, "a", "q1"),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn forged_cursors_are_refused() {
        let key = CursorKey::from_bytes([1; 32]);
        let token = seal(&key, "a", "q", &last_key()).unwrap();
        let (body, tag) = token.split_once('.').unwrap();
        // Point the cursor at another partner, keep the tag.
        let mut forged: serde_json::Value = serde_json::from_slice(&B64.decode(body).unwrap()).unwrap();
        forged["p"] = "b".into();
        forged["k"]["pk"] = "P#b".into();
        let forged = format!("{}.{tag}", B64.encode(serde_json::to_vec(&forged).unwrap()));
        for bad in [
            forged.as_str(),
            "",
            "x",
            "x.y",
            &"a".repeat(5000),
            &token[..token.len() - 2],
        ] {
            assert!(
                matches!(open(&key, bad, "b", "q"), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }
}
