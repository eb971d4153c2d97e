//! Canonical JSON for entry data: RFC 8785 (JCS) restricted to integers.
//!
//! - no insignificant whitespace;
//! - object members sorted by their keys' UTF-16 code units (JCS); duplicate keys cannot
//!   occur because the input is a parsed value;
//! - strings in Unicode NFC, escaped as JCS does: `\"`, `\\`, `\b \f \n \r \t`, other
//!   control characters as `\u00xx` (lower-case hex), everything else literally;
//! - numbers only as integers in ±(2^53 − 1), written in plain decimal: no floats, no
//!   exponents, no `-0`, so every reader gets the same value.

use serde_json::Value;
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// The largest integer every JSON reader represents exactly (JavaScript's safe range).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("numbers must be integers within ±(2^53-1); found {0}")]
    NotASafeInteger(String),
    #[error("object keys must be in Unicode NFC; found {0:?}")]
    KeyNotNfc(String),
    #[error("entry data must be a JSON object")]
    NotAnObject,
}

/// The canonical bytes of an entry's data object.
pub fn encode_data(value: &Value) -> Result<String, CanonicalError> {
    if !value.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    let mut out = String::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

/// Whether `text` is exactly the canonical encoding of the JSON object it contains.
pub fn is_canonical_data(text: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => encode_data(&value).is_ok_and(|again| again == text) && !has_duplicate_keys(text),
        Err(_) => false,
    }
}

/// serde_json keeps the last of duplicate keys; a re-encoding would then differ in length,
/// except for a duplicate whose value repeats exactly. Catch that case by counting members.
fn has_duplicate_keys(text: &str) -> bool {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Dup;
    impl<'de> Visitor<'de> for Dup {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut keys = std::collections::BTreeSet::new();
            let mut dup = false;
            while let Some(key) = map.next_key::<String>()? {
                dup |= !keys.insert(key);
                dup |= map.next_value_seed(DupSeed)?;
            }
            Ok(dup)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut dup = false;
            while let Some(d) = seq.next_element_seed(DupSeed)? {
                dup |= d;
            }
            Ok(dup)
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    struct DupSeed;
    impl<'de> serde::de::DeserializeSeed<'de> for DupSeed {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Dup)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(Dup).unwrap_or(true)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            let text = if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
                u.to_string()
            } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
                i.to_string()
            } else {
                return Err(CanonicalError::NotASafeInteger(n.to_string()));
            };
            out.push_str(&text);
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            for (key, _) in &members {
                if !is_nfc(key) {
                    return Err(CanonicalError::KeyNotNfc((*key).clone()));
                }
            }
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Fast path: printable ASCII without quotes or backslashes is already NFC and needs no escapes.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.nfc() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_and_escaped() {
        let v = json!({ "b": [1, -2, true, null], "a": "x\"y\\z\n\u{0001}é", "A": {} });
        assert_eq!(
            encode_data(&v).unwrap(),
            r#"{"A":{},"a":"x\"y\\z\n\u0001é","b":[1,-2,true,null]}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units_as_jcs_does() {
        // U+1F600 (UTF-16 0xD83D 0xDE00) sorts before U+E000 in UTF-16, though after it in UTF-8.
        let v = json!({ "\u{1F600}": 1, "\u{E000}": 2 });
        assert_eq!(encode_data(&v).unwrap(), "{\"\u{1F600}\":1,\"\u{E000}\":2}");
    }

    #[test]
    fn strings_are_nfc() {
        assert_eq!(encode_data(&json!({ "k": "e\u{0301}" })).unwrap(), "{\"k\":\"\u{e9}\"}");
        assert_eq!(
            encode_data(&json!({ "e\u{0301}": 1 })),
            Err(CanonicalError::KeyNotNfc("e\u{0301}".into()))
        );
    }

    #[test]
    fn only_safe_integers() {
        assert!(encode_data(&json!({ "n": MAX_SAFE_INTEGER })).is_ok());
        assert!(encode_data(&json!({ "n": -(MAX_SAFE_INTEGER as i64) })).is_ok());
        assert!(matches!(
            encode_data(&json!({ "n": MAX_SAFE_INTEGER + 1 })),
            Err(CanonicalError::NotASafeInteger(_))
        ));
        assert!(matches!(
            encode_data(&json!({ "n": 1.5 })),
            Err(CanonicalError::NotASafeInteger(_))
        ));
        assert_eq!(encode_data(&json!([1])), Err(CanonicalError::NotAnObject));
    }

    #[test]
    fn canonical_check() {
        assert!(is_canonical_data(r#"{"a":1,"b":"x"}"#));
        for not in [
            r#"{"b":1,"a":2}"#,
            r#"{ "a":1}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1,"a":1}"#,
            r#"{"a":"\u0041"}"#,
            "[]",
            "{",
        ] {
            assert!(!is_canonical_data(not), "{not}");
        }
    }
}
