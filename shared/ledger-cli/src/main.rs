//! `ledger`: the auditor's tool. Exit status: 0 verified, 1 tampering found, 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledger::ChainId;
use ledger_cli::commands::{self, CliError, Exit, Outcome, VerifyArgs};

#[derive(Parser)]
#[command(name = "ledger", version, about = "Verify ledgerdesk audit-ledger exports offline", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an Ed25519 key pair: <OUT>.key (private, mode 0600) and <OUT>.pub. The file name is the key name.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Verify an export (JSON Lines) against trusted keys and the checkpoints you kept.
    Verify {
        export: PathBuf,
        /// A trusted public key file (repeat for rotated keys).
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// A signed checkpoint you kept earlier (repeat).
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// Only this chain (partner) may appear in the export.
        #[arg(long)]
        chain: Option<String>,
        /// Also check that every entry's data is canonical JSON.
        #[arg(long)]
        strict: bool,
        /// Print a machine-readable report.
        #[arg(long)]
        json: bool,
    },
    /// Print the evidence bundle (JSON) for one entry: the entry, its inclusion proof, the checkpoint.
    Prove {
        export: PathBuf,
        #[arg(long)]
        seq: u64,
        /// The signed checkpoint the proof leads to.
        #[arg(long)]
        checkpoint: PathBuf,
        /// An older signed checkpoint to prove consistency with.
        #[arg(long)]
        since: Option<PathBuf>,
    },
    /// Verify an evidence bundle with the public key alone.
    VerifyProof {
        bundle: PathBuf,
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
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
    /// Export a ledger from DynamoDB in the format `verify` reads.
    #[cfg(feature = "export")]
    Export(ledger_cli::export::ExportArgs),
}

fn run(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Keygen { out, force } => commands::keygen(&out, force),
        Command::Verify {
            export,
            keys,
            checkpoints,
            chain,
            strict,
            json,
        } => {
            let chain = chain
                .map(|c| ChainId::parse(&c).map_err(|e| CliError::Usage(format!("--chain: {e}"))))
                .transpose()?;
            commands::verify(VerifyArgs {
                export: &export,
                keys: &keys,
                checkpoints: &checkpoints,
                chain,
                strict,
                json,
            })
        }
        Command::Prove {
            export,
            seq,
            checkpoint,
            since,
        } => commands::prove_entry(&export, seq, &checkpoint, since.as_deref()),
        Command::VerifyProof { bundle, keys, json } => commands::verify_proof(&bundle, &keys, json),
        Command::Sample {
            partner,
            entries,
            key,
            out,
            checkpoint_out,
            log_name,
            seed,
        } => commands::sample(
            &partner,
            entries,
            &key,
            &out,
            checkpoint_out.as_deref(),
            &log_name,
            seed,
        ),
        #[cfg(feature = "export")]
        Command::Export(args) => ledger_cli::export::run(args),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(outcome) => {
            print!("{}", outcome.stdout);
            ExitCode::from(outcome.exit as u8)
        }
        Err(e) => {
            eprintln!("ledger: {e}");
            ExitCode::from(Exit::Usage as u8)
        }
    }
}
