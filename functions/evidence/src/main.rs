//! Lambda function `evidence`: API Gateway HTTP API (JWT authorizer) → an evidence bundle for
//! one request. It is a writer of one kind: an auditor's disclosure is appended (with its
//! receipt) before the values are disclosed, so it holds the receipt key and list-requests,
//! which serves every other read, holds none. Wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::serve(api::Function::Evidence, api::config::Needs::EVIDENCE).await
}
