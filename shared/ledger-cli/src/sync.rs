//! `ledger sync`: the partner's monitor. With nothing but an API token and the public keys it
//! keeps its own copy of its chain and every checkpoint it saw, checks that each new
//! checkpoint extends the last one it kept (a consistency proof), that the entries the log
//! serves hash to the checkpoint's root, and that every receipt it was given was honoured.
//!
//! The state directory:
//!
//! | file | what |
//! |---|---|
//! | `state.json` | the log, the chain, the size, root, last hash and Merkle frontier kept |
//! | `checkpoint.note`, `checkpoints/<size>.note` | the latest and every verified checkpoint |
//! | `entries.jsonl` | the chain's entries, exactly as hashed (`ledger verify` reads it) |
//! | `hashes.bin` | each entry's hash, 32 bytes per entry (to check receipts) |
//! | `receipts/*.note` | the receipts the API returned (the client saves them here) |
//!
//! Everything is appended first and `state.json` replaced last (atomically), so a run that
//! is cut off leaves the previous state, and the next run starts from it.

use std::io::{IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ledger::entry_tiles::ENTRY_TILE_WIDTH;
use ledger::merkle::{TreeSize, leaf_hash, verify_consistency};
use ledger::{
    ChainId, Checkpoint, EntryRef, Failure, FailureKind, Frontier, Hash, LogName, Receipt, TrustedKeys, Version,
};
use serde_json::{Value, json};

use crate::commands::{CliError, Exit, Outcome, load_keys, open_receipt, parse_log, read_limited, tampered};

/// Entries per request (the API serves at most 1,000).
pub const PAGE: u64 = 1_000;
const STATE_FORMAT: &str = "ledgerdesk-sync/v1";

#[derive(Debug)]
pub struct SyncArgs {
    pub api: String,
    pub token_file: PathBuf,
    pub keys: Vec<PathBuf>,
    pub receipt_keys: Vec<PathBuf>,
    pub state: PathBuf,
    pub log: Option<String>,
    /// The chain to monitor (required on the first sync; the state directory keeps it).
    pub chain: Option<String>,
    pub json: bool,
    /// Treat the clock as this time (RFC 3339) when judging receipts' deadlines (drills).
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries per request, 1 to [`PAGE`] (the API's maximum; smaller for a slow link).
    pub page: u64,
    /// The witnesses the log's checkpoint must be cosigned by (FORMAT.md §17).
    pub witnesses: Option<ledger::witness::WitnessPolicy>,
}

/// What the monitor keeps between runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct State {
    format: String,
    log: String,
    chain: String,
    size: u64,
    root: String,
    last_hash: String,
    last_at: Option<String>,
    version: u8,
    frontier: Vec<String>,
    /// The length of `entries.jsonl` that `size` entries take.
    entries_bytes: u64,
}

impl State {
    /// Before the first sync: nothing kept.
    fn empty(log: &LogName, chain: &str) -> Self {
        Self {
            format: STATE_FORMAT.into(),
            log: log.to_string(),
            chain: chain.to_owned(),
            size: 0,
            root: ledger::merkle::empty_root().to_base64(),
            last_hash: Hash::ZERO.to_hex(),
            last_at: None,
            version: 1,
            frontier: Vec::new(),
            entries_bytes: 0,
        }
    }
}

/// The log's API, as a partner (or the auditor) reaches it.
struct Api {
    conn: Connection,
    requests: u64,
}

/// Where the log is and how to ask it: cloned by the threads that fetch pages ahead.
#[derive(Debug, Clone)]
struct Connection {
    agent: ureq::Agent,
    base: String,
    token: String,
    /// The chain monitored: asked for by name (a partner's own; any, for an auditor).
    chain: String,
}

impl Api {
    fn get(&mut self, path: &str, query: &[(&str, String)], limit: usize) -> Result<Vec<u8>, CliError> {
        self.requests += 1;
        self.conn.get(path, query, limit)
    }
}

/// How an answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    /// 200, the whole body.
    Whole,
    /// 200, but longer than the limit: the body holds its first `limit` bytes.
    Cut,
    /// 404 (the problem's first bytes in the body).
    Missing,
}

/// The most of one page or entry tile that is read (compressed and decompressed): an honest
/// tile is ~2 MB (1,024 entries of ~2 KB: personal text is committed, so entries stay small).
/// A larger tile is read by page, a larger page cut at its last whole line and read on as short
/// pages, so that however many answers are in flight, what a log serves — a zstd bomb, an
/// endless body — costs at most this much each (FORMAT.md §13). Measured with every fetching
/// thread holding answers of this size while the first is late (tests/memory.rs): ~53 MiB peak,
/// well under the 128 MiB budget.
pub const ANSWER_LIMIT: usize = 4 << 20;
/// A signed note (the checkpoint) is at most 1 MiB (FORMAT.md §6).
const NOTE_LIMIT: usize = 1 << 20;
/// A consistency proof: at most 2·64 hashes in a small JSON object.
const PROOF_LIMIT: usize = 64 << 10;
/// One entry line (the spot check).
const LINE_LIMIT: usize = (1 << 20) + 2;
/// A refusal's problem document.
const PROBLEM_LIMIT: usize = 64 << 10;

impl Connection {
    /// The whole answer to `path`, which must be 200 and at most `limit` bytes.
    fn get(&self, path: &str, query: &[(&str, String)], limit: usize) -> Result<Vec<u8>, CliError> {
        let mut body = Vec::new();
        match self.get_into(path, query, &mut body, limit)? {
            Got::Whole => Ok(body),
            Got::Cut => Err(CliError::Usage(format!(
                "the log's answer to {path} is longer than {} KiB, more than any honest answer",
                limit >> 10
            ))),
            Got::Missing => Err(refused(404, path, &body)),
        }
    }

    /// As [`Connection::get`], into `body` (cleared first: a buffer handed back for reuse),
    /// reading at most `limit` bytes ([`Got::Cut`] beyond), and [`Got::Missing`] when the log
    /// answers 404: for an entry tile, one it does not store; what else a 404 means is the
    /// caller's to say.
    fn get_into(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &mut Vec<u8>,
        limit: usize,
    ) -> Result<Got, CliError> {
        let mut url = format!("{}{path}", self.base.trim_end_matches('/'));
        let mut params: Vec<(&str, String)> = query.to_vec();
        params.push(("chain", self.chain.clone()));
        for (i, (name, value)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(value);
        }
        let unreachable = |e: ureq::Error| CliError::Usage(format!("cannot reach the log at {url}: {e}"));
        let mut response = self
            .agent
            .get(&url)
            .header("authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let limit = if matches!(status, 200) { limit } else { PROBLEM_LIMIT };
        body.clear();
        // No room is reserved up front (most answers are far below the limit): the read grows
        // the buffer as it needs, and never past the limit and one byte, whatever the log sends.
        response
            .body_mut()
            .with_config()
            .reader()
            .take(limit as u64 + 1)
            .read_to_end(body)
            .map_err(|e| CliError::Usage(format!("cannot read the answer of {url}: {e}")))?;
        let cut = body.len() > limit;
        body.truncate(limit);
        match status {
            200 if cut => Ok(Got::Cut),
            200 => Ok(Got::Whole),
            404 => Ok(Got::Missing),
            _ => Err(refused(status, path, body)),
        }
    }
}

/// The log refused a request: its status and the problem's detail.
fn refused(status: u16, path: &str, body: &[u8]) -> CliError {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_default();
    CliError::Usage(format!(
        "the log answered {status} to {path}: {}",
        crate::terminal::one_line(&detail)
    ))
}

/// Buffers handed back once their answer is appended, for the next answers: a sync of a long
/// chain then reuses a few megabytes instead of faulting in fresh pages for every tile.
#[derive(Debug, Default)]
struct Buffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl Buffers {
    fn take(&self) -> Vec<u8> {
        self.0.lock().ok().and_then(|mut free| free.pop()).unwrap_or_default()
    }

    fn give(&self, buffer: Vec<u8>) {
        if let Ok(mut free) = self.0.lock()
            && free.len() < 4 * (AHEAD + 1)
        {
            free.push(buffer);
        }
    }
}

/// One answer to ask for: a page of entries, or a whole entry tile (FORMAT.md §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    Page { start: u64, limit: u64 },
    Tile { index: u64 },
}

impl Fetch {
    fn start(self) -> u64 {
        match self {
            Fetch::Page { start, .. } => start,
            Fetch::Tile { index } => index * ENTRY_TILE_WIDTH,
        }
    }
}

/// What to ask for to get entries `from … size − 1`: the full entry tiles among them whole,
/// the rest (up to the first tile, after the last) in pages of at most `page` entries.
fn plan(from: u64, size: u64, page: u64) -> Vec<Fetch> {
    let mut plan = Vec::new();
    let mut next = from;
    while next < size {
        let tile_end = (next / ENTRY_TILE_WIDTH + 1) * ENTRY_TILE_WIDTH;
        if next.is_multiple_of(ENTRY_TILE_WIDTH) && tile_end <= size {
            plan.push(Fetch::Tile {
                index: next / ENTRY_TILE_WIDTH,
            });
            next = tile_end;
        } else {
            let limit = page.min(tile_end.min(size) - next);
            plan.push(Fetch::Page { start: next, limit });
            next += limit;
        }
    }
    plan
}

/// One entry as the fetching thread checked it on its own (its bytes, canonical form and
/// hash); what depends on its predecessor is checked in order by [`fetch_entries`].
#[derive(Debug)]
struct Parsed {
    seq: u64,
    prev: Hash,
    hash: Hash,
    hash_ok: bool,
    /// The chain the entry names, when it is not the one synced.
    foreign: Option<String>,
    version: Version,
    /// `at` (FORMAT.md §2: always 24 bytes), without an allocation per entry.
    at: [u8; 24],
    leaf: Hash,
}

/// One line of an answer: where it ends in the body (after its newline), and what it is.
type Line = (usize, Result<Parsed, (FailureKind, String)>);

/// An answer, fetched and checked entry by entry.
#[derive(Debug)]
struct Fetched {
    /// The first seq it was asked for.
    start: u64,
    /// Entry lines, each ended by `\n`: what is appended to `entries.jsonl`.
    body: Vec<u8>,
    /// Its lines, or what makes the body unreadable.
    lines: Result<Vec<Line>, (FailureKind, String)>,
}

/// Fetch one answer and check its entries. A tile the log does not store, or one larger than
/// [`ANSWER_LIMIT`] compressed or not, is read as pages; `requests` counts what was asked.
fn fetch(
    conn: &Connection,
    what: Fetch,
    page: u64,
    chain: &str,
    requests: &AtomicU64,
    buffers: &Buffers,
) -> Result<Fetched, CliError> {
    let mut body = buffers.take();
    body.clear();
    let mut got = buffers.take();
    let mut pages = |start: u64, end: u64, body: &mut Vec<u8>| -> Result<(), CliError> {
        let mut next = start;
        while next < end {
            let limit = page.min(end - next);
            requests.fetch_add(1, Ordering::Relaxed);
            let query = [("start", next.to_string()), ("limit", limit.to_string())];
            // One answer's body stays within the limit however many pages it takes (at least
            // one whole line of room: every page makes progress).
            let room = ANSWER_LIMIT.saturating_sub(body.len()).max(LINE_LIMIT);
            match conn.get_into("/ledger/entries", &query, &mut got, room)? {
                Got::Missing => return Err(refused(404, "/ledger/entries", &got)),
                Got::Cut => {
                    // Longer than any honest page: keep its whole lines (a short page; the
                    // rest is asked for again). Without one whole line within the bound it
                    // is kept as it is, and refused as a line longer than 1 MiB.
                    if let Some(last) = memchr::memrchr(b'\n', &got) {
                        got.truncate(last + 1);
                    }
                    body.extend_from_slice(&got);
                    break;
                }
                Got::Whole => {}
            }
            let served = memchr::memchr_iter(b'\n', &got).count() as u64;
            body.extend_from_slice(&got);
            if served < limit || body.len() >= ANSWER_LIMIT {
                // A short page (or enough for one answer): what follows is judged from here,
                // as the log served it.
                break;
            }
            next += limit;
        }
        Ok(())
    };
    let start = what.start();
    let expected = match what {
        Fetch::Page { start, limit } => {
            pages(start, start + limit, &mut body)?;
            limit
        }
        Fetch::Tile { index } => {
            requests.fetch_add(1, Ordering::Relaxed);
            let mut frame = buffers.take();
            let path = format!("/ledger/entry-tiles/{index}");
            let served = conn.get_into(&path, &[], &mut frame, ANSWER_LIMIT)?;
            let decoded = match served {
                Got::Whole => Some(ledger::entry_tiles::decode_within(
                    &frame,
                    ANSWER_LIMIT as u64,
                    &mut body,
                )),
                Got::Cut | Got::Missing => None,
            };
            buffers.give(frame);
            match decoded {
                Some(Ok(())) => {}
                Some(Err(ledger::entry_tiles::TileDecodeError::Frame(e))) => {
                    return Ok(Fetched {
                        start,
                        body,
                        lines: Err((FailureKind::Malformed, format!("entry tile {index}: {e}"))),
                    });
                }
                // Not stored, or larger than an answer may be: the same entries by page.
                Some(Err(ledger::entry_tiles::TileDecodeError::TooLarge)) | None => {
                    body.clear();
                    pages(start, start + ENTRY_TILE_WIDTH, &mut body)?;
                }
            }
            ENTRY_TILE_WIDTH
        }
    };
    buffers.give(got);
    let lines = check_body(&body, chain, expected);
    Ok(Fetched { start, body, lines })
}

/// Check an answer's lines each on its own: at most `expected` (what was asked for; more are
/// not read), and none after the first that fails (nothing after it can be kept), so the
/// list is bounded by the answer, not by what the log put in it.
fn check_body(body: &[u8], chain: &str, expected: u64) -> Result<Vec<Line>, (FailureKind, String)> {
    let capacity = usize::try_from(expected.min(ENTRY_TILE_WIDTH)).unwrap_or(0);
    let mut lines: Vec<Line> = Vec::with_capacity(capacity);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', body) {
        if lines.len() as u64 == expected {
            return Ok(lines);
        }
        let line = &body[start..end];
        if line.len() > ledger::entry::MAX_LINE_BYTES {
            lines.push((
                end + 1,
                Err((FailureKind::Malformed, "a line is longer than 1 MiB".to_owned())),
            ));
            return Ok(lines);
        }
        let parsed = EntryRef::parse(line)
            .map(|entry| {
                let mut at = [0u8; 24];
                let len = entry.at.len().min(24);
                at[..len].copy_from_slice(&entry.at.as_bytes()[..len]);
                Parsed {
                    seq: entry.seq,
                    prev: entry.prev,
                    hash: entry.hash,
                    hash_ok: entry.computed_hash() == entry.hash,
                    foreign: (entry.chain != chain).then(|| entry.chain.to_owned()),
                    version: entry.version,
                    at,
                    leaf: leaf_hash(entry.hash.as_bytes()),
                }
            })
            .map_err(|e| (FailureKind::of_format(&e), e.to_string()));
        let bad = parsed.is_err();
        lines.push((end + 1, parsed));
        if bad {
            return Ok(lines);
        }
        start = end + 1;
    }
    if (lines.len() as u64) < expected && start < body.len() {
        return Err((
            FailureKind::Malformed,
            if body.len() - start > ledger::entry::MAX_LINE_BYTES {
                "a line is longer than 1 MiB".to_owned()
            } else {
                "the answer's last line has no newline".to_owned()
            },
        ));
    }
    Ok(lines)
}

/// How many threads fetch and check answers ahead of the one that links them. With two, the
/// log and the checks took turns (both threads asked, then both checked); with four, the log
/// answers some while others are checked (measured: 100,000 entries 5–10 % faster than 2–3).
const AHEAD: usize = 4;

/// Appended bytes between the writing thread's requests to flush `entries.jsonl`.
const FLUSH_EVERY: usize = 8 << 20;

/// One checked answer for the writing thread: the body (its first `len` bytes are appended to
/// `entries.jsonl`, then the buffer is handed back) and its entries' hashes (`hashes.bin`).
struct Append {
    body: Vec<u8>,
    len: usize,
    hashes: Vec<u8>,
}

/// Append each checked answer to the copy, off the thread that links entries: blocks
/// reserved first; every [`FLUSH_EVERY`] bytes `flush` is asked (without waiting) to flush
/// what was written so far, so that the final `fsync` waits only for the last of it. Stops at
/// the first error, which the caller gets when it joins.
fn write_appends(
    appends: std::sync::mpsc::Receiver<Append>,
    (mut entries, mut hashes): (std::fs::File, std::fs::File),
    mut offset: u64,
    flush: std::sync::mpsc::SyncSender<()>,
    buffers: &Buffers,
) -> Result<(), (&'static str, std::io::Error)> {
    let mut unflushed = 0usize;
    for append in appends {
        preallocate(&entries, offset, append.len as u64);
        entries
            .write_all(&append.body[..append.len])
            .map_err(|e| ("entries.jsonl", e))?;
        hashes.write_all(&append.hashes).map_err(|e| ("hashes.bin", e))?;
        offset += append.len as u64;
        unflushed += append.len;
        buffers.give(append.body);
        if unflushed >= FLUSH_EVERY && flush.try_send(()).is_ok() {
            unflushed = 0;
        }
    }
    Ok(())
}

/// The answers of a plan, fetched and checked ahead and handed over in order. The pages after
/// the last full tile (slow to serve: one stored item per entry) have a thread of their own
/// that asks for them first; the rest are spread over [`AHEAD`] threads (the `i`-th by thread
/// `i mod AHEAD`). Each thread holds at most two answers (one it fetched, one it is fetching),
/// so memory stays bounded; when this is dropped the threads stop at their next answer.
struct Ahead {
    lanes: Vec<std::sync::mpsc::Receiver<Result<Fetched, CliError>>>,
    /// The lane of each answer of the plan, in order.
    order: Vec<usize>,
    taken: usize,
}

impl Ahead {
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        conn: &Connection,
        plan: &'scope [Fetch],
        page: u64,
        chain: &'scope str,
        requests: &'scope AtomicU64,
        buffers: &'scope Buffers,
    ) -> Self {
        let tail = plan
            .iter()
            .rposition(|f| matches!(f, Fetch::Tile { .. }))
            .map_or(plan.len(), |last_tile| last_tile + 1);
        let order: Vec<usize> = (0..plan.len())
            .map(|i| if i >= tail { AHEAD } else { i % AHEAD })
            .collect();
        let lanes = (0..=AHEAD)
            .map(|lane| {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let conn = conn.clone();
                let mine: Vec<Fetch> = plan
                    .iter()
                    .zip(&order)
                    .filter(|(_, l)| **l == lane)
                    .map(|(f, _)| *f)
                    .collect();
                scope.spawn(move || {
                    for what in mine {
                        let fetched = fetch(&conn, what, page, chain, requests, buffers);
                        let failed = fetched.is_err();
                        if tx.send(fetched).is_err() || failed {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        Self { lanes, order, taken: 0 }
    }

    /// The answer that starts at `next`, if it is the next one fetched; `None` otherwise (the
    /// previous answer was short) or when the threads have stopped.
    fn take(&mut self, next: u64) -> Option<Result<Fetched, CliError>> {
        let lane = *self.order.get(self.taken)?;
        let fetched = self.lanes.get(lane)?.recv().ok()?;
        self.taken += 1;
        match fetched {
            Ok(f) if f.start != next => None,
            other => Some(other),
        }
    }
}

fn failure(kind: FailureKind, chain: &str, seq: Option<u64>, message: String) -> Failure {
    Failure {
        kind,
        chain: Some(chain.to_owned()),
        seq,
        line: None,
        message,
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    let io = |source| CliError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reserve the blocks an append is about to fill: on Linux one allocation for the run
/// instead of a delayed allocation per page (measured: a third less kernel time writing).
/// Where the file system cannot, the write allocates as usual.
fn preallocate(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    if len > 0 {
        let _ = rustix::fs::fallocate(file, rustix::fs::FallocateFlags::KEEP_SIZE, offset, len);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

fn open_append(path: &Path, keep: u64) -> Result<std::fs::File, CliError> {
    let io = |source| CliError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    // A run cut off after appending but before saving the state left a tail: drop it.
    file.set_len(keep).map_err(io)?;
    file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
    Ok(file)
}

/// `ledger sync`.
pub fn run(args: SyncArgs) -> Result<Outcome, CliError> {
    if !(1..=PAGE).contains(&args.page) {
        return Err(CliError::Usage(format!(
            "--page-size is 1 to {PAGE} (the API's largest page), not {}",
            args.page
        )));
    }
    let keys = load_keys(&args.keys, "--key")?;
    let receipt_keys = load_keys(&args.receipt_keys, "--receipt-key")?;
    for dir in [args.state.join("checkpoints"), args.state.join("receipts")] {
        std::fs::create_dir_all(&dir).map_err(|source| CliError::Io { path: dir, source })?;
    }
    let state_path = args.state.join("state.json");
    let kept: Option<State> = match std::fs::read_to_string(&state_path) {
        Ok(text) => Some(serde_json::from_str(&text).map_err(|e| CliError::Input {
            path: state_path.clone(),
            message: format!("not a ledger sync state: {e}"),
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(CliError::Io {
                path: state_path,
                source,
            });
        }
    };
    let log = match (&kept, &args.log) {
        (Some(state), Some(given)) if state.log != *given => {
            return Err(CliError::Usage(format!(
                "--log {given}: this state directory keeps the log {}",
                state.log
            )));
        }
        (Some(state), _) => parse_log(&state.log)?,
        (None, Some(given)) => parse_log(given)?,
        (None, None) => {
            return Err(CliError::Usage(
                "--log <log name> is required for the first sync: it pins which log this directory monitors".into(),
            ));
        }
    };
    // The chain is pinned as the log is: from the first sync on, this directory monitors
    // exactly one chain, whatever the log serves.
    let chain = match (&kept, &args.chain) {
        (Some(state), Some(given)) if state.chain != *given => {
            return Err(CliError::Usage(format!(
                "--chain {given}: this state directory keeps the chain {}",
                state.chain
            )));
        }
        (Some(state), _) => chain_arg(&state.chain)?,
        (None, Some(given)) => given.clone(),
        (None, None) => {
            return Err(CliError::Usage(
                "--chain <your partner id> is required for the first sync: it pins which chain this directory monitors"
                    .into(),
            ));
        }
    };
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let before = kept.clone().unwrap_or_else(|| State::empty(&log, &chain));

    // 1-3. The log's latest checkpoint, proven to extend the one kept, and its new entries.
    let synced = sync_log(&args, &keys, &log, &chain, kept, now);
    let (judged_by, synced) = match synced {
        Ok(Ok(synced)) => (synced.state.clone(), Ok(synced)),
        Ok(Err(failure)) => return Ok(tampered(&failure, args.json)),
        // The log withheld or failed: the receipts are judged by what is kept.
        Err(e) => (before, Err(e)),
    };

    // 4. Every receipt: covered and equal, or still within its merge deadline.
    let verdicts = match check_receipts(&args.state, &receipt_keys, &log, &judged_by, now)? {
        Ok(v) => v,
        Err(mut f) => {
            if let Err(e) = &synced {
                f.message = format!("{} (and the log did not answer: {e})", f.message);
            }
            return Ok(tampered(&f, args.json));
        }
    };
    let synced = synced?;
    let skipped: Vec<Value> = verdicts
        .skipped
        .iter()
        .take(20)
        .map(|(file, reason)| json!({ "file": file, "reason": reason }))
        .collect();
    let value = json!({
        "valid": true,
        "origin": synced.checkpoint.origin,
        "size": synced.checkpoint.size,
        "previousSize": synced.previous_size,
        "newEntries": synced.new_entries,
        "requests": synced.requests,
        "witnessedBy": synced.witnessed_by,
        "receipts": {
            "kept": verdicts.kept,
            "pending": verdicts.pending,
            "skipped": verdicts.skipped.len(),
            "skippedFiles": skipped,
        },
    });
    if args.json {
        return Ok(Outcome::json(Exit::Ok, &value));
    }
    let mut text = format!(
        "OK: {} at size {} (was {}), {} new entries verified; receipts: {} kept, {} pending; {} requests\n",
        synced.checkpoint.origin,
        synced.checkpoint.size,
        synced.previous_size,
        synced.new_entries,
        verdicts.kept,
        verdicts.pending,
        synced.requests
    );
    for (file, reason) in verdicts.skipped.iter().take(20) {
        text.push_str(&format!("  skipped {file}: {reason}\n"));
    }
    if verdicts.skipped.len() > 20 {
        text.push_str(&format!("  … and {} more files skipped\n", verdicts.skipped.len() - 20));
    }
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: text,
    })
}

/// What one sync with the log did.
#[derive(Debug)]
struct Synced {
    checkpoint: Checkpoint,
    previous_size: u64,
    new_entries: u64,
    requests: u64,
    state: State,
    witnessed_by: Vec<String>,
}

/// Steps 1-3 of a sync: `Err` when the log could not be asked or answered unusably (exit 2),
/// `Ok(Err(failure))` when what it answered is evidence of tampering.
fn sync_log(
    args: &SyncArgs,
    keys: &TrustedKeys,
    log: &LogName,
    chain: &str,
    kept: Option<State>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<Synced, Failure>, CliError> {
    let state_path = args.state.join("state.json");
    let token = read_limited(&args.token_file, crate::commands::limits::TOKEN)?
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err(CliError::Usage(format!("{}: empty token", args.token_file.display())));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        // Timeouts per phase, none on name resolution: with one, ureq resolves every request
        // on a thread of its own (the system resolver keeps its own timeouts).
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_send_request(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        // An entry tile's answer is a redirect to a presigned link to the tile bucket: follow
        // it, and never send the token there (the link is its own authority).
        .max_redirects(2)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .build()
        .into();
    let mut api = Api {
        conn: Connection {
            agent,
            base: args.api.clone(),
            token,
            chain: chain.to_owned(),
        },
        requests: 0,
    };

    // 1. The latest checkpoint, signed and of the pinned log and chain.
    let note_bytes = api.get("/ledger/checkpoint", &[], NOTE_LIMIT)?;
    let note = String::from_utf8(note_bytes).map_err(|_| CliError::Usage("the checkpoint is not UTF-8".into()))?;
    let (checkpoint, _) = match Checkpoint::open_pinned(&note, keys, log) {
        Ok(opened) => opened,
        Err(e) => {
            return Ok(Err(Failure {
                kind: FailureKind::of_note(&e),
                chain: None,
                seq: None,
                line: None,
                message: format!("the log's latest checkpoint: {e}"),
            }));
        }
    };
    let served = checkpoint.chain().map(|c| c.to_string()).unwrap_or_default();
    let witnessed_by = match &args.witnesses {
        Some(policy) => match policy.check(&note) {
            Ok(cosigned) => cosigned.into_iter().map(|c| c.witness).collect(),
            Err(e) => {
                return Ok(Err(crate::commands::unwitnessed(
                    &e,
                    Some(served),
                    "the log's latest checkpoint",
                )));
            }
        },
        None => Vec::new(),
    };
    if served != chain {
        return Ok(Err(failure(
            FailureKind::ForeignEntry,
            chain,
            None,
            format!("the log served a checkpoint of chain {served}; this directory monitors chain {chain}"),
        )));
    }
    let (kept_size, kept_root) = match &kept {
        Some(s) => (
            s.size,
            Hash::from_base64(&s.root).ok_or_else(|| CliError::Input {
                path: state_path.clone(),
                message: "bad root".into(),
            })?,
        ),
        None => (0, ledger::merkle::empty_root()),
    };
    let kept_name = format!("checkpoints/{kept_size}.note");
    let new_name = format!("the log's latest checkpoint (size {})", checkpoint.size);

    // 2. The new checkpoint must extend the one kept.
    if checkpoint.size < kept_size {
        return Ok(Err(failure(
            FailureKind::Truncated,
            chain,
            Some(checkpoint.size),
            format!("rollback: {new_name} is smaller than the one you kept, {kept_name}"),
        )));
    }
    let mut new_entries = 0u64;
    let mut state = kept.unwrap_or_else(|| State::empty(log, chain));
    if checkpoint.size == kept_size {
        if checkpoint.root != kept_root {
            return Ok(Err(failure(
                FailureKind::Fork,
                chain,
                None,
                format!("fork: {new_name} and {kept_name} have the same size but different roots"),
            )));
        }
        // Nothing new: spot-check that the log still serves the last entry you hold, as it is
        // (its hash recomputed, not only claimed).
        if kept_size > 0 {
            let served = api.get(
                "/ledger/entries",
                &[("start", (kept_size - 1).to_string()), ("limit", "1".into())],
                LINE_LIMIT,
            )?;
            let line = served.strip_suffix(b"\n").unwrap_or(&served);
            let same = EntryRef::parse(line).is_ok_and(|e| {
                e.hash.to_hex() == state.last_hash
                    && e.computed_hash() == e.hash
                    && e.seq == kept_size - 1
                    && e.chain == chain
            });
            if !same {
                return Ok(Err(failure(
                    FailureKind::Modified,
                    chain,
                    Some(kept_size - 1),
                    format!(
                        "the log no longer serves the entry seq {} you hold (covered by {kept_name}): its history was rewritten or cut",
                        kept_size - 1
                    ),
                )));
            }
        }
    } else {
        if kept_size > 0 {
            let body = api.get(
                "/ledger/proofs/consistency",
                &[("from", kept_size.to_string()), ("to", checkpoint.size.to_string())],
                PROOF_LIMIT,
            )?;
            let proof: Vec<Hash> = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| {
                    v["proof"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|h| h.as_str().and_then(Hash::from_base64))
                            .collect()
                    })
                })
                .ok_or_else(|| CliError::Usage("the consistency proof is not readable".into()))?;
            if let Err(e) = verify_consistency(
                TreeSize(kept_size),
                TreeSize(checkpoint.size),
                kept_root.as_bytes(),
                checkpoint.root.as_bytes(),
                &proof,
            ) {
                return Ok(Err(failure(
                    FailureKind::Fork,
                    chain,
                    None,
                    format!("fork: {new_name} does not extend {kept_name}: {e}"),
                )));
            }
        }
        // 3. Only the new entries, checked link by link and against the new root.
        match fetch_entries(
            &mut api,
            &args.state,
            &mut state,
            chain,
            &checkpoint,
            args.page,
            &ledger::entry::latest_believable(&now, ledger::entry::MAX_VERIFIER_SKEW_SECONDS),
        )? {
            Ok(n) => new_entries = n,
            Err(f) => return Ok(Err(f)),
        }
    }
    let io = |path: PathBuf| move |source| CliError::Io { path, source };
    let kept_path = args.state.join(format!("checkpoints/{}.note", checkpoint.size));
    std::fs::write(&kept_path, &note).map_err(io(kept_path.clone()))?;
    write_atomically(&args.state.join("checkpoint.note"), note.as_bytes())?;
    state.root = checkpoint.root.to_base64();
    let text = serde_json::to_string_pretty(&state).unwrap_or_default();
    write_atomically(&state_path, format!("{text}\n").as_bytes())?;
    Ok(Ok(Synced {
        checkpoint,
        previous_size: kept_size,
        new_entries,
        requests: api.requests,
        state,
        witnessed_by,
    }))
}

/// Fetch entries `state.size … size − 1`, check them, append them; `Err(failure)` if the
/// log serves anything that does not verify.
fn fetch_entries(
    api: &mut Api,
    dir: &Path,
    state: &mut State,
    chain: &str,
    checkpoint: &Checkpoint,
    page: u64,
    latest: &[u8; 24],
) -> Result<Result<u64, Failure>, CliError> {
    let (size, root) = (checkpoint.size, &checkpoint.root);
    let bad_state = |m: &str| CliError::Input {
        path: dir.join("state.json"),
        message: m.to_owned(),
    };
    let nodes = state
        .frontier
        .iter()
        .map(|h| Hash::from_hex(h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad_state("bad frontier"))?;
    let mut frontier = Frontier::from_parts(state.size, nodes).map_err(|_| bad_state("bad frontier"))?;
    let mut last_hash = Hash::from_hex(&state.last_hash).ok_or_else(|| bad_state("bad last hash"))?;
    let mut last_at = state.last_at.clone().unwrap_or_default().into_bytes();
    let mut version = if state.version == 2 { Version::V2 } else { Version::V1 };
    let entries_file = open_append(&dir.join("entries.jsonl"), state.entries_bytes)?;
    let hashes_file = open_append(&dir.join("hashes.bin"), state.size * 32)?;
    let bar = (std::io::stderr().is_terminal() && size - state.size > 10 * PAGE).then(|| {
        let bar = indicatif::ProgressBar::new(size - state.size);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries {per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let start_size = state.size;
    let kept_bytes = state.entries_bytes;
    let mut next = state.size;
    let write_err = |path: &str| {
        let path = dir.join(path);
        move |source| CliError::Io { path, source }
    };
    // Answers are fetched and their entries checked ahead, on threads of their own, while
    // this one links them in order, appends them and extends the tree.
    let requests = AtomicU64::new(0);
    let plan = plan(next, size, page);
    let buffers = Buffers::default();
    // What checks out is appended by a thread of its own (write_appends) as it comes, and
    // flushed to disk by another, so that neither holds up the linking.
    let writing = (
        entries_file.try_clone().map_err(write_err("entries.jsonl"))?,
        hashes_file.try_clone().map_err(write_err("hashes.bin"))?,
    );
    let flushing = entries_file.try_clone().map_err(write_err("entries.jsonl"))?;
    let outcome = std::thread::scope(|scope| -> Result<Result<(), Failure>, CliError> {
        let mut ahead = Some(Ahead::start(scope, &api.conn, &plan, page, chain, &requests, &buffers));
        let (flush, flush_requests) = std::sync::mpsc::sync_channel::<()>(1);
        scope.spawn(move || {
            for () in flush_requests {
                // Errors surface at the final sync_all.
                let _ = flushing.sync_data();
            }
        });
        let (append, appends) = std::sync::mpsc::sync_channel::<Append>(2);
        let buffers = &buffers;
        let writer = scope.spawn(move || write_appends(appends, writing, kept_bytes, flush, buffers));
        while next < size {
            let fetched = match ahead.as_mut().and_then(|a| a.take(next)) {
                Some(fetched) => fetched?,
                // A short answer (the log holds fewer entries than it signed): ask from where
                // it stopped, one page at a time, as the checks below expect.
                None => {
                    ahead = None;
                    let what = Fetch::Page {
                        start: next,
                        limit: page.min(size - next),
                    };
                    fetch(&api.conn, what, page, chain, &requests, buffers)?
                }
            };
            let lines = match fetched.lines {
                Ok(lines) => lines,
                Err((kind, message)) => return Ok(Err(failure(kind, chain, Some(next), message))),
            };
            let before = next;
            let mut written = 0;
            let mut page_hashes: Vec<u8> = Vec::with_capacity(lines.len() * 32);
            for (end, parsed) in lines {
                if next >= size {
                    break;
                }
                let entry = match parsed {
                    Ok(entry) => entry,
                    Err((kind, message)) => return Ok(Err(failure(kind, chain, Some(next), message))),
                };
                let problem = if !entry.hash_ok {
                    Some((
                        FailureKind::Modified,
                        "the entry's bytes do not match its hash".to_owned(),
                    ))
                } else if let Some(other) = &entry.foreign {
                    Some((FailureKind::ForeignEntry, format!("an entry of chain {other}")))
                } else if entry.seq != next {
                    Some((
                        FailureKind::Deleted,
                        format!("expected seq {next}, the log served {}", entry.seq),
                    ))
                } else if entry.prev != last_hash {
                    Some((
                        FailureKind::Modified,
                        if next == start_size && next > 0 {
                            format!(
                                "seq {next} does not link to the entry seq {} you hold: the history you kept was rewritten",
                                next - 1
                            )
                        } else {
                            format!("seq {next} does not link to its predecessor")
                        },
                    ))
                } else if entry.version < version {
                    Some((FailureKind::Malformed, "a v1 entry after a v2 entry".to_owned()))
                } else if next > 0 && entry.at[..] < last_at[..] {
                    Some((
                        FailureKind::TimeReversed,
                        "the entry's time is before its predecessor's".to_owned(),
                    ))
                } else if entry.at[..] > latest[..] {
                    Some((
                        FailureKind::FutureTime,
                        format!(
                            "the entry's time {} is ahead of this clock by more than {} s: a time from the future",
                            String::from_utf8_lossy(&entry.at),
                            ledger::entry::MAX_VERIFIER_SKEW_SECONDS
                        ),
                    ))
                } else {
                    None
                };
                if let Some((kind, message)) = problem {
                    return Ok(Err(failure(kind, chain, Some(next), message)));
                }
                frontier.push(entry.leaf);
                last_hash = entry.hash;
                last_at.clear();
                last_at.extend_from_slice(&entry.at);
                version = entry.version;
                page_hashes.extend_from_slice(entry.hash.as_bytes());
                written = end;
                next += 1;
            }
            if next == before {
                return Ok(Err(failure(
                    FailureKind::Truncated,
                    chain,
                    Some(next),
                    format!("the log signed a checkpoint of size {size} but serves no entry seq {next}"),
                )));
            }
            let appended = append.send(Append {
                body: fetched.body,
                len: written,
                hashes: page_hashes,
            });
            if appended.is_err() {
                // The writer stopped at an error: it is the one to report.
                break;
            }
            if let Some(bar) = &bar {
                bar.set_position(next - start_size);
            }
            // Kept only once the root is checked below.
            state.entries_bytes += written as u64;
        }
        drop(append);
        match writer.join() {
            Ok(Ok(())) => Ok(Ok(())),
            Ok(Err((file, source))) => Err(CliError::Io {
                path: dir.join(file),
                source,
            }),
            Err(_) => Err(CliError::Usage("the thread writing the copy failed".into())),
        }
    });
    api.requests += requests.into_inner();
    // What was appended is kept only if it all checks out: otherwise cut it off again.
    let discard = |f: Failure| -> Result<Result<u64, Failure>, CliError> {
        entries_file.set_len(kept_bytes).map_err(write_err("entries.jsonl"))?;
        hashes_file.set_len(start_size * 32).map_err(write_err("hashes.bin"))?;
        Ok(Err(f))
    };
    if let Err(f) = outcome? {
        return discard(f);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if frontier.root() != *root {
        return discard(failure(
            FailureKind::Fork,
            chain,
            None,
            format!("the entries the log serves do not hash to the root of its checkpoint of size {size}"),
        ));
    }
    entries_file.sync_all().map_err(write_err("entries.jsonl"))?;
    hashes_file.sync_all().map_err(write_err("hashes.bin"))?;
    state.size = size;
    state.last_hash = last_hash.to_hex();
    state.last_at = (!last_at.is_empty()).then(|| String::from_utf8_lossy(&last_at).into_owned());
    state.version = version.number();
    state.frontier = frontier.nodes().iter().map(Hash::to_hex).collect();
    Ok(Ok(size - start_size))
}

#[derive(Debug, Default)]
struct Verdicts {
    kept: u64,
    pending: u64,
    /// Files in `receipts/` that are not receipts: (name, why), reported and left alone.
    skipped: Vec<(String, String)>,
}

/// Judge every receipt in `receipts/` by `state` (what the log proved, or what was kept when
/// it did not answer): covered and equal, or still within its merge deadline. Read one at a
/// time: memory does not grow with their number.
fn check_receipts(
    dir: &Path,
    keys: &TrustedKeys,
    log: &LogName,
    state: &State,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<Verdicts, Failure>, CliError> {
    let mut verdicts = Verdicts::default();
    let receipts = dir.join("receipts");
    let listing = std::fs::read_dir(&receipts).map_err(|source| CliError::Io {
        path: receipts.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut hashes = std::fs::File::open(dir.join("hashes.bin")).ok();
    for path in files {
        let name = crate::terminal::one_line(&path.strip_prefix(dir).unwrap_or(&path).display().to_string());
        // A file that means to be a receipt and does not read as one is evidence (the log may
        // have handed out a receipt nobody can check); anything else is clutter, skipped.
        let limit = crate::commands::limits::NOTE;
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(|source| CliError::Io {
                path: path.clone(),
                source,
            })?;
        let meant = ledger::receipt::looks_like_receipt(&bytes);
        let text = match String::from_utf8(bytes) {
            Ok(text) if (text.len() as u64) <= limit => Some(text),
            _ => None,
        };
        if text.as_deref().and_then(ledger::KeptReceipt::parse).is_none() {
            if meant {
                return Ok(Err(Failure {
                    kind: FailureKind::Malformed,
                    chain: Some(state.chain.clone()),
                    seq: None,
                    line: None,
                    message: format!(
                        "{name}: meant as a receipt, but not one that can be checked (its signed note, the note as a JSON string, or the receipt object exactly as the API returns it, at most {} KiB)",
                        limit >> 10
                    ),
                }));
            }
            verdicts.skipped.push((
                name,
                "not a receipt (neither a signed ledgerdesk-receipt/v1 note nor the receipt object the API returns)"
                    .into(),
            ));
            continue;
        }
        let text = text.unwrap_or_default();
        let receipt: Receipt = match open_receipt(&text, &name, keys, log, &now) {
            Ok(r) => r,
            Err(f) => return Ok(Err(f)),
        };
        if receipt.chain.as_str() != state.chain {
            return Ok(Err(failure(
                FailureKind::ForeignEntry,
                receipt.chain.as_str(),
                Some(receipt.seq),
                format!(
                    "{name}: a receipt of chain {}, but this directory monitors chain {}: the entry it promises is not in the history you hold",
                    receipt.chain, state.chain
                ),
            )));
        }
        if receipt.seq < state.size {
            let mut hash = [0u8; 32];
            let held = hashes.as_mut().is_some_and(|f| {
                f.seek(std::io::SeekFrom::Start(receipt.seq * 32)).is_ok() && f.read_exact(&mut hash).is_ok()
            });
            if held && Hash(hash) == receipt.entry_hash {
                verdicts.kept += 1;
            } else {
                return Ok(Err(failure(
                    FailureKind::BrokenPromise,
                    &state.chain,
                    Some(receipt.seq),
                    format!(
                        "{name}: the receipt promised entry {} at seq {}, but the checkpointed chain holds another entry there",
                        receipt.entry_hash.to_hex(),
                        receipt.seq
                    ),
                )));
            }
        } else if receipt.deadline().is_some_and(|d| now > d) {
            return Ok(Err(failure(
                FailureKind::BrokenPromise,
                &state.chain,
                Some(receipt.seq),
                format!(
                    "{name}: no checkpoint covers seq {} though its merge deadline {} has passed (latest checkpoint: size {})",
                    receipt.seq, receipt.merge_deadline, state.size
                ),
            )));
        } else {
            verdicts.pending += 1;
        }
    }
    Ok(Ok(verdicts))
}

/// Parse the chain id given to `--chain`.
pub fn chain_arg(text: &str) -> Result<String, CliError> {
    ChainId::parse(text)
        .map(|c| c.to_string())
        .map_err(|e| CliError::Usage(format!("--chain: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(start: u64, limit: u64) -> Fetch {
        Fetch::Page { start, limit }
    }

    #[test]
    fn full_tiles_are_fetched_whole_and_the_rest_by_page() {
        let tile = |index| Fetch::Tile { index };
        assert_eq!(plan(0, 2_201, 1_000), vec![tile(0), tile(1), page(2_048, 153)]);
        assert_eq!(plan(701, 2_201, 1_000), vec![page(701, 323), tile(1), page(2_048, 153)]);
        assert_eq!(plan(0, 1_023, 1_000), vec![page(0, 1_000), page(1_000, 23)]);
        assert_eq!(plan(1_024, 2_048, 10), vec![tile(1)]);
        assert_eq!(
            plan(1_000, 1_100, 40),
            vec![page(1_000, 24), page(1_024, 40), page(1_064, 36)]
        );
        assert!(plan(5, 5, 1_000).is_empty());
    }

    #[test]
    fn an_answer_is_split_and_each_entry_checked_on_its_own() {
        let (lines, _) = ledger::ChainHead::genesis(ChainId::parse("contoso").unwrap())
            .append(&chrono::Utc::now(), "created", &json!({"a": 1}))
            .map(|(entry, _)| (entry.line, ()))
            .unwrap();
        let mut body = format!("{lines}\n").into_bytes();
        let checked = check_body(&body, "contoso", 10).unwrap();
        assert_eq!(checked.len(), 1);
        let (end, entry) = &checked[0];
        assert_eq!(*end, body.len());
        let entry = entry.as_ref().unwrap();
        assert!(entry.hash_ok && entry.foreign.is_none() && entry.seq == 0);
        assert_eq!(
            check_body(&body, "fabrikam", 10).unwrap()[0]
                .1
                .as_ref()
                .unwrap()
                .foreign
                .as_deref(),
            Some("contoso")
        );
        body.extend_from_slice(b"{\"not\":\"an entry\"}\nunterminated");
        // Nothing after the first bad line is looked at (here: the unterminated one).
        let checked = check_body(&body, "contoso", 10).unwrap();
        assert_eq!(checked.len(), 2);
        assert!(checked[1].1.is_err());
        body.truncate(body.len() - "{\"not\":\"an entry\"}\nunterminated".len());
        body.extend_from_slice(b"unterminated");
        assert!(matches!(
            check_body(&body, "contoso", 10),
            Err((FailureKind::Malformed, _))
        ));
    }

    #[test]
    fn no_more_lines_are_read_than_were_asked_for() {
        // A hostile answer of millions of empty lines costs one entry: the first fails.
        let empty = vec![b'\n'; 1 << 20];
        let checked = check_body(&empty, "contoso", 1_000).unwrap();
        assert_eq!(checked.len(), 1);
        assert!(checked[0].1.is_err());
        // Good lines beyond what was asked for are not read.
        let head = ledger::ChainHead::genesis(ChainId::parse("contoso").unwrap());
        let (entry, _) = head.append(&chrono::Utc::now(), "created", &json!({})).unwrap();
        let body = format!("{}\n", entry.line).repeat(5).into_bytes();
        assert_eq!(check_body(&body, "contoso", 3).unwrap().len(), 3);
    }
}
