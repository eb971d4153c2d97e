//! Lambda function `admin`: API Gateway HTTP API (JWT authorizer) → the vendor maintains
//! partner–customer relationships. Wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::serve(api::Function::Admin, api::config::Needs::WRITER).await
}
