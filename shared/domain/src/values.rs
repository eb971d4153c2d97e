//! Contact details, language tags and timestamps.

use chrono::{DateTime, SecondsFormat, Utc};
use email_address::EmailAddress;
use unicode_normalization::UnicodeNormalization;

use crate::error::Problem;
use crate::ids::string_value;

/// The partner contact's e-mail address (RFC 5321/5322 as the `email_address` crate reads
/// it; no display names, at most 254 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);
string_value!(Email);

impl Email {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        let normalised: String = input.trim().nfc().collect();
        if let Some((position, c)) = normalised
            .chars()
            .enumerate()
            .find(|(_, c)| crate::text::is_direction_or_tag(*c) || crate::text::is_invisible(*c))
        {
            return Err(Problem::InvisibleCharacter {
                code: u32::from(c),
                position,
            });
        }
        if normalised.chars().count() > 254
            || normalised.contains(['<', '>', ' '])
            || normalised.chars().any(char::is_control)
        {
            return Err(Problem::NotAnEmail);
        }
        let parsed: EmailAddress = normalised.parse().map_err(|_| Problem::NotAnEmail)?;
        if !parsed.domain().contains('.') {
            return Err(Problem::NotAnEmail);
        }
        Ok(Self(parsed.email().to_owned()))
    }
}

/// A phone number, kept for the record only: this program offers no telephone support.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);
string_value!(Phone);

impl Phone {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        let trimmed = input.trim();
        let digits = trimmed.chars().filter(char::is_ascii_digit).count();
        let allowed = trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'));
        if allowed && (5..=20).contains(&digits) && trimmed.len() <= 32 {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(Problem::NotAPhoneNumber)
        }
    }
}

/// A BCP 47 language tag (`en`, `de-DE`, `ja`), stored in its canonical case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LanguageTag(String);
string_value!(LanguageTag);

impl LanguageTag {
    pub fn parse(input: &str) -> Result<Self, Problem> {
        if input.is_empty() || input.len() > 35 {
            return Err(Problem::NotALanguageTag);
        }
        let tag = language_tags::LanguageTag::parse(input).map_err(|_| Problem::NotALanguageTag)?;
        // Private-use and grandfathered tags name no language whose support hours we know.
        if tag.primary_language().len() < 2 || tag.primary_language().starts_with('x') {
            return Err(Problem::NotALanguageTag);
        }
        Ok(Self(tag.into_string()))
    }

    /// The primary language subtag, lower-case (`de` for `de-DE`).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// English (`en`, `en-GB`, …) is supported 24x7.
    pub fn is_english(&self) -> bool {
        self.primary().eq_ignore_ascii_case("en")
    }
}

/// An instant in UTC with millisecond precision, written `2026-11-27T15:30:00.000Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// `at`, truncated to the millisecond.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        let millis = at.timestamp_millis();
        Self(DateTime::from_timestamp_millis(millis).unwrap_or(at))
    }

    /// Any RFC 3339 timestamp; the offset is converted to UTC.
    pub fn parse(input: &str) -> Result<Self, Problem> {
        DateTime::parse_from_rfc3339(input.trim())
            .map(|t| Self::from_datetime(t.with_timezone(&Utc)))
            .map_err(|_| Problem::NotATimestamp)
    }

    pub fn datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self::from_datetime(at)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl TryFrom<String> for Timestamp {
    type Error = Problem;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Timestamp> for String {
    fn from(value: Timestamp) -> String {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" agent@partner.example ").unwrap().as_str(),
            "agent@partner.example"
        );
        for bad in [
            "",
            "agent",
            "agent@",
            "@partner.example",
            "Agent <a@b.example>",
            "a@localhost",
            "a b@c.example",
        ] {
            assert_eq!(Email::parse(bad), Err(Problem::NotAnEmail), "{bad}");
        }
        let long = format!("{}@partner.example", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(Problem::NotAnEmail));
    }

    #[test]
    fn phones() {
        assert!(Phone::parse("+49 (30) 1234-5678").is_ok());
        for bad in ["", "call me", "+1", "12345678901234567890123"] {
            assert_eq!(Phone::parse(bad), Err(Problem::NotAPhoneNumber), "{bad}");
        }
    }

    #[test]
    fn language_tags() {
        let de = LanguageTag::parse("de-de").unwrap();
        assert_eq!(de.as_str(), "de-DE");
        assert_eq!(de.primary(), "de");
        assert!(!de.is_english());
        assert!(LanguageTag::parse("en-GB").unwrap().is_english());
        assert!(LanguageTag::parse("EN").unwrap().is_english());
        assert!(LanguageTag::parse("zh-Hant-TW").is_ok());
        for bad in ["", "e", "english!", "x-private", "de_DE", "-de", &"a".repeat(36)] {
            assert_eq!(LanguageTag::parse(bad), Err(Problem::NotALanguageTag), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let t = Timestamp::parse("2026-11-27T16:30:00.123456+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-27T15:30:00.123Z");
        assert_eq!(Timestamp::parse("yesterday"), Err(Problem::NotATimestamp));
    }
}
