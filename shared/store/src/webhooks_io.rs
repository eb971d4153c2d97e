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
        let mut found = Vec::new();
        let mut start = None;
        loop {
            self.count_round_trip();
            let out = self
                .client
                .query()
                .table_name(&self.tables.webhooks)
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", "partner")
                .expression_attribute_values(":p", s(partner.as_str()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                found.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
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
