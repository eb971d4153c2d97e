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

use ledger::lines::{LineReader, ReadError};
use ledger::merkle::{TreeSize, leaf_hash, verify_consistency};
use ledger::{
    ChainId, Checkpoint, EntryRef, Failure, FailureKind, Frontier, Hash, LogName, Receipt, TrustedKeys, Version,
};
use serde_json::{Value, json};

use crate::commands::{CliError, Exit, Outcome, load_keys, parse_log, read, tampered};

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
    /// For the auditor role (`ledger/audit`): the chain to monitor.
    pub chain: Option<String>,
    pub json: bool,
    /// Treat the clock as this time (RFC 3339) when judging receipts' deadlines (drills).
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries per request, 1 to [`PAGE`] (the API's maximum; smaller for a slow link).
    pub page: u64,
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
    chain: Option<String>,
}

impl Api {
    fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, CliError> {
        self.requests += 1;
        self.conn.get(path, query)
    }
}

impl Connection {
    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, CliError> {
        let mut url = format!("{}{path}", self.base.trim_end_matches('/'));
        let mut params: Vec<(&str, String)> = query.to_vec();
        if let Some(chain) = &self.chain {
            params.push(("chain", chain.clone()));
        }
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
        let body = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_vec()
            .map_err(|e| CliError::Usage(format!("cannot read the answer of {url}: {e}")))?;
        if status != 200 {
            let detail = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(CliError::Usage(format!(
                "the log answered {status} to {path}: {detail}"
            )));
        }
        Ok(body)
    }
}

/// A fetched page: where it starts and the log's answer.
type Page = (u64, Result<Vec<u8>, CliError>);

/// How many threads fetch entry pages ahead of the one that checks them.
const AHEAD: u64 = 2;

/// Entry pages `start, start + page_size, …` below `size`, fetched ahead by [`AHEAD`] threads (page
/// `i` by thread `i mod AHEAD`) and handed over in order. Each thread holds at most two pages
/// (one it fetched, one it is fetching), so memory stays bounded; when this is dropped the
/// threads stop at their next page.
struct Ahead {
    pages: Vec<std::sync::mpsc::Receiver<Page>>,
    taken: u64,
}

impl Ahead {
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        conn: Connection,
        fetched: &'scope AtomicU64,
        start: u64,
        size: u64,
        page_size: u64,
    ) -> Self {
        let pages = (0..AHEAD)
            .map(|first| {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let conn = conn.clone();
                scope.spawn(move || {
                    let mut index = first;
                    loop {
                        let Some(page) = index.checked_mul(page_size).and_then(|o| start.checked_add(o)) else {
                            return;
                        };
                        if page >= size {
                            return;
                        }
                        let limit = page_size.min(size - page);
                        fetched.fetch_add(1, Ordering::Relaxed);
                        let body = conn.get(
                            "/ledger/entries",
                            &[("start", page.to_string()), ("limit", limit.to_string())],
                        );
                        let failed = body.is_err();
                        if tx.send((page, body)).is_err() || failed {
                            return;
                        }
                        index += AHEAD;
                    }
                });
                rx
            })
            .collect();
        Self { pages, taken: 0 }
    }

    /// The page that starts at `next`, if it is the next one fetched; `None` otherwise (the
    /// previous page was short) or when the threads have stopped.
    fn take(&mut self, next: u64) -> Option<Result<Vec<u8>, CliError>> {
        let index = usize::try_from(self.taken % AHEAD).ok()?;
        let (page, body) = self.pages.get(index)?.recv().ok()?;
        self.taken += 1;
        (page == next).then_some(body)
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
    std::fs::create_dir_all(args.state.join("checkpoints")).map_err(|source| CliError::Io {
        path: args.state.clone(),
        source,
    })?;
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
    let token = read(&args.token_file)?.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::Usage(format!("{}: empty token", args.token_file.display())));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut api = Api {
        conn: Connection {
            agent,
            base: args.api.clone(),
            token,
            chain: args.chain.clone(),
        },
        requests: 0,
    };

    // 1. The latest checkpoint, signed and of the pinned log.
    let note_bytes = api.get("/ledger/checkpoint", &[])?;
    let note = String::from_utf8(note_bytes).map_err(|_| CliError::Usage("the checkpoint is not UTF-8".into()))?;
    let (checkpoint, _) = match Checkpoint::open_pinned(&note, &keys, &log) {
        Ok(opened) => opened,
        Err(e) => {
            let f = Failure {
                kind: FailureKind::of_note(&e),
                chain: None,
                seq: None,
                line: None,
                message: format!("the log's latest checkpoint: {e}"),
            };
            return Ok(tampered(&f, args.json));
        }
    };
    let chain = checkpoint.chain().map(|c| c.to_string()).unwrap_or_default();
    if let Some(state) = &kept
        && state.chain != chain
    {
        return Err(CliError::Usage(format!(
            "the log served a checkpoint of chain {chain}; this state directory keeps chain {}",
            state.chain
        )));
    }
    if let Some(wanted) = &args.chain
        && *wanted != chain
    {
        return Ok(tampered(
            &failure(
                FailureKind::ForeignEntry,
                &chain,
                None,
                format!("asked for chain {wanted}, the log served a checkpoint of {chain}"),
            ),
            args.json,
        ));
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
        return Ok(tampered(
            &failure(
                FailureKind::Truncated,
                &chain,
                Some(checkpoint.size),
                format!("rollback: {new_name} is smaller than the one you kept, {kept_name}"),
            ),
            args.json,
        ));
    }
    let mut new_entries = 0u64;
    let mut state = kept.clone().unwrap_or(State {
        format: STATE_FORMAT.into(),
        log: log.to_string(),
        chain: chain.clone(),
        size: 0,
        root: kept_root.to_base64(),
        last_hash: Hash::ZERO.to_hex(),
        last_at: None,
        version: 1,
        frontier: Vec::new(),
        entries_bytes: 0,
    });
    if checkpoint.size == kept_size {
        if checkpoint.root != kept_root {
            return Ok(tampered(
                &failure(
                    FailureKind::Fork,
                    &chain,
                    None,
                    format!("fork: {new_name} and {kept_name} have the same size but different roots"),
                ),
                args.json,
            ));
        }
        // Nothing new: spot-check that the log still serves the last entry you hold.
        if kept_size > 0 {
            let served = api.get(
                "/ledger/entries",
                &[("start", (kept_size - 1).to_string()), ("limit", "1".into())],
            )?;
            let line = served.strip_suffix(b"\n").unwrap_or(&served);
            let same =
                EntryRef::parse(line).is_ok_and(|e| e.hash.to_hex() == state.last_hash && e.seq == kept_size - 1);
            if !same {
                return Ok(tampered(
                    &failure(
                        FailureKind::Modified,
                        &chain,
                        Some(kept_size - 1),
                        format!(
                            "the log no longer serves the entry seq {} you hold (covered by {kept_name}): its history was rewritten or cut",
                            kept_size - 1
                        ),
                    ),
                    args.json,
                ));
            }
        }
    } else {
        if kept_size > 0 {
            let body = api.get(
                "/ledger/proofs/consistency",
                &[("from", kept_size.to_string()), ("to", checkpoint.size.to_string())],
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
                return Ok(tampered(
                    &failure(
                        FailureKind::Fork,
                        &chain,
                        None,
                        format!("fork: {new_name} does not extend {kept_name}: {e}"),
                    ),
                    args.json,
                ));
            }
        }
        // 3. Only the new entries, checked link by link and against the new root.
        match fetch_entries(
            &mut api,
            &args.state,
            &mut state,
            &chain,
            checkpoint.size,
            &checkpoint.root,
            args.page,
        )? {
            Ok(n) => new_entries = n,
            Err(f) => return Ok(tampered(&f, args.json)),
        }
    }
    let io = |path: PathBuf| move |source| CliError::Io { path, source };
    let kept_path = args.state.join(format!("checkpoints/{}.note", checkpoint.size));
    std::fs::write(&kept_path, &note).map_err(io(kept_path.clone()))?;
    write_atomically(&args.state.join("checkpoint.note"), note.as_bytes())?;
    state.root = checkpoint.root.to_base64();
    let text = serde_json::to_string_pretty(&state).unwrap_or_default();
    write_atomically(&state_path, format!("{text}\n").as_bytes())?;

    // 4. Every receipt: covered and equal, or still within its merge deadline.
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let verdicts = match check_receipts(&args.state, &receipt_keys, &log, &state, now)? {
        Ok(v) => v,
        Err(f) => return Ok(tampered(&f, args.json)),
    };
    let value = json!({
        "valid": true,
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "previousSize": kept_size,
        "newEntries": new_entries,
        "requests": api.requests,
        "receipts": { "kept": verdicts.kept, "pending": verdicts.pending, "otherChains": verdicts.other },
    });
    if args.json {
        return Ok(Outcome {
            exit: Exit::Ok,
            stdout: format!("{value}\n"),
        });
    }
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: format!(
            "OK: {} at size {} (was {}), {new_entries} new entries verified; receipts: {} kept, {} pending; {} requests\n",
            checkpoint.origin, checkpoint.size, kept_size, verdicts.kept, verdicts.pending, api.requests
        ),
    })
}

/// Fetch entries `state.size … size − 1`, check them, append them; `Err(failure)` if the
/// log serves anything that does not verify.
fn fetch_entries(
    api: &mut Api,
    dir: &Path,
    state: &mut State,
    chain: &str,
    size: u64,
    root: &Hash,
    page: u64,
) -> Result<Result<u64, Failure>, CliError> {
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
    let mut last_at = state.last_at.clone().unwrap_or_default();
    let mut version = if state.version == 2 { Version::V2 } else { Version::V1 };
    let mut entries_file = open_append(&dir.join("entries.jsonl"), state.entries_bytes)?;
    let mut hashes_file = open_append(&dir.join("hashes.bin"), state.size * 32)?;
    let bar = (std::io::stderr().is_terminal() && size - state.size > 10 * PAGE).then(|| {
        let bar = indicatif::ProgressBar::new(size - state.size);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries {per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let start_size = state.size;
    let mut next = state.size;
    let write_err = |path: &str| {
        let path = dir.join(path);
        move |source| CliError::Io { path, source }
    };
    // Pages are fetched ahead on threads of their own while this one checks the last.
    let fetched = AtomicU64::new(0);
    let outcome = std::thread::scope(|scope| -> Result<Result<(), Failure>, CliError> {
        let mut ahead = Some(Ahead::start(scope, api.conn.clone(), &fetched, next, size, page));
        while next < size {
            let limit = page.min(size - next);
            let body = match ahead.as_mut().and_then(|a| a.take(next)) {
                Some(body) => body?,
                // A short page (the log holds fewer entries than it signed): ask from where it
                // stopped, one page at a time, as the checks below expect.
                None => {
                    ahead = None;
                    api.get(
                        "/ledger/entries",
                        &[("start", next.to_string()), ("limit", limit.to_string())],
                    )?
                }
            };
            let mut reader = LineReader::new(body.as_slice());
            let mut page_bytes: Vec<u8> = Vec::with_capacity(body.len());
            let mut page_hashes: Vec<u8> = Vec::with_capacity(limit as usize * 32);
            let before = next;
            loop {
                let chunk = match reader.next_chunk() {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(ReadError::Io(e)) => return Err(CliError::Usage(format!("cannot read entries: {e}"))),
                    Err(e) => return Ok(Err(failure(FailureKind::Malformed, chain, Some(next), e.to_string()))),
                };
                for line in chunk.lines {
                    if next >= size {
                        break;
                    }
                    let entry = match EntryRef::parse(line) {
                        Ok(e) => e,
                        Err(e) => {
                            return Ok(Err(failure(
                                FailureKind::of_format(&e),
                                chain,
                                Some(next),
                                e.to_string(),
                            )));
                        }
                    };
                    let problem = if entry.computed_hash() != entry.hash {
                        Some((
                            FailureKind::Modified,
                            "the entry's bytes do not match its hash".to_owned(),
                        ))
                    } else if entry.chain != chain {
                        Some((FailureKind::ForeignEntry, format!("an entry of chain {}", entry.chain)))
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
                    } else if next > 0 && entry.at < last_at.as_str() {
                        Some((
                            FailureKind::TimeReversed,
                            "the entry's time is before its predecessor's".to_owned(),
                        ))
                    } else {
                        None
                    };
                    if let Some((kind, message)) = problem {
                        return Ok(Err(failure(kind, chain, Some(next), message)));
                    }
                    frontier.push(leaf_hash(entry.hash.as_bytes()));
                    last_hash = entry.hash;
                    entry.at.clone_into(&mut last_at);
                    version = entry.version;
                    page_bytes.extend_from_slice(line);
                    page_bytes.push(b'\n');
                    page_hashes.extend_from_slice(entry.hash.as_bytes());
                    next += 1;
                }
            }
            if next == before {
                return Ok(Err(failure(
                    FailureKind::Truncated,
                    chain,
                    Some(next),
                    format!("the log signed a checkpoint of size {size} but serves no entry seq {next}"),
                )));
            }
            entries_file
                .write_all(&page_bytes)
                .map_err(write_err("entries.jsonl"))?;
            hashes_file.write_all(&page_hashes).map_err(write_err("hashes.bin"))?;
            if let Some(bar) = &bar {
                bar.set_position(next - start_size);
            }
            // Kept only once the root is checked below.
            state.entries_bytes += page_bytes.len() as u64;
        }
        Ok(Ok(()))
    });
    api.requests += fetched.into_inner();
    if let Err(f) = outcome? {
        return Ok(Err(f));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if frontier.root() != *root {
        return Ok(Err(failure(
            FailureKind::Fork,
            chain,
            None,
            format!("the entries the log serves do not hash to the root of its checkpoint of size {size}"),
        )));
    }
    entries_file.sync_all().map_err(write_err("entries.jsonl"))?;
    hashes_file.sync_all().map_err(write_err("hashes.bin"))?;
    state.size = size;
    state.last_hash = last_hash.to_hex();
    state.last_at = (!last_at.is_empty()).then_some(last_at);
    state.version = version.number();
    state.frontier = frontier.nodes().iter().map(Hash::to_hex).collect();
    Ok(Ok(size - start_size))
}

#[derive(Debug, Default)]
struct Verdicts {
    kept: u64,
    pending: u64,
    other: u64,
}

fn check_receipts(
    dir: &Path,
    keys: &TrustedKeys,
    log: &LogName,
    state: &State,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<Verdicts, Failure>, CliError> {
    let mut verdicts = Verdicts::default();
    let receipts = dir.join("receipts");
    let Ok(listing) = std::fs::read_dir(&receipts) else {
        return Ok(Ok(verdicts));
    };
    let mut files: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut hashes = std::fs::File::open(dir.join("hashes.bin")).ok();
    for path in files {
        let note = read(&path)?;
        let name = path.display().to_string();
        let receipt = match Receipt::open(&note, keys, log) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(Failure {
                    kind: FailureKind::Malformed,
                    chain: None,
                    seq: None,
                    line: None,
                    message: format!("{name}: {e}"),
                }));
            }
        };
        if receipt.chain.as_str() != state.chain {
            verdicts.other += 1;
            continue;
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
