//! Canonical JSON for entry data: RFC 8785 (JCS) restricted to integers.
//!
//! - no insignificant whitespace;
//! - object members sorted by their keys' UTF-16 code units (JCS); duplicate keys cannot
//!   occur because the input is a parsed value;
//! - strings in Unicode NFC, escaped as JCS does: `\"`, `\\`, `\b \f \n \r \t`, other
//!   control characters as `\u00xx` (lower-case hex), everything else literally;
//! - numbers only as integers in ±(2^53 − 1), written in plain decimal: no floats, no
//!   exponents, no `-0`, so every reader gets the same value.
//!
//! [`encode_data`] writes it; [`check_data`] checks bytes against it in one pass without
//! building a value (the verifier runs it on every entry).

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

/// At most this many levels of nested objects and arrays (the service writes four).
pub const MAX_DEPTH: usize = 32;

/// Why a byte string is not canonical entry data, and where (byte offset in the data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("data is not canonical JSON at byte {offset}: {problem}")]
pub struct Violation {
    pub offset: usize,
    pub problem: &'static str,
}

/// What the validator saw of the data's top-level members that repeat the entry's envelope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The raw (escape-free) value of a top-level `"kind"` string, if present.
    pub kind: Option<&'a [u8]>,
    pub at: Option<&'a [u8]>,
    pub partner_id: Option<&'a [u8]>,
    /// Whether any of the three was present with a value that is not an escape-free string.
    pub other: bool,
}

/// Whether `text` is exactly the canonical encoding of the JSON object it contains.
pub fn is_canonical_data(text: &str) -> bool {
    check_data(text.as_bytes()).is_ok()
}

/// Check that `data` is exactly the canonical encoding (this module's rules) of one JSON
/// object, without building it: one pass over the bytes, no allocation for ASCII text.
/// Returns what the top level says about the envelope fields (`kind`, `at`, `partnerId`).
pub fn check_data(data: &[u8]) -> Result<Envelope<'_>, Violation> {
    check_data_with(data, None)
}

/// Whether a commitment object may stand where it was found: given the keys of the objects
/// that lead to it from the top of the data (never called for one inside an array: no
/// personal value is in an array).
pub type CommitmentRule<'r> = &'r dyn Fn(&[&[u8]]) -> bool;

/// [`check_data`], and every commitment object (`{"commitment":"<64 hex>"}`, FORMAT.md §4)
/// must stand where `rule` permits (FORMAT.md §4.1): one found elsewhere is a [`Violation`]
/// (a commitment where no personal value belongs could be "erased" to hide a fact).
pub fn check_data_with<'a>(data: &'a [u8], rule: Option<CommitmentRule<'_>>) -> Result<Envelope<'a>, Violation> {
    scan(data, rule, true)
}

/// The canonical form of a document that carries entry lines as strings (an evidence bundle,
/// FORMAT.md §12): as [`check_data`], except that a string value's text need not be NFC. An
/// entry line is NFC in what it means, once its own escapes are read (`\n` then U+0303), but
/// not always as the raw text a bundle carries; its own rules are checked when it is parsed.
pub fn check_document(data: &[u8]) -> Result<(), Violation> {
    scan(data, None, false).map(|_| ())
}

fn scan<'a>(data: &'a [u8], rule: Option<CommitmentRule<'_>>, nfc_values: bool) -> Result<Envelope<'a>, Violation> {
    let mut s = Scanner {
        b: data,
        i: 0,
        rule,
        path: Vec::new(),
        arrays: 0,
        nfc_values,
    };
    if s.peek() != Some(b'{') {
        return Err(s.fail("data must be a JSON object"));
    }
    // The data as a whole is no place for a personal value either.
    if let Some(rule) = s.rule
        && is_commitment_object(data)
        && !rule(&[])
    {
        return Err(s.fail(MISPLACED_COMMITMENT));
    }
    let mut envelope = Envelope::default();
    s.object(1, Some(&mut envelope))?;
    if s.i != data.len() {
        return Err(s.fail("bytes after the end of the data object"));
    }
    Ok(envelope)
}

/// Whether `text` is in Unicode NFC (the quick check first: almost always decisive).
fn is_nfc_text(text: &str) -> bool {
    match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => true,
        unicode_normalization::IsNormalized::No => false,
        unicode_normalization::IsNormalized::Maybe => is_nfc(text),
    }
}

struct Scanner<'a, 'r> {
    b: &'a [u8],
    i: usize,
    /// Where commitments may stand; `None`: anywhere (v1 data, bundles).
    rule: Option<CommitmentRule<'r>>,
    /// The keys leading to the value being read (kept only with a rule).
    path: Vec<Key<'a>>,
    /// How many arrays enclose the value being read.
    arrays: usize,
    /// Whether string values (not only keys) must be in NFC: always in entry data.
    nfc_values: bool,
}

/// The problem of a commitment found where the rule does not permit one.
pub const MISPLACED_COMMITMENT: &str = "a commitment stands where no personal value belongs (FORMAT.md §4.1)";

/// `{"commitment":"` … 64 hex … `"}`: the one form of a commitment object (FORMAT.md §4).
const COMMITMENT_OPEN: &[u8] = b"{\"commitment\":\"";
const COMMITMENT_LEN: usize = COMMITMENT_OPEN.len() + 64 + 2;

/// Whether `bytes` starts with a commitment object.
fn is_commitment_object(bytes: &[u8]) -> bool {
    bytes.len() >= COMMITMENT_LEN
        && bytes.starts_with(COMMITMENT_OPEN)
        && bytes[COMMITMENT_OPEN.len()..COMMITMENT_OPEN.len() + 64]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && &bytes[COMMITMENT_OPEN.len() + 64..COMMITMENT_LEN] == b"\"}"
}

/// Bytes that end a run of plain string content: `"`, `\`, controls and non-ASCII.
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize || i >= 0x80;
        i += 1;
    }
    t
};

/// A decoded key: its raw bytes when it has no escapes (and whether they are ASCII), else its
/// decoded text.
enum Key<'a> {
    Raw(&'a [u8], bool),
    Decoded(String),
}

impl Key<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Key::Raw(b, _) => b,
            Key::Decoded(s) => s.as_bytes(),
        }
    }

    fn is_ascii(&self) -> bool {
        match self {
            Key::Raw(_, ascii) => *ascii,
            Key::Decoded(s) => s.is_ascii(),
        }
    }
}

/// JCS order: by UTF-16 code units. For ASCII this is byte order (compared inline: keys are
/// short, and this runs for every member of every entry).
fn key_less(a: &Key<'_>, b: &Key<'_>) -> bool {
    let (x, y) = (a.bytes(), b.bytes());
    if a.is_ascii() && b.is_ascii() {
        for (p, q) in x.iter().zip(y) {
            if p != q {
                return p < q;
            }
        }
        return x.len() < y.len();
    }
    let (Ok(x), Ok(y)) = (std::str::from_utf8(x), std::str::from_utf8(y)) else {
        return false;
    };
    x.encode_utf16().lt(y.encode_utf16())
}

/// The length of the leading run of bytes that need no attention inside a string (printable
/// ASCII other than `"` and `\`), eight bytes at a time: the first byte of a word that is
/// non-ASCII, a control character, a quote or a backslash is exactly the lowest flagged one
/// (borrows only run upwards from a flagged byte).
#[inline]
fn plain_run(bytes: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        let w = u64::from_le_bytes(word);
        let stop = (w & HI)
            | (w.wrapping_sub(LO * 0x20) & !w & HI)
            | has_zero(w ^ (LO * u64::from(b'"')))
            | has_zero(w ^ (LO * u64::from(b'\\')));
        if stop != 0 {
            return i + (stop.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && !STOP[usize::from(bytes[i])] {
        i += 1;
    }
    i
}

impl<'a> Scanner<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn fail(&self, problem: &'static str) -> Violation {
        Violation {
            offset: self.i,
            problem,
        }
    }

    fn expect(&mut self, byte: u8, problem: &'static str) -> Result<(), Violation> {
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.fail(problem))
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), Violation> {
        match self.peek() {
            Some(b'{') if self.rule.is_some() && is_commitment_object(self.b.get(self.i..).unwrap_or_default()) => {
                self.commitment()
            }
            Some(b'{') => self.object(depth + 1, None),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string(self.nfc_values).map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b' ' | b'\t' | b'\n' | b'\r') => Err(self.fail("whitespace outside a string")),
            _ => Err(self.fail("expected a JSON value")),
        }
    }

    /// A commitment object (already matched, and canonical as it stands): permitted here?
    fn commitment(&mut self) -> Result<(), Violation> {
        // No permitted position is deeper than a few keys: a path longer than 8 is none.
        let permitted = self.arrays == 0
            && self.path.len() <= 8
            && self.rule.is_some_and(|rule| {
                let mut keys: [&[u8]; 8] = [&[]; 8];
                for (slot, key) in keys.iter_mut().zip(&self.path) {
                    *slot = key.bytes();
                }
                rule(&keys[..self.path.len()])
            });
        if !permitted {
            return Err(self.fail(MISPLACED_COMMITMENT));
        }
        self.i += COMMITMENT_LEN;
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), Violation> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.fail("expected true, false or null"))
        }
    }

    fn object(&mut self, depth: usize, mut envelope: Option<&mut Envelope<'a>>) -> Result<(), Violation> {
        if depth > MAX_DEPTH {
            return Err(self.fail("nested deeper than 32 levels"));
        }
        self.i += 1; // '{'
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut previous: Option<Key<'a>> = None;
        loop {
            let key_at = self.i;
            if self.peek() != Some(b'"') {
                return Err(self.fail(if matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                    "whitespace outside a string"
                } else {
                    "expected a string key"
                }));
            }
            let key = self.string(true)?;
            if let Some(previous) = &previous
                && !key_less(previous, &key)
            {
                return Err(Violation {
                    offset: key_at,
                    problem: if previous.bytes() == key.bytes() {
                        "duplicate key"
                    } else {
                        "keys out of order (canonical order is by UTF-16 code units)"
                    },
                });
            }
            self.expect(b':', "expected ':' right after a key")?;
            let value_at = self.i;
            let key = if self.rule.is_some() {
                self.path.push(key);
                self.value(depth)?;
                self.path.pop().ok_or_else(|| self.fail("internal: path"))?
            } else {
                self.value(depth)?;
                key
            };
            if let Some(envelope) = envelope.as_deref_mut() {
                let raw = self.b.get(value_at..self.i).unwrap_or_default();
                let text = raw
                    .strip_prefix(b"\"")
                    .and_then(|r| r.strip_suffix(b"\""))
                    .filter(|t| !t.contains(&b'\\'));
                let slot = match key.bytes() {
                    b"kind" => Some(&mut envelope.kind),
                    b"at" => Some(&mut envelope.at),
                    b"partnerId" => Some(&mut envelope.partner_id),
                    _ => None,
                };
                if let Some(slot) = slot {
                    match text {
                        Some(t) => *slot = Some(t),
                        None => envelope.other = true,
                    }
                }
            }
            previous = Some(key);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Violation> {
        if depth > MAX_DEPTH {
            return Err(self.fail("nested deeper than 32 levels"));
        }
        self.i += 1; // '['
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        self.arrays += 1;
        loop {
            self.value(depth)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.arrays -= 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected ',' or ']'")),
            }
        }
    }

    /// A string at `self.i`; returns its key form (raw when it has no escapes).
    /// A string at `self.i`; with `nfc`, its text must be in NFC.
    fn string(&mut self, nfc: bool) -> Result<Key<'a>, Violation> {
        self.i += 1; // '"'
        let start = self.i;
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            self.i += plain_run(self.b.get(self.i..).unwrap_or_default());
            match self.peek() {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(c) if c < 0x20 => {
                    return Err(self.fail("a control character in a string must be escaped"));
                }
                Some(_) => {
                    non_ascii = true;
                    self.i += 1;
                }
            }
        }
        let raw = self.b.get(start..self.i).unwrap_or_default();
        self.i += 1; // closing '"'
        if non_ascii {
            // Escapes are ASCII, so the raw bytes are valid UTF-8 exactly when the text is.
            std::str::from_utf8(raw).map_err(|e| Violation {
                offset: start + e.valid_up_to(),
                problem: "not UTF-8",
            })?;
        }
        if !escaped {
            if nfc && non_ascii && !is_nfc_text(std::str::from_utf8(raw).unwrap_or_default()) {
                return Err(Violation {
                    offset: start,
                    problem: "a string is not in Unicode NFC",
                });
            }
            return Ok(Key::Raw(raw, !non_ascii));
        }
        let decoded: String =
            serde_json::from_slice(self.b.get(start - 1..self.i).unwrap_or_default()).map_err(|_| Violation {
                offset: start,
                problem: "bad escape",
            })?;
        // NFC is a property of the text, not of its escaped form: `\n` followed by U+0303 is
        // NFC (a newline composes with nothing), though "n" followed by U+0303 would not be.
        if nfc && non_ascii && !is_nfc_text(&decoded) {
            return Err(Violation {
                offset: start,
                problem: "a string is not in Unicode NFC",
            });
        }
        Ok(Key::Decoded(decoded))
    }

    /// An escape at `self.i` (the backslash): only the forms RFC 8785 writes.
    fn escape(&mut self) -> Result<(), Violation> {
        let next = self.b.get(self.i + 1).copied();
        match next {
            Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.i += 2;
                Ok(())
            }
            Some(b'u') => {
                let hex = self.b.get(self.i + 2..self.i + 6).unwrap_or_default();
                let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
                let value = match hex {
                    [b'0', b'0', h, l] if lower_hex(h) && lower_hex(l) => {
                        let v = |b: u8| if b.is_ascii_digit() { b - b'0' } else { b - b'a' + 10 };
                        v(*h) << 4 | v(*l)
                    }
                    _ => {
                        return Err(
                            self.fail("\\u escapes are only for control characters, as \\u00xx in lower-case hex")
                        );
                    }
                };
                if value >= 0x20 || matches!(value, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                    return Err(self.fail("this character must be written as itself or with its short escape"));
                }
                self.i += 6;
                Ok(())
            }
            Some(b'/') => Err(self.fail("'/' must not be escaped")),
            _ => Err(self.fail("bad escape")),
        }
    }

    fn number(&mut self) -> Result<(), Violation> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let digits_at = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = self.b.get(digits_at..self.i).unwrap_or_default();
        if digits.is_empty() {
            return Err(self.fail("expected digits"));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(Violation {
                offset: start,
                problem: "a number has a leading zero",
            });
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(self.fail("numbers are integers without fraction or exponent"));
        }
        if negative && digits == b"0" {
            return Err(Violation {
                offset: start,
                problem: "-0 is not canonical",
            });
        }
        let value = digits
            .iter()
            .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
        if value.is_none_or(|v| v > MAX_SAFE_INTEGER) {
            return Err(Violation {
                offset: start,
                problem: "integers are within ±(2^53-1)",
            });
        }
        Ok(())
    }
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
    fn the_checker_orders_keys_by_utf16_code_units_too() {
        // U+1F600 before U+E000 (UTF-16), though after it by UTF-8 bytes: the checker must not
        // take the byte-order shortcut for keys that are not ASCII.
        assert!(check_data("{\"\u{1F600}\":1,\"\u{E000}\":2}".as_bytes()).is_ok());
        let reversed = check_data("{\"\u{E000}\":1,\"\u{1F600}\":2}".as_bytes()).unwrap_err();
        assert_eq!(
            reversed.problem,
            "keys out of order (canonical order is by UTF-16 code units)"
        );
        assert_eq!(check_data(br#"{"a":1,"a":1}"#).unwrap_err().problem, "duplicate key");
        assert_eq!(check_data(br#"{"ab":1,"a":1}"#).unwrap_err().offset, 8);
    }

    #[test]
    fn nesting_stops_at_exactly_32_levels() {
        let objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        let arrays = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        for (what, doc) in [("objects", &objects as &dyn Fn(usize) -> String), ("arrays", &arrays)] {
            assert!(check_data(doc(MAX_DEPTH).as_bytes()).is_ok(), "{what}: 32 levels");
            let v = check_data(doc(MAX_DEPTH + 1).as_bytes()).unwrap_err();
            assert_eq!(v.problem, "nested deeper than 32 levels", "{what}");
            assert!(check_document(doc(MAX_DEPTH + 1).as_bytes()).is_err(), "{what}");
        }
    }

    #[test]
    fn a_commitment_after_a_closed_array_stands_where_the_rule_permits() {
        // The rule permits a commitment at /m only; an array before it must not count as
        // still open (inside arrays no commitment is permitted).
        let rule = |path: &[&[u8]]| path == [b"m".as_slice()];
        let commitment = format!("{{\"commitment\":\"{}\"}}", "ab".repeat(32));
        let after = format!("{{\"a\":[[1],[2]],\"m\":{commitment}}}");
        assert!(check_data_with(after.as_bytes(), Some(&rule)).is_ok(), "{after}");
        let inside = format!("{{\"a\":[{commitment}],\"m\":1}}");
        assert!(check_data_with(inside.as_bytes(), Some(&rule)).is_err(), "{inside}");
    }

    #[test]
    fn a_string_that_is_not_utf8_is_named_where_it_breaks() {
        let v = check_data(b"{\"a\":\"xy\xff\"}").unwrap_err();
        assert_eq!((v.problem, v.offset), ("not UTF-8", 8));
        let v = check_data(b"{\"key\xc3\":1}").unwrap_err();
        assert_eq!((v.problem, v.offset), ("not UTF-8", 5));
    }

    #[test]
    fn each_refused_escape_says_why() {
        for (text, problem) in [
            (r#"{"a":"\/"}"#, "'/' must not be escaped"),
            (r#"{"a":"\x"}"#, "bad escape"),
            (
                r#"{"a":"\u0041"}"#,
                "this character must be written as itself or with its short escape",
            ),
            (
                r#"{"a":"\u000a"}"#,
                "this character must be written as itself or with its short escape",
            ),
            (
                r#"{"a":"\u001F"}"#,
                "\\u escapes are only for control characters, as \\u00xx in lower-case hex",
            ),
        ] {
            assert_eq!(check_data(text.as_bytes()).unwrap_err().problem, problem, "{text}");
        }
        assert!(check_data(br#"{"a":"\u001f\u0000"}"#).is_ok());
    }

    #[test]
    fn whitespace_before_a_value_is_named() {
        for (text, offset) in [(r#"{"a": 1}"#, 5), ("{\"a\":\t1}", 5), (r#"{"a":[1, 2]}"#, 8)] {
            let v = check_data(text.as_bytes()).unwrap_err();
            assert_eq!((v.problem, v.offset), ("whitespace outside a string", offset), "{text}");
        }
        assert_eq!(check_data(br#"{"a":x}"#).unwrap_err().problem, "expected a JSON value");
    }

    #[test]
    fn a_document_is_checked_as_data_is_except_for_nfc() {
        assert!(check_document(br#"{"a":[1],"b":"x"}"#).is_ok());
        // Entry lines carried as strings may hold text that is NFC only once unescaped.
        assert!(check_document("{\"a\":\"e\u{0301}\"}".as_bytes()).is_ok());
        assert!(check_data("{\"a\":\"e\u{0301}\"}".as_bytes()).is_err());
        for not in [r#"{"b":1,"a":2}"#, r#"{ "a":1}"#, r#"{"a":1.0}"#, "[1]", r#"{"a":1}x"#] {
            assert!(check_document(not.as_bytes()).is_err(), "{not}");
        }
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
        assert!(is_canonical_data(
            r#"{"a":{"b":[1,-2,true,false,null,"\u001f\n"]},"b":""}"#
        ));
        assert!(is_canonical_data("{\"k\":\"caf\u{e9} \u{1F600}\"}"));
        assert!(is_canonical_data(
            &format!(r#"{{"n":{MAX_SAFE_INTEGER},"m":-{MAX_SAFE_INTEGER}}}"#).replace("\"n\":", "\"a\":")
        ));
        for not in [
            r#"{"b":1,"a":2}"#,
            r#"{ "a":1}"#,
            r#"{"a" :1}"#,
            r#"{"a":1 }"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e0}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":9007199254740992}"#,
            r#"{"a":1,"a":1}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"a":"\u00E9"}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\u000a"}"#,
            r#"{"a":"\/"}"#,
            "{\"a\":\"\r\"}",
            "{\"a\":\"e\u{301}\"}",
            r#"{garbage}"#,
            r#"{"a":tru}"#,
            r#"{"amount":100},"kind":"sla_breached","chain":"fabrikam","seq":99,"data":{"amount":999999}"#,
            "[]",
            "{",
            "",
        ] {
            assert!(!is_canonical_data(not), "{not}");
        }
        assert!(check_data(b"{\"a\":\"\xff\"}").is_err(), "invalid UTF-8");
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert!(!is_canonical_data(&deep), "too deep");
    }

    #[test]
    fn the_plain_run_stops_exactly_where_the_slow_scan_does() {
        let slow = |b: &[u8]| b.iter().take_while(|c| !STOP[usize::from(**c)]).count();
        let mut samples: Vec<Vec<u8>> = vec![Vec::new(), b"abc".to_vec(), b"abcdefghijklmnop".to_vec()];
        for stop in [b'"', b'\\', 0x00, 0x1f, 0x7f, 0x80, 0xff, 0x20, b'!'] {
            for at in 0..20 {
                let mut v = vec![b'a'; 24];
                v[at] = stop;
                // Bytes after the stop that would fool a sloppy word test.
                v[(at + 1).min(23)] = 0x00;
                samples.push(v);
            }
        }
        for s in samples {
            assert_eq!(plain_run(&s), slow(&s), "{s:?}");
        }
    }

    #[test]
    fn the_envelope_members_are_reported() {
        let e = check_data(br#"{"at":"x","kind":"created","partnerId":"p","z":1}"#).unwrap();
        assert_eq!(e.kind, Some(&b"created"[..]));
        assert_eq!(e.at, Some(&b"x"[..]));
        assert_eq!(e.partner_id, Some(&b"p"[..]));
        assert!(!e.other);
        assert!(check_data(br#"{"kind":1}"#).unwrap().other);
        let nested = check_data(br#"{"x":{"kind":"a"}}"#).unwrap();
        assert_eq!(nested.kind, None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2048, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..Default::default() })]
        /// The encoder and the validator agree: whatever the encoder writes is canonical,
        /// and re-encoding what the validator accepts gives the same bytes.
        #[test]
        fn encoder_and_validator_agree(value in arb_object()) {
            let text = encode_data(&value).unwrap();
            proptest::prop_assert!(check_data(text.as_bytes()).is_ok(), "{}", text);
            let again: Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(encode_data(&again).unwrap(), text);
        }

        /// The same over a small alphabet that makes the hard cases likely: escapes and
        /// control characters right before combining marks (`\n` + U+0303 is NFC as text,
        /// though its escaped form "\\n" + U+0303 would compose), decomposed and precomposed
        /// letters, Hangul jamo, quotes and backslashes, in values and in keys.
        #[test]
        fn every_string_the_encoder_writes_is_accepted(value in "[\n\t\r\u{1}\u{1f}\"\\\\abne\u{e9}\u{300}-\u{304}\u{327}\u{1100}\u{1161}\u{11a8}\u{ac00}]{0,10}") {
            let text = encode_data(&json!({ "k": value })).unwrap();
            proptest::prop_assert!(check_data(text.as_bytes()).is_ok(), "{:?}", text);
            let key: String = value.nfc().collect();
            if let Ok(text) = encode_data(&json!({ key: 1 })) {
                proptest::prop_assert!(check_data(text.as_bytes()).is_ok(), "{:?}", text);
            }
        }

        /// And the other way: whatever the validator accepts — here strings built from raw
        /// characters and escapes, right or wrong — is exactly what the encoder writes for the
        /// value it holds, so an accepted line has one reading.
        #[test]
        fn what_the_validator_accepts_is_what_the_encoder_writes(
            parts in proptest::collection::vec("\\\\[nrtbf\"\\\\/u]|\\\\u00[0-9a-fA-F]{2}|\\\\u[0-9a-f]{4}|[abne\u{e9}\u{300}-\u{304}\u{1100}\u{1161}\u{ac00}\u{1f600}\u{0}-\u{1f}\u{7f}]", 0..10),
            as_key in proptest::bool::ANY,
        ) {
            let body = parts.concat();
            let text = if as_key { format!("{{\"{body}\":1}}") } else { format!("{{\"k\":\"{body}\"}}") };
            if check_data(text.as_bytes()).is_ok() {
                let parsed: Value = serde_json::from_str(&text).unwrap();
                proptest::prop_assert_eq!(encode_data(&parsed).unwrap(), text);
            }
        }
    }

    #[test]
    fn an_escape_before_a_combining_mark_is_nfc_text() {
        // The value is a newline then U+0303: NFC (a newline composes with nothing). Its escaped
        // form, read as text, would be "n" + U+0303, which is not: the check is on the text.
        let text = encode_data(&json!({ "k": "\n\u{303}", "\u{1}\u{300}": 1 })).unwrap();
        assert_eq!(text, "{\"\\u0001\u{300}\":1,\"k\":\"\\n\u{303}\"}");
        assert!(check_data(text.as_bytes()).is_ok(), "{text}");
        // Text that is not NFC once unescaped is still refused.
        assert!(check_data("{\"k\":\"\\ne\u{301}\"}".as_bytes()).is_err());
    }

    fn arb_object() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(MAX_SAFE_INTEGER as i64)..=MAX_SAFE_INTEGER as i64).prop_map(|n| json!(n)),
            "[\\PC\\n\\t\\r\"\\\\\u{0}-\u{1f}]{0,12}".prop_map(Value::String),
        ];
        let tree = leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z\u{e0}-\u{ff}\u{1F600}]{1,6}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map("[a-z]{1,6}", tree, 0..6).prop_map(|m| Value::Object(m.into_iter().collect()))
    }
}
