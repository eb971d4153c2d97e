//! # Standard Webhooks, as ledgerdesk sends them
//!
//! The pieces of the Standard Webhooks specification (standard-webhooks/standard-webhooks,
//! `spec/standard-webhooks.md`, version 1.0.0) that do not touch the network, so that they are
//! tested exactly and once:
//!
//! - [`SigningSecret`] (`whsec_` + base64 of 24–64 random bytes) and [`SigningKey`] /
//!   [`PublicKey`] (`whsk_` / `whpk_`, Ed25519);
//! - [`Signer`]: the `webhook-signature` header over `{id}.{timestamp}.{body}` — `v1,` HMAC-SHA256
//!   with every secret in force (two during a rotation), `v1a,` Ed25519 — and [`verify`];
//! - [`webhook_id`]: the id of the delivery of one ledger entry (chain and seq: stable, so a
//!   repeat is recognisable);
//! - [`cursor::Cursor`]: one endpoint's place in its partner's chain (in order, gap-free, its own
//!   back-off, replay from any seq);
//! - [`RETRY_SCHEDULE`] and [`classify`]: the spec's example schedule and its status rules
//!   (2xx success, 410 disables, 429/502/503/504 and `Retry-After` throttle);
//! - [`forbidden`] and [`EndpointUrl`]: the addresses no endpoint may reach (private, loopback,
//!   link-local, the cloud metadata service…), checked at registration and again at delivery
//!   against the address a name resolves to.

pub mod address;
pub mod cursor;
pub mod seal;
pub mod sign;

pub use address::{EndpointUrl, Mode, UrlError, forbidden};
pub use seal::{SealError, SealKey};
pub use sign::{PublicKey, SecretError, Signer, SigningKey, SigningSecret, Trusted, VerifyError, verify};

use std::time::Duration;

/// An endpoint's id: `ep_` and a ULID (so ids sort in creation order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(String);

impl EndpointId {
    pub const PREFIX: &'static str = "ep_";

    pub fn generate() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut random = [0u8; 16];
        rand::fill(&mut random[..]);
        Self(format!(
            "{}{}",
            Self::PREFIX,
            ulid::Ulid::from_parts(millis, u128::from_le_bytes(random))
        ))
    }

    /// `None` unless `text` is `ep_` and a ULID in its canonical (upper-case) spelling.
    pub fn parse(text: &str) -> Option<Self> {
        let ulid = text.strip_prefix(Self::PREFIX)?;
        let parsed = ulid::Ulid::from_string(ulid).ok()?;
        (parsed.to_string() == ulid).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of the delivery of entry `seq` of `chain`: `msg_<chain>_<seq>`, with the chain's `.`
/// written `~` (the specification forbids `.` in an id, and `~` is not in any chain id, so no
/// two entries share an id). The same for every attempt and every replay of that entry.
pub fn webhook_id(chain: &str, seq: u64) -> String {
    format!("msg_{}_{seq}", chain.replace('.', "~"))
}

/// The delay before each attempt, from the first (the specification's example schedule:
/// about three days in all). After the last, the endpoint is disabled.
pub const RETRY_SCHEDULE: [Duration; 10] = [
    Duration::from_secs(0),
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The longest a delivery may take before it counts as failed (the specification recommends
/// 15–30 s; the issue asks at most 15).
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The longest a `Retry-After` is honoured for (a receiver cannot park an endpoint for ever).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What one attempt's answer means for the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: delivered; the cursor moves on.
    Delivered,
    /// 410 Gone: the receiver wants no more; the endpoint is disabled.
    Gone,
    /// Any other answer (or none): try again, not before `at_least` from now (the schedule's
    /// next delay, or a longer `Retry-After`).
    Retry { at_least: Duration },
    /// The schedule is spent: disable the endpoint and alarm.
    GiveUp,
}

/// Classify attempt number `attempt` (0 for the first) that got `status` (`None`: no answer —
/// a timeout, a refused or reset connection) with `retry_after` (the header's value, if any).
pub fn classify(attempt: usize, status: Option<u16>, retry_after: Option<&str>) -> Outcome {
    match status {
        Some(200..=299) => return Outcome::Delivered,
        Some(410) => return Outcome::Gone,
        _ => {}
    }
    let Some(next) = RETRY_SCHEDULE.get(attempt + 1).copied() else {
        return Outcome::GiveUp;
    };
    // Retry-After in seconds (the HTTP-date form is not honoured: the schedule stands).
    let asked = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
        .filter(|_| matches!(status, Some(429 | 502 | 503 | 504)));
    Outcome::Retry {
        at_least: asked.map_or(next, |a| a.max(next)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_are_ep_and_a_canonical_ulid() {
        let id = EndpointId::generate();
        assert_eq!(EndpointId::parse(id.as_str()), Some(id.clone()));
        assert!(id.as_str().starts_with("ep_") && id.as_str().len() == 29);
        for bad in [
            "",
            "ep_",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "ep_01arz3ndektsv4rrffq69g5fav",
            "ep_01ARZ3NDEKTSV4RRFFQ69G5FA",
            "ep_01ARZ3NDEKTSV4RRFFQ69G5FAV/x",
        ] {
            assert_eq!(EndpointId::parse(bad), None, "{bad}");
        }
        assert!(EndpointId::parse("ep_01ARZ3NDEKTSV4RRFFQ69G5FAV").is_some());
    }

    #[test]
    fn a_delivery_id_is_stable_per_entry_and_has_no_full_stop() {
        assert_eq!(webhook_id("contoso", 17), "msg_contoso_17");
        assert_eq!(webhook_id("contoso", 17), webhook_id("contoso", 17));
        assert_eq!(webhook_id("fabrikam.eu", 3), "msg_fabrikam~eu_3");
        assert_ne!(webhook_id("a.b", 1), webhook_id("a_b", 1));
        assert_ne!(webhook_id("a", 11), webhook_id("a_1", 1));
        assert!(!webhook_id("x.y.z", 0).contains('.'));
    }

    #[test]
    fn statuses_follow_the_specification() {
        assert_eq!(classify(0, Some(200), None), Outcome::Delivered);
        assert_eq!(classify(3, Some(299), None), Outcome::Delivered);
        assert_eq!(classify(0, Some(410), None), Outcome::Gone);
        // Redirects are failures, not followed.
        assert_eq!(
            classify(0, Some(301), None),
            Outcome::Retry {
                at_least: Duration::from_secs(5)
            }
        );
        assert_eq!(
            classify(1, None, None),
            Outcome::Retry {
                at_least: Duration::from_secs(300)
            }
        );
        // Retry-After is honoured when it asks for longer, for throttling statuses only.
        assert_eq!(
            classify(0, Some(503), Some("120")),
            Outcome::Retry {
                at_least: Duration::from_secs(120)
            }
        );
        assert_eq!(
            classify(0, Some(429), Some(" 2 ")),
            Outcome::Retry {
                at_least: Duration::from_secs(5)
            }
        );
        assert_eq!(
            classify(0, Some(500), Some("120")),
            Outcome::Retry {
                at_least: Duration::from_secs(5)
            }
        );
        assert_eq!(
            classify(0, Some(503), Some("999999999")),
            Outcome::Retry {
                at_least: MAX_RETRY_AFTER
            }
        );
        assert_eq!(
            classify(0, Some(503), Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            Outcome::Retry {
                at_least: Duration::from_secs(5)
            }
        );
        assert_eq!(classify(RETRY_SCHEDULE.len() - 1, Some(500), None), Outcome::GiveUp);
        // The schedule spans about three days (75 h 35 min 5 s), as the specification's.
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert_eq!(total, Duration::from_secs(75 * 3600 + 35 * 60 + 5));
    }
}
