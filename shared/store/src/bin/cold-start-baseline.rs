//! The cold-start baseline of `functions/local/benches/cold_start.rs`: a minimal Lambda
//! function that does at init what every function must (load the AWS config, make a
//! DynamoDB client) the way the SDK does by default — trusting the operating system's
//! certificate store ([`store::TrustRoots::System`]), where the functions trust the Amazon
//! roots only — and nothing else, and answers each event with one DynamoDB round trip.
//! Built lean, like the functions:
//!
//! ```sh
//! cargo build --release -p store --features cold-start-baseline --bin cold-start-baseline
//! ```
//! Never deployed. The endpoint comes from `AWS_ENDPOINT_URL_DYNAMODB` (the SDK reads it).

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = store::aws_config(store::TrustRoots::System).await;
    let client = store::dynamodb(&config);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let client = client.clone();
        async move {
            let tables = client.list_tables().limit(1).send().await?;
            Ok::<_, lambda_runtime::Error>(json!({ "tables": tables.table_names().len() }))
        }
    }))
    .await
}
