//! `ledger explain`: a request's due times, breaches and fee re-computed offline from the
//! policy its entries pin, after the entries themselves are verified.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use domain::Timestamp;
use domain::explain::{Explanation, RecordedEntry};
use ledger::LogName;
use ledger::bundle::EvidenceBundle;
use ledger::witness::WitnessPolicy;
use serde_json::{Value, json};

use crate::commands::{CliError, Exit, Outcome, VerifyArgs, limits, read_limited, tampered, verify, verify_proof};

#[derive(Debug)]
pub struct ExplainArgs<'a> {
    /// Evidence bundles (every page of one), or one export (JSON Lines).
    pub inputs: &'a [PathBuf],
    pub keys: &'a [PathBuf],
    pub log: LogName,
    /// With an export: the signed checkpoints it is verified against.
    pub checkpoints: &'a [PathBuf],
    /// The request to explain (required with an export holding several).
    pub request: Option<&'a str>,
    pub witnesses: Option<WitnessPolicy>,
    /// The receipt the partner kept for the request's creation, and the receipt keys: proves
    /// the created entry (what was filed) is the one the partner was promised.
    pub receipt: Option<FilingReceipt<'a>>,
    pub json: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct FilingReceipt<'a> {
    pub receipt: &'a Path,
    pub keys: &'a [PathBuf],
}

fn input(path: &Path, message: impl Into<String>) -> CliError {
    CliError::Input {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// One entry line (as hashed) as the explanation reads it, and its chain and hash.
fn recorded(line: &str, path: &Path) -> Result<(RecordedEntry, (String, String)), CliError> {
    let value: Value = serde_json::from_str(line).map_err(|e| input(path, format!("an entry is not JSON: {e}")))?;
    let seq = value["seq"]
        .as_u64()
        .ok_or_else(|| input(path, "an entry without a seq"))?;
    let at = value["at"]
        .as_str()
        .and_then(|t| Timestamp::parse(t).ok())
        .ok_or_else(|| input(path, format!("entry {seq}: no valid at")))?;
    let chain = value["chain"].as_str().unwrap_or_default().to_owned();
    let hash = value["hash"].as_str().unwrap_or_default().to_owned();
    Ok((
        RecordedEntry {
            seq,
            kind: value["kind"].as_str().unwrap_or_default().to_owned(),
            at,
            data: value.get("data").cloned().unwrap_or(Value::Null),
        },
        (chain, hash),
    ))
}

fn is_bundle(path: &Path) -> Result<bool, CliError> {
    let mut first = String::new();
    let file = std::fs::File::open(path).map_err(|source| CliError::Io {
        path: path.to_owned(),
        source,
    })?;
    std::io::BufReader::new(file)
        .read_line(&mut first)
        .map_err(|source| CliError::Io {
            path: path.to_owned(),
            source,
        })?;
    // An export's lines are entries (`{"v":…`); a bundle is one object that starts otherwise
    // (canonical JSON: `{"checkpoint":…`), in any formatting.
    Ok(!first.trim_start().starts_with("{\"v\""))
}

use crate::terminal::printable;

/// What an explanation takes as recorded: the partner's own filing.
pub const AS_FILED: &str = "what the partner filed (product, category, severity, language, fee coverage) is taken as the created entry records it: --receipt with the partner's create receipt proves that entry";

/// What an explanation cannot know, said with every verdict.
pub const COMPLETENESS: &str = "explained from the entries given: a left-out entry in between is caught (each entry records the request's version), a left-out last entry is not; ledger sync keeps every entry of your chain";

/// `ledger explain`.
pub fn explain(args: ExplainArgs<'_>) -> Result<Outcome, CliError> {
    let json = args.json;
    let (explanation, verified) = match explained(args)? {
        Ok(done) => done,
        Err(outcome) => return Ok(outcome),
    };
    let exit = if explanation.matches { Exit::Ok } else { Exit::Tampered };
    if json {
        let value = json!({
            "valid": true,
            "explained": true,
            "matches": explanation.matches,
            "verified": verified,
            "completeness": COMPLETENESS,
            "asFiled": AS_FILED,
            "explanation": explanation,
        });
        return Ok(Outcome::json(exit, &value));
    }
    Ok(Outcome::text(exit, text(&explanation)))
}

/// Verify the evidence, then explain the request: the explanation and the verifier's report,
/// or the outcome to end with (evidence that does not verify, a request that cannot be
/// explained), as `args.json` asks.
#[allow(clippy::result_large_err)]
pub fn explained(args: ExplainArgs<'_>) -> Result<Result<(Explanation, Value), Outcome>, CliError> {
    let Some(first) = args.inputs.first() else {
        return Err(CliError::Usage(
            "give an evidence bundle (every page of one), or an export".into(),
        ));
    };
    let mut entries = Vec::new();
    // Each entry's chain and hash, as verified (for the filing receipt).
    let mut ids: Vec<(String, String)> = Vec::new();
    let verified: Value;
    if is_bundle(first)? {
        if !args.checkpoints.is_empty() {
            return Err(CliError::Usage(
                "--checkpoint is for an export: a bundle carries its checkpoint".into(),
            ));
        }
        let outcome = verify_proof(args.inputs, args.keys, &args.log, args.witnesses.as_ref(), true)?;
        if outcome.exit != Exit::Ok {
            // The evidence does not verify: say so as `verify-proof` does, and explain nothing.
            return verify_proof(args.inputs, args.keys, &args.log, args.witnesses.as_ref(), args.json).map(Err);
        }
        verified = serde_json::from_str(&outcome.stdout).unwrap_or(Value::Null);
        for path in args.inputs {
            let bundle =
                EvidenceBundle::parse(&read_limited(path, limits::BUNDLE)?).map_err(|f| input(path, f.message))?;
            for e in &bundle.entries {
                let (entry, id) = recorded(&e.entry, path)?;
                entries.push(entry);
                ids.push(id);
            }
        }
    } else {
        let [export] = args.inputs else {
            return Err(CliError::Usage("give one export (or the pages of one bundle)".into()));
        };
        if args.checkpoints.is_empty() {
            return Err(CliError::Usage(
                "an export is explained after it is verified: give --checkpoint (a signed checkpoint you kept)".into(),
            ));
        }
        let Some(request) = args.request else {
            return Err(CliError::Usage(
                "with an export, name the request: --request <id>".into(),
            ));
        };
        let verify_args = |json| VerifyArgs {
            export,
            keys: args.keys,
            log: Some(args.log.clone()),
            checkpoints: args.checkpoints,
            disclosures: None,
            chain: None,
            allow_uncovered: false,
            json,
            now: None,
            witnesses: args.witnesses.clone(),
        };
        let outcome = verify(verify_args(true))?;
        if outcome.exit != Exit::Ok {
            return verify(verify_args(args.json)).map(Err);
        }
        verified = serde_json::from_str(&outcome.stdout).unwrap_or(Value::Null);
        let file = std::fs::File::open(export).map_err(|source| CliError::Io {
            path: export.clone(),
            source,
        })?;
        // The id as the ledger writes it (upper case): a lower-case --request finds it too.
        let request = domain::RequestId::parse(request)
            .map_err(|_| CliError::Usage(format!("--request {}: not a request id", printable(request))))?
            .to_string();
        let needle = format!("\"requestId\":\"{request}\"");
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|source| CliError::Io {
                path: export.clone(),
                source,
            })?;
            // Only the request's entries are parsed (an export may hold a partner's history).
            if line.contains(&needle) {
                let (entry, id) = recorded(&line, export)?;
                entries.push(entry);
                ids.push(id);
            }
        }
    }
    match domain::explain::explain(&entries, args.request) {
        Ok(mut e) => {
            if let Some(filing) = args.receipt {
                match filing_receipt(filing, &args.log, &e, &entries, &ids)? {
                    Ok(seq) => e.filing_receipt = Some(seq),
                    Err(failure) => return Ok(Err(tampered(&failure, args.json))),
                }
            }
            Ok(Ok((e, verified)))
        }
        Err(e) => {
            let message = format!("cannot explain: {e}");
            Ok(Err(if args.json {
                Outcome::json(
                    Exit::Tampered,
                    &json!({ "valid": true, "explained": false, "matches": false, "error": message }),
                )
            } else {
                Outcome::text(Exit::Tampered, format!("CANNOT EXPLAIN: {e}\n"))
            }))
        }
    }
}

/// Check the partner's receipt for the request's creation: a valid receipt of this log whose
/// promised entry is the request's created entry (same chain, seq and hash). The created
/// entry's seq, or the failure.
fn filing_receipt(
    filing: FilingReceipt<'_>,
    log: &LogName,
    e: &Explanation,
    entries: &[RecordedEntry],
    ids: &[(String, String)],
) -> Result<Result<u64, ledger::Failure>, CliError> {
    let keys = crate::commands::load_keys(filing.keys, "--receipt-key")?;
    let text = read_limited(filing.receipt, limits::NOTE)?;
    let name = filing.receipt.display().to_string();
    let receipt = match crate::commands::open_receipt(&text, &name, &keys, log, &chrono::Utc::now()) {
        Ok(r) => r,
        Err(failure) => return Ok(Err(failure)),
    };
    let created = entries.iter().zip(ids).find(|(entry, _)| {
        entry.kind == "created" && entry.data.get("requestId").and_then(Value::as_str) == Some(e.request_id.as_str())
    });
    let broken = |message: String| ledger::Failure {
        kind: ledger::FailureKind::BrokenPromise,
        chain: Some(receipt.chain.to_string()),
        seq: Some(receipt.seq),
        line: None,
        message,
    };
    Ok(match created {
        Some((entry, (chain, hash)))
            if entry.seq == receipt.seq
                && *chain == receipt.chain.to_string()
                && *hash == receipt.entry_hash.to_hex() =>
        {
            Ok(entry.seq)
        }
        Some((entry, (chain, hash))) => Err(broken(format!(
            "{name} promises entry {} of {} (hash {}), but request {}'s created entry is entry {} of {chain} (hash {hash})",
            receipt.seq,
            receipt.chain,
            receipt.entry_hash.to_hex(),
            e.request_id,
            entry.seq
        ))),
        None => Err(broken(format!(
            "{name}: the evidence holds no created entry of request {}",
            e.request_id
        ))),
    })
}

/// The explanation for a person: the verdict first, then the derivation.
pub fn text(e: &Explanation) -> String {
    let policies = e
        .policies
        .iter()
        .map(|p| {
            format!(
                "{} (sha256 {}{})",
                p.version,
                &p.sha256[..16],
                if p.pinned {
                    ""
                } else {
                    ", named only: recorded before pinning"
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = match &e.mismatch {
        None => format!(
            "OK: request {}: all {} recorded figures match their re-computation under policy {policies}\n",
            e.request_id, e.figures_checked
        ),
        Some(m) => format!("MISMATCH: request {}: {}\n", e.request_id, m.message),
    };
    match e.filing_receipt {
        Some(seq) => out.push_str(&format!(
            "  ({COMPLETENESS}; the filing is the partner's: its receipt promises the created entry, seq {seq})\n"
        )),
        None => out.push_str(&format!("  ({COMPLETENESS}; {AS_FILED})\n")),
    }
    for w in &e.warnings {
        out.push_str(&format!("  NOTE: {w}\n"));
    }
    out.push_str(&format!("\nInitial response: {}\n", e.initial_response.text));
    let o = &e.initial_response_outcome;
    out.push_str(&format!(
        "  now: due {}, {}{}{}\n",
        o.due_at,
        o.state.as_str(),
        o.first_response_at
            .map(|t| format!(", first response {t}"))
            .unwrap_or_default(),
        o.breached_at
            .map(|t| format!(", breach recorded {t}"))
            .unwrap_or_default()
    ));
    out.push_str(&format!("Fee: {}\n", e.fee.text));
    out.push_str("\nTimeline:\n");
    for s in &e.steps {
        out.push_str(&format!(
            "  seq {:>5}  {}  {:<22} {:<17} {}\n",
            s.seq, s.at, s.kind, s.role, s.text
        ));
    }
    for n in &e.not_changes {
        out.push_str(&format!(
            "  seq {:>5}  {}  {} (changes nothing the rules compute)\n",
            n.seq, n.at, n.kind
        ));
    }
    if !e.cycles.is_empty() {
        out.push_str("\nNext-response cycles:\n");
        for c in &e.cycles {
            out.push_str(&format!(
                "  cycle {}: from {}, due {} ({} min, policy {}): {}{}\n",
                c.cycle,
                c.started_at,
                c.due_at,
                c.target_minutes,
                c.policy_version,
                c.outcome,
                c.answered_at.map(|a| format!(" (answered {a})")).unwrap_or_default()
            ));
        }
    }
    out
}
