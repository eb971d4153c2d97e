//! `ledger`: the auditor's and the partner's tool. Exit status: 0 verified, 1 evidence of
//! tampering or malformed evidence, 2 usage or unreadable input. With `--json`, exactly one
//! JSON object on stdout for every outcome.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledger::ChainId;
use ledger_cli::commands::{self, CliError, Exit, Outcome, SampleArgs, VerifyArgs, parse_log};
use ledger_cli::terminal::{json_line, printable};

#[derive(Parser)]
#[command(name = "ledger", version, about = "Verify and monitor ledgerdesk audit ledgers", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The witnesses a checkpoint must be cosigned by (FORMAT.md §17).
#[derive(clap::Args, Debug, Default)]
struct WitnessFlags {
    /// A witness's public key file (`ledger keygen --witness`): checkpoints must carry its cosignature (repeat).
    #[arg(long = "witness")]
    witnesses: Vec<PathBuf>,
    /// How many of the --witness keys must have cosigned each checkpoint (default: all of them).
    #[arg(long, requires = "witnesses")]
    witness_quorum: Option<usize>,
}

impl WitnessFlags {
    fn policy(&self) -> Result<Option<ledger::witness::WitnessPolicy>, CliError> {
        commands::witness_policy(&self.witnesses, self.witness_quorum)
    }
}

/// The evidence `explain` and `report` read, and what proves it.
#[derive(clap::Args, Debug)]
struct EvidenceArgs {
    /// An evidence bundle (every page of one, in order), or an export (JSON Lines) with --checkpoint and --request.
    #[arg(required = true, num_args = 1..)]
    inputs: Vec<PathBuf>,
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    #[arg(long, required = true)]
    log: String,
    /// With an export: a signed checkpoint you kept (repeat).
    #[arg(long = "checkpoint")]
    checkpoints: Vec<PathBuf>,
    /// The request to explain (required with an export).
    #[arg(long)]
    request: Option<String>,
    /// The receipt you kept for the request's creation: proves the filing is the one you were promised.
    #[arg(long, requires = "receipt_keys")]
    receipt: Option<PathBuf>,
    /// The receipt key (with --receipt).
    #[arg(long = "receipt-key", requires = "receipt")]
    receipt_keys: Vec<PathBuf>,
    #[command(flatten)]
    witnesses: WitnessFlags,
}

impl EvidenceArgs {
    fn explain_args(&self, json: bool) -> Result<ledger_cli::explain::ExplainArgs<'_>, CliError> {
        Ok(ledger_cli::explain::ExplainArgs {
            inputs: &self.inputs,
            keys: &self.keys,
            log: parse_log(&self.log)?,
            checkpoints: &self.checkpoints,
            request: self.request.as_deref(),
            witnesses: self.witnesses.policy()?,
            receipt: self
                .receipt
                .as_deref()
                .map(|receipt| ledger_cli::explain::FilingReceipt {
                    receipt,
                    keys: &self.receipt_keys,
                }),
            json,
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Generate an Ed25519 key pair: <OUT>.key (private, mode 0600) and <OUT>.pub. The key name is --name, or the file name.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        /// The key's name (default: the file name); for a witness, a schema-less URL (witness.example.com/ledger).
        #[arg(long)]
        name: Option<String>,
        /// A witness's cosigning key (C2SP cosignature/v1, type 0x04), not a log's.
        #[arg(long)]
        witness: bool,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Serve a C2SP tlog-witness: cosign each checkpoint of the origins you name that extends the last one you cosigned.
    Witness {
        /// Your witness's private key (`ledger keygen --witness`).
        #[arg(long)]
        key: PathBuf,
        /// The log's checkpoint key (repeat for rotated keys).
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<PathBuf>,
        /// An origin to witness, <log>/<chain> (a partner: its own chain; repeat).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// A log whose every chain to witness (an auditor; repeat).
        #[arg(long = "log")]
        logs: Vec<String>,
        /// The witness's state: the latest checkpoint it cosigned per origin.
        #[arg(long)]
        state: PathBuf,
        /// Where to listen, e.g. 127.0.0.1:7380.
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: String,
    },
    /// Verify an export (JSON Lines) against trusted keys and the checkpoints you kept.
    Verify {
        export: PathBuf,
        /// A trusted public key file (repeat for rotated keys).
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// The log the checkpoints must be of: their origin is <log>/<chain> (required with --checkpoint).
        #[arg(long)]
        log: Option<String>,
        /// A signed checkpoint you kept earlier (repeat).
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// Disclosed personal values (ledgerdesk-disclosures/v1) to check against their commitments.
        #[arg(long)]
        disclosures: Option<PathBuf>,
        /// Only this chain (partner) may appear in the export.
        #[arg(long)]
        chain: Option<String>,
        /// Do not fail on entries no kept checkpoint covers (they are still reported).
        #[arg(long)]
        allow_uncovered: bool,
        /// Judge entries' times as of this time (RFC 3339; for drills): none may be more than 300 s ahead of it.
        #[arg(long)]
        now: Option<String>,
        #[command(flatten)]
        witnesses: WitnessFlags,
        /// Print a machine-readable report.
        #[arg(long)]
        json: bool,
    },
    /// Print the evidence bundle (canonical JSON) for entries: each with its inclusion proof, and the checkpoint.
    Prove {
        export: PathBuf,
        /// An entry to prove (repeat).
        #[arg(long = "seq", required = true)]
        seqs: Vec<u64>,
        /// The signed checkpoint the proofs lead to.
        #[arg(long)]
        checkpoint: PathBuf,
        /// An older signed checkpoint to prove consistency with.
        #[arg(long)]
        since: Option<PathBuf>,
        /// Personal values to disclose in the bundle (ledgerdesk-disclosures/v1).
        #[arg(long)]
        disclosures: Option<PathBuf>,
    },
    /// Verify an evidence bundle with the public key alone.
    VerifyProof {
        /// The bundle, or every page of one in order (the API's `Ledger-Next-Cursor`).
        #[arg(required = true, num_args = 1..)]
        bundles: Vec<PathBuf>,
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// The log the bundle's checkpoint must be of.
        #[arg(long, required = true)]
        log: String,
        #[command(flatten)]
        witnesses: WitnessFlags,
        #[arg(long)]
        json: bool,
    },
    /// Re-compute a request's due times, breaches and fee from the policy its entries pin, after verifying them; exit 1 names the first recorded figure that does not match.
    Explain {
        #[command(flatten)]
        evidence: EvidenceArgs,
        /// Print the whole derivation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write one self-contained HTML report of a request explained from its evidence (as explain: the verdict, a timeline, the derivation in words).
    Report {
        #[command(flatten)]
        evidence: EvidenceArgs,
        /// Where to write the report (HTML).
        #[arg(long, required = true)]
        out: PathBuf,
    },
    /// Verify a receipt (a signed promise for one entry), and optionally that it was kept.
    /// The receipt file is the signed note, or the receipt object as the API returns it.
    VerifyReceipt {
        receipt: PathBuf,
        #[arg(long = "receipt-key", required = true)]
        receipt_keys: Vec<PathBuf>,
        #[arg(long, required = true)]
        log: String,
        /// With --key and --checkpoint: verify this export up to the checkpoint and check that the history it holds has the promised entry.
        #[arg(long, requires_all = ["keys", "checkpoint"])]
        export: Option<PathBuf>,
        /// The checkpoint key (with --export).
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
        #[arg(long, requires = "export")]
        checkpoint: Option<PathBuf>,
        /// Judge the receipt's times as of this time (RFC 3339; for drills).
        #[arg(long)]
        now: Option<String>,
        #[command(flatten)]
        witnesses: WitnessFlags,
        #[arg(long)]
        json: bool,
    },
    /// Keep your own copy of your chain from the log's API and check every new checkpoint and receipt.
    Sync {
        /// The API's base URL, e.g. https://api.example.com or http://127.0.0.1:3000.
        #[arg(long)]
        api: String,
        /// A file holding your bearer token (scope ledger/read, or ledger/audit with --chain).
        #[arg(long)]
        token_file: PathBuf,
        /// The checkpoint key (repeat for rotated keys).
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// The receipt key.
        #[arg(long = "receipt-key", required = true)]
        receipt_keys: Vec<PathBuf>,
        /// The state directory: your entries, checkpoints and receipts.
        #[arg(long)]
        state: PathBuf,
        /// The log to monitor (required on the first sync; the state directory keeps it).
        #[arg(long)]
        log: Option<String>,
        /// The chain to monitor: your partner id (required on the first sync; the state directory keeps it).
        #[arg(long)]
        chain: Option<String>,
        /// Judge receipts' deadlines as of this time (RFC 3339; for drills).
        #[arg(long)]
        now: Option<String>,
        /// Entries per request, 1 to 1000 (smaller pages for a slow or flaky link).
        #[arg(long, default_value_t = ledger_cli::sync::PAGE)]
        page_size: u64,
        #[command(flatten)]
        witnesses: WitnessFlags,
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic but realistic signed ledger of one partner (for drills, demos, benchmarks).
    Sample {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        entries: u64,
        /// The private key that signs the checkpoint.
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        checkpoint_out: Option<PathBuf>,
        /// The log name in the checkpoint's origin.
        #[arg(long, default_value = "ledgerdesk.sample")]
        log_name: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Export a ledger from DynamoDB in the format `verify` reads (operators).
    #[cfg(feature = "export")]
    Export(ledger_cli::export::ExportArgs),
}

fn time(flag: &str, text: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, CliError> {
    text.map(|t| {
        chrono::DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| CliError::Usage(format!("{flag}: {e}")))
    })
    .transpose()
}

fn chain(text: Option<String>) -> Result<Option<ChainId>, CliError> {
    text.map(|c| ChainId::parse(&c).map_err(|e| CliError::Usage(format!("--chain: {e}"))))
        .transpose()
}

fn run(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Keygen {
            out,
            name,
            witness,
            force,
        } => commands::keygen(&out, name.as_deref(), witness, force),
        Command::Witness {
            key,
            log_keys,
            origins,
            logs,
            state,
            listen,
        } => ledger_cli::witness::run(ledger_cli::witness::WitnessArgs {
            key,
            log_keys,
            origins,
            logs,
            state,
            listen,
        }),
        Command::Verify {
            export,
            keys,
            log,
            checkpoints,
            disclosures,
            chain: only,
            allow_uncovered,
            now,
            witnesses,
            json,
        } => commands::verify(VerifyArgs {
            export: &export,
            keys: &keys,
            log: log.as_deref().map(parse_log).transpose()?,
            checkpoints: &checkpoints,
            disclosures: disclosures.as_deref(),
            chain: chain(only)?,
            allow_uncovered,
            json,
            now: time("--now", now)?,
            witnesses: witnesses.policy()?,
        }),
        Command::Prove {
            export,
            seqs,
            checkpoint,
            since,
            disclosures,
        } => commands::prove_entries(&export, &seqs, &checkpoint, since.as_deref(), disclosures.as_deref()),
        Command::VerifyProof {
            bundles,
            keys,
            log,
            witnesses,
            json,
        } => commands::verify_proof(&bundles, &keys, &parse_log(&log)?, witnesses.policy()?.as_ref(), json),
        Command::Explain { evidence, json } => ledger_cli::explain::explain(evidence.explain_args(json)?),
        Command::Report { evidence, out } => ledger_cli::report::report(evidence.explain_args(false)?, &out),
        Command::VerifyReceipt {
            receipt,
            receipt_keys,
            log,
            export,
            keys,
            checkpoint,
            now,
            witnesses,
            json,
        } => {
            let against = match (&export, &checkpoint) {
                (Some(export), Some(checkpoint)) => Some(commands::ReceiptAgainst {
                    export,
                    keys: &keys,
                    checkpoint,
                }),
                _ => None,
            };
            commands::verify_receipt(
                &receipt,
                &receipt_keys,
                &parse_log(&log)?,
                against,
                time("--now", now)?,
                witnesses.policy()?.as_ref(),
                json,
            )
        }
        Command::Sync {
            api,
            token_file,
            keys,
            receipt_keys,
            state,
            log,
            chain: only,
            now,
            page_size,
            witnesses,
            json,
        } => ledger_cli::sync::run(ledger_cli::sync::SyncArgs {
            api,
            token_file,
            keys,
            receipt_keys,
            state,
            log,
            chain: only.as_deref().map(ledger_cli::sync::chain_arg).transpose()?,
            json,
            now: time("--now", now)?,
            page: page_size,
            witnesses: witnesses.policy()?,
        }),
        Command::Sample {
            partner,
            entries,
            key,
            out,
            checkpoint_out,
            log_name,
            seed,
        } => commands::sample(SampleArgs {
            partner: &partner,
            entries,
            key: &key,
            out: &out,
            checkpoint_out: checkpoint_out.as_deref(),
            log_name: &log_name,
            seed,
        }),
        #[cfg(feature = "export")]
        Command::Export(args) => ledger_cli::export::run(args),
    }
}

fn main() -> ExitCode {
    // `--json` anywhere: every outcome, argument errors included, is one JSON object on stdout.
    let json = std::env::args().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            if json {
                let error = CliError::Usage(e.kind().to_string());
                print!("{}", json_line(&error.to_json()));
            }
            // Plain (no colour), escaped: an argument (a file name a glob found) is foreign text.
            eprint!("{}", printable(&e.render().to_string()));
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    // What reaches the terminal: messages through `printable`, JSON through `json_line` (no
    // recorded value can steer it).
    match run(cli) {
        Ok(outcome) => {
            print!("{}", printable(&outcome.stdout));
            ExitCode::from(outcome.exit as u8)
        }
        Err(e) => {
            if json {
                print!("{}", json_line(&e.to_json()));
            }
            eprintln!("{}", printable(&format!("ledger: {e}")));
            ExitCode::from(Exit::Usage as u8)
        }
    }
}
