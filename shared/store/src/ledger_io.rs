//! Reading the audit ledger out (export) and writing signed checkpoints.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::Timestamp;
use ledger::{ChainHead, ChainId, SignerKey};

use crate::Store;
use crate::error::{StoreError, sdk};
use crate::items::{self, LedgerItem, n, s};

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub chain: ChainId,
    pub size: u64,
    /// The signed note, as `ledger verify --checkpoint` reads it.
    pub note: String,
}

impl Store {
    /// Every chain's stored head (one per partner that has ever written).
    pub async fn chain_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        let mut heads = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            self.count_round_trip();
            let out = self
                .client
                .scan()
                .table_name(&self.tables.chain_heads)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                heads.push(items::head_from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        heads.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(heads)
    }

    /// Stream `chain`'s entries in `seq` order to `sink`, page by page; returns how many.
    pub async fn export_chain<E>(
        &self,
        chain: &ChainId,
        mut sink: impl FnMut(&str) -> Result<(), E>,
    ) -> Result<u64, ExportError<E>> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .key_condition_expression("chain = :chain")
            .expression_attribute_values(":chain", s(chain.as_str()))
            .scan_index_forward(true)
            .consistent_read(true);
        let mut count = 0;
        self.query_all(query, |item| {
            let entry: LedgerItem =
                serde_dynamo::from_item(item).map_err(|e| ExportError::Store(StoreError::internal(e)))?;
            sink(&entry.line).map_err(ExportError::Sink)?;
            count += 1;
            Ok::<_, ExportError<E>>(())
        })
        .await?;
        Ok(count)
    }

    /// `chain`'s signed checkpoints, oldest first.
    pub async fn checkpoints(&self, chain: &ChainId) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut found = Vec::new();
        self.query_all(self.checkpoint_query(chain, true), |item| {
            found.push(checkpoint_from_item(chain, &item)?);
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(found)
    }

    async fn latest_checkpoint_size(&self, chain: &ChainId) -> Result<Option<u64>, StoreError> {
        self.count_round_trip();
        let out = self.checkpoint_query(chain, false).limit(1).send().await.map_err(sdk)?;
        out.items
            .unwrap_or_default()
            .first()
            .map(|item| checkpoint_from_item(chain, item).map(|c| c.size))
            .transpose()
    }

    fn checkpoint_query(
        &self,
        chain: &ChainId,
        ascending: bool,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.checkpoints)
            .key_condition_expression("chain = :chain")
            .expression_attribute_values(":chain", s(chain.as_str()))
            .scan_index_forward(ascending)
    }

    /// Sign and store a checkpoint of every chain that grew since its last checkpoint.
    /// Returns the checkpoints written. Safe to run concurrently: a checkpoint of a size that
    /// is already stored is not written twice.
    pub async fn checkpoint_grown_chains(
        &self,
        key: &SignerKey,
        log_name: &str,
        now: Timestamp,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut written = Vec::new();
        for head in self.chain_heads().await? {
            let latest = self.latest_checkpoint_size(&head.chain).await?;
            if head.size == 0 || latest.is_some_and(|size| size >= head.size) {
                continue;
            }
            let note = head.sign_checkpoint(log_name, key);
            self.count_round_trip();
            let put = self
                .client
                .put_item()
                .table_name(&self.tables.checkpoints)
                .item("chain", s(head.chain.as_str()))
                .item("size", n(head.size))
                .item("root", s(head.root().to_base64()))
                .item("note", s(note.clone()))
                .item("signed_at", s(now.to_string()))
                .item("key", s(key.name()))
                .condition_expression("attribute_not_exists(#size)")
                .expression_attribute_names("#size", "size")
                .send()
                .await;
            match put {
                Ok(_) => written.push(StoredCheckpoint {
                    chain: head.chain.clone(),
                    size: head.size,
                    note,
                }),
                Err(SdkError::ServiceError(e))
                    if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) => {}
                Err(e) => return Err(sdk(e)),
            }
        }
        Ok(written)
    }
}

fn checkpoint_from_item(chain: &ChainId, item: &items::Item) -> Result<StoredCheckpoint, StoreError> {
    let size = match item.get("size") {
        Some(AttributeValue::N(v)) => v.parse().map_err(StoreError::internal)?,
        _ => return Err(StoreError::Internal("checkpoint without size".into())),
    };
    let note = match item.get("note") {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => return Err(StoreError::Internal("checkpoint without note".into())),
    };
    Ok(StoredCheckpoint {
        chain: chain.clone(),
        size,
        note,
    })
}

/// An export failed in the store or in the sink.
#[derive(Debug, thiserror::Error)]
pub enum ExportError<E> {
    #[error(transparent)]
    Store(StoreError),
    #[error("cannot write the export")]
    Sink(E),
}

impl<E> From<StoreError> for ExportError<E> {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}
