//! The ledger API for the parties (issue: the evidence the partner holds): a partner reads
//! its own chain — the latest signed checkpoint, the entries as hashed, consistency and
//! inclusion proofs, and an evidence bundle for one request — with nothing but its token;
//! the vendor's auditors (`ledger/audit`) read any chain by `?chain=`.

use std::collections::HashMap;

use domain::{CaseReference, RequestId, Role};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use ledger::bundle::{BUNDLE_FORMAT, BundleDisclosure, BundleEntry, EvidenceBundle};
use ledger::personal::commitment_paths;
use ledger::{ChainId, EntryRef, Hash};
use serde_json::json;

use crate::App;
use crate::http::{json_response, path_param, query_params};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::routes::{LEDGER_AUDIT, LEDGER_READ, READ};

/// Entries per page, at most.
pub const MAX_ENTRIES: u64 = 1_000;

/// The chain this caller reads: its own (partners), or the one named by `chain` (auditors).
fn chain_of(caller: &Caller, requested: Option<&str>) -> Result<ChainId, ApiError> {
    if caller.is_vendor() {
        caller.require_any(&[LEDGER_AUDIT])?;
        let name = requested.ok_or_else(|| {
            ApiError::Validation(vec![FieldMessage::new(
                "query:chain",
                "is required for auditors: the chain (partner id) to read",
            )])
        })?;
        return ChainId::parse(name)
            .map_err(|e| ApiError::Validation(vec![FieldMessage::new("query:chain", e.to_string())]));
    }
    caller.require_any(&[LEDGER_READ])?;
    let own = caller.partner()?;
    if requested.is_some_and(|c| c != own.as_str()) {
        // Another partner's chain is as unknown as a chain that does not exist.
        return Err(ApiError::Missing("no such chain".into()));
    }
    ChainId::parse(own.as_str()).map_err(|_| ApiError::Internal)
}

fn number(params: &[(String, String)], name: &str, errors: &mut Vec<FieldMessage>) -> Option<u64> {
    let value = params.iter().find(|(n, _)| n == name).map(|(_, v)| v)?;
    match value.parse::<u64>() {
        Ok(n) if value == &n.to_string() && n <= crate::openapi::MAX_QUERY_NUMBER => Some(n),
        _ => {
            errors.push(FieldMessage::new(
                format!("query:{name}"),
                format!("must be a whole number from 0 to {}", crate::openapi::MAX_QUERY_NUMBER),
            ));
            None
        }
    }
}

fn chain_param(params: &[(String, String)]) -> Option<&str> {
    params.iter().find(|(n, _)| n == "chain").map(|(_, v)| v.as_str())
}

/// The latest signed checkpoint's size, or 404.
async fn latest(app: &App, chain: &ChainId) -> Result<store::StoredCheckpoint, ApiError> {
    app.store.latest_checkpoint(chain).await?.ok_or_else(|| {
        ApiError::Missing(
            "no checkpoint of this chain has been signed yet (the signer runs every few minutes — every 60 s locally — and signs a chain within 5 minutes of its first entry)"
                .into(),
        )
    })
}

/// `GET /ledger/checkpoint`: the exact bytes of the latest signed note.
pub async fn checkpoint(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    let params = query_params(request, &["chain"])?;
    let chain = chain_of(&caller, chain_param(&params))?;
    let cp = latest(app, &chain).await?;
    let mut response = Response::new(Body::from(cp.note));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// `GET /ledger/entries?start=&limit=`: entries in seq order, each exactly as hashed, one per
/// line (JSON Lines).
pub async fn entries(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    let params = query_params(request, &["chain", "start", "limit"])?;
    let chain = chain_of(&caller, chain_param(&params))?;
    let mut errors = Vec::new();
    let start = number(&params, "start", &mut errors).unwrap_or(0);
    let limit = number(&params, "limit", &mut errors).unwrap_or(MAX_ENTRIES);
    if !(1..=MAX_ENTRIES).contains(&limit) {
        errors.push(FieldMessage::new("query:limit", "must be 1 to 1000"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let lines = app.store.entries(&chain, start, limit).await?;
    // At most `limit` lines and about 4 MiB (at least one line): a reader asks on from where
    // the page stopped.
    let (lines, _) = crate::paging::fill(lines, limit as usize, |line| line.len() + 1);
    let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in &lines {
        body.push_str(line);
        body.push('\n');
    }
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(response)
}

/// `GET /ledger/entry-tiles/{index}`: entries `1024·index … 1024·index + 1023` as one zstd
/// frame of their lines (FORMAT.md §11.1), exactly as the signer stored it. The tiles are
/// immutable blobs in the tile bucket: the answer is a redirect (307) to a presigned link to
/// the caller's own tile, valid for a few minutes; the bucket answers the frame, or 404 when
/// the tile is not stored (not full or not signed yet, or older than entry tiles):
/// `/ledger/entries` serves the same entries.
pub async fn entry_tile(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    let params = query_params(request, &["chain"])?;
    let chain = chain_of(&caller, chain_param(&params))?;
    let index = path_param(request, "index")
        .and_then(|text| text.parse::<u64>().ok().filter(|n| text == n.to_string()))
        .filter(|n| *n <= crate::openapi::MAX_QUERY_NUMBER)
        .ok_or_else(|| {
            ApiError::Validation(vec![FieldMessage::new(
                "path:index",
                format!("must be a whole number from 0 to {}", crate::openapi::MAX_QUERY_NUMBER),
            )])
        })?;
    let link = app.store.entry_tile_url(&chain, index).await?.ok_or_else(|| {
        ApiError::Missing(format!(
            "entry tile {index} is not stored (this log keeps no entry tiles): /ledger/entries serves its entries"
        ))
    })?;
    let location = HeaderValue::from_str(&link).map_err(|_| ApiError::Internal)?;
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    // The link expires: never cache the redirect (the tile itself is cached by its own answer).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn proof_json(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(Hash::to_base64).collect()
}

/// `GET /ledger/proofs/consistency?from=&to=`: RFC 9162 consistency proof between two signed sizes.
pub async fn consistency(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    let params = query_params(request, &["chain", "from", "to"])?;
    let chain = chain_of(&caller, chain_param(&params))?;
    let mut errors = Vec::new();
    let from = number(&params, "from", &mut errors);
    let to = number(&params, "to", &mut errors);
    let (Some(from), Some(to)) = (from, to) else {
        for (name, v) in [("from", from), ("to", to)] {
            if v.is_none() && !errors.iter().any(|e| e.field == format!("query:{name}")) {
                errors.push(FieldMessage::new(format!("query:{name}"), "is required"));
            }
        }
        return Err(ApiError::Validation(errors));
    };
    let signed = latest(app, &chain).await?.size;
    if from == 0 || from > to || to > signed {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "query:to",
            format!("need 1 ≤ from ≤ to ≤ {signed} (the latest signed checkpoint's size)"),
        )]));
    }
    let proof = app.store.consistency_proof(&chain, from, to).await?;
    json_response(
        StatusCode::OK,
        &json!({ "from": from, "to": to, "proof": proof_json(&proof) }),
    )
}

/// `GET /ledger/proofs/inclusion?seq=&size=`: RFC 9162 inclusion proof of one entry.
pub async fn inclusion(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    let params = query_params(request, &["chain", "seq", "size"])?;
    let chain = chain_of(&caller, chain_param(&params))?;
    let mut errors = Vec::new();
    let seq = number(&params, "seq", &mut errors);
    let size = number(&params, "size", &mut errors);
    let (Some(seq), Some(size)) = (seq, size) else {
        for (name, v) in [("seq", seq), ("size", size)] {
            if v.is_none() && !errors.iter().any(|e| e.field == format!("query:{name}")) {
                errors.push(FieldMessage::new(format!("query:{name}"), "is required"));
            }
        }
        return Err(ApiError::Validation(errors));
    };
    let signed = latest(app, &chain).await?.size;
    if seq >= size || size > signed {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "query:size",
            format!("need seq < size ≤ {signed} (the latest signed checkpoint's size)"),
        )]));
    }
    let proof = app.store.inclusion_proof(&chain, seq, size).await?;
    json_response(
        StatusCode::OK,
        &json!({ "seq": seq, "size": size, "proof": proof_json(&proof) }),
    )
}

/// `GET /service-requests/{id}/evidence`: every entry of the request that the latest
/// checkpoint covers, with inclusion proofs and its personal values disclosed (value and
/// salt), as `ledger verify-proof` reads it. `Ledger-Uncovered` counts the request's entries
/// not yet covered (they will be within the merge delay).
/// The most `personal_data_disclosed` records one request keeps (one per auditor and case).
pub const MAX_DISCLOSURES_PER_REQUEST: usize = 100;

pub async fn evidence(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    let params = query_params(request, &["caseReference", "limit", "cursor"])?;
    let page = crate::paging::entry_page(&params, true)?;
    let case = match params.iter().find(|(name, _)| name == "caseReference") {
        None => None,
        Some(_) if !caller.is_vendor() => {
            return Err(ApiError::Validation(vec![FieldMessage::new(
                "query:caseReference",
                "is for the vendor's auditors: a partner's evidence always shows its own values",
            )]));
        }
        Some((_, value)) => Some(
            CaseReference::parse(value)
                .map_err(|e| ApiError::Validation(vec![FieldMessage::new("query:caseReference", e.to_string())]))?,
        ),
    };
    // A partner sees the values on its requests; an auditor sees commitments unless a case
    // needs the values, and that access is ledgered (in the partner's chain, so the partner
    // sees who looked, and for which case) before anything is disclosed.
    let disclose = !caller.is_vendor() || case.is_some();
    let id = path_param(request, "id")
        .and_then(|id| RequestId::parse(id).ok())
        .ok_or(ApiError::NotFound)?;
    let found = if caller.is_vendor() {
        caller.require_any(&[LEDGER_AUDIT])?;
        app.store.find_request(id).await?
    } else {
        caller.require_any(&[READ, LEDGER_READ])?;
        // A partner's own evidence outlives its relationship with the customer: a dispute
        // about what happened while it lasted needs it (the request itself is no longer shown).
        app.store.get_request(caller.partner()?, id).await?
    };
    let found = found.ok_or(ApiError::NotFound)?;
    // Once the partner's relationship with the customer has ended, its evidence is of what
    // happened while it lasted: the entries before the one that ended it (or, for a
    // relationship recorded before its entry was kept, the entries up to its change).
    let ended = match (caller.is_vendor(), found.customer_id()) {
        (false, Some(customer)) => app
            .store
            .relationship(found.partner_id(), customer)
            .await?
            .filter(|r| r.status != store::RelationshipStatus::Active),
        _ => None,
    };
    let chain = ChainId::parse(found.partner_id().as_str()).map_err(|_| ApiError::Internal)?;
    // Every page of one bundle set is proven against the checkpoint its first page used.
    let checkpoint = async {
        match page.size {
            None => latest(app, &chain).await,
            Some(size) => app
                .store
                .checkpoint_at(&chain, size)
                .await?
                .ok_or_else(|| ApiError::BadRequest {
                    detail: "the cursor is not valid for this query".into(),
                    errors: vec![FieldMessage::new(
                        "query:cursor",
                        "must be a nextCursor this API returned for the same request",
                    )],
                }),
        }
    };
    let (history, personal, cp) = tokio::join!(
        app.store.history(found.partner_id(), found.id()),
        app.store.personal_items(found.partner_id(), found.id(), None),
        checkpoint
    );
    let (history, personal, cp) = (history?, personal?, cp?);
    let salts: HashMap<Hash, (&str, &str)> = personal
        .iter()
        .flat_map(|item| item.values.iter())
        .filter(|_| disclose)
        .filter_map(|v| v.commitment().map(|c| (c, (v.v.as_str(), v.s.as_str()))))
        .collect();
    let mut covered = Vec::new();
    let mut uncovered = 0u64;
    for line in &history.lines {
        let entry = EntryRef::parse(line.as_bytes()).map_err(|e| {
            tracing::error!(error = %e, "an unreadable ledger line");
            ApiError::Internal
        })?;
        let after_the_end = ended.as_ref().is_some_and(|r| match r.ended_seq {
            Some(end) => entry.seq > end,
            None => entry.at > r.updated_at.to_string().as_str(),
        });
        if after_the_end {
            continue;
        }
        if entry.seq >= cp.size {
            uncovered += 1;
        } else if page.after.is_none_or(|after| entry.seq > after) {
            covered.push((entry.seq, line.clone(), entry.data_str().to_owned()));
        }
    }
    if covered.is_empty() && page.after.is_some() {
        return Err(ApiError::BadRequest {
            detail: "the cursor is not valid for this query".into(),
            errors: vec![FieldMessage::new(
                "query:cursor",
                "names no entry of this request before the end",
            )],
        });
    }
    if covered.is_empty() {
        return Err(ApiError::Missing(
            "no checkpoint covers this request's entries yet (the signer runs every few minutes — every 60 s locally — and signs within 5 minutes)".into(),
        ));
    }
    // A page: its entries, their disclosures and proofs (about 48 bytes a hash as JSON) within
    // the page's bounds.
    let proof_bytes = 48 * (64 - cp.size.leading_zeros() as usize) + 64;
    let (covered, more) = crate::paging::fill(covered, page.limit, |(_, line, data)| {
        let values: usize = commitment_paths(&serde_json::from_str(data).unwrap_or_default())
            .iter()
            .filter_map(|(_, c)| salts.get(c).map(|(value, salt)| 2 * value.len() + salt.len() + 64))
            .sum();
        line.len() + values + proof_bytes
    });
    let next = more
        .then(|| covered.last().map(|(seq, _, _)| format!("{}.{seq}", cp.size)))
        .flatten();
    let seqs: Vec<u64> = covered.iter().map(|(seq, _, _)| *seq).collect();
    let proofs = app.store.inclusion_proofs(&chain, &seqs, cp.size).await?;
    let mut entries = Vec::with_capacity(covered.len());
    for ((seq, line, data), proof) in covered.into_iter().zip(proofs) {
        let data: serde_json::Value = serde_json::from_str(&data).map_err(|_| ApiError::Internal)?;
        let disclosures = commitment_paths(&data)
            .into_iter()
            .filter_map(|(path, c)| {
                salts.get(&c).map(|(value, salt)| BundleDisclosure {
                    path,
                    value: (*value).to_owned(),
                    salt: (*salt).to_owned(),
                })
            })
            .collect();
        entries.push(BundleEntry {
            entry: line,
            leaf_index: seq,
            inclusion_proof: proof_json(&proof),
            disclosures,
        });
    }
    if let Some(case) = &case {
        // One record per auditor, case and request (its later pages and fetches are the same
        // access), and a bounded number per request: the request's history stays readable
        // and its erasure entry within DynamoDB's item size.
        let mut recorded = 0;
        let mut already = false;
        for line in &history.lines {
            let Ok(entry) = EntryRef::parse(line.as_bytes()) else {
                continue;
            };
            if entry.kind != "personal_data_disclosed" {
                continue;
            }
            recorded += 1;
            let data: serde_json::Value = serde_json::from_str(entry.data_str()).unwrap_or_default();
            let subject = data
                .pointer("/actor/subject/commitment")
                .and_then(serde_json::Value::as_str)
                .and_then(Hash::from_hex)
                .and_then(|c| history.values.get(&c));
            if data["caseReference"] == case.as_str() && subject.is_some_and(|s| s == caller.subject.as_str()) {
                already = true;
            }
        }
        if !already {
            if recorded >= MAX_DISCLOSURES_PER_REQUEST {
                return Err(ApiError::UnprocessableAction(format!(
                    "this request has {recorded} recorded disclosures, the most one request keeps; use a case already recorded on it"
                )));
            }
            let values: usize = entries.iter().map(|e| e.disclosures.len()).sum();
            // The entry is kept with its receipt: the key is read first (a 503 if it cannot
            // be, nothing written).
            app.receipts.signer().await?;
            let now = domain::Timestamp::from(app.store.now());
            let appended = app
                .store
                .record_disclosure(&found, &caller.actor(Role::Auditor), case, values, now)
                .await?;
            tracing::info!(partner = %found.partner_id(), request_id = %found.id(), values, seq = appended.seq, "personal values disclosed to an auditor");
        }
    }
    let bundle = EvidenceBundle {
        format: BUNDLE_FORMAT.into(),
        checkpoint: cp.note,
        tree_size: cp.size,
        entries,
        consistency: None,
    };
    let mut response = Response::new(Body::from(bundle.to_text()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&uncovered.to_string()) {
        response.headers_mut().insert("ledger-uncovered", v);
    }
    if let Some(v) = next.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
        response.headers_mut().insert("ledger-next-cursor", v);
    }
    Ok(response)
}
