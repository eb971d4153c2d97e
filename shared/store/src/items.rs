//! How domain values are laid out in items: keys, index attributes, conversions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use domain::{CustomerId, PartnerId, RequestId, ServiceRequest};
use ledger::{ChainHead, ChainId, Frontier, Hash};
use sha2::{Digest, Sha256};

use crate::error::StoreError;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// How many partitions the sweep index is spread over (the sweep queries each).
pub const SWEEP_SHARDS: u8 = 16;

pub(crate) fn request_pk(partner: &PartnerId) -> String {
    format!("P#{partner}")
}

pub(crate) fn request_sk(id: RequestId) -> String {
    format!("R#{id}")
}

pub(crate) fn customer_pk(partner: &PartnerId, customer: &CustomerId) -> String {
    format!("P#{partner}#C#{customer}")
}

/// The ledger's index key for one request's entries.
pub(crate) fn ledger_rid(partner: &PartnerId, id: RequestId) -> String {
    format!("{partner}#{id}")
}

/// A request's sweep shard: spreads due requests over [`SWEEP_SHARDS`] partitions.
pub(crate) fn sweep_shard(id: RequestId) -> String {
    let digest = Sha256::digest(id.to_string().as_bytes());
    format!("{:02}", digest.first().copied().unwrap_or(0) % SWEEP_SHARDS)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A request as stored: the resource plus its key and index attributes.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RequestItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    rid: String,
    /// Present only while the request awaits its first response (the sparse sweep index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep_due: Option<String>,
    #[serde(flatten)]
    request: ServiceRequest,
}

pub(crate) fn request_item(request: &ServiceRequest) -> Result<Item, StoreError> {
    let partner = request.partner_id();
    let id = request.id();
    let awaiting = request.awaits_first_response();
    let item = RequestItem {
        pk: request_pk(partner),
        sk: request_sk(id),
        gsi1pk: request.customer_id().map(|c| customer_pk(partner, c)),
        gsi1sk: request.customer_id().map(|_| request_sk(id)),
        rid: id.to_string(),
        sweep_shard: awaiting.then(|| sweep_shard(id)),
        sweep_due: awaiting.then(|| format!("{}#{partner}#{id}", request.sla().due_at)),
        request: request.clone(),
    };
    serde_dynamo::to_item(item).map_err(StoreError::internal)
}

pub(crate) fn request_from_item(item: Item) -> Result<ServiceRequest, StoreError> {
    let item: RequestItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(format!("unreadable request item: {e}")))?;
    Ok(item.request)
}

/// The partner and request id in a request's key (`pk`, `sk`), as index queries return them.
pub(crate) fn request_key(item: &Item) -> Result<(PartnerId, RequestId), StoreError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.as_str()),
        _ => Err(StoreError::Internal(format!("request key without {name}"))),
    };
    let partner = text("pk")?.strip_prefix("P#").and_then(|p| PartnerId::parse(p).ok());
    let id = text("sk")?.strip_prefix("R#").and_then(|r| RequestId::parse(r).ok());
    partner
        .zip(id)
        .ok_or_else(|| StoreError::Internal("malformed request key".into()))
}

/// A chain head as stored.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct HeadItem {
    pub chain: String,
    pub size: u64,
    pub last_hash: String,
    pub frontier: Vec<String>,
}

pub(crate) fn head_from_item(item: Item) -> Result<ChainHead, StoreError> {
    let head: HeadItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(format!("unreadable chain head: {e}")))?;
    let bad = |what: &str| StoreError::Internal(format!("chain head {}: bad {what}", head.chain));
    let nodes = head
        .frontier
        .iter()
        .map(|h| Hash::from_hex(h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("frontier"))?;
    Ok(ChainHead {
        chain: ChainId::parse(&head.chain).map_err(|_| bad("chain id"))?,
        size: head.size,
        last_hash: Hash::from_hex(&head.last_hash).ok_or_else(|| bad("last hash"))?,
        frontier: Frontier::from_parts(head.size, nodes).map_err(|_| bad("frontier size"))?,
    })
}

/// A stored ledger entry.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct LedgerItem {
    pub chain: String,
    pub seq: u64,
    /// The entry's line, byte for byte as hashed.
    pub line: String,
    pub kind: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_spread_and_stable() {
        let ids: Vec<RequestId> = (0..2000u128)
            .map(|i| RequestId::new(chrono::Utc::now(), i * 7919))
            .collect();
        let mut counts = [0u32; SWEEP_SHARDS as usize];
        for id in &ids {
            let shard: usize = sweep_shard(*id).parse().unwrap();
            counts[shard] += 1;
            assert_eq!(sweep_shard(*id), sweep_shard(*id));
        }
        assert!(counts.iter().all(|c| *c > 60), "{counts:?}");
    }
}
