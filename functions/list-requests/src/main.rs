//! Lambda function `list-requests`: API Gateway HTTP API (JWT authorizer) → ledgerdesk.
//! The handler lives in the `api` crate; this is wiring only.

use std::sync::Arc;

use api::Function;
use api::config::{Needs, app_from_env};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    api::telemetry::init_json();
    // Configuration, SDK client and policy: once per cold start.
    let (app, _) = app_from_env(Needs::CursorKey).await?;
    let app = Arc::new(app);
    run(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { api::lambda_handler(&app, Function::ListRequests, request).await }
    }))
    .await
}
