//! `GET /service-requests`, `GET /customers/{customerId}/service-requests`,
//! `GET /service-requests/{id}`, `GET /service-requests/{id}/history`, the vendor's
//! `GET /queue` and `GET /support-topics`.

use base64::Engine as _;
use domain::topics::TopicCatalogue;
use domain::{CustomerId, Product, RequestId, ServiceRequest, Severity, SlaState, Status, Subject, Timestamp};
use http::StatusCode;
use http::header::{self, HeaderValue};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use store::{Assignee, ListQuery, PageSize, QueueQuery};

use crate::App;
use crate::http::{json_response, path_param, query_params, with_etag};
use crate::identity::Caller;
use crate::paging;
use crate::problem::{ApiError, FieldMessage};
use crate::routes::{READ, RESPOND};

/// A page as the API returns it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PageBody<'a> {
    items: &'a [ServiceRequest],
    next_cursor: Option<&'a str>,
}

/// The query parameters of the request lists.
pub const LIST_PARAMS: &[&str] = &[
    "customerId",
    "status",
    "severity",
    "product",
    "createdFrom",
    "createdTo",
    "assignee",
    "limit",
    "cursor",
];

/// `assignee=none`, `assignee=me` (vendor staff only: their own subject), or a subject.
fn parse_assignee(value: &str, caller: &Caller) -> Result<Assignee, String> {
    match value {
        "none" => Ok(Assignee::Nobody),
        "me" if caller.is_vendor() => Ok(Assignee::Engineer(caller.subject.clone())),
        "me" => Err("me names a support engineer; filter by none or an engineer's subject".into()),
        other => Subject::parse(other).map(Assignee::Engineer).map_err(|e| e.to_string()),
    }
}

fn parse_limit(value: &str) -> Result<PageSize, String> {
    value
        .parse::<u64>()
        .ok()
        .and_then(PageSize::new)
        .ok_or_else(|| format!("must be a whole number from 1 to {}", PageSize::MAX))
}

pub async fn list(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[READ])?;
    let partner = caller.partner()?;
    let path_customer = path_param(request, "customerId");
    let allowed: Vec<&str> = LIST_PARAMS
        .iter()
        .copied()
        .filter(|p| path_customer.is_none() || *p != "customerId")
        .collect();
    let params = query_params(request, &allowed)?;
    let (query, cursor) = match list_query(&params, path_customer, &caller)? {
        Some(parsed) => parsed,
        // A range that ends before it starts holds nothing: an empty page, not an error (a
        // rule between two parameters is one no schema can state).
        None => {
            return json_response(
                StatusCode::OK,
                &PageBody {
                    items: &[],
                    next_cursor: None,
                },
            );
        }
    };
    // A partner sees the requests of the customers it has a relationship with.
    if let Some(customer) = &query.customer
        && !app.store.is_related(partner, customer).await?
    {
        return Err(ApiError::Missing(
            "no such customer: your organisation has no active relationship with it".into(),
        ));
    }
    let page = app.store.list(partner, &query, cursor.as_deref()).await?;
    json_response(
        StatusCode::OK,
        &PageBody {
            items: &page.items,
            next_cursor: page.next_cursor.as_deref(),
        },
    )
}

/// A list's parameters (checked against the operation's names already) as a query and a
/// cursor; `None` for a created range that ends before it starts (an empty page).
pub fn list_query(
    params: &[(String, String)],
    path_customer: Option<&str>,
    caller: &Caller,
) -> Result<Option<(ListQuery, Option<String>)>, ApiError> {
    let mut query = ListQuery::default();
    let mut cursor = None;
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldMessage::new(field, message));
        }
    };
    if let Some(customer) = path_customer {
        check(
            "path:customerId",
            CustomerId::parse(customer)
                .map(|c| query.customer = Some(c))
                .map_err(|e| e.to_string()),
        );
    }
    for (name, value) in params {
        let field = format!("query:{name}");
        let problem = |e: domain::Problem| e.to_string();
        match name.as_str() {
            "customerId" => check(
                &field,
                CustomerId::parse(value)
                    .map(|c| query.customer = Some(c))
                    .map_err(problem),
            ),
            "status" => check(
                &field,
                Status::parse(value).map(|s| query.status = Some(s)).map_err(problem),
            ),
            "severity" => check(
                &field,
                Severity::parse(value)
                    .map(|s| query.severity = Some(s))
                    .map_err(problem),
            ),
            "product" => check(
                &field,
                Product::parse(value).map(|p| query.product = Some(p)).map_err(problem),
            ),
            "createdFrom" => check(
                &field,
                Timestamp::parse(value)
                    .map(|t| query.created_from = Some(t))
                    .map_err(problem),
            ),
            "createdTo" => check(
                &field,
                Timestamp::parse(value)
                    .map(|t| query.created_to = Some(t))
                    .map_err(problem),
            ),
            "assignee" => check(&field, parse_assignee(value, caller).map(|a| query.assignee = Some(a))),
            "limit" => check(&field, parse_limit(value).map(|l| query.limit = l)),
            _ => cursor = Some(value.clone()),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if let (Some(from), Some(to)) = (query.created_from, query.created_to)
        && from > to
    {
        return Ok(None);
    }
    Ok(Some((query, cursor)))
}

/// The request at `{id}` as this caller may see it: a partner's own, or (vendor support) any.
/// A partner reads or changes a request filed for a customer only while their relationship
/// is active (403 naming why once it has ended, before anything about the request's state is
/// told; a change checks it again in its own transaction). Its evidence and ledger stay
/// readable elsewhere. Of the vendor's staff only support engineers (`requests/respond`) read
/// requests: an auditor sees personal values only through a ledgered disclosure.
pub(crate) async fn load(app: &App, caller: &Caller, request: &Request) -> Result<ServiceRequest, ApiError> {
    // An id that is not even well-formed is as unknown as any other.
    let id = path_param(request, "id")
        .and_then(|id| RequestId::parse(id).ok())
        .ok_or(ApiError::NotFound)?;
    if caller.is_vendor() {
        caller.require_any(&[RESPOND])?;
        return app.store.find_request(id).await?.ok_or(ApiError::NotFound);
    }
    let partner = caller.partner()?;
    let found = app.store.get_request(partner, id).await?.ok_or(ApiError::NotFound)?;
    if let Some(customer) = found.customer_id() {
        app.store.require_related(partner, customer).await?;
    }
    Ok(found)
}

pub async fn get(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[READ, RESPOND])?;
    query_params(request, &[])?;
    let found = load(app, &caller, request).await?;
    Ok(with_etag(json_response(StatusCode::OK, &found)?, found.version()))
}

/// The request's ledger entries, oldest first, each as its line reads (JSON), with the
/// personal values behind its commitments shown where they were: `{"commitment", "value",
/// "erased"}` — `value: null, erased: true` once erased. The hashed bytes are served by
/// `GET /ledger/entries`; this is for reading.
///
/// Paged: `limit` (1–500, 500 by default) and `cursor` (the previous page's `nextCursor`, the
/// last seq it held); a page also stops before about 4 MiB (`crate::paging`).
pub async fn history(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[READ, RESPOND])?;
    let params = query_params(request, &["limit", "cursor"])?;
    let page = paging::entry_page(&params, false)?;
    let found = load(app, &caller, request).await?;
    let history = app.store.history(found.partner_id(), found.id()).await?;
    let mut items = Vec::new();
    for line in &history.lines {
        let mut value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            tracing::error!(error = %e, "unreadable ledger line");
            ApiError::Internal
        })?;
        let seq = value.get("seq").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if page.after.is_some_and(|after| seq <= after) {
            continue;
        }
        if let Some(data) = value.get_mut("data") {
            ledger::personal::reveal(data, &|c| history.values.get(c).cloned());
        }
        let size = value.to_string().len();
        items.push((seq, value, size));
    }
    let (shown, more) = paging::fill(items, page.limit, |(_, _, size)| *size);
    let next = more.then(|| shown.last().map(|(seq, _, _)| seq.to_string())).flatten();
    let items: Vec<serde_json::Value> = shown.into_iter().map(|(_, value, _)| value).collect();
    json_response(StatusCode::OK, &json!({ "items": items, "nextCursor": next }))
}

/// The query parameters of the support queue.
pub const QUEUE_PARAMS: &[&str] = &[
    "product", "calendar", "severity", "state", "assignee", "limit", "cursor",
];

/// `GET /queue` (vendor support): open requests across every partner on which support owes
/// a reply, the next due first, then by severity.
pub async fn queue(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[RESPOND])?;
    if !caller.is_vendor() {
        return Err(ApiError::Forbidden("the queue is vendor support's".into()));
    }
    let params = query_params(request, QUEUE_PARAMS)?;
    let (query, cursor) = queue_query(&params, &caller, &app.policy)?;
    let page = app.store.queue(&query, cursor.as_deref()).await?;
    json_response(
        StatusCode::OK,
        &PageBody {
            items: &page.items,
            next_cursor: page.next_cursor.as_deref(),
        },
    )
}

/// `GET /support-topics[?product=]` (any authenticated caller): the catalogue a create's
/// `supportTopicId` names a topic of.
pub async fn support_topics(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    Caller::from_request(request, &app.identity)?;
    let params = query_params(request, &["product"])?;
    let mut product = None;
    for (name, value) in &params {
        if name == "product" {
            product = Some(
                Product::parse(value)
                    .map_err(|e| ApiError::Validation(vec![FieldMessage::new("query:product", e.to_string())]))?,
            );
        }
    }
    let catalogue = TopicCatalogue::embedded();
    let topics: Vec<_> = catalogue.topics(product).collect();
    json_response(
        StatusCode::OK,
        &json!({ "catalogueVersion": catalogue.version(), "topics": topics }),
    )
}

/// `GET /policies/{version}`: a support policy the service used, exactly the bytes whose
/// SHA-256 ledger entries pin (`policy.sha256`). Published documents never change, so the
/// answer may be cached for good; `Repr-Digest` (RFC 9530) and the `ETag` carry the digest.
pub async fn policy(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    Caller::from_request(request, &app.identity)?;
    query_params(request, &[])?;
    let version = path_param(request, "version").ok_or(ApiError::NotFound)?;
    let published = domain::published_policy(version).ok_or(ApiError::NotFound)?;
    let digest = hex::decode(&published.pin.sha256).map_err(|_| ApiError::Internal)?;
    let headers = [
        (header::CONTENT_TYPE, "application/toml; charset=utf-8".to_owned()),
        (header::ETAG, format!("\"{}\"", published.pin.sha256)),
        (
            header::HeaderName::from_static("repr-digest"),
            format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(digest)),
        ),
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable".to_owned()),
    ];
    let mut response = Response::new(Body::from(published.text));
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).map_err(|_| ApiError::Internal)?);
    }
    Ok(response)
}

/// The queue's parameters (checked against its names already) as a query and a cursor.
pub fn queue_query(
    params: &[(String, String)],
    caller: &Caller,
    policy: &domain::SupportPolicy,
) -> Result<(QueueQuery, Option<String>), ApiError> {
    let mut query = QueueQuery {
        product: None,
        calendar: None,
        severity: None,
        state: None,
        assignee: None,
        limit: PageSize::default(),
    };
    let mut cursor = None;
    let mut errors = Vec::new();
    for (name, value) in params {
        let field = format!("query:{name}");
        let problem = |e: domain::Problem| e.to_string();
        let result = match name.as_str() {
            "product" => Product::parse(value).map(|p| query.product = Some(p)).map_err(problem),
            "calendar" => match policy.calendar(value) {
                Some(c) => {
                    query.calendar = Some(c.id().to_owned());
                    Ok(())
                }
                None => Err(format!(
                    "must be a calendar of the support policy: {}",
                    policy.calendars().map(|c| c.id()).collect::<Vec<_>>().join(", ")
                )),
            },
            "severity" => Severity::parse(value)
                .map(|s| query.severity = Some(s))
                .map_err(problem),
            "state" => match SlaState::parse(value) {
                Ok(state @ (SlaState::Pending | SlaState::Breached)) => {
                    query.state = Some(state);
                    Ok(())
                }
                _ => Err("must be one of: pending, breached".into()),
            },
            "assignee" => parse_assignee(value, caller).map(|a| query.assignee = Some(a)),
            "limit" => parse_limit(value).map(|l| query.limit = l),
            _ => {
                cursor = Some(value.clone());
                Ok(())
            }
        };
        if let Err(message) = result {
            errors.push(FieldMessage::new(field, message));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok((query, cursor))
}
