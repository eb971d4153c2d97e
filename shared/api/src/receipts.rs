//! The signed receipt every write returns (the ledger's FORMAT.md §10): the log promises the
//! entry is at this position and that a checkpoint covering it will be signed within the
//! maximum merge delay. Signed with the receipt key, never the checkpoint key.

use ledger::{ChainId, LogName, Receipt, ReceiptDocument, SignerKey};
use store::Appended;

use crate::problem::ApiError;

/// The writer functions' receipt key and the deployment's log name.
#[derive(Debug)]
pub struct ReceiptSigner {
    pub key: SignerKey,
    pub log: LogName,
}

impl ReceiptSigner {
    /// The receipt for an appended entry (deterministic: a replay gets the same bytes).
    pub fn receipt(&self, appended: &Appended) -> Result<ReceiptDocument, ApiError> {
        let chain: &ChainId = &appended.chain;
        let receipt = Receipt::new(&self.log, chain, appended.seq, appended.entry_hash, &appended.at).map_err(|e| {
            tracing::error!(error = %e, "cannot make a receipt");
            ApiError::Internal
        })?;
        Ok(ReceiptDocument::new(&receipt, &self.key))
    }
}

/// Add the receipt for `appended` to a response body (when this function signs receipts).
pub fn attach(
    signer: Option<&ReceiptSigner>,
    mut body: serde_json::Value,
    appended: &Appended,
) -> Result<serde_json::Value, ApiError> {
    if let (Some(signer), Some(object)) = (signer, body.as_object_mut()) {
        let receipt = serde_json::to_value(signer.receipt(appended)?).map_err(|_| ApiError::Internal)?;
        object.insert("receipt".into(), receipt);
    }
    Ok(body)
}
