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
use api::identity::IdentityConfig;
use api::receipts::ReceiptSigner;
use api::sweep::{Signing, SweepReport};
use domain::{CustomerId, PartnerId, SupportPolicy, Timestamp};
use ledger::LogName;
use store::embedded::{EmbeddedDynamo, EmbeddedS3};
use store::{CursorKey, Relationship, RelationshipStatus, Store, TableNames};

/// The table prefix of the local run.
pub const TABLE_PREFIX: &str = "ledgerdesk";
/// The checkpoints' log name: origins are `ledgerdesk.local/<partner>`.
pub const LOG_NAME: &str = "ledgerdesk.local";
pub const REGION: &str = "eu-central-1";
/// The local run's entry-tile bucket (a directory under the embedded S3's root).
pub const TILE_BUCKET: &str = "ledgerdesk-local-tiles";
/// The README's walk-through: partner `contoso` files for this customer.
pub const DEMO_PARTNER: &str = "contoso";
pub const DEMO_CUSTOMER: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/// The local run's log name.
pub fn log_name() -> LogName {
    #[allow(clippy::expect_used)]
    LogName::parse(LOG_NAME).expect("LOG_NAME is a valid log name")
}

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
    /// How often webhook endpoints are sent what is due; `None` disables it.
    pub deliver_every: Option<Duration>,
    /// How long a webhook receiver may take to answer (at most, and by default, 15 s).
    pub webhook_timeout: Duration,
    /// Partner–customer relationships registered at start (if missing), so that a fresh local
    /// run can file for the README's customer.
    pub relationships: Vec<(String, String)>,
    /// The clock the run writes and signs by: the system's, unless a test moves it (share
    /// one between instances that share tables).
    pub clock: store::Clock,
    /// Run a witness of its own (`ledger witness`, in process, key and state in the data
    /// directory) and have the signer ask it to cosign every checkpoint (FORMAT.md §17).
    pub own_witness: bool,
    /// Other witnesses the signer asks (URL and key), and the quorum of all it needs
    /// (`None`: every one).
    pub witnesses: Vec<store::witnesses::WitnessEndpoint>,
    pub witness_quorum: Option<usize>,
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
            deliver_every: Some(Duration::from_millis(200)),
            webhook_timeout: webhooks::TIMEOUT,
            relationships: vec![(DEMO_PARTNER.into(), DEMO_CUSTOMER.into())],
            clock: store::Clock::system(),
            own_witness: false,
            witnesses: Vec::new(),
            witness_quorum: None,
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
    pub receipt_public_key: PathBuf,
    pub jwt_secret: Vec<u8>,
    pub state: Arc<router::LocalState>,
    signing: Arc<Signing>,
    server: tokio::task::JoinHandle<()>,
    sweeper: Option<tokio::task::JoinHandle<()>>,
    deliverer: Option<tokio::task::JoinHandle<()>>,
    _dynamo: Option<EmbeddedDynamo>,
    tiles: LocalTiles,
    witness: Option<LocalWitness>,
}

/// The local run's own witness: `ledger witness` in process.
#[derive(Debug)]
pub struct LocalWitness {
    serving: ledger_cli::witness::Serving,
    /// Its public key file (what verifiers pass as `--witness`).
    pub public_key: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

impl LocalWitness {
    /// Start one trusting the local log's checkpoint key for every chain.
    fn start(config: &LocalConfig, log_key: &Path) -> anyhow::Result<Self> {
        let (key, public_key) = files::witness_key(&config.data_dir)?;
        let temporary = config.ephemeral.then(tempfile::tempdir).transpose()?;
        let state_dir = match &temporary {
            Some(dir) => dir.path().to_owned(),
            None => config.data_dir.join(files::WITNESS_STATE_DIR),
        };
        let keys = ledger_cli::commands::load_keys(&[log_key.to_owned()], "the log key")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let witness = ledger::witness::Witness::new(
            key,
            vec![ledger::witness::TrustedLog {
                keys,
                origins: ledger::witness::Origins::EveryChainOf(log_name()),
            }],
        );
        let state = ledger_cli::witness::WitnessState::open(&state_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let serving =
            ledger_cli::witness::Serving::start(witness, state, "127.0.0.1:0").map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            serving,
            public_key,
            _temporary: temporary,
        })
    }

    pub fn url(&self) -> String {
        self.serving.url()
    }

    fn endpoint(&self) -> anyhow::Result<store::witnesses::WitnessEndpoint> {
        let key = ledger::witness::WitnessKey::parse(&std::fs::read_to_string(&self.public_key)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(store::witnesses::WitnessEndpoint { url: self.url(), key })
    }
}

/// The local run's entry tiles: an embedded S3 of its own (each instance serves the same
/// directory, as Lambdas share one bucket), over `<data_dir>/s3`, or a temporary directory
/// when the run is ephemeral.
#[derive(Debug)]
struct LocalTiles {
    server: EmbeddedS3,
    _temporary: Option<tempfile::TempDir>,
}

impl LocalTiles {
    async fn start(config: &LocalConfig) -> anyhow::Result<Self> {
        let temporary = config.ephemeral.then(tempfile::tempdir).transpose()?;
        let root = match &temporary {
            Some(dir) => dir.path().to_owned(),
            None => config.data_dir.join(files::S3_DIR),
        };
        let server = EmbeddedS3::start(([127, 0, 0, 1], 0).into(), &root)
            .await
            .with_context(|| format!("cannot start the embedded S3 over {}", root.display()))?;
        Ok(Self {
            server,
            _temporary: temporary,
        })
    }

    fn bucket(&self) -> store::EntryTileBucket {
        store::EntryTileBucket::new(store::s3_at(self.server.endpoint(), REGION), TILE_BUCKET)
    }
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The local run's own witness, if it runs one.
    pub fn witness(&self) -> Option<&LocalWitness> {
        self.witness.as_ref()
    }

    /// The embedded S3-compatible server that holds the entry tiles.
    pub fn s3_endpoint(&self) -> &str {
        self.tiles.server.endpoint()
    }

    /// The clock the local run writes and signs by (shared by every handler and the sweep).
    pub fn clock(&self) -> &store::Clock {
        self.state.app.store.clock()
    }

    /// Now, by the local run's clock.
    pub fn now(&self) -> Timestamp {
        Timestamp::from(self.clock().now())
    }

    /// Move the local run's clock forward by `by` (tests and drills): the writers stamp, and
    /// the signer judges, by it — as if that much time had passed.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.clock().advance(by);
    }

    /// Run one sweep and checkpoint as if the schedule fired at `at`.
    pub async fn sweep(&self, at: Timestamp) -> anyhow::Result<SweepReport> {
        Ok(api::sweep::sweep(&self.state.app, &self.signing, at).await?)
    }

    /// Run the sweep as the scheduled Lambda does, given the event's claimed time (which it
    /// only compares with its own clock).
    pub async fn scheduled_sweep(
        &self,
        event_time: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<SweepReport> {
        Ok(api::sweep::scheduled(&self.state.app, &self.signing, event_time).await?)
    }

    pub async fn stop(self) {
        self.server.abort();
        if let Some(s) = &self.sweeper {
            s.abort();
        }
        if let Some(d) = &self.deliverer {
            d.abort();
        }
        let _ = self.server.await;
        if let Some(dynamo) = self._dynamo {
            dynamo.stop().await;
        }
        self.tiles.server.stop().await;
        if let Some(witness) = self.witness {
            tokio::task::spawn_blocking(move || witness.serving.stop()).await.ok();
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

async fn store_at(
    endpoint: &str,
    cursor_key: [u8; 32],
    tiles: &LocalTiles,
    clock: &store::Clock,
) -> anyhow::Result<Store> {
    let client = store::dynamodb_at(endpoint, REGION).await;
    let store = Store::new(client, TableNames::with_prefix(TABLE_PREFIX))
        .with_cursor_key(CursorKey::from_bytes(cursor_key))
        .with_entry_tiles(tiles.bucket())
        .with_clock(clock.clone());
    store.create_tables().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot create the tables at {endpoint}: {e} ({})",
            e.detail().unwrap_or("-")
        )
    })?;
    store.create_entry_tile_bucket().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot create the tile bucket at {}: {e} ({})",
            tiles.server.endpoint(),
            e.detail().unwrap_or("-")
        )
    })?;
    Ok(store)
}

/// Start the local stack.
pub async fn start(config: LocalConfig) -> anyhow::Result<Running> {
    let secrets = files::Secrets::load_or_create(&config.data_dir)?;
    let (endpoint, dynamo) = dynamodb(&config).await?;
    let tiles = LocalTiles::start(&config).await?;
    let mut store = store_at(&endpoint, secrets.cursor_key, &tiles, &config.clock).await?;
    let witness = config
        .own_witness
        .then(|| LocalWitness::start(&config, &secrets.public_key_path))
        .transpose()?;
    let mut endpoints = config.witnesses.clone();
    if let Some(w) = &witness {
        endpoints.push(w.endpoint()?);
    }
    if !endpoints.is_empty() {
        let quorum = config.witness_quorum.unwrap_or(endpoints.len());
        store = store.with_witnesses(
            store::witnesses::Witnesses::new(endpoints, quorum).map_err(|e| anyhow::anyhow!("witnesses: {e}"))?,
        );
    }
    // The signer checks every kept receipt with the published receipt key.
    store.set_receipt_verifier(ledger::TrustedKeys::new([secrets.receipt_key.verifier()]), log_name());
    let policy = SupportPolicy::embedded()?;
    let app = App::new(store, policy, identity())
        .with_receipts(ReceiptSigner {
            key: secrets.receipt_key.clone(),
            log: log_name(),
        })
        .with_webhooks(api::webhooks_api::WebhookConfig {
            key: webhooks::SealKey::from_bytes(secrets.webhook_key),
            mode: webhooks::Mode::Local,
            receipts: Some(api::deliver::ReceiptCheck {
                keys: ledger::TrustedKeys::new([secrets.receipt_key.verifier()]),
                log: log_name(),
                required_since: None,
            }),
        });
    // After the receipt key is given: every entry is kept with its receipt.
    register_relationships(&app.store, &config.relationships).await?;
    let state = Arc::new(router::LocalState {
        app,
        jwt_secret: secrets.jwt_secret.clone(),
        delivery_rounds: router::DeliveryRounds::default(),
    });
    let signing = Arc::new(Signing {
        key: secrets.signing_key,
        log: log_name(),
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
                if let Err(e) = api::sweep::sweep(&state.app, &signing, Timestamp::from(state.app.store.now())).await {
                    tracing::warn!(error = %e, "scheduled sweep failed");
                }
            }
        })
    });
    // The deliverer's client (its TLS roots) only when there is a deliverer.
    let deliverer = match config.deliver_every {
        Some(every) => {
            let client = store::webhook_http::WebhookClient::new(webhooks::Mode::Local)
                .map_err(|e| anyhow::anyhow!(e))?
                .with_timeout(config.webhook_timeout);
            Some(tokio::spawn(deliver_webhooks_every(every, Arc::clone(&state), client)))
        }
        None => None,
    };
    Ok(Running {
        api,
        dynamodb_endpoint: endpoint,
        data_dir: config.data_dir,
        public_key: secrets.public_key_path,
        receipt_public_key: secrets.receipt_public_key_path,
        jwt_secret: secrets.jwt_secret,
        state,
        signing,
        server,
        sweeper,
        deliverer,
        _dynamo: dynamo,
        tiles,
        witness,
    })
}

/// The local run's deliverer: every `every`, a round for each partner with an enabled webhook
/// endpoint — each partner's on a task of its own, so a partner whose receiver is slow holds up
/// only its own (its next round starts when its last has finished). Aborting this task aborts
/// the rounds it started.
async fn deliver_webhooks_every(
    every: Duration,
    state: Arc<router::LocalState>,
    client: store::webhook_http::WebhookClient,
) {
    let mut rounds: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    // The partners with a round in flight, by the round's task.
    let mut busy: std::collections::HashMap<tokio::task::Id, domain::PartnerId> = std::collections::HashMap::new();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        while let Some(done) = rounds.try_join_next_with_id() {
            let id = match done {
                Ok((id, ())) => id,
                // A round that panicked: logged, and its partner gets the next round as usual.
                Err(e) => {
                    tracing::error!(error = %e, "a webhook delivery round failed");
                    e.id()
                }
            };
            busy.remove(&id);
        }
        let partners = match state.app.store.partners_with_webhooks().await {
            Ok(partners) => partners,
            Err(e) => {
                tracing::warn!(error = %e, detail = e.detail().unwrap_or("-"), "webhook delivery round failed");
                continue;
            }
        };
        for partner in partners {
            if busy.values().any(|p| *p == partner) {
                continue;
            }
            let state = Arc::clone(&state);
            let client = client.clone();
            let name = partner.clone();
            let task = rounds.spawn(async move {
                if let Err(e) = api::deliver::deliver_partner(&state.app, &client, &name).await {
                    tracing::warn!(partner = %name, error = %e, detail = e.detail().unwrap_or("-"), "webhook delivery round failed");
                }
                state.delivery_rounds.finished(name.as_str());
            });
            busy.insert(task.id(), partner);
        }
    }
}

/// How the local run's API tells partners from vendor staff (as the stack does, by audience).
pub fn identity() -> IdentityConfig {
    IdentityConfig::new("partner_id", token::AUDIENCE, token::VENDOR_AUDIENCE)
}

/// Register each (partner, customer) relationship that is not registered yet (ledgered, as
/// the vendor's admin route does).
async fn register_relationships(store: &Store, pairs: &[(String, String)]) -> anyhow::Result<()> {
    let admin = domain::Actor::new(domain::Role::RelationshipAdmin, domain::Subject::parse("local-setup")?);
    for (partner, customer) in pairs {
        let partner = PartnerId::parse(partner)?;
        let customer = CustomerId::parse(customer)?;
        if store.relationship(&partner, &customer).await?.is_some() {
            continue;
        }
        let now = Timestamp::from(store.now());
        let relationship = Relationship {
            partner_id: partner,
            customer_id: customer,
            since: now,
            status: RelationshipStatus::Active,
            updated_at: now,
            entry: None,
            based_on: None,
            ended_seq: None,
        };
        store.save_relationship(&relationship, &admin).await?;
    }
    Ok(())
}

/// Whether a DynamoDB endpoint is this machine's (the local run's own or a local emulator):
/// `localhost` or a loopback address. Anything unparsable is not.
pub fn is_local_endpoint(endpoint: &str) -> bool {
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `local sweep`: one sweep and checkpoint against the local data, as if the schedule fired
/// at `at` (`None`: now). Uses the running local stack's DynamoDB if it is up, else opens the
/// data file. A time other than now is for development only: refused against a DynamoDB that
/// is not on this machine, and never later than now (+ the allowed skew): the data are kept,
/// and a breach stamped in the future would push every later entry of its chain there
/// (FORMAT.md §2.2). To see what would breach later, start a run with `--ephemeral`.
pub async fn sweep_once(
    data_dir: &Path,
    dynamodb_port: u16,
    endpoint: Option<String>,
    at: Option<Timestamp>,
) -> anyhow::Result<SweepReport> {
    if at.is_some()
        && let Some(endpoint) = &endpoint
        && !is_local_endpoint(endpoint)
    {
        anyhow::bail!(
            "sweep --at moves the sweep's clock: it is for development and refused against {endpoint}, which is not this machine's"
        );
    }
    let latest = chrono::Utc::now() + chrono::Duration::seconds(ledger::entry::MAX_CLOCK_SKEW_SECONDS);
    if let Some(at) = at
        && at.datetime() > latest
    {
        anyhow::bail!(
            "sweep --at {at} is in the future: the ledger never records a time more than {} s ahead of its writer's clock, and the data in {} are kept (a breach stamped then would date every later entry of its chain there); give a time up to now",
            ledger::entry::MAX_CLOCK_SKEW_SECONDS,
            data_dir.display()
        );
    }
    let at = at.unwrap_or_else(|| Timestamp::from(chrono::Utc::now()));
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
    let tiles = LocalTiles::start(&config).await?;
    let mut store = store_at(&endpoint, secrets.cursor_key, &tiles, &config.clock).await?;
    store.set_receipt_verifier(ledger::TrustedKeys::new([secrets.receipt_key.verifier()]), log_name());
    // The sweep's breaches are kept with their receipts, as in the stack.
    let app = App::new(store, SupportPolicy::embedded()?, identity()).with_receipts(ReceiptSigner {
        key: secrets.receipt_key.clone(),
        log: log_name(),
    });
    let signing = Signing {
        key: secrets.signing_key,
        log: log_name(),
    };
    let report = api::sweep::sweep(&app, &signing, at).await;
    if let Some(dynamo) = dynamo {
        dynamo.stop().await;
    }
    tiles.server.stop().await;
    Ok(report?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_local() {
        for local in [
            "http://127.0.0.1:8000",
            "http://localhost:8000",
            "http://LOCALHOST",
            "http://[::1]:8000",
            "http://127.0.0.2:1",
        ] {
            assert!(is_local_endpoint(local), "{local}");
        }
        for remote in [
            "https://dynamodb.eu-west-1.amazonaws.com",
            "http://[2001:db8::1]:8000",
            "http://localhost.example.com",
            "http://10.0.0.1:8000",
            "not a url",
        ] {
            assert!(!is_local_endpoint(remote), "{remote}");
        }
    }

    #[tokio::test]
    async fn sweep_at_a_future_time_is_refused_before_anything_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let at = Timestamp::from(chrono::Utc::now() + chrono::Duration::minutes(5));
        let refused = sweep_once(dir.path(), 0, None, Some(at)).await.unwrap_err();
        assert!(refused.to_string().contains("in the future"), "{refused}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "refused before anything was created"
        );
    }

    #[tokio::test]
    async fn sweep_at_is_refused_against_a_store_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let at = Timestamp::parse("2099-01-01T00:00:00Z").unwrap();
        let refused = sweep_once(
            dir.path(),
            0,
            Some("https://dynamodb.eu-west-1.amazonaws.com".into()),
            Some(at),
        )
        .await
        .unwrap_err();
        assert!(refused.to_string().contains("refused"), "{refused}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "refused before anything was created"
        );
    }
}
