//! The streaming verifier: reads an export line by line in O(log n) memory and names the
//! first entry that proves tampering.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::BufRead;

use crate::canonical::is_canonical_data;
use crate::checkpoint::{Checkpoint, NoteError, TrustedKeys};
use crate::entry::{EntryRef, GENESIS_PREV};
use crate::hash::{ChainId, Hash};
use crate::merkle::{Frontier, empty_root, leaf_hash};

/// What kind of tampering (or damage) was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A line is not a v1 entry at all.
    Malformed,
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
    /// The chain is shorter than a checkpoint the auditor kept (truncation or rollback).
    Truncated,
    /// The chain, or another checkpoint, disagrees with a signed checkpoint.
    Fork,
    /// A signature by a trusted key does not verify.
    BadSignature,
    /// A checkpoint carries no signature by a trusted key.
    MissingSignature,
    /// `--strict`: an entry's data is not in canonical form.
    NotCanonical,
}

impl FailureKind {
    /// What a signed note that does not open says about the evidence.
    pub fn of_note(e: &NoteError) -> Self {
        match e {
            NoteError::BadSignature { .. } => FailureKind::BadSignature,
            NoteError::NoTrustedSignature => FailureKind::MissingSignature,
            NoteError::Malformed(_) | NoteError::MalformedCheckpoint(_) => FailureKind::Malformed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Malformed => "malformed",
            FailureKind::Modified => "modified",
            FailureKind::Deleted => "deleted",
            FailureKind::Inserted => "inserted",
            FailureKind::Reordered => "reordered",
            FailureKind::Duplicated => "duplicated",
            FailureKind::ForeignEntry => "foreign_entry",
            FailureKind::Truncated => "truncated",
            FailureKind::Fork => "fork",
            FailureKind::BadSignature => "bad_signature",
            FailureKind::MissingSignature => "missing_signature",
            FailureKind::NotCanonical => "not_canonical",
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
    pub size: u64,
    /// Base64, as in checkpoints.
    pub root: String,
    pub checkpoints_checked: usize,
}

/// A verified export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub entries: u64,
    pub chains: Vec<ChainReport>,
    pub checkpoints_checked: usize,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Also check that every entry's data is canonical JSON (slower).
    pub strict: bool,
    /// Only this chain may appear.
    pub chain: Option<ChainId>,
}

/// Verifies exports against the auditor's trusted keys and kept checkpoints.
#[derive(Debug)]
pub struct Verifier {
    keys: TrustedKeys,
    options: VerifyOptions,
    checkpoints: BTreeMap<ChainId, BTreeMap<u64, Checkpoint>>,
}

fn failure(
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

impl Verifier {
    pub fn new(keys: TrustedKeys, options: VerifyOptions) -> Self {
        Self {
            keys,
            options,
            checkpoints: BTreeMap::new(),
        }
    }

    /// Keep a signed checkpoint (`source` names it in messages). Its signature is checked
    /// now, and it must agree with every checkpoint kept before of the same size.
    pub fn add_checkpoint(&mut self, note: &str, source: &str) -> Result<&Checkpoint, Failure> {
        let (checkpoint, _) = Checkpoint::open(note, &self.keys).map_err(|e| {
            failure(
                FailureKind::of_note(&e),
                None,
                None,
                None,
                format!("checkpoint {source}: {e}"),
            )
        })?;
        let chain = checkpoint.chain().ok_or_else(|| {
            failure(
                FailureKind::Malformed,
                None,
                None,
                None,
                format!("checkpoint {source}: origin {:?} names no chain", checkpoint.origin),
            )
        })?;
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

    /// Verify an export read from `reader`. `progress` is called now and then with the number
    /// of bytes read so far.
    pub fn verify(&self, reader: impl BufRead, mut progress: impl FnMut(u64)) -> Result<Report, VerifyError> {
        let mut lines = Lines::new(reader);
        let mut current: Option<ChainState> = None;
        let mut done: Vec<ChainReport> = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut entries = 0u64;
        let tampered = |f: Failure| VerifyError::Tampered(f);

        while let Some((number, bytes, line)) = lines.next_line()? {
            if number % 65_536 == 0 {
                progress(bytes);
            }
            let entry = EntryRef::parse(line)
                .map_err(|e| tampered(failure(FailureKind::Malformed, None, None, Some(number), e.to_string())))?;
            let (chain, seq) = (entry.chain, entry.seq);
            if entry.computed_hash() != entry.hash {
                return Err(tampered(failure(
                    FailureKind::Modified,
                    Some(chain),
                    Some(seq),
                    Some(number),
                    "the entry's bytes do not match its hash",
                )));
            }
            if self.options.strict && !entry.data_str().is_some_and(is_canonical_data) {
                return Err(tampered(failure(
                    FailureKind::NotCanonical,
                    Some(chain),
                    Some(seq),
                    Some(number),
                    "the entry's data is not canonical JSON",
                )));
            }

            let same_chain = current.as_ref().is_some_and(|c| c.chain.as_str() == chain);
            if !same_chain {
                let wrong_chain = self.options.chain.as_ref().is_some_and(|c| c.as_str() != chain);
                if wrong_chain || seen.contains(chain) || (current.is_some() && seq != 0) {
                    let message = match &current {
                        Some(c) => format!("an entry of chain {chain} inside chain {}", c.chain),
                        None => format!("an entry of chain {chain}, which is not the chain being verified"),
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
                if let Some(finished) = current.take() {
                    done.push(finished.finish()?);
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
                seen.insert(chain.to_owned());
                current = Some(ChainState::new(chain_id, self.checkpoints_of(chain))?);
            }
            let Some(state) = current.as_mut() else { continue };
            match state.accept(&entry, number) {
                Ok(()) => entries += 1,
                Err(Reject::Fail(e)) => return Err(e),
                Err(Reject::Gap { expected, found }) => {
                    // seq > expected: moved, or missing? One line of look-ahead tells.
                    let chain = state.chain.as_str().to_owned();
                    let next_is_expected = lines
                        .next_line()?
                        .and_then(|(_, _, next)| {
                            EntryRef::parse(next)
                                .ok()
                                .map(|e| e.chain == chain && e.seq == expected)
                        })
                        .unwrap_or(false);
                    return Err(state.gap(expected, found, number, next_is_expected));
                }
            }
        }
        progress(lines.bytes);
        if let Some(finished) = current.take() {
            done.push(finished.finish()?);
        }
        // A chain the auditor holds checkpoints for must be in the export.
        for (chain, kept) in &self.checkpoints {
            if seen.contains(chain.as_str()) || self.options.chain.as_ref().is_some_and(|c| c != chain) {
                continue;
            }
            if let Some((size, _)) = kept.iter().rev().find(|(size, _)| **size > 0) {
                return Err(tampered(failure(
                    FailureKind::Truncated,
                    Some(chain.as_str()),
                    None,
                    None,
                    format!("the export has no entries of this chain, but a kept checkpoint commits to {size}"),
                )));
            }
        }
        let checkpoints_checked = done.iter().map(|c| c.checkpoints_checked).sum();
        Ok(Report {
            entries,
            chains: done,
            checkpoints_checked,
        })
    }

    fn checkpoints_of(&self, chain: &str) -> VecDeque<Checkpoint> {
        ChainId::parse(chain)
            .ok()
            .and_then(|c| self.checkpoints.get(&c))
            .map(|kept| kept.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// The verifier's memory per chain: O(log n).
struct ChainState {
    chain: ChainId,
    next_seq: u64,
    last_hash: Hash,
    last_line: u64,
    frontier: Frontier,
    pending: VecDeque<Checkpoint>,
    checked: usize,
}

impl ChainState {
    fn new(chain: ChainId, mut pending: VecDeque<Checkpoint>) -> Result<Self, VerifyError> {
        let mut checked = 0;
        // A checkpoint of size 0 commits to the empty tree.
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
            next_seq: 0,
            last_hash: GENESIS_PREV,
            last_line: 0,
            frontier: Frontier::new(),
            pending,
            checked,
        })
    }

    fn fail(&self, kind: FailureKind, seq: u64, line: u64, message: String) -> VerifyError {
        VerifyError::Tampered(failure(kind, Some(self.chain.as_str()), Some(seq), Some(line), message))
    }

    fn accept(&mut self, entry: &EntryRef<'_>, line: u64) -> Result<(), Reject> {
        let expected = self.next_seq;
        let seq = entry.seq;
        if seq != expected {
            if seq + 1 == expected {
                return Err(Reject::Fail(if entry.hash == self.last_hash {
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
                }));
            }
            if seq < expected {
                return Err(Reject::Fail(self.fail(
                    FailureKind::Duplicated,
                    seq,
                    line,
                    format!("seq {seq} appears again after seq {}", expected - 1),
                )));
            }
            return Err(Reject::Gap { expected, found: seq });
        }
        if entry.prev != self.last_hash {
            let (kind, at_seq, at_line, message) = if seq == 0 {
                (
                    FailureKind::Modified,
                    0,
                    line,
                    "the first entry's prev is not the genesis value".to_owned(),
                )
            } else {
                (
                    FailureKind::Modified,
                    seq - 1,
                    self.last_line,
                    format!(
                        "seq {seq} does not link to the entry before it: seq {} was altered (and re-hashed)",
                        seq - 1
                    ),
                )
            };
            return Err(Reject::Fail(self.fail(kind, at_seq, at_line, message)));
        }
        self.frontier.push(leaf_hash(entry.hash.as_bytes()));
        self.last_hash = entry.hash;
        self.last_line = line;
        self.next_seq += 1;
        while self.pending.front().is_some_and(|c| c.size == self.next_seq) {
            let Some(checkpoint) = self.pending.pop_front() else {
                break;
            };
            let root = self.frontier.root();
            if root != checkpoint.root {
                return Err(Reject::Fail(self.fail(
                    FailureKind::Fork,
                    seq,
                    line,
                    format!(
                        "the chain's first {} entries have root {}, but a signed checkpoint commits to {}: entries up to here were rewritten",
                        checkpoint.size,
                        root.to_base64(),
                        checkpoint.root.to_base64()
                    ),
                )));
            }
            self.checked += 1;
        }
        Ok(())
    }

    /// The failure for entry `found` where `expected` was due: `Reordered` if the expected
    /// entry comes right after it, else `Deleted`.
    fn gap(&self, expected: u64, found: u64, line: u64, next_is_expected: bool) -> VerifyError {
        if next_is_expected {
            self.fail(
                FailureKind::Reordered,
                found,
                line,
                format!("seq {found} comes before seq {expected}"),
            )
        } else {
            let missing = found - expected;
            self.fail(
                FailureKind::Deleted,
                expected,
                line,
                format!(
                    "expected seq {expected}, found {found}: {missing} entr{} missing",
                    if missing == 1 { "y is" } else { "ies are" }
                ),
            )
        }
    }

    fn finish(self) -> Result<ChainReport, VerifyError> {
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
            size: self.next_seq,
            root: self.frontier.root().to_base64(),
            checkpoints_checked: self.checked,
        })
    }
}

/// Why `accept` refused an entry.
enum Reject {
    Fail(VerifyError),
    /// `found` is ahead of `expected`: the caller looks one line ahead to tell which.
    Gap {
        expected: u64,
        found: u64,
    },
}

/// Lines of a JSON Lines file, without their `\n`, with 1-based numbers. A line that lies
/// whole in the reader's buffer is handed out in place (no copy); one that straddles the
/// buffer's end is assembled in `buf`.
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes of the reader's buffer handed out by the previous call, consumed on the next.
    pending: usize,
    number: u64,
    bytes: u64,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            pending: 0,
            number: 0,
            bytes: 0,
        }
    }

    /// The next line: its number, the bytes read so far, and its content.
    fn next_line(&mut self) -> std::io::Result<Option<(u64, u64, &[u8])>> {
        self.reader.consume(std::mem::take(&mut self.pending));
        let available = self.reader.fill_buf()?;
        if available.is_empty() {
            return Ok(None);
        }
        self.number += 1;
        if let Some(end) = memchr::memchr(b'\n', available) {
            self.pending = end + 1;
            self.bytes += self.pending as u64;
            // A second `fill_buf` returns the same buffered bytes without reading.
            let available = self.reader.fill_buf()?;
            return Ok(Some((
                self.number,
                self.bytes,
                available.get(..end).unwrap_or_default(),
            )));
        }
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf)?;
        self.bytes += n as u64;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        Ok(Some((self.number, self.bytes, &self.buf)))
    }
}
