//! Identifiers: who the partner is, which customer tenant, which request.

use chrono::{DateTime, Utc};
use ulid::Ulid;
use uuid::Uuid;

use crate::error::Problem;

/// Common impls for a newtype over `String` whose constructor is `parse(&str)`.
macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::error::Problem;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
pub(crate) use string_value;

/// The CSP partner: the tenant of this service. Comes only from the caller's verified token.
///
/// 1-64 characters of ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit
/// (a Partner Center tenant GUID qualifies). The character set keeps it safe inside storage
/// keys and ledger chain names without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartnerId(String);
string_value!(PartnerId);

impl PartnerId {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        let first_ok = input.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = input
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if first_ok && rest_ok && input.len() <= 64 {
            Ok(Self(input.to_owned()))
        } else {
            Err(Problem::NotAPartnerId)
        }
    }

    /// The partner's own tenant id, when the partner id is a tenant GUID.
    pub fn tenant(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.0).ok()
    }
}

/// A customer's tenant: a GUID, stored lower-case and hyphenated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);
string_value!(CustomerId);

impl CustomerId {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        // Only the hyphenated 36-character form: braces, URNs and bare hex are refused so
        // that one tenant has exactly one spelling in keys and URLs.
        if input.len() != 36 {
            return Err(Problem::NotAGuid);
        }
        match Uuid::try_parse(input) {
            Ok(uuid) if !uuid.is_nil() => Ok(Self(uuid.hyphenated().to_string())),
            _ => Err(Problem::NotAGuid),
        }
    }

    pub fn uuid(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.0).ok()
    }
}

/// A service request's id: a ULID, so ids sort by creation time (newest-first listing is a
/// reverse key order) and a created-at range maps to an id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(Ulid);

impl RequestId {
    /// A new id for a request created at `at`; `random` is 80 bits of entropy (higher bits ignored).
    pub fn new(at: DateTime<Utc>, random: u128) -> Self {
        Self(Ulid::from_parts(millis(at), random))
    }

    pub fn parse(input: &str) -> Result<Self, Problem> {
        if input.len() != ulid::ULID_LEN {
            return Err(Problem::NotARequestId);
        }
        Ulid::from_string(input).map(Self).map_err(|_| Problem::NotARequestId)
    }

    /// The millisecond the id was minted at: a request's creation time, as its id records it.
    pub fn minted_at_millis(&self) -> u64 {
        self.0.timestamp_ms()
    }

    /// The smallest id any request created at or after `at` can have.
    pub fn lowest_at(at: DateTime<Utc>) -> Self {
        Self(Ulid::from_parts(millis(at), 0))
    }

    /// The largest id any request created at or before `at` can have.
    pub fn highest_at(at: DateTime<Utc>) -> Self {
        Self(Ulid::from_parts(millis(at), u128::MAX))
    }
}

fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<String> for RequestId {
    type Error = Problem;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RequestId> for String {
    fn from(value: RequestId) -> String {
        value.0.to_string()
    }
}

/// Who acted, as the token's `sub` claim names them: printable ASCII, 1-255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subject(String);
string_value!(Subject);

impl Subject {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        printable_ascii(input).map(Self)
    }
}

/// The client's `Idempotency-Key` header: printable ASCII, 1-255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);
string_value!(IdempotencyKey);

impl IdempotencyKey {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        printable_ascii(input).map(Self)
    }
}

fn printable_ascii(input: &str) -> Result<String, Problem> {
    let ok = !input.is_empty() && input.len() <= 255 && input.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if ok {
        Ok(input.to_owned())
    } else {
        Err(Problem::NotPrintableAscii)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn partner_ids() {
        for ok in [
            "contoso",
            "partner-1",
            "a",
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            &"p".repeat(64),
        ] {
            assert!(PartnerId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-lead", "has space", "p#1", "ümlaut", &"p".repeat(65), "a/b"] {
            assert_eq!(PartnerId::parse(bad), Err(Problem::NotAPartnerId), "{bad}");
        }
    }

    #[test]
    fn customer_ids_are_canonical_guids() {
        let id = CustomerId::parse("3FA85F64-5717-4562-B3FC-2C963F66AFA6").unwrap();
        assert_eq!(id.as_str(), "3fa85f64-5717-4562-b3fc-2c963f66afa6");
        for bad in [
            "",
            "not-a-guid",
            "3fa85f6457174562b3fc2c963f66afa6",
            "{3fa85f64-5717-4562-b3fc-2c963f66afa6}",
            "00000000-0000-0000-0000-000000000000",
            "3fa85f64-5717-4562-b3fc-2c963f66afaz",
        ] {
            assert_eq!(CustomerId::parse(bad), Err(Problem::NotAGuid), "{bad}");
        }
    }

    #[test]
    fn request_ids_sort_by_creation_time() {
        let t1 = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        let t2 = t1 + chrono::Duration::milliseconds(1);
        let a = RequestId::new(t1, u128::MAX);
        let b = RequestId::new(t2, 0);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert!(RequestId::lowest_at(t1) <= a && a <= RequestId::highest_at(t1));
        let round_trip = RequestId::parse(&a.to_string()).unwrap();
        assert_eq!(round_trip, a);
        assert_eq!(RequestId::parse(&a.to_string().to_lowercase()).unwrap(), a);
        for bad in ["", "01", "not-a-ulid-not-a-ulid-xxxx", "01J0000000000000000000000U"] {
            assert_eq!(RequestId::parse(bad), Err(Problem::NotARequestId), "{bad}");
        }
    }

    #[test]
    fn subjects_and_idempotency_keys_are_printable_ascii() {
        assert!(Subject::parse("agent@contoso").is_ok());
        assert!(IdempotencyKey::parse("9b2c-retry 1").is_ok());
        for bad in ["", "tab\t", "ü", &"k".repeat(256)] {
            assert_eq!(IdempotencyKey::parse(bad), Err(Problem::NotPrintableAscii));
        }
    }
}
