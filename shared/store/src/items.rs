//! How domain values are laid out in items: keys, index attributes, conversions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use domain::{CustomerId, PartnerId, RequestId, ServiceRequest};
use ledger::{ChainHead, ChainId, Frontier, Hash};
use sha2::{Digest, Sha256};

use crate::error::StoreError;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// How many partitions the sweep index and the needs-checkpoint index are spread over.
pub const SWEEP_SHARDS: u8 = 16;

pub(crate) fn request_pk(partner: &PartnerId) -> String {
    format!("P#{partner}")
}

pub(crate) fn request_sk(id: RequestId) -> String {
    format!("R#{id}")
}

pub(crate) fn customer_pk(partner: &PartnerId, customer: &CustomerId) -> String {
    format!("{}{customer}", customer_pk_prefix(partner))
}

/// What every [`customer_pk`] of `partner` starts with (the customer follows).
pub(crate) fn customer_pk_prefix(partner: &PartnerId) -> String {
    format!("P#{partner}#C#")
}

/// The ledger's index key for one request's entries.
pub(crate) fn ledger_rid(partner: &PartnerId, id: RequestId) -> String {
    format!("{partner}#{id}")
}

/// A request's sweep shard: spreads due requests over [`SWEEP_SHARDS`] partitions.
pub(crate) fn sweep_shard(id: RequestId) -> String {
    shard_of(id.to_string().as_bytes())
}

/// A chain's needs-checkpoint shard.
pub(crate) fn checkpoint_shard(chain: &ChainId) -> String {
    shard_of(chain.as_str().as_bytes())
}

fn shard_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("{:02}", digest.first().copied().unwrap_or(0) % SWEEP_SHARDS)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Internal(format!("item without {name}"))),
    }
}

pub(crate) fn number(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(StoreError::internal),
        _ => Err(StoreError::Internal(format!("item without {name}"))),
    }
}

/// A request as stored: its non-personal fields (personal values live in the personal-data
/// table), its key and index attributes.
pub(crate) fn request_item(request: &ServiceRequest) -> Result<Item, StoreError> {
    let mut value = crate::personal_io::clear_request(request)?;
    let partner = request.partner_id();
    let id = request.id();
    let object = value
        .as_object_mut()
        .ok_or_else(|| StoreError::Internal("a request is not an object".into()))?;
    let mut put = |name: &str, v: String| {
        object.insert(name.to_owned(), serde_json::Value::String(v));
    };
    put("pk", request_pk(partner));
    put("sk", request_sk(id));
    if let Some(customer) = request.customer_id() {
        put("gsi1pk", customer_pk(partner, customer));
        put("gsi1sk", request_sk(id));
    }
    put("rid", id.to_string());
    // The sweep index holds a request only while a response clock runs (first or next).
    if let Some(due) = request.sweep_due_at() {
        put("sweep_shard", sweep_shard(id));
        put("sweep_due", format!("{due}#{partner}#{id}"));
    }
    // The vendor's queue holds it while support owes a reply: the next due time first, then
    // the severity (A before C).
    if let Some((due, state)) = request.reply_owed() {
        put("queue_pk", QUEUE_PARTITION.to_owned());
        put("queue_sk", format!("{due}#{}#{id}", request.severity()));
        put("queue_state", state.as_str().to_owned());
    }
    serde_dynamo::to_item(value).map_err(StoreError::internal)
}

/// The index and key attributes a request item carries besides the resource.
const KEY_ATTRIBUTES: &[&str] = &[
    "pk",
    "sk",
    "gsi1pk",
    "gsi1sk",
    "rid",
    "sweep_shard",
    "sweep_due",
    "queue_pk",
    "queue_sk",
    "queue_state",
];

/// The one partition of the queue index (ordered across all partners; see DESIGN.md).
pub(crate) const QUEUE_PARTITION: &str = "open";

/// A request item as JSON, without its key and index attributes (the personal values not
/// joined yet).
pub(crate) fn request_json(item: Item) -> Result<serde_json::Value, StoreError> {
    let mut value: serde_json::Value =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(format!("unreadable request item: {e}")))?;
    if let Some(object) = value.as_object_mut() {
        for key in KEY_ATTRIBUTES {
            object.remove(*key);
        }
    }
    Ok(value)
}

/// The partner and request id in a request's key (`pk`, `sk`), as index queries return them.
pub(crate) fn request_key(item: &Item) -> Result<(PartnerId, RequestId), StoreError> {
    let partner = text(item, "pk")?
        .strip_prefix("P#")
        .and_then(|p| PartnerId::parse(p).ok());
    let id = text(item, "sk")?
        .strip_prefix("R#")
        .and_then(|r| RequestId::parse(r).ok());
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
    #[serde(default)]
    pub last_at: Option<String>,
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
    let last_at = match &head.last_at {
        Some(at) => Some(ledger::entry::parse_at(at).ok_or_else(|| bad("last_at"))?),
        None => None,
    };
    Ok(ChainHead {
        chain: ChainId::parse(&head.chain).map_err(|_| bad("chain id"))?,
        size: head.size,
        last_hash: Hash::from_hex(&head.last_hash).ok_or_else(|| bad("last hash"))?,
        frontier: Frontier::from_parts(head.size, nodes).map_err(|_| bad("frontier size"))?,
        last_at,
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
    /// The receipt the writer signed for this entry and returned (FORMAT.md §10.2): its
    /// signed note. Entries the service records on its own (disclosures), and
    /// entries written before receipts were kept, have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
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
