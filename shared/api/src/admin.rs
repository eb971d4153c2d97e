//! The vendor's administration of partner–customer relationships (`relationships/admin`):
//! a partner files for, lists and reads the evidence of only the customers it has an active
//! CSP relationship with. Every change is ledgered in the partner's chain.

use std::collections::BTreeMap;

use domain::{CustomerId, PartnerId, Role, Timestamp};
use futures::StreamExt;
use http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use store::{Relationship, RelationshipStatus};

use crate::App;
use crate::http::{json_body, json_response, path_param, query_params};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::routes::RELATIONSHIPS_ADMIN;

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RelationshipInput {
    status: Option<String>,
    since: Option<String>,
}

fn vendor_admin(app: &App, request: &Request) -> Result<Caller, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[RELATIONSHIPS_ADMIN])?;
    if !caller.is_vendor() {
        return Err(ApiError::Forbidden("relationships are maintained by the vendor".into()));
    }
    Ok(caller)
}

fn keys(request: &Request) -> Result<(PartnerId, CustomerId), ApiError> {
    let mut errors = Vec::new();
    let partner = path_param(request, "partnerId").map(PartnerId::parse);
    let customer = path_param(request, "customerId").map(CustomerId::parse);
    let partner = match partner {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            errors.push(FieldMessage::new("path:partnerId", e.to_string()));
            None
        }
        None => None,
    };
    let customer = match customer {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            errors.push(FieldMessage::new("path:customerId", e.to_string()));
            None
        }
        None => None,
    };
    match (partner, customer) {
        (Some(p), Some(c)) if errors.is_empty() => Ok((p, c)),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn parse_status(text: Option<&str>, field: &str, errors: &mut Vec<FieldMessage>) -> Option<RelationshipStatus> {
    match text.map(RelationshipStatus::parse) {
        Some(Some(s)) => Some(s),
        Some(None) => {
            errors.push(FieldMessage::new(field, "must be one of: active, terminated"));
            None
        }
        None => {
            errors.push(FieldMessage::new(field, "is required"));
            None
        }
    }
}

fn parse_since(text: Option<&str>, field: &str, errors: &mut Vec<FieldMessage>) -> Option<Option<Timestamp>> {
    match text.map(Timestamp::parse) {
        Some(Ok(t)) => Some(Some(t)),
        Some(Err(e)) => {
            errors.push(FieldMessage::new(field, e.to_string()));
            None
        }
        None => Some(None),
    }
}

/// Read back `entry` with its kept receipt, as an answer given again: it must be the
/// `relationship_changed` entry of `relationship` as it is (customer, status, since).
async fn kept(app: &App, relationship: &Relationship, entry: store::Appended) -> Result<store::Appended, ApiError> {
    let rid = format!("{}#relationships", relationship.partner_id);
    let says = [
        ("/customerId", json!(relationship.customer_id)),
        ("/status", json!(relationship.status)),
        ("/since", json!(relationship.since)),
    ];
    let expected = store::ExpectedEntry {
        kind: "relationship_changed",
        rid: Some(&rid),
        data: &says,
    };
    Ok(app.store.with_kept_receipt(entry, &expected).await?)
}

/// What [`save`] did: wrote an entry, or found the relationship so already.
enum Saved {
    Written(store::Appended),
    /// Nothing written; the entry that set it as it is, when the item remembers it.
    Unchanged(Option<store::Appended>),
}

/// Register or change one relationship (ledgered); the existing `since` is kept unless given.
/// A change that changes nothing writes nothing: the relationship as it is, and no entry.
async fn save(
    app: &App,
    caller: &Caller,
    partner: PartnerId,
    customer: CustomerId,
    status: RelationshipStatus,
    since: Option<Timestamp>,
) -> Result<(Relationship, Saved), ApiError> {
    let now = Timestamp::from(app.store.now());
    let existing = app.store.relationship(&partner, &customer).await?;
    if let Some(existing) = existing.as_ref()
        && existing.status == status
        && since.is_none_or(|s| s == existing.since)
    {
        let entry = existing.entry.clone();
        return Ok((existing.clone(), Saved::Unchanged(entry)));
    }
    let relationship = Relationship {
        since: since.or(existing.as_ref().map(|r| r.since)).unwrap_or(now),
        partner_id: partner,
        customer_id: customer,
        status,
        updated_at: now,
        entry: None,
        ended_seq: existing
            .as_ref()
            .filter(|r| r.status == RelationshipStatus::Terminated && status == RelationshipStatus::Terminated)
            .and_then(|r| r.ended_seq),
        based_on: existing.map(|r| r.updated_at),
    };
    let appended = app
        .store
        .save_relationship(&relationship, &caller.actor(Role::RelationshipAdmin))
        .await
        .map_err(relationship_conflict)?;
    tracing::info!(partner = %relationship.partner_id, status = relationship.status.as_str(), seq = appended.seq, "relationship saved");
    Ok((relationship, Saved::Written(appended)))
}

/// `PUT /relationships/{partnerId}/{customerId}` `{"status": "active" | "terminated", "since"?}`.
pub async fn put(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = vendor_admin(app, request)?;
    query_params(request, &[])?;
    let (partner, customer) = keys(request)?;
    let (input, _): (RelationshipInput, Value) = json_body(request)?;
    let mut errors = Vec::new();
    let status = parse_status(input.status.as_deref(), "$.status", &mut errors);
    let since = parse_since(input.since.as_deref(), "$.since", &mut errors);
    let (Some(status), Some(since)) = (status, since) else {
        return Err(ApiError::Validation(errors));
    };
    let signer = app.receipts.signer().await?;
    let (relationship, saved) = save(app, &caller, partner, customer, status, since).await?;
    let body = serde_json::to_value(&relationship).map_err(|_| ApiError::Internal)?;
    // Nothing appended (it was so already): the receipt kept with the entry that set it, if
    // known.
    let body = match saved {
        Saved::Written(appended) => crate::receipts::attach(signer, body, &appended)?,
        Saved::Unchanged(Some(entry)) if signer.is_some() => {
            let entry = kept(app, &relationship, entry).await?;
            crate::receipts::attach(signer, body, &entry)?
        }
        Saved::Unchanged(_) => body,
    };
    json_response(StatusCode::OK, &body)
}

/// `GET /relationships/{partnerId}/{customerId}`.
pub async fn get(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    vendor_admin(app, request)?;
    query_params(request, &[])?;
    let (partner, customer) = keys(request)?;
    let found = app
        .store
        .relationship(&partner, &customer)
        .await?
        .ok_or_else(|| ApiError::Missing("no such relationship".into()))?;
    json_response(StatusCode::OK, &found)
}

/// `POST /relationships/import` with `text/csv`: `partnerId,customerId,since,status` (a header
/// row, then one row per relationship; `since` may be empty). Every row is checked before
/// anything is written: one bad row and nothing is imported.
pub async fn import(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = vendor_admin(app, request)?;
    query_params(request, &[])?;
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_IMPORT_BYTES / 1024));
    }
    let media = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if !media.eq_ignore_ascii_case("text/csv") {
        return Err(ApiError::UnsupportedMediaType("text/csv"));
    }
    const HEADER: [&str; 4] = ["partnerId", "customerId", "since", "status"];
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen_header = false;
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let detail = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "is not UTF-8".to_owned(),
                    _ => "is not a CSV row".to_owned(),
                };
                errors.push(FieldMessage::new(format!("body:{row}"), detail));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        if !seen_header {
            seen_header = true;
            if record.iter().ne(HEADER) {
                return Err(ApiError::Validation(vec![FieldMessage::new(
                    format!("body:{row}"),
                    "the first row must be the header partnerId,customerId,since,status",
                )]));
            }
            continue;
        }
        let Some([partner, customer, since, status]) = (record.len() == 4).then(|| [0, 1, 2, 3].map(|c| &record[c]))
        else {
            errors.push(FieldMessage::new(format!("body:{row}"), "must have four cells"));
            continue;
        };
        let before = errors.len();
        let partner = PartnerId::parse(partner)
            .map_err(|e| errors.push(FieldMessage::new(format!("body:{row}:partnerId"), e.to_string())))
            .ok();
        let customer = CustomerId::parse(customer)
            .map_err(|e| errors.push(FieldMessage::new(format!("body:{row}:customerId"), e.to_string())))
            .ok();
        let since = parse_since(
            (!since.is_empty()).then_some(since),
            &format!("body:{row}:since"),
            &mut errors,
        );
        let status = parse_status(Some(status), &format!("body:{row}:status"), &mut errors);
        if let (Some(p), Some(c), Some(s), Some(st)) = (partner, customer, since, status)
            && errors.len() == before
        {
            rows.push((row, p, c, s, st));
        }
    }
    if !seen_header {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "body:1",
            "the first row must be the header partnerId,customerId,since,status",
        )]));
    }
    let mut keys = std::collections::HashMap::new();
    for (row, p, c, _, _) in &rows {
        if let Some(first) = keys.insert((p.clone(), c.clone()), *row) {
            errors.push(FieldMessage::new(
                format!("body:{row}"),
                format!("the relationship of row {first} again: one row per relationship"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "body",
            format!("import at most {MAX_IMPORT_ROWS} relationships at a time"),
        )]));
    }
    let partners: std::collections::HashSet<&PartnerId> = rows.iter().map(|(_, p, _, _, _)| p).collect();
    if partners.len() > MAX_IMPORT_PARTNERS {
        return Err(ApiError::Validation(vec![FieldMessage::new(
            "body",
            format!(
                "import the relationships of at most {MAX_IMPORT_PARTNERS} partners at a time (the answer carries a receipt per partner's chain)"
            ),
        )]));
    }
    // Rows that change nothing write nothing. The others are written per partner in
    // transactions of up to `RELATIONSHIPS_PER_TRANSACTION` rows, each whole (partners side by
    // side): an import interrupted between two is finished by running it again.
    let signer = app.receipts.signer().await?;
    let pairs: Vec<(PartnerId, CustomerId)> = rows.iter().map(|(_, p, c, _, _)| (p.clone(), c.clone())).collect();
    let existing = app.store.relationships(&pairs).await?;
    let now = Timestamp::from(app.store.now());
    let actor = caller.actor(Role::RelationshipAdmin);
    // Per row: the relationship as it will be, the entry that sets it, whether it is new.
    let mut outcomes: Vec<(usize, Relationship, Option<store::Appended>, bool)> = Vec::with_capacity(rows.len());
    let mut batches: BTreeMap<PartnerId, Vec<usize>> = BTreeMap::new();
    for (row, partner, customer, since, status) in rows {
        let found = existing.get(&(partner.clone(), customer.clone()));
        if let Some(found) = found
            && found.status == status
            && since.is_none_or(|s| s == found.since)
        {
            outcomes.push((row, found.clone(), found.entry.clone(), false));
            continue;
        }
        batches.entry(partner.clone()).or_default().push(outcomes.len());
        let relationship = Relationship {
            since: since.or(found.map(|r| r.since)).unwrap_or(now),
            partner_id: partner,
            customer_id: customer,
            status,
            updated_at: now,
            entry: None,
            ended_seq: found
                .filter(|r| r.status == RelationshipStatus::Terminated && status == RelationshipStatus::Terminated)
                .and_then(|r| r.ended_seq),
            based_on: found.map(|r| r.updated_at),
        };
        outcomes.push((row, relationship, None, true));
    }
    let work: Vec<(Vec<usize>, Vec<Relationship>)> = batches
        .into_values()
        .map(|indices| {
            let relationships = indices.iter().map(|&i| outcomes[i].1.clone()).collect();
            (indices, relationships)
        })
        .collect();
    let written = futures::stream::iter(work.into_iter().map(|(indices, relationships)| {
        let actor = &actor;
        async move {
            let mut appended = Vec::with_capacity(relationships.len());
            for batch in relationships.chunks(store::RELATIONSHIPS_PER_TRANSACTION) {
                appended.extend(
                    app.store
                        .save_relationships(batch, actor)
                        .await
                        .map_err(relationship_conflict)?,
                );
            }
            Ok::<_, ApiError>((indices, appended))
        }
    }))
    .buffer_unordered(IMPORT_PARTNERS_AT_ONCE)
    .collect::<Vec<_>>()
    .await;
    for result in written {
        let (indices, appended) = result?;
        for (i, appended) in indices.into_iter().zip(appended) {
            outcomes[i].2 = Some(appended);
        }
    }
    let (mut imported, mut unchanged) = (0, 0);
    let mut rows_out = Vec::with_capacity(outcomes.len());
    // Per chain, the highest entry any row names: its receipt covers every entry before it
    // (each entry's hash covers the one before), so one receipt per chain proves every row.
    let mut highest: BTreeMap<String, (store::Appended, &Relationship)> = BTreeMap::new();
    for (row, relationship, entry, written) in &outcomes {
        if *written {
            imported += 1;
        } else {
            unchanged += 1;
        }
        if let Some(entry) = entry {
            let chain = entry.chain.to_string();
            if highest.get(&chain).is_none_or(|(h, _)| h.seq < entry.seq) {
                highest.insert(chain, (entry.clone(), relationship));
            }
        }
        rows_out.push(json!({
            "row": row,
            "partnerId": relationship.partner_id,
            "customerId": relationship.customer_id,
            "written": written,
            "seq": entry.as_ref().map(|e| e.seq),
            "entryHash": entry.as_ref().map(|e| e.entry_hash.to_hex()),
        }));
    }
    tracing::info!(imported, unchanged, chains = highest.len(), "relationships imported");
    let mut receipts = Vec::new();
    if signer.is_some() {
        for (chain, (entry, relationship)) in highest {
            // Written now, its receipt is in hand; so already, it is read with the entry.
            let entry = match entry.receipt {
                Some(_) => entry,
                None => kept(app, relationship, entry).await?,
            };
            if let Some(receipt) = crate::receipts::confirmed(signer, &entry)? {
                receipts.push(json!({ "chain": chain, "seq": entry.seq, "receipt": receipt }));
            }
        }
    }
    json_response(
        StatusCode::OK,
        &json!({ "imported": imported, "unchanged": unchanged, "rows": rows_out, "receipts": receipts }),
    )
}

/// A relationship changed by another call between this one's read and its write: nothing
/// of this one's (transaction) is written.
fn relationship_conflict(e: store::StoreError) -> ApiError {
    match e {
        store::StoreError::Conflict => ApiError::Conflict(
            "a relationship was changed by another call at the same time; read it again and retry (an import: run it again)".into(),
        ),
        other => other.into(),
    }
}

/// How many partners' rows one import writes at once.
const IMPORT_PARTNERS_AT_ONCE: usize = 8;

/// The largest CSV an import takes: 10,000 rows of about 100 bytes, with room.
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;

/// The most partners one import names: its answer (a row per relationship, a receipt per
/// chain) stays near 2.5 MB, and its transactions (one per partner and 33 rows) well inside
/// the function's timeout.
pub const MAX_IMPORT_PARTNERS: usize = 1_000;

/// The most rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 10_000;
