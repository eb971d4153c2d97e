//! `ledger export` (feature `export`): read a ledger out of DynamoDB in exactly the format
//! `ledger verify` reads.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use ledger::ChainId;
use store::{ExportError, Store, TableNames};

use crate::commands::{CliError, Exit, Outcome};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A DynamoDB-compatible endpoint (e.g. the local run's http://127.0.0.1:8000); omit for AWS.
    #[arg(long)]
    pub endpoint: Option<String>,
    #[arg(long, default_value = "eu-central-1")]
    pub region: String,
    /// The ledger table, `<stack>-ledger`; the chain-heads and checkpoints tables are found beside it.
    #[arg(long)]
    pub table: String,
    /// Only this partner's chain (default: every chain).
    #[arg(long)]
    pub partner: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
    /// Also write every stored signed checkpoint as <DIR>/<chain>/<size>.note.
    #[arg(long)]
    pub checkpoints_out: Option<PathBuf>,
    /// Also export the entries after each chain's latest checkpoint (nothing signed binds
    /// them yet; by default an export holds exactly what its checkpoints cover).
    #[arg(long)]
    pub include_uncovered: bool,
}

/// The table names beside a ledger table called `<prefix>-ledger`.
fn tables(ledger_table: &str) -> Result<TableNames, CliError> {
    let prefix = ledger_table.strip_suffix("-ledger").ok_or_else(|| {
        CliError::Usage(format!(
            "--table {ledger_table}: expected the ledger table, named <prefix>-ledger"
        ))
    })?;
    Ok(TableNames::with_prefix(prefix))
}

pub fn run(args: ExportArgs) -> Result<Outcome, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start: {e}")))?;
    runtime.block_on(export(args))
}

/// The export itself, for callers that already run inside a Tokio runtime.
pub async fn export(args: ExportArgs) -> Result<Outcome, CliError> {
    let tables = tables(&args.table)?;
    let client = match &args.endpoint {
        Some(endpoint) => store::dynamodb_at(endpoint, &args.region).await,
        // An operator's workstation: its own certificate store (a proxy may inspect TLS).
        None => store::dynamodb(&store::aws_config(store::TrustRoots::System).await),
    };
    let store = Store::new(client, tables);
    let unavailable =
        |e: store::StoreError| CliError::Usage(format!("cannot read the ledger: {e} ({})", e.detail().unwrap_or("-")));
    let chains: Vec<ChainId> = match &args.partner {
        Some(partner) => vec![ChainId::parse(partner).map_err(|e| CliError::Usage(format!("--partner: {e}")))?],
        None => store
            .chain_heads()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|h| h.chain)
            .collect(),
    };
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source: std::io::Error| CliError::Io { path, source }
    };
    let file = std::fs::File::create(&args.out).map_err(io(&args.out))?;
    let mut out = std::io::BufWriter::new(file);
    let mut entries = 0;
    for chain in &chains {
        let up_to = if args.include_uncovered {
            None
        } else {
            Some(
                store
                    .latest_checkpoint(chain)
                    .await
                    .map_err(unavailable)?
                    .map_or(0, |c| c.size),
            )
        };
        entries += store
            .export_chain(chain, up_to, |line| writeln!(out, "{line}"))
            .await
            .map_err(|e| match e {
                ExportError::Store(e) => unavailable(e),
                ExportError::Sink(source) => CliError::Io {
                    path: args.out.clone(),
                    source,
                },
            })?;
    }
    out.flush().map_err(io(&args.out))?;
    let mut checkpoints = 0;
    if let Some(dir) = &args.checkpoints_out {
        for chain in &chains {
            let stored = store.checkpoints(chain).await.map_err(unavailable)?;
            let chain_dir = dir.join(chain.as_str());
            std::fs::create_dir_all(&chain_dir).map_err(io(&chain_dir))?;
            for checkpoint in stored {
                let path = chain_dir.join(format!("{}.note", checkpoint.size));
                std::fs::write(&path, &checkpoint.note).map_err(io(&path))?;
                checkpoints += 1;
            }
        }
    }
    let mut stdout = format!(
        "exported {entries} entries of {} chain{} to {}\n",
        chains.len(),
        if chains.len() == 1 { "" } else { "s" },
        args.out.display()
    );
    if let Some(dir) = &args.checkpoints_out {
        stdout.push_str(&format!(
            "wrote {checkpoints} signed checkpoints under {}\n",
            dir.display()
        ));
    }
    Ok(Outcome::text(Exit::Ok, stdout))
}
