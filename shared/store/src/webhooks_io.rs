//! Partners' webhook endpoints (issue #27), one item each in the webhooks table: the URL, the
//! entry kinds it wants, its signing secrets (sealed: the store never sees them in clear) and
//! its cursor in the partner's chain. Every write is a conditional put on the item's
//! `version`, so two writers (the partner's API call and a deliverer) never both move it: the
//! loser gets [`StoreError::Conflict`] and reads again. A deleted endpoint stays as a
//! tombstone (`deleted_at`): the record of which URLs a partner sent its events to outlives it.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::{PartnerId, Timestamp};

use crate::Store;
use crate::error::{StoreError, sdk};
use crate::items::{n, s};

/// A secret the endpoint signs with: sealed, and until when (`None`: the current one; a
/// rotated-out one signs until its `expires_at`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealedSecret {
    pub sealed: String,
    pub expires_at: Option<Timestamp>,
}

/// Why an endpoint receives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    Enabled,
    /// The partner disabled it.
    DisabledByPartner,
    /// The receiver answered 410 Gone.
    Gone,
    /// Every attempt of the retry schedule failed.
    RetriesSpent,
}

/// One stored endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookEndpoint {
    pub partner: PartnerId,
    /// Its id (`ep_<ULID>`).
    pub endpoint: String,
    pub url: String,
    /// The entry kinds it wants (empty: every kind).
    pub kinds: Vec<String>,
    /// The current secret first, then any still in their overlap.
    pub secrets: Vec<SealedSecret>,
    /// The endpoint's Ed25519 key (`v1a` signatures): the private half sealed, the public half
    /// (`whpk_…`) as the partner is shown it.
    #[serde(default)]
    pub signing_key: Option<String>,
    #[serde(default)]
    pub public_key: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
    pub state: EndpointState,
    /// The seq of the next entry of the partner's chain to consider.
    pub next_seq: u64,
    /// Attempts made at `next_seq` so far.
    pub attempts: u32,
    /// No attempt before this (milliseconds since the epoch; 0: now).
    pub not_before_ms: u64,
    /// The last attempt's answer (`None`: none yet, or no answer), and when it was made.
    pub last_status: Option<u16>,
    pub last_attempt_at: Option<Timestamp>,
    /// Bumped by every write; a write holds only over the version it read.
    pub version: u64,
}

/// One attempt at a delivery, as the partner's delivery log shows it (never the body).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryAttempt {
    /// `<partner>#<endpoint id>`.
    pub endpoint: String,
    /// `<attempted at, ms, 15 digits>#<seq, 20 digits>`: the log's order.
    pub attempt: String,
    pub seq: u64,
    pub webhook_id: String,
    /// Where it was sent (the endpoint's URL then).
    #[serde(default)]
    pub url: String,
    pub attempted_at: Timestamp,
    /// The receiver's status (`None`: no answer).
    pub status: Option<u16>,
    /// `delivered`, `failed` (retried at `next_attempt_at`), `gone` (410: disabled) or
    /// `retries_spent` (disabled).
    pub outcome: String,
    /// Why there was no answer (a timeout, a refused connection, an address it must not reach).
    pub error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
    /// When the record expires (seconds since the epoch; the table's TTL).
    pub expires_at: u64,
}

/// How long the delivery log keeps an attempt.
pub const DELIVERY_LOG_DAYS: i64 = 30;

impl DeliveryAttempt {
    pub fn key(partner: &PartnerId, endpoint: &str) -> String {
        format!("{partner}#{endpoint}")
    }

    pub fn sort_key(attempted_at_ms: u64, seq: u64) -> String {
        format!("{attempted_at_ms:015}#{seq:020}")
    }

    /// Whether `text` is a sort key of this shape (a cursor a caller sends back).
    pub fn is_sort_key(text: &str) -> bool {
        text.split_once('#').is_some_and(|(a, b)| {
            a.len() == 15 && b.len() == 20 && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        })
    }
}

/// A page of an endpoint's delivery log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryAttempt>,
    /// The last item's `attempt`, when there may be more.
    pub next: Option<String>,
}

impl WebhookEndpoint {
    /// Whether the partner still has it (not deleted).
    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }
}

fn from_item(item: std::collections::HashMap<String, AttributeValue>) -> Result<WebhookEndpoint, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(format!("unreadable webhook endpoint: {e}")))
}

impl Store {
    /// Write `endpoint` as version `endpoint.version`: a new item when that is 1, otherwise
    /// only over the stored version before it. [`StoreError::Conflict`] when another write
    /// came first (nothing written).
    pub async fn put_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(endpoint).map_err(StoreError::internal)?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.tables.webhooks)
            .set_item(Some(item));
        put = if endpoint.version <= 1 {
            put.condition_expression("attribute_not_exists(#e)")
                .expression_attribute_names("#e", "endpoint")
        } else {
            put.condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(endpoint.version - 1))
        };
        self.count_round_trip();
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(sdk(e)),
        }
    }

    /// One endpoint of `partner` (tombstones included), strongly consistent.
    pub async fn webhook_endpoint(&self, partner: &PartnerId, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.webhooks)
            .key("partner", s(partner.as_str()))
            .key("endpoint", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item.map(from_item).transpose()
    }

    /// Every endpoint of `partner` (tombstones included), in id order (which is creation
    /// order: the ids are ULIDs), strongly consistent.
    pub async fn webhook_endpoints(&self, partner: &PartnerId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.webhooks)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", "partner")
            .expression_attribute_values(":p", s(partner.as_str()))
            .consistent_read(true);
        let mut found = Vec::new();
        self.query_all(query, |item| {
            // One unreadable item (an operator's edit) must not stop the partner's other
            // endpoints: it is left out and alarmed.
            match from_item(item) {
                Ok(endpoint) => found.push(endpoint),
                Err(e) => tracing::error!(
                    webhook_alarm = "endpoint_stalled",
                    partner = %partner,
                    detail = e.detail().unwrap_or("-"),
                    "a webhook endpoint item is unreadable; left out"
                ),
            }
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(found)
    }

    /// Keep `attempts` in the delivery log (batched writes of 25).
    pub async fn record_delivery_attempts(&self, attempts: &[DeliveryAttempt]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let requests = attempts
            .iter()
            .map(|attempt| {
                let item = serde_dynamo::to_item(attempt).map_err(StoreError::internal)?;
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(StoreError::internal)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(&self.tables.webhook_deliveries, requests, "delivery log writes")
            .await
    }

    /// A page of `endpoint`'s delivery log, newest first, after `before` (a previous page's
    /// `next`), only `outcome` if given.
    pub async fn delivery_attempts(
        &self,
        partner: &PartnerId,
        endpoint: &str,
        outcome: Option<&str>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        // The filter is applied after the read: each query reads a fixed number of items, and a
        // request reads at most `PAGES` of them; a page may then hold fewer than `limit` items
        // and still say where to go on.
        const READ_PER_QUERY: i32 = 200;
        const PAGES: usize = 5;
        let key = DeliveryAttempt::key(partner, endpoint);
        let mut items = Vec::new();
        let mut start = before
            .map(|b| std::collections::HashMap::from([("endpoint".to_owned(), s(&key)), ("attempt".to_owned(), s(b))]));
        for _ in 0..PAGES {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.webhook_deliveries)
                .key_condition_expression("#e = :e")
                .expression_attribute_names("#e", "endpoint")
                .expression_attribute_values(":e", s(&key))
                .scan_index_forward(false)
                .limit(READ_PER_QUERY)
                .set_exclusive_start_key(start);
            if let Some(outcome) = outcome {
                query = query
                    .filter_expression("#o = :o")
                    .expression_attribute_names("#o", "outcome")
                    .expression_attribute_values(":o", s(outcome));
            }
            self.count_round_trip();
            let out = query.send().await.map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                items.push(
                    serde_dynamo::from_item::<_, DeliveryAttempt>(item)
                        .map_err(|e| StoreError::Internal(format!("unreadable delivery attempt: {e}")))?,
                );
                if items.len() == limit {
                    let next = items.last().map(|a| a.attempt.clone());
                    return Ok(DeliveryPage { items, next });
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(DeliveryPage { items, next: None });
            }
        }
        let next = start
            .as_ref()
            .and_then(|k| k.get("attempt"))
            .and_then(|a| a.as_s().ok())
            .cloned();
        Ok(DeliveryPage { items, next })
    }

    /// How many entries `chain` has (strongly consistent): where a new endpoint starts.
    pub async fn chain_size(&self, chain: &ledger::ChainId) -> Result<u64, StoreError> {
        Ok(self.read_head(chain).await?.size)
    }

    /// The partners that have a live, enabled endpoint (the local deliverer's round; in AWS
    /// the ledger's stream names the chain instead).
    pub async fn partners_with_webhooks(&self) -> Result<Vec<PartnerId>, StoreError> {
        let mut partners = std::collections::BTreeSet::new();
        let mut start = None;
        loop {
            self.count_round_trip();
            let out = self
                .client
                .scan()
                .table_name(&self.tables.webhooks)
                .projection_expression("#p, #s, deleted_at")
                .expression_attribute_names("#p", "partner")
                .expression_attribute_names("#s", "state")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                let live = !item
                    .get("deleted_at")
                    .is_some_and(|d| !matches!(d, AttributeValue::Null(_)));
                let enabled = item
                    .get("state")
                    .and_then(|s| s.as_s().ok())
                    .is_some_and(|s| s == "enabled");
                if let (true, true, Some(Ok(p))) = (
                    live,
                    enabled,
                    item.get("partner")
                        .and_then(|p| p.as_s().ok())
                        .map(|p| PartnerId::parse(p)),
                ) {
                    partners.insert(p);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(partners.into_iter().collect());
            }
        }
    }
}
