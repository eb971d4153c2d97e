//! Configuration read once at cold start. A missing setting fails the start, not a request.

use domain::SupportPolicy;
use ledger::SignerKey;
use store::{CursorKey, Store, TableNames};

use crate::App;
use crate::sweep::Signing;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{name}: {problem}")]
    Invalid { name: &'static str, problem: String },
}

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A secret: `<NAME>` itself (local and tests), or the SSM SecureString parameter named by
/// `<NAME>_PARAMETER` (AWS).
async fn secret(config: &store::AwsConfig, name: &'static str, parameter: &'static str) -> Result<String, ConfigError> {
    if let Some(value) = optional(name) {
        return Ok(value);
    }
    let parameter_name = var(parameter)?;
    store::secrets::secure_parameter(config, &parameter_name)
        .await
        .map_err(|e| ConfigError::Invalid {
            name: parameter,
            problem: format!("{e} ({})", e.detail().unwrap_or("-")),
        })
}

/// What a function needs besides the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// `list-requests`: the key that authenticates pagination cursors.
    CursorKey,
}

/// The App of a Lambda function, from its environment:
/// `TABLE_PREFIX` (required), `PARTNER_CLAIM` (default `partner_id`), `DYNAMODB_ENDPOINT`
/// (optional), and for `list-requests` `CURSOR_KEY` or `CURSOR_KEY_PARAMETER`.
pub async fn app_from_env(needs: Needs) -> Result<(App, store::AwsConfig), ConfigError> {
    let tables = TableNames::with_prefix(&var("TABLE_PREFIX")?);
    let partner_claim = optional("PARTNER_CLAIM").unwrap_or_else(|| "partner_id".into());
    let config = store::aws_config().await;
    let client = match optional("DYNAMODB_ENDPOINT") {
        Some(endpoint) => {
            let region = config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "eu-central-1".into());
            store::dynamodb_at(&endpoint, &region).await
        }
        None => store::dynamodb(&config),
    };
    let mut store = Store::new(client, tables);
    if needs == Needs::CursorKey {
        let key = secret(&config, "CURSOR_KEY", "CURSOR_KEY_PARAMETER").await?;
        store = store.with_cursor_key(CursorKey::from_base64(&key).map_err(|e| ConfigError::Invalid {
            name: "CURSOR_KEY",
            problem: e.to_string(),
        })?);
    }
    let policy = SupportPolicy::embedded().map_err(|e| ConfigError::Invalid {
        name: "support policy",
        problem: e.to_string(),
    })?;
    Ok((App::new(store, policy, partner_claim), config))
}

/// The sweep's signing configuration: `SIGNING_KEY` or `SIGNING_KEY_PARAMETER` (a `ledger
/// keygen` private key), and `LEDGER_LOG_NAME`.
pub async fn signing_from_env(config: &store::AwsConfig) -> Result<Signing, ConfigError> {
    let text = secret(config, "SIGNING_KEY", "SIGNING_KEY_PARAMETER").await?;
    let key = SignerKey::parse(&text).map_err(|e| ConfigError::Invalid {
        name: "SIGNING_KEY",
        problem: e.to_string(),
    })?;
    Ok(Signing {
        key,
        log_name: var("LEDGER_LOG_NAME")?,
    })
}
