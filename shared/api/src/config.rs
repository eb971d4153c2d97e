//! Configuration read once at cold start. A missing setting fails the start, not a request.

use domain::SupportPolicy;
use ledger::{LogName, SignerKey};
use store::{CursorKey, Store, TableNames};

use crate::App;
use crate::identity::IdentityConfig;
use crate::receipts::{ReceiptSigner, Receipts};
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
    parameter_value(config, &parameter_name)
        .await
        .map_err(|problem| ConfigError::Invalid {
            name: parameter,
            problem,
        })
}

/// An SSM SecureString parameter's value; the error says what failed, never a value.
async fn parameter_value(config: &store::AwsConfig, parameter_name: &str) -> Result<String, String> {
    store::secrets::secure_parameter(config, parameter_name)
        .await
        .map_err(|e| format!("{e} ({})", e.detail().unwrap_or("-")))
}

/// What a function needs besides the store and the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// The key that authenticates pagination cursors (`list-requests`).
    pub cursor_key: bool,
    /// The receipt key (the functions that write).
    pub receipts: bool,
    /// The entry-tile bucket (`list-requests` links to tiles; the sweep writes them).
    pub entry_tiles: bool,
    /// The witnesses that cosign checkpoints (the signer: `WITNESSES`, `WITNESS_QUORUM`).
    pub witnesses: bool,
    /// The key that seals webhook signing secrets (`webhook-endpoints`: `WEBHOOK_KEY` or
    /// `WEBHOOK_KEY_PARAMETER`).
    pub webhook_key: bool,
    /// The published receipt key the deliverer checks kept receipts with (`RECEIPT_PUBLIC_KEY`,
    /// `LEDGER_LOG_NAME`, `RECEIPTS_REQUIRED_SINCE`).
    pub receipt_check: bool,
}

impl Needs {
    pub const NOTHING: Needs = Needs {
        cursor_key: false,
        receipts: false,
        entry_tiles: false,
        witnesses: false,
        webhook_key: false,
        receipt_check: false,
    };
    /// `list-requests`.
    pub const READER: Needs = Needs {
        cursor_key: true,
        receipts: false,
        entry_tiles: true,
        witnesses: false,
        webhook_key: false,
        receipt_check: false,
    };
    /// The functions that append to the ledger on a caller's behalf.
    pub const WRITER: Needs = Needs {
        cursor_key: false,
        receipts: true,
        entry_tiles: false,
        witnesses: false,
        webhook_key: false,
        receipt_check: false,
    };
    /// `evidence`: reads, and appends an auditor's disclosure (kept with its receipt).
    pub const EVIDENCE: Needs = Needs {
        cursor_key: false,
        receipts: true,
        entry_tiles: false,
        witnesses: false,
        webhook_key: false,
        receipt_check: false,
    };
    /// The sweep, which signs checkpoints (each entry's kept receipt checked first) and keeps
    /// the entry tiles they complete, and appends breaches (each kept with its receipt).
    pub const SIGNER: Needs = Needs {
        cursor_key: false,
        receipts: true,
        entry_tiles: true,
        witnesses: true,
        webhook_key: false,
        receipt_check: true,
    };
    /// `deliver-webhooks`: the deliverer opens the secrets it signs with (and holds no
    /// receipt key: it signs no receipts).
    pub const DELIVERER: Needs = Needs {
        cursor_key: false,
        receipts: false,
        entry_tiles: false,
        witnesses: false,
        webhook_key: true,
        receipt_check: true,
    };
    /// `webhook-endpoints`: partners manage their endpoints.
    pub const WEBHOOKS: Needs = Needs {
        cursor_key: false,
        receipts: false,
        entry_tiles: false,
        witnesses: false,
        webhook_key: true,
        receipt_check: false,
    };
}

/// The witnesses the signer asks to cosign (FORMAT.md §17): `WITNESSES`, a JSON array of
/// `{"url", "key"}` (the witness's public key as `ledger keygen --witness` writes it; unset or
/// `[]`: none), and `WITNESS_QUORUM` (default: all of them).
pub fn witnesses_from_env() -> Result<Option<store::witnesses::Witnesses>, ConfigError> {
    let Some(json) = optional("WITNESSES").filter(|j| j.trim() != "[]") else {
        return Ok(None);
    };
    let count = serde_json::from_str::<Vec<serde_json::Value>>(&json).map_or(0, |v| v.len());
    let quorum = match optional("WITNESS_QUORUM") {
        Some(q) => q.parse().map_err(|_| ConfigError::Invalid {
            name: "WITNESS_QUORUM",
            problem: format!("{q:?} is not a number"),
        })?,
        None => count,
    };
    store::witnesses::Witnesses::from_config(&json, quorum)
        .map(Some)
        .map_err(|problem| ConfigError::Invalid {
            name: "WITNESSES",
            problem,
        })
}

/// The deployment's log name (`LEDGER_LOG_NAME`).
pub fn log_name() -> Result<LogName, ConfigError> {
    LogName::parse(&var("LEDGER_LOG_NAME")?).map_err(|e| ConfigError::Invalid {
        name: "LEDGER_LOG_NAME",
        problem: e.to_string(),
    })
}

/// How the deliverer checks kept receipts (FORMAT.md §10.2): `RECEIPT_PUBLIC_KEY` (the
/// published `.pub` of the receipt key: never the private key), `LEDGER_LOG_NAME`, and
/// `RECEIPTS_REQUIRED_SINCE` ([`receipts_required_since`]).
pub fn receipt_check_from_env() -> Result<crate::deliver::ReceiptCheck, ConfigError> {
    Ok(crate::deliver::ReceiptCheck {
        keys: receipt_public_keys(&var("RECEIPT_PUBLIC_KEY")?)?,
        log: log_name()?,
        required_since: receipts_required_since()?,
    })
}

/// `RECEIPT_PUBLIC_KEY`'s value: one published key or more (a rotation: the new key and the
/// one before), separated by commas; at least one, and each a verifier key.
fn receipt_public_keys(text: &str) -> Result<ledger::TrustedKeys, ConfigError> {
    let keys = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(ledger::VerifierKey::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Invalid {
            name: "RECEIPT_PUBLIC_KEY",
            problem: e.to_string(),
        })?;
    if keys.is_empty() {
        return Err(ConfigError::Invalid {
            name: "RECEIPT_PUBLIC_KEY",
            problem: "no key given".into(),
        });
    }
    Ok(ledger::TrustedKeys::new(keys))
}

/// `RECEIPTS_REQUIRED_SINCE`: empty or unset, every entry is kept with its receipt; in a stack
/// upgraded to kept receipts, a ledger timestamp after which every entry must have one.
pub fn receipts_required_since() -> Result<Option<String>, ConfigError> {
    required_since_from(optional("RECEIPTS_REQUIRED_SINCE").as_deref())
}

/// [`receipts_required_since`] of a value: exactly a ledger timestamp
/// (`2026-12-07T00:00:00.000Z`, the form entries' times are compared with as text), or blank.
fn required_since_from(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => ledger::entry::parse_at(text)
            .map(|at| Some(ledger::entry::format_at(&at)))
            .ok_or_else(|| ConfigError::Invalid {
                name: "RECEIPTS_REQUIRED_SINCE",
                problem: "not a time like 2026-12-07T00:00:00.000Z".into(),
            }),
    }
}

/// The App of a Lambda function, from its environment:
/// `TABLE_PREFIX` (required), `PARTNER_CLAIM` (default `partner_id`), `PARTNER_AUDIENCE` and
/// `VENDOR_AUDIENCE` (required: the audiences of partners' and of vendor staff tokens), `DYNAMODB_ENDPOINT` (optional); for
/// `list-requests` `CURSOR_KEY` or `CURSOR_KEY_PARAMETER`; for the writers `RECEIPT_KEY` or
/// `RECEIPT_KEY_PARAMETER`, and `LEDGER_LOG_NAME`; for `list-requests` and the sweep
/// `ENTRY_TILE_BUCKET` (and `S3_ENDPOINT`, optional: an S3-compatible server);
/// `LEDGERDESK_TLS_ROOTS` (optional: `amazon`, the default, or `system`; see `store::trust`). The secrets are fetched concurrently with
/// each other and with making the client; the policy is parsed meanwhile on another thread;
/// the receipt key from Parameter Store is not waited for at all (the first write awaits it).
pub async fn app_from_env(needs: Needs) -> Result<(App, store::AwsConfig), ConfigError> {
    let tables = TableNames::with_prefix(&var("TABLE_PREFIX")?);
    let identity = IdentityConfig::new(
        optional("PARTNER_CLAIM").unwrap_or_else(|| "partner_id".into()),
        var("PARTNER_AUDIENCE")?,
        var("VENDOR_AUDIENCE")?,
    );
    let log = if needs.receipts { Some(log_name()?) } else { None };
    let witnesses = if needs.witnesses { witnesses_from_env()? } else { None };
    let receipt_check = if needs.receipt_check {
        Some(receipt_check_from_env()?)
    } else {
        None
    };
    // Read with the other variables, so that a missing one fails before any AWS set-up.
    let tile_bucket = if needs.entry_tiles {
        Some((var("ENTRY_TILE_BUCKET")?, optional("S3_ENDPOINT")))
    } else {
        None
    };
    let roots = store::TrustRoots::from_env().map_err(|problem| ConfigError::Invalid {
        name: store::trust::TLS_ROOTS_VAR,
        problem,
    })?;
    // Cold start is on the request path: the policy is parsed on a thread of its own while
    // the AWS configuration loads, and the keys are fetched on tasks of their own, so each
    // waits only for the slowest, not for the sum.
    let policy = tokio::task::spawn_blocking(SupportPolicy::embedded);
    let config = store::aws_config(roots).await;
    let cursor = needs.cursor_key.then(|| {
        let config = config.clone();
        tokio::spawn(async move { secret(&config, "CURSOR_KEY", "CURSOR_KEY_PARAMETER").await })
    });
    let webhook_key = needs.webhook_key.then(|| {
        let config = config.clone();
        tokio::spawn(async move { secret(&config, "WEBHOOK_KEY", "WEBHOOK_KEY_PARAMETER").await })
    });
    // The receipt key: given (local, tests), or read from Parameter Store without holding up
    // the start — the first write awaits it (receipts::Receipts).
    enum ReceiptKey {
        Given(String),
        Parameter(String),
    }
    let receipt_key = match (needs.receipts, optional("RECEIPT_KEY")) {
        (false, _) => None,
        (true, Some(text)) => Some(ReceiptKey::Given(text)),
        (true, None) => Some(ReceiptKey::Parameter(var("RECEIPT_KEY_PARAMETER")?)),
    };
    let client = match optional("DYNAMODB_ENDPOINT") {
        // The loaded configuration has what a client needs: only the endpoint changes.
        Some(endpoint) if config.region().is_some() && std::env::var_os("AWS_ACCESS_KEY_ID").is_some() => {
            store::dynamodb_with_endpoint(&config, &endpoint)
        }
        Some(endpoint) => {
            let region = config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "eu-central-1".into());
            store::dynamodb_at(&endpoint, &region).await
        }
        None => store::dynamodb(&config),
    };
    let joined = |problem: tokio::task::JoinError| ConfigError::Invalid {
        name: "cold start",
        problem: problem.to_string(),
    };
    let policy = policy.await.map_err(joined)?.map_err(|e| ConfigError::Invalid {
        name: "support policy",
        problem: e.to_string(),
    });
    let cursor = match cursor {
        Some(task) => Some(task.await.map_err(joined)??),
        None => None,
    };
    let mut store = Store::new(client, tables);
    store.set_receipts_required_since(receipts_required_since()?);
    if let Some(check) = &receipt_check {
        // The sweep checks every kept receipt before it signs; with the published keys, so
        // no key fetch can skip the check.
        store.set_receipt_verifier(check.keys.clone(), check.log.clone());
    }
    if let Some(witnesses) = witnesses {
        store = store.with_witnesses(witnesses);
    }
    if let Some((bucket, endpoint)) = tile_bucket {
        let client = store::s3(&config, endpoint.as_deref());
        store = store.with_entry_tiles(store::EntryTileBucket::new(client, bucket));
    }
    if let Some(key) = cursor {
        store = store.with_cursor_key(CursorKey::from_base64(&key).map_err(|e| ConfigError::Invalid {
            name: "CURSOR_KEY",
            problem: e.to_string(),
        })?);
    }
    let mut app = App::new(store, policy?, identity);
    if let Some(task) = webhook_key {
        let text = task.await.map_err(joined)??;
        let key = webhooks::SealKey::from_base64(&text).map_err(|e| ConfigError::Invalid {
            name: "WEBHOOK_KEY",
            problem: e.to_string(),
        })?;
        // In AWS, only `https` to public addresses (the local run builds its App itself).
        app = app.with_webhooks(crate::webhooks_api::WebhookConfig {
            key,
            mode: webhooks::Mode::Aws,
            receipts: receipt_check,
        });
    }
    match (receipt_key, log) {
        (Some(ReceiptKey::Given(text)), Some(log)) => {
            let key = SignerKey::parse(&text).map_err(|e| ConfigError::Invalid {
                name: "RECEIPT_KEY",
                problem: e.to_string(),
            })?;
            app = app.with_receipts(ReceiptSigner { key, log });
        }
        (Some(ReceiptKey::Parameter(parameter)), Some(log)) => {
            let config = config.clone();
            app.set_receipts(Receipts::fetching(Box::new(move || {
                let (config, parameter, log) = (config.clone(), parameter.clone(), log.clone());
                Box::pin(async move {
                    let text = parameter_value(&config, &parameter)
                        .await
                        .map_err(|e| format!("RECEIPT_KEY_PARAMETER {parameter}: {e}"))?;
                    let key = SignerKey::parse(&text).map_err(|e| format!("RECEIPT_KEY_PARAMETER {parameter}: {e}"))?;
                    Ok(ReceiptSigner { key, log })
                })
            })));
        }
        _ => {}
    }
    Ok((app, config))
}

/// The sweep's signing configuration: `SIGNING_KEY` or `SIGNING_KEY_PARAMETER` (a `ledger
/// keygen` private key), and `LEDGER_LOG_NAME`.
pub async fn signing_from_env(config: &store::AwsConfig) -> Result<Signing, ConfigError> {
    let text = secret(config, "SIGNING_KEY", "SIGNING_KEY_PARAMETER").await?;
    let key = SignerKey::parse(&text).map_err(|e| ConfigError::Invalid {
        name: "SIGNING_KEY",
        problem: e.to_string(),
    })?;
    Ok(Signing { key, log: log_name()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_public_keys_are_one_or_more_published_keys() {
        let current = ledger::SignerKey::from_seed("receipts", [1; 32]).unwrap().verifier();
        let previous = ledger::SignerKey::from_seed("receipts", [2; 32]).unwrap().verifier();
        let (a, b) = (current.to_string(), previous.to_string());
        let note = |key: u8| {
            let signer = ledger::SignerKey::from_seed("receipts", [key; 32]).unwrap();
            signer.sign_note("ledgerdesk.test/p\n1\n")
        };
        for text in [a.clone(), format!("{a},{b}"), format!(" {a} , {b}\n")] {
            let keys = receipt_public_keys(&text).unwrap();
            assert!(keys.open_note(&note(1)).is_ok(), "{text:?}");
            assert_eq!(keys.open_note(&note(2)).is_ok(), text.contains(&b), "{text:?}");
        }
        assert!(receipt_public_keys(&a).unwrap().open_note(&note(3)).is_err());
        for bad in ["", " , ", "not-a-key", &format!("{a},garbage")] {
            assert!(
                matches!(
                    receipt_public_keys(bad),
                    Err(ConfigError::Invalid {
                        name: "RECEIPT_PUBLIC_KEY",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn receipts_required_since_is_blank_or_exactly_a_ledger_timestamp() {
        assert_eq!(required_since_from(None).unwrap(), None);
        assert_eq!(required_since_from(Some("  ")).unwrap(), None);
        assert_eq!(
            required_since_from(Some(" 2026-12-08T00:00:00.000Z\n"))
                .unwrap()
                .as_deref(),
            Some("2026-12-08T00:00:00.000Z")
        );
        // Entries' times are compared with it as text: another form would compare wrongly.
        for bad in [
            "2026-12-08",
            "2026-12-08T00:00:00Z",
            "2026-12-08T00:00:00.000+01:00",
            "tomorrow",
        ] {
            assert!(
                matches!(
                    required_since_from(Some(bad)),
                    Err(ConfigError::Invalid {
                        name: "RECEIPTS_REQUIRED_SINCE",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }
}
