//! Reading requests and writing responses.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, FieldMessage};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parse a JSON body as `T`, also returning it as a JSON value (for fingerprints).
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<(T, serde_json::Value), ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("a JSON object is required".into()));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::MalformedJson("a JSON object is required".into()));
    }
    let parsed = T::deserialize(&value).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok((parsed, value))
}

/// A path parameter (`{id}`, `{customerId}`).
pub fn path_param<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.path_parameters_ref().and_then(|p| p.first(name))
}

/// The query parameters, refusing any not in `allowed` and any given twice.
pub fn query_params(request: &Request, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    if let Some(query) = request.query_string_parameters_ref() {
        for (name, _) in query.iter() {
            for value in query.all(name).unwrap_or_default() {
                pairs.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    check_query(&pairs, allowed)
}

/// The query's `(name, value)` pairs checked: each name one of `allowed`, each given once.
pub fn check_query(pairs: &[(String, String)], allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in pairs {
        if params.iter().any(|(n, _)| n == name) {
            let field = format!("query:{name}");
            if allowed.contains(&name.as_str()) && !errors.iter().any(|e: &FieldMessage| e.field == field) {
                errors.push(FieldMessage::new(field, "must be given once"));
            }
            continue;
        }
        if !allowed.contains(&name.as_str()) {
            errors.push(FieldMessage::new(
                format!("query:{name}"),
                format!("is not a parameter of this operation; use {}", allowed.join(", ")),
            ));
        }
        params.push((name.clone(), value.clone()));
    }
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(ApiError::BadRequest {
            detail: "the query has unknown or repeated parameters".into(),
            errors,
        })
    }
}

pub fn json_response(status: StatusCode, value: &impl Serialize) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(|e| {
        tracing::error!(error = %e, "cannot serialise a response");
        ApiError::Internal
    })?;
    Ok(raw_json_response(status, body))
}

pub fn raw_json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `ETag: "<version>"`, the value `If-Match` takes.
pub fn with_etag(mut response: Response<Body>, version: u64) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
