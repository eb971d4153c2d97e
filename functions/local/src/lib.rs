//! # ledgerdesk, locally
//!
//! Every HTTP function's handler in one process behind a router with the stack's routes, an
//! embedded DynamoDB-compatible server (dynoxide) with its data under `.ledgerdesk/`, the
//! development JWT secret and ledger signing key, and the SLA sweep every 60 seconds.
//! `cargo run -p local` starts it; see `main.rs` for the commands.

pub mod files;
pub mod router;
pub mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api::App;
use api::sweep::{Signing, SweepReport};
use domain::{SupportPolicy, Timestamp};
use store::embedded::EmbeddedDynamo;
use store::{CursorKey, Store, TableNames};

/// The table prefix of the local run.
pub const TABLE_PREFIX: &str = "ledgerdesk";
/// The checkpoints' log name: origins are `ledgerdesk.local/<partner>`.
pub const LOG_NAME: &str = "ledgerdesk.local";
pub const REGION: &str = "eu-central-1";

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub port: u16,
    pub dynamodb_port: u16,
    pub data_dir: PathBuf,
    /// Keep the DynamoDB data in memory instead of `<data_dir>/dynamodb.sqlite`.
    pub ephemeral: bool,
    /// Use this DynamoDB instead of the embedded one.
    pub dynamodb_endpoint: Option<String>,
    /// How often the sweep (and checkpointing) runs; `None` disables it.
    pub sweep_every: Option<Duration>,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            port: 3000,
            dynamodb_port: 8000,
            data_dir: PathBuf::from(".ledgerdesk"),
            ephemeral: false,
            dynamodb_endpoint: None,
            sweep_every: Some(Duration::from_secs(60)),
        }
    }
}

/// A running local stack. Dropping it stops the API (the embedded database stops with it).
#[derive(Debug)]
pub struct Running {
    pub api: SocketAddr,
    pub dynamodb_endpoint: String,
    pub data_dir: PathBuf,
    pub public_key: PathBuf,
    pub jwt_secret: Vec<u8>,
    pub state: Arc<router::LocalState>,
    signing: Arc<Signing>,
    server: tokio::task::JoinHandle<()>,
    sweeper: Option<tokio::task::JoinHandle<()>>,
    _dynamo: Option<EmbeddedDynamo>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// Run one sweep and checkpoint as if the schedule fired at `at`.
    pub async fn sweep(&self, at: Timestamp) -> anyhow::Result<SweepReport> {
        Ok(api::sweep::sweep(&self.state.app, &self.signing, at).await?)
    }

    pub async fn stop(self) {
        self.server.abort();
        if let Some(s) = &self.sweeper {
            s.abort();
        }
        let _ = self.server.await;
        if let Some(dynamo) = self._dynamo {
            dynamo.stop().await;
        }
    }
}

/// The DynamoDB the local run uses: `endpoint`, or an embedded one on `port`.
async fn dynamodb(config: &LocalConfig) -> anyhow::Result<(String, Option<EmbeddedDynamo>)> {
    if let Some(endpoint) = &config.dynamodb_endpoint {
        return Ok((endpoint.clone(), None));
    }
    let path = config.data_dir.join(files::DATABASE);
    let address: SocketAddr = ([127, 0, 0, 1], config.dynamodb_port).into();
    let dynamo = EmbeddedDynamo::start(address, if config.ephemeral { None } else { Some(&path) })
        .await
        .with_context(|| {
            format!(
                "cannot start the embedded DynamoDB on {address} (is another local run using it? try --dynamodb-port)"
            )
        })?;
    Ok((dynamo.endpoint().to_owned(), Some(dynamo)))
}

async fn store_at(endpoint: &str, cursor_key: [u8; 32]) -> anyhow::Result<Store> {
    let client = store::dynamodb_at(endpoint, REGION).await;
    let store =
        Store::new(client, TableNames::with_prefix(TABLE_PREFIX)).with_cursor_key(CursorKey::from_bytes(cursor_key));
    store.create_tables().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot create the tables at {endpoint}: {e} ({})",
            e.detail().unwrap_or("-")
        )
    })?;
    Ok(store)
}

/// Start the local stack.
pub async fn start(config: LocalConfig) -> anyhow::Result<Running> {
    let secrets = files::Secrets::load_or_create(&config.data_dir)?;
    let (endpoint, dynamo) = dynamodb(&config).await?;
    let store = store_at(&endpoint, secrets.cursor_key).await?;
    let policy = SupportPolicy::embedded()?;
    let state = Arc::new(router::LocalState {
        app: App::new(store, policy, "partner_id"),
        jwt_secret: secrets.jwt_secret.clone(),
    });
    let signing = Arc::new(Signing {
        key: secrets.signing_key,
        log_name: LOG_NAME.into(),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{} (try --port)", config.port))?;
    let api = listener.local_addr()?;
    let app = router::router(Arc::clone(&state));
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the local API stopped");
        }
    });
    let sweeper = config.sweep_every.map(|every| {
        let state = Arc::clone(&state);
        let signing = Arc::clone(&signing);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(e) = api::sweep::sweep(&state.app, &signing, Timestamp::from(chrono::Utc::now())).await {
                    tracing::warn!(error = %e, "scheduled sweep failed");
                }
            }
        })
    });
    Ok(Running {
        api,
        dynamodb_endpoint: endpoint,
        data_dir: config.data_dir,
        public_key: secrets.public_key_path,
        jwt_secret: secrets.jwt_secret,
        state,
        signing,
        server,
        sweeper,
        _dynamo: dynamo,
    })
}

/// `local sweep`: one sweep and checkpoint against the local data, as if the schedule fired
/// at `at`. Uses the running local stack's DynamoDB if it is up, else opens the data file.
pub async fn sweep_once(
    data_dir: &Path,
    dynamodb_port: u16,
    endpoint: Option<String>,
    at: Timestamp,
) -> anyhow::Result<SweepReport> {
    let secrets = files::Secrets::load_or_create(data_dir)?;
    let running = format!("http://127.0.0.1:{dynamodb_port}");
    let endpoint = match endpoint {
        Some(e) => Some(e),
        None => tokio::net::TcpStream::connect(("127.0.0.1", dynamodb_port))
            .await
            .ok()
            .map(|_| running),
    };
    let config = LocalConfig {
        data_dir: data_dir.to_owned(),
        dynamodb_port: 0,
        dynamodb_endpoint: endpoint,
        ..LocalConfig::default()
    };
    let (endpoint, dynamo) = dynamodb(&config).await?;
    let store = store_at(&endpoint, secrets.cursor_key).await?;
    let app = App::new(store, SupportPolicy::embedded()?, "partner_id");
    let signing = Signing {
        key: secrets.signing_key,
        log_name: LOG_NAME.into(),
    };
    let report = api::sweep::sweep(&app, &signing, at).await;
    if let Some(dynamo) = dynamo {
        dynamo.stop().await;
    }
    Ok(report?)
}
