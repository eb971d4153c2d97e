//! Lambda function `deliver-webhooks`: woken by the ledger table's DynamoDB stream (a round for
//! each partner whose chain grew; batch item failures for those that could not finish) and by
//! a one-minute schedule (the retries that came due). Wiring only: `api::deliver`.

use std::sync::Arc;

use api::config::{Needs, app_from_env};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    api::telemetry::init_json();
    let (app, _) = app_from_env(Needs::DELIVERER).await?;
    let client = store::webhook_http::WebhookClient::new(webhooks::Mode::Aws)?;
    let state = Arc::new((app, client));
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let state = Arc::clone(&state);
        async move {
            let (app, client) = &*state;
            Ok::<_, Error>(api::deliver::on_event(app, client, &event.payload).await)
        }
    }))
    .await
}
