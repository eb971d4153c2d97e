//! `ledger witness`: a C2SP tlog-witness anyone can run — a partner for its own chain, an
//! auditor for every chain of a log (FORMAT.md §17).
//!
//! ```text
//! POST <prefix>/add-checkpoint        old <size>\n <proof lines> \n <checkpoint>
//!   200  the cosignature line(s)
//!   400  a malformed request     403  not signed by the log     404  an origin it does not know
//!   409  text/x.tlog.size: the size it cosigned last     422  a checkpoint that does not extend it
//! GET  <prefix>/<SHA-256(origin), hex>/checkpoint   the latest checkpoint it cosigned
//! ```
//!
//! Its state is a directory holding a log of what it cosigned (`cosigned.log`): per origin,
//! the latest checkpoint (with the log's signature and its cosignature) is the last record of
//! that origin. For each request the witness holds the origin's lock while it decides and —
//! only if it cosigns — appends the record and flushes it before it answers; records of
//! requests decided at once share one flush (group commit). A crash at any point leaves
//! either the old state, with nothing cosigned, or the new one. Two witness processes never
//! share a directory (an exclusive lock on it).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use ledger::witness::{AddCheckpoint, CosignerKey, Decision, Origins, TrustedLog, Witness, request_origin};
use ledger::{Checkpoint, Hash, LogName};
use sha2::{Digest, Sha256};

use crate::commands::{CliError, Outcome, load_keys, read_limited};

/// An `add-checkpoint` body: a note (at most 1 MiB), 63 proof lines and the old size.
const MAX_REQUEST: u64 = (1 << 20) + 64 * 64;

/// What `ledger witness` is given.
#[derive(Debug)]
pub struct WitnessArgs {
    /// The witness's private key (`ledger keygen --witness`).
    pub key: PathBuf,
    /// The log's checkpoint key(s).
    pub log_keys: Vec<PathBuf>,
    /// Exact origins to witness (`<log>/<chain>`).
    pub origins: Vec<String>,
    /// Logs whose every chain to witness.
    pub logs: Vec<String>,
    pub state: PathBuf,
    pub listen: String,
}

/// The most connections a witness serves at once (a thread each); past it a new one takes
/// the place of the one idle longest, or gets 503 with Retry-After if none is. A request must
/// arrive whole within 10 s, and an idle connection is closed after 30 s; still, a client
/// that holds many connections in the middle of a request ties up the witness: in the open,
/// run it behind a reverse proxy that bounds connections per client (FORMAT.md §17).
const MAX_CONNECTIONS: usize = 256;

/// How many locks the origins share (by their hash): a fixed number, so that requests for
/// ever new origins cannot grow the witness's memory.
const LOCK_STRIPES: usize = 64;

/// The state's log file, in the state directory.
const LOG_FILE: &str = "cosigned.log";

/// Every batch starts and ends on a multiple of this (padded): appending a batch never
/// rewrites a block that holds an earlier, flushed one, so a torn write cannot reach
/// records that were answered.
const BLOCK: usize = 4096;

/// Compact the log when it is larger than this plus twice what its latest records take.
const COMPACT_SLACK: usize = 16 << 20;

/// The zeros written (and flushed) ahead of the log's end, so that appending a batch
/// overwrites blocks the file already has: on a file system that overwrites in place (ext4,
/// XFS, NTFS) its flush then writes data alone. A batch that grows the file also changes its
/// size, and the flush must write that too, which costs about twice as much (FORMAT.md §17).
/// Past the zeros, the file grows to this much past the batch's end: about one flush in 256
/// pays it.
const PREALLOCATE: usize = 1 << 20;

/// A witness's memory: the latest checkpoint it cosigned per origin, and a lock per stripe
/// of origins.
///
/// What it cosigned is kept in an append-only log (`cosigned.log`, FORMAT.md §17) and in
/// memory (the latest per origin, only what is durable). A request is decided and, if
/// cosigned, its record made durable before it is answered, under its origin's lock: the
/// next request for that origin is decided on it. Records of requests decided at once are
/// appended and flushed together as one batch (group commit: one `fdatasync` per batch, not
/// two flushes per checkpoint). Batches are padded to whole blocks and each carries its
/// length and checksum, so that a crash can tear only the last batch — whose requests were
/// never answered — and damage anywhere else is found: on open, a torn last batch is dropped,
/// and any other damage stops the witness from starting. Then the state read is written
/// anew and flushed before anything is served.
#[derive(Debug)]
pub struct WitnessState {
    locks: [Mutex<()>; LOCK_STRIPES],
    log: StateLog,
    /// Held for the process's life: one witness per directory.
    _exclusive: Vec<std::fs::File>,
}

fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// The size and root of a kept note's checkpoint of `origin` (only the body is read: it is
/// what the witness decides by).
fn size_and_root(note: &str, origin: &str) -> Option<(u64, Hash)> {
    note.find("\n\n")
        .and_then(|end| Checkpoint::parse_text(&note[..=end]).ok())
        .filter(|c| c.origin == origin)
        .map(|c| (c.size, c.root))
}

/// `text` is `bytes` bytes in lowercase hex.
fn is_lower_hex(text: &str, bytes: usize) -> bool {
    text.len() == 2 * bytes && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A SHA-256 of an origin, as the witness names it (lowercase hex).
fn is_origin_hash(text: &str) -> bool {
    is_lower_hex(text, 32)
}

impl WitnessState {
    /// Open (creating) the state directory, lock it for this process, and read its log.
    /// State directories of earlier versions (a `<SHA-256(origin)>.checkpoint` file per
    /// origin) are taken over: their checkpoints are written to the log, then removed.
    pub fn open(dir: &Path) -> Result<Self, CliError> {
        let io = |source| CliError::Io {
            path: dir.to_owned(),
            source,
        };
        // Created for its owner alone: whoever can open it could also hold its lock.
        let mut create = std::fs::DirBuilder::new();
        create.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut create, 0o700);
        create.create(dir).map_err(io)?;
        // The locks: a `.lock` file in it (flock on Unix, LockFileEx elsewhere; what earlier
        // versions lock, so that none of them runs beside this one), and on Unix the directory
        // itself too, so that removing that file cannot free it. Two witnesses on one state
        // would each check against what they read and could cosign two histories.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(io)?;
        #[cfg(unix)]
        let held = vec![file, std::fs::File::open(dir).map_err(io)?];
        #[cfg(not(unix))]
        let held = vec![file];
        for lock in &held {
            lock.try_lock().map_err(|e| match e {
                std::fs::TryLockError::WouldBlock => CliError::Usage(format!(
                    "{}: another witness is using this state directory",
                    dir.display()
                )),
                std::fs::TryLockError::Error(source) => CliError::Usage(format!(
                    "{}: cannot lock the state directory ({source}); keep it on a local file system",
                    dir.display()
                )),
            })?;
        }
        Ok(Self {
            locks: std::array::from_fn(|_| Mutex::new(())),
            log: StateLog::open(dir).map_err(io)?,
            _exclusive: held,
        })
    }

    fn lock(&self, origin: &str) -> std::sync::MutexGuard<'_, ()> {
        let stripe = usize::from(Sha256::digest(origin.as_bytes())[0]) % LOCK_STRIPES;
        self.locks[stripe]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest checkpoint cosigned for the origin of this hash, as kept (with the
    /// cosignature).
    fn latest_note(&self, origin_hash: &str) -> std::io::Result<Option<String>> {
        self.log.latest(origin_hash)
    }

    /// The latest (size, root) cosigned for `origin`.
    fn latest(&self, origin: &str) -> std::io::Result<Option<(u64, Hash)>> {
        let Some(note) = self.latest_note(&origin_hash(origin))? else {
            return Ok(None);
        };
        size_and_root(&note, origin)
            .map(Some)
            .ok_or_else(|| std::io::Error::other("the witness's state for this origin is unreadable"))
    }

    /// Decide on one request under the origin's lock, and persist before answering.
    pub fn add_checkpoint(&self, witness: &Witness, request: &AddCheckpoint, now: u64) -> Decision {
        let Some(origin) = request_origin(&request.note).filter(|o| witness.trusts(o)) else {
            // Refused before any state is read (malformed: 400; unknown origin: 404).
            return witness.decide(request, None, now);
        };
        let _held = self.lock(&origin);
        let latest = match self.latest(&origin) {
            Ok(latest) => latest,
            Err(e) => {
                return Decision::Refuse {
                    status: 500,
                    reason: format!("the witness cannot read its state: {e}"),
                };
            }
        };
        let decision = witness.decide(request, latest, now);
        // The checkpoint it holds already, cosigned again (anyone may resubmit a served
        // one): nothing new to keep, so nothing is written.
        let known = |note: &str| size_and_root(note, &origin).is_some_and(|cosigned| Some(cosigned) == latest);
        if let Decision::Cosign { latest: note, .. } = &decision
            && !known(note)
            && let Err(e) = self.log.commit(origin_hash(&origin), note.clone())
        {
            return Decision::Refuse {
                status: 500,
                reason: format!("the witness cannot keep its state: {e}"),
            };
        }
        decision
    }
}

/// The witness's log of cosigned checkpoints, with group commit (FORMAT.md §17).
///
/// The file is a sequence of batches, each starting at a multiple of [`BLOCK`]: a header
/// `batch <length> <check> <offset>\n` (for the first, `base <length> <check> <log id>\n`), then
/// `length` bytes of records, then spaces up to the next multiple of [`BLOCK`]; then zeros
/// (preallocated, [`PREALLOCATE`]), which the next batch overwrites. A record is
/// `<SHA-256(origin), hex> <note, hex>\n`; the check (see [`check`]) is bound to the log's id
/// and the batch's offset.
#[derive(Debug)]
struct StateLog {
    dir: PathBuf,
    /// Compact when the log is larger than this plus twice its latest records.
    slack: usize,
    /// Written only by the one thread that flushes (see `Appends::flushing`).
    file: Mutex<LogFile>,
    appends: Mutex<Appends>,
    flushed: Condvar,
}

#[derive(Debug, Default)]
struct Appends {
    /// The latest durable checkpoint per origin hash.
    latest: HashMap<String, String>,
    /// Records waiting for the next flush.
    pending: Vec<(String, String)>,
    /// Records ever queued, and how many of them are durable (they are flushed in order).
    queued: u64,
    durable: u64,
    /// A thread is writing and flushing a batch.
    flushing: bool,
    /// A write or flush failed: what the file holds is unknown, so nothing more is cosigned
    /// until the witness is restarted (and reads its log again).
    failed: bool,
    /// The log's length: where the next batch goes (zeros from there to the file's end, unless
    /// a write failed: then `failed` stops every write).
    bytes: usize,
}

/// The log's file, its length (the log's own and the zeros after it) and the log's id.
#[derive(Debug)]
struct LogFile {
    file: std::fs::File,
    allocated: u64,
    id: String,
}

impl LogFile {
    /// Write `batch` at `at` (the log's end) and flush it. Past the zeros preallocated, the
    /// file first grows by more zeros, flushed with the batch.
    fn append(&mut self, batch: &[u8], at: u64) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let end = at + batch.len() as u64;
        if end > self.allocated {
            self.file.seek(SeekFrom::Start(end))?;
            self.file.write_all(&vec![0; PREALLOCATE])?;
            self.allocated = end + PREALLOCATE as u64;
        }
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(batch)?;
        self.file.sync_data()
    }
}

/// A record: the origin's hash and the note in hex (so that no note can hold a newline, a
/// space or a batch header: the framing cannot be forged by what a log signs).
fn record(origin_hash: &str, note: &str) -> Vec<u8> {
    format!("{origin_hash} {}\n", hex::encode(note)).into_bytes()
}

/// A batch's check: the first 8 bytes (hex) of SHA-256 over `<log id> <offset>\n` and its
/// records — bound to its log and to where it was written (its header says where), so that
/// blocks another log left on the disk (one compacted away, whose blocks a growing file may
/// get back with their old bytes after a crash on a file system that does not order data
/// before metadata) never read as intact, and a batch of this log found elsewhere is damage.
/// Logs of earlier versions have no id: their checks cover the records alone.
fn check(log: Option<&str>, at: usize, records: &[u8]) -> String {
    let mut hash = Sha256::new();
    if let Some(id) = log {
        hash.update(format!("{id} {at}\n"));
    }
    hash.update(records);
    hex::encode(&hash.finalize()[..8])
}

/// A new log's id: 16 random bytes, hex.
fn new_log_id() -> String {
    let mut id = [0u8; 16];
    rand::fill(&mut id);
    hex::encode(id)
}

fn is_log_id(text: &str) -> bool {
    is_lower_hex(text, 16)
}

/// The word that opens a batch: `base` for the first (all the state when the log was
/// written), `batch` for every one appended after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Base,
    Appended,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Base => "base",
            Kind::Appended => "batch",
        }
    }
}

/// One batch of `records` (origin hash, note) of the log `log`, to be written at `at`, padded
/// to whole blocks. The base batch's header names the log's id; an appended one's, where it
/// was written.
fn batch<'a>(kind: Kind, log: &str, at: usize, records: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<u8> {
    let body: Vec<u8> = records.into_iter().flat_map(|(h, n)| record(h, n)).collect();
    let checked = check(Some(log), at, &body);
    let mut out = match kind {
        Kind::Base => format!("{} {} {checked} {log}\n", kind.word(), body.len()),
        Kind::Appended => format!("{} {} {checked} {at}\n", kind.word(), body.len()),
    }
    .into_bytes();
    out.extend(body);
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
    out
}

/// The records of one batch's body, all of them, or none if one does not parse.
fn read_body(body: &[u8]) -> Option<Vec<(String, String)>> {
    let body = std::str::from_utf8(body).ok()?;
    if !body.is_empty() && !body.ends_with('\n') {
        return None;
    }
    body.split_terminator('\n')
        .map(|line| {
            let (origin_hash, note) = line.split_once(' ').filter(|(h, _)| is_origin_hash(h))?;
            Some((origin_hash.to_owned(), String::from_utf8(hex::decode(note).ok()?).ok()?))
        })
        .collect()
}

/// A batch read.
#[derive(Debug)]
struct ReadBatch {
    records: Vec<(String, String)>,
    /// Its length, padding included.
    length: usize,
    /// A base batch's: the log's id (none in an earlier version's log).
    log: Option<String>,
    /// An appended batch's (of a log with an id): the offset it was written at.
    written_at: Option<usize>,
}

/// A batch of `kind` at the start of `bytes`, of the log `log` (an appended batch's; a base
/// batch names its log itself, or none in an earlier version's log), or None if it is not
/// whole and intact. Where it is is not checked here: the caller compares `written_at`.
fn read_batch(kind: Kind, bytes: &[u8], log: Option<&str>) -> Option<ReadBatch> {
    let header_end = bytes.iter().take(96).position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..header_end]).ok()?;
    let mut parts = header.split(' ');
    let (word, length, checked) = (parts.next()?, parts.next()?, parts.next()?);
    let length: usize = length.parse().ok().filter(|_| word == kind.word())?;
    let (named, written_at) = match (kind, log) {
        (Kind::Base, _) => (parts.next().map(str::to_owned), None),
        (Kind::Appended, None) => (None, None),
        (Kind::Appended, Some(_)) => {
            let at = parts.next()?;
            let written_at: usize = at.parse().ok().filter(|n: &usize| n.to_string() == at)?;
            (None, Some(written_at))
        }
    };
    if parts.next().is_some() || named.as_deref().is_some_and(|id| !is_log_id(id)) {
        return None;
    }
    let end = (header_end + 1).checked_add(length)?;
    let body = bytes.get(header_end + 1..end)?;
    if checked != check(named.as_deref().or(log), written_at.unwrap_or(0), body) {
        return None;
    }
    let padded = end.div_ceil(BLOCK) * BLOCK;
    if bytes.len() < padded || bytes[end..padded].iter().any(|&b| b != b' ') {
        return None;
    }
    Some(ReadBatch {
        records: read_body(body)?,
        length: padded,
        log: named,
        written_at,
    })
}

/// What a log holds: its records (origin hash, note) in order, and where the torn last batch
/// that was dropped started, if there was one.
#[derive(Debug)]
struct LogRead {
    records: Vec<(String, String)>,
    torn: Option<usize>,
}

/// Every record of a log, in order. Its base batch (flushed before the log was renamed into
/// place: no crash tears it) must be whole and intact. Where the batches end, zeros to the
/// file's end are the space preallocated for the next. An appended batch that is not whole
/// and intact is the last one a crash tore (never answered) only if no intact batch of this
/// log follows it: then it is dropped, and where it started is returned with the records. A
/// batch of this log anywhere but where it was written, and anything else, is damage to
/// what was answered: an error.
fn read_log(bytes: &[u8]) -> std::io::Result<LogRead> {
    let damaged = |at: usize, why: &str| {
        std::io::Error::other(format!(
            "{LOG_FILE} is damaged at byte {at} ({why}): the witness does not start on it. Do not put back an older copy (it would let the witness cosign a history it refused); find out what damaged it"
        ))
    };
    let Some(base) = read_batch(Kind::Base, bytes, None) else {
        return Err(damaged(0, "its base batch is not whole"));
    };
    let (mut records, mut at, log) = (base.records, base.length, base.log);
    let log = log.as_deref();
    while at < bytes.len() {
        match read_batch(Kind::Appended, &bytes[at..], log) {
            // A batch of this log, but written elsewhere: moved, with whatever was around it.
            Some(ReadBatch {
                written_at: Some(written),
                ..
            }) if written != at => {
                return Err(damaged(at, &format!("a batch written at byte {written} is here")));
            }
            Some(batch) => {
                records.extend(batch.records);
                at += batch.length;
            }
            None => {
                let later = (at + BLOCK..bytes.len())
                    .step_by(BLOCK)
                    .find(|&offset| read_batch(Kind::Appended, &bytes[offset..], log).is_some());
                if let Some(offset) = later {
                    return Err(damaged(at, &format!("an intact batch follows at byte {offset}")));
                }
                let torn = bytes[at..].iter().any(|&b| b != 0).then_some(at);
                return Ok(LogRead { records, torn });
            }
        }
    }
    Ok(LogRead { records, torn: None })
}

/// Write `records` as a new log (its base batch, then [`PREALLOCATE`] zeros), flushed, and
/// rename it over the old one (the directory flushed): a crash leaves either log, whole. The
/// new log's file, for appending, and the log's length.
fn write_log(dir: &Path, records: &HashMap<String, String>) -> std::io::Result<(LogFile, usize)> {
    let path = dir.join(LOG_FILE);
    let tmp = dir.join(format!("{LOG_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    let mut sorted: Vec<_> = records.iter().collect();
    sorted.sort();
    let id = new_log_id();
    let bytes = batch(Kind::Base, &id, 0, sorted);
    file.write_all(&bytes)?;
    file.write_all(&vec![0; PREALLOCATE])?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    let file = std::fs::OpenOptions::new().write(true).open(&path)?;
    let allocated = (bytes.len() + PREALLOCATE) as u64;
    Ok((LogFile { file, allocated, id }, bytes.len()))
}

/// The state an earlier version kept: a `<SHA-256(origin), hex>.checkpoint` file per origin
/// (names of any other form are not its, and are left alone), and its unfinished `.tmp`
/// replacements (never answered).
fn earlier_layout(dir: &Path) -> std::io::Result<(HashMap<String, String>, Vec<PathBuf>)> {
    let mut kept = HashMap::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hash) = name.strip_suffix(".checkpoint").filter(|h| is_origin_hash(h)) {
            kept.insert(hash.to_owned(), std::fs::read_to_string(entry.path())?);
            files.push(entry.path());
        } else if name.strip_suffix(".tmp").is_some_and(is_origin_hash) {
            files.push(entry.path());
        }
    }
    Ok((kept, files))
}

impl StateLog {
    /// Read the log (and an earlier version's state), then write it anew, flushed: what is
    /// served from here on is durable, whatever a crash left in the page cache.
    fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(LOG_FILE);
        let records = match std::fs::read(&path) {
            Ok(bytes) => {
                let LogRead { records, torn } = read_log(&bytes)?;
                if let Some(at) = torn {
                    eprintln!(
                        "ledger witness: dropped the torn last batch of {LOG_FILE} (bytes {at}..{}), never answered",
                        bytes.len()
                    );
                }
                records
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut latest: HashMap<String, String> = HashMap::new();
        latest.extend(records);
        let (earlier, files) = earlier_layout(dir)?;
        for (hash, note) in earlier {
            match latest.get(&hash) {
                // Taken over already (a migration cut off before it removed the files).
                Some(kept) if *kept == note => {}
                None => {
                    latest.insert(hash, note);
                }
                Some(_) => {
                    return Err(std::io::Error::other(format!(
                        "{hash}.checkpoint (an earlier version's state) and {LOG_FILE} disagree on that origin: was an older witness run on this directory? Resolve it before starting"
                    )));
                }
            }
        }
        let (file, bytes) = write_log(dir, &latest)?;
        if !files.is_empty() {
            for old in files {
                std::fs::remove_file(old)?;
            }
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            slack: COMPACT_SLACK,
            file: Mutex::new(file),
            appends: Mutex::new(Appends {
                latest,
                bytes,
                ..Appends::default()
            }),
            flushed: Condvar::new(),
        })
    }

    fn appends(&self) -> std::sync::MutexGuard<'_, Appends> {
        self.appends.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn latest(&self, origin_hash: &str) -> std::io::Result<Option<String>> {
        let appends = self.appends();
        if appends.failed {
            return Err(std::io::Error::other(
                "the witness could not keep its state: restart it",
            ));
        }
        Ok(appends.latest.get(origin_hash).cloned())
    }

    /// Make `note` the latest of `origin_hash`, durably: returns once it is flushed, with the
    /// records of every request that queued meanwhile.
    fn commit(&self, origin_hash: String, note: String) -> std::io::Result<()> {
        let mut appends = self.appends();
        appends.pending.push((origin_hash, note));
        appends.queued += 1;
        let mine = appends.queued;
        loop {
            if appends.durable >= mine {
                return Ok(());
            }
            if appends.failed {
                return Err(std::io::Error::other(
                    "the witness could not keep its state: restart it",
                ));
            }
            if appends.flushing {
                appends = self
                    .flushed
                    .wait(appends)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            // This thread flushes the batch queued so far (its own record included). Nothing
            // below panics (allocation failure aborts), so `flushing` is always cleared.
            appends.flushing = true;
            let pending = std::mem::take(&mut appends.pending);
            let upto = appends.queued;
            let at = appends.bytes;
            drop(appends);
            let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let bytes = batch(Kind::Appended, &file.id, at, pending.iter().map(|(h, n)| (h, n)));
            let written = file.append(&bytes, at as u64);
            appends = self.appends();
            let compact = match written {
                Ok(()) => {
                    appends.bytes += bytes.len();
                    appends.latest.extend(pending);
                    appends.durable = upto;
                    let live: usize = appends.latest.values().map(String::len).sum();
                    (appends.bytes > 2 * live + self.slack).then(|| appends.latest.clone())
                }
                Err(_) => {
                    appends.failed = true;
                    None
                }
            };
            if let Some(snapshot) = compact {
                // Outside the lock: requests go on queueing (and reading) meanwhile; they
                // are appended to the new log by the next flush.
                drop(appends);
                let compacted = write_log(&self.dir, &snapshot);
                appends = self.appends();
                match compacted {
                    Ok((new, length)) => {
                        *file = new;
                        appends.bytes = length;
                    }
                    Err(_) => appends.failed = true,
                }
            }
            drop(file);
            appends.flushing = false;
            self.flushed.notify_all();
        }
    }
}

/// The witness the arguments describe.
pub fn witness_from(args: &WitnessArgs) -> Result<Witness, CliError> {
    let key =
        CosignerKey::parse(&read_limited(&args.key, crate::commands::limits::KEY)?).map_err(|e| CliError::Input {
            path: args.key.clone(),
            message: e.to_string(),
        })?;
    let keys = load_keys(&args.log_keys, "--log-key")?;
    let mut logs = Vec::new();
    for origin in &args.origins {
        let valid = origin
            .rsplit_once('/')
            .is_some_and(|(log, chain)| LogName::parse(log).is_ok() && ledger::ChainId::parse(chain).is_ok());
        if !valid {
            return Err(CliError::Usage(format!("--origin {origin}: not <log name>/<chain>")));
        }
        logs.push(TrustedLog {
            keys: keys.clone(),
            origins: Origins::Exact(origin.clone()),
        });
    }
    for log in &args.logs {
        logs.push(TrustedLog {
            keys: keys.clone(),
            origins: Origins::EveryChainOf(crate::commands::parse_log(log)?),
        });
    }
    if logs.is_empty() {
        return Err(CliError::Usage(
            "name what to witness: --origin <log>/<chain> (a partner: its own chain) or --log <log> (an auditor: every chain)"
                .into(),
        ));
    }
    Ok(Witness::new(key, logs))
}

/// A running witness server (for the local run and tests; `ledger witness` runs one until
/// it is stopped). Dropping it stops it.
pub struct Serving {
    server: crate::http1::Server,
    pub address: std::net::SocketAddr,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving").field("address", &self.address).finish()
    }
}

/// What a witness accepts from its clients: a thread per connection, kept alive between
/// requests (FORMAT.md §17).
const LIMITS: crate::http1::Limits = crate::http1::Limits {
    connections: MAX_CONNECTIONS,
    head: 16 << 10,
    body: MAX_REQUEST as usize,
    small_body: 64 << 10,
    bodies: 32 << 20,
    request_time: std::time::Duration::from_secs(10),
    idle_time: std::time::Duration::from_secs(30),
};

impl Serving {
    /// Serve `witness` with `state` on `listen` (port 0: any).
    pub fn start(witness: Witness, state: WitnessState, listen: &str) -> Result<Self, CliError> {
        let server = crate::http1::Server::start(listen, LIMITS, move |request: &crate::http1::Request| {
            handle(request, &witness, &state)
        })
        .map_err(|e| CliError::Usage(format!("cannot listen on {listen}: {e}")))?;
        Ok(Self {
            address: server.address,
            server,
        })
    }

    /// `http://<address>`: the submission and monitoring prefix.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stop answering; return once every connection is closed and the state let go of (a
    /// witness may be started again on the same directory).
    pub fn stop(self) {
        self.server.stop();
    }

    /// Serve until the process is stopped.
    pub fn wait(self) {
        self.server.wait();
    }
}

/// POSIX seconds, never 0 (C2SP tlog-cosignature: a timestamp of 0 is not a cosignature time).
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().max(1))
}

fn handle(request: &crate::http1::Request, witness: &Witness, state: &WitnessState) -> crate::http1::Response {
    use crate::http1::Response;
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/add-checkpoint") => match std::str::from_utf8(&request.body) {
            Err(_) => Response::text(
                400,
                "text/plain",
                "the request body is not a readable add-checkpoint request\n".into(),
            ),
            Ok(body) => match AddCheckpoint::parse(body) {
                Err(reason) => Response::text(400, "text/plain", format!("{reason}\n")),
                Ok(add) => match state.add_checkpoint(witness, &add, now()) {
                    Decision::Cosign { response, .. } => Response::text(200, "text/plain; charset=utf-8", response),
                    Decision::Conflict { size } => Response::text(409, "text/x.tlog.size", format!("{size}\n")),
                    Decision::Refuse { status, reason } => Response::text(status, "text/plain", format!("{reason}\n")),
                },
            },
        },
        ("GET", path) => {
            let hash = path.strip_prefix('/').and_then(|p| p.strip_suffix("/checkpoint"));
            match hash.filter(|h| is_origin_hash(h)) {
                Some(hash) => match state.latest_note(hash) {
                    Ok(Some(note)) => Response::text(200, "text/plain; charset=utf-8", note),
                    Ok(None) => Response::text(
                        404,
                        "text/plain",
                        "this witness has cosigned no checkpoint of that origin\n".into(),
                    ),
                    Err(e) => Response::text(500, "text/plain", format!("{e}\n")),
                },
                None => Response::text(404, "text/plain", "not found\n".into()),
            }
        }
        _ => Response::text(404, "text/plain", "not found\n".into()),
    }
}

/// `ledger witness`: serve until stopped.
pub fn run(args: WitnessArgs) -> Result<Outcome, CliError> {
    let witness = witness_from(&args)?;
    let state = WitnessState::open(&args.state)?;
    let public = witness.key().verifier();
    let serving = Serving::start(witness, state, &args.listen)?;
    eprintln!(
        "{}",
        crate::terminal::printable(&format!(
            "ledger witness {} on {} (state in {}); its public key, for logs and verifiers:\n{public}",
            crate::terminal::one_line(public.name()),
            serving.url(),
            crate::terminal::one_line(&args.state.display().to_string())
        ))
    );
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(&args.state) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: others may open the state directory, and so hold its lock and keep the witness from starting: chmod 700 it"
            );
        }
    }
    serving.wait();
    Ok(Outcome {
        exit: crate::commands::Exit::Ok,
        stdout: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: usize) -> String {
        origin_hash(&format!("log.test/chain-{i}"))
    }

    fn note(i: usize, size: u64) -> String {
        format!("log.test/chain-{i}\n{size}\nroot\n\n— log sig\n— witness cosig\n")
    }

    fn open(dir: &Path) -> StateLog {
        StateLog::open(dir).unwrap()
    }

    /// A state directory whose log holds two appended batches: origin 1 at 3, origin 2 at 4.
    fn two_batches() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        log.commit(hash(1), note(1, 3)).unwrap();
        log.commit(hash(2), note(2, 4)).unwrap();
        dir
    }

    /// The log, without the zeros preallocated after it (no batch ends in a zero byte).
    fn log_bytes(dir: &Path) -> Vec<u8> {
        let mut bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
        bytes.truncate(end);
        bytes
    }

    /// The id a log's base batch names.
    fn log_id(bytes: &[u8]) -> String {
        read_batch(Kind::Base, bytes, None).unwrap().log.unwrap()
    }

    fn file_length(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(LOG_FILE)).unwrap().len()
    }

    #[test]
    fn what_is_committed_is_read_back_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        assert_eq!(log.latest(&hash(1)).unwrap(), None);
        log.commit(hash(1), note(1, 3)).unwrap();
        log.commit(hash(2), note(2, 5)).unwrap();
        log.commit(hash(1), note(1, 7)).unwrap();
        assert_eq!(log.latest(&hash(1)).unwrap(), Some(note(1, 7)));
        // The base batch (empty) and three appended, each on whole blocks.
        let bytes = log_bytes(dir.path());
        assert_eq!(bytes.len(), 4 * BLOCK);
        assert_eq!(read_log(&bytes).unwrap().records.len(), 3);
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.latest(&hash(1)).unwrap(), Some(note(1, 7)));
        assert_eq!(log.latest(&hash(2)).unwrap(), Some(note(2, 5)));
        assert_eq!(log.latest(&hash(3)).unwrap(), None);
        // Written anew on open: one batch of the latest records.
        assert_eq!(read_log(&log_bytes(dir.path())).unwrap().records.len(), 2);
    }

    #[test]
    fn batches_land_in_zeros_written_ahead_and_the_file_grows_only_past_them() {
        // A flush that changes the file's size must write that too; batches are written into
        // zeros preallocated (and flushed) ahead, so that the flush writes data alone.
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        let preallocated = (BLOCK + PREALLOCATE) as u64;
        assert_eq!(file_length(dir.path()), preallocated, "the base batch and the zeros");
        // Written, not a hole (`set_len` would leave one, and the first flush into it would
        // allocate blocks: metadata again). Told apart only where the file system shows holes
        // as such (a probe made by `set_len`).
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let on_disk = |path: &Path| std::fs::metadata(path).unwrap().blocks() * 512;
            let probe = dir.path().join("probe");
            std::fs::File::create(&probe).unwrap().set_len(preallocated).unwrap();
            if on_disk(&probe) < preallocated {
                let log = on_disk(&dir.path().join(LOG_FILE));
                assert!(log >= preallocated, "{log} bytes on disk");
            }
            std::fs::remove_file(probe).unwrap();
        }
        for size in 1..=5 {
            log.commit(hash(1), note(1, size)).unwrap();
            assert_eq!(file_length(dir.path()), preallocated, "batch {size} in the zeros");
        }
        assert_eq!(log_bytes(dir.path()).len(), 6 * BLOCK);
        // A batch past the zeros grows the file by a whole preallocation past its end.
        let big = |i: usize| format!("{}{}", note(i, 1), "x".repeat(PREALLOCATE / 4));
        log.commit(hash(2), big(2)).unwrap();
        assert_eq!(file_length(dir.path()), preallocated, "still within");
        log.commit(hash(3), big(3)).unwrap();
        let end = log_bytes(dir.path()).len() as u64;
        assert!(end > preallocated, "this one went past the zeros");
        assert_eq!(file_length(dir.path()), end + PREALLOCATE as u64);
        log.commit(hash(1), note(1, 6)).unwrap();
        assert_eq!(file_length(dir.path()), end + PREALLOCATE as u64);
        let bytes = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        assert_eq!(read_log(&bytes).unwrap().torn, None, "nothing torn");
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.latest(&hash(1)).unwrap(), Some(note(1, 6)));
        assert_eq!(log.latest(&hash(2)).unwrap(), Some(big(2)));
        assert_eq!(log.latest(&hash(3)).unwrap(), Some(big(3)));
    }

    #[test]
    fn one_state_directory_serves_one_witness_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = WitnessState::open(dir.path()).unwrap();
        // A second witness on the same state (here in the same process: the lock is on the
        // open file, not the process) is refused, and says why.
        match WitnessState::open(dir.path()) {
            Err(CliError::Usage(why)) => assert!(why.contains("another witness is using"), "{why}"),
            other => panic!("a second witness on one state: {other:?}"),
        }
        drop(first);
        WitnessState::open(dir.path()).expect("free again once the first has stopped");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A directory it creates is its owner's alone; the directory itself is locked too,
            // so removing what is in it (a "stale lock" cleaned up) does not free it.
            let fresh = dir.path().join("fresh");
            let held = WitnessState::open(&fresh).unwrap();
            assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
            for file in std::fs::read_dir(&fresh).unwrap() {
                std::fs::remove_file(file.unwrap().path()).unwrap();
            }
            assert!(matches!(WitnessState::open(&fresh), Err(CliError::Usage(_))));
            drop(held);
        }
    }

    #[test]
    fn requests_at_once_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = std::sync::Arc::new(open(dir.path()));
        let threads: Vec<_> = (0..48)
            .map(|i| {
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || {
                    for size in 1..=4 {
                        log.commit(hash(i), note(i, size)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(read_log(&log_bytes(dir.path())).unwrap().records.len(), 48 * 4);
        drop(log);
        let log = open(dir.path());
        for i in 0..48 {
            assert_eq!(log.latest(&hash(i)).unwrap(), Some(note(i, 4)), "origin {i}");
        }
    }

    #[test]
    fn a_torn_last_batch_is_dropped_and_the_log_goes_on_whole() {
        let dir = two_batches();
        let path = dir.path().join(LOG_FILE);
        let whole = log_bytes(dir.path());
        // Every way a crash can leave the next batch (two records): cut anywhere, a byte of
        // it altered, zeros where it should be.
        let log = log_id(&whole);
        let next = batch(
            Kind::Appended,
            &log,
            whole.len(),
            [(&hash(1), &note(1, 9)), (&hash(3), &note(3, 1))],
        );
        let mut torn: Vec<Vec<u8>> = [1, 5, 20, 90, 200, 300, next.len() - 1]
            .into_iter()
            .map(|cut| next[..cut].to_vec())
            .collect();
        // A digit of the offset the header names, too.
        let in_offset = next.iter().position(|&b| b == b'\n').unwrap() - 2;
        assert!(next[in_offset].is_ascii_digit());
        for at in [3, in_offset, 40, 150, 400, next.len() - 1] {
            let mut altered = next.clone();
            altered[at] ^= 1;
            torn.push(altered);
        }
        // Each as it lands at the end of the file (a log written before the zeros were
        // preallocated) and in the zeros preallocated after the log.
        let zeros = vec![0; PREALLOCATE];
        let torn: Vec<Vec<u8>> = torn
            .iter()
            .flat_map(|tail| [tail.clone(), [tail.as_slice(), &zeros].concat()])
            .collect();
        for tail in torn {
            let bytes = [whole.as_slice(), &tail].concat();
            assert_eq!(read_log(&bytes).unwrap().torn, Some(whole.len()), "reported as torn");
            std::fs::write(&path, bytes).unwrap();
            let log = open(dir.path());
            assert_eq!(log.latest(&hash(1)).unwrap(), Some(note(1, 3)));
            assert_eq!(log.latest(&hash(3)).unwrap(), None);
            log.commit(hash(4), note(4, 4)).unwrap();
            drop(log);
            let log = open(dir.path());
            assert_eq!(log.latest(&hash(2)).unwrap(), Some(note(2, 4)));
            assert_eq!(log.latest(&hash(4)).unwrap(), Some(note(4, 4)));
            drop(log);
            std::fs::write(&path, &whole).unwrap();
        }
        // A batch whose first block never reached the disk while a later one did (blocks may
        // land in any order), and anything but zeros after the zeros: torn, never clean.
        let two_blocks = batch(Kind::Appended, &log, whole.len(), [(&hash(1), &note(1, 9).repeat(64))]);
        assert!(two_blocks.len() > BLOCK, "spans blocks");
        let mut first_lost = two_blocks.clone();
        first_lost[..BLOCK].fill(0);
        let junk_after_zeros = [vec![0; 2 * BLOCK], b"x".to_vec()].concat();
        for tail in [first_lost, junk_after_zeros] {
            let read = read_log(&[whole.as_slice(), &tail, &zeros].concat()).unwrap();
            assert_eq!((read.records.len(), read.torn), (2, Some(whole.len())));
        }
        // Zeros alone after the log are the space preallocated for the next batch, at any
        // length: nothing torn.
        for zeros in [1, BLOCK, PREALLOCATE + 7] {
            let bytes = [whole.as_slice(), &vec![0; zeros]].concat();
            let read = read_log(&bytes).unwrap();
            assert_eq!((read.records.len(), read.torn), (2, None), "{zeros} zeros");
        }
        // The batch whole: kept, whether zeros follow it or not.
        for zeros in [0, BLOCK] {
            std::fs::write(&path, [whole.as_slice(), &next, &vec![0; zeros]].concat()).unwrap();
            assert_eq!(open(dir.path()).latest(&hash(3)).unwrap(), Some(note(3, 1)));
            std::fs::write(&path, &whole).unwrap();
        }
    }

    #[test]
    fn damage_before_an_intact_batch_stops_the_witness() {
        // Only the last batch can be torn by a crash (each is flushed before the next is
        // written): a damaged batch with an intact one after it is damage to what was
        // answered. The witness does not start on it, and does not cut it.
        let dir = two_batches();
        let path = dir.path().join(LOG_FILE);
        let mut damaged = log_bytes(dir.path());
        damaged[20] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let refused = StateLog::open(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("damaged at byte 0"), "{refused}");
        assert_eq!(log_bytes(dir.path()), damaged, "left as it is");

        // Zeros where a batch should be, with an intact batch after them: not the space
        // preallocated (that is only ever at the end), but damage.
        let dir = two_batches();
        let path = dir.path().join(LOG_FILE);
        let mut gapped = log_bytes(dir.path());
        gapped[BLOCK..2 * BLOCK].fill(0);
        std::fs::write(&path, &gapped).unwrap();
        let refused = StateLog::open(dir.path()).unwrap_err().to_string();
        assert!(refused.contains(&format!("damaged at byte {BLOCK}")), "{refused}");
        // And zeros put in between batches.
        let whole = log_bytes(two_batches().path());
        let (first, rest) = whole.split_at(2 * BLOCK);
        let refused = read_log(&[first, &vec![0; BLOCK], rest].concat())
            .unwrap_err()
            .to_string();
        assert!(refused.contains(&format!("damaged at byte {}", 2 * BLOCK)), "{refused}");

        // The base batch alone (as after a restart): it was flushed before the log was
        // renamed into place, so no crash tears it: damage to it is never taken for a torn
        // tail, and an empty file is no fresh start.
        let fresh = dir.path().join("fresh");
        std::fs::create_dir(&fresh).unwrap();
        let log = open(&fresh);
        log.commit(hash(1), note(1, 3)).unwrap();
        drop(log);
        let path = fresh.join(LOG_FILE);
        let base = read_log(&std::fs::read(&path).unwrap()).unwrap().records;
        assert_eq!(base.len(), 1);
        drop(open(&fresh));
        for damage in [Some(10), Some(100), None] {
            let mut bytes = std::fs::read(&path).unwrap();
            match damage {
                Some(at) => bytes[at] ^= 1,
                None => bytes.clear(),
            }
            std::fs::write(&path, &bytes).unwrap();
            let refused = StateLog::open(&fresh).unwrap_err().to_string();
            assert!(refused.contains("its base batch is not whole"), "{damage:?}: {refused}");
        }
    }

    #[test]
    fn a_batch_is_intact_only_in_its_own_log_at_its_own_place() {
        // Blocks another log left on the disk (one compacted away, handed back to a growing
        // file with its old bytes by a crash on a file system that does not order data
        // before metadata): never intact, so never read as what the witness cosigned — at
        // the end a torn batch, dropped. Even at the very offset it had in its own log.
        let (a, b) = (two_batches(), two_batches());
        let (a, b) = (log_bytes(a.path()), log_bytes(b.path()));
        assert_ne!(log_id(&a), log_id(&b), "each log has its own id");
        let a_first = &a[BLOCK..2 * BLOCK];
        let read = read_batch(Kind::Appended, a_first, Some(&log_id(&a))).unwrap();
        assert_eq!(read.written_at, Some(BLOCK));
        assert!(read_batch(Kind::Appended, a_first, Some(&log_id(&b))).is_none());
        for (bytes, kept) in [
            ([&b[..BLOCK], a_first].concat(), 0),
            ([b.as_slice(), a_first].concat(), 2),
            ([b.as_slice(), &vec![0; BLOCK], a_first, &vec![0; BLOCK]].concat(), 2),
            ([&a[..2 * BLOCK], &b[2 * BLOCK..3 * BLOCK]].concat(), 1),
        ] {
            let read = read_log(&bytes).unwrap();
            assert_eq!(read.records.len(), kept, "nothing of the stray batch read");
            assert!(read.torn.is_some());
        }
        // A batch of this log where it was not written: moved (a block cut out or put in,
        // a copy): damage, never a torn end that would drop the answered batches after it.
        for (bytes, at, why) in [
            (
                [a.as_slice(), a_first].concat(),
                3 * BLOCK,
                format!("a batch written at byte {BLOCK}"),
            ),
            (
                [&a[..2 * BLOCK], &vec![b' '; BLOCK], &a[2 * BLOCK..]].concat(),
                2 * BLOCK,
                format!("an intact batch follows at byte {}", 3 * BLOCK),
            ),
            (
                [&a[..BLOCK], &a[2 * BLOCK..]].concat(),
                BLOCK,
                format!("a batch written at byte {}", 2 * BLOCK),
            ),
        ] {
            let refused = read_log(&bytes).unwrap_err().to_string();
            assert!(refused.contains(&format!("damaged at byte {at} ({why}")), "{refused}");
        }
        // Written anew (on every start, and when compacted), a log has a new id.
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..3)
            .map(|_| {
                drop(open(dir.path()));
                log_id(&log_bytes(dir.path()))
            })
            .collect();
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");

        // A log an earlier version wrote (no id: checks over the records alone) is read.
        let dir = tempfile::tempdir().unwrap();
        let old_batch = |word: &str, records: &[u8]| {
            let mut out = format!("{word} {} {}\n", records.len(), check(None, 0, records)).into_bytes();
            out.extend(records);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
            out
        };
        let earlier = [
            old_batch("base", &record(&hash(1), &note(1, 3))),
            old_batch("batch", &record(&hash(2), &note(2, 4))),
            old_batch("batch", &record(&hash(1), &note(1, 5))),
        ]
        .concat();
        std::fs::write(dir.path().join(LOG_FILE), &earlier).unwrap();
        let log = open(dir.path());
        assert_eq!(log.latest(&hash(1)).unwrap(), Some(note(1, 5)));
        assert_eq!(log.latest(&hash(2)).unwrap(), Some(note(2, 4)));
        // Written anew, with an id.
        assert!(is_log_id(&log_id(&log_bytes(dir.path()))));
    }

    #[test]
    fn no_note_can_forge_the_framing() {
        // A note holding what looks like a batch header, placed to fall on a block boundary,
        // is written in hex: the only batch headers in the file are the witness's own.
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        // What the witness would write as an empty batch at the block it would fall on.
        let id = log_id(&log_bytes(dir.path()));
        let at = 2 * BLOCK;
        let forged = format!(
            "{}batch 0 {} {at}\n{}",
            " ".repeat(BLOCK - 80),
            check(Some(&id), at, b""),
            " ".repeat(BLOCK)
        );
        log.commit(hash(1), forged.clone()).unwrap();
        drop(log);
        let bytes = log_bytes(dir.path());
        assert!(bytes.len() > 3 * BLOCK, "the note spans blocks");
        let headers: Vec<usize> = (0..bytes.len())
            .step_by(BLOCK)
            .filter(|&offset| read_batch(Kind::Appended, &bytes[offset..], Some(&id)).is_some())
            .collect();
        assert_eq!(headers, [BLOCK], "only the batch the witness appended");
        let raw = format!("batch 0 {} {at}", check(Some(&id), at, b""));
        assert!(
            !bytes.windows(raw.len()).any(|w| w == raw.as_bytes()),
            "the forged header is nowhere in the file as it is"
        );
        assert_eq!(open(dir.path()).latest(&hash(1)).unwrap(), Some(forged));
    }

    #[test]
    fn the_log_is_compacted_to_the_latest_of_each_origin() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        log.slack = 5 * BLOCK;
        for size in 1..=40 {
            log.commit(hash(size as usize % 3), note(size as usize % 3, size))
                .unwrap();
            let live: usize = (0..3)
                .filter_map(|i| log.latest(&hash(i)).unwrap())
                .map(|n| n.len())
                .sum();
            assert!(log_bytes(dir.path()).len() <= 2 * live + 6 * BLOCK, "after {size}");
        }
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.latest(&hash(0)).unwrap(), Some(note(0, 39)));
        assert_eq!(log.latest(&hash(1)).unwrap(), Some(note(1, 40)));
        assert_eq!(log.latest(&hash(2)).unwrap(), Some(note(2, 38)));
    }

    #[test]
    fn an_earlier_versions_state_directory_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(&format!("{}.checkpoint", hash(1)), &note(1, 3));
        write(&format!("{}.checkpoint", hash(2)), &note(2, 5));
        write(&format!("{}.tmp", hash(2)), &note(2, 6));
        // Not an earlier witness's state: left alone, and never read as an origin's.
        write("README.checkpoint", "notes");
        write(&format!("{}.checkpoint", hash(3).to_uppercase()), &note(3, 1));
        let log = open(dir.path());
        assert_eq!(log.latest(&hash(1)).unwrap(), Some(note(1, 3)));
        assert_eq!(log.latest(&hash(2)).unwrap(), Some(note(2, 5)));
        assert_eq!(log.latest(&hash(3)).unwrap(), None);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!("{}.checkpoint", hash(3).to_uppercase()),
                "README.checkpoint".to_owned(),
                LOG_FILE.to_owned()
            ]
        );
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.latest(&hash(2)).unwrap(), Some(note(2, 5)));
        // An earlier witness run on the directory since: its file and the log disagree.
        log.commit(hash(1), note(1, 4)).unwrap();
        drop(log);
        write(&format!("{}.checkpoint", hash(1)), &note(1, 3));
        let refused = StateLog::open(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("disagree"), "{refused}");
        // A migration cut off before it removed the files: the same note, taken as it is.
        write(&format!("{}.checkpoint", hash(1)), &note(1, 4));
        assert_eq!(open(dir.path()).latest(&hash(1)).unwrap(), Some(note(1, 4)));
    }
}
