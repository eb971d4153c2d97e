//! State changes: one transaction each, with optimistic concurrency on the chain head.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use domain::{DomainEvent, IdempotencyKey, ServiceRequest, Timestamp};
use ledger::{ChainHead, ChainId, Entry};
use rand::RngExt;

use crate::Store;
use crate::error::{StoreError, sdk};
use crate::items::{self, LedgerItem, n, s};

/// How many times an append is rebuilt on a newer chain head before giving up, and for how
/// long: well inside API Gateway's 29-second integration timeout.
const MAX_ATTEMPTS: u32 = 1_000;
const RETRY_BUDGET: Duration = Duration::from_secs(8);

/// A create's `Idempotency-Key`: the key, a fingerprint of the request it came with, and the
/// response to replay to a retry.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyClaim<'a> {
    pub key: &'a IdempotencyKey,
    pub fingerprint: &'a str,
    pub response: &'a str,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The key was used before with the same request: the original response.
    Replayed {
        response: String,
    },
}

enum RequestWrite<'a> {
    Create(&'a ServiceRequest),
    Update {
        request: &'a ServiceRequest,
        expected_version: u64,
    },
}

impl RequestWrite<'_> {
    fn request(&self) -> &ServiceRequest {
        match self {
            RequestWrite::Create(r) | RequestWrite::Update { request: r, .. } => r,
        }
    }
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
    Failed(StoreError),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IdempotencyItem {
    pk: String,
    fingerprint: String,
    request_id: String,
    response: String,
    expires_at: i64,
}

fn idempotency_pk(partner: &domain::PartnerId, key: &IdempotencyKey) -> String {
    format!("{partner}#{key}")
}

impl Store {
    /// Store a new request and its `created` event. With an idempotency claim, a retry with
    /// the same key and body gets the original response; another body gets
    /// [`StoreError::IdempotencyMismatch`]. Nothing is written in either case.
    pub async fn create_request(
        &self,
        request: &ServiceRequest,
        event: &DomainEvent,
        claim: Option<IdempotencyClaim<'_>>,
    ) -> Result<CreateOutcome, StoreError> {
        match self.commit(RequestWrite::Create(request), event, claim).await {
            Ok(()) => Ok(CreateOutcome::Created),
            Err(Attempt::IdempotencyTaken) => match claim {
                Some(claim) => self.replay(request.partner_id(), claim).await,
                None => Err(StoreError::Internal("idempotency conflict without a key".into())),
            },
            Err(Attempt::RequestVersion) => Err(StoreError::Conflict),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::StaleHead(_) | Attempt::Busy) => Err(StoreError::Contention),
        }
    }

    /// Store a changed request (which was at `expected_version` when read) and its event.
    pub async fn save_change(
        &self,
        request: &ServiceRequest,
        expected_version: u64,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        match self
            .commit(
                RequestWrite::Update {
                    request,
                    expected_version,
                },
                event,
                None,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(Attempt::RequestVersion) => Err(StoreError::Conflict),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::IdempotencyTaken) => Err(StoreError::Internal("idempotency conflict on an update".into())),
            Err(Attempt::StaleHead(_) | Attempt::Busy) => Err(StoreError::Contention),
        }
    }

    async fn replay(
        &self,
        partner: &domain::PartnerId,
        claim: IdempotencyClaim<'_>,
    ) -> Result<CreateOutcome, StoreError> {
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
        if item.fingerprint == claim.fingerprint {
            Ok(CreateOutcome::Replayed {
                response: item.response,
            })
        } else {
            Err(StoreError::IdempotencyMismatch)
        }
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
            Some(item) => items::head_from_item(item),
            None => Ok(ChainHead::genesis(chain.clone())),
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

    /// Append `event` to the partner's chain together with `write`, retrying on a moved head.
    async fn commit(
        &self,
        write: RequestWrite<'_>,
        event: &DomainEvent,
        claim: Option<IdempotencyClaim<'_>>,
    ) -> Result<(), Attempt> {
        let request = write.request();
        let chain =
            ChainId::parse(request.partner_id().as_str()).map_err(|e| Attempt::Failed(StoreError::internal(e)))?;
        let data = serde_json::to_value(event).map_err(|e| Attempt::Failed(StoreError::internal(e)))?;
        let mut head = self.head(&chain).await.map_err(Attempt::Failed)?;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            let (entry, next) = head
                .append(&event.at.datetime(), event.kind(), &data)
                .map_err(|e| Attempt::Failed(StoreError::internal(e)))?;
            let outcome = self.transact(&write, event, claim, &head, &entry, &next).await;
            let fresh = match outcome {
                Ok(()) => {
                    self.remember(next);
                    return Ok(());
                }
                Err(Attempt::StaleHead(fresh)) => fresh,
                Err(Attempt::Busy) => None,
                Err(other) => return Err(other),
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS || started.elapsed() > RETRY_BUDGET {
                tracing::warn!(chain = %chain, attempts = attempt, "ledger append gave up under contention");
                return Err(Attempt::Busy);
            }
            backoff(attempt).await;
            head = match fresh {
                Some(fresh) if fresh.size > head.size => *fresh,
                _ => self.read_head(&chain).await.map_err(Attempt::Failed)?,
            };
        }
    }

    async fn transact(
        &self,
        write: &RequestWrite<'_>,
        event: &DomainEvent,
        claim: Option<IdempotencyClaim<'_>>,
        head: &ChainHead,
        entry: &Entry,
        next: &ChainHead,
    ) -> Result<(), Attempt> {
        let fail = |e: StoreError| Attempt::Failed(e);
        let request = write.request();
        let mut put_request = Put::builder()
            .table_name(&self.tables.requests)
            .set_item(Some(items::request_item(request).map_err(fail)?));
        put_request = match write {
            RequestWrite::Create(_) => put_request.condition_expression("attribute_not_exists(pk)"),
            RequestWrite::Update { expected_version, .. } => put_request
                .condition_expression("attribute_exists(pk) AND #version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(*expected_version)),
        };
        let ledger_item = LedgerItem {
            chain: entry.chain.to_string(),
            seq: entry.seq,
            line: entry.line.clone(),
            kind: event.kind().to_owned(),
            at: event.at.to_string(),
            rid: Some(items::ledger_rid(request.partner_id(), request.id())),
        };
        let put_entry = Put::builder()
            .table_name(&self.tables.ledger)
            .set_item(Some(
                serde_dynamo::to_item(ledger_item).map_err(|e| fail(StoreError::internal(e)))?,
            ))
            .condition_expression("attribute_not_exists(seq)");
        let mut update_head = Update::builder()
            .table_name(&self.tables.chain_heads)
            .key("chain", s(head.chain.as_str()))
            .update_expression("SET #size = :size, last_hash = :hash, frontier = :frontier, updated_at = :at")
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":size", n(next.size))
            .expression_attribute_values(":hash", s(next.last_hash.to_hex()))
            .expression_attribute_values(
                ":frontier",
                aws_sdk_dynamodb::types::AttributeValue::L(
                    next.frontier.nodes().iter().map(|h| s(h.to_hex())).collect(),
                ),
            )
            .expression_attribute_values(":at", s(event.at.to_string()));
        // On a failed condition, send back the current head: the retry needs no extra read.
        update_head = update_head.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update_head = if head.size == 0 {
            update_head.condition_expression("attribute_not_exists(chain)")
        } else {
            update_head
                .condition_expression("#size = :expected")
                .expression_attribute_values(":expected", n(head.size))
        };
        let build = |e: aws_sdk_dynamodb::error::BuildError| fail(StoreError::internal(e));
        let mut transaction = vec![
            TransactWriteItem::builder()
                .put(put_request.build().map_err(build)?)
                .build(),
            TransactWriteItem::builder()
                .put(put_entry.build().map_err(build)?)
                .build(),
            TransactWriteItem::builder()
                .update(update_head.build().map_err(build)?)
                .build(),
        ];
        if let Some(claim) = claim {
            let expires_at = claim.now.datetime().timestamp() + crate::IDEMPOTENCY_TTL_HOURS * 3600;
            let record = IdempotencyItem {
                pk: idempotency_pk(request.partner_id(), claim.key),
                fingerprint: claim.fingerprint.to_owned(),
                request_id: request.id().to_string(),
                response: claim.response.to_owned(),
                expires_at,
            };
            let put = Put::builder()
                .table_name(&self.tables.idempotency)
                .set_item(Some(
                    serde_dynamo::to_item(record).map_err(|e| fail(StoreError::internal(e)))?,
                ))
                // An expired record that TTL has not removed yet no longer counts.
                .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                .expression_attribute_values(":now", n(u64::try_from(claim.now.datetime().timestamp()).unwrap_or(0)))
                .build()
                .map_err(build)?;
            transaction.push(TransactWriteItem::builder().put(put).build());
        }
        self.count_round_trip();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(transaction))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service))
                if matches!(service.err(), TransactWriteItemsError::TransactionCanceledException(_)) =>
            {
                let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() else {
                    return Err(Attempt::Busy);
                };
                let reasons: Vec<&str> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None"))
                    .collect();
                let failed = |i: usize| reasons.get(i).is_some_and(|c| *c == "ConditionalCheckFailed");
                if failed(0) {
                    tracing::debug!(?reasons, "request condition failed");
                    Err(Attempt::RequestVersion)
                } else if failed(3) {
                    Err(Attempt::IdempotencyTaken)
                } else if failed(1) || failed(2) {
                    let current = cancelled
                        .cancellation_reasons()
                        .get(2)
                        .and_then(|r| r.item())
                        .filter(|item| !item.is_empty())
                        .and_then(|item| items::head_from_item(item.clone()).ok());
                    Err(Attempt::StaleHead(current.map(Box::new)))
                } else if reasons.iter().any(|c| {
                    matches!(
                        *c,
                        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                }) {
                    Err(Attempt::Busy)
                } else {
                    Err(Attempt::Failed(StoreError::Internal(format!(
                        "transaction cancelled: {reasons:?}"
                    ))))
                }
            }
            Err(e) => Err(Attempt::Failed(sdk(e))),
        }
    }
}

/// Full jitter: a random wait below 1 ms × 2^attempt, at most 50 ms.
async fn backoff(attempt: u32) {
    let ceiling = (1u64 << attempt.min(6)).min(50);
    let millis = rand::rng().random_range(0..=ceiling);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
