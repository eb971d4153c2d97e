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

/// A well-formed BCP 47 (RFC 5646) language tag (`en`, `de-DE`, `zh-Hant-TW`, `xh-ZA`), at
/// most [`LanguageTag::MAX_LEN`] characters, stored in its canonical case. A grandfathered tag
/// (`en-GB-oed`, `i-klingon`, `art-lojban`, `sgn-BE-FR`) is kept as given and served by its
/// registry's preferred value (`en-GB-oxendict`, `tlh`, `jbo`, `sfb`); one without a preferred
/// value by its first subtag where that is a language (`zh-min` → `zh`), else by no language
/// (`i-default`: the policy's fallback). Private-use-only tags (`x-whatever`) name no language
/// whose support hours anyone knows, and are refused.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LanguageTag {
    text: String,
    /// A grandfathered tag's stand-in, which the offsets below index: the preferred value, or
    /// the first subtag.
    served_as: Option<String>,
    /// The end of the primary language subtag in the served text.
    language_end: u8,
    /// Where the region subtag is in the served text, if there is one.
    region: Option<(u8, u8)>,
}

impl PartialEq for LanguageTag {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for LanguageTag {}

impl std::hash::Hash for LanguageTag {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl LanguageTag {
    /// Longer tags are well-formed but not useful (RFC 5646 §4.4.1 suggests 35 for the
    /// language, extlang, script and region parts; extensions make real tags longer).
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, Problem> {
        if input.is_empty() || input.len() > Self::MAX_LEN {
            return Err(Problem::NotALanguageTag);
        }
        let tag = language_tags::LanguageTag::parse(input).map_err(|_| Problem::NotALanguageTag)?;
        // The parser reads grandfathered and private-use-only tags as one opaque "language"
        // (`i-klingon`, `x-private`): a real primary language subtag has no hyphen.
        let language = tag.primary_language();
        if language.contains('-') || !(2..=8).contains(&language.len()) {
            if language.starts_with("x-") || language.starts_with("X-") {
                return Err(Problem::NotALanguageTag);
            }
            let served = match tag.canonicalize() {
                Ok(preferred) if preferred.as_str() != tag.as_str() => preferred,
                _ => {
                    // No preferred value: the first subtag, if it is a language.
                    let first = tag.as_str().split('-').next().unwrap_or_default();
                    let first = if first.len() >= 2 && first.bytes().all(|b| b.is_ascii_alphabetic()) {
                        first
                    } else {
                        "und"
                    };
                    language_tags::LanguageTag::parse(first).map_err(|_| Problem::NotALanguageTag)?
                }
            };
            let mut parsed = Self::regular(served)?;
            parsed.served_as = Some(std::mem::replace(&mut parsed.text, tag.into_string()));
            return Ok(parsed);
        }
        Self::regular(tag)
    }

    /// A tag whose primary language subtag is a language.
    fn regular(tag: language_tags::LanguageTag) -> Result<Self, Problem> {
        let language = tag.primary_language();
        if language.contains('-') || !(2..=8).contains(&language.len()) {
            return Err(Problem::NotALanguageTag);
        }
        let language_end = language.len();
        let text = tag.as_str();
        // The region is the first subtag after the language equal to it (the subtags
        // before it — extended language, script — differ in length or case).
        let region = tag.region().and_then(|r| {
            let mut start = 0;
            text.split('-').enumerate().find_map(|(i, subtag)| {
                let here = start;
                start += subtag.len() + 1;
                (i > 0 && subtag == r).then_some((here, here + r.len()))
            })
        });
        let offset = |n: usize| u8::try_from(n).map_err(|_| Problem::NotALanguageTag);
        let region = match region {
            Some((start, end)) => Some((offset(start)?, offset(end)?)),
            None => None,
        };
        Ok(Self {
            language_end: offset(language_end)?,
            region,
            served_as: None,
            text: tag.into_string(),
        })
    }

    /// The tag support is chosen by: the tag itself, or a grandfathered tag's stand-in.
    pub fn served_as(&self) -> &str {
        self.served_as.as_deref().unwrap_or(&self.text)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The primary language subtag, lower-case (`de` for `de-Latn-AT`).
    pub fn primary(&self) -> &str {
        self.served_as()
            .get(..usize::from(self.language_end))
            .unwrap_or_default()
    }

    /// The region subtag, if any, upper-case or digits (`AT` for `de-Latn-AT-1996`, `419`
    /// for `es-419`).
    pub fn region(&self) -> Option<&str> {
        self.region
            .and_then(|(start, end)| self.served_as().get(usize::from(start)..usize::from(end)))
    }

    /// English (`en`, `en-GB`, …) is supported 24x7.
    pub fn is_english(&self) -> bool {
        self.primary().eq_ignore_ascii_case("en")
    }
}

impl AsRef<str> for LanguageTag {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for LanguageTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for LanguageTag {
    type Error = Problem;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LanguageTag> for String {
    fn from(value: LanguageTag) -> String {
        value.text
    }
}

#[cfg(test)]
mod language_tests {
    use super::LanguageTag;

    #[test]
    fn grandfathered_tags_are_kept_as_given_and_served_by_their_preferred_values() {
        for (tag, primary, region) in [
            ("en-GB-oed", "en", Some("GB")),
            ("i-klingon", "tlh", None),
            ("art-lojban", "jbo", None),
            ("sgn-BE-FR", "sfb", None),
            ("no-bok", "nb", None),
            ("zh-min-nan", "nan", None),
            // No preferred value: the first subtag where it is a language, else none.
            ("zh-min", "zh", None),
            ("cel-gaulish", "cel", None),
            ("i-default", "und", None),
        ] {
            let parsed = LanguageTag::parse(tag).unwrap();
            assert_eq!(parsed.as_str(), tag, "recorded as given");
            assert_eq!((parsed.primary(), parsed.region()), (primary, region), "{tag}");
        }
        assert!(LanguageTag::parse("en-GB-oed").unwrap().is_english());
        assert!(!LanguageTag::parse("i-klingon").unwrap().is_english());
        // A grandfathered tag round-trips through its stored form.
        let stored: LanguageTag = serde_json::from_str("\"sgn-CH-DE\"").unwrap();
        assert_eq!((stored.as_str(), stored.primary()), ("sgn-CH-DE", "sgg"));
        for refused in ["x-private", "i-borg", "en-GB-oedx"] {
            assert!(LanguageTag::parse(refused).is_err(), "{refused}");
        }
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
        for bad in [
            "",
            "e",
            "english!",
            "x-private",
            "de_DE",
            "-de",
            "de--AT",
            "i-borg",
            "en-GB-oedx",
        ] {
            assert_eq!(LanguageTag::parse(bad), Err(Problem::NotALanguageTag), "{bad}");
        }
        // Xhosa is a language, not a private-use prefix.
        assert_eq!(LanguageTag::parse("xh").unwrap().primary(), "xh");
        assert_eq!(LanguageTag::parse("xh-za").unwrap().as_str(), "xh-ZA");
        // Language and region, whatever else the tag carries.
        let tag = LanguageTag::parse("de-latn-at-1996-u-co-phonebk").unwrap();
        assert_eq!((tag.primary(), tag.region()), ("de", Some("AT")));
        assert_eq!(LanguageTag::parse("es-419").unwrap().region(), Some("419"));
        assert_eq!(LanguageTag::parse("zh-Hant").unwrap().region(), None);
        assert_eq!(LanguageTag::parse("zh-yue-HK").unwrap().region(), Some("HK"));
        // Well-formed and long is fine, up to 64 characters.
        let long = "de-AT-1996-u-co-phonebk-ca-gregory-nu-latn-x-partner-tooling";
        assert!(long.len() > 35 && long.len() <= 64);
        assert_eq!(LanguageTag::parse(long).unwrap().region(), Some("AT"));
        assert_eq!(
            LanguageTag::parse(&format!("{long}-toolong")),
            Err(Problem::NotALanguageTag)
        );
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let t = Timestamp::parse("2026-11-27T16:30:00.123456+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-27T15:30:00.123Z");
        assert_eq!(Timestamp::parse("yesterday"), Err(Problem::NotATimestamp));
    }
}
