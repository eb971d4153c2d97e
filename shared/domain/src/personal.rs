//! Personal data: which values of a request and of its events are about people, and what is
//! left of them after an erasure (GDPR Art. 17).
//!
//! Storage keeps personal values apart from everything else (the ledger holds only salted
//! commitments to them, see the ledger's FORMAT.md §4), so they can be erased while every
//! hash, checkpoint and receipt stays valid. This module is the one list of those fields.

use serde::{Deserialize, Serialize};

use crate::error::Problem;

/// The JSON Pointers of the personal values of a service request (its resource).
pub const REQUEST_FIELDS: &[&str] = &[
    "/title",
    "/description",
    "/supportTopic",
    "/contact/name",
    "/contact/email",
    "/contact/phone",
    "/entitlement/reference",
];

/// The JSON Pointers of the personal values of a domain event's data (besides the request
/// itself, which a `created` event carries under `/change/request`).
pub const EVENT_FIELDS: &[&str] = &[
    "/actor/subject",
    "/change/message",
    "/change/reason",
    "/change/assignee",
    "/change/previousAssignee",
    "/change/note",
];

/// Where a `created` event carries the request.
pub const CREATED_REQUEST: &str = "/change/request";

/// A personal value, or the fact that it was erased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Personal<T> {
    Known(T),
    /// Erased on a data subject's request; `null` on the wire.
    Erased,
}

impl<T> Personal<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Personal::Known(v) => Some(v),
            Personal::Erased => None,
        }
    }

    pub fn is_erased(&self) -> bool {
        matches!(self, Personal::Erased)
    }
}

impl<T: AsRef<str>> Personal<T> {
    /// The value's text, unless it was erased.
    pub fn as_str(&self) -> Option<&str> {
        self.known().map(AsRef::as_ref)
    }
}

/// A record read without its personal values (they live elsewhere) has them as erased until
/// they are joined back.
impl<T> Default for Personal<T> {
    fn default() -> Self {
        Personal::Erased
    }
}

impl<T> From<T> for Personal<T> {
    fn from(value: T) -> Self {
        Personal::Known(value)
    }
}

/// Why personal data is erased: the ground of GDPR Art. 17(1) the controller relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LegalBasis {
    /// (a) no longer necessary for the purposes collected.
    #[serde(rename = "gdpr_art_17_1_a")]
    GdprArt17_1A,
    /// (b) consent withdrawn.
    #[serde(rename = "gdpr_art_17_1_b")]
    GdprArt17_1B,
    /// (c) objection.
    #[serde(rename = "gdpr_art_17_1_c")]
    GdprArt17_1C,
    /// (d) unlawfully processed.
    #[serde(rename = "gdpr_art_17_1_d")]
    GdprArt17_1D,
    /// (e) erasure required by a legal obligation.
    #[serde(rename = "gdpr_art_17_1_e")]
    GdprArt17_1E,
    /// (f) data of a child collected for information-society services.
    #[serde(rename = "gdpr_art_17_1_f")]
    GdprArt17_1F,
}

impl LegalBasis {
    pub const NAMES: &'static str =
        "gdpr_art_17_1_a, gdpr_art_17_1_b, gdpr_art_17_1_c, gdpr_art_17_1_d, gdpr_art_17_1_e, gdpr_art_17_1_f";

    pub fn parse(text: &str) -> Result<Self, Problem> {
        Ok(match text {
            "gdpr_art_17_1_a" => Self::GdprArt17_1A,
            "gdpr_art_17_1_b" => Self::GdprArt17_1B,
            "gdpr_art_17_1_c" => Self::GdprArt17_1C,
            "gdpr_art_17_1_d" => Self::GdprArt17_1D,
            "gdpr_art_17_1_e" => Self::GdprArt17_1E,
            "gdpr_art_17_1_f" => Self::GdprArt17_1F,
            _ => return Err(Problem::NotOneOf { allowed: Self::NAMES }),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GdprArt17_1A => "gdpr_art_17_1_a",
            Self::GdprArt17_1B => "gdpr_art_17_1_b",
            Self::GdprArt17_1C => "gdpr_art_17_1_c",
            Self::GdprArt17_1D => "gdpr_art_17_1_d",
            Self::GdprArt17_1E => "gdpr_art_17_1_e",
            Self::GdprArt17_1F => "gdpr_art_17_1_f",
        }
    }
}

/// What an erasure covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureScope {
    /// Every personal value of the request (its own fields and every entry's).
    Request,
    /// Only values some entries introduced (e.g. a person who acted on a request that is not
    /// theirs): the request's own fields stay.
    Entries,
}

/// The privacy team's case reference for an erasure (a ticket id, never a name): 1–64
/// characters of ASCII letters, digits and `. _ - : /`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseReference(String);
crate::ids::string_value!(CaseReference);

impl CaseReference {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        let ok = !input.is_empty()
            && input.len() <= 64
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/'));
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(Problem::NotACaseReference)
        }
    }
}

/// A commitment to an erased value, as the ledger writes it (64 lower-case hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitmentId(String);
crate::ids::string_value!(CommitmentId);

impl CommitmentId {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        if input.len() == 64 && input.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(input.to_owned()))
        } else {
            Err(Problem::NotACommitment)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Title;

    #[test]
    fn an_erased_value_is_null_on_the_wire() {
        let known: Personal<Title> = Title::parse("VMs down").unwrap().into();
        assert_eq!(serde_json::to_string(&known).unwrap(), "\"VMs down\"");
        assert_eq!(serde_json::to_string(&Personal::<Title>::Erased).unwrap(), "null");
        let back: Personal<Title> = serde_json::from_str("null").unwrap();
        assert!(back.is_erased());
        let back: Personal<Title> = serde_json::from_str("\"VMs down\"").unwrap();
        assert_eq!(back.as_str(), Some("VMs down"));
        assert!(
            serde_json::from_str::<Personal<Title>>("\"\"").is_err(),
            "still validated"
        );
    }

    #[test]
    fn legal_bases_and_references() {
        assert_eq!(
            LegalBasis::parse("gdpr_art_17_1_b").unwrap().as_str(),
            "gdpr_art_17_1_b"
        );
        // The ledger spells each basis as the API does.
        for name in LegalBasis::NAMES.split(", ") {
            let basis = LegalBasis::parse(name).unwrap();
            assert_eq!(serde_json::to_value(basis).unwrap(), name);
            assert_eq!(serde_json::from_value::<LegalBasis>(name.into()).unwrap(), basis);
        }
        assert!(LegalBasis::parse("because").is_err());
        assert!(CaseReference::parse("DSR-2026/0042").is_ok());
        for bad in ["", "Erika Partner", &"x".repeat(65), "a@b"] {
            assert!(CaseReference::parse(bad).is_err(), "{bad}");
        }
        assert!(CommitmentId::parse(&"ab".repeat(32)).is_ok());
        assert!(CommitmentId::parse(&"AB".repeat(32)).is_err());
    }
}
