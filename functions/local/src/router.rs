//! The local router: the same routes as the stack's HTTP API. Each request's bearer token is
//! verified as API Gateway's JWT authorizer would, the request is turned into the API Gateway
//! v2 event a Lambda would receive (and parsed by `lambda_http` itself), and the function's
//! handler from the `api` crate answers it. A path no route has is the `$default` route's:
//! 404, or 405 with `Allow` for a known path and another method — as in AWS.

use std::collections::HashMap;
use std::sync::Arc;

use api::problem::{ApiError, FieldMessage};
use api::routes::{Resolution, resolve};
use api::{App, Route};
use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequest,
    ApiGatewayV2httpRequestContext,
};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use http::{HeaderValue, Request, header};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Debug)]
pub struct LocalState {
    pub app: App,
    pub jwt_secret: Vec<u8>,
    /// The delivery rounds the local deliverer has finished, per partner.
    pub delivery_rounds: DeliveryRounds,
}

/// How many delivery rounds the local deliverer has finished for each partner: a round that
/// finished after something was written has looked at it (what a test waits for before it
/// says that nothing was sent, instead of a fixed sleep).
#[derive(Debug, Default)]
pub struct DeliveryRounds {
    finished: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    changed: tokio::sync::Notify,
}

impl DeliveryRounds {
    pub(crate) fn finished(&self, partner: &str) {
        *self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(partner.to_owned())
            .or_default() += 1;
        self.changed.notify_waiters();
    }

    /// The rounds finished for `partner` so far.
    pub fn count(&self, partner: &str) -> u64 {
        self.finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(partner)
            .copied()
            .unwrap_or(0)
    }

    /// Wait until `partner` has had a whole round that began after this call: two more
    /// finished (the first may have begun before). False if that takes longer than `within`.
    pub async fn a_whole_round(&self, partner: &str, within: std::time::Duration) -> bool {
        let target = self.count(partner) + 2;
        tokio::time::timeout(within, async {
            loop {
                let changed = self.changed.notified();
                if self.count(partner) >= target {
                    return;
                }
                changed.await;
            }
        })
        .await
        .is_ok()
    }
}

pub fn router(state: Arc<LocalState>) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        api::OPENAPI,
    )
        .into_response()
}

/// 401 as API Gateway's JWT authorizer answers it: why, in the detail and in
/// `WWW-Authenticate`'s `error_description`.
fn unauthenticated(why: &str, presented: bool) -> Response {
    let (parts, body) = ApiError::Unauthenticated.into_response().into_parts();
    let mut problem: serde_json::Value = match &body {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap_or_default(),
        _ => serde_json::Value::default(),
    };
    problem["detail"] = format!("{}: {why}", ApiError::Unauthenticated).into();
    let mut response = to_axum(lambda_http::Response::from_parts(
        parts,
        lambda_http::Body::Text(problem.to_string()),
    ));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    // RFC 6750 §3.1: no error code when the request carried no token at all.
    if presented {
        let challenge = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            why.replace('"', "'")
        );
        if let Ok(value) = header::HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

async fn dispatch(State(state): State<Arc<LocalState>>, request: Request<Body>) -> Response {
    // The JWT authorizer runs before routing, as API Gateway's default authorizer does.
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let checked = match token {
        None => Err("no bearer token (Authorization: Bearer <token>)".to_owned()),
        Some(t) => crate::token::check(&state.jwt_secret, t.trim()),
    };
    let claims = match checked {
        Ok(claims) => claims,
        Err(why) => {
            // Not the path: before routing it is raw (ids), unlike the route key others log.
            tracing::info!(status = 401, method = %request.method(), why, "token refused");
            return unauthenticated(&why, token.is_some());
        }
    };
    let (route, params) = match resolve(request.method().as_str(), request.uri().path()) {
        Resolution::Route(route, params) => (route, params),
        Resolution::MethodNotAllowed(allow) => {
            return to_axum(
                ApiError::MethodNotAllowed {
                    method: request.method().to_string(),
                    allow: allow.join(", "),
                }
                .into_response(),
            );
        }
        Resolution::NoSuchRoute => return to_axum(ApiError::NoSuchRoute.into_response()),
    };
    let (parts, body) = request.into_parts();
    // The event carries headers as text: a value that is not UTF-8 is the caller's error.
    if let Some((name, _)) = parts
        .headers
        .iter()
        .find(|(_, v)| std::str::from_utf8(v.as_bytes()).is_err())
    {
        return to_axum(
            ApiError::BadRequest {
                detail: format!("the {name} header is not UTF-8"),
                errors: vec![FieldMessage::new(format!("header:{name}"), "is not UTF-8")],
            }
            .into_response(),
        );
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return to_axum(ApiError::PayloadTooLarge(MAX_BODY / 1024).into_response());
    };
    let path_parameters = params
        .into_iter()
        .map(|(k, v)| (k.to_owned(), percent_decode(&v)))
        .collect();
    let event = gateway_event(route, &parts, path_parameters, claims, &bytes);
    let request = match serde_json::to_string(&event)
        .map_err(|e| e.to_string())
        .and_then(|json| lambda_http::request::from_str(&json).map_err(|e| e.to_string()))
    {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Lambda event");
            return to_axum(ApiError::Internal.into_response());
        }
    };
    to_axum(api::handle(&state.app, route.function, request).await)
}

/// `%XX` decoding of a path segment, as API Gateway does for path parameters (`+` stays).
fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The API Gateway (HTTP API, payload 2.0) event for this request.
fn gateway_event(
    route: &Route,
    parts: &http::request::Parts,
    path_parameters: HashMap<String, String>,
    claims: HashMap<String, String>,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.scopes = claims
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect());
    jwt.claims = claims;
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route.key());
    context.stage = Some("$default".into());
    context.request_id = Some(format!("local-{:016x}", rand::random::<u64>()));
    context.authorizer = Some(authorizer);
    context.http.method = parts.method.clone();
    context.http.path = Some(parts.uri.path().to_owned());
    context.http.protocol = Some("HTTP/1.1".into());
    context.http.source_ip = Some("127.0.0.1".into());
    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route.key());
    event.raw_path = Some(parts.uri.path().to_owned());
    event.raw_query_string = Some(parts.uri.query().unwrap_or("").to_owned());
    event.headers = parts.headers.clone();
    event.path_parameters = path_parameters;
    event.request_context = context;
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event.body = Some(text.to_owned()),
            Err(_) => {
                event.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
                event.is_base64_encoded = true;
            }
        }
    }
    event
}

fn to_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, Body::from(bytes))
}
