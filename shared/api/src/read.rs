//! `GET /service-requests`, `GET /customers/{customerId}/service-requests`,
//! `GET /service-requests/{id}` and `GET /service-requests/{id}/history`.

use domain::{CustomerId, Product, RequestId, ServiceRequest, Severity, Status, Timestamp};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use store::{ListQuery, PageSize};

use crate::App;
use crate::http::{json_response, path_param, query_params, with_etag};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::routes::{READ, RESPOND};

/// A page as the API returns it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PageBody<'a> {
    items: &'a [ServiceRequest],
    next_cursor: Option<&'a str>,
}

const LIST_PARAMS: &[&str] = &[
    "customerId",
    "status",
    "severity",
    "product",
    "createdFrom",
    "createdTo",
    "limit",
    "cursor",
];

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
    for (name, value) in &params {
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
            "limit" => check(
                &field,
                value
                    .parse::<u64>()
                    .ok()
                    .and_then(PageSize::new)
                    .map(|l| query.limit = l)
                    .ok_or_else(|| format!("must be a whole number from 1 to {}", PageSize::MAX)),
            ),
            _ => cursor = Some(value.clone()),
        }
    }
    if let (Some(from), Some(to)) = (query.created_from, query.created_to)
        && from > to
    {
        errors.push(FieldMessage::new("query:createdTo", "must not be before createdFrom"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
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

/// The request at `{id}` as this caller may see it: a partner's own, or (vendor staff) any.
pub(crate) async fn load(app: &App, caller: &Caller, request: &Request) -> Result<ServiceRequest, ApiError> {
    // An id that is not even well-formed is as unknown as any other.
    let id = path_param(request, "id")
        .and_then(|id| RequestId::parse(id).ok())
        .ok_or(ApiError::NotFound)?;
    let found = if caller.is_vendor() {
        app.store.find_request(id).await?
    } else {
        app.store.get_request(caller.partner()?, id).await?
    };
    found.ok_or(ApiError::NotFound)
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
pub async fn history(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[READ, RESPOND])?;
    query_params(request, &[])?;
    let found = load(app, &caller, request).await?;
    let history = app.store.history(found.partner_id(), found.id()).await?;
    let mut items = Vec::with_capacity(history.lines.len());
    for line in &history.lines {
        let mut value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            tracing::error!(error = %e, "unreadable ledger line");
            ApiError::Internal
        })?;
        if let Some(data) = value.get_mut("data") {
            ledger::personal::reveal(data, &|c| history.values.get(c).cloned());
        }
        items.push(value);
    }
    json_response(StatusCode::OK, &json!({ "items": items }))
}
