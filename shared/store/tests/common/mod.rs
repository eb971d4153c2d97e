//! A fresh DynamoDB-compatible server (dynoxide, in process, random port) and fresh tables
//! per test, driven over HTTP by the real SDK.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use domain::*;
use serde_json::json;
use store::embedded::EmbeddedDynamo;
use store::{CursorKey, Store, TableNames};

pub struct Harness {
    pub dynamo: EmbeddedDynamo,
    pub client: aws_sdk_dynamodb::Client,
    pub tables: TableNames,
    pub store: Arc<Store>,
}

impl Harness {
    pub async fn new() -> Self {
        let dynamo = EmbeddedDynamo::start("127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let client = store::dynamodb_at(dynamo.endpoint(), "eu-central-1").await;
        let tables = TableNames::with_prefix("ledgerdesk-test");
        let store = Arc::new(Store::new(client.clone(), tables.clone()).with_cursor_key(cursor_key()));
        store.create_tables().await.unwrap();
        let h = Self {
            dynamo,
            client,
            tables,
            store,
        };
        // The partners of these tests have relationships with both customers (written
        // directly, not ledgered, so that the chains hold only what each test writes).
        let mut partners = vec!["partner-a".to_owned(), "partner-b".to_owned(), "partner-c".to_owned()];
        partners.extend((0..16).map(|w| format!("partner-{w:02}")));
        for partner in &partners {
            for customer in [CUSTOMER_A, CUSTOMER_B] {
                h.relate(partner, customer).await;
            }
        }
        h
    }

    /// An active relationship between `partner` and `customer`, written directly.
    pub async fn relate(&self, partner: &str, customer: &str) {
        self.relate_as(partner, customer, "active").await;
    }

    /// A relationship between `partner` and `customer` with this `status`, written directly.
    pub async fn relate_as(&self, partner: &str, customer: &str, status: &str) {
        let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
        self.client
            .put_item()
            .table_name(&self.tables.relationships)
            .item("partner", s(partner))
            .item("customer", s(customer))
            .item("since", s("2026-01-01T00:00:00.000Z"))
            .item("status", s(status))
            .item("updated_at", s("2026-01-01T00:00:00.000Z"))
            .send()
            .await
            .unwrap();
    }

    /// Every item of a table, as the SDK returns them.
    pub async fn scan(
        &self,
        table: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            all.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return all,
            }
        }
    }

    /// Another store on the same tables: a separate Lambda instance with its own head cache.
    pub fn another_store(&self) -> Arc<Store> {
        Arc::new(Store::new(self.client.clone(), self.tables.clone()).with_cursor_key(cursor_key()))
    }

    pub async fn count(&self, table: &str) -> usize {
        self.scan(table).await.len()
    }

    /// `partner`'s chain head as stored, if it has one.
    pub async fn head(&self, partner: &str) -> Option<ledger::ChainHead> {
        self.store
            .chain_heads()
            .await
            .unwrap()
            .into_iter()
            .find(|h| h.chain.as_str() == partner)
    }

    pub async fn head_size(&self, partner: &str) -> u64 {
        self.head(partner).await.map_or(0, |h| h.size)
    }

    pub async fn export(&self, partner: &str) -> Vec<String> {
        let mut lines = Vec::new();
        self.store
            .export_chain(&ledger::ChainId::parse(partner).unwrap(), None, |l| {
                lines.push(l.to_owned());
                Ok::<(), std::convert::Infallible>(())
            })
            .await
            .unwrap();
        lines
    }
    /// Write a ledger item as a dishonest operator with direct table access would.
    pub async fn overwrite_entry(&self, chain: &str, seq: u64, line: &str) {
        let e = ledger::EntryRef::parse(line.as_bytes()).unwrap();
        self.client
            .put_item()
            .table_name(&self.tables.ledger)
            .item("chain", AttributeValue::S(chain.into()))
            .item("seq", AttributeValue::N(seq.to_string()))
            .item("line", AttributeValue::S(line.into()))
            .item("kind", AttributeValue::S(e.kind.into()))
            .item("at", AttributeValue::S(e.at.into()))
            .send()
            .await
            .unwrap();
    }

    /// Write a chain's head (marked as grown; its time too, if it has one) as a dishonest
    /// operator would.
    pub async fn overwrite_head(&self, head: &ledger::ChainHead) {
        let mut set = "SET #size = :size, last_hash = :hash, frontier = :frontier, ckpt_shard = :shard".to_owned();
        if head.last_at.is_some() {
            set.push_str(", last_at = :at");
        }
        self.client
            .update_item()
            .table_name(&self.tables.chain_heads)
            .key("chain", AttributeValue::S(head.chain.to_string()))
            .update_expression(set)
            .set_expression_attribute_values(head.last_at.map(|at| {
                std::collections::HashMap::from([(":at".to_owned(), AttributeValue::S(ledger::entry::format_at(&at)))])
            }))
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":size", AttributeValue::N(head.size.to_string()))
            .expression_attribute_values(":hash", AttributeValue::S(head.last_hash.to_hex()))
            .expression_attribute_values(
                ":frontier",
                AttributeValue::L(
                    head.frontier
                        .nodes()
                        .iter()
                        .map(|n| AttributeValue::S(n.to_hex()))
                        .collect(),
                ),
            )
            .expression_attribute_values(":shard", AttributeValue::S("00".into()))
            .send()
            .await
            .unwrap();
    }

    /// Rewrite `chain` from entry `from` on as a dishonest operator would: every later entry
    /// re-hashed with `billable` flipped to false, and the head to match — consistent on its
    /// own, not with what was signed. The rewritten head.
    pub async fn rewrite_from(&self, chain: &str, from: usize) -> ledger::ChainHead {
        let lines = self.export(chain).await;
        let mut head = ledger::ChainHead {
            chain: ledger::ChainId::parse(chain).unwrap(),
            size: from as u64,
            last_hash: ledger::EntryRef::parse(lines[from - 1].as_bytes()).unwrap().hash,
            frontier: frontier_of(&lines[..from]),
            last_at: None,
        };
        for line in &lines[from..] {
            let e = ledger::EntryRef::parse(line.as_bytes()).unwrap();
            let mut data: serde_json::Value = serde_json::from_slice(e.data).unwrap();
            data["resulting"]["billable"] = json!(false);
            let (entry, next) = head.append(&e.at_datetime().unwrap(), e.kind, &data).unwrap();
            self.overwrite_entry(chain, entry.seq, &entry.line).await;
            head = next;
        }
        self.overwrite_head(&head).await;
        head
    }
}

/// The leaf hashes of exported entry lines.
pub fn leaves(lines: &[String]) -> Vec<ledger::Hash> {
    lines
        .iter()
        .map(|l| ledger::merkle::leaf_hash(ledger::EntryRef::parse(l.as_bytes()).unwrap().hash.as_bytes()))
        .collect()
}

/// The Merkle frontier of exported entry lines.
pub fn frontier_of(lines: &[String]) -> ledger::Frontier {
    let mut frontier = ledger::Frontier::new();
    for leaf in leaves(lines) {
        frontier.push(leaf);
    }
    frontier
}

pub fn cursor_key() -> CursorKey {
    CursorKey::from_bytes([9; 32])
}

pub fn policy() -> SupportPolicy {
    SupportPolicy::embedded().unwrap()
}

pub const CUSTOMER_A: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
pub const CUSTOMER_B: &str = "9b2e4c1a-0d3f-4e5a-8b7c-6d5e4f3a2b1c";

pub fn agent() -> Actor {
    Actor::new(Role::PartnerAgent, Subject::parse("agent-1").unwrap())
}

pub fn engineer() -> Actor {
    Actor::new(Role::SupportEngineer, Subject::parse("engineer-1").unwrap())
}

static ENTROPY: AtomicU64 = AtomicU64::new(1);

/// Open (in memory, not stored) a request for `partner`'s `customer` at `at`.
pub fn open(
    partner: &str,
    customer: &str,
    severity: &str,
    product: &str,
    at: DateTime<Utc>,
) -> (ServiceRequest, DomainEvent) {
    let input: NewRequestInput = serde_json::from_value(json!({
        "product": product,
        "category": "technical",
        "severity": severity,
        "supportTopic": "Compute / VM",
        "title": format!("Request at {at}"),
        "description": "Details.",
        "language": "en",
        "contact": { "name": "Agent", "email": "agent@partner.example" }
    }))
    .unwrap();
    let partner = PartnerId::parse(partner).unwrap();
    let new = NewServiceRequest::parse(input, TenantInput::Customer(customer), &partner).unwrap();
    let at = Timestamp::from(at);
    let id = RequestId::new(at.datetime(), u128::from(ENTROPY.fetch_add(1, Ordering::Relaxed)) << 40);
    ServiceRequest::open(new, partner, id, at, &agent(), &policy()).unwrap()
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

pub fn trusted(key: &ledger::SignerKey) -> ledger::TrustedKeys {
    ledger::TrustedKeys::new([key.verifier()])
}

/// The tests' log name.
pub fn log() -> ledger::LogName {
    ledger::LogName::parse("ledgerdesk.test").unwrap()
}

/// Verify exported lines as `ledger verify` does, with `checkpoints` kept.
pub fn verify_export(
    lines: &[String],
    key: &ledger::SignerKey,
    checkpoints: &[String],
) -> Result<ledger::Report, String> {
    let options = ledger::VerifyOptions {
        log: Some(log()),
        ..ledger::VerifyOptions::default()
    };
    let mut verifier = ledger::Verifier::new(trusted(key), options);
    for cp in checkpoints {
        verifier.add_checkpoint(cp, "stored").map_err(|f| f.to_string())?;
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    verifier.verify(text.as_bytes(), |_| {}).map_err(|e| e.to_string())
}

/// A writer function's receipt stamp (the api crate's `Receipts`), with a fixed key.
#[derive(Debug)]
pub struct Stamp(pub ledger::SignerKey);

/// The log receipts name (as checkpoints do).
pub fn receipt_log() -> ledger::LogName {
    log()
}

impl store::ReceiptStamp for Stamp {
    fn stamp(&self, appended: &store::Appended) -> Result<Option<String>, store::StoreError> {
        let receipt = ledger::Receipt::new(
            &receipt_log(),
            &appended.chain,
            appended.seq,
            appended.entry_hash,
            &appended.at,
        )
        .map_err(store::StoreError::internal)?;
        Ok(Some(receipt.sign(&self.0)))
    }
}

/// A store on the harness's tables whose writes keep receipts signed with `key`.
pub fn stamped(h: &Harness, key: &ledger::SignerKey) -> Store {
    let mut store = Store::new(h.client.clone(), h.tables.clone());
    store.set_receipts(Arc::new(Stamp(key.clone())));
    store
}

/// [`stamped`], and the signer's check of kept receipts with `key`'s public half; entries
/// stamped before `since` (an upgraded deployment) may have none.
pub fn checking(h: &Harness, key: &ledger::SignerKey, since: Option<DateTime<Utc>>) -> Store {
    let mut store = stamped(h, key);
    store.set_receipt_verifier(ledger::TrustedKeys::new([key.verifier()]), receipt_log());
    store.set_receipts_required_since(since.map(|at| ledger::entry::format_at(&at)));
    store
}
