//! Lambda function `erase-personal-data`: API Gateway HTTP API (JWT authorizer) → erase a
//! request's, or an e-mail address's, personal values (GDPR Art. 17). Wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::serve(api::Function::ErasePersonalData, api::config::Needs::WRITER).await
}
