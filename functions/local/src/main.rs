//! `cargo run -p local`: ledgerdesk on your machine.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use local::token::{self, TokenRole};
use local::{LocalConfig, files};

#[derive(Parser)]
#[command(
    name = "local",
    about = "Run ledgerdesk locally: the HTTP API, an embedded DynamoDB and the SLA sweep"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The API's port on 127.0.0.1.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// The embedded DynamoDB's port on 127.0.0.1.
    #[arg(long, default_value_t = 8000, global = true)]
    dynamodb_port: u16,
    /// Where the data, the development secrets and the ledger keys live [default:
    /// .ledgerdesk at the top of the checkout you are in, else in the current folder].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Keep the DynamoDB data in memory (gone when the process ends).
    #[arg(long)]
    ephemeral: bool,
    /// Run a witness too (`ledger witness`, in process; its key in the data directory) and
    /// have the signer ask it to cosign every checkpoint.
    #[arg(long)]
    witness: bool,
    /// Use this DynamoDB instead of the embedded one.
    #[arg(long, env = "DYNAMODB_ENDPOINT", global = true)]
    dynamodb_endpoint: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a bearer token the local API accepts.
    Token {
        /// The partner the token is for: required with --role partner; with --role privacy,
        /// that partner's own privacy officer (without it, the vendor's).
        #[arg(long)]
        partner: Option<String>,
        #[arg(long, value_enum, default_value = "partner")]
        role: TokenRole,
        /// The token's subject (who acts).
        #[arg(long)]
        subject: Option<String>,
        /// Validity in seconds (an expired token gets 401 "the token has expired").
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Print the data directory (absolute) that `local` uses from here: its public keys are
    /// `ledgerdesk-local.pub` (checkpoints) and `ledgerdesk-local-receipts.pub` (receipts).
    DataDir,
    /// Run one SLA sweep and checkpoint now, or as if the schedule fired at an earlier time (--at).
    Sweep {
        /// RFC 3339 time, e.g. 2026-11-30T12:00:00Z; not in the future (the data are kept).
        #[arg(long)]
        at: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let serve = cli.serve;
    let data_dir = match serve.data_dir {
        Some(dir) => dir,
        None => files::default_data_dir(&std::env::current_dir()?),
    };
    match cli.command {
        Some(Command::Token {
            partner,
            role,
            subject,
            ttl,
        }) => {
            let secrets = files::Secrets::load_or_create(&data_dir)?;
            let subject = subject.unwrap_or_else(|| match role {
                TokenRole::Partner => format!("agent@{}", partner.as_deref().unwrap_or("partner")),
                TokenRole::Support => "engineer@vendor".into(),
                TokenRole::Auditor => "auditor@vendor".into(),
                TokenRole::Privacy => match &partner {
                    Some(p) => format!("dpo@{p}"),
                    None => "privacy@vendor".into(),
                },
                TokenRole::Admin => "admin@vendor".into(),
                TokenRole::Integrator => format!("integrations@{}", partner.as_deref().unwrap_or("partner")),
            });
            println!(
                "{}",
                token::issue(&secrets.jwt_secret, role, partner.as_deref(), &subject, ttl)?
            );
        }
        Some(Command::DataDir) => {
            let absolute = std::path::absolute(&data_dir)?;
            println!("{}", absolute.display());
        }
        Some(Command::Sweep { at }) => {
            api::telemetry::init_text();
            let at = at
                .map(|text| domain::Timestamp::parse(&text).map_err(|e| anyhow::anyhow!("--at: {e}")))
                .transpose()?;
            let report = local::sweep_once(&data_dir, serve.dynamodb_port, serve.dynamodb_endpoint, at).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        None => {
            api::telemetry::init_text();
            let running = local::start(LocalConfig {
                port: serve.port,
                dynamodb_port: serve.dynamodb_port,
                data_dir: data_dir.clone(),
                ephemeral: serve.ephemeral,
                dynamodb_endpoint: serve.dynamodb_endpoint,
                sweep_every: Some(Duration::from_secs(60)),
                own_witness: serve.witness,
                ..LocalConfig::default()
            })
            .await?;
            let storage = if serve.ephemeral {
                "in memory".to_owned()
            } else {
                format!("data in {}", data_dir.join(files::DATABASE).display())
            };
            // The banner is for the person at the terminal: stderr, like the logs.
            eprintln!(
                "ledgerdesk is running\n\
                 \x20 API        {api}  (OpenAPI: {api}/openapi.json)\n\
                 \x20 DynamoDB   {db}  (tables {prefix}-*, {storage})\n\
                 \x20 S3         {s3}  (bucket {bucket}: the entry tiles)\n\
                 \x20 ledger     log {log}; checkpoint key {key}; receipt key {receipts}\n\
                 \x20 SLA sweep  every 60 s; one now: cargo run -p local -- sweep [--at <RFC 3339>]\n{witness}\n\
                 Get a token and call the API:\n\
                 \x20 TOKEN=$(cargo run -q -p local -- token --partner contoso --role partner)\n\
                 \x20 curl -H \"Authorization: Bearer $TOKEN\" {api}/service-requests\n",
                api = running.base_url(),
                db = running.dynamodb_endpoint,
                s3 = running.s3_endpoint(),
                bucket = local::TILE_BUCKET,
                prefix = local::TABLE_PREFIX,
                key = running.public_key.display(),
                receipts = running.receipt_public_key.display(),
                log = local::LOG_NAME,
                witness = running
                    .witness()
                    .map(|w| format!(
                        "  witness    {} (cosigns every checkpoint; its key {}: `ledger sync --witness` it)\n",
                        w.url(),
                        w.public_key.display()
                    ))
                    .unwrap_or_default(),
            );
            tokio::signal::ctrl_c().await?;
            eprintln!("stopping");
            running.stop().await;
        }
    }
    Ok(())
}
