//! The entry line: its exact bytes, how it is hashed, and the one strict parser every command
//! uses.
//!
//! ```text
//! {"v":2,"chain":"<chain>","seq":<seq>,"prev":"<prev>","at":"<at>","kind":"<kind>","data":<data>,"hash":"<hash>"}
//! ```
//!
//! The hash covers the line without its `,"hash":"<hash>"` member, after a per-version
//! domain-separation prefix: `hash = SHA-256("ledgerdesk/ledger/v2\n" ‖ {"v":2,…,"data":<data>})`.
//! [`EntryRef::parse`] accepts exactly the bytes FORMAT.md §2–§3 allow — the layout, the
//! canonical data, the envelope rules — so a line that verifies has one meaning for every
//! reader. See FORMAT.md.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::canonical::{MISPLACED_COMMITMENT, Violation, check_data_with};
use crate::hash::{ChainId, Hash, is_chain_id};

/// Prepended to the unsigned line before hashing, per format version, so an entry hash can
/// never be confused with any other SHA-256 value in this system (Merkle leaves and nodes
/// use 0x00/0x01, personal-data commitments their own prefix).
pub const ENTRY_HASH_PREFIX_V1: &[u8] = b"ledgerdesk/ledger/v1\n";
pub const ENTRY_HASH_PREFIX_V2: &[u8] = b"ledgerdesk/ledger/v2\n";
/// `prev` of the entry with `seq` 0.
pub const GENESIS_PREV: Hash = Hash::ZERO;
/// The longest line a reader accepts (FORMAT.md §7): it refuses longer ones while reading.
pub const MAX_LINE_BYTES: usize = 1 << 20;

const HEAD: &[u8] = b"{\"v\":";
const CHAIN: &[u8] = b",\"chain\":\"";
const SEQ: &[u8] = b"\",\"seq\":";
const PREV: &[u8] = b",\"prev\":\"";
const AT: &[u8] = b"\",\"at\":\"";
const KIND: &[u8] = b"\",\"kind\":\"";
const DATA: &[u8] = b"\",\"data\":";
const HASH: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const TAIL_LEN: usize = HASH.len() + 64 + 2;
const AT_LEN: usize = 24;

/// The entry format versions this crate reads. It writes [`Version::V2`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Version {
    /// Personal data in clear; `data` may repeat `kind`, `at` and `partnerId` (equal to the
    /// envelope's).
    V1 = 1,
    /// Personal values only as salted commitments; `data` never repeats the envelope.
    V2 = 2,
}

impl Version {
    pub fn number(self) -> u8 {
        self as u8
    }

    fn prefix(self) -> &'static [u8] {
        match self {
            Version::V1 => ENTRY_HASH_PREFIX_V1,
            Version::V2 => ENTRY_HASH_PREFIX_V2,
        }
    }
}

/// Why a line is not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a ledgerdesk entry: {0}")]
    Shape(&'static str),
    #[error("not a ledgerdesk entry: {0}")]
    Data(Violation),
    /// A commitment (a personal value) where FORMAT.md §4.1 puts none.
    #[error("not a ledgerdesk entry: {0}")]
    Commitment(Violation),
}

/// A parsed entry line, borrowing from it.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub version: Version,
    pub chain: &'a str,
    pub seq: u64,
    pub prev: Hash,
    pub at: &'a str,
    pub kind: &'a str,
    /// The event data: canonical JSON (checked, so UTF-8), as written.
    pub data: &'a [u8],
    /// The hash the line claims.
    pub hash: Hash,
    line: &'a [u8],
}

impl<'a> EntryRef<'a> {
    /// Parse one line (without its newline) strictly: any deviation from FORMAT.md §2–§3 is
    /// an error. The hash is not checked here (compare [`EntryRef::computed_hash`] with
    /// [`EntryRef::hash`]).
    pub fn parse(line: &'a [u8]) -> Result<Self, FormatError> {
        let shape = FormatError::Shape;
        if line.len() > MAX_LINE_BYTES {
            return Err(shape("longer than 1 MiB"));
        }
        if line.last() == Some(&b'\r') {
            return Err(shape(
                "the line ends with a carriage return: lines end with \\n only, not \\r\\n",
            ));
        }
        let mut rest = line.strip_prefix(HEAD).ok_or(shape("must start with {\"v\":"))?;
        let version = match rest.first() {
            Some(b'1') => Version::V1,
            Some(b'2') => Version::V2,
            _ => return Err(shape("v must be 1 or 2")),
        };
        rest = rest
            .get(1..)
            .unwrap_or_default()
            .strip_prefix(CHAIN)
            .ok_or(shape("expected \"chain\" after \"v\""))?;
        let chain = take_until_quote(&mut rest).ok_or(shape("unterminated chain"))?;
        if !is_chain_id(chain) {
            return Err(shape("chain is not a valid chain id"));
        }
        rest = rest
            .strip_prefix(SEQ)
            .ok_or(shape("expected \"seq\" after \"chain\""))?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (seq_text, after) = rest.split_at(digits);
        let seq = parse_seq(seq_text).ok_or(shape("seq must be a decimal integer below 2^64 without leading zeros"))?;
        rest = after
            .strip_prefix(PREV)
            .ok_or(shape("expected \"prev\" after \"seq\""))?;
        let prev = take_hex(&mut rest).ok_or(shape("prev must be 64 lower-case hex digits"))?;
        rest = rest.strip_prefix(AT).ok_or(shape("expected \"at\" after \"prev\""))?;
        let at = rest.get(..AT_LEN).ok_or(shape("truncated timestamp"))?;
        if !is_timestamp(at) {
            return Err(shape(
                "at must be a UTC timestamp YYYY-MM-DDTHH:MM:SS.mmmZ between 1970 and 9999",
            ));
        }
        rest = rest
            .get(AT_LEN..)
            .unwrap_or_default()
            .strip_prefix(KIND)
            .ok_or(shape("expected \"kind\" after \"at\""))?;
        let kind = take_until_quote(&mut rest).ok_or(shape("unterminated kind"))?;
        if !is_kind_bytes(kind) {
            return Err(shape("kind must be 1-64 characters of a-z, 0-9 and _"));
        }
        rest = rest
            .strip_prefix(DATA)
            .ok_or(shape("expected \"data\" after \"kind\""))?;
        let split = rest.len().checked_sub(TAIL_LEN).ok_or(shape("missing hash"))?;
        let (data, tail) = rest.split_at(split);
        let mut tail = tail
            .strip_prefix(HASH)
            .ok_or(shape("must end with ,\"hash\":\"<64 hex>\"}"))?;
        let hash = take_hex(&mut tail).ok_or(shape("hash must be 64 lower-case hex digits"))?;
        if tail != b"\"}" {
            return Err(shape("must end with ,\"hash\":\"<64 hex>\"}"));
        }
        // Personal values stand only where FORMAT.md §4.1 puts them; a v1 entry holds its
        // personal values in clear, so no commitment at all.
        let kind_text = std::str::from_utf8(kind).unwrap_or_default();
        let v2 = |path: &[&[u8]]| crate::personal::commitment_permitted(kind_text, path);
        let v1 = |_: &[&[u8]]| false;
        let envelope = match version {
            Version::V1 => check_data_with(data, Some(&v1)),
            Version::V2 => check_data_with(data, Some(&v2)),
        }
        .map_err(|e| {
            if e.problem == MISPLACED_COMMITMENT {
                FormatError::Commitment(e)
            } else {
                FormatError::Data(e)
            }
        })?;
        match version {
            Version::V1 => {
                if envelope.other
                    || envelope.kind.is_some_and(|k| k != kind)
                    || envelope.at.is_some_and(|a| a != at)
                    || envelope.partner_id.is_some_and(|p| p != chain)
                {
                    return Err(shape(
                        "kind, at and partnerId inside data must equal the entry's own kind, at and chain",
                    ));
                }
            }
            Version::V2 => {
                if envelope.other || envelope.kind.is_some() || envelope.at.is_some() || envelope.partner_id.is_some() {
                    return Err(shape(
                        "a v2 entry's data does not repeat kind, at or partnerId (the envelope holds them)",
                    ));
                }
            }
        }
        // Every piece checked above is ASCII (data was checked as UTF-8), so these cannot fail.
        let text = |b: &'a [u8]| std::str::from_utf8(b).map_err(|_| shape("not UTF-8"));
        Ok(Self {
            version,
            chain: text(chain)?,
            seq,
            prev,
            at: text(at)?,
            kind: text(kind)?,
            data,
            hash,
            line,
        })
    }

    /// Where a line that does not parse says it stands: its chain and seq, read from the
    /// template's first members only (for reports: a line whose data is refused is still
    /// named by its position).
    pub fn locate(line: &'a [u8]) -> Option<(&'a str, u64)> {
        let rest = line.strip_prefix(HEAD)?.get(1..)?.strip_prefix(CHAIN)?;
        let mut rest = rest;
        let chain = take_until_quote(&mut rest).filter(|c| is_chain_id(c))?;
        let rest = rest.strip_prefix(SEQ)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let seq = parse_seq(&rest[..digits])?;
        Some((std::str::from_utf8(chain).ok()?, seq))
    }

    /// The hash of the line's bytes, recomputed (compare it with [`EntryRef::hash`]).
    pub fn computed_hash(&self) -> Hash {
        let unsigned = self.line.get(..self.line.len() - TAIL_LEN).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(self.version.prefix());
        h.update(unsigned);
        h.update(b"}");
        Hash(h.finalize().into())
    }

    /// The line's bytes, exactly as parsed.
    pub fn line(&self) -> &'a [u8] {
        self.line
    }

    /// The line as text (it is UTF-8: everything but the data is ASCII, and the data was checked).
    pub fn line_str(&self) -> &'a str {
        std::str::from_utf8(self.line).unwrap_or_default()
    }

    /// The event data as text.
    pub fn data_str(&self) -> &'a str {
        std::str::from_utf8(self.data).unwrap_or_default()
    }

    /// The timestamp as a value.
    pub fn at_datetime(&self) -> Option<DateTime<Utc>> {
        parse_at(self.at)
    }
}

/// How far ahead of its own clock the service may stamp an entry (FORMAT.md §2.2). A writer
/// never stamps an entry further ahead of its clock (and refuses to extend a chain whose last
/// entry is further ahead: an integrity alarm), and the signer refuses entries further ahead
/// of its own. Without the rule one entry stamped in year 9999 would, by the "times never go
/// backwards" clamp, push every later entry — and every receipt's merge deadline — to 9999.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 60;

/// How far ahead of a verifier's clock (a partner's `ledger sync`, an auditor's `ledger`) an
/// entry's or a receipt's time may be: the service's allowance and a margin for a clock that
/// is not a server's (FORMAT.md §2.2).
pub const MAX_VERIFIER_SKEW_SECONDS: i64 = 300;

/// The latest `at` believable by a clock that reads `now`, allowing `skew_seconds`, as ledger
/// timestamp bytes: compare an entry's `at` with it byte for byte.
pub fn latest_believable(now: &DateTime<Utc>, skew_seconds: i64) -> [u8; 24] {
    let text = format_at(&(*now + chrono::Duration::seconds(skew_seconds)));
    let mut at = [b'9'; 24];
    if text.len() == 24 {
        at.copy_from_slice(text.as_bytes());
    }
    at
}

/// `at` text (FORMAT.md's one timestamp format) as a value.
pub fn parse_at(at: &str) -> Option<DateTime<Utc>> {
    if !is_timestamp(at.as_bytes()) {
        return None;
    }
    NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.3fZ")
        .ok()
        .map(|t| t.and_utc())
}

/// An entry as written: its line (no newline), position and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub chain: ChainId,
    pub seq: u64,
    pub hash: Hash,
    pub line: String,
}

/// Build the line of a new entry. `data` must already be canonical (see [`crate::canonical`]).
pub(crate) fn build(
    version: Version,
    chain: &ChainId,
    seq: u64,
    prev: &Hash,
    at: &str,
    kind: &str,
    data: &str,
) -> Entry {
    let mut line = String::with_capacity(data.len() + 256);
    line.push_str("{\"v\":");
    line.push(char::from(b'0' + version.number()));
    line.push_str(",\"chain\":\"");
    line.push_str(chain.as_str());
    line.push_str("\",\"seq\":");
    line.push_str(&seq.to_string());
    line.push_str(",\"prev\":\"");
    line.push_str(&prev.to_hex());
    line.push_str("\",\"at\":\"");
    line.push_str(at);
    line.push_str("\",\"kind\":\"");
    line.push_str(kind);
    line.push_str("\",\"data\":");
    line.push_str(data);
    let mut h = Sha256::new();
    h.update(version.prefix());
    h.update(line.as_bytes());
    h.update(b"}");
    let hash = Hash(h.finalize().into());
    line.push_str(",\"hash\":\"");
    line.push_str(&hash.to_hex());
    line.push_str("\"}");
    Entry {
        chain: chain.clone(),
        seq,
        hash,
        line,
    }
}

/// `at` in the one format entries use: UTC, milliseconds, `Z`.
pub fn format_at(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn is_kind(kind: &str) -> bool {
    is_kind_bytes(kind.as_bytes())
}

/// 1-64 characters of `a`-`z`, `0`-`9`, `_`.
fn is_kind_bytes(kind: &[u8]) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

fn take_until_quote<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = memchr::memchr(b'"', rest)?;
    let (value, after) = rest.split_at(end);
    *rest = after;
    Some(value)
}

/// Decode 64 lower-case hex digits. Table-driven and branch-free: the verifier decodes two
/// hashes per entry, and a per-digit `match` cost as much as hashing the entry.
pub(crate) fn take_hex(rest: &mut &[u8]) -> Option<Hash> {
    let (digits, after) = rest.split_first_chunk::<64>()?;
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.as_chunks::<2>().0) {
        let (hi, lo) = (HEX_VALUE[usize::from(pair[0])], HEX_VALUE[usize::from(pair[1])]);
        invalid |= hi | lo;
        *byte = hi << 4 | lo;
    }
    if invalid & 0xf0 != 0 {
        return None;
    }
    *rest = after;
    Some(Hash(out))
}

/// The value of each lower-case hex digit; 0xff for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn parse_seq(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || (digits.len() > 1 && digits.first() == Some(&b'0')) {
        return None;
    }
    digits
        .iter()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` with a real date and time, year 1970–9999 (checked by hand:
/// this runs once per entry on the verifier's hot path, where a general date parser costs
/// more than the hash).
pub(crate) fn is_timestamp(at: &[u8]) -> bool {
    let Ok(at) = <&[u8; AT_LEN]>::try_from(at) else {
        return false;
    };
    let separators = at[4] == b'-'
        && at[7] == b'-'
        && at[10] == b'T'
        && at[13] == b':'
        && at[16] == b':'
        && at[19] == b'.'
        && at[23] == b'Z';
    const DIGITS: [usize; 17] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    if !separators || !DIGITS.iter().all(|&i| at[i].is_ascii_digit()) {
        return false;
    }
    let num = |from: usize, to: usize| at[from..to].iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1970 && (1..=days).contains(&day) && num(11, 13) < 24 && num(14, 16) < 60 && num(17, 19) < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: Version, data: &str) -> Entry {
        build(
            version,
            &ChainId::parse("contoso").unwrap(),
            0,
            &GENESIS_PREV,
            "2026-11-24T10:00:00.000Z",
            "created",
            data,
        )
    }

    #[test]
    fn the_line_layout_is_exact() {
        for (version, prefix) in [(Version::V1, ENTRY_HASH_PREFIX_V1), (Version::V2, ENTRY_HASH_PREFIX_V2)] {
            let e = sample(version, r#"{"a":1}"#);
            let expected_prefix = format!(
                concat!(
                    r#"{{"v":{},"chain":"contoso","seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","#,
                    r#""at":"2026-11-24T10:00:00.000Z","kind":"created","data":{{"a":1}},"hash":""#
                ),
                version.number()
            );
            assert!(e.line.starts_with(&expected_prefix), "{}", e.line);
            let unsigned = &e.line[..e.line.len() - TAIL_LEN];
            let mut msg = prefix.to_vec();
            msg.extend_from_slice(unsigned.as_bytes());
            msg.push(b'}');
            assert_eq!(e.hash, Hash::digest(&msg));
            assert!(
                serde_json::from_str::<serde_json::Value>(&e.line).is_ok(),
                "a line is plain JSON too"
            );
        }
    }

    #[test]
    fn parse_round_trips() {
        let e = sample(Version::V2, r#"{"a":1}"#);
        let r = EntryRef::parse(e.line.as_bytes()).unwrap();
        assert_eq!(
            (r.version, r.chain, r.seq, r.at, r.kind, r.data_str()),
            (
                Version::V2,
                "contoso",
                0,
                "2026-11-24T10:00:00.000Z",
                "created",
                r#"{"a":1}"#
            )
        );
        assert_eq!(r.prev, GENESIS_PREV);
        assert_eq!(r.hash, e.hash);
        assert_eq!(r.computed_hash(), e.hash);
        assert_eq!(r.line(), e.line.as_bytes());
    }

    #[test]
    fn the_envelope_rules_depend_on_the_version() {
        let v1_equal = r#"{"at":"2026-11-24T10:00:00.000Z","kind":"created","partnerId":"contoso"}"#;
        assert!(EntryRef::parse(sample(Version::V1, v1_equal).line.as_bytes()).is_ok());
        for bad in [
            r#"{"kind":"sla_breached"}"#,
            r#"{"at":"1999-01-01T00:00:00.000Z"}"#,
            r#"{"partnerId":"fabrikam"}"#,
            r#"{"kind":1}"#,
        ] {
            assert!(
                EntryRef::parse(sample(Version::V1, bad).line.as_bytes()).is_err(),
                "{bad}"
            );
        }
        for bad in [v1_equal, r#"{"kind":"created"}"#, r#"{"partnerId":"contoso"}"#] {
            assert!(
                EntryRef::parse(sample(Version::V2, bad).line.as_bytes()).is_err(),
                "{bad}"
            );
        }
        // Nested members of the same name are the event's own business.
        assert!(EntryRef::parse(sample(Version::V2, r#"{"change":{"kind":"x"}}"#).line.as_bytes()).is_ok());
    }

    #[test]
    fn any_deviation_is_a_format_error() {
        let line = sample(Version::V2, r#"{"a":1}"#).line;
        let variants = [
            line.replacen("{\"v\":2", "{\"v\":3", 1),
            line.replacen("{\"v\":2", "{\"v\":02", 1),
            line.replacen("\"seq\":0", "\"seq\":00", 1),
            line.replacen("\"seq\":0", "\"seq\":-1", 1),
            line.replacen("\"seq\":0", "\"seq\":18446744073709551616", 1),
            line.replacen(",\"prev\"", ", \"prev\"", 1),
            line.replacen("000\",\"at\"", "00A\",\"at\"", 1),
            line.replacen(".000Z", "Z", 1),
            line.replacen("2026-11-24T10", "2026-13-24T10", 1),
            line.replacen("2026-11-24T10", "2026-02-29T10", 1),
            line.replacen("2026-11-24T10", "2026-11-24T24", 1),
            line.replacen("2026-11-24T10", "0000-11-24T10", 1),
            line.replacen("created", "Created", 1),
            line.replacen("{\"a\":1}", "[1]", 1),
            line.replacen("{\"a\":1}", "{\"a\":1.0}", 1),
            line.replacen("{\"a\":1}", "{\"a\": 1}", 1),
            line.replacen("contoso", "con/toso", 1),
            format!("{line} "),
            format!("{line}\r"),
            line[..line.len() - 1].to_string(),
            String::new(),
        ];
        for v in variants {
            assert!(EntryRef::parse(v.as_bytes()).is_err(), "{v}");
        }
        let long = sample(Version::V2, &format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_LINE_BYTES)));
        assert_eq!(
            EntryRef::parse(long.line.as_bytes()).unwrap_err(),
            FormatError::Shape("longer than 1 MiB")
        );
    }

    #[test]
    fn a_timestamp_is_a_real_time_in_its_one_spelling() {
        for good in [
            "2026-11-24T10:00:00.000Z",
            "1970-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2024-02-29T12:00:00.000Z", // divisible by 4
            "2000-02-29T12:00:00.000Z", // by 400
            "2026-04-30T00:00:00.000Z",
            "2026-01-31T00:00:00.000Z",
            "2026-02-28T00:00:00.000Z", // February of a common year
        ] {
            assert!(is_timestamp(good.as_bytes()), "{good}");
        }
        let base = "2026-11-24T10:00:00.000Z";
        // Each separator wrong on its own.
        for (at, byte) in [
            (4, b'/'),
            (7, b'/'),
            (10, b' '),
            (13, b'-'),
            (16, b'-'),
            (19, b','),
            (23, b'z'),
        ] {
            let mut bad = base.as_bytes().to_vec();
            bad[at] = byte;
            assert!(!is_timestamp(&bad), "{}", String::from_utf8_lossy(&bad));
        }
        for bad in [
            "2026-1a-24T10:00:00.000Z", // a digit that is not one, separators right
            "2023-02-29T12:00:00.000Z", // not a leap year
            "1900-02-29T12:00:00.000Z", // a century not divisible by 400
            "2100-02-29T12:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-00-10T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
            "2026-01-32T00:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "2026-11-24T24:00:00.000Z",
            "2026-11-24T10:60:00.000Z",
            "2026-11-24T10:00:60.000Z",
            "2026-11-24T10:00:00.00Z",
            "2026-11-24T10:00:00.0000Z",
        ] {
            assert!(!is_timestamp(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn hex_digits_are_lower_case_hex_only_and_seqs_are_never_empty() {
        let good = "0123456789abcdef".repeat(4);
        let decoded = |text: &str| take_hex(&mut text.as_bytes());
        assert_eq!(decoded(&good).map(|h| h.to_hex()), Some(good.clone()));
        // A pair of two bad digits (not only one), the byte after '9' (':'), after 'f' ('g'),
        // upper case: refused.
        for bad in ["zz", "z0", "0z", ":0", "0:", "g0", "0g", "A0", "0F", "/0", "`0"] {
            let text = format!("{bad}{}", &good[2..]);
            assert_eq!(decoded(&text), None, "{text}");
        }
        assert_eq!(parse_seq(b""), None);
        assert_eq!(parse_seq(b"0"), Some(0));
        assert_eq!(parse_seq(b"01"), None);
        assert_eq!(parse_seq(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_seq(b"18446744073709551616"), None);
        assert_eq!(parse_seq(b"000000000000000000001"), None);
    }

    #[test]
    fn a_line_of_exactly_one_mebibyte_parses_and_one_byte_more_does_not() {
        let at = |n: usize| sample(Version::V2, &format!(r#"{{"a":"{}"}}"#, "x".repeat(n)));
        let base = at(0).line.len();
        let exact = at(MAX_LINE_BYTES - base);
        assert_eq!(exact.line.len(), MAX_LINE_BYTES);
        assert!(EntryRef::parse(exact.line.as_bytes()).is_ok());
        let over = at(MAX_LINE_BYTES - base + 1);
        assert_eq!(
            EntryRef::parse(over.line.as_bytes()).unwrap_err(),
            FormatError::Shape("longer than 1 MiB")
        );
    }

    #[test]
    fn the_largest_seq_parses_without_overflow() {
        let line = sample(Version::V2, r#"{"a":1}"#)
            .line
            .replacen("\"seq\":0", "\"seq\":18446744073709551615", 1);
        assert_eq!(EntryRef::parse(line.as_bytes()).unwrap().seq, u64::MAX);
    }
}
