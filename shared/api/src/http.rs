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
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES / 1024));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    let malformed = |field: String, message: String| ApiError::MalformedJson {
        detail: format!("{field}: {message}"),
        errors: vec![FieldMessage::new(field, message)],
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed("$".into(), "a JSON object is required".into()));
    }
    // serde_json's message names the line and column of a syntax error.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed("$".into(), e.to_string()))?;
    if !value.is_object() {
        return Err(malformed("$".into(), "a JSON object is required".into()));
    }
    // The path reaches the bad value; for an unknown member, the member itself.
    let parsed = serde_path_to_error::deserialize::<_, T>(&value)
        .map_err(|e| malformed(json_path(e.path()), e.inner().to_string()))?;
    Ok((parsed, value))
}

/// A serde path as the JSON path the errors use: `$`, `$.contact.email`, `$.items[2]`.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut text = String::from("$");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            // A member name that is not a plain word is quoted, so that `{"a.b": 1}` is not
            // reported as `$.a.b`.
            Segment::Map { key } if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                text.push('.');
                text.push_str(key);
            }
            Segment::Map { key } => {
                text.push_str(&format!("[{}]", serde_json::Value::from(key.as_str())));
            }
            Segment::Enum { variant } => {
                text.push('.');
                text.push_str(variant);
            }
            Segment::Unknown => text.push_str(".?"),
        }
    }
    text
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
            let message = if allowed.is_empty() {
                "is not a parameter of this operation, which takes none".to_owned()
            } else {
                format!("is not a parameter of this operation; use {}", allowed.join(", "))
            };
            errors.push(FieldMessage::new(format!("query:{name}"), message));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Contact {
        email: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        title: String,
        contact: Contact,
        tags: Option<Vec<u8>>,
    }

    fn parse(content_type: &str, body: &str) -> Result<(Input, serde_json::Value), ApiError> {
        let request = http::Request::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned()))
            .unwrap();
        json_body::<Input>(&request)
    }

    /// The one error's field and message.
    fn error_of(body: &str) -> (String, String) {
        match parse("application/json", body) {
            Err(ApiError::MalformedJson { detail, errors }) => {
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert!(detail.starts_with(&errors[0].field), "{detail}");
                (errors[0].field.clone(), errors[0].message.clone())
            }
            other => panic!("expected 400 malformed, got {other:?}"),
        }
    }

    #[test]
    fn a_malformed_body_names_where() {
        let (field, message) = error_of("{\"title\": \"x\",\n \"contact\": }");
        assert_eq!(field, "$");
        assert!(message.contains("line 2 column"), "{message}");
        let (field, message) = error_of(r#"{"title":"x","contact":{"email":"a@b.example"},"surprise":1}"#);
        assert_eq!(field, "$.surprise");
        assert!(message.starts_with("unknown field `surprise`"), "{message}");
        let (field, _) = error_of(r#"{"title":"x","contact":{"email":"a@b.example","surprise":1}}"#);
        assert_eq!(field, "$.contact.surprise");
        let (field, _) = error_of(r#"{"title":"x","contact":{"email":"a@b.example"},"contact.email":1}"#);
        assert_eq!(field, r#"$["contact.email"]"#);
        let (field, message) = error_of(r#"{"title":7,"contact":{"email":"a@b.example"}}"#);
        assert_eq!(field, "$.title");
        assert!(message.contains("invalid type"), "{message}");
        let (field, _) = error_of(r#"{"title":"x","contact":{"email":"a@b.example"},"tags":[1,300]}"#);
        assert_eq!(field, "$.tags[1]");
        for (body, expected) in [
            ("  ", "a JSON object is required"),
            ("[1]", "a JSON object is required"),
        ] {
            assert_eq!(error_of(body), ("$".to_owned(), expected.to_owned()));
        }
        assert!(parse("application/json", r#"{"title":"x","contact":{"email":"a@b.example"}}"#).is_ok());
    }

    #[test]
    fn the_wrong_media_type_names_the_right_one() {
        let err = parse("text/csv", "{}").unwrap_err();
        assert_eq!(err.to_string(), "the request body must be application/json");
    }
}
