//! Secrets from AWS Systems Manager Parameter Store (SecureString parameters), read at a
//! Lambda's cold start: the checkpoint signing key, the cursor key and the receipt key (the
//! last read again by the next write if reading it failed).

use crate::error::{StoreError, sdk};

/// The decrypted value of the SecureString parameter `name`.
pub async fn secure_parameter(config: &aws_config::SdkConfig, name: &str) -> Result<String, StoreError> {
    let client = aws_sdk_ssm::Client::new(config);
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(sdk)?;
    out.parameter
        .and_then(|p| p.value)
        .ok_or_else(|| StoreError::Internal(format!("parameter {name} has no value")))
}
