//! The signed receipt every write returns (the ledger's FORMAT.md §10): the log promises the
//! entry is at this position and that a checkpoint covering it will be signed within the
//! maximum merge delay. Signed with the receipt key, never the checkpoint key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use ledger::{ChainId, LogName, Receipt, ReceiptDocument, SignerKey};
use store::Appended;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

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

/// Reads the receipt key (from Parameter Store): a description of what failed, never the key.
pub type FetchSigner =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<ReceiptSigner, String>> + Send>> + Send + Sync>;

/// A function's receipt signer: none (it does not write), given at start (the local run and
/// the tests), or **being fetched**: a Lambda starts reading the key at cold start and polls
/// for its first event without waiting for it; the first write that signs awaits it —
/// before it writes anything, so a key that cannot be read makes that write a 503 with
/// nothing written, and the next write reads it again.
#[derive(Default)]
pub struct Receipts {
    signer: OnceCell<ReceiptSigner>,
    fetch: Option<Fetch>,
}

struct Fetch {
    first: Mutex<Option<JoinHandle<Result<ReceiptSigner, String>>>>,
    again: FetchSigner,
}

impl std::fmt::Debug for Receipts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipts")
            .field("ready", &self.signer.initialized())
            .field("fetched", &self.fetch.is_some())
            .finish()
    }
}

impl Receipts {
    /// This signer, ready.
    pub fn ready(signer: ReceiptSigner) -> Self {
        Self {
            signer: OnceCell::new_with(Some(signer)),
            fetch: None,
        }
    }

    /// Start `fetch` now (on a task of its own); ask again with it after a failure.
    pub fn fetching(fetch: FetchSigner) -> Self {
        let first = tokio::spawn(fetch());
        Self {
            signer: OnceCell::new(),
            fetch: Some(Fetch {
                first: Mutex::new(Some(first)),
                again: fetch,
            }),
        }
    }

    /// The signer, if this function signs receipts: call it before writing.
    pub async fn signer(&self) -> Result<Option<&ReceiptSigner>, ApiError> {
        if let Some(signer) = self.signer.get() {
            return Ok(Some(signer));
        }
        let Some(fetch) = &self.fetch else {
            return Ok(None);
        };
        self.signer
            .get_or_try_init(|| async {
                let first = fetch.first.lock().map(|mut f| f.take()).unwrap_or(None);
                let fetched = match first {
                    Some(task) => task.await.unwrap_or_else(|e| Err(e.to_string())),
                    None => (fetch.again)().await,
                };
                fetched.map_err(|problem| {
                    tracing::error!(problem, "cannot read the receipt key; the write is refused (503)");
                    ApiError::Unavailable
                })
            })
            .await
            .map(Some)
    }
}

/// The store keeps the receipt of every entry it appends (FORMAT.md §10.2), signed by this
/// same key, so what a write returns is what the ledger keeps. The key must be at hand —
/// every writer awaits [`Receipts::signer`] before it writes — or the write is refused.
impl store::ReceiptStamp for Receipts {
    fn stamp(&self, appended: &Appended) -> Result<Option<String>, store::StoreError> {
        let signer = match (self.signer.get(), &self.fetch) {
            (Some(signer), _) => signer,
            (None, None) => return Ok(None),
            (None, Some(_)) => {
                return Err(store::StoreError::Unavailable(
                    "the receipt key has not been read; no entry is written without its receipt".into(),
                ));
            }
        };
        let receipt = signer
            .receipt(appended)
            .map_err(|_| store::StoreError::Internal("cannot sign a receipt".into()))?;
        Ok(Some(receipt.note))
    }
}

/// Add the receipt kept with `appended`'s entry to a response body (when this function signs
/// receipts): the note the store kept, confirmed to be this key's over this entry. One that
/// is not is an integrity alarm (a 500, nothing more written); an entry kept without one
/// (before receipts were kept: the store refuses any later one) is answered without one — a
/// receipt is never signed for what the table says afterwards.
pub fn attach(
    signer: Option<&ReceiptSigner>,
    mut body: serde_json::Value,
    appended: &Appended,
) -> Result<serde_json::Value, ApiError> {
    if let (Some(receipt), Some(object)) = (confirmed(signer, appended)?, body.as_object_mut()) {
        let receipt = serde_json::to_value(receipt).map_err(|_| ApiError::Internal)?;
        object.insert("receipt".into(), receipt);
    }
    Ok(body)
}

/// The receipt kept with `appended`'s entry, confirmed as [`attach`] does: verified with the
/// receipt key's public half, for this log, and naming this entry. Nothing is signed here.
pub fn confirmed(signer: Option<&ReceiptSigner>, appended: &Appended) -> Result<Option<ReceiptDocument>, ApiError> {
    let (Some(signer), Some(kept)) = (signer, appended.receipt.as_deref()) else {
        return Ok(None);
    };
    let keys = ledger::TrustedKeys::new([signer.key.verifier()]);
    let said = Receipt::open(kept, &keys, &signer.log).ok().filter(|said| {
        said.names(
            appended.chain.as_str(),
            appended.seq,
            &appended.entry_hash,
            &appended.at,
        )
    });
    let Some(said) = said else {
        tracing::error!(
            integrity_alarm = "ledger",
            chain = %appended.chain,
            seq = appended.seq,
            "the receipt kept with the entry is not the receipt key's for it"
        );
        return Err(ApiError::Internal);
    };
    Ok(Some(ReceiptDocument::with_note(&said, kept.to_owned())))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn signer() -> ReceiptSigner {
        ReceiptSigner {
            key: SignerKey::from_seed("receipts", [3; 32]).expect("key"),
            log: LogName::parse("ledgerdesk.test").expect("log"),
        }
    }

    #[tokio::test]
    async fn a_failed_fetch_is_a_503_and_the_next_write_asks_again() {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let receipts = Receipts::fetching(Box::new(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    Err("AccessDeniedException".to_owned())
                } else {
                    Ok(signer())
                }
            })
        }));
        assert!(matches!(receipts.signer().await, Err(ApiError::Unavailable)));
        let first = receipts.signer().await.expect("fetched again").expect("a signer");
        assert_eq!(first.key.name(), "receipts");
        // Fetched once more, then kept.
        assert!(receipts.signer().await.expect("kept").is_some());
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn ready_and_none() {
        assert!(Receipts::ready(signer()).signer().await.expect("ready").is_some());
        assert!(Receipts::default().signer().await.expect("none").is_none());
    }

    fn appended() -> Appended {
        Appended {
            chain: ChainId::parse("contoso").unwrap(),
            seq: 4,
            entry_hash: ledger::Hash::digest(b"entry"),
            at: "2026-11-24T10:00:00.000Z".into(),
            receipt: None,
        }
    }

    /// The receipt the store keeps with an entry is the one the write answers with; a kept
    /// receipt that is not the key's for the entry is refused, and none kept answers none.
    #[tokio::test]
    async fn the_answer_carries_the_kept_receipt_once_confirmed() {
        use store::ReceiptStamp;
        let receipts = Receipts::ready(signer());
        let signer = receipts.signer().await.unwrap();
        let kept = receipts.stamp(&appended()).expect("signed").expect("a receipt");
        let with_kept = Appended {
            receipt: Some(kept.clone()),
            ..appended()
        };
        let answered = attach(signer, serde_json::json!({}), &with_kept).unwrap();
        assert_eq!(answered["receipt"]["note"], kept.as_str());
        assert_eq!(answered["receipt"]["seq"], 4);
        // Kept with another entry (seq 5), or by another key: refused.
        let other = receipts.stamp(&Appended { seq: 5, ..appended() }).unwrap().unwrap();
        let foreign = ReceiptSigner {
            key: SignerKey::from_seed("receipts", [4; 32]).unwrap(),
            log: LogName::parse("ledgerdesk.test").unwrap(),
        };
        let forged = foreign.receipt(&appended()).unwrap().note;
        for note in [other, forged] {
            let moved = Appended {
                receipt: Some(note),
                ..appended()
            };
            assert!(matches!(
                attach(signer, serde_json::json!({}), &moved),
                Err(ApiError::Internal)
            ));
        }
        // None kept: no receipt in the answer, and none signed for it.
        let answered = attach(signer, serde_json::json!({}), &appended()).unwrap();
        assert!(answered.get("receipt").is_none());
        assert_eq!(
            Receipts::default().stamp(&appended()).expect("no key, no receipt"),
            None
        );
    }

    /// A writer whose key is still being read writes nothing: the store's stamp refuses
    /// rather than keep an entry without its receipt.
    #[tokio::test]
    async fn a_key_not_yet_read_refuses_the_stamp() {
        use store::ReceiptStamp;
        let receipts = Receipts::fetching(Box::new(|| {
            Box::pin(async {
                std::future::pending::<()>().await;
                Ok(signer())
            })
        }));
        assert!(matches!(
            receipts.stamp(&appended()),
            Err(store::StoreError::Unavailable(_))
        ));
    }
}
