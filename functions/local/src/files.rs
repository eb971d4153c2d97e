//! The local run's state directory (`.ledgerdesk/` by default): development secrets created
//! on first start, and the DynamoDB data file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The state directory's name.
pub const DATA_DIR: &str = ".ledgerdesk";

/// The default state directory: `.ledgerdesk` at the top of the ledgerdesk checkout `from` is
/// in (the nearest folder up with a `Cargo.toml` that declares a `[workspace]` and this
/// crate's `functions/local/`), so that a command run from `shared/` or `functions/` uses the
/// same secrets and keys as the server; `from` itself outside one. Another project's
/// workspace is not taken for ours.
pub fn default_data_dir(from: &Path) -> PathBuf {
    from.ancestors()
        .find(|dir| {
            dir.join("functions/local/Cargo.toml").is_file()
                && std::fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|manifest| manifest.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(from)
        .join(DATA_DIR)
}

pub const JWT_SECRET: &str = "jwt-secret";
pub const CURSOR_KEY: &str = "cursor-key";
/// The key that seals webhook signing secrets (32 bytes, base64).
pub const WEBHOOK_KEY: &str = "webhook-key";
/// The ledger signing key's name: files `ledgerdesk-local.key` / `ledgerdesk-local.pub`.
pub const SIGNING_KEY_NAME: &str = "ledgerdesk-local";
/// The receipt key's name (a different key: writers never hold the checkpoint key).
pub const RECEIPT_KEY_NAME: &str = "ledgerdesk-local-receipts";
pub const DATABASE: &str = "dynamodb.sqlite";
/// The embedded S3's root (its buckets are directories in it): the entry tiles.
pub const S3_DIR: &str = "s3";

/// The development secrets, created on first start and reused after.
#[derive(Debug)]
pub struct Secrets {
    pub jwt_secret: Vec<u8>,
    pub cursor_key: [u8; 32],
    pub webhook_key: [u8; 32],
    pub signing_key: ledger::SignerKey,
    pub public_key_path: PathBuf,
    pub receipt_key: ledger::SignerKey,
    pub receipt_public_key_path: PathBuf,
}

/// The local witness's key (`cargo run -p local -- --witness`): files `witness.key` / `witness.pub`.
pub const WITNESS_KEY_FILE: &str = "witness";
/// Its name, a schema-less URL as C2SP tlog-cosignature asks.
pub const WITNESS_KEY_NAME: &str = "ledgerdesk.local/witness";
/// Its state: the latest checkpoint it cosigned per origin.
pub const WITNESS_STATE_DIR: &str = "witness-state";

/// The local witness's key, created on first use.
pub fn witness_key(dir: &Path) -> anyhow::Result<(ledger::witness::CosignerKey, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let private = dir.join(format!("{WITNESS_KEY_FILE}.key"));
    let public = dir.join(format!("{WITNESS_KEY_FILE}.pub"));
    if !private.exists() {
        let key = ledger::witness::CosignerKey::generate(WITNESS_KEY_NAME).map_err(|e| anyhow::anyhow!("{e}"))?;
        write_private(&private, &format!("{}\n", key.to_text()))?;
    }
    let text = std::fs::read_to_string(&private)?;
    let key = ledger::witness::CosignerKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", private.display()))?;
    std::fs::write(&public, format!("{}\n", key.verifier()))?;
    Ok((key, public))
}

/// A key pair `<dir>/<name>.key` (0600) and `<dir>/<name>.pub`, created if missing.
fn key_pair(dir: &Path, name: &str) -> anyhow::Result<(ledger::SignerKey, PathBuf)> {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    if !private.exists() {
        let key = ledger::SignerKey::generate(name).map_err(|e| anyhow::anyhow!("{e}"))?;
        write_private(&private, &format!("{}\n", key.to_text()))?;
        std::fs::write(&public, format!("{}\n", key.verifier()))?;
    }
    let text = std::fs::read_to_string(&private)?;
    let key = ledger::SignerKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", private.display()))?;
    if !public.exists() {
        std::fs::write(&public, format!("{}\n", key.verifier()))?;
    }
    Ok((key, public))
}

/// Write `contents` to a new file readable only by its owner.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes
}

fn read_or_create_b64(path: &Path) -> anyhow::Result<[u8; 32]> {
    if !path.exists() {
        write_private(path, &format!("{}\n", B64.encode(random_32())))?;
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = B64
        .decode(text.trim())
        .with_context(|| format!("{} is not base64", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{} must hold 32 bytes", path.display()))
}

impl Secrets {
    /// Load the secrets from `dir`, creating `dir` and any missing secret.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let jwt_secret = read_or_create_b64(&dir.join(JWT_SECRET))?.to_vec();
        let cursor_key = read_or_create_b64(&dir.join(CURSOR_KEY))?;
        let webhook_key = read_or_create_b64(&dir.join(WEBHOOK_KEY))?;
        let (signing_key, public_key_path) = key_pair(dir, SIGNING_KEY_NAME)?;
        let (receipt_key, receipt_public_key_path) = key_pair(dir, RECEIPT_KEY_NAME)?;
        Ok(Self {
            jwt_secret,
            cursor_key,
            webhook_key,
            signing_key,
            public_key_path,
            receipt_key,
            receipt_public_key_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_data_dir_is_at_the_top_of_the_checkout() {
        let top = tempfile::tempdir().unwrap();
        std::fs::write(top.path().join("Cargo.toml"), "[workspace]\nmembers = [\"a/b\"]\n").unwrap();
        let inner = top.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(inner.join("Cargo.toml"), "[package]\nname = \"b\"\n").unwrap();
        // Another project's workspace is not ours: the folder itself.
        assert_eq!(default_data_dir(&inner), inner.join(DATA_DIR));
        let local = top.path().join("functions/local");
        std::fs::create_dir_all(&local).unwrap();
        std::fs::write(local.join("Cargo.toml"), "[package]\nname = \"local\"\n").unwrap();
        assert_eq!(default_data_dir(&inner), top.path().join(DATA_DIR));
        assert_eq!(default_data_dir(top.path()), top.path().join(DATA_DIR));
        // Outside a checkout: the folder itself.
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(default_data_dir(elsewhere.path()), elsewhere.path().join(DATA_DIR));
    }
}
