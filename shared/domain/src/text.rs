//! Free-text values: NFC-normalised, bounded, free of control characters.

use unicode_normalization::UnicodeNormalization;

use crate::error::Problem;

/// Whether a text may span lines (descriptions, messages) or not (titles, names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    Single,
    Multi,
}

/// Characters that change how text reads without being seen: bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069: the "Trojan Source" characters),
/// Unicode tag characters (U+E0000–U+E007F), and the Arabic letter mark. Refused everywhere.
pub(crate) fn is_direction_or_tag(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{E0000}'..='\u{E007F}' | '\u{061C}')
}

/// Invisible characters that have no place in a one-line value (a title, a name, an address):
/// zero-width spaces and joiners, direction marks, the byte-order mark, and the line and
/// paragraph separators (which split a "single line" for some readers).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{180E}' | '\u{2060}'
    )
}

/// Normalise `input` to NFC and check it: no control characters other than newline and
/// tab (and neither in single-line text), no direction-changing or tag characters, no
/// invisible characters in single-line text — anywhere, the ends included — and
/// `min..=max` characters after trimming the surrounding whitespace. (The OpenAPI
/// document states the same rule as a pattern; `shared/api/tests/openapi.rs` holds them
/// to each other.)
pub(crate) fn clean(input: &str, min: usize, max: usize, lines: Lines) -> Result<String, Problem> {
    let normalised: String = input.nfc().collect();
    for (position, c) in normalised.chars().enumerate() {
        let allowed_whitespace = lines == Lines::Multi && (c == '\n' || c == '\t');
        if c.is_control() && !allowed_whitespace {
            if lines == Lines::Single && (c == '\n' || c == '\r') {
                return Err(Problem::Multiline);
            }
            return Err(Problem::ControlCharacter {
                code: u32::from(c),
                position,
            });
        }
        if is_direction_or_tag(c) || (lines == Lines::Single && is_invisible(c)) {
            return Err(Problem::InvisibleCharacter {
                code: u32::from(c),
                position,
            });
        }
    }
    let trimmed = normalised.trim();
    if trimmed.is_empty() {
        return Err(Problem::Empty);
    }
    let length = trimmed.chars().count();
    if length > max {
        return Err(Problem::TooLong { max, actual: length });
    }
    if length < min {
        return Err(Problem::TooShort { min, actual: length });
    }
    Ok(trimmed.to_owned())
}

/// Declares a text newtype with a private field whose only constructor is `parse`.
macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident, $min:expr, $max:expr, $lines:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(input: &str) -> Result<Self, $crate::error::Problem> {
                $crate::text::clean(input, $min, $max, $lines).map(Self)
            }

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

text_value!(
    /// A request's title: one line, 1-255 characters.
    Title, 1, 255, Lines::Single
);
text_value!(
    /// A request's description: 1-32,000 characters, newlines and tabs allowed.
    Description, 1, 32_000, Lines::Multi
);
text_value!(
    /// The name of the partner's contact person (never the customer's).
    ContactName, 1, 128, Lines::Single
);
text_value!(
    /// The support topic the partner chose (the vendor's topic taxonomy, free text here).
    SupportTopic, 1, 255, Lines::Single
);
text_value!(
    /// The reference of an entitlement: an MPN contract id, a Premier contract, an Azure support plan.
    EntitlementReference, 1, 128, Lines::Single
);
text_value!(
    /// A message in the conversation: a response, a note, a resolution, a reason.
    Message, 1, 32_000, Lines::Multi
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_nfc_normalised_and_trimmed() {
        // "é" as e + combining acute (NFD) becomes the single code point U+00E9.
        let title = Title::parse("  Caf\u{0065}\u{0301} outage ").unwrap();
        assert_eq!(title.as_str(), "Caf\u{00e9} outage");
        assert_eq!(title.as_str().chars().count(), 11);
    }

    #[test]
    fn limits_are_counted_in_characters_after_normalisation() {
        assert!(Title::parse(&"ä".repeat(255)).is_ok());
        assert_eq!(
            Title::parse(&"ä".repeat(256)),
            Err(Problem::TooLong { max: 255, actual: 256 })
        );
        // 255 decomposed characters (510 code points) are 255 after NFC.
        assert!(Title::parse(&"a\u{0308}".repeat(255)).is_ok());
        assert!(Description::parse(&"x".repeat(32_000)).is_ok());
        assert!(matches!(
            Description::parse(&"x".repeat(32_001)),
            Err(Problem::TooLong { max: 32_000, .. })
        ));
    }

    #[test]
    fn bad_text_is_refused_with_the_reason() {
        let cases: &[(&str, Problem)] = &[
            ("", Problem::Empty),
            ("    ", Problem::Empty),
            // Checked before trimming: a one-line value has no newline even at its end.
            ("   \n\t ", Problem::Multiline),
            ("title\n", Problem::Multiline),
            ("line one\nline two", Problem::Multiline),
            ("bell\u{0007}", Problem::ControlCharacter { code: 7, position: 4 }),
            ("tab\there", Problem::ControlCharacter { code: 9, position: 3 }),
            ("nul\u{0000}", Problem::ControlCharacter { code: 0, position: 3 }),
            (
                "del\u{007f}x",
                Problem::ControlCharacter {
                    code: 0x7f,
                    position: 3,
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(Title::parse(input).as_ref(), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_refused() {
        for (c, single_only) in [
            ('\u{202E}', false),
            ('\u{202A}', false),
            ('\u{2066}', false),
            ('\u{2069}', false),
            ('\u{E0041}', false),
            ('\u{061C}', false),
            ('\u{200B}', true),
            ('\u{200D}', true),
            ('\u{200F}', true),
            ('\u{2028}', true),
            ('\u{2029}', true),
            ('\u{FEFF}', true),
        ] {
            let text = format!("invoice{c}txt.exe");
            assert_eq!(
                Title::parse(&text),
                Err(Problem::InvisibleCharacter {
                    code: u32::from(c),
                    position: 7
                }),
                "{c:?}"
            );
            assert_eq!(Description::parse(&text).is_err(), !single_only, "{c:?}");
        }
        // Emoji with joiners are fine where text may span lines.
        assert!(Description::parse("team \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}").is_ok());
    }

    #[test]
    fn multi_line_text_keeps_newlines_and_tabs_but_not_carriage_returns() {
        let d = Description::parse("Steps:\n\t1. sign in\n\t2. fail").unwrap();
        assert!(d.as_str().contains("\n\t2."));
        assert_eq!(
            Description::parse("a\r\nb"),
            Err(Problem::ControlCharacter { code: 13, position: 1 })
        );
    }

    #[test]
    fn deserialising_validates() {
        let ok: Title = serde_json::from_str("\"Outage\"").unwrap();
        assert_eq!(ok.as_str(), "Outage");
        assert!(serde_json::from_str::<Title>("\"\"").is_err());
    }
}
