//! Lambda function `update-request`: API Gateway HTTP API (JWT authorizer) → ledgerdesk.
//! The handler lives in the `api` crate; this is wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::serve(api::Function::UpdateRequest, api::config::Needs::WRITER).await
}
