//! State changes: one transaction each — the request, its ledger entry, the chain head, the
//! personal values the change introduces (and, for a create, the idempotency record and the
//! partner–customer relationship check) — with optimistic concurrency on the chain head.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use domain::{CustomerId, DomainEvent, IdempotencyKey, PartnerId, ServiceRequest, Timestamp};
use ledger::personal::Sealed;
use ledger::{ChainHead, ChainId, Entry, Hash};
use rand::RngExt;

use crate::Store;
use crate::error::{StoreError, sdk};
use crate::items::{self, LedgerItem, n, s};
use crate::personal_io::{self, PersonalItem, REQUEST_SK, entry_sk};

/// How long an append is retried on a moved chain head before giving up: long enough for a
/// burst of writers on one chain (DESIGN.md: what bounds a chain's rate), and short enough
/// that a PATCH's re-apply loop around it (`api::update`, 12 s) ends inside the functions'
/// 29-second timeout: at worst 12 s + one last attempt of 10 s.
pub const RETRY_BUDGET: Duration = Duration::from_secs(10);
/// The most items one transaction takes besides the deletes of an erasure (DynamoDB allows 100).
const DELETES_PER_TRANSACTION: usize = 90;

/// A create's `Idempotency-Key`: the key, a fingerprint of the request it came with, and the
/// response to replay to a retry (the resource; its personal values are stored as
/// commitments and joined back on a replay).
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyClaim<'a> {
    pub key: &'a IdempotencyKey,
    pub fingerprint: &'a str,
    pub response: &'a serde_json::Value,
    pub now: Timestamp,
}

/// The ledger entry a change appended: what a receipt promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub chain: ChainId,
    pub seq: u64,
    pub entry_hash: Hash,
    /// The entry's time, as in its line.
    pub at: String,
    /// The receipt kept with the entry (its signed note, FORMAT.md §10.2): the one this write
    /// signed, or, for an entry read back (a replay), the one kept with it; none when this
    /// store signs no receipts or the entry was kept without one.
    pub receipt: Option<String>,
}

/// What an answer given again expects of the entry it names ([`Store::with_kept_receipt`]):
/// its kind, the request it is of (`<partner>#<request id>`), if any, and what its data says
/// (JSON pointers and their values).
#[derive(Debug, Clone, Copy)]
pub struct ExpectedEntry<'a> {
    pub kind: &'a str,
    pub rid: Option<&'a str>,
    pub data: &'a [(&'a str, serde_json::Value)],
}

/// Signs the receipt of an entry as it is appended (the writer functions' receipt key), to be
/// kept with the entry in the same transaction (FORMAT.md §10.2).
pub trait ReceiptStamp: Send + Sync + std::fmt::Debug {
    /// The receipt for `appended`: its signed note (FORMAT.md §10);
    /// `Ok(None)` when this process signs no receipts. An error refuses the write: nothing
    /// is written (a writer whose receipt key is not at hand writes no receipt-less entries).
    fn stamp(&self, appended: &Appended) -> Result<Option<String>, StoreError>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(Appended),
    /// The key was used before with the same request: the original response (personal
    /// values joined back; `null` if erased since) and the entry it appended.
    Replayed {
        response: serde_json::Value,
        appended: Appended,
    },
}

/// What a receipt promises about `entry` of `chain`.
fn appended_of(chain: &ChainId, entry: &Entry) -> Appended {
    Appended {
        chain: chain.clone(),
        seq: entry.seq,
        entry_hash: entry.hash,
        at: ledger::EntryRef::parse(entry.line.as_bytes())
            .map(|e| e.at.to_owned())
            .unwrap_or_default(),
        receipt: None,
    }
}

/// An entry to append: its kind and time, its data (personal values already sealed) and the
/// personal values it introduces.
pub(crate) struct LedgerEvent {
    pub kind: String,
    pub at: Timestamp,
    pub data: serde_json::Value,
    pub introduced: Vec<Sealed>,
}

impl LedgerEvent {
    fn of(event: &DomainEvent, request_values: Option<&[Sealed]>) -> Result<Self, StoreError> {
        let (data, introduced) = personal_io::event_data(event, request_values)?;
        Ok(Self {
            kind: event.kind().to_owned(),
            at: event.at,
            data,
            introduced,
        })
    }
}

/// What a transaction writes besides the entry and the head.
enum Change<'a> {
    Create {
        request: &'a ServiceRequest,
        sealed: &'a [Sealed],
        /// The customer whose relationship with the partner must be active.
        customer: Option<&'a CustomerId>,
    },
    Update {
        request: &'a ServiceRequest,
        expected_version: u64,
        /// A partner's change: the customer whose relationship must still be active.
        customer: Option<&'a CustomerId>,
    },
    Erase {
        request: &'a ServiceRequest,
        expected_version: u64,
        delete: &'a [PersonalItem],
    },
    /// A partner–customer relationship registered or changed (by the vendor), on the
    /// condition that it is still as it was read (`based_on`: its `updated_at`, or none).
    Relationship {
        partner: &'a PartnerId,
        item: items::Item,
        based_on: Option<Timestamp>,
    },
    /// An access recorded against a request that does not change it (an auditor's
    /// disclosure): the request must exist; it is not written.
    Access { request: &'a ServiceRequest },
}

impl Change<'_> {
    fn request(&self) -> Option<&ServiceRequest> {
        match self {
            Change::Create { request, .. }
            | Change::Update { request, .. }
            | Change::Erase { request, .. }
            | Change::Access { request } => Some(request),
            Change::Relationship { .. } => None,
        }
    }

    fn partner(&self) -> &PartnerId {
        match self {
            Change::Create { request, .. }
            | Change::Update { request, .. }
            | Change::Erase { request, .. }
            | Change::Access { request } => request.partner_id(),
            Change::Relationship { partner, .. } => partner,
        }
    }

    /// The personal-data partition of the values the entry introduces, and the ledger's
    /// per-request index key.
    fn personal_pk(&self) -> String {
        match self.request() {
            Some(r) => personal_io::personal_pk(r.partner_id(), r.id()),
            None => format!("{}#relationships", self.partner()),
        }
    }
}

/// What each item of a transaction is, to read its cancellation reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Request,
    Entry,
    Head,
    Idempotency,
    Personal,
    Relationship,
    Delete,
}

/// Why one transaction attempt did not commit.
enum Attempt {
    /// The chain head moved: rebuild the entry on the new head (returned with the
    /// cancellation when the store sends it, saving a read).
    StaleHead(Option<Box<ChainHead>>),
    /// Another transaction touched the same items at the same moment.
    Busy,
    RequestVersion,
    IdempotencyTaken,
    NoRelationship,
    Failed(StoreError),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IdempotencyItem {
    pk: String,
    fingerprint: String,
    request_id: String,
    /// The original response with its personal values as commitments.
    response: String,
    expires_at: i64,
    chain: String,
    entry_seq: u64,
    entry_hash: String,
    entry_at: String,
}

/// The most relationships [`Store::save_relationships`] writes in one transaction: three items
/// each (the relationship, its entry, its actor's sealed subject) and the chain head, within
/// DynamoDB's 100 items per transaction.
pub const RELATIONSHIPS_PER_TRANSACTION: usize = 33;

fn idempotency_pk(partner: &PartnerId, key: &IdempotencyKey) -> String {
    format!("{partner}#{key}")
}

impl Store {
    /// Store a new request, its `created` event and its personal values. With a customer,
    /// the partner's relationship with it must be active (checked in the same transaction:
    /// [`StoreError::NoRelationship`] otherwise). With an idempotency claim, a retry with the
    /// same key and body gets the original response; another body gets
    /// [`StoreError::IdempotencyMismatch`]. Nothing is written in any of these cases.
    pub async fn create_request(
        &self,
        request: &ServiceRequest,
        event: &DomainEvent,
        claim: Option<IdempotencyClaim<'_>>,
    ) -> Result<CreateOutcome, StoreError> {
        let sealed = personal_io::seal_request(request)?;
        let change = Change::Create {
            request,
            sealed: &sealed,
            customer: request.customer_id(),
        };
        let entry = LedgerEvent::of(event, Some(&sealed))?;
        match self.commit(change, entry, claim).await {
            Ok(appended) => Ok(CreateOutcome::Created(appended)),
            Err(Attempt::IdempotencyTaken) => match claim {
                Some(claim) => self.replay(request.partner_id(), claim).await,
                None => Err(StoreError::Internal("idempotency conflict without a key".into())),
            },
            Err(Attempt::NoRelationship) => Err(StoreError::NoRelationship),
            Err(Attempt::RequestVersion) => Err(StoreError::Conflict),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::StaleHead(_) | Attempt::Busy) => Err(StoreError::Contention),
        }
    }

    /// Store a changed request (which was at `expected_version` when read) and its event: a
    /// change by the vendor's staff or the service itself, which no relationship limits.
    pub async fn save_change(
        &self,
        request: &ServiceRequest,
        expected_version: u64,
        event: &DomainEvent,
    ) -> Result<Appended, StoreError> {
        self.save_update(request, expected_version, event, None).await
    }

    /// [`Store::save_change`] for a change the partner makes: a request for a customer is
    /// changed only while the partner's relationship with that customer is active, checked
    /// in the same transaction ([`StoreError::RelationshipEnded`] otherwise, nothing written).
    pub async fn save_partner_change(
        &self,
        request: &ServiceRequest,
        expected_version: u64,
        event: &DomainEvent,
    ) -> Result<Appended, StoreError> {
        self.save_update(request, expected_version, event, request.customer_id())
            .await
    }

    /// A changed request and its event; with `customer`, on the condition that the partner's
    /// relationship with it is active.
    async fn save_update(
        &self,
        request: &ServiceRequest,
        expected_version: u64,
        event: &DomainEvent,
        customer: Option<&CustomerId>,
    ) -> Result<Appended, StoreError> {
        let change = Change::Update {
            request,
            expected_version,
            customer,
        };
        let entry = LedgerEvent::of(event, None)?;
        match self.commit(change, entry, None).await {
            Err(Attempt::NoRelationship) => Err(StoreError::RelationshipEnded),
            other => self.finish(other),
        }
    }

    /// Register or change a partner–customer relationship, ledgered in the partner's chain
    /// (kind `relationship_changed`) in the same transaction.
    pub async fn save_relationship(
        &self,
        relationship: &crate::relationships::Relationship,
        actor: &domain::Actor,
    ) -> Result<Appended, StoreError> {
        let mut appended = self
            .save_relationships(std::slice::from_ref(relationship), actor)
            .await?;
        appended
            .pop()
            .ok_or_else(|| StoreError::Internal("a relationship saved without its entry".into()))
    }

    /// Register or change up to [`RELATIONSHIPS_PER_TRANSACTION`] relationships of one partner
    /// in one transaction: each with its `relationship_changed` entry, in order; all or none.
    pub async fn save_relationships(
        &self,
        relationships: &[crate::relationships::Relationship],
        actor: &domain::Actor,
    ) -> Result<Vec<Appended>, StoreError> {
        if relationships.len() > RELATIONSHIPS_PER_TRANSACTION {
            return Err(StoreError::Internal(format!(
                "at most {RELATIONSHIPS_PER_TRANSACTION} relationships in one transaction"
            )));
        }
        let mut changes = Vec::with_capacity(relationships.len());
        for relationship in relationships {
            let mut data = serde_json::json!({
                "actor": actor,
                "customerId": relationship.customer_id,
                "since": relationship.since,
                "status": relationship.status,
            });
            let introduced = ledger::personal::seal(&mut data, &["/actor/subject"], ledger::personal::Salt::random)
                .map_err(StoreError::internal)?;
            let entry = LedgerEvent {
                kind: "relationship_changed".into(),
                at: relationship.updated_at,
                data,
                introduced,
            };
            let change = Change::Relationship {
                partner: &relationship.partner_id,
                item: crate::relationships::relationship_item(relationship),
                based_on: relationship.based_on,
            };
            changes.push((change, entry));
        }
        match self.commit_all(changes, None).await {
            Ok(appended) => Ok(appended),
            Err(Attempt::RequestVersion) => Err(StoreError::Conflict),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::NoRelationship | Attempt::IdempotencyTaken) => {
                Err(StoreError::Internal("unexpected condition on a relationship".into()))
            }
            Err(Attempt::StaleHead(_) | Attempt::Busy) => Err(StoreError::Contention),
        }
    }

    /// Record that `actor` was shown the personal values of `request` for an audit case
    /// (kind `personal_data_disclosed` in the partner's chain: the request, the case
    /// reference, how many values; the actor's subject sealed like any other). The request
    /// is not changed; it must exist.
    pub async fn record_disclosure(
        &self,
        request: &ServiceRequest,
        actor: &domain::Actor,
        case_reference: &domain::CaseReference,
        values: usize,
        at: Timestamp,
    ) -> Result<Appended, StoreError> {
        let mut data = serde_json::json!({
            "actor": actor,
            "caseReference": case_reference,
            "requestId": request.id(),
            "valuesDisclosed": values,
        });
        let introduced = ledger::personal::seal(&mut data, &["/actor/subject"], ledger::personal::Salt::random)
            .map_err(StoreError::internal)?;
        let entry = LedgerEvent {
            kind: "personal_data_disclosed".into(),
            at,
            data,
            introduced,
        };
        match self.commit(Change::Access { request }, entry, None).await {
            Err(Attempt::RequestVersion) => Err(StoreError::NotFound),
            other => self.finish(other),
        }
    }

    /// Store an erasure: the request (personal fields gone), its `personal_data_erased`
    /// entry, and the deletion of `delete` (the request's personal-data items). Up to 90
    /// deletes go into the transaction; any others follow it (an erasure interrupted there is
    /// finished by running it again).
    pub async fn save_erasure(
        &self,
        request: &ServiceRequest,
        expected_version: u64,
        event: &DomainEvent,
        delete: &[PersonalItem],
    ) -> Result<Appended, StoreError> {
        let (now, later) = delete.split_at(delete.len().min(DELETES_PER_TRANSACTION));
        let change = Change::Erase {
            request,
            expected_version,
            delete: now,
        };
        let entry = LedgerEvent::of(event, None)?;
        let appended = self.finish(self.commit(change, entry, None).await)?;
        self.delete_personal(later).await?;
        Ok(appended)
    }

    fn finish(&self, outcome: Result<Appended, Attempt>) -> Result<Appended, StoreError> {
        match outcome {
            Ok(appended) => Ok(appended),
            Err(Attempt::RequestVersion) => Err(StoreError::Conflict),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::NoRelationship) => Err(StoreError::NoRelationship),
            Err(Attempt::IdempotencyTaken) => Err(StoreError::Internal("idempotency conflict on an update".into())),
            Err(Attempt::StaleHead(_) | Attempt::Busy) => Err(StoreError::Contention),
        }
    }

    /// `appended` with the receipt kept with its entry (FORMAT.md §10.2), for an answer given
    /// again (an idempotent retry, a relationship that was so already). The entry is read back
    /// and must be the one recorded — this chain, seq, hash and time — and so must the kept
    /// receipt's text; otherwise it is an integrity alarm. An entry kept without a receipt is
    /// an alarm too, unless it is older than kept receipts (then the answer has none): a
    /// receipt is never signed from what the table says afterwards.
    pub async fn with_kept_receipt(
        &self,
        appended: Appended,
        expected: &ExpectedEntry<'_>,
    ) -> Result<Appended, StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.ledger)
            .key("chain", s(appended.chain.as_str()))
            .key("seq", n(appended.seq))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        let alarm = |why: &str| {
            StoreError::IntegrityAlarm(format!(
                "entry {} of chain {}, recorded as the answer's, {why}",
                appended.seq, appended.chain
            ))
        };
        let item: LedgerItem = match out.item {
            Some(item) => serde_dynamo::from_item(item).map_err(StoreError::internal)?,
            None => return Err(alarm("is not in the ledger")),
        };
        let entry = ledger::EntryRef::parse(item.line.as_bytes()).map_err(|_| alarm("is not an entry"))?;
        if entry.chain != appended.chain.as_str()
            || entry.seq != appended.seq
            || entry.hash != appended.entry_hash
            || entry.computed_hash() != entry.hash
            || entry.at != appended.at
        {
            return Err(alarm("is another entry"));
        }
        // And the entry the answer is about: its kind, and the request it is of (if any).
        let data: serde_json::Value = serde_json::from_slice(entry.data).map_err(|_| alarm("is not an entry"))?;
        let says = expected
            .data
            .iter()
            .all(|(pointer, value)| data.pointer(pointer) == Some(value));
        if entry.kind != expected.kind || (expected.rid.is_some() && item.rid.as_deref() != expected.rid) || !says {
            return Err(alarm("is not the entry of this answer"));
        }
        if item.receipt.is_none() && self.receipt_required(entry.at) {
            return Err(alarm("has no kept receipt"));
        }
        if let Some(note) = &item.receipt {
            let (_, said) =
                ledger::ReceiptDocument::from_note(note).map_err(|_| alarm("has a kept receipt that is none"))?;
            if !said.names(
                appended.chain.as_str(),
                appended.seq,
                &appended.entry_hash,
                &appended.at,
            ) {
                return Err(alarm("has a kept receipt for another entry"));
            }
        }
        Ok(Appended {
            receipt: item.receipt,
            ..appended
        })
    }

    /// Delete personal-data items in batches of 25.
    pub async fn delete_personal(&self, items: &[PersonalItem]) -> Result<(), StoreError> {
        for batch in items.chunks(25) {
            let mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest> = batch
                .iter()
                .map(|i| {
                    aws_sdk_dynamodb::types::DeleteRequest::builder()
                        .set_key(Some(i.key()))
                        .build()
                        .map(|d| {
                            aws_sdk_dynamodb::types::WriteRequest::builder()
                                .delete_request(d)
                                .build()
                        })
                        .map_err(StoreError::internal)
                })
                .collect::<Result<_, _>>()?;
            let started = Instant::now();
            let mut attempt = 0;
            while !requests.is_empty() {
                self.count_round_trip();
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.tables.personal_data, requests)
                    .send()
                    .await
                    .map_err(sdk)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.tables.personal_data))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    attempt += 1;
                    if started.elapsed() > RETRY_BUDGET {
                        return Err(StoreError::Unavailable("deletes left unprocessed".into()));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(())
    }

    async fn replay(&self, partner: &PartnerId, claim: IdempotencyClaim<'_>) -> Result<CreateOutcome, StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key("pk", s(idempotency_pk(partner, claim.key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        let item: IdempotencyItem = match out.item {
            Some(item) => serde_dynamo::from_item(item).map_err(StoreError::internal)?,
            None => return Err(StoreError::Contention),
        };
        if item.fingerprint != claim.fingerprint {
            return Err(StoreError::IdempotencyMismatch);
        }
        let id = domain::RequestId::parse(&item.request_id).map_err(StoreError::internal)?;
        let values = self.personal_items(partner, id, Some(REQUEST_SK)).await?;
        let mut response: serde_json::Value = serde_json::from_str(&item.response).map_err(StoreError::internal)?;
        personal_io::reveal_inline(&mut response, "", &personal_io::lookup(&values));
        let chain = ChainId::parse(&item.chain).map_err(StoreError::internal)?;
        if chain.as_str() != partner.as_str() {
            return Err(StoreError::IntegrityAlarm(format!(
                "the idempotency record of partner {partner} names an entry of chain {chain}"
            )));
        }
        let appended = Appended {
            chain,
            seq: item.entry_seq,
            entry_hash: Hash::from_hex(&item.entry_hash)
                .ok_or_else(|| StoreError::Internal("bad entry hash in an idempotency record".into()))?,
            at: item.entry_at,
            receipt: None,
        };
        // The receipt is the one kept with the entry, never one signed from this record.
        // The answer, the record and the entry must all be about the one request.
        if response.get("id").and_then(serde_json::Value::as_str) != Some(item.request_id.as_str()) {
            return Err(StoreError::IntegrityAlarm(format!(
                "the idempotency record of partner {partner} answers with another request than its own"
            )));
        }
        let rid = format!("{partner}#{}", item.request_id);
        let request_id = [("/requestId", serde_json::Value::String(item.request_id.clone()))];
        let expected = ExpectedEntry {
            kind: "created",
            rid: Some(&rid),
            data: &request_id,
        };
        let appended = self.with_kept_receipt(appended, &expected).await?;
        Ok(CreateOutcome::Replayed { response, appended })
    }

    /// The head this process last saw for `chain`, or the stored one.
    async fn head(&self, chain: &ChainId) -> Result<ChainHead, StoreError> {
        let cached = self.heads.lock().ok().and_then(|heads| heads.get(chain).cloned());
        match cached {
            Some(head) => Ok(head),
            None => self.read_head(chain).await,
        }
    }

    /// The stored head of `chain` (a strongly consistent read).
    pub(crate) async fn read_head(&self, chain: &ChainId) -> Result<ChainHead, StoreError> {
        Ok(self.read_head_item(chain).await?.0)
    }

    /// The stored head and whether it carries the needs-checkpoint marker.
    pub(crate) async fn read_head_item(&self, chain: &ChainId) -> Result<(ChainHead, bool), StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.chain_heads)
            .key("chain", s(chain.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        match out.item {
            Some(item) => {
                let marked = item.contains_key("ckpt_shard");
                Ok((items::head_from_item(item)?, marked))
            }
            None => Ok((ChainHead::genesis(chain.clone()), false)),
        }
    }

    fn remember(&self, head: ChainHead) {
        if let Ok(mut heads) = self.heads.lock() {
            let newer = heads.get(&head.chain).is_none_or(|h| h.size < head.size);
            if newer {
                heads.insert(head.chain.clone(), head);
            }
        }
    }

    fn forget(&self, chain: &ChainId) {
        if let Ok(mut heads) = self.heads.lock() {
            heads.remove(chain);
        }
    }

    /// The lock that serialises this process's appends to one chain (writers in one process
    /// queue instead of colliding; other processes are handled by the head's condition).
    fn appender(&self, chain: &ChainId) -> Arc<tokio::sync::Mutex<()>> {
        let mut appenders = self.appenders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(appenders.entry(chain.clone()).or_default())
    }

    /// Append `event` to the partner's chain together with `change`, retrying on a moved head.
    async fn commit(
        &self,
        change: Change<'_>,
        event: LedgerEvent,
        claim: Option<IdempotencyClaim<'_>>,
    ) -> Result<Appended, Attempt> {
        let mut appended = self.commit_all(vec![(change, event)], claim).await?;
        appended
            .pop()
            .ok_or_else(|| Attempt::Failed(StoreError::Internal("a commit appended nothing".into())))
    }

    /// Append each event to the partner's chain together with its change, in order, in one
    /// transaction (at most 100 items: the caller keeps batches small enough), retrying on a
    /// moved head. Every change must be of one partner; a claim goes with a single create.
    async fn commit_all(
        &self,
        changes: Vec<(Change<'_>, LedgerEvent)>,
        claim: Option<IdempotencyClaim<'_>>,
    ) -> Result<Vec<Appended>, Attempt> {
        let failed = |e: StoreError| Attempt::Failed(e);
        let partner = match changes.first() {
            Some((change, _)) => change.partner().clone(),
            None => return Ok(Vec::new()),
        };
        if changes.iter().any(|(change, _)| *change.partner() != partner) || (claim.is_some() && changes.len() > 1) {
            return Err(failed(StoreError::Internal(
                "one transaction appends to one chain".into(),
            )));
        }
        let chain = ChainId::parse(partner.as_str()).map_err(|e| failed(StoreError::internal(e)))?;
        // Everything but the entries themselves is computed once, before the first attempt.
        let mut prepared = Vec::with_capacity(changes.len());
        for (change, event) in changes {
            let request_values = match &change {
                Change::Create { sealed, .. } => Some(*sealed),
                _ => None,
            };
            let request_item = match (&change, change.request()) {
                (Change::Access { .. }, _) | (_, None) => None,
                (_, Some(request)) => Some(items::request_item(request).map_err(failed)?),
            };
            let claim_response = match (claim, request_values) {
                (Some(claim), Some(values)) => {
                    let mut sealed = claim.response.clone();
                    personal_io::seal_with(&mut sealed, "", values).map_err(failed)?;
                    Some(sealed.to_string())
                }
                _ => None,
            };
            prepared.push((change, event, request_item, claim_response));
        }
        let lock = self.appender(&chain);
        let _serialised = lock.lock().await;
        let mut head = self.head(&chain).await.map_err(failed)?;
        // Time cannot be pushed forward (FORMAT.md §2.2): nothing is stamped further ahead of
        // this writer's clock than the allowed skew — neither the event's own time, nor, by the
        // clamp that keeps a chain's times from going backwards, a head's.
        let latest = self.now() + chrono::Duration::seconds(ledger::entry::MAX_CLOCK_SKEW_SECONDS);
        if let Some((_, event, _, _)) = prepared.iter().find(|(_, event, _, _)| event.at.datetime() > latest) {
            return Err(failed(StoreError::Internal(format!(
                "refusing to stamp an entry {}, ahead of this writer's clock",
                event.at
            ))));
        }
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            if let Some(last) = head.last_at
                && last > latest
            {
                self.forget(&chain);
                return Err(failed(StoreError::IntegrityAlarm(format!(
                    "chain {chain}: its last entry is stamped {}, ahead of this writer's clock ({}) by more than {} s; refusing to stamp later entries after it",
                    ledger::entry::format_at(&last),
                    ledger::entry::format_at(&self.now()),
                    ledger::entry::MAX_CLOCK_SKEW_SECONDS
                ))));
            }
            // Each entry links to the one before it; the head moves once, from `head` to the last.
            let mut next = head.clone();
            let mut built = Vec::new();
            let mut entries = Vec::with_capacity(prepared.len());
            let mut receipts = Vec::with_capacity(prepared.len());
            for (change, event, request_item, claim_response) in &prepared {
                // A chain's times never go back (FORMAT.md §2.2): stamped later than the change
                // was computed at, the entry keeps that time as eventAt, so the change can be
                // re-computed (ledger explain) at the time it happened.
                let stamped_later = next.last_at.is_some_and(|last| last > event.at.datetime());
                let data = if stamped_later {
                    let mut data = event.data.clone();
                    if let Some(object) = data.as_object_mut() {
                        object.insert("eventAt".into(), serde_json::Value::String(event.at.to_string()));
                    }
                    std::borrow::Cow::Owned(data)
                } else {
                    std::borrow::Cow::Borrowed(&event.data)
                };
                let (entry, after) = next
                    .append(&event.at.datetime(), &event.kind, &data)
                    .map_err(|e| failed(StoreError::internal(e)))?;
                let receipt = self.receipt_of(&chain, &entry).map_err(failed)?;
                receipts.push(receipt.clone());
                let items = self
                    .transaction(
                        change,
                        request_item.as_ref(),
                        &event.introduced,
                        claim,
                        claim_response.as_deref(),
                        &next,
                        &entry,
                        &after,
                        receipt,
                    )
                    .map_err(failed)?;
                built.extend(items.into_iter().filter(|(role, _)| *role != Role::Head));
                entries.push(entry);
                next = after;
            }
            let Some(last) = entries.last() else {
                return Ok(Vec::new());
            };
            let last_at = ledger::EntryRef::parse(last.line.as_bytes())
                .map(|e| e.at.to_owned())
                .map_err(|e| failed(StoreError::internal(e)))?;
            built.push((Role::Head, self.head_update(&head, &next, last_at).map_err(failed)?));
            let outcome = self.transact(built, last, started).await;
            let fresh = match outcome {
                Ok(()) => {
                    let appended = entries
                        .iter()
                        .zip(receipts)
                        .map(|(entry, receipt)| Appended {
                            receipt,
                            ..appended_of(&chain, entry)
                        })
                        .collect();
                    self.remember(next);
                    return Ok(appended);
                }
                Err(Attempt::StaleHead(fresh)) => fresh,
                Err(Attempt::Busy) => None,
                Err(other) => {
                    // The head may have moved meanwhile; read it afresh next time.
                    self.forget(&chain);
                    return Err(other);
                }
            };
            attempt += 1;
            if started.elapsed() > RETRY_BUDGET {
                tracing::warn!(chain = %chain, attempts = attempt, "ledger append gave up under contention");
                self.forget(&chain);
                return Err(Attempt::Busy);
            }
            // A head handed back with the cancellation is retried at once; after that, and
            // after a conflict, wait a random while so colliding writers spread out.
            match fresh {
                Some(fresh) if fresh.size > head.size => {
                    if attempt > 2 {
                        backoff(attempt).await;
                    }
                    head = *fresh;
                }
                _ => {
                    backoff(attempt).await;
                    head = self.read_head(&chain).await.map_err(failed)?;
                }
            }
        }
    }

    /// The receipt to keep with `entry`, if this store signs them (every entry, disclosures
    /// included: an entry kept without one is one the writer did not make).
    fn receipt_of(&self, chain: &ChainId, entry: &Entry) -> Result<Option<String>, StoreError> {
        match &self.receipts {
            None => Ok(None),
            Some(stamp) => stamp.stamp(&appended_of(chain, entry)),
        }
    }

    /// The chain head's update from `head` to `next` (whose last entry is stamped `last_at`),
    /// on the condition that the stored head is still `head`.
    fn head_update(
        &self,
        head: &ChainHead,
        next: &ChainHead,
        last_at: String,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update_head = Update::builder()
            .table_name(&self.tables.chain_heads)
            .key("chain", s(head.chain.as_str()))
            .update_expression(
                "SET #size = :size, last_hash = :hash, frontier = :frontier, updated_at = :at, last_at = :at, ckpt_shard = :shard",
            )
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":size", n(next.size))
            .expression_attribute_values(":hash", s(next.last_hash.to_hex()))
            .expression_attribute_values(
                ":frontier",
                AttributeValue::L(next.frontier.nodes().iter().map(|h| s(h.to_hex())).collect()),
            )
            .expression_attribute_values(":at", s(last_at))
            // The sparse marker the signer finds grown chains by (cleared once signed).
            .expression_attribute_values(":shard", s(items::checkpoint_shard(&head.chain)))
            // On a failed condition, send back the current head: the retry needs no extra read.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update_head = if head.size == 0 {
            update_head.condition_expression("attribute_not_exists(chain)")
        } else {
            // Size and hash: the new entry extends exactly the head it links to, even if
            // someone rewrote the stored head (same size, other hash) since this process
            // last saw it.
            update_head
                .condition_expression("#size = :expected AND last_hash = :prev")
                .expression_attribute_values(":expected", n(head.size))
                .expression_attribute_values(":prev", s(head.last_hash.to_hex()))
        };
        Ok(TransactWriteItem::builder()
            .update(update_head.build().map_err(StoreError::internal)?)
            .build())
    }

    /// One attempt's transaction items, each with its role.
    #[allow(clippy::too_many_arguments)]
    fn transaction(
        &self,
        change: &Change<'_>,
        request_item: Option<&items::Item>,
        introduced: &[Sealed],
        claim: Option<IdempotencyClaim<'_>>,
        claim_response: Option<&str>,
        head: &ChainHead,
        entry: &Entry,
        next: &ChainHead,
        receipt: Option<String>,
    ) -> Result<Vec<(Role, TransactWriteItem)>, StoreError> {
        let partner = change.partner();
        let put_item = |put: aws_sdk_dynamodb::types::builders::PutBuilder| -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .put(put.build().map_err(StoreError::internal)?)
                .build())
        };
        let first = match (change, request_item) {
            (Change::Access { request }, _) => {
                let check = ConditionCheck::builder()
                    .table_name(&self.tables.requests)
                    .key("pk", s(items::request_pk(partner)))
                    .key("sk", s(items::request_sk(request.id())))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .map_err(StoreError::internal)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
            (Change::Relationship { item, based_on, .. }, _) => {
                // The item remembers the entry that set it (its receipt can be given again).
                let mut item = item.clone();
                let at = ledger::EntryRef::parse(entry.line.as_bytes())
                    .map(|e| e.at.to_owned())
                    .unwrap_or_default();
                item.insert("entry_seq".into(), items::n(entry.seq));
                item.insert("entry_hash".into(), items::s(entry.hash.to_hex()));
                item.insert("entry_at".into(), items::s(at));
                // A termination remembers its entry until the relationship is active again.
                if item.get("status").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("terminated") {
                    item.entry("ended_seq".into()).or_insert_with(|| items::n(entry.seq));
                }
                let put = Put::builder()
                    .table_name(&self.tables.relationships)
                    .set_item(Some(item));
                let put = match based_on {
                    None => put.condition_expression("attribute_not_exists(partner)"),
                    Some(at) => put
                        .condition_expression("updated_at = :based_on")
                        .expression_attribute_values(":based_on", s(at.to_string())),
                };
                put_item(put)?
            }
            (Change::Create { .. }, Some(item)) => put_item(
                Put::builder()
                    .table_name(&self.tables.requests)
                    .set_item(Some(item.clone()))
                    .condition_expression("attribute_not_exists(pk)"),
            )?,
            (Change::Update { expected_version, .. } | Change::Erase { expected_version, .. }, Some(item)) => put_item(
                Put::builder()
                    .table_name(&self.tables.requests)
                    .set_item(Some(item.clone()))
                    .condition_expression("attribute_exists(pk) AND #version = :expected")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":expected", n(*expected_version)),
            )?,
            _ => return Err(StoreError::Internal("a request change without its request".into())),
        };
        let entry_at = ledger::EntryRef::parse(entry.line.as_bytes())
            .map(|e| e.at.to_owned())
            .map_err(StoreError::internal)?;
        let ledger_item = LedgerItem {
            chain: entry.chain.to_string(),
            seq: entry.seq,
            line: entry.line.clone(),
            kind: ledger::EntryRef::parse(entry.line.as_bytes())
                .map(|e| e.kind.to_owned())
                .map_err(StoreError::internal)?,
            at: entry_at.clone(),
            rid: Some(change.personal_pk()),
            receipt,
        };
        let put_entry = Put::builder()
            .table_name(&self.tables.ledger)
            .set_item(Some(serde_dynamo::to_item(ledger_item).map_err(StoreError::internal)?))
            .condition_expression("attribute_not_exists(seq)");
        let update_head = self.head_update(head, next, entry_at)?;
        let mut transaction = vec![
            (Role::Request, first),
            (
                Role::Entry,
                TransactWriteItem::builder()
                    .put(put_entry.build().map_err(StoreError::internal)?)
                    .build(),
            ),
            (Role::Head, update_head),
        ];
        let personal_put = |item: PersonalItem| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.tables.personal_data)
                .set_item(Some(item.to_item()?))
                .build()
                .map_err(StoreError::internal)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        if let Change::Create { request, sealed, .. } = change {
            let email = request.contact().email.as_str().map(str::to_owned);
            let own = PersonalItem::new(partner, request.id(), REQUEST_SK.into(), sealed, email);
            transaction.push((Role::Personal, personal_put(own)?));
        }
        if let Change::Create {
            customer: Some(customer),
            ..
        }
        | Change::Update {
            customer: Some(customer),
            ..
        } = change
        {
            let check = ConditionCheck::builder()
                .table_name(&self.tables.relationships)
                .key("partner", s(partner.as_str()))
                .key("customer", s(customer.as_str()))
                .condition_expression("#status = :active")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s(crate::relationships::ACTIVE))
                .build()
                .map_err(StoreError::internal)?;
            transaction.push((
                Role::Relationship,
                TransactWriteItem::builder().condition_check(check).build(),
            ));
        }
        if !introduced.is_empty() {
            // The actor's subject is indexed when it is an e-mail address: erasure by e-mail
            // finds the entries that person wrote.
            let subject = introduced
                .iter()
                .find(|v| v.path == "/actor/subject" && v.value.contains('@'))
                .map(|v| v.value.clone());
            let mut values =
                PersonalItem::with_pk(change.personal_pk(), entry_sk(entry.seq), introduced, subject, partner);
            values.kind = ledger::EntryRef::parse(entry.line.as_bytes())
                .ok()
                .map(|e| e.kind.to_owned());
            transaction.push((Role::Personal, personal_put(values)?));
        }
        if let Change::Erase { delete, .. } = change {
            for item in delete.iter() {
                let delete = Delete::builder()
                    .table_name(&self.tables.personal_data)
                    .set_key(Some(item.key()))
                    .build()
                    .map_err(StoreError::internal)?;
                transaction.push((Role::Delete, TransactWriteItem::builder().delete(delete).build()));
            }
        }
        if let (Some(claim), Some(response)) = (claim, claim_response) {
            let expires_at = claim.now.datetime().timestamp() + crate::IDEMPOTENCY_TTL_HOURS * 3600;
            let request_id = change.request().map(|r| r.id().to_string()).unwrap_or_default();
            let record = IdempotencyItem {
                pk: idempotency_pk(partner, claim.key),
                fingerprint: claim.fingerprint.to_owned(),
                request_id,
                response: response.to_owned(),
                expires_at,
                chain: entry.chain.to_string(),
                entry_seq: entry.seq,
                entry_hash: entry.hash.to_hex(),
                entry_at: ledger::EntryRef::parse(entry.line.as_bytes())
                    .map(|e| e.at.to_owned())
                    .map_err(StoreError::internal)?,
            };
            let put = Put::builder()
                .table_name(&self.tables.idempotency)
                .set_item(Some(serde_dynamo::to_item(record).map_err(StoreError::internal)?))
                // An expired record that TTL has not removed yet no longer counts.
                .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                .expression_attribute_values(":now", n(u64::try_from(claim.now.datetime().timestamp()).unwrap_or(0)))
                .build()
                .map_err(StoreError::internal)?;
            transaction.push((Role::Idempotency, TransactWriteItem::builder().put(put).build()));
        }
        Ok(transaction)
    }

    /// Send one transaction. Its `ClientRequestToken` is derived from the entry, so a retry
    /// of a transaction whose first try committed (a lost response, a timed-out attempt the
    /// SDK resends) succeeds instead of failing its own conditions; after such an error it
    /// is resent with the same token, within the budget.
    async fn transact(
        &self,
        transaction: Vec<(Role, TransactWriteItem)>,
        entry: &Entry,
        started: Instant,
    ) -> Result<(), Attempt> {
        let roles: Vec<Role> = transaction.iter().map(|(r, _)| *r).collect();
        let items: Vec<TransactWriteItem> = transaction.into_iter().map(|(_, i)| i).collect();
        let token: String = entry.hash.to_hex().chars().take(36).collect();
        let mut resent = 0u32;
        loop {
            self.count_round_trip();
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            match error {
                SdkError::ServiceError(service) => {
                    return match service.err() {
                        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                            Err(cancellation(cancelled, &roles))
                        }
                        TransactWriteItemsError::TransactionInProgressException(_) => {
                            // The same token is still being applied: ask again shortly.
                            resent += 1;
                            if resent > 5 || started.elapsed() > RETRY_BUDGET {
                                return Err(Attempt::Failed(StoreError::Unavailable(
                                    "transaction in progress".into(),
                                )));
                            }
                            backoff(resent).await;
                            continue;
                        }
                        _ => Err(Attempt::Failed(sdk(SdkError::ServiceError(service)))),
                    };
                }
                other => {
                    let mapped = sdk(other);
                    // Unknown whether it committed: resending with the same token is safe.
                    if matches!(mapped, StoreError::Unavailable(_)) && resent < 2 && started.elapsed() < RETRY_BUDGET {
                        resent += 1;
                        tracing::warn!(error = %mapped.detail().unwrap_or("-"), "resending a transaction with its token");
                        backoff(resent).await;
                        continue;
                    }
                    return Err(Attempt::Failed(mapped));
                }
            }
        }
    }
}

/// What a cancelled transaction says, by the role of the item whose condition failed.
fn cancellation(cancelled: &aws_sdk_dynamodb::types::error::TransactionCanceledException, roles: &[Role]) -> Attempt {
    let reasons = cancelled.cancellation_reasons();
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    let failed = |role: Role| {
        roles
            .iter()
            .zip(&codes)
            .any(|(r, c)| *r == role && *c == "ConditionalCheckFailed")
    };
    if failed(Role::Relationship) {
        return Attempt::NoRelationship;
    }
    if failed(Role::Request) {
        tracing::debug!(?codes, "request condition failed");
        return Attempt::RequestVersion;
    }
    if failed(Role::Idempotency) {
        return Attempt::IdempotencyTaken;
    }
    if failed(Role::Entry) || failed(Role::Head) || failed(Role::Personal) {
        let current = roles
            .iter()
            .position(|r| *r == Role::Head)
            .and_then(|i| reasons.get(i))
            .and_then(|r| r.item())
            .filter(|item| !item.is_empty())
            .and_then(|item| items::head_from_item(item.clone()).ok());
        return Attempt::StaleHead(current.map(Box::new));
    }
    if codes.iter().any(|c| {
        matches!(
            *c,
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded"
        )
    }) {
        return Attempt::Failed(StoreError::Unavailable(format!("throttled: {codes:?}")));
    }
    if codes.contains(&"TransactionConflict") {
        return Attempt::Busy;
    }
    Attempt::Failed(StoreError::Internal(format!("transaction cancelled: {codes:?}")))
}

/// Full jitter: a random wait below 2 ms × 2^attempt, at most 100 ms.
async fn backoff(attempt: u32) {
    let ceiling = (2u64 << attempt.min(6)).min(100);
    let millis = rand::rng().random_range(0..=ceiling);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
