//! # ledgerdesk HTTP layer
//!
//! Shared by the Lambda functions (`functions/*`, each a few lines of wiring) and the local
//! runner (`functions/local`): identity from the verified token ([`identity`]), request
//! parsing ([`http`]), one mapping from errors to statuses ([`problem`]), the handlers, and
//! the route table ([`routes`]). Handlers are thin: parse → domain → store → response.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
mod create;
pub mod http;
pub mod identity;
pub mod problem;
mod read;
pub mod routes;
pub mod sweep;
pub mod telemetry;
mod update;

use std::time::Instant;

use domain::SupportPolicy;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use store::Store;

use crate::problem::ApiError;
pub use crate::routes::{Function, ROUTES, Route};

/// The OpenAPI 3.1 description of the API (served by the local run at `/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// What every handler needs, built once per process (a Lambda's cold start).
#[derive(Debug)]
pub struct App {
    pub store: Store,
    pub policy: SupportPolicy,
    /// The JWT claim that carries the partner id.
    pub partner_claim: String,
}

impl App {
    pub fn new(store: Store, policy: SupportPolicy, partner_claim: impl Into<String>) -> Self {
        Self {
            store,
            policy,
            partner_claim: partner_claim.into(),
        }
    }
}

/// The route API Gateway matched (its route key, e.g. `GET /service-requests/{id}`).
fn route_of(request: &Request) -> Option<&'static Route> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.as_deref().and_then(routes::by_key),
        _ => None,
    }
}

/// Serve one HTTP request for `function`. Never fails: every error becomes a problem response.
pub async fn handle(app: &App, function: Function, request: Request) -> Response<Body> {
    let started = Instant::now();
    let route = route_of(&request).filter(|r| r.function == function);
    let result = match route {
        None => Err(ApiError::NotFound),
        Some(route) => match (route.function, route.method, route.path) {
            (Function::CreateRequest, _, _) => create::create(app, &request).await,
            (Function::UpdateRequest, _, _) => update::update(app, &request).await,
            (Function::ListRequests, _, "/service-requests/{id}") => read::get(app, &request).await,
            (Function::ListRequests, _, "/service-requests/{id}/history") => read::history(app, &request).await,
            (Function::ListRequests, _, _) => read::list(app, &request).await,
        },
    };
    let response = result.unwrap_or_else(ApiError::into_response);
    tracing::info!(
        route = route.map(|r| r.key()).unwrap_or_else(|| "unmatched".into()),
        status = response.status().as_u16(),
        millis = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Run an HTTP function on the Lambda runtime: logging, configuration and the SDK client
/// once per cold start, then one [`handle`] per request.
pub async fn serve(function: Function, needs: config::Needs) -> Result<(), lambda_http::Error> {
    telemetry::init_json();
    let (app, _) = config::app_from_env(needs).await?;
    let app = std::sync::Arc::new(app);
    lambda_http::run(lambda_http::service_fn(move |request| {
        let app = std::sync::Arc::clone(&app);
        async move { lambda_handler(&app, function, request).await }
    }))
    .await
}

/// `handle` in the shape `lambda_http::run` takes.
pub async fn lambda_handler(
    app: &App,
    function: Function,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle(app, function, request).await)
}
