//! # ledgerdesk HTTP layer
//!
//! Shared by the Lambda functions (`functions/*`, each a few lines of wiring) and the local
//! runner (`functions/local`): identity from the verified token ([`identity`]), request
//! parsing ([`http`]), one mapping from errors to statuses ([`problem`]), the handlers, and
//! the route table ([`routes`]). Handlers are thin: parse → domain → store → response.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod admin;
pub mod config;
mod create;
pub mod deliver;
mod erase;
pub mod http;
pub mod identity;
mod ledger_api;
pub mod openapi;
pub mod paging;
pub mod problem;
pub mod read;
pub mod receipts;
pub mod routes;
pub mod sweep;
pub mod telemetry;
mod update;
pub mod webhooks_api;

use std::time::Instant;

use domain::SupportPolicy;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use store::Store;

use crate::identity::IdentityConfig;
use crate::problem::ApiError;
use crate::receipts::{ReceiptSigner, Receipts};
pub use crate::routes::{Function, Operation, ROUTES, Route};

/// The OpenAPI 3.1 description of the API (served by the local run at `/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// What every handler needs, built once per process (a Lambda's cold start).
#[derive(Debug)]
pub struct App {
    pub store: Store,
    pub policy: SupportPolicy,
    pub identity: IdentityConfig,
    /// Signs the receipt every write returns and the store keeps (the writer functions and
    /// the sweep): shared with the store, which keeps each entry's receipt with it.
    pub receipts: std::sync::Arc<Receipts>,
    /// Seals webhook signing secrets and says which receiver URLs are allowed (the
    /// `webhooks` function and the deliverer only).
    pub webhooks: Option<webhooks_api::WebhookConfig>,
}

impl App {
    pub fn new(store: Store, policy: SupportPolicy, identity: IdentityConfig) -> Self {
        Self {
            store,
            policy,
            identity,
            receipts: std::sync::Arc::new(Receipts::default()),
            webhooks: None,
        }
    }

    pub fn with_webhooks(mut self, config: webhooks_api::WebhookConfig) -> Self {
        self.webhooks = Some(config);
        self
    }

    pub fn with_receipts(mut self, signer: ReceiptSigner) -> Self {
        self.set_receipts(Receipts::ready(signer));
        self
    }

    /// Sign receipts with `receipts`: in the answers, and in the entries the store keeps.
    pub fn set_receipts(&mut self, receipts: Receipts) {
        let receipts = std::sync::Arc::new(receipts);
        self.store.set_receipts(receipts.clone());
        self.receipts = receipts;
    }
}

/// The route API Gateway matched (its route key, e.g. `GET /service-requests/{id}`); for
/// its `$default` route (nothing matched), why nothing did.
fn route_of(request: &Request) -> Result<&'static Route, ApiError> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Err(ApiError::NoSuchRoute);
    };
    if let Some(route) = context.route_key.as_deref().and_then(routes::by_key) {
        return Ok(route);
    }
    match routes::resolve(request.method().as_str(), request.uri().path()) {
        routes::Resolution::MethodNotAllowed(allow) => Err(ApiError::MethodNotAllowed {
            method: request.method().to_string(),
            allow: allow.join(", "),
        }),
        _ => Err(ApiError::NoSuchRoute),
    }
}

async fn dispatch(app: &App, route: &Route, request: &Request) -> Result<Response<Body>, ApiError> {
    use Operation as Op;
    match route.operation {
        Op::CreateForCustomer | Op::CreateForOwnTenant => create::create(app, request).await,
        Op::List | Op::ListForCustomer => read::list(app, request).await,
        Op::Get => read::get(app, request).await,
        Op::History => read::history(app, request).await,
        Op::Evidence => ledger_api::evidence(app, request).await,
        Op::Update => update::update(app, request).await,
        Op::LedgerCheckpoint => ledger_api::checkpoint(app, request).await,
        Op::LedgerEntries => ledger_api::entries(app, request).await,
        Op::LedgerEntryTile => ledger_api::entry_tile(app, request).await,
        Op::ConsistencyProof => ledger_api::consistency(app, request).await,
        Op::InclusionProof => ledger_api::inclusion(app, request).await,
        Op::Erase => erase::erase(app, request).await,
        Op::PutRelationship => admin::put(app, request).await,
        Op::GetRelationship => admin::get(app, request).await,
        Op::ImportRelationships => admin::import(app, request).await,
        Op::Queue => read::queue(app, request).await,
        Op::SupportTopics => read::support_topics(app, request).await,
        Op::Policy => read::policy(app, request).await,
        Op::CreateWebhookEndpoint => webhooks_api::create(app, request).await,
        Op::ListWebhookEndpoints => webhooks_api::list(app, request).await,
        Op::GetWebhookEndpoint => webhooks_api::get(app, request).await,
        Op::UpdateWebhookEndpoint => webhooks_api::update(app, request).await,
        Op::DeleteWebhookEndpoint => webhooks_api::delete(app, request).await,
        Op::RotateWebhookSecret => webhooks_api::rotate(app, request).await,
        Op::ReplayWebhooks => webhooks_api::replay(app, request).await,
        Op::WebhookDeliveries => webhooks_api::deliveries(app, request).await,
    }
}

/// Serve one HTTP request for `function`. Never fails: every error becomes a problem response.
pub async fn handle(app: &App, function: Function, request: Request) -> Response<Body> {
    let started = Instant::now();
    let route = route_of(&request).and_then(|r| {
        if r.function == function {
            Ok(r)
        } else {
            Err(ApiError::NoSuchRoute)
        }
    });
    let result = match &route {
        Err(e) => Err(e.clone()),
        Ok(route) => dispatch(app, route, &request).await,
    };
    let response = result.unwrap_or_else(ApiError::into_response);
    let (partner, subject) = identity::log_identity(&request, &app.identity.partner_claim);
    let request_id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    tracing::info!(
        route = route.map(|r| r.key()).unwrap_or_else(|_| "unmatched".into()),
        status = response.status().as_u16(),
        millis = started.elapsed().as_millis() as u64,
        partner = partner.as_deref().unwrap_or("-"),
        subject_hash = subject.as_deref().unwrap_or("-"),
        request_id = request_id.as_deref().unwrap_or("-"),
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

/// `handle` in the shape `lambda_http::run` takes. A 5xx is answered as a problem response
/// (returning an error instead would make API Gateway answer a bare 502), so the Lambda
/// `Errors` metric does not count it: the stack alarms on the per-request log line's status
/// (a metric filter on `status >= 500`) and on the API's own 5xx metric instead.
pub async fn lambda_handler(
    app: &App,
    function: Function,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle(app, function, request).await)
}
