//! # ledgerdesk store: DynamoDB
//!
//! The only crate that talks to AWS. Every state change of a service request is one
//! `TransactWriteItems`: the request item (conditioned on its version), the new audit-ledger
//! entry (conditioned on not existing), the chain head (conditioned on the size the entry was
//! built on), the personal values the change introduces and, for creates, the idempotency
//! record and the partner–customer relationship check. Nothing is ever half-written.
//!
//! The data model and every access pattern are in `DESIGN.md`; the tables are defined once,
//! in [`schema`].
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use ledger::{ChainHead, ChainId};

pub mod cursor;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
mod items;
mod ledger_io;
mod personal_io;
mod read;
pub mod relationships;
pub mod schema;
pub mod secrets;
pub mod trust;
pub mod webhook_http;
pub mod webhooks_io;
pub mod witnesses;
mod write;

pub use aws_config::SdkConfig as AwsConfig;
pub use cursor::CursorKey;
pub use error::StoreError;
pub use items::SWEEP_SHARDS;
pub use ledger_io::{ExportError, IntegrityAlarm, SignReport, StoredCheckpoint, StoredEntry, Unwitnessed};
pub use personal_io::PersonalItem;
pub use read::{Assignee, History, ListQuery, Page, PageSize, QueueQuery};
pub use relationships::{Relationship, RelationshipStatus};
pub use schema::TableNames;
pub use webhooks_io::{DeliveryAttempt, DeliveryPage, EndpointState, SealedSecret, WebhookEndpoint};
pub use write::{
    Appended, CreateOutcome, ExpectedEntry, IdempotencyClaim, RELATIONSHIPS_PER_TRANSACTION, RETRY_BUDGET, ReceiptStamp,
};

/// How long an idempotency record is honoured.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// The clock a store stamps entries by and judges times with: the system's, or — in tests and
/// drills of the local run — the system's moved by a fixed offset, so that hours can pass
/// without waiting (every writer and the signer of one process share it).
#[derive(Debug, Clone, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::milliseconds(self.0.load(Ordering::Relaxed))
    }

    /// Move this clock (and every store sharing it) forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        self.0.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// ledgerdesk's DynamoDB store. Build one per process (a Lambda's cold start) and share it:
/// it caches the last chain head it saw per partner, so that an uncontended state change is
/// one round trip.
#[derive(Debug)]
pub struct Store {
    client: Client,
    tables: TableNames,
    /// Seals and opens list cursors; only the functions that list need one.
    cursor_key: Option<CursorKey>,
    heads: Mutex<HashMap<ChainId, ChainHead>>,
    /// One lock per chain: this process's appends to a chain queue instead of colliding.
    appenders: Mutex<HashMap<ChainId, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    round_trips: AtomicU64,
    /// Where entry tiles are kept (the functions that sign or serve them).
    entry_tiles: Option<EntryTileBucket>,
    /// What "now" is for writers and the signer (FORMAT.md §2.2).
    clock: Clock,
    /// The witnesses the signer asks to cosign each checkpoint (FORMAT.md §17).
    witnesses: Option<witnesses::Witnesses>,
    /// Signs the receipt kept with each entry this process appends (the writers).
    receipts: Option<std::sync::Arc<dyn write::ReceiptStamp>>,
    /// From when on every entry is kept with its receipt (`None`: always; a ledger timestamp
    /// in a stack upgraded to kept receipts).
    receipts_required_since: Option<String>,
    /// Whether the signer checks kept receipts before it signs (always, but in drills).
    signer_checks_receipts: std::sync::atomic::AtomicBool,
    /// The published receipt keys and the log the signer checks kept receipts with (the
    /// public halves only: no key fetch stands between an entry and the check).
    receipt_verifier: Option<(ledger::TrustedKeys, ledger::LogName)>,
}

/// How long after `RECEIPTS_REQUIRED_SINCE` the signer still checkpoints entries stamped
/// before it without a kept receipt (FORMAT.md §10.2): the old writers' last entries are
/// signed by the first run after the upgrade (the sweep runs every five minutes), so a day
/// covers a day of failed runs too. Past it, an entry without a receipt was appended since by
/// no writer, however it is dated — on a chain dormant since the upgrade as on a new one.
pub const RECEIPTS_UPGRADE_WINDOW_HOURS: i64 = 24;

/// Whether an entry stamped `at` without a kept receipt may be checkpointed by a signer
/// running at `now`, in a deployment that kept receipts from `since` (`None`: from its start,
/// so never): only an entry stamped before `since`, and only within
/// [`RECEIPTS_UPGRADE_WINDOW_HOURS`] of it.
pub fn missing_receipt_excused(since: Option<&str>, at: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    let Some(since) = since else { return false };
    let Some(cutover) = ledger::entry::parse_at(since) else {
        return false;
    };
    at < since && now < cutover + chrono::Duration::hours(RECEIPTS_UPGRADE_WINDOW_HOURS)
}

/// The S3 bucket that holds the entry tiles (FORMAT.md §11.1): immutable blobs, written by the
/// signer and read by anyone entitled through a short-lived presigned link.
#[derive(Debug, Clone)]
pub struct EntryTileBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl EntryTileBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

impl Store {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables,
            cursor_key: None,
            heads: Mutex::new(HashMap::new()),
            appenders: Mutex::new(HashMap::new()),
            round_trips: AtomicU64::new(0),
            entry_tiles: None,
            clock: Clock::system(),
            witnesses: None,
            receipts: None,
            receipts_required_since: None,
            signer_checks_receipts: std::sync::atomic::AtomicBool::new(true),
            receipt_verifier: None,
        }
    }

    /// Check every kept receipt with these published receipt keys (current and, during a
    /// rotation, previous), for `log`, before the signer signs a checkpoint over its entry.
    pub fn set_receipt_verifier(&mut self, keys: ledger::TrustedKeys, log: ledger::LogName) {
        self.receipt_verifier = Some((keys, log));
    }

    /// Drills and tests only: sign as a dishonest operator's own signer would — with the
    /// checkpoint key, but without checking kept receipts (FORMAT.md §10.2) — to show what
    /// catches a history the honest signer refuses to sign.
    pub fn set_signer_checks_receipts(&self, on: bool) {
        self.signer_checks_receipts.store(on, Ordering::Relaxed);
    }

    pub(crate) fn signer_checks_receipts(&self) -> bool {
        self.signer_checks_receipts.load(Ordering::Relaxed)
    }

    /// Entries stamped before `since` (a ledger timestamp: a stack upgraded to kept
    /// receipts) may have no kept receipt; every later one must.
    pub fn set_receipts_required_since(&mut self, since: Option<String>) {
        self.receipts_required_since = since;
    }

    /// Whether an entry stamped `at`, read back by a store that signs receipts, must have one.
    pub(crate) fn receipt_required(&self, at: &str) -> bool {
        self.receipts.is_some() && self.kept_receipts_since(at)
    }

    /// Whether entries stamped `at` are kept with receipts (all, but in an upgraded stack).
    pub(crate) fn kept_receipts_since(&self, at: &str) -> bool {
        self.receipts_required_since.as_deref().is_none_or(|since| at >= since)
    }

    /// Whether the signer, running at `now`, may checkpoint an entry stamped `at` that has no
    /// kept receipt ([`missing_receipt_excused`]).
    pub(crate) fn signer_excuses_missing_receipt(&self, at: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
        missing_receipt_excused(self.receipts_required_since.as_deref(), at, now)
    }

    /// Keep, with every entry this store appends, the receipt `stamp` signs for it (FORMAT.md
    /// §10.2): in the entry's own transaction, so the receipt a write returns is the one the
    /// ledger keeps, and nothing read from the table later has to be trusted to sign one.
    pub fn set_receipts(&mut self, stamp: std::sync::Arc<dyn write::ReceiptStamp>) {
        self.receipts = Some(stamp);
    }

    /// Ask these witnesses to cosign every checkpoint the signer signs.
    pub fn with_witnesses(mut self, witnesses: witnesses::Witnesses) -> Self {
        self.witnesses = Some(witnesses);
        self
    }

    /// Use `clock` instead of the system clock (tests and drills: see [`Clock`]).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store's clock: what a write is stamped by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, by the store's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The bucket to keep entry tiles in (the signer) and to link them from (the reader).
    pub fn with_entry_tiles(mut self, bucket: EntryTileBucket) -> Self {
        self.entry_tiles = Some(bucket);
        self
    }

    /// The key that authenticates list cursors (required by [`Store::list`]).
    pub fn with_cursor_key(mut self, key: CursorKey) -> Self {
        self.cursor_key = Some(key);
        self
    }

    /// DynamoDB requests made so far (for benchmarks and tests of the round-trip budget).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    pub(crate) fn count_round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// Run `query` page by page and hand every item to `each`.
    pub(crate) async fn query_all<E: From<StoreError>>(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        mut each: impl FnMut(items::Item) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut start = None;
        loop {
            self.count_round_trip();
            let out = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| E::from(error::sdk(e)))?;
            for item in out.items.unwrap_or_default() {
                each(item)?;
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(()),
            }
        }
    }

    /// Create the tables that do not exist yet (local run and tests).
    pub async fn create_tables(&self) -> Result<(), StoreError> {
        schema::create_tables(&self.client, &self.tables).await
    }

    /// Create the entry-tile bucket if it does not exist yet (local run and tests).
    pub async fn create_entry_tile_bucket(&self) -> Result<(), StoreError> {
        let Some(tiles) = &self.entry_tiles else {
            return Ok(());
        };
        match tiles.client.head_bucket().bucket(&tiles.bucket).send().await {
            Ok(_) => Ok(()),
            Err(_) => tiles
                .client
                .create_bucket()
                .bucket(&tiles.bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(error::sdk),
        }
    }
}

fn timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

pub use trust::TrustRoots;

/// The AWS configuration of a Lambda: region and credentials from its environment, TLS
/// trusting `roots` ([`trust`]).
pub async fn aws_config(roots: TrustRoots) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts());
    if let Some(client) = roots.http_client(None) {
        loader = loader.http_client(client);
    }
    loader.load().await
}

/// A DynamoDB client for a Lambda (from [`aws_config`]).
pub fn dynamodb(config: &aws_config::SdkConfig) -> Client {
    Client::new(config)
}

/// A DynamoDB client from a loaded `config` with its endpoint replaced by `endpoint` (a
/// function pointed at a DynamoDB-compatible server): no second configuration load.
pub fn dynamodb_with_endpoint(config: &aws_config::SdkConfig, endpoint: &str) -> Client {
    Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// An S3 client for a Lambda (from [`aws_config`]); with `endpoint`, for an S3-compatible
/// server there (path-style addressing, as such servers expect).
pub fn s3(config: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// An S3 client for the embedded S3-compatible server at `endpoint` ([`embedded::EmbeddedS3`]),
/// with that server's credentials.
pub fn s3_at(endpoint: &str, region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            LOCAL_S3_ACCESS_KEY,
            LOCAL_S3_SECRET_KEY,
            None,
            None,
            "ledgerdesk-local",
        ))
        .timeout_config(timeouts())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The embedded S3-compatible server's only credentials (placeholders, like the local
/// DynamoDB's: it checks signatures with them, so a link it did not sign is refused).
pub const LOCAL_S3_ACCESS_KEY: &str = "local";
pub const LOCAL_S3_SECRET_KEY: &str = "local-secret";

/// A DynamoDB client for a DynamoDB-compatible server at `endpoint` (the local run, the
/// tests, `ledger export`). Uses static placeholder credentials unless real ones are set.
pub async fn dynamodb_at(endpoint: &str, region: &str) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .timeout_config(timeouts());
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "ledgerdesk-local"));
    }
    Client::new(&loader.load().await)
}

#[cfg(test)]
mod tests {
    use super::missing_receipt_excused;

    fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
        ledger::entry::parse_at(text).unwrap()
    }

    #[test]
    fn a_missing_receipt_is_excused_only_before_the_upgrade_and_only_within_its_window() {
        let since = Some("2026-12-08T00:00:00.000Z");
        let before = "2026-12-07T23:59:59.999Z";
        let within = at("2026-12-08T23:59:59.999Z");
        let past = at("2026-12-09T00:00:00.000Z");
        // A deployment that kept receipts from its start excuses none.
        assert!(!missing_receipt_excused(None, before, within));
        // An entry from before the upgrade, seen within the window: the old writers'.
        assert!(missing_receipt_excused(since, before, within));
        // The same entry first seen after the window: backdated onto a dormant chain.
        assert!(!missing_receipt_excused(since, before, past));
        // An entry stamped at or after the upgrade never.
        assert!(!missing_receipt_excused(since, "2026-12-08T00:00:00.000Z", within));
        assert!(!missing_receipt_excused(
            since,
            "2026-12-08T00:00:00.001Z",
            at("2026-12-08T00:01:00.000Z")
        ));
        // A since that is not a time excuses nothing.
        assert!(!missing_receipt_excused(Some("soon"), before, within));
    }
}
