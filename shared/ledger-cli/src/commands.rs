//! The auditor's commands. Each returns what to print and how to exit; `main` only parses
//! arguments and prints.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use ledger::bundle::{EvidenceBundle, prove};
use ledger::{ChainId, Failure, SignerKey, TrustedKeys, Verifier, VerifierKey, VerifyError, VerifyOptions};
use serde_json::json;

/// How a command ended, as the auditor's scripts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Verified / done.
    Ok = 0,
    /// Tampering (or damage) found.
    Tampered = 1,
    /// Bad usage, unreadable input.
    Usage = 2,
}

/// A usage or I/O problem (exit 2), as opposed to tampering (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// Read the auditor's trusted public keys (one `<name>+<id>+<key>` per file).
pub fn load_keys(paths: &[PathBuf]) -> Result<TrustedKeys, CliError> {
    let mut keys = Vec::new();
    for path in paths {
        let text = read(path)?;
        let key = VerifierKey::parse(&text).map_err(|e| CliError::Input {
            path: path.clone(),
            message: e.to_string(),
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(CliError::Usage("at least one --key is needed".into()));
    }
    Ok(TrustedKeys::new(keys))
}

/// The result of a command: the exit status and the text for stdout.
#[derive(Debug)]
pub struct Outcome {
    pub exit: Exit,
    pub stdout: String,
}

#[derive(Debug)]
pub struct VerifyArgs<'a> {
    pub export: &'a Path,
    pub keys: &'a [PathBuf],
    pub checkpoints: &'a [PathBuf],
    pub chain: Option<ChainId>,
    pub strict: bool,
    pub json: bool,
}

/// `ledger verify`.
pub fn verify(args: VerifyArgs<'_>) -> Result<Outcome, CliError> {
    let keys = load_keys(args.keys)?;
    let mut verifier = Verifier::new(
        keys,
        VerifyOptions {
            strict: args.strict,
            chain: args.chain,
        },
    );
    for path in args.checkpoints {
        let note = read(path)?;
        if let Err(failure) = verifier.add_checkpoint(&note, &path.display().to_string()) {
            return Ok(tampered(&failure, args.json));
        }
    }
    let file = File::open(args.export).map_err(io(args.export))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(total);
    let result = verifier.verify(BufReader::with_capacity(1 << 20, file), |bytes| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => {
            let stdout = if args.json {
                let mut value = serde_json::to_value(&report).unwrap_or_default();
                value["valid"] = json!(true);
                format!("{value}\n")
            } else {
                let mut text = format!(
                    "OK: {} entries in {} chain{}, {} checkpoint{} checked\n",
                    report.entries,
                    report.chains.len(),
                    plural(report.chains.len()),
                    report.checkpoints_checked,
                    plural(report.checkpoints_checked)
                );
                for c in &report.chains {
                    text.push_str(&format!(
                        "  {}: size {}, root {}, {} checkpoint{} checked\n",
                        c.chain,
                        c.size,
                        c.root,
                        c.checkpoints_checked,
                        plural(c.checkpoints_checked)
                    ));
                }
                if report.checkpoints_checked == 0 {
                    text.push_str("  note: no checkpoint was checked, so a consistently rewritten or truncated ledger would pass; pass --checkpoint with the signed checkpoints you kept\n");
                }
                text
            };
            Ok(Outcome { exit: Exit::Ok, stdout })
        }
        Err(VerifyError::Tampered(failure)) => Ok(tampered(&failure, args.json)),
        Err(VerifyError::Io(source)) => Err(CliError::Io {
            path: args.export.to_owned(),
            source,
        }),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn tampered(failure: &Failure, json: bool) -> Outcome {
    let stdout = if json {
        format!("{}\n", json!({ "valid": false, "failure": failure }))
    } else {
        format!("TAMPERED: {failure}\n")
    };
    Outcome {
        exit: Exit::Tampered,
        stdout,
    }
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

/// `ledger prove`: the evidence bundle for one entry.
pub fn prove_entry(export: &Path, seq: u64, checkpoint: &Path, since: Option<&Path>) -> Result<Outcome, CliError> {
    let note = read(checkpoint)?;
    let older = since.map(read).transpose()?;
    let file = File::open(export).map_err(io(export))?;
    match prove(BufReader::new(file), seq, &note, older.as_deref()) {
        Ok(bundle) => Ok(Outcome {
            exit: Exit::Ok,
            stdout: format!("{}\n", serde_json::to_string_pretty(&bundle).unwrap_or_default()),
        }),
        Err(ledger::bundle::ProveError::Io(source)) => Err(CliError::Io {
            path: export.to_owned(),
            source,
        }),
        Err(e @ (ledger::bundle::ProveError::NotInCheckpoint { .. } | ledger::bundle::ProveError::Checkpoint(_))) => {
            Err(CliError::Usage(e.to_string()))
        }
        Err(e) => Ok(Outcome {
            exit: Exit::Tampered,
            stdout: format!("TAMPERED: {e}\n"),
        }),
    }
}

/// `ledger verify-proof`.
pub fn verify_proof(bundle: &Path, keys: &[PathBuf], json: bool) -> Result<Outcome, CliError> {
    let keys = load_keys(keys)?;
    let text = read(bundle)?;
    let bundle: EvidenceBundle = serde_json::from_str(&text).map_err(|e| CliError::Input {
        path: bundle.to_owned(),
        message: format!("not an evidence bundle: {e}"),
    })?;
    match ledger::bundle::verify_bundle(&bundle, &keys) {
        Ok(report) => {
            let stdout = if json {
                let mut value = serde_json::to_value(&report).unwrap_or_default();
                value["valid"] = json!(true);
                format!("{value}\n")
            } else {
                let consistency = report
                    .consistent_with_size
                    .map(|s| format!(", which extends the checkpoint of size {s}"))
                    .unwrap_or_default();
                format!(
                    "OK: entry seq {} ({}, {}) of chain {} is in the checkpoint of size {} signed by {}{consistency}\n",
                    report.seq,
                    report.kind,
                    report.at,
                    report.chain,
                    report.tree_size,
                    report.signed_by.join(", ")
                )
            };
            Ok(Outcome { exit: Exit::Ok, stdout })
        }
        Err(failure) => Ok(tampered(&failure, json)),
    }
}

/// `ledger keygen`: `<out>.key` (private, 0600) and `<out>.pub`.
pub fn keygen(out: &Path, force: bool) -> Result<Outcome, CliError> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::Usage(format!("{}: the file name is the key name", out.display())))?;
    let key = SignerKey::generate(name).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
    let (private, public) = write_key_pair(out, &key, force)?;
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: format!(
            "wrote {} (private, mode 0600: keep it secret) and {} (public: give it to auditors)\n{}\n",
            private.display(),
            public.display(),
            key.verifier()
        ),
    })
}

/// Write a key pair as `<stem>.key` (0600) and `<stem>.pub`; returns both paths.
pub fn write_key_pair(stem: &Path, key: &SignerKey, force: bool) -> Result<(PathBuf, PathBuf), CliError> {
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
    writeln!(file, "{}", key.to_text()).map_err(io(&private))?;
    std::fs::write(&public, format!("{}\n", key.verifier())).map_err(io(&public))?;
    Ok((private, public))
}

/// Read a private key file.
pub fn load_signer(path: &Path) -> Result<SignerKey, CliError> {
    SignerKey::parse(&read(path)?).map_err(|e| CliError::Input {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// `ledger sample`.
pub fn sample(
    partner: &str,
    entries: u64,
    key: &Path,
    out: &Path,
    checkpoint_out: Option<&Path>,
    log_name: &str,
    seed: u64,
) -> Result<Outcome, CliError> {
    let chain = ChainId::parse(partner).map_err(|e| CliError::Usage(format!("--partner: {e}")))?;
    let key = load_signer(key)?;
    let file = File::create(out).map_err(io(out))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let head = crate::sample::write_sample(&chain, entries, seed, &mut writer).map_err(|e| CliError::Input {
        path: out.to_owned(),
        message: e.to_string(),
    })?;
    writer.flush().map_err(io(out))?;
    let note = head.sign_checkpoint(log_name, &key);
    if let Some(path) = checkpoint_out {
        std::fs::write(path, &note).map_err(io(path))?;
    }
    Ok(Outcome {
        exit: Exit::Ok,
        stdout: format!(
            "wrote {} entries of chain {} to {}; root {}\n",
            head.size,
            chain,
            out.display(),
            head.root().to_base64()
        ),
    })
}
