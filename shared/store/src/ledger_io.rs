//! The audit ledger beyond appends: the honest checkpoint signer, the tiles it keeps, and
//! the reads the parties' ledger API and the operator's export serve.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest};
use domain::Timestamp;
use futures::StreamExt;
use ledger::entry_tiles::ENTRY_TILE_WIDTH;
use ledger::merkle::{
    LeafIndex, ProveFrom, TreeSize, consistency_proof_from, inclusion_proof_from, leaf_hash, root_from,
};
use ledger::tiles::{Recorder, TileId, Tiles, right_edge};
use ledger::{ChainHead, ChainId, EntryRef, Frontier, Hash, LogName, SignedNote, SignerKey, TrustedKeys, Version};

use crate::Store;
use crate::error::{StoreError, sdk};
use crate::items::{self, LedgerItem, n, s};
use crate::schema::NEEDS_CHECKPOINT;

/// A ledger entry as the table holds it: the line as hashed, the request it is about, and the
/// receipt its writer signed and kept with it (FORMAT.md §10.2). Read from the table, none of
/// it is evidence until checked: the line against its chain, the receipt by its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub line: String,
    pub request: Option<domain::RequestId>,
    /// The receipt's signed note.
    pub receipt: Option<String>,
}

/// Chains signed at the same time.
const SIGN_CONCURRENCY: usize = 16;
/// Chains signed at the same time when witnesses are asked: most of a chain's time is then
/// spent waiting for their answers, not on the store (the sweep bench's witness section);
/// an eighth of the connections `ledger witness` serves at once (its MAX_CONNECTIONS; idle ones
/// give way to new ones), so one signer never fills it.
const WITNESSED_SIGN_CONCURRENCY: usize = 32;

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub chain: ChainId,
    pub size: u64,
    /// The signed note, as `ledger verify --checkpoint` reads it.
    pub note: String,
}

/// What the signer found wrong with a chain: nothing is signed for it, and the stack's alarm
/// is raised (the sweep logs `integrity_alarm`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrityAlarm {
    pub chain: String,
    pub problem: String,
}

/// What one signing run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignReport {
    pub signed: Vec<StoredCheckpoint>,
    pub alarms: Vec<IntegrityAlarm>,
    /// Checkpoints signed without the quorum of witness cosignatures (FORMAT.md §17): kept
    /// and served, never as witnessed (the stack's alarm fires).
    pub unwitnessed: Vec<Unwitnessed>,
}

/// A checkpoint the witnesses did not cosign enough: which, who did, and why the others not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unwitnessed {
    pub chain: String,
    pub size: u64,
    pub cosigned_by: Vec<String>,
    pub refused: Vec<String>,
}

/// The signer's own record of a chain as of its last checkpoint: what the next checkpoint
/// must extend. Stored with that checkpoint, never taken from the chain head.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SignerState {
    size: u64,
    last_hash: Hash,
    last_at: String,
    version: Version,
    frontier: Frontier,
}

impl SignerState {
    fn genesis() -> Self {
        Self {
            size: 0,
            last_hash: ledger::entry::GENESIS_PREV,
            last_at: String::new(),
            version: Version::V1,
            frontier: Frontier::new(),
        }
    }

    fn from_signed(signed: ledger::signer_state::SignerState) -> Self {
        match signed.last {
            Some(last) => Self {
                size: signed.frontier.size(),
                last_hash: last.hash,
                last_at: last.at,
                version: last.version,
                frontier: signed.frontier,
            },
            None => Self::genesis(),
        }
    }

    /// This state, to be signed.
    fn signed(&self, chain: &ChainId, log: &LogName) -> ledger::signer_state::SignerState {
        ledger::signer_state::SignerState {
            origin: log.origin(chain),
            chain: chain.clone(),
            frontier: self.frontier.clone(),
            last: (self.size > 0).then(|| ledger::signer_state::LastEntry {
                hash: self.last_hash,
                at: self.last_at.clone(),
                version: self.version,
            }),
        }
    }
}

enum Signed {
    Nothing,
    Checkpoint(StoredCheckpoint, Option<Unwitnessed>),
    Alarm(IntegrityAlarm),
}

fn tile_key(id: TileId) -> String {
    format!("{:02}/{:016x}", id.level, id.index)
}

/// How long a link to an entry tile ([`Store::entry_tile_url`]) is valid: long enough to
/// follow at once, short enough that a link handed on is soon worthless.
pub const ENTRY_TILE_LINK_SECS: u64 = 300;

/// The object that holds entry tile `index` of `chain`.
fn entry_tile_object(chain: &ChainId, index: u64) -> String {
    format!("entry-tiles/{}/{index}", chain.as_str())
}

/// What the signer's copies of a chain say, listed from the table's latest size on.
#[derive(Debug, Default)]
struct SignedCopies {
    /// A copy of the latest row's checkpoint is there.
    at_size: bool,
    /// The largest copy after it (without a size: the largest of all), if any.
    newest: Option<u64>,
}

/// How the signer resumes a chain.
enum Resume {
    /// From this state; with the (size, root) of a checkpoint the entries must reach, when
    /// the state was not signed (rows from before).
    From(SignerState, Option<(u64, Hash)>),
    /// The stored state is not the signer's own: alarm, nothing signed.
    Alarm(String),
}

/// A signed checkpoint and the signed state kept with it, both checked against the signer's
/// own key, of `chain` at `size`, and each other.
fn open_signed(
    note: &str,
    signed_state: &str,
    mine: &TrustedKeys,
    log: &LogName,
    chain: &ChainId,
    size: u64,
) -> Result<ledger::signer_state::SignerState, String> {
    let (checkpoint, _) = ledger::Checkpoint::open_pinned(note, mine, log)
        .map_err(|e| format!("its checkpoint does not open with the signer's key: {e}"))?;
    let state = ledger::signer_state::SignerState::open(signed_state, mine, log, chain)
        .map_err(|e| format!("its state is not one the signer signed: {e}"))?;
    if checkpoint.chain().as_ref() != Some(chain)
        || checkpoint.size != size
        || state.size() != size
        || state.root() != checkpoint.root
    {
        return Err(format!(
            "its checkpoint and state do not describe one tree of size {size} (state: size {}, root {})",
            state.size(),
            state.root().to_base64()
        ));
    }
    Ok(state)
}

/// Where the signer keeps its copies of `chain`'s signed checkpoints and states.
fn signed_copy_prefix(chain: &ChainId) -> String {
    format!("checkpoints/{}/", chain.as_str())
}

/// The copy of `chain`'s checkpoint of `size` (zero-padded: keys sort by size).
fn signed_copy_object(chain: &ChainId, size: u64) -> String {
    format!("{}{size:020}", signed_copy_prefix(chain))
}

fn parse_tile_key(text: &str) -> Option<TileId> {
    let (level, index) = text.split_once('/')?;
    Some(TileId {
        level: level.parse().ok()?,
        index: u64::from_str_radix(index, 16).ok()?,
    })
}

impl Store {
    /// Every chain's stored head (one per partner that has ever written).
    pub async fn chain_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        let mut heads = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            self.count_round_trip();
            let out = self
                .client
                .scan()
                .table_name(&self.tables.chain_heads)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                heads.push(items::head_from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        heads.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(heads)
    }

    /// Stream `chain`'s entries `0 … up_to − 1` (all of them without `up_to`) in `seq` order
    /// to `sink`, page by page; returns how many.
    pub async fn export_chain<E>(
        &self,
        chain: &ChainId,
        up_to: Option<u64>,
        mut sink: impl FnMut(&str) -> Result<(), E>,
    ) -> Result<u64, ExportError<E>> {
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .expression_attribute_values(":chain", s(chain.as_str()))
            .scan_index_forward(true)
            .consistent_read(true);
        query = match up_to {
            Some(0) => return Ok(0),
            Some(size) => query
                .key_condition_expression("chain = :chain AND seq < :end")
                .expression_attribute_values(":end", n(size)),
            None => query.key_condition_expression("chain = :chain"),
        };
        let mut count = 0;
        self.query_all(query, |item| {
            let entry: LedgerItem =
                serde_dynamo::from_item(item).map_err(|e| ExportError::Store(StoreError::internal(e)))?;
            sink(&entry.line).map_err(ExportError::Sink)?;
            count += 1;
            Ok::<_, ExportError<E>>(())
        })
        .await?;
        Ok(count)
    }

    /// Entries `start … start + limit − 1` of `chain` (fewer at the end), as stored.
    pub async fn entries(&self, chain: &ChainId, start: u64, limit: u64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .stored_entries(chain, start, limit)
            .await?
            .into_iter()
            .map(|entry| entry.line)
            .collect())
    }

    /// [`entries`](Self::entries), each with the request it is about (if any) and the receipt
    /// kept with it (if any).
    pub async fn stored_entries(
        &self,
        chain: &ChainId,
        start: u64,
        limit: u64,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let query = self
            .client
            .query()
            .table_name(&self.tables.ledger)
            .key_condition_expression("chain = :chain AND seq BETWEEN :from AND :to")
            .expression_attribute_values(":chain", s(chain.as_str()))
            .expression_attribute_values(":from", n(start))
            .expression_attribute_values(":to", n(start.saturating_add(limit - 1)))
            .scan_index_forward(true)
            .consistent_read(true);
        let mut entries = Vec::new();
        self.query_all(query, |item| {
            let entry: LedgerItem = serde_dynamo::from_item(item).map_err(StoreError::internal)?;
            // The index key is `<partner>#<request id>`.
            let request = entry
                .rid
                .as_deref()
                .and_then(|rid| rid.rsplit_once('#'))
                .and_then(|(_, id)| domain::RequestId::parse(id).ok());
            entries.push(StoredEntry {
                line: entry.line,
                request,
                receipt: entry.receipt,
            });
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(entries)
    }

    /// `chain`'s signed checkpoints, oldest first.
    pub async fn checkpoints(&self, chain: &ChainId) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut found = Vec::new();
        self.query_all(self.checkpoint_query(chain, true), |item| {
            found.push(checkpoint_from_item(chain, &item)?);
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(found)
    }

    /// `chain`'s latest signed checkpoint.
    pub async fn latest_checkpoint(&self, chain: &ChainId) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.latest_checkpoint_item(chain)
            .await?
            .map(|item| checkpoint_from_item(chain, &item))
            .transpose()
    }

    /// `chain`'s signed checkpoint of `size`, if one was signed at that size.
    pub async fn checkpoint_at(&self, chain: &ChainId, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.checkpoints)
            .key("chain", s(chain.as_str()))
            .key("size", items::n(size))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item.map(|item| checkpoint_from_item(chain, &item)).transpose()
    }

    async fn latest_checkpoint_item(&self, chain: &ChainId) -> Result<Option<items::Item>, StoreError> {
        self.count_round_trip();
        let out = self
            .checkpoint_query(chain, false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.items.unwrap_or_default().into_iter().next())
    }

    fn checkpoint_query(
        &self,
        chain: &ChainId,
        ascending: bool,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.checkpoints)
            .key_condition_expression("chain = :chain")
            .expression_attribute_values(":chain", s(chain.as_str()))
            .scan_index_forward(ascending)
    }

    /// The chains with entries no checkpoint covers yet: the sparse needs-checkpoint index,
    /// one query per shard (O(chains that grew), not O(chains)).
    pub async fn grown_chains(&self) -> Result<Vec<ChainId>, StoreError> {
        let mut tasks = tokio::task::JoinSet::new();
        for shard in 0..items::SWEEP_SHARDS {
            let client = self.client.clone();
            let table = self.tables.chain_heads.clone();
            tasks.spawn(async move {
                let mut chains = Vec::new();
                let mut start = None;
                let mut requests = 0u64;
                loop {
                    requests += 1;
                    let out = client
                        .query()
                        .table_name(&table)
                        .index_name(NEEDS_CHECKPOINT)
                        .key_condition_expression("ckpt_shard = :shard")
                        .expression_attribute_values(":shard", s(format!("{shard:02}")))
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .map_err(sdk)?;
                    for item in out.items.unwrap_or_default() {
                        chains.push(items::text(&item, "chain")?.to_owned());
                    }
                    match out.last_evaluated_key {
                        Some(key) if !key.is_empty() => start = Some(key),
                        _ => return Ok::<_, StoreError>((chains, requests)),
                    }
                }
            });
        }
        let mut chains = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (found, requests) = joined.map_err(StoreError::internal)??;
            for _ in 0..requests {
                self.count_round_trip();
            }
            for chain in found {
                chains.push(ChainId::parse(&chain).map_err(StoreError::internal)?);
            }
        }
        chains.sort();
        Ok(chains)
    }

    /// The honest signer: for every chain that grew, read the entries since the last
    /// checkpoint it signed, check them (strict parse, hash, link, seq, time) against its
    /// own stored state, extend its frontier and tiles, and sign what it computed. A chain
    /// head that disagrees with the entries, or entries that do not extend the signed state,
    /// raise an integrity alarm and nothing is signed for that chain. Cost O(new entries).
    /// Safe to run concurrently: a checkpoint of a size already stored is not written twice.
    pub async fn sign_grown_chains(
        &self,
        key: &SignerKey,
        log: &LogName,
        now: Timestamp,
    ) -> Result<SignReport, StoreError> {
        let chains = self.grown_chains().await?;
        let mut report = SignReport::default();
        let concurrency = if self.witnesses.is_some() {
            WITNESSED_SIGN_CONCURRENCY
        } else {
            SIGN_CONCURRENCY
        };
        let mut results = futures::stream::iter(chains)
            .map(|chain| async move {
                let outcome = self.sign_chain(&chain, key, log, now).await;
                (chain, outcome)
            })
            .buffer_unordered(concurrency);
        while let Some((chain, outcome)) = results.next().await {
            match outcome {
                Ok(Signed::Checkpoint(c, unwitnessed)) => {
                    if let Some(u) = unwitnessed {
                        tracing::error!(
                            witness_alarm = "unwitnessed",
                            chain = %u.chain,
                            size = u.size,
                            cosigned_by = ?u.cosigned_by,
                            refused = ?u.refused,
                            "checkpoint signed without the witnesses' quorum: served, never as witnessed"
                        );
                        report.unwitnessed.push(u);
                    }
                    report.signed.push(c);
                }
                Ok(Signed::Alarm(alarm)) => {
                    tracing::error!(
                        integrity_alarm = "ledger",
                        chain = %alarm.chain,
                        problem = %alarm.problem,
                        "ledger integrity alarm: nothing signed for this chain"
                    );
                    report.alarms.push(alarm);
                }
                Ok(Signed::Nothing) => {}
                Err(e) if e.is_retryable() => {
                    tracing::warn!(chain = %chain, error = %e, "could not sign a checkpoint now; the next run retries");
                }
                Err(e) => return Err(e),
            }
        }
        report.signed.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(report)
    }

    /// What the signer resumes `chain` from: its own signed state, verified (FORMAT.md §6.1),
    /// never the table's columns on their word. Its memory is first its copies in the tile
    /// bucket (written before each row, and kept there for good): the newest copy at or after
    /// the table's latest row is resumed from — a row deleted, rolled back or stripped of its
    /// state is restored from it, and a rewrite after it then fails the entry checks. An alarm
    /// when what is stored cannot be the signer's own: a copy or state its key did not sign,
    /// a root that is not its frontier's, a row with a signed state but no copy, anything
    /// under the copies' prefix that is no copy.
    async fn signer_state(
        &self,
        chain: &ChainId,
        key: &SignerKey,
        log: &LogName,
        now: Timestamp,
    ) -> Result<Resume, StoreError> {
        let row = self.latest_checkpoint_item(chain).await?;
        let row_size = row.as_ref().map(|item| items::number(item, "size")).transpose()?;
        let copies = match self.signed_copies_from(chain, row_size).await? {
            Ok(copies) => copies,
            Err(problem) => return Ok(Resume::Alarm(problem)),
        };
        let mine = TrustedKeys::new([key.verifier()]);
        if let Some(size) = copies.newest.or(copies.at_size.then_some(row_size).flatten()) {
            let (note, signed) = match self.read_signed_copy(chain, size).await? {
                Some(copy) => copy,
                None => {
                    return Ok(Resume::Alarm(format!(
                        "the signer's copy of size {size} cannot be read"
                    )));
                }
            };
            let state = match open_signed(&note, &signed, &mine, log, chain, size) {
                Ok(state) => state,
                Err(problem) => return Ok(Resume::Alarm(format!("the signer's copy of size {size}: {problem}"))),
            };
            if row_size != Some(size) {
                // The table lost (or never got) the row: put it back, as the signer signed it.
                tracing::warn!(chain = %chain, size, row = ?row_size, "the checkpoints table lacked the signer's latest checkpoint: restored from its copy");
                self.put_checkpoint_row(chain, size, &note, &signed, key, now).await?;
            }
            return Ok(Resume::From(SignerState::from_signed(state), None));
        }
        let Some(item) = row else {
            return Ok(Resume::From(SignerState::genesis(), None));
        };
        let size = items::number(&item, "size")?;
        let stored_root = items::text(&item, "root")?;
        let note = items::text(&item, "note")?;
        let checkpoint = match ledger::Checkpoint::open_pinned(note, &mine, log) {
            Ok((cp, _)) => cp,
            Err(e) => {
                return Ok(Resume::Alarm(format!(
                    "the stored checkpoint of size {size} does not open with the signer's key: {e}"
                )));
            }
        };
        if checkpoint.chain().as_ref() != Some(chain)
            || checkpoint.size != size
            || checkpoint.root.to_base64() != stored_root
        {
            return Ok(Resume::Alarm(format!(
                "the stored checkpoint row of size {size} does not match the note it holds (chain, size or root)"
            )));
        }
        match item.get("state") {
            Some(AttributeValue::S(signed)) => {
                if self.entry_tiles.is_some() {
                    // Every signed state is kept in the bucket before its row is written.
                    return Ok(Resume::Alarm(format!(
                        "the signer's copy of its checkpoint of size {size} is missing from the tile bucket"
                    )));
                }
                match open_signed(note, signed, &mine, log, chain, size) {
                    Ok(state) => Ok(Resume::From(SignerState::from_signed(state), None)),
                    Err(problem) => Ok(Resume::Alarm(format!("the stored state at size {size}: {problem}"))),
                }
            }
            Some(_) => Ok(Resume::Alarm(format!(
                "the signer's stored state at size {size} is not a signed note"
            ))),
            // A row written before states were signed: the checkpoint's signature holds, so
            // its root does; everything else is re-derived from the entries. Unless the signer
            // kept a signed state of this chain before (its copies were listed above only from
            // this row's size on): then the row's state was stripped and a copy removed.
            None => match self.signed_copies_from(chain, None).await? {
                Err(problem) => Ok(Resume::Alarm(problem)),
                Ok(all) if all.newest.is_some() => Ok(Resume::Alarm(format!(
                    "the stored checkpoint row of size {size} has no signed state, though the signer has kept signed states of this chain"
                ))),
                Ok(_) => self.legacy_state(chain, &item, &checkpoint, key, log).await,
            },
        }
    }

    /// The state of a checkpoint row from before the signer signed its states: its frontier
    /// column is believed only if it folds to the signed root, and the last entry only if it
    /// is proven to be leaf `size − 1` of the signed tree (an inclusion proof from the hash
    /// tiles, checked against that root). Without a frontier (older still), the next run starts
    /// from the first entry and checks that the signed root is on the way.
    async fn legacy_state(
        &self,
        chain: &ChainId,
        item: &items::Item,
        checkpoint: &ledger::Checkpoint,
        key: &SignerKey,
        log: &LogName,
    ) -> Result<Resume, StoreError> {
        let (size, root) = (checkpoint.size, checkpoint.root);
        let Some(AttributeValue::L(nodes)) = item.get("frontier") else {
            return Ok(Resume::From(SignerState::genesis(), Some((size, root))));
        };
        let nodes = nodes
            .iter()
            .map(|n| match n {
                AttributeValue::S(h) => Hash::from_hex(h),
                _ => None,
            })
            .collect::<Option<Vec<_>>>();
        let frontier = match nodes.and_then(|nodes| Frontier::from_parts(size, nodes).ok()) {
            Some(f) if f.root() == root => f,
            _ => {
                return Ok(Resume::Alarm(format!(
                    "the stored frontier at size {size} is not the frontier of the signed root"
                )));
            }
        };
        if size == 0 {
            return Ok(Resume::From(SignerState::genesis(), None));
        }
        let (lines, proof) = tokio::join!(
            self.entries(chain, size - 1, 1),
            self.inclusion_proof(chain, size - 1, size)
        );
        let lines = lines?;
        // Tiles that cannot give the proof are this chain's problem, not the whole run's.
        let proof = match proof {
            Ok(proof) => proof,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                return Ok(Resume::Alarm(format!(
                    "the last entry of the signed checkpoint of size {size} cannot be proven from the stored tiles: {}",
                    e.detail().unwrap_or("no proof")
                )));
            }
        };
        let last = lines.first().and_then(|line| {
            let entry = EntryRef::parse(line.as_bytes()).ok()?;
            let proven = entry.seq == size - 1
                && entry.computed_hash() == entry.hash
                && ledger::merkle::verify_inclusion(
                    LeafIndex(size - 1),
                    TreeSize(size),
                    leaf_hash(entry.hash.as_bytes()).as_bytes(),
                    &proof,
                    root.as_bytes(),
                )
                .is_ok();
            proven.then(|| (entry.hash, entry.at.to_owned(), entry.version))
        });
        let Some((last_hash, last_at, version)) = last else {
            return Ok(Resume::Alarm(format!(
                "entry seq {} is not proven to be the last entry of the signed checkpoint of size {size}: history was rewritten",
                size - 1
            )));
        };
        let state = SignerState {
            size,
            last_hash,
            last_at,
            version,
            frontier,
        };
        // Proven now: kept as the signer's own from here on (a later rollback of this row is
        // then resumed over, not believed).
        let note = items::text(item, "note")?;
        self.put_signed_copy(chain, size, note, &state.signed(chain, log).sign(key))
            .await?;
        Ok(Resume::From(state, None))
    }

    /// What is wrong with the receipt kept with `entry` (FORMAT.md §10.2), to a signer that
    /// checks them (with the published receipt keys): none where one must be, or one that does
    /// not verify for this log or names another entry. A checkpoint never covers an entry no
    /// writer appended. In a deployment upgraded to kept receipts, an entry stamped before the
    /// upgrade may have none, but only while the signer's clock (`now`) is within
    /// [`crate::RECEIPTS_UPGRADE_WINDOW_HOURS`] of it: the stamp is the entry's own, so later
    /// an operator could backdate entries onto a chain dormant since then.
    ///
    /// `signed`: the entry is below the size of a checkpoint this signer signed earlier (a
    /// resume from a row older than signed states re-reads the entries it covers, and checks
    /// that they hash to its root): an entry from before the upgrade it covers is not asked
    /// for a receipt, however late the signer reads it again.
    fn receipt_problem(
        &self,
        chain: &ChainId,
        entry: &EntryRef<'_>,
        kept: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
        signed: bool,
    ) -> Option<String> {
        let (keys, log) = self
            .receipt_verifier
            .as_ref()
            .filter(|_| self.signer_checks_receipts())?;
        let Some(note) = kept else {
            if self.kept_receipts_since(entry.at) {
                return Some(format!(
                    "entry seq {} has no kept receipt: no writer appended it",
                    entry.seq
                ));
            }
            // From before the upgrade: excused by a checkpoint signed earlier, or within the window.
            let excused = signed || self.signer_excuses_missing_receipt(entry.at, now);
            return (!excused).then(|| {
                format!(
                    "entry seq {} has no kept receipt and is stamped {}, before the upgrade to kept receipts, and the signer checks it more than {} h after the upgrade, not covered by a checkpoint it signed: no writer appended it (backdated)",
                    entry.seq,
                    entry.at,
                    crate::RECEIPTS_UPGRADE_WINDOW_HOURS
                )
            });
        };
        let verified = ledger::Receipt::open(note, keys, log)
            .is_ok_and(|said| said.names(chain.as_str(), entry.seq, &entry.hash, entry.at));
        (!verified).then(|| format!("entry seq {}'s kept receipt is not the receipt key's for it", entry.seq))
    }

    async fn sign_chain(
        &self,
        chain: &ChainId,
        key: &SignerKey,
        log: &LogName,
        now: Timestamp,
    ) -> Result<Signed, StoreError> {
        let alarm = |problem: String| {
            Ok(Signed::Alarm(IntegrityAlarm {
                chain: chain.to_string(),
                problem,
            }))
        };
        let (mut state, last_signed) = match self.signer_state(chain, key, log, now).await? {
            Resume::From(state, last_signed) => (state, last_signed),
            Resume::Alarm(problem) => return alarm(problem),
        };
        let signed_last_hash = state.last_hash;
        // The size each witness most likely cosigned last: the signer's previous checkpoint.
        let previous = state.size;
        let (head, _) = self.read_head_item(chain).await?;
        let head_at = head.last_at.map(|t| ledger::entry::format_at(&t)).unwrap_or_default();
        let latest = ledger::entry::latest_believable(&self.now(), ledger::entry::MAX_CLOCK_SKEW_SECONDS);
        let signed_size = last_signed.map_or(state.size, |(size, _)| size.max(state.size));
        if head.size < signed_size {
            return alarm(format!(
                "the chain head says {} entries, but a checkpoint of {signed_size} was signed: entries were removed or the head rewound",
                head.size
            ));
        }
        if head.size == state.size {
            if head.last_hash != state.last_hash || head.frontier != state.frontier || head_at != state.last_at {
                return alarm(format!(
                    "the chain head at size {} does not describe the entries the last checkpoint covers",
                    head.size
                ));
            }
            self.clear_marker(chain, head.size).await?;
            return Ok(Signed::Nothing);
        }
        // Read the new entries and check them one by one against the signer's own state.
        let stored = self.stored_entries(chain, state.size, head.size - state.size).await?;
        let (lines, receipts): (Vec<String>, Vec<Option<String>>) =
            stored.into_iter().map(|e| (e.line, e.receipt)).unzip();
        let mut leaves = Vec::with_capacity(lines.len());
        let mut checked_last_signed = false;
        for (i, line) in lines.iter().enumerate() {
            let expected = state.size;
            let entry = match EntryRef::parse(line.as_bytes()) {
                Ok(e) => e,
                Err(e) => return alarm(format!("entry seq {expected} is not a valid entry: {e}")),
            };
            let problem = if entry.chain != chain.as_str() {
                Some(format!("entry seq {expected} names chain {}", entry.chain))
            } else if entry.seq != expected {
                Some(format!(
                    "expected entry seq {expected}, the ledger holds seq {} (line {})",
                    entry.seq,
                    i + 1
                ))
            } else if entry.computed_hash() != entry.hash {
                Some(format!("entry seq {expected}'s bytes do not match its hash"))
            } else if entry.prev != state.last_hash {
                Some(format!(
                    "entry seq {expected} does not link to the entry the last checkpoint ends with: history before it was rewritten"
                ))
            } else if entry.version < state.version {
                Some(format!("entry seq {expected} goes back from v2 to v1"))
            } else if expected > 0 && entry.at < state.last_at.as_str() {
                Some(format!("entry seq {expected}'s time goes backwards"))
            } else if entry.at.as_bytes() > &latest[..] {
                Some(format!(
                    "entry seq {expected} is stamped {}, ahead of the signer's clock by more than {} s: a time from the future",
                    entry.at,
                    ledger::entry::MAX_CLOCK_SKEW_SECONDS
                ))
            } else {
                self.receipt_problem(
                    chain,
                    &entry,
                    receipts[i].as_deref(),
                    now.datetime(),
                    last_signed.is_some_and(|(size, _)| entry.seq < size),
                )
            };
            if let Some(problem) = problem {
                return alarm(problem);
            }
            let leaf = leaf_hash(entry.hash.as_bytes());
            state.frontier.push(leaf);
            leaves.push(leaf);
            state.last_hash = entry.hash;
            entry.at.clone_into(&mut state.last_at);
            state.version = entry.version;
            state.size += 1;
            if let Some((size, root)) = last_signed
                && !checked_last_signed
                && size == state.size
            {
                if state.frontier.root() != root {
                    return alarm(format!(
                        "the entries do not hash to the checkpoint of size {size} signed earlier: history was rewritten"
                    ));
                }
                checked_last_signed = true;
            }
        }
        if state.size != head.size {
            return alarm(format!(
                "the chain head says {} entries, the ledger holds {}",
                head.size, state.size
            ));
        }
        if let Some((size, _)) = last_signed
            && !checked_last_signed
        {
            return alarm(format!(
                "the ledger holds {} entries, fewer than the checkpoint of size {size} signed earlier: entries were removed",
                state.size
            ));
        }
        if state.last_hash != head.last_hash || state.frontier != head.frontier || state.last_at != head_at {
            return alarm("the chain head does not describe the entries it follows".into());
        }
        let start = state.size - leaves.len() as u64;
        // The entries a begun entry tile needs and the hash tiles' right edge, read together.
        let (entry_tiles, (hash_tiles, tree)) = tokio::try_join!(
            self.entry_tile_frames(chain, start, &lines, signed_last_hash),
            self.extend_tiles(chain, start, &leaves)
        )?;
        // The tiles read (the right edge: every stored hash the new tree is built on) must
        // give the tree the signer checked entry by entry; else they were altered, and
        // writing tiles over them would spoil the proofs served from them.
        if root_from(&mut &tree, TreeSize(state.size)).ok() != Some(state.frontier.root()) {
            return alarm(format!(
                "the stored hash tiles do not give the tree of the {} entries the signer checked: they were altered; nothing is written or signed",
                state.size
            ));
        }
        // The witnesses' consistency proof from the previous checkpoint, from the tiles at hand
        // (the right edge read and extended: every node the proof needs), so that it is not
        // read back once they are written. None if a node is missing: then it is read.
        let proof = (self.witnesses.is_some() && previous > 0 && previous < state.size)
            .then(|| consistency_proof_from(&mut &tree, TreeSize(previous), TreeSize(state.size)).ok())
            .flatten();
        let entry_tiles = match entry_tiles {
            Ok(frames) => frames,
            Err(problem) => return alarm(problem),
        };
        // Every tile is kept before the checkpoint that covers it is signed.
        tokio::try_join!(
            self.put_entry_tiles(chain, entry_tiles),
            self.batch_write(&self.tables.tiles, hash_tiles, "tile writes")
        )?;
        let note = head.sign_checkpoint(log.as_str(), key);
        // The witnesses' cosignatures, asked of all at once; kept with the note (FORMAT.md §17).
        let cosignatures = self.cosign(chain, &note, state.size, previous, proof).await;
        let unwitnessed = (self.witnesses.is_some() && !cosignatures.witnessed).then(|| Unwitnessed {
            chain: chain.to_string(),
            size: state.size,
            cosigned_by: cosignatures.by.clone(),
            refused: cosignatures
                .refused
                .iter()
                .map(|(witness, why)| format!("{witness}: {why}"))
                .collect(),
        });
        let note = ledger::witness::with_cosignatures(&note, &cosignatures.lines);
        // The signer's memory, signed with the checkpoint: the next run resumes only from a
        // state it can verify was its own (FORMAT.md §6.1). Its copy goes to the tile bucket
        // first, where the operator cannot take it back (the signer-only prefix, under Object
        // Lock in AWS): nothing is signed into the table that the signer has not kept itself.
        let signed_state = state.signed(chain, log).sign(key);
        self.put_signed_copy(chain, state.size, &note, &signed_state).await?;
        let signed = if self
            .put_checkpoint_row(chain, state.size, &note, &signed_state, key, now)
            .await?
        {
            Signed::Checkpoint(
                StoredCheckpoint {
                    chain: chain.clone(),
                    size: state.size,
                    note,
                },
                unwitnessed,
            )
        } else {
            // Another signer got there first with the same size (and the same root: its copy
            // and this one are of one state).
            Signed::Nothing
        };
        self.clear_marker(chain, state.size).await?;
        Ok(signed)
    }

    /// Write a checkpoint row (and the signer's signed state with it) in a one-item
    /// transaction: IAM lets writers put ledger and checkpoint items only inside
    /// transactions, which always carry their condition (no overwrite). `false` when a row of
    /// that size is there already.
    async fn put_checkpoint_row(
        &self,
        chain: &ChainId,
        size: u64,
        note: &str,
        signed_state: &str,
        key: &SignerKey,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let root = SignedNote::parse(note)
            .ok()
            .and_then(|n| ledger::Checkpoint::parse_text(n.text).ok())
            .map(|c| c.root.to_base64())
            .ok_or_else(|| StoreError::Internal("a checkpoint row for a note that is not a checkpoint".into()))?;
        let put = Put::builder()
            .table_name(&self.tables.checkpoints)
            .item("chain", s(chain.as_str()))
            .item("size", n(size))
            .item("root", s(root))
            .item("note", s(note))
            .item("signed_at", s(now.to_string()))
            .item("key", s(key.name()))
            .item("state", s(signed_state))
            .condition_expression("attribute_not_exists(#size)")
            .expression_attribute_names("#size", "size")
            .build()
            .map_err(StoreError::internal)?;
        self.count_round_trip();
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk(e)),
        }
    }

    /// Remove the needs-checkpoint marker if the chain has not grown past `size` meanwhile.
    async fn clear_marker(&self, chain: &ChainId, size: u64) -> Result<(), StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.chain_heads)
            .key("chain", s(chain.as_str()))
            .update_expression("REMOVE ckpt_shard")
            .condition_expression("#size = :size")
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":size", n(size))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk(e)),
        }
    }

    /// Read the tiles `ids` of `chain` (one `BatchGetItem` per 100).
    pub async fn tiles(&self, chain: &ChainId, ids: &BTreeSet<TileId>) -> Result<Tiles, StoreError> {
        let mut tiles = Tiles::new();
        let ids: Vec<TileId> = ids.iter().copied().collect();
        for batch in ids.chunks(100) {
            let keys = batch
                .iter()
                .map(|id| {
                    HashMap::from([
                        ("chain".to_owned(), s(chain.as_str())),
                        ("tile".to_owned(), s(tile_key(*id))),
                    ])
                })
                .collect::<Vec<_>>();
            let pending = HashMap::from([(
                self.tables.tiles.clone(),
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(StoreError::internal)?,
            )]);
            for item in self.batch_get_all(pending, "tile read").await?.into_values().flatten() {
                let id = parse_tile_key(items::text(&item, "tile")?)
                    .ok_or_else(|| StoreError::Internal("a tile with a bad key".into()))?;
                let bytes = match item.get("hashes") {
                    Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
                    _ => return Err(StoreError::Internal("a tile without hashes".into())),
                };
                let hashes = bytes.chunks(32).filter_map(Hash::from_slice).collect();
                tiles.insert(id, hashes);
            }
        }
        Ok(tiles)
    }

    /// Add `leaves` (positions `start …`) to `chain`'s tiles: read the right edge, extend;
    /// the writes of every tile that changed, and the tiles at hand after it (the right edge
    /// read, with every tile that changed as it now is).
    async fn extend_tiles(
        &self,
        chain: &ChainId,
        start: u64,
        leaves: &[ledger::Hash],
    ) -> Result<(Vec<WriteRequest>, Tiles), StoreError> {
        let edge: BTreeSet<TileId> = right_edge(start).into_iter().map(|(id, _)| id).collect();
        let have = if edge.is_empty() {
            Tiles::new()
        } else {
            self.tiles(chain, &edge).await?
        };
        let (have, leaves, start) = if edge.iter().all(|id| have.tiles.contains_key(id)) {
            (have, leaves.to_vec(), start)
        } else {
            // Tiles missing (a chain signed before tiles were kept): rebuild from the first entry.
            let mut all = Vec::new();
            let lines = self.entries(chain, 0, start).await?;
            for line in &lines {
                let entry = EntryRef::parse(line.as_bytes()).map_err(StoreError::internal)?;
                all.push(leaf_hash(entry.hash.as_bytes()));
            }
            all.extend_from_slice(leaves);
            (Tiles::new(), all, 0)
        };
        let changed = have.extend(start, &leaves).map_err(StoreError::internal)?;
        let writes = changed
            .tiles
            .iter()
            .map(|(id, hashes)| {
                let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
                PutRequest::builder()
                    .item("chain", s(chain.as_str()))
                    .item("tile", s(tile_key(*id)))
                    .item("hashes", AttributeValue::B(Blob::new(bytes)))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(StoreError::internal)
            })
            .collect::<Result<_, _>>()?;
        let mut tree = have;
        tree.tiles.extend(changed.tiles);
        Ok((writes, tree))
    }

    /// The entry tiles (FORMAT.md §11.1) that entries `start …` (`lines`, checked by the
    /// signer) complete: their indexes and zstd frames (none without a bucket). A tile that began before `start` also
    /// needs the entries before it, which the last checkpoint covers: they are read again and
    /// must still link, hash and end on the hash the signer recorded (`signed_last_hash`) — if
    /// not, history under a signed checkpoint was rewritten: `Err(problem)` for the alarm.
    async fn entry_tile_frames(
        &self,
        chain: &ChainId,
        start: u64,
        lines: &[String],
        signed_last_hash: Hash,
    ) -> Result<Result<Vec<(u64, Vec<u8>)>, String>, StoreError> {
        let end = start + lines.len() as u64;
        let tiles = ledger::entry_tiles::full_tiles_within(start - start % ENTRY_TILE_WIDTH, end);
        if tiles.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let first = tiles.start * ENTRY_TILE_WIDTH;
        let earlier = if first < start {
            let earlier = self.entries(chain, first, start - first).await?;
            if let Err(problem) = check_signed_run(chain, first, &earlier, signed_last_hash) {
                return Ok(Err(problem));
            }
            earlier
        } else {
            Vec::new()
        };
        if self.entry_tiles.is_none() {
            // Checked as above, but there is nowhere to keep them: no need to compress.
            return Ok(Ok(Vec::new()));
        }
        let all = earlier.iter().chain(lines).collect::<Vec<_>>();
        let width = ENTRY_TILE_WIDTH as usize;
        let mut content = Vec::new();
        let mut frames = Vec::new();
        for (index, run) in tiles.zip(all.chunks(width)) {
            content.clear();
            for line in run {
                content.extend_from_slice(line.as_bytes());
                content.push(b'\n');
            }
            frames.push((
                index,
                ledger::entry_tiles::encode(&content).map_err(StoreError::internal)?,
            ));
        }
        Ok(Ok(frames))
    }

    /// Store entry tiles in the tile bucket (a few at a time). Without a bucket (a store that
    /// neither signs nor serves them) nothing is kept: readers then get every entry by page.
    async fn put_entry_tiles(&self, chain: &ChainId, frames: Vec<(u64, Vec<u8>)>) -> Result<(), StoreError> {
        let Some(bucket) = &self.entry_tiles else {
            return Ok(());
        };
        futures::stream::iter(frames)
            .map(|(index, frame)| async move {
                bucket
                    .client
                    .put_object()
                    .bucket(&bucket.bucket)
                    .key(entry_tile_object(chain, index))
                    .content_type("application/zstd")
                    .cache_control("private, max-age=31536000, immutable")
                    .body(frame.into())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(sdk)
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Keep a copy of a signed checkpoint and the signer's state after it in the tile bucket,
    /// as `checkpoints/<chain>/<size, 20 digits>` (FORMAT.md §6.1): a prefix only the signer
    /// may write, and in AWS under Object Lock, so that nobody can delete or replace it.
    async fn put_signed_copy(&self, chain: &ChainId, size: u64, note: &str, state: &str) -> Result<(), StoreError> {
        let Some(bucket) = &self.entry_tiles else {
            return Ok(());
        };
        let body = serde_json::json!({ "checkpoint": note, "state": state }).to_string();
        bucket
            .client
            .put_object()
            .bucket(&bucket.bucket)
            .key(signed_copy_object(chain, size))
            .content_type("application/json")
            .body(body.into_bytes().into())
            .send()
            .await
            .map(|_| ())
            .map_err(sdk)
    }

    /// The checkpoint note and signed state of the signer's copy of `chain` at `size`.
    async fn read_signed_copy(&self, chain: &ChainId, size: u64) -> Result<Option<(String, String)>, StoreError> {
        let Some(bucket) = &self.entry_tiles else {
            return Ok(None);
        };
        let object = bucket
            .client
            .get_object()
            .bucket(&bucket.bucket)
            .key(signed_copy_object(chain, size))
            .send()
            .await
            .map_err(sdk)?;
        let bytes = object.body.collect().await.map_err(StoreError::internal)?.into_bytes();
        #[derive(serde::Deserialize)]
        struct Copy {
            checkpoint: String,
            state: String,
        }
        Ok(serde_json::from_slice::<Copy>(&bytes)
            .ok()
            .map(|c| (c.checkpoint, c.state)))
    }

    /// The signer's copies of `chain` in the tile bucket from `size` on (all, without): every
    /// page, listed by version so that a delete marker over a locked copy does not hide it.
    /// `Err(problem)` for anything under the prefix that is not a copy's name (padding that
    /// would push the real copies out of a listing's page is an alarm, not a blind spot).
    async fn signed_copies_from(
        &self,
        chain: &ChainId,
        size: Option<u64>,
    ) -> Result<Result<SignedCopies, String>, StoreError> {
        let mut copies = SignedCopies::default();
        let Some(bucket) = &self.entry_tiles else {
            return Ok(Ok(copies));
        };
        let prefix = signed_copy_prefix(chain);
        // Keys sort by size: start right before `size`'s own copy.
        let mut marker = size
            .and_then(|s| s.checked_sub(1))
            .map(|before| signed_copy_object(chain, before));
        let mut version_marker = None;
        loop {
            let listed = bucket
                .client
                .list_object_versions()
                .bucket(&bucket.bucket)
                .prefix(&prefix)
                .set_key_marker(marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(sdk)?;
            for version in listed.versions() {
                let key = version.key().unwrap_or_default();
                let digits = key.strip_prefix(&prefix).unwrap_or(key);
                let Some(found) = digits
                    .parse::<u64>()
                    .ok()
                    .filter(|n| digits.len() == 20 && signed_copy_object(chain, *n) == key)
                else {
                    return Ok(Err(format!(
                        "{key:?} is under the signer's prefix in the tile bucket but is no copy of a signed checkpoint"
                    )));
                };
                match size {
                    Some(size) if found == size => copies.at_size = true,
                    Some(size) if found < size => {}
                    _ => copies.newest = copies.newest.max(Some(found)),
                }
            }
            if !listed.is_truncated().unwrap_or(false) {
                return Ok(Ok(copies));
            }
            marker = listed.next_key_marker().map(str::to_owned);
            version_marker = listed.next_version_id_marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(Ok(copies));
            }
        }
    }

    /// A link to entry tile `index` of `chain`, valid for [`ENTRY_TILE_LINK_SECS`]: a GET of
    /// the object in the tile bucket, signed with this function's credentials. Whether the
    /// tile is stored is the bucket's to answer (404 if not: not full or not signed yet, or
    /// from before tiles were kept). `None` without a tile bucket.
    pub async fn entry_tile_url(&self, chain: &ChainId, index: u64) -> Result<Option<String>, StoreError> {
        let Some(bucket) = &self.entry_tiles else {
            return Ok(None);
        };
        let expires =
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(ENTRY_TILE_LINK_SECS))
                .map_err(StoreError::internal)?;
        let request = bucket
            .client
            .get_object()
            .bucket(&bucket.bucket)
            .key(entry_tile_object(chain, index))
            .presigned(expires)
            .await
            .map_err(sdk)?;
        Ok(Some(request.uri().to_owned()))
    }

    /// Put `requests` into `table`, 25 to a `BatchWriteItem`, retrying what is left unprocessed
    /// (tiles; the webhook delivery log).
    pub(crate) async fn batch_write(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
        what: &str,
    ) -> Result<(), StoreError> {
        for batch in requests.chunks(25) {
            let mut pending = batch.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                self.count_round_trip();
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(sdk)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    crate::read::retry_unprocessed(&mut attempt, || format!("{what} left unprocessed")).await?;
                }
            }
        }
        Ok(())
    }

    /// The consistency proof between the trees of `from` and `to` entries of `chain`, from
    /// its tiles (both sizes at most the latest signed checkpoint's).
    pub async fn consistency_proof(&self, chain: &ChainId, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        let mut recorder = Recorder::default();
        consistency_proof_from(&mut recorder, TreeSize(from), TreeSize(to)).map_err(proof_error)?;
        let tiles = self.tiles(chain, &recorder.tiles()).await?;
        consistency_proof_from(&mut &tiles, TreeSize(from), TreeSize(to)).map_err(proof_error)
    }

    /// The inclusion proof of entry `seq` in the tree of `size` entries of `chain`.
    pub async fn inclusion_proof(&self, chain: &ChainId, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.inclusion_proofs(chain, &[seq], size)
            .await
            .map(|mut p| p.pop().unwrap_or_default())
    }

    /// Inclusion proofs of several entries in one tree, reading each tile once.
    pub async fn inclusion_proofs(
        &self,
        chain: &ChainId,
        seqs: &[u64],
        size: u64,
    ) -> Result<Vec<Vec<Hash>>, StoreError> {
        let mut recorder = Recorder::default();
        for seq in seqs {
            inclusion_proof_from(&mut recorder, LeafIndex(*seq), TreeSize(size)).map_err(proof_error)?;
        }
        let tiles = self.tiles(chain, &recorder.tiles()).await?;
        seqs.iter()
            .map(|seq| inclusion_proof_from(&mut &tiles, LeafIndex(*seq), TreeSize(size)).map_err(proof_error))
            .collect()
    }
}

/// Entries `first …` that a signed checkpoint covers, read again: each must parse, hash, be
/// of `chain` at its place, link to the one before, and the last must be the entry the
/// signer recorded (`last_hash`).
fn check_signed_run(chain: &ChainId, first: u64, lines: &[String], last_hash: Hash) -> Result<(), String> {
    let rewritten = |seq: u64| {
        Err(format!(
            "entry seq {seq}, which a signed checkpoint covers, no longer reads as signed: history was rewritten"
        ))
    };
    let mut prev = None;
    for (i, line) in lines.iter().enumerate() {
        let seq = first + i as u64;
        let Ok(entry) = EntryRef::parse(line.as_bytes()) else {
            return rewritten(seq);
        };
        if entry.chain != chain.as_str()
            || entry.seq != seq
            || entry.computed_hash() != entry.hash
            || prev.is_some_and(|p| p != entry.prev)
        {
            return rewritten(seq);
        }
        prev = Some(entry.hash);
    }
    if prev != Some(last_hash) {
        return rewritten(first + lines.len().saturating_sub(1) as u64);
    }
    Ok(())
}

fn proof_error<E: std::fmt::Display>(e: ProveFrom<E>) -> StoreError {
    match e {
        ProveFrom::Proof(p) => StoreError::Internal(format!("no such proof: {p}")),
        ProveFrom::Source(e) => StoreError::Internal(format!("tiles: {e}")),
    }
}

fn checkpoint_from_item(chain: &ChainId, item: &items::Item) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        chain: chain.clone(),
        size: items::number(item, "size")?,
        note: items::text(item, "note")?.to_owned(),
    })
}

/// An export failed in the store or in the sink.
#[derive(Debug, thiserror::Error)]
pub enum ExportError<E> {
    #[error(transparent)]
    Store(StoreError),
    #[error("cannot write the export")]
    Sink(E),
}

impl<E> From<StoreError> for ExportError<E> {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "ledgerdesk.test";

    /// A chain of `n` entries: its checkpoint and the signer's state, both signed by `key`.
    fn signed(chain: &str, n: u64, key: &SignerKey) -> (String, String, ChainHead) {
        let chain = ChainId::parse(chain).unwrap();
        let log = LogName::parse(LOG).unwrap();
        let mut head = ChainHead::genesis(chain.clone());
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
            .unwrap()
            .to_utc();
        for i in 0..n {
            let data = serde_json::json!({ "n": i });
            head = head.append(&at, "note_added", &data).unwrap().1;
        }
        let state = SignerState {
            size: head.size,
            last_hash: head.last_hash,
            last_at: ledger::entry::format_at(&at),
            version: Version::V2,
            frontier: head.frontier.clone(),
        };
        let note = head.sign_checkpoint(LOG, key);
        let state_note = state.signed(&chain, &log).sign(key);
        (note, state_note, head)
    }

    #[test]
    fn a_checkpoint_and_a_state_open_only_as_one_tree_of_the_signers_chain() {
        let key = SignerKey::from_seed(LOG, [3; 32]).unwrap();
        let mine = TrustedKeys::new([key.verifier()]);
        let log = LogName::parse(LOG).unwrap();
        let contoso = ChainId::parse("contoso").unwrap();
        let (note3, state3, _) = signed("contoso", 3, &key);
        let (note4, state4, _) = signed("contoso", 4, &key);
        let (other_note, other_state, _) = signed("fabrikam", 3, &key);
        let state = open_signed(&note3, &state3, &mine, &log, &contoso, 3).expect("one tree of size 3");
        assert_eq!(state.size(), 3);
        // Each pairing that is not one tree of contoso at the size asked for is refused.
        let cases: [(&str, &str, u64, &str); 6] = [
            (&note3, &state3, 4, "asked at another size"),
            (&note4, &state3, 4, "the checkpoint of size 4, the state of size 3"),
            (&note3, &state4, 3, "the state of size 4, the checkpoint of size 3"),
            (&other_note, &state3, 3, "another chain's checkpoint"),
            (&note3, &other_state, 3, "another chain's state"),
            (&note4, &state4, 3, "both of size 4, asked at 3"),
        ];
        for (note, state, size, why) in cases {
            assert!(open_signed(note, state, &mine, &log, &contoso, size).is_err(), "{why}");
        }
        // Same size, another root: a state of another history of contoso.
        let (_, rewritten_state, _) = {
            let chain = ChainId::parse("contoso").unwrap();
            let mut head = ChainHead::genesis(chain.clone());
            let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
                .unwrap()
                .to_utc();
            for i in 0..3u64 {
                head = head
                    .append(&at, "note_added", &serde_json::json!({ "other": i }))
                    .unwrap()
                    .1;
            }
            let state = SignerState {
                size: 3,
                last_hash: head.last_hash,
                last_at: ledger::entry::format_at(&at),
                version: Version::V2,
                frontier: head.frontier.clone(),
            };
            (String::new(), state.signed(&chain, &log).sign(&key), head)
        };
        let err = open_signed(&note3, &rewritten_state, &mine, &log, &contoso, 3).unwrap_err();
        assert!(err.contains("do not describe one tree of size 3"), "{err}");
        // Checkpoints the signer's key signed that differ from the state in one thing only.
        let (_, _, head3) = signed("contoso", 3, &key);
        let forged = |origin: String, size: u64| ledger::Checkpoint::new(origin, size, head3.root()).sign(&key);
        let only_chain = forged(log.origin(&ChainId::parse("fabrikam").unwrap()), 3);
        assert!(
            open_signed(&only_chain, &state3, &mine, &log, &contoso, 3).is_err(),
            "another chain's checkpoint of the same root and size"
        );
        let only_size = forged(log.origin(&contoso), 4);
        assert!(
            open_signed(&only_size, &state3, &mine, &log, &contoso, 3).is_err(),
            "a checkpoint of another size with the same root"
        );
        assert!(open_signed(&forged(log.origin(&contoso), 3), &state3, &mine, &log, &contoso, 3).is_ok());
        // Signed by another key: neither opens.
        let stranger = SignerKey::from_seed(LOG, [4; 32]).unwrap();
        let (strange_note, strange_state, _) = signed("contoso", 3, &stranger);
        assert!(open_signed(&strange_note, &state3, &mine, &log, &contoso, 3).is_err());
        assert!(open_signed(&note3, &strange_state, &mine, &log, &contoso, 3).is_err());
    }
}
