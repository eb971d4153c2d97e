//! Lambda function `webhook-endpoints`: API Gateway HTTP API (JWT authorizer) → a partner manages its
//! webhook endpoints. Wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::serve(api::Function::Webhooks, api::config::Needs::WEBHOOKS).await
}
