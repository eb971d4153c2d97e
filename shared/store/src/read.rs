//! Reads: by id, listing with filters and authenticated cursors, history, the sweep index.

use aws_sdk_dynamodb::types::AttributeValue;
use domain::{CustomerId, PartnerId, Product, RequestId, ServiceRequest, Severity, Status, Timestamp};
use sha2::{Digest, Sha256};

use crate::Store;
use crate::cursor;
use crate::error::{StoreError, sdk};
use crate::items::{self, s};
use crate::schema::{BY_CUSTOMER, BY_ID, BY_REQUEST, SWEEP_DUE};

/// A page size: 1-100, 25 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u8);

impl PageSize {
    pub const MAX: u8 = 100;

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
    pub limit: PageSize,
}

impl ListQuery {
    /// Identifies the query a cursor continues (the page size may change between pages).
    fn fingerprint(&self) -> String {
        let text = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.customer.as_ref().map(CustomerId::as_str),
            self.status.map(Status::as_str),
            self.severity.map(Severity::as_str),
            self.product.map(Product::as_str),
            self.created_from.map(|t| t.to_string()),
            self.created_to.map(|t| t.to_string()),
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..12])
    }
}

/// One page, newest first. A page can hold fewer items than the limit (filters apply after
/// the key range is read) and still have a next cursor: follow `next_cursor` until it is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<ServiceRequest>,
    pub next_cursor: Option<String>,
}

impl Store {
    /// A partner's request (strongly consistent).
    pub async fn get_request(&self, partner: &PartnerId, id: RequestId) -> Result<Option<ServiceRequest>, StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.requests)
            .key("pk", s(items::request_pk(partner)))
            .key("sk", s(items::request_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        let request = out.item.map(items::request_from_item).transpose()?;
        // Defence in depth: the key already scopes by partner.
        Ok(request.filter(|r| r.partner_id() == partner))
    }

    /// Any partner's request by id (for support engineers, who act on every partner's requests).
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

    /// One page of `partner`'s requests matching `query`, newest first: one query per page.
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
        let mut filters = Vec::new();
        let mut filter = |attribute: &str, value: Option<&'static str>| {
            if let Some(value) = value {
                filters.push((attribute.to_owned(), value));
            }
        };
        filter("status", query.status.map(Status::as_str));
        filter("severity", query.severity.map(Severity::as_str));
        filter("product", query.product.map(Product::as_str));
        if !filters.is_empty() {
            let expression = filters
                .iter()
                .map(|(a, _)| format!("#{a} = :{a}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            for (attribute, value) in &filters {
                request = request
                    .expression_attribute_names(format!("#{attribute}"), attribute)
                    .expression_attribute_values(format!(":{attribute}"), s(*value));
            }
            request = request.filter_expression(expression);
        }
        self.count_round_trip();
        let out = request.send().await.map_err(sdk)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(items::request_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(cursor::seal(key, partner.as_str(), &fingerprint, &last)?),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// The ledger lines of one request, oldest first.
    pub async fn history(&self, partner: &PartnerId, id: RequestId) -> Result<Vec<String>, StoreError> {
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

    /// Up to `limit` requests whose first response was due before `now` and has not come,
    /// oldest due first. Reads only the sparse sweep index: O(due), not O(open).
    pub async fn due_for_sweep(&self, now: Timestamp, limit: u16) -> Result<Vec<(PartnerId, RequestId)>, StoreError> {
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
        let mut due: Vec<(String, PartnerId, RequestId)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let out = joined.map_err(StoreError::internal)?.map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                let sort = match item.get("sweep_due") {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => String::new(),
                };
                let (partner, id) = items::request_key(&item)?;
                due.push((sort, partner, id));
            }
        }
        due.sort();
        due.truncate(usize::from(limit));
        Ok(due.into_iter().map(|(_, p, i)| (p, i)).collect())
    }
}
