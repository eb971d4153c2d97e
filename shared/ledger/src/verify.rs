//! The streaming verifier: reads an export chunk by chunk in memory independent of its size,
//! checks each entry's bytes (layout, canonical data, hash) on several threads — they depend
//! only on the entry itself — then walks the chain links, sequence numbers, times and Merkle
//! tree in order, and names the first entry that proves tampering.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;

use crate::checkpoint::{Checkpoint, LogName, NoteError, TrustedKeys};
use crate::entry::{EntryRef, FormatError, GENESIS_PREV, Version};
use crate::hash::{ChainId, Hash};
use crate::lines::{LineReader, ReadError};
use crate::merkle::{Frontier, empty_root, leaf_hash};
use crate::personal::Disclosure;

/// What kind of tampering (or damage) was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A line is not an entry at all (layout, envelope rules, length).
    Malformed,
    /// An entry's data is not in the canonical form (FORMAT.md §3).
    NotCanonical,
    /// An entry's bytes do not match its hash, or its `prev` does not match its predecessor.
    Modified,
    /// Entries are missing: a gap in `seq`.
    Deleted,
    /// An extra entry claims a position that another entry holds.
    Inserted,
    /// Entries are out of order.
    Reordered,
    /// An entry appears again (a replay).
    Duplicated,
    /// An entry of another chain appears inside this chain.
    ForeignEntry,
    /// An entry's time is before its predecessor's.
    TimeReversed,
    /// The chain is shorter than a checkpoint the auditor kept (truncation or rollback).
    Truncated,
    /// The chain, or another checkpoint, disagrees with a signed checkpoint.
    Fork,
    /// A signature by a trusted key does not verify.
    BadSignature,
    /// A checkpoint carries no signature by a trusted key.
    MissingSignature,
    /// A checkpoint (or bundle, or receipt) is of another log than the one pinned.
    WrongLog,
    /// Entries that no kept checkpoint covers, when coverage is required.
    Uncovered,
    /// A disclosed value does not match its commitment.
    BadDisclosure,
    /// A signed receipt's promise was not kept: its entry is not where it said, or no
    /// checkpoint covered it by the merge deadline.
    BrokenPromise,
    /// A commitment to a personal value where FORMAT.md §4.1 puts none.
    MisplacedCommitment,
    /// A time beyond the verifier's clock plus the allowed skew (FORMAT.md §2.2): an entry or
    /// a receipt from the future.
    FutureTime,
    /// A checkpoint without the quorum of witness cosignatures the verifier requires (§17).
    Unwitnessed,
}

impl FailureKind {
    /// What a signed note that does not open says about the evidence.
    pub fn of_note(e: &NoteError) -> Self {
        match e {
            NoteError::BadSignature { .. } => FailureKind::BadSignature,
            NoteError::NoTrustedSignature => FailureKind::MissingSignature,
            NoteError::WrongLog { .. } => FailureKind::WrongLog,
            NoteError::Malformed(_) | NoteError::MalformedCheckpoint(_) => FailureKind::Malformed,
        }
    }

    /// What a checkpoint that fails the witness policy says.
    pub fn of_witness(e: &crate::witness::WitnessError) -> Self {
        use crate::witness::WitnessError;
        match e {
            WitnessError::Note(n) => Self::of_note(n),
            WitnessError::BadCosignature { .. } => FailureKind::BadSignature,
            WitnessError::Unwitnessed { .. } => FailureKind::Unwitnessed,
        }
    }

    /// What a line that does not parse says.
    pub fn of_format(e: &FormatError) -> Self {
        match e {
            FormatError::Shape(_) => FailureKind::Malformed,
            FormatError::Data(_) => FailureKind::NotCanonical,
            FormatError::Commitment(_) => FailureKind::MisplacedCommitment,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Malformed => "malformed",
            FailureKind::NotCanonical => "not_canonical",
            FailureKind::Modified => "modified",
            FailureKind::Deleted => "deleted",
            FailureKind::Inserted => "inserted",
            FailureKind::Reordered => "reordered",
            FailureKind::Duplicated => "duplicated",
            FailureKind::ForeignEntry => "foreign_entry",
            FailureKind::TimeReversed => "time_reversed",
            FailureKind::Truncated => "truncated",
            FailureKind::Fork => "fork",
            FailureKind::BadSignature => "bad_signature",
            FailureKind::MissingSignature => "missing_signature",
            FailureKind::WrongLog => "wrong_log",
            FailureKind::Uncovered => "uncovered",
            FailureKind::BadDisclosure => "bad_disclosure",
            FailureKind::BrokenPromise => "broken_promise",
            FailureKind::MisplacedCommitment => "misplaced_commitment",
            FailureKind::FutureTime => "future_time",
            FailureKind::Unwitnessed => "unwitnessed",
        }
    }
}

/// The first failure found, located as precisely as the evidence allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{}{}{}{}: {message}", kind.as_str(), chain.as_ref().map(|c| format!(" in chain {c}")).unwrap_or_default(), seq.map(|s| format!(" at seq {s}")).unwrap_or_default(), line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct Failure {
    pub kind: FailureKind,
    pub chain: Option<String>,
    pub seq: Option<u64>,
    pub line: Option<u64>,
    pub message: String,
}

pub(crate) fn failure(
    kind: FailureKind,
    chain: Option<&str>,
    seq: Option<u64>,
    line: Option<u64>,
    message: impl Into<String>,
) -> Failure {
    Failure {
        kind,
        chain: chain.map(str::to_owned),
        seq,
        line,
        message: message.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tampered(Failure),
}

/// One verified chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub chain: String,
    /// `<log>/<chain>` when the log is known (pinned, or from the checkpoints).
    pub origin: Option<String>,
    pub size: u64,
    /// Base64, as in checkpoints.
    pub root: String,
    pub checkpoints_checked: usize,
    /// The witnesses whose cosignatures of this chain's kept checkpoints were checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub witnessed_by: Vec<String>,
    /// Entries `0 … covered − 1` are bound by a verified checkpoint.
    pub covered: u64,
    /// Entries after the largest verified checkpoint: nothing signed binds them yet.
    pub uncovered: u64,
}

/// A verified export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub entries: u64,
    pub chains: Vec<ChainReport>,
    pub checkpoints_checked: usize,
    /// The log the checkpoints are of.
    pub log: Option<String>,
    pub covered: u64,
    pub uncovered: u64,
    /// Whether uncovered entries would have failed the verification.
    pub coverage_required: bool,
    /// Disclosed personal values checked against their commitments.
    pub disclosures_checked: usize,
    /// The entries asked for with [`Verifier::watch`], as the verified export holds them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watched: Vec<Watched>,
    /// Chains verified but not listed in `chains` (past [`MAX_LISTED_CHAINS`]); the totals
    /// count them.
    #[serde(skip_serializing_if = "is_zero")]
    pub chains_not_listed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The most chains a report lists one by one: what a verifier keeps per finished chain is
/// then bounded, whatever an export holds (a million one-entry chains).
pub const MAX_LISTED_CHAINS: usize = 10_000;

/// An entry of the verified history, as [`Verifier::watch`] asked for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Watched {
    pub chain: String,
    pub seq: u64,
    /// Hex, as in the entry.
    pub hash: String,
    pub at: String,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only this chain may appear.
    pub chain: Option<ChainId>,
    /// Every checkpoint must be of this log (origin `<log>/<chain>`).
    pub log: Option<LogName>,
    /// Fail on entries no kept checkpoint covers. Default: yes when checkpoints were kept.
    pub require_covered: Option<bool>,
    /// Threads that check entries' bytes (default: the machine's parallelism, at most 8).
    pub threads: Option<usize>,
    /// Refuse entries stamped later than this clock reading plus the allowed skew
    /// ([`crate::entry::MAX_VERIFIER_SKEW_SECONDS`]): times from the future.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Require every kept checkpoint to carry this quorum of witness cosignatures.
    pub witnesses: Option<crate::witness::WitnessPolicy>,
}

/// Verifies exports against the auditor's trusted keys and kept checkpoints.
#[derive(Debug)]
pub struct Verifier {
    keys: TrustedKeys,
    options: VerifyOptions,
    checkpoints: BTreeMap<ChainId, BTreeMap<u64, Checkpoint>>,
    /// The log of the checkpoints kept so far (pinned, or taken from the first).
    log: Option<String>,
    /// Disclosed values to check, by entry.
    disclosures: BTreeMap<(String, u64), Vec<Disclosure>>,
    /// Entries to report as verified (chain, seq).
    watch: BTreeSet<(String, u64)>,
    /// The latest believable `at` ([`VerifyOptions::now`]).
    not_after: Option<[u8; 24]>,
    /// The witnesses that cosigned each chain's kept checkpoints.
    witnessed: BTreeMap<String, BTreeSet<String>>,
}

impl Verifier {
    pub fn new(keys: TrustedKeys, options: VerifyOptions) -> Self {
        let log = options.log.as_ref().map(ToString::to_string);
        let not_after = options
            .now
            .as_ref()
            .map(|now| crate::entry::latest_believable(now, crate::entry::MAX_VERIFIER_SKEW_SECONDS));
        Self {
            keys,
            options,
            checkpoints: BTreeMap::new(),
            log,
            disclosures: BTreeMap::new(),
            watch: BTreeSet::new(),
            not_after,
            witnessed: BTreeMap::new(),
        }
    }

    /// Report entry `seq` of `chain` as the verified export holds it ([`Report::watched`]).
    pub fn watch(&mut self, chain: &ChainId, seq: u64) {
        self.watch.insert((chain.to_string(), seq));
    }

    /// Check `disclosure` against its entry's commitment while verifying.
    pub fn add_disclosure(&mut self, disclosure: Disclosure) {
        self.disclosures
            .entry((disclosure.chain.clone(), disclosure.seq))
            .or_default()
            .push(disclosure);
    }

    /// Keep a signed checkpoint (`source` names it in messages). Its signature and log are
    /// checked now, and it must agree with every checkpoint kept before of the same size.
    pub fn add_checkpoint(&mut self, note: &str, source: &str) -> Result<&Checkpoint, Failure> {
        let opened = match &self.options.log {
            Some(log) => Checkpoint::open_pinned(note, &self.keys, log),
            None => Checkpoint::open(note, &self.keys),
        };
        let (checkpoint, _) = opened.map_err(|e| {
            failure(
                FailureKind::of_note(&e),
                None,
                None,
                None,
                format!("checkpoint {source}: {e}"),
            )
        })?;
        if let Some(policy) = &self.options.witnesses {
            let cosigned = policy.check(note).map_err(|e| {
                failure(
                    FailureKind::of_witness(&e),
                    checkpoint.chain().as_ref().map(ChainId::as_str),
                    None,
                    None,
                    format!("checkpoint {source}: {e}"),
                )
            })?;
            let chain = checkpoint.chain().map(|c| c.to_string()).unwrap_or_default();
            let names = self.witnessed.entry(chain).or_default();
            names.extend(cosigned.into_iter().map(|c| c.witness));
        }
        let (Some(chain), Some(log)) = (checkpoint.chain(), checkpoint.log()) else {
            return Err(failure(
                FailureKind::WrongLog,
                None,
                None,
                None,
                format!(
                    "checkpoint {source}: origin {:?} is not <log>/<chain>",
                    checkpoint.origin
                ),
            ));
        };
        match &self.log {
            Some(expected) if expected != log => {
                return Err(failure(
                    FailureKind::WrongLog,
                    Some(chain.as_str()),
                    None,
                    None,
                    format!("checkpoint {source} is of the log {log}, the others of {expected}"),
                ));
            }
            Some(_) => {}
            None => self.log = Some(log.to_owned()),
        }
        let kept = self.checkpoints.entry(chain.clone()).or_default();
        if let Some(other) = kept.get(&checkpoint.size)
            && other.root != checkpoint.root
        {
            return Err(failure(
                FailureKind::Fork,
                Some(chain.as_str()),
                None,
                None,
                format!(
                    "checkpoint {source} and another validly signed checkpoint both have size {} but different roots ({} vs {})",
                    checkpoint.size,
                    checkpoint.root.to_base64(),
                    other.root.to_base64()
                ),
            ));
        }
        Ok(kept.entry(checkpoint.size).or_insert(checkpoint))
    }

    /// The log of the kept checkpoints (pinned, or read from them).
    pub fn log(&self) -> Option<&str> {
        self.log.as_deref()
    }

    fn threads(&self) -> usize {
        self.options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .clamp(1, 8)
    }

    /// Verify an export read from `reader`. `progress` is called after each chunk with the
    /// number of bytes read so far.
    pub fn verify(&self, reader: impl Read, mut progress: impl FnMut(u64)) -> Result<Report, VerifyError> {
        let mut lines = LineReader::new(reader);
        let mut walker = Walker {
            verifier: self,
            current: None,
            done: Vec::new(),
            not_listed: 0,
            totals: Totals::default(),
            last_chain: None,
            seen_checkpointed: BTreeSet::new(),
            disclosed_sizes: BTreeMap::new(),
            entries: 0,
            disclosed: 0,
            watched: Vec::new(),
        };
        let threads = self.threads();
        let mut pending: Option<(u64, Checked)> = None;
        loop {
            let chunk = match lines.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(ReadError::Io(e)) => return Err(VerifyError::Io(e)),
                Err(ReadError::TooLong { line }) => {
                    return Err(VerifyError::Tampered(failure(
                        FailureKind::Malformed,
                        None,
                        None,
                        Some(line),
                        "the line is longer than 1 MiB",
                    )));
                }
                Err(ReadError::Unterminated { line }) => {
                    return Err(VerifyError::Tampered(failure(
                        FailureKind::Malformed,
                        None,
                        None,
                        Some(line),
                        "the export's last line has no newline (was it cut off?)",
                    )));
                }
            };
            let parts = check_lines(&chunk.lines, threads, &self.disclosures);
            let first = chunk.first_line;
            // Each line is judged with its successor in view (a gap or a foreign entry is
            // told apart by the next line), so the last line of a chunk waits for the next.
            let mut results = parts.iter().flatten().enumerate().peekable();
            if let Some((number, line)) = pending.take() {
                walker.feed(number, &line, results.peek().map(|(_, c)| *c))?;
            }
            while let Some((i, line)) = results.next() {
                let number = first + i as u64;
                match results.peek() {
                    Some((_, next)) => walker.feed(number, line, Some(next))?,
                    None => pending = Some((number, line.clone())),
                }
            }
            progress(lines.bytes);
        }
        if let Some((number, line)) = pending.take() {
            walker.feed(number, &line, None)?;
        }
        progress(lines.bytes);
        walker.finish()
    }

    fn checkpoints_of(&self, chain: &ChainId) -> VecDeque<Checkpoint> {
        self.checkpoints
            .get(chain)
            .map(|kept| kept.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// What the parallel pass learns about one line.
#[derive(Debug, Clone)]
enum Checked {
    Entry(Info),
    Bad {
        kind: FailureKind,
        message: String,
        /// The entry's chain and seq, when the line parsed.
        at: Option<(ChainName, u64)>,
    },
}

/// An entry's envelope, owned (no borrow of the read buffer), with its hash recomputed.
#[derive(Debug, Clone)]
struct Info {
    version: Version,
    chain: ChainName,
    seq: u64,
    prev: Hash,
    hash: Hash,
    hash_ok: bool,
    at: [u8; 24],
    leaf: Hash,
}

/// A chain id in place (at most 64 bytes): no allocation per line.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ChainName {
    len: u8,
    bytes: [u8; 64],
}

impl ChainName {
    fn new(text: &str) -> Self {
        let mut bytes = [0u8; 64];
        let len = text.len().min(64);
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        Self { len: len as u8, bytes }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for ChainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

type DisclosureMap = BTreeMap<(String, u64), Vec<Disclosure>>;

fn check_line(line: &[u8], disclosures: &DisclosureMap) -> Checked {
    match EntryRef::parse(line) {
        Err(e) => Checked::Bad {
            kind: FailureKind::of_format(&e),
            message: e.to_string(),
            // A line refused for a misplaced commitment is otherwise well formed: name it.
            at: matches!(e, crate::entry::FormatError::Commitment(_))
                .then(|| EntryRef::locate(line))
                .flatten()
                .map(|(chain, seq)| (ChainName::new(chain), seq)),
        },
        Ok(entry) => {
            if !disclosures.is_empty()
                && let Some(list) = disclosures.get(&(entry.chain.to_owned(), entry.seq))
                && entry.computed_hash() == entry.hash
                && let Some(error) = list.iter().find_map(|d| d.check(&entry).err())
            {
                return Checked::Bad {
                    kind: FailureKind::BadDisclosure,
                    message: format!("a disclosed value does not hold: {error}"),
                    at: Some((ChainName::new(entry.chain), entry.seq)),
                };
            }
            let mut at = [0u8; 24];
            at.copy_from_slice(entry.at.as_bytes());
            Checked::Entry(Info {
                version: entry.version,
                chain: ChainName::new(entry.chain),
                seq: entry.seq,
                prev: entry.prev,
                hash: entry.hash,
                hash_ok: entry.computed_hash() == entry.hash,
                at,
                leaf: leaf_hash(entry.hash.as_bytes()),
            })
        }
    }
}

/// Check every line of a chunk, spread over `threads` threads: the results in line order,
/// in one part per thread.
fn check_lines(lines: &[&[u8]], threads: usize, disclosures: &DisclosureMap) -> Vec<Vec<Checked>> {
    let check = |part: &[&[u8]]| part.iter().map(|l| check_line(l, disclosures)).collect::<Vec<_>>();
    if threads <= 1 || lines.len() < 64 {
        return vec![check(lines)];
    }
    let per = lines.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = lines.chunks(per);
        let mine = parts.next().unwrap_or_default();
        let handles: Vec<_> = parts.map(|part| scope.spawn(move || check(part))).collect();
        let mut out = vec![check(mine)];
        for handle in handles {
            match handle.join() {
                Ok(part) => out.push(part),
                // A panic in a worker is a bug; surface it where it happened.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// The in-order pass. What it keeps is bounded whatever the export holds: the chain being
/// read, the previous chain's id (chains come in ascending order, FORMAT.md §8), totals, and
/// per-chain reports up to [`MAX_LISTED_CHAINS`]; sets only of the chains the auditor named
/// (checkpoints, disclosures).
struct Walker<'v> {
    verifier: &'v Verifier,
    current: Option<ChainState>,
    done: Vec<ChainReport>,
    not_listed: u64,
    totals: Totals,
    last_chain: Option<String>,
    /// Chains with kept checkpoints that the export holds.
    seen_checkpointed: BTreeSet<String>,
    /// The sizes of the chains that disclosures name.
    disclosed_sizes: BTreeMap<String, u64>,
    entries: u64,
    disclosed: usize,
    watched: Vec<Watched>,
}

#[derive(Debug, Default)]
struct Totals {
    covered: u64,
    uncovered: u64,
    checkpoints_checked: usize,
}

impl Walker<'_> {
    fn coverage_required(&self) -> bool {
        self.verifier
            .options
            .require_covered
            .unwrap_or(!self.verifier.checkpoints.is_empty())
    }

    /// A chain read to its end: uncovered entries fail now (when coverage is required), and
    /// its report is kept or counted.
    fn close(&mut self, finished: ChainState) -> Result<(), VerifyError> {
        let c = finished.finish(self.verifier)?;
        if self.coverage_required() && c.uncovered > 0 {
            let message = if c.covered == 0 {
                format!(
                    "no kept checkpoint covers any of the chain's {} entries: nothing signed binds them",
                    c.size
                )
            } else {
                format!(
                    "entries {} to {} come after the largest kept checkpoint ({}): nothing signed binds them",
                    c.covered,
                    c.size - 1,
                    c.covered
                )
            };
            return Err(VerifyError::Tampered(failure(
                FailureKind::Uncovered,
                Some(&c.chain),
                Some(c.covered),
                None,
                message,
            )));
        }
        self.totals.covered += c.covered;
        self.totals.uncovered += c.uncovered;
        self.totals.checkpoints_checked += c.checkpoints_checked;
        if self.verifier.disclosures.keys().any(|(chain, _)| *chain == c.chain) {
            self.disclosed_sizes.insert(c.chain.clone(), c.size);
        }
        if self.done.len() < MAX_LISTED_CHAINS {
            self.done.push(c);
        } else {
            self.not_listed += 1;
        }
        Ok(())
    }

    fn feed(&mut self, number: u64, checked: &Checked, next: Option<&Checked>) -> Result<(), VerifyError> {
        let tampered = VerifyError::Tampered;
        let info = match checked {
            Checked::Bad { kind, message, at } => {
                let (chain, seq) = match at {
                    Some((chain, seq)) => (Some(chain.as_str()), Some(*seq)),
                    None => (None, None),
                };
                return Err(tampered(failure(*kind, chain, seq, Some(number), message.clone())));
            }
            Checked::Entry(info) => info,
        };
        let (chain, seq) = (info.chain.as_str(), info.seq);
        if !info.hash_ok {
            return Err(tampered(failure(
                FailureKind::Modified,
                Some(chain),
                Some(seq),
                Some(number),
                "the entry's bytes do not match its hash",
            )));
        }
        let same_chain = self.current.as_ref().is_some_and(|c| c.chain.as_str() == chain);
        if !same_chain {
            let wrong_chain = self
                .verifier
                .options
                .chain
                .as_ref()
                .is_some_and(|c| c.as_str() != chain);
            let next_is_current = match (&self.current, next) {
                (Some(current), Some(Checked::Entry(n))) => n.chain.as_str() == current.chain.as_str(),
                _ => false,
            };
            // Chains come one after another in ascending order of their ids: one that does
            // not sort after the last is inside it, or appears a second time.
            let out_of_order = self.last_chain.as_deref().is_some_and(|last| chain <= last);
            if wrong_chain || out_of_order || (self.current.is_some() && (seq != 0 || next_is_current)) {
                let message = match (&self.current, out_of_order) {
                    (Some(c), false) => format!("an entry of chain {chain} inside chain {}", c.chain),
                    (Some(c), true) => format!(
                        "an entry of chain {chain} after chain {}: chains come once each, in ascending order of their ids",
                        c.chain
                    ),
                    (None, _) => format!("an entry of chain {chain}, which is not the chain being verified"),
                };
                return Err(tampered(failure(
                    FailureKind::ForeignEntry,
                    Some(chain),
                    Some(seq),
                    Some(number),
                    message,
                )));
            }
            if seq != 0 {
                return Err(tampered(failure(
                    FailureKind::Deleted,
                    Some(chain),
                    Some(0),
                    Some(number),
                    format!("the chain starts at seq {seq}: entries 0 to {} are missing", seq - 1),
                )));
            }
            if let Some(finished) = self.current.take() {
                self.close(finished)?;
            }
            let chain_id = ChainId::parse(chain).map_err(|e| {
                tampered(failure(
                    FailureKind::Malformed,
                    Some(chain),
                    Some(seq),
                    Some(number),
                    e.to_string(),
                ))
            })?;
            self.last_chain = Some(chain.to_owned());
            if self.verifier.checkpoints.contains_key(&chain_id) {
                self.seen_checkpointed.insert(chain.to_owned());
            }
            let kept = self.verifier.checkpoints_of(&chain_id);
            self.current = Some(ChainState::new(chain_id, kept)?);
        }
        let Some(state) = self.current.as_mut() else {
            return Ok(());
        };
        if let Some(latest) = &self.verifier.not_after
            && info.at[..] > latest[..]
        {
            return Err(tampered(failure(
                FailureKind::FutureTime,
                Some(chain),
                Some(seq),
                Some(number),
                format!(
                    "the entry's time {} is ahead of this clock by more than {} s: a time from the future",
                    String::from_utf8_lossy(&info.at),
                    crate::entry::MAX_VERIFIER_SKEW_SECONDS
                ),
            )));
        }
        state.accept(info, number, next)?;
        self.entries += 1;
        if !self.verifier.watch.is_empty() && self.verifier.watch.contains(&(chain.to_owned(), seq)) {
            self.watched.push(Watched {
                chain: chain.to_owned(),
                seq,
                hash: info.hash.to_hex(),
                at: String::from_utf8_lossy(&info.at).into_owned(),
            });
        }
        if !self.verifier.disclosures.is_empty() {
            self.disclosed += self
                .verifier
                .disclosures
                .get(&(chain.to_owned(), seq))
                .map_or(0, Vec::len);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Report, VerifyError> {
        let verifier = self.verifier;
        if let Some(finished) = self.current.take() {
            self.close(finished)?;
        }
        // A chain the auditor holds checkpoints for must be in the export.
        for (chain, kept) in &verifier.checkpoints {
            if self.seen_checkpointed.contains(chain.as_str())
                || verifier.options.chain.as_ref().is_some_and(|c| c != chain)
            {
                continue;
            }
            if let Some((size, _)) = kept.iter().rev().find(|(size, _)| **size > 0) {
                return Err(VerifyError::Tampered(failure(
                    FailureKind::Truncated,
                    Some(chain.as_str()),
                    None,
                    None,
                    format!("the export has no entries of this chain, but a kept checkpoint commits to {size}"),
                )));
            }
        }
        let wanted: usize = verifier.disclosures.values().map(Vec::len).sum();
        if self.disclosed < wanted {
            let missing = verifier
                .disclosures
                .keys()
                .find(|(chain, seq)| self.disclosed_sizes.get(chain).is_none_or(|size| seq >= size))
                .cloned()
                .unwrap_or_default();
            return Err(VerifyError::Tampered(failure(
                FailureKind::BadDisclosure,
                Some(&missing.0),
                Some(missing.1),
                None,
                "a disclosure names an entry the export does not hold",
            )));
        }
        let coverage_required = self.coverage_required();
        Ok(Report {
            disclosures_checked: self.disclosed,
            entries: self.entries,
            covered: self.totals.covered,
            uncovered: self.totals.uncovered,
            chains: self.done,
            checkpoints_checked: self.totals.checkpoints_checked,
            log: verifier.log.clone(),
            coverage_required,
            watched: self.watched,
            chains_not_listed: self.not_listed,
        })
    }
}

/// The verifier's memory per chain: O(log n).
struct ChainState {
    chain: ChainId,
    version: Version,
    next_seq: u64,
    last_hash: Hash,
    last_line: u64,
    last_at: [u8; 24],
    frontier: Frontier,
    pending: VecDeque<Checkpoint>,
    checked: usize,
    covered: u64,
}

impl ChainState {
    fn new(chain: ChainId, mut pending: VecDeque<Checkpoint>) -> Result<Self, VerifyError> {
        let mut checked = 0;
        // A checkpoint of size 0 commits to the empty tree (its root was checked when read).
        while pending.front().is_some_and(|c| c.size == 0) {
            if let Some(cp) = pending.pop_front() {
                if cp.root != empty_root() {
                    return Err(VerifyError::Tampered(failure(
                        FailureKind::Fork,
                        Some(chain.as_str()),
                        None,
                        None,
                        "a checkpoint of size 0 commits to a non-empty tree",
                    )));
                }
                checked += 1;
            }
        }
        Ok(Self {
            chain,
            version: Version::V1,
            next_seq: 0,
            last_hash: GENESIS_PREV,
            last_line: 0,
            last_at: [0; 24],
            frontier: Frontier::new(),
            pending,
            checked,
            covered: 0,
        })
    }

    fn fail(&self, kind: FailureKind, seq: u64, line: u64, message: String) -> VerifyError {
        VerifyError::Tampered(failure(kind, Some(self.chain.as_str()), Some(seq), Some(line), message))
    }

    fn accept(&mut self, entry: &Info, line: u64, next: Option<&Checked>) -> Result<(), VerifyError> {
        let expected = self.next_seq;
        let seq = entry.seq;
        // Each comparison stands alone (no outer `seq != expected`): each is then tested by
        // the entries that are in order.
        if seq.checked_add(1) == Some(expected) {
            return Err(if entry.hash == self.last_hash {
                self.fail(
                    FailureKind::Duplicated,
                    seq,
                    line,
                    format!("seq {seq} appears twice in a row (lines {} and {line})", self.last_line),
                )
            } else {
                self.fail(
                        FailureKind::Inserted,
                        seq,
                        self.last_line,
                        format!("two different entries claim seq {seq} (lines {} and {line}); the first of them is not part of the chain", self.last_line),
                    )
            });
        }
        if seq < expected {
            return Err(self.fail(
                FailureKind::Duplicated,
                seq,
                line,
                format!("seq {seq} appears again after seq {}", expected - 1),
            ));
        }
        if seq > expected {
            // Moved, or missing? The next line tells.
            let next_is_expected =
                matches!(next, Some(Checked::Entry(n)) if n.chain.as_str() == self.chain.as_str() && n.seq == expected);
            return Err(if next_is_expected {
                self.fail(
                    FailureKind::Reordered,
                    seq,
                    line,
                    format!("seq {seq} comes before seq {expected}"),
                )
            } else {
                let missing = seq - expected;
                self.fail(
                    FailureKind::Deleted,
                    expected,
                    line,
                    format!(
                        "expected seq {expected}, found {seq}: {missing} entr{} missing",
                        if missing == 1 { "y is" } else { "ies are" }
                    ),
                )
            });
        }
        if entry.prev != self.last_hash {
            return Err(if seq == 0 {
                self.fail(
                    FailureKind::Modified,
                    0,
                    line,
                    "the first entry's prev is not the genesis value".to_owned(),
                )
            } else {
                self.fail(
                    FailureKind::Modified,
                    seq - 1,
                    self.last_line,
                    format!(
                        "seq {seq} does not link to the entry before it: seq {} was altered (and re-hashed)",
                        seq - 1
                    ),
                )
            });
        }
        if entry.version < self.version {
            return Err(self.fail(
                FailureKind::Malformed,
                seq,
                line,
                "a v1 entry after a v2 entry: a chain moves from v1 to v2 once and never back".to_owned(),
            ));
        }
        // `last_at` starts as zero bytes, before any time: seq 0 needs no exception.
        if entry.at < self.last_at {
            return Err(self.fail(
                FailureKind::TimeReversed,
                seq,
                line,
                format!(
                    "the entry's time {} is before its predecessor's {}",
                    String::from_utf8_lossy(&entry.at),
                    String::from_utf8_lossy(&self.last_at)
                ),
            ));
        }
        self.frontier.push(entry.leaf);
        self.last_hash = entry.hash;
        self.last_line = line;
        self.last_at = entry.at;
        self.version = entry.version;
        self.next_seq += 1;
        while self.pending.front().is_some_and(|c| c.size == self.next_seq) {
            let Some(checkpoint) = self.pending.pop_front() else {
                break;
            };
            let root = self.frontier.root();
            if root != checkpoint.root {
                return Err(self.fail(
                    FailureKind::Fork,
                    seq,
                    line,
                    format!(
                        "the chain's first {} entries have root {}, but a signed checkpoint commits to {}: entries up to here were rewritten",
                        checkpoint.size,
                        root.to_base64(),
                        checkpoint.root.to_base64()
                    ),
                ));
            }
            self.checked += 1;
            self.covered = checkpoint.size;
        }
        Ok(())
    }

    fn finish(self, verifier: &Verifier) -> Result<ChainReport, VerifyError> {
        if let Some(cp) = self.pending.back() {
            return Err(VerifyError::Tampered(failure(
                FailureKind::Truncated,
                Some(self.chain.as_str()),
                Some(self.next_seq),
                None,
                format!(
                    "the chain ends after {} entries, but a kept checkpoint commits to {}",
                    self.next_seq, cp.size
                ),
            )));
        }
        Ok(ChainReport {
            chain: self.chain.to_string(),
            origin: verifier.log.as_ref().map(|log| format!("{log}/{}", self.chain)),
            size: self.next_seq,
            root: self.frontier.root().to_base64(),
            checkpoints_checked: self.checked,
            witnessed_by: verifier
                .witnessed
                .get(self.chain.as_str())
                .map(|names| names.iter().cloned().collect())
                .unwrap_or_default(),
            covered: self.covered,
            uncovered: self.next_seq - self.covered,
        })
    }
}
