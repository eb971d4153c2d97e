//! Reads: by id, listing with filters and authenticated cursors, history, the sweep index —
//! each joined with its personal values in one batched read.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use domain::{
    CustomerId, PartnerId, Product, RequestId, ServiceRequest, Severity, SlaState, Status, Subject, Timestamp,
};
use ledger::Hash;
use sha2::{Digest, Sha256};

use crate::Store;
use crate::cursor;
use crate::error::{StoreError, sdk};
use crate::items::{self, Item, s};
use crate::personal_io::{self, PersonalItem, REQUEST_SK, personal_pk};
use crate::relationships::{RelationshipStatus, relationship_from_item, relationship_key};
use crate::schema::{BY_CUSTOMER, BY_ID, BY_REQUEST, QUEUE, SWEEP_DUE};

/// A page size: 1-50, 25 by default. A resource is at most about 66 KB (a 64 KiB body, and
/// what the service adds), so a page of 50 stays near 3.3 MB, under Lambda's 6 MB response
/// limit whatever the partners wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u8);

impl PageSize {
    pub const MAX: u8 = 50;

    pub fn new(size: u64) -> Option<Self> {
        u8::try_from(size)
            .ok()
            .filter(|s| (1..=Self::MAX).contains(s))
            .map(Self)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self(25)
    }
}

/// What to list. The partner is not part of it: it comes from the caller's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub customer: Option<CustomerId>,
    pub status: Option<Status>,
    pub severity: Option<Severity>,
    pub product: Option<Product>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    pub assignee: Option<Assignee>,
    pub limit: PageSize,
}

/// Whose requests: nobody's, or one engineer's (by token subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    Engineer(Subject),
}

impl Assignee {
    fn fingerprint(this: Option<&Self>) -> String {
        match this {
            None => "-".into(),
            Some(Assignee::Nobody) => "none".into(),
            Some(Assignee::Engineer(s)) => format!("={s}"),
        }
    }
}

impl ListQuery {
    /// Identifies the query a cursor continues (the page size may change between pages).
    fn fingerprint(&self) -> String {
        let text = format!(
            "list|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
            self.customer.as_ref().map(CustomerId::as_str),
            self.status.map(Status::as_str),
            self.severity.map(Severity::as_str),
            self.product.map(Product::as_str),
            self.created_from.map(|t| t.to_string()),
            self.created_to.map(|t| t.to_string()),
            Assignee::fingerprint(self.assignee.as_ref()),
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..12])
    }
}

/// The vendor's queue: requests across every partner on which support owes a reply, the
/// next due first (then severity A before C).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueQuery {
    pub product: Option<Product>,
    /// The calendar the request is served on (`de`, `fr-CA`, `en`).
    pub calendar: Option<String>,
    pub severity: Option<Severity>,
    /// `pending` (still in time) or `breached` (late).
    pub state: Option<SlaState>,
    pub assignee: Option<Assignee>,
    pub limit: PageSize,
}

/// The pseudo-owner of queue cursors: no partner id can look like it, so a queue cursor
/// never continues a partner's list, nor the other way round.
const QUEUE_CURSOR_OWNER: &str = "*vendor-queue*";

impl QueueQuery {
    fn fingerprint(&self) -> String {
        let text = format!(
            "queue|{:?}|{:?}|{:?}|{:?}|{}",
            self.product.map(Product::as_str),
            self.calendar,
            self.severity.map(Severity::as_str),
            self.state.map(SlaState::as_str),
            Assignee::fingerprint(self.assignee.as_ref()),
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..12])
    }
}

/// Equality filters (attribute, value) and the assignee filter, as one FilterExpression.
fn filter_expression(
    mut request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    equal: &[(&str, &str, String)],
    assignee: Option<&Assignee>,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    let mut clauses = Vec::new();
    for (i, (path, name, value)) in equal.iter().enumerate() {
        // `path` may be nested (`sla.calendar`): one name placeholder per segment.
        let segments: Vec<String> = path
            .split('.')
            .enumerate()
            .map(|(j, segment)| {
                let placeholder = format!("#f{i}_{j}");
                request = request.clone().expression_attribute_names(&placeholder, segment);
                placeholder
            })
            .collect();
        clauses.push(format!("{} = :{name}", segments.join(".")));
        request = request.expression_attribute_values(format!(":{name}"), s(value.clone()));
    }
    match assignee {
        Some(Assignee::Nobody) => {
            request = request
                .expression_attribute_names("#assignee", "assignee")
                .expression_attribute_values(":null", s("NULL"));
            clauses.push("(attribute_not_exists(#assignee) OR attribute_type(#assignee, :null))".into());
        }
        Some(Assignee::Engineer(subject)) => {
            request = request
                .expression_attribute_names("#assignee", "assignee")
                .expression_attribute_values(":assignee", s(subject.as_str()));
            clauses.push("#assignee = :assignee".into());
        }
        None => {}
    }
    if clauses.is_empty() {
        request
    } else {
        request.filter_expression(clauses.join(" AND "))
    }
}

/// One page, newest first. A page can hold fewer items than the limit (filters apply after
/// the key range is read) and still have a next cursor: follow `next_cursor` until it is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<ServiceRequest>,
    pub next_cursor: Option<String>,
}

/// A request's ledger lines, oldest first, and what their commitments stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub lines: Vec<String>,
    /// Commitment → personal value, for the values not erased.
    pub values: HashMap<Hash, String>,
}

fn key_of(pk: String, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn personal_keys(keys: &[(PartnerId, RequestId)]) -> Vec<HashMap<String, AttributeValue>> {
    keys.iter()
        .map(|(p, id)| key_of(personal_pk(p, *id), REQUEST_SK.to_owned()))
        .collect()
}

/// A `BatchGetItem`'s request items: each table's keys (tables without keys left out).
pub(crate) fn batch_keys<'a>(
    keys: impl IntoIterator<Item = (&'a String, Vec<HashMap<String, AttributeValue>>)>,
    consistent: bool,
) -> Result<HashMap<String, KeysAndAttributes>, StoreError> {
    let mut pending = HashMap::new();
    for (table, keys) in keys {
        if !keys.is_empty() {
            pending.insert(
                table.clone(),
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(consistent)
                    .build()
                    .map_err(StoreError::internal)?,
            );
        }
    }
    Ok(pending)
}

/// Request items with their personal values put back (`null` where erased).
fn join(items: Vec<Item>, personal: &HashMap<String, PersonalItem>) -> Result<Vec<ServiceRequest>, StoreError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let (partner, id) = items::request_key(&item)?;
        let mut value = items::request_json(item)?;
        if let Some(p) = personal.get(&personal_pk(&partner, id)) {
            personal_io::join_request(&mut value, &p.values);
        }
        let request: ServiceRequest =
            serde_json::from_value(value).map_err(|e| StoreError::Internal(format!("unreadable request item: {e}")))?;
        // Defence in depth: the key already scopes by partner.
        if *request.partner_id() == partner {
            out.push(request);
        }
    }
    Ok(out)
}

impl Store {
    /// A partner's request with its personal values (strongly consistent; one batched read).
    pub async fn get_request(&self, partner: &PartnerId, id: RequestId) -> Result<Option<ServiceRequest>, StoreError> {
        let joined = self.get_requests(&[(partner.clone(), id)], true).await?;
        Ok(joined.into_iter().next())
    }

    /// Any partner's request by id (for support engineers and the privacy team).
    pub async fn find_request(&self, id: RequestId) -> Result<Option<ServiceRequest>, StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .query()
            .table_name(&self.tables.requests)
            .index_name(BY_ID)
            .key_condition_expression("rid = :rid")
            .expression_attribute_values(":rid", s(id.to_string()))
            .limit(1)
            .send()
            .await
            .map_err(sdk)?;
        match out.items.unwrap_or_default().first() {
            Some(key) => {
                let (partner, id) = items::request_key(key)?;
                self.get_request(&partner, id).await
            }
            None => Ok(None),
        }
    }

    /// Requests by key, each joined with its personal values: one `BatchGetItem` for up to
    /// 50 requests (the request items and their personal-data items together), in the order
    /// asked; missing requests are left out.
    pub(crate) async fn get_requests(
        &self,
        keys: &[(PartnerId, RequestId)],
        consistent: bool,
    ) -> Result<Vec<ServiceRequest>, StoreError> {
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        let mut personal = HashMap::new();
        for batch in keys.chunks(50) {
            let request_keys = batch
                .iter()
                .map(|(p, id)| key_of(items::request_pk(p), items::request_sk(*id)))
                .collect();
            let (requests, values) = self.batch_get(request_keys, personal_keys(batch), consistent).await?;
            for item in requests {
                let pk = items::text(&item, "pk")?.to_owned();
                let sk = items::text(&item, "sk")?.to_owned();
                found.insert((pk, sk), item);
            }
            personal.extend(values);
        }
        let mut items = Vec::with_capacity(keys.len());
        for (partner, id) in keys {
            if let Some(item) = found.remove(&(items::request_pk(partner), items::request_sk(*id))) {
                items.push(item);
            }
        }
        join(items, &personal)
    }

    /// Join request items (as a query returned them) with their personal values: one
    /// `BatchGetItem` per 100 requests.
    pub(crate) async fn join_personal(
        &self,
        items: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<ServiceRequest>, StoreError> {
        let keys = items.iter().map(items::request_key).collect::<Result<Vec<_>, _>>()?;
        let mut personal = HashMap::new();
        for batch in keys.chunks(100) {
            let (_, values) = self.batch_get(Vec::new(), personal_keys(batch), consistent).await?;
            personal.extend(values);
        }
        join(items, &personal)
    }

    /// [`Self::join_personal`] (strongly consistent) of `partner`'s request items, leaving
    /// out those of customers whose relationship with it has ended: each `BatchGetItem` (50
    /// requests) reads their personal values and their customers' relationships at once.
    async fn join_personal_of_current(
        &self,
        partner: &PartnerId,
        items: Vec<Item>,
    ) -> Result<Vec<ServiceRequest>, StoreError> {
        let customer_prefix = items::customer_pk_prefix(partner);
        let customer_of = |item: &Item| {
            item.get("gsi1pk")
                .and_then(|v| v.as_s().ok())
                .and_then(|pk| pk.strip_prefix(&customer_prefix))
                .map(str::to_owned)
        };
        let mut shown = Vec::with_capacity(items.len());
        let mut personal = HashMap::new();
        for batch in items.chunks(50) {
            let keys = batch.iter().map(items::request_key).collect::<Result<Vec<_>, _>>()?;
            let customers: HashSet<String> = batch.iter().filter_map(customer_of).collect();
            let pending = batch_keys(
                [
                    (&self.tables.personal_data, personal_keys(&keys)),
                    (
                        &self.tables.relationships,
                        customers.iter().map(|c| relationship_key(partner, c)).collect(),
                    ),
                ],
                true,
            )?;
            let mut ended = HashSet::new();
            for (table, found) in self.batch_get_all(pending, "list read").await? {
                for item in found {
                    if table == self.tables.relationships {
                        let relationship = relationship_from_item(&item)?;
                        if relationship.status != RelationshipStatus::Active {
                            ended.insert(relationship.customer_id.as_str().to_owned());
                        }
                    } else {
                        let p = PersonalItem::from_item(item)?;
                        personal.insert(p.pk.clone(), p);
                    }
                }
            }
            shown.extend(
                batch
                    .iter()
                    .filter(|item| customer_of(item).is_none_or(|c| !ended.contains(&c)))
                    .cloned(),
            );
        }
        join(shown, &personal)
    }

    /// `BatchGetItem` until every key is read: unprocessed keys are asked again with backoff
    /// (at most 8 times, then `Unavailable` saying `what` left keys unprocessed). The items,
    /// by table.
    pub(crate) async fn batch_get_all(
        &self,
        mut pending: HashMap<String, KeysAndAttributes>,
        what: &str,
    ) -> Result<HashMap<String, Vec<Item>>, StoreError> {
        let mut found: HashMap<String, Vec<Item>> = HashMap::new();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            self.count_round_trip();
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(sdk)?;
            for (table, items) in out.responses.unwrap_or_default() {
                found.entry(table).or_default().extend(items);
            }
            pending = out.unprocessed_keys.unwrap_or_default();
            if !pending.is_empty() {
                retry_unprocessed(&mut attempt, || format!("{what} left keys unprocessed")).await?;
            }
        }
        Ok(found)
    }

    /// One `BatchGetItem` (retrying unprocessed keys) of request items and personal-data items.
    async fn batch_get(
        &self,
        request_keys: Vec<HashMap<String, AttributeValue>>,
        personal_keys: Vec<HashMap<String, AttributeValue>>,
        consistent: bool,
    ) -> Result<(Vec<Item>, HashMap<String, PersonalItem>), StoreError> {
        let pending = batch_keys(
            [
                (&self.tables.requests, request_keys),
                (&self.tables.personal_data, personal_keys),
            ],
            consistent,
        )?;
        let mut requests = Vec::new();
        let mut personal = HashMap::new();
        for (table, items) in self.batch_get_all(pending, "batch read").await? {
            for item in items {
                if table == self.tables.requests {
                    requests.push(item);
                } else {
                    let p = PersonalItem::from_item(item)?;
                    personal.insert(p.pk.clone(), p);
                }
            }
        }
        Ok((requests, personal))
    }

    /// One page of `partner`'s requests matching `query`, newest first: one query and one
    /// batched read of their personal values per page.
    pub async fn list(&self, partner: &PartnerId, query: &ListQuery, cursor: Option<&str>) -> Result<Page, StoreError> {
        let key = self
            .cursor_key
            .as_ref()
            .ok_or_else(|| StoreError::Internal("listing needs a cursor key".into()))?;
        let fingerprint = query.fingerprint();
        let start = cursor
            .map(|c| cursor::open(key, c, partner.as_str(), &fingerprint))
            .transpose()?;
        let low = format!(
            "R#{}",
            query
                .created_from
                .map_or_else(|| "0".to_owned(), |t| RequestId::lowest_at(t.datetime()).to_string())
        );
        let high = format!(
            "R#{}",
            query
                .created_to
                .map_or_else(|| "~".to_owned(), |t| RequestId::highest_at(t.datetime()).to_string())
        );
        let mut request = self.client.query().table_name(&self.tables.requests);
        request = match &query.customer {
            Some(customer) => request
                .index_name(BY_CUSTOMER)
                .key_condition_expression("gsi1pk = :pk AND gsi1sk BETWEEN :low AND :high")
                .expression_attribute_values(":pk", s(items::customer_pk(partner, customer))),
            None => request
                .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                .expression_attribute_values(":pk", s(items::request_pk(partner)))
                .consistent_read(true),
        };
        request = request
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high))
            .scan_index_forward(false)
            .limit(i32::from(query.limit.get()))
            .set_exclusive_start_key(start);
        let mut equal = Vec::new();
        for (attribute, value) in [
            ("status", query.status.map(Status::as_str)),
            ("severity", query.severity.map(Severity::as_str)),
            ("product", query.product.map(Product::as_str)),
        ] {
            if let Some(value) = value {
                equal.push((attribute, attribute, value.to_owned()));
            }
        }
        request = filter_expression(request, &equal, query.assignee.as_ref());
        self.count_round_trip();
        let out = request.send().await.map_err(sdk)?;
        let found = out.items.unwrap_or_default();
        // One customer's list is checked by the caller before it asks (a 404 for an ended
        // relationship). Across customers, the requests of customers whose relationship with
        // the partner has ended are left out: their relationships are read with the personal
        // values (the same batched read, so no added round trip, and bounded by the page, not
        // by how many customers the partner ever had). A page may then hold fewer items than
        // asked for; its cursor still goes on.
        let items = match query.customer {
            Some(_) => self.join_personal(found, false).await?,
            None => self.join_personal_of_current(partner, found).await?,
        };
        let next_cursor = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(cursor::seal(key, partner.as_str(), &fingerprint, &last)?),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// One page of the vendor's queue (see [`QueueQuery`]): a query of the sparse queue index,
    /// ascending, filters applied to the page, then one batched read of the personal values.
    pub async fn queue(&self, query: &QueueQuery, cursor: Option<&str>) -> Result<Page, StoreError> {
        let key = self
            .cursor_key
            .as_ref()
            .ok_or_else(|| StoreError::Internal("the queue needs a cursor key".into()))?;
        let fingerprint = query.fingerprint();
        let start = cursor
            .map(|c| cursor::open(key, c, QUEUE_CURSOR_OWNER, &fingerprint))
            .transpose()?;
        let mut request = self
            .client
            .query()
            .table_name(&self.tables.requests)
            .index_name(QUEUE)
            .key_condition_expression("queue_pk = :open")
            .expression_attribute_values(":open", s(items::QUEUE_PARTITION))
            .scan_index_forward(true)
            .limit(i32::from(query.limit.get()))
            .set_exclusive_start_key(start);
        let mut equal = Vec::new();
        if let Some(p) = query.product {
            equal.push(("product", "product", p.as_str().to_owned()));
        }
        if let Some(c) = &query.calendar {
            equal.push(("sla.calendar", "calendar", c.clone()));
        }
        if let Some(sev) = query.severity {
            equal.push(("severity", "severity", sev.as_str().to_owned()));
        }
        if let Some(state) = query.state {
            equal.push(("queue_state", "state", state.as_str().to_owned()));
        }
        request = filter_expression(request, &equal, query.assignee.as_ref());
        self.count_round_trip();
        let out = request.send().await.map_err(sdk)?;
        let items = self.join_personal(out.items.unwrap_or_default(), false).await?;
        let next_cursor = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(cursor::seal(key, QUEUE_CURSOR_OWNER, &fingerprint, &last)?),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// The personal-data items of one request (`only` one sort key, or all of them).
    pub async fn personal_items(
        &self,
        partner: &PartnerId,
        id: RequestId,
        only: Option<&str>,
    ) -> Result<Vec<PersonalItem>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.personal_data)
            .expression_attribute_values(":pk", s(personal_pk(partner, id)))
            .consistent_read(true);
        query = match only {
            Some(sk) => query
                .key_condition_expression("pk = :pk AND sk = :sk")
                .expression_attribute_values(":sk", s(sk)),
            None => query.key_condition_expression("pk = :pk"),
        };
        let mut found = Vec::new();
        self.query_all(query, |item| {
            found.push(PersonalItem::from_item(item)?);
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(found)
    }

    /// The ledger lines of one request, oldest first, with the values behind their
    /// commitments: one query of the ledger index and one of the personal-data table.
    pub async fn history(&self, partner: &PartnerId, id: RequestId) -> Result<History, StoreError> {
        let (lines, personal) = tokio::join!(self.request_lines(partner, id), self.personal_items(partner, id, None));
        Ok(History {
            lines: lines?,
            values: personal_io::lookup(&personal?),
        })
    }

    /// The ledger lines of one request, oldest first.
    async fn request_lines(&self, partner: &PartnerId, id: RequestId) -> Result<Vec<String>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .index_name(BY_REQUEST)
            .key_condition_expression("rid = :rid")
            .expression_attribute_values(":rid", s(items::ledger_rid(partner, id)))
            .scan_index_forward(true);
        let mut lines = Vec::new();
        self.query_all(query, |item| {
            let entry: items::LedgerItem = serde_dynamo::from_item(item).map_err(StoreError::internal)?;
            lines.push(entry.line);
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(lines)
    }

    /// The personal-data items of a request (by sort key) that its partner supplied: the
    /// request's own values, and the values of the entries a partner agent wrote (as the
    /// entry's `actor.role` says). Everything else — support engineers' messages and
    /// subjects, privacy officers' records — is the vendor's staff's.
    pub async fn partner_supplied(&self, partner: &PartnerId, id: RequestId) -> Result<HashSet<String>, StoreError> {
        let mut supplied = HashSet::from([REQUEST_SK.to_owned()]);
        for line in self.request_lines(partner, id).await? {
            let entry = ledger::EntryRef::parse(line.as_bytes()).map_err(StoreError::internal)?;
            let data: serde_json::Value = serde_json::from_slice(entry.data).map_err(StoreError::internal)?;
            if data.pointer("/actor/role").and_then(serde_json::Value::as_str)
                == Some(domain::Role::PartnerAgent.as_str())
            {
                supplied.insert(personal_io::entry_sk(entry.seq));
            }
        }
        Ok(supplied)
    }

    /// Up to `limit` requests whose first response was due before `now` and has not come,
    /// oldest due first, as the sweep index holds them (without personal values). Reads only
    /// the sparse index: O(due), not O(open).
    pub async fn due_for_sweep(&self, now: Timestamp, limit: u16) -> Result<Vec<ServiceRequest>, StoreError> {
        let mut tasks = tokio::task::JoinSet::new();
        for shard in 0..crate::items::SWEEP_SHARDS {
            let client = self.client.clone();
            let table = self.tables.requests.clone();
            self.count_round_trip();
            tasks.spawn(async move {
                client
                    .query()
                    .table_name(table)
                    .index_name(SWEEP_DUE)
                    .key_condition_expression("sweep_shard = :shard AND sweep_due < :now")
                    .expression_attribute_values(":shard", s(format!("{shard:02}")))
                    .expression_attribute_values(":now", s(now.to_string()))
                    .limit(i32::from(limit))
                    .send()
                    .await
            });
        }
        let mut due: Vec<(String, ServiceRequest)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let out = joined.map_err(StoreError::internal)?.map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                let sort = match item.get("sweep_due") {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => String::new(),
                };
                let request: ServiceRequest = serde_json::from_value(items::request_json(item)?)
                    .map_err(|e| StoreError::Internal(format!("unreadable request item: {e}")))?;
                due.push((sort, request));
            }
        }
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due.truncate(usize::from(limit));
        Ok(due.into_iter().map(|(_, r)| r).collect())
    }
}

impl Store {
    /// The personal-data items of `partner` that belong to the e-mail address `email`: each
    /// request whose contact it is (sort key `R`) and each entry whose actor it is (`E#…`),
    /// found through the blind e-mail index (one query; no scan).
    pub async fn personal_by_email(
        &self,
        partner: &PartnerId,
        email: &str,
    ) -> Result<std::collections::BTreeMap<RequestId, Vec<String>>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.personal_data)
            .index_name(crate::schema::BY_EMAIL)
            .key_condition_expression("email_index = :e")
            .expression_attribute_values(":e", s(personal_io::email_index(partner, email)));
        let mut found: std::collections::BTreeMap<RequestId, Vec<String>> = std::collections::BTreeMap::new();
        let prefix = format!("{partner}#");
        self.query_all(query, |item| {
            let pk = items::text(&item, "pk")?;
            let sk = items::text(&item, "sk")?;
            // The index is per partner already (the partner is hashed in); check anyway.
            if let Some(id) = pk.strip_prefix(&prefix).and_then(|id| RequestId::parse(id).ok()) {
                found.entry(id).or_default().push(sk.to_owned());
            }
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(found)
    }
}

/// After a batch call (`BatchGetItem`, `BatchWriteItem`) left work unprocessed: wait before
/// asking again (5 ms, doubling to 160 ms), or, after 8 attempts, give up with `Unavailable`
/// saying `what` was left.
pub(crate) async fn retry_unprocessed(attempt: &mut u32, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    *attempt += 1;
    if *attempt > 8 {
        return Err(StoreError::Unavailable(what()));
    }
    tokio::time::sleep(std::time::Duration::from_millis(5 << (*attempt).min(5))).await;
    Ok(())
}
