//! The auditor's commands. Each returns what to print and how to exit; `main` only parses
//! arguments and prints.
//!
//! One convention for every command: exit 0 verified (or done), 1 evidence of tampering or
//! malformed evidence, 2 usage or unreadable input. With `--json` exactly one JSON object is
//! printed on stdout for every outcome, errors included.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use ledger::bundle::{EvidenceBundle, ProveError, prove, verify_bundle_witnessed};
use ledger::personal::{DISCLOSURES_FORMAT, Disclosure, Disclosures};
use ledger::witness::{CosignerKey, WitnessKey, WitnessPolicy};
use ledger::{
    ChainId, Failure, FailureKind, KeptReceipt, LogName, Receipt, SignerKey, TrustedKeys, Verifier, VerifierKey,
    VerifyError, VerifyOptions,
};
use serde_json::{Value, json};

/// How a command ended, as the auditor's scripts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Verified / done.
    Ok = 0,
    /// Tampering, a broken promise, or malformed evidence.
    Tampered = 1,
    /// Bad usage, unreadable input.
    Usage = 2,
}

/// A usage or I/O problem (exit 2), as opposed to what the evidence says (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The `--json` form: `{"valid": false, "error": {"kind", "message"}}`.
    pub fn to_json(&self) -> Value {
        let kind = match self {
            CliError::Io { .. } => "io",
            CliError::Input { .. } => "input",
            CliError::Usage(_) => "usage",
        };
        json!({ "valid": false, "error": { "kind": kind, "message": self.to_string() } })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The most of one input file a command reads whole (the rest are streamed): enough for any
/// honest file of its kind, and what keeps every command within its memory budget (128 MiB
/// peak, FORMAT.md §14) whatever it is handed.
pub mod limits {
    /// A key file: one line.
    pub const KEY: u64 = 64 << 10;
    /// A signed note (checkpoint or receipt) is at most 1 MiB (FORMAT.md §6); a receipt kept as
    /// the API's JSON object escapes it.
    pub const NOTE: u64 = 2 << 20;
    /// An evidence bundle or a disclosures file (the API's are under 6 MB).
    pub const BUNDLE: u64 = 16 << 20;
    /// A token file.
    pub const TOKEN: u64 = 64 << 10;
}

pub(crate) fn read(path: &Path) -> Result<String, CliError> {
    read_limited(path, limits::NOTE)
}

/// Read a whole file of at most `limit` bytes as text; a larger one is refused without
/// reading it all.
pub fn read_limited(path: &Path, limit: u64) -> Result<String, CliError> {
    use std::io::Read;
    let file = File::open(path).map_err(io(path))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > limit {
        return Err(CliError::Input {
            path: path.to_owned(),
            message: format!("larger than {} KiB, more than any file of its kind", limit >> 10),
        });
    }
    String::from_utf8(bytes).map_err(|_| CliError::Input {
        path: path.to_owned(),
        message: "not UTF-8 text".into(),
    })
}

/// Read trusted public keys (one `<name>+<id>+<key>` per file).
pub fn load_keys(paths: &[PathBuf], flag: &str) -> Result<TrustedKeys, CliError> {
    let mut keys = Vec::new();
    for path in paths {
        let text = read_limited(path, limits::KEY)?;
        let key = VerifierKey::parse(&text).map_err(|e| CliError::Input {
            path: path.clone(),
            message: e.to_string(),
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(CliError::Usage(format!("at least one {flag} is needed")));
    }
    Ok(TrustedKeys::new(keys))
}

/// The witness policy of `--witness <key file>` (repeated) and `--witness-quorum` (default: all).
pub fn witness_policy(paths: &[PathBuf], quorum: Option<usize>) -> Result<Option<WitnessPolicy>, CliError> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for path in paths {
        let key = WitnessKey::parse(&read_limited(path, limits::KEY)?).map_err(|e| CliError::Input {
            path: path.clone(),
            message: format!("not a witness's public key: {e}"),
        })?;
        keys.push(key);
    }
    let quorum = quorum.unwrap_or(keys.len());
    WitnessPolicy::new(keys, quorum)
        .map(Some)
        .map_err(|e| CliError::Usage(format!("--witness-quorum: {e}")))
}

/// What a checkpoint that fails the witness policy says.
pub fn unwitnessed(e: &ledger::witness::WitnessError, chain: Option<String>, what: &str) -> Failure {
    Failure {
        kind: FailureKind::of_witness(e),
        chain,
        seq: None,
        line: None,
        message: format!("{what}: {e}"),
    }
}

pub fn parse_log(text: &str) -> Result<LogName, CliError> {
    LogName::parse(text).map_err(|e| CliError::Usage(format!("--log: {e}")))
}

/// The result of a command: the exit status and the text for stdout (`main` writes it
/// through [`crate::terminal::printable`]).
#[derive(Debug)]
pub struct Outcome {
    pub exit: Exit,
    pub stdout: String,
}

impl Outcome {
    /// A message for a person.
    pub(crate) fn text(exit: Exit, stdout: String) -> Self {
        Self { exit, stdout }
    }

    /// `value` as one line of JSON safe for a terminal ([`crate::terminal::json_line`]).
    pub(crate) fn json(exit: Exit, value: &Value) -> Self {
        Self::text(exit, crate::terminal::json_line(value))
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the evidence says is wrong: exit 1.
pub fn tampered(failure: &Failure, json: bool) -> Outcome {
    if json {
        Outcome::json(Exit::Tampered, &json!({ "valid": false, "failure": failure }))
    } else {
        let label = match failure.kind {
            FailureKind::Malformed | FailureKind::NotCanonical => "MALFORMED",
            FailureKind::Uncovered => "NOT COVERED",
            FailureKind::BrokenPromise => "BROKEN PROMISE",
            _ => "TAMPERED",
        };
        Outcome {
            exit: Exit::Tampered,
            stdout: format!("{label}: {failure}\n"),
        }
    }
}

#[derive(Debug)]
pub struct VerifyArgs<'a> {
    pub export: &'a Path,
    pub keys: &'a [PathBuf],
    pub log: Option<LogName>,
    pub checkpoints: &'a [PathBuf],
    pub disclosures: Option<&'a Path>,
    pub chain: Option<ChainId>,
    pub allow_uncovered: bool,
    pub json: bool,
    /// The clock entries' times are judged by (FORMAT.md §2.2); `None`: this machine's.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// The witnesses every kept checkpoint must be cosigned by (FORMAT.md §17).
    pub witnesses: Option<WitnessPolicy>,
}

/// Read a disclosures file (`ledgerdesk-disclosures/v1`).
pub fn load_disclosures(path: &Path) -> Result<Vec<Disclosure>, CliError> {
    let file: Disclosures =
        serde_json::from_str(&read_limited(path, limits::BUNDLE)?).map_err(|e| CliError::Input {
            path: path.to_owned(),
            message: format!("not a disclosures file: {e}"),
        })?;
    if file.format != DISCLOSURES_FORMAT {
        return Err(CliError::Input {
            path: path.to_owned(),
            message: format!("unknown format {:?}, expected {DISCLOSURES_FORMAT}", file.format),
        });
    }
    Ok(file.disclosures)
}

/// `ledger verify`.
pub fn verify(args: VerifyArgs<'_>) -> Result<Outcome, CliError> {
    let keys = load_keys(args.keys, "--key")?;
    if args.witnesses.is_some() && args.checkpoints.is_empty() {
        return Err(CliError::Usage(
            "--witness needs --checkpoint: witnesses cosign checkpoints, and without one nothing would be checked against them".into(),
        ));
    }
    if !args.checkpoints.is_empty() && args.log.is_none() {
        return Err(CliError::Usage(
            "--log <log name> is required with --checkpoint: a checkpoint proves something only about the log it names (the origin before /<chain>, e.g. ledgerdesk.local)".into(),
        ));
    }
    let mut verifier = Verifier::new(
        keys,
        VerifyOptions {
            chain: args.chain,
            log: args.log,
            require_covered: args.allow_uncovered.then_some(false),
            threads: None,
            now: Some(args.now.unwrap_or_else(chrono::Utc::now)),
            witnesses: args.witnesses,
        },
    );
    for path in args.checkpoints {
        let note = read(path)?;
        if let Err(failure) = verifier.add_checkpoint(&note, &path.display().to_string()) {
            return Ok(tampered(&failure, args.json));
        }
    }
    if let Some(path) = args.disclosures {
        for d in load_disclosures(path)? {
            verifier.add_disclosure(d);
        }
    }
    let file = File::open(args.export).map_err(io(args.export))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(total);
    let result = verifier.verify(file, |bytes| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(VerifyError::Tampered(failure)) => return Ok(tampered(&failure, args.json)),
        Err(VerifyError::Io(source)) => {
            return Err(CliError::Io {
                path: args.export.to_owned(),
                source,
            });
        }
    };
    if args.json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["valid"] = json!(true);
        return Ok(Outcome::json(Exit::Ok, &value));
    }
    let chains = report.chains.len() as u64 + report.chains_not_listed;
    let mut text = format!(
        "OK: {} in {}{}, {} checked; {} covered by a checkpoint, {} not covered\n",
        plural(report.entries, "entry", "entries"),
        plural(chains, "chain", "chains"),
        report.log.as_ref().map(|l| format!(" of log {l}")).unwrap_or_default(),
        plural(report.checkpoints_checked as u64, "checkpoint", "checkpoints"),
        report.covered,
        report.uncovered,
    );
    for c in &report.chains {
        text.push_str(&format!(
            "  {}: {}size {}, root {}, {} checked{}, covered {}, not covered {}\n",
            c.chain,
            c.origin.as_ref().map(|o| format!("origin {o}, ")).unwrap_or_default(),
            c.size,
            c.root,
            plural(c.checkpoints_checked as u64, "checkpoint", "checkpoints"),
            if c.witnessed_by.is_empty() {
                String::new()
            } else {
                format!(" (cosigned by {})", c.witnessed_by.join(", "))
            },
            c.covered,
            c.uncovered,
        ));
    }
    if report.chains_not_listed > 0 {
        text.push_str(&format!(
            "  … and {} more chains, verified and counted above but not listed\n",
            report.chains_not_listed
        ));
    }
    if report.disclosures_checked > 0 {
        text.push_str(&format!(
            "  {} matched their commitments\n",
            plural(report.disclosures_checked as u64, "disclosed value", "disclosed values")
        ));
    }
    if report.checkpoints_checked == 0 {
        text.push_str("  note: no checkpoint was checked, so a consistently rewritten or truncated ledger would pass; pass --checkpoint with the signed checkpoints you kept (and --log)\n");
    } else if report.uncovered > 0 {
        text.push_str(
            "  note: entries after the last checkpoint are not bound by any signature yet (--allow-uncovered)\n",
        );
    }
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: text,
    })
}

fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || total < 64 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// `ledger prove`: the evidence bundle for some entries.
pub fn prove_entries(
    export: &Path,
    seqs: &[u64],
    checkpoint: &Path,
    since: Option<&Path>,
    disclosures: Option<&Path>,
) -> Result<Outcome, CliError> {
    let note = read(checkpoint)?;
    let older = since.map(read).transpose()?;
    let disclosed = disclosures.map(load_disclosures).transpose()?.unwrap_or_default();
    let file = File::open(export).map_err(io(export))?;
    let problem = |e: &ProveError| Outcome {
        exit: Exit::Tampered,
        stdout: format!(
            "{}: {e}\n",
            if matches!(e, ProveError::Checkpoint(_)) {
                "MALFORMED"
            } else {
                "TAMPERED"
            }
        ),
    };
    match prove(BufReader::new(file), seqs, &note, older.as_deref(), &disclosed) {
        // The same JSON value, nothing in it able to steer a terminal (a bundle reads in any
        // JSON formatting).
        Ok(bundle) => Ok(Outcome::text(Exit::Ok, crate::terminal::json_text(&bundle.to_text()))),
        Err(ProveError::Io(source)) => Err(CliError::Io {
            path: export.to_owned(),
            source,
        }),
        Err(e @ ProveError::NotInCheckpoint { .. }) => Err(CliError::Usage(e.to_string())),
        Err(e) => Ok(problem(&e)),
    }
}

/// `ledger verify-proof`.
/// What a bundle does not prove, said with every verdict.
const COMPLETENESS: &str =
    "each entry listed is proven in the log; that no entry or page of the request is left out is not";

/// Verify an evidence bundle, or the pages of one (the API pages a long request's evidence:
/// `Ledger-Next-Cursor`): every page on its own, and together as one set — one chain, one
/// checkpoint, entries in ascending order with none repeated.
pub fn verify_proof(
    bundles: &[PathBuf],
    keys: &[PathBuf],
    log: &LogName,
    witnesses: Option<&WitnessPolicy>,
    json: bool,
) -> Result<Outcome, CliError> {
    let keys = load_keys(keys, "--key")?;
    let mut report: Option<ledger::bundle::BundleReport> = None;
    for (page, path) in bundles.iter().enumerate() {
        let text = read_limited(path, limits::BUNDLE)?;
        let next = match EvidenceBundle::parse(&text).and_then(|b| verify_bundle_witnessed(&b, &keys, log, witnesses)) {
            Ok(next) => next,
            Err(mut failure) => {
                if bundles.len() > 1 {
                    failure.message = format!("page {} ({}): {}", page + 1, path.display(), failure.message);
                }
                return Ok(tampered(&failure, json));
            }
        };
        report = Some(match report {
            None => next,
            Some(mut set) => {
                let last = set.entries.last().map(|e| e.seq);
                let apart = if (&next.chain, next.tree_size, &next.root) != (&set.chain, set.tree_size, &set.root) {
                    Some(format!(
                        "page {} is of {} at size {}, not {} at size {} as page 1: fetch the pages of one set by its cursors",
                        page + 1,
                        next.chain,
                        next.tree_size,
                        set.chain,
                        set.tree_size
                    ))
                } else if next.entries.first().map(|e| e.seq) <= last {
                    Some(format!(
                        "page {} repeats or goes back before entry {} of the page before it: give the pages in order, each once",
                        page + 1,
                        last.unwrap_or_default()
                    ))
                } else {
                    None
                };
                if let Some(message) = apart {
                    let failure = ledger::Failure {
                        kind: ledger::FailureKind::Malformed,
                        chain: Some(next.chain.clone()),
                        seq: None,
                        line: None,
                        message,
                    };
                    return Ok(tampered(&failure, json));
                }
                set.entries.extend(next.entries);
                set
            }
        });
    }
    let Some(report) = report else {
        return Err(CliError::Usage("give at least one evidence bundle".into()));
    };
    // A set of pages is one request's entries in seq order, each once: the first page too.
    if bundles.len() > 1
        && let Some(w) = report.entries.windows(2).find(|w| w[1].seq <= w[0].seq)
    {
        let failure = ledger::Failure {
            kind: ledger::FailureKind::Malformed,
            chain: Some(report.chain.clone()),
            seq: Some(w[1].seq),
            line: None,
            message: format!(
                "entry {} follows entry {}: the pages of a set hold entries in ascending order, each once",
                w[1].seq, w[0].seq
            ),
        };
        return Ok(tampered(&failure, json));
    }
    if json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["valid"] = json!(true);
        value["pages"] = json!(bundles.len());
        value["completeness"] = json!(COMPLETENESS);
        return Ok(Outcome::json(Exit::Ok, &value));
    }
    let consistency = report
        .consistent_with_size
        .map(|s| format!(", which extends the checkpoint of size {s}"))
        .unwrap_or_default();
    let cosigned = if report.witnessed_by.is_empty() {
        String::new()
    } else {
        format!(", cosigned by {}", report.witnessed_by.join(", "))
    };
    let mut text = format!(
        "OK: {} of {} in the checkpoint of size {} signed by {}{cosigned}{consistency}\n",
        plural(report.entries.len() as u64, "entry", "entries"),
        report.origin,
        report.tree_size,
        report.signed_by.join(", ")
    );
    if bundles.len() > 1 {
        text.push_str(&format!("  ({} pages, in order, none repeated)\n", bundles.len()));
    }
    text.push_str(&format!("  ({COMPLETENESS})\n"));
    for e in &report.entries {
        text.push_str(&format!("  entry seq {} ({}, {})", e.seq, e.kind, e.at));
        if !e.disclosed.is_empty() {
            text.push_str(&format!("; disclosed values match: {}", e.disclosed.join(", ")));
        }
        text.push('\n');
    }
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: text,
    })
}

/// What a receipt that does not open says about the evidence.
pub fn receipt_failure(e: &ledger::receipt::ReceiptError) -> FailureKind {
    use ledger::receipt::ReceiptError;
    match e {
        ReceiptError::Note(n) => FailureKind::of_note(n),
        ReceiptError::WrongLog { .. } => FailureKind::WrongLog,
        ReceiptError::Malformed(_) | ReceiptError::Disagrees(_) => FailureKind::Malformed,
    }
}

/// Open a kept receipt (any form [`KeptReceipt`] reads) and judge its time by `now`.
pub fn open_receipt(
    text: &str,
    name: &str,
    keys: &TrustedKeys,
    log: &LogName,
    now: &chrono::DateTime<chrono::Utc>,
) -> Result<Receipt, Failure> {
    let bad = |kind, message: String| Failure {
        kind,
        chain: None,
        seq: None,
        line: None,
        message,
    };
    let kept = KeptReceipt::parse(text).ok_or_else(|| {
        bad(
            FailureKind::Malformed,
            format!("{name}: not a receipt (neither a signed ledgerdesk-receipt/v1 note nor the receipt object the API returns)"),
        )
    })?;
    let receipt = kept
        .open(keys, log)
        .map_err(|e| bad(receipt_failure(&e), format!("{name}: {e}")))?;
    receipt.check_time(now).map_err(|message| Failure {
        kind: FailureKind::FutureTime,
        chain: Some(receipt.chain.to_string()),
        seq: Some(receipt.seq),
        line: None,
        message: format!("{name}: {message}"),
    })?;
    Ok(receipt)
}

/// What `ledger verify-receipt` checks the promise against: an export, the checkpoint key(s)
/// and a checkpoint that should cover the entry.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptAgainst<'a> {
    pub export: &'a Path,
    pub keys: &'a [PathBuf],
    pub checkpoint: &'a Path,
}

/// `ledger verify-receipt`: the signature and the times, and optionally the promise: judged
/// against the history the export holds, once that history is verified up to the
/// checkpoint (links, hashes, the recomputed root at its size).
pub fn verify_receipt(
    receipt: &Path,
    receipt_keys: &[PathBuf],
    log: &LogName,
    against: Option<ReceiptAgainst<'_>>,
    now: Option<chrono::DateTime<chrono::Utc>>,
    witnesses: Option<&WitnessPolicy>,
    json: bool,
) -> Result<Outcome, CliError> {
    if witnesses.is_some() && against.is_none() {
        return Err(CliError::Usage(
            "--witness needs --export and --checkpoint: witnesses cosign checkpoints, and a receipt alone is checked against none".into(),
        ));
    }
    let keys = load_keys(receipt_keys, "--receipt-key")?;
    let text = read(receipt)?;
    let now = now.unwrap_or_else(chrono::Utc::now);
    let opened = match open_receipt(&text, &receipt.display().to_string(), &keys, log, &now) {
        Ok(r) => r,
        Err(failure) => return Ok(tampered(&failure, json)),
    };
    let broken = |message: String| {
        let failure = Failure {
            kind: FailureKind::BrokenPromise,
            chain: Some(opened.chain.to_string()),
            seq: Some(opened.seq),
            line: None,
            message,
        };
        tampered(&failure, json)
    };
    let overdue = opened.deadline().is_some_and(|d| now > d);
    let mut verdict = if overdue {
        "signature verified (its merge deadline has passed: check it against a checkpoint)".to_owned()
    } else {
        "signature verified; pending until its merge deadline".to_owned()
    };
    if let Some(against) = against {
        let checkpoint_keys = load_keys(against.keys, "--key")?;
        let note = read(against.checkpoint)?;
        let (cp, _) = match ledger::Checkpoint::open_pinned(&note, &checkpoint_keys, log) {
            Ok(cp) => cp,
            Err(e) => {
                let failure = Failure {
                    kind: FailureKind::of_note(&e),
                    chain: None,
                    seq: None,
                    line: None,
                    message: format!("checkpoint: {e}"),
                };
                return Ok(tampered(&failure, json));
            }
        };
        if cp.chain().as_ref() != Some(&opened.chain) {
            return Err(CliError::Usage(
                "the checkpoint is of another chain than the receipt".into(),
            ));
        }
        if let Some(policy) = witnesses
            && let Err(e) = policy.check(&note)
        {
            return Ok(tampered(
                &unwitnessed(&e, Some(opened.chain.to_string()), "checkpoint"),
                json,
            ));
        }
        if opened.seq >= cp.size {
            if overdue {
                return Ok(broken(format!(
                    "the checkpoint of size {} does not cover seq {}, and its merge deadline {} has passed: unless a later checkpoint covers it, the promise was broken",
                    cp.size, opened.seq, opened.merge_deadline
                )));
            }
            verdict = format!(
                "pending: the checkpoint of size {} does not cover seq {} yet; a checkpoint must by {}",
                cp.size, opened.seq, opened.merge_deadline
            );
        } else {
            // The export is believed only as far as it verifies: every chain in it, and the
            // receipt's chain against the checkpoint (its root recomputed at its size).
            let mut verifier = Verifier::new(
                checkpoint_keys,
                VerifyOptions {
                    chain: None,
                    log: Some(log.clone()),
                    require_covered: Some(false),
                    threads: None,
                    now: Some(now),
                    witnesses: None,
                },
            );
            if let Err(failure) = verifier.add_checkpoint(&note, &against.checkpoint.display().to_string()) {
                return Ok(tampered(&failure, json));
            }
            verifier.watch(&opened.chain, opened.seq);
            let file = File::open(against.export).map_err(io(against.export))?;
            let report = match verifier.verify(file, |_| {}) {
                Ok(report) => report,
                Err(VerifyError::Tampered(failure)) => return Ok(tampered(&failure, json)),
                Err(VerifyError::Io(source)) => {
                    return Err(CliError::Io {
                        path: against.export.to_owned(),
                        source,
                    });
                }
            };
            // The checkpoint was reached (a shorter chain is `truncated`), so the entry is there.
            let Some(held) = report.watched.first() else {
                return Ok(broken(format!(
                    "the verified history holds no entry seq {} although the checkpoint of size {} covers it",
                    opened.seq, cp.size
                )));
            };
            if held.hash != opened.entry_hash.to_hex() {
                return Ok(broken(format!(
                    "the verified history holds another entry at seq {} ({}) than the one promised ({}): the promised entry was dropped or replaced",
                    opened.seq,
                    held.hash,
                    opened.entry_hash.to_hex()
                )));
            }
            if held.at != opened.at {
                return Ok(tampered(
                    &Failure {
                        kind: FailureKind::Malformed,
                        chain: Some(opened.chain.to_string()),
                        seq: Some(opened.seq),
                        line: None,
                        message: format!(
                            "the receipt says the entry is of {}, the entry says {}",
                            opened.at, held.at
                        ),
                    },
                    json,
                ));
            }
            verdict = format!(
                "kept: the entry is at seq {} of the history verified up to the checkpoint of size {}",
                opened.seq, cp.size
            );
        }
    }
    let value = json!({
        "valid": true,
        "origin": opened.origin,
        "chain": opened.chain.to_string(),
        "seq": opened.seq,
        "entryHash": opened.entry_hash.to_hex(),
        "at": opened.at,
        "mergeDeadline": opened.merge_deadline,
        "verdict": verdict,
    });
    if json {
        return Ok(Outcome::json(Exit::Ok, &value));
    }
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: format!(
            "OK: receipt for seq {} of {} (entry {}, at {}, checkpoint due by {}): {verdict}\n",
            opened.seq,
            opened.origin,
            opened.entry_hash.to_hex(),
            opened.at,
            opened.merge_deadline
        ),
    })
}

/// `ledger keygen`: `<out>.key` (private, 0600) and `<out>.pub`; with `witness`, a witness's
/// cosigning key (C2SP cosignature/v1).
pub fn keygen(out: &Path, name: Option<&str>, witness: bool, force: bool) -> Result<Outcome, CliError> {
    let name = match name {
        Some(name) => name,
        None => out
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CliError::Usage(format!("{}: the file name is the key name", out.display())))?,
    };
    let (private_text, public_text, role) = if witness {
        let key = CosignerKey::generate(name).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
        (
            key.to_text(),
            key.verifier().to_string(),
            "public: give it to the logs that ask you and the verifiers that require you",
        )
    } else {
        let key = SignerKey::generate(name).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
        (key.to_text(), key.verifier().to_string(), "public: give it to auditors")
    };
    let (private, public) = write_key_files(out, &private_text, &public_text, force)?;
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: format!(
            "wrote {} (private, mode 0600: keep it secret) and {} ({role})\n{public_text}\n",
            private.display(),
            public.display(),
        ),
    })
}

/// Write a key pair as `<stem>.key` (0600) and `<stem>.pub`; returns both paths.
pub fn write_key_pair(stem: &Path, key: &SignerKey, force: bool) -> Result<(PathBuf, PathBuf), CliError> {
    write_key_files(stem, &key.to_text(), &key.verifier().to_string(), force)
}

/// Write `<stem>.key` (0600) and `<stem>.pub`.
fn write_key_files(
    stem: &Path,
    private_text: &str,
    public_text: &str,
    force: bool,
) -> Result<(PathBuf, PathBuf), CliError> {
    let private = stem.with_extension("key");
    let public = stem.with_extension("pub");
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&private).map_err(io(&private))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(&private))?;
    }
    writeln!(file, "{private_text}").map_err(io(&private))?;
    std::fs::write(&public, format!("{public_text}\n")).map_err(io(&public))?;
    Ok((private, public))
}

/// Read a private key file.
pub fn load_signer(path: &Path) -> Result<SignerKey, CliError> {
    SignerKey::parse(&read(path)?).map_err(|e| CliError::Input {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// What `ledger sample` writes.
#[derive(Debug)]
pub struct SampleArgs<'a> {
    pub partner: &'a str,
    pub entries: u64,
    pub key: &'a Path,
    pub out: &'a Path,
    pub checkpoint_out: Option<&'a Path>,
    pub log_name: &'a str,
    pub seed: u64,
}

/// `ledger sample`.
pub fn sample(args: SampleArgs<'_>) -> Result<Outcome, CliError> {
    let chain = ChainId::parse(args.partner).map_err(|e| CliError::Usage(format!("--partner: {e}")))?;
    let log = LogName::parse(args.log_name).map_err(|e| CliError::Usage(format!("--log-name: {e}")))?;
    let key = load_signer(args.key)?;
    let file = File::create(args.out).map_err(io(args.out))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let head =
        crate::sample::write_sample(&chain, args.entries, args.seed, &mut writer).map_err(|e| CliError::Input {
            path: args.out.to_owned(),
            message: e.to_string(),
        })?;
    writer.flush().map_err(io(args.out))?;
    let note = head.sign_checkpoint(log.as_str(), &key);
    if let Some(path) = args.checkpoint_out {
        std::fs::write(path, &note).map_err(io(path))?;
    }
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: format!(
            "wrote {} entries of chain {} (log {log}) to {}; root {}\n",
            head.size,
            chain,
            args.out.display(),
            head.root().to_base64()
        ),
    })
}
