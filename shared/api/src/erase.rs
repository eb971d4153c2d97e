//! `POST /privacy/erasures`: erase personal data on a data subject's request (GDPR Art. 17),
//! without breaking the ledger. Either every personal value of one request (`requestId`), or
//! every value that belongs to one e-mail address across one partner's requests (`email`):
//! the requests whose contact it is, entirely, and the entries that person wrote elsewhere.
//! Each erasure is ledgered (`personal_data_erased`, naming the commitments erased, the role
//! and the legal basis, and no personal data). Erasing again changes nothing.
//!
//! Vendor privacy officers act for any partner and reach every value; a partner's own privacy
//! officer (a partner token with `privacy/erase`) acts only for that partner and reaches only
//! the personal data the partner supplied (the request's own values, the entries its agents
//! wrote): what the vendor's staff wrote is the vendor's officer's to erase. An erasure by the
//! e-mail address of someone whose values only the vendor's staff wrote is a 403 naming why,
//! and erases nothing; an erasure that leaves values out of reach says how many
//! (`commitmentsLeft`).

use std::time::Duration;

use domain::{
    Actor, CaseReference, CommitmentId, ErasureScope, LegalBasis, PartnerId, RequestId, Role, Timestamp,
    TransitionError,
};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use store::{PersonalItem, StoreError};

use crate::App;
use crate::http::{json_body, json_response, query_params};
use crate::identity::Caller;
use crate::problem::{ApiError, FieldMessage};
use crate::routes::PRIVACY_ERASE;

/// The body as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ErasureInput {
    request_id: Option<String>,
    email: Option<String>,
    partner_id: Option<String>,
    legal_basis: Option<String>,
    reference: Option<String>,
}

enum Target {
    Request(RequestId),
    Email(PartnerId, String),
}

fn parse(input: ErasureInput, caller: &Caller) -> Result<(Target, LegalBasis, Option<CaseReference>), ApiError> {
    let mut errors = Vec::new();
    let mut field = |name: &str, message: String| errors.push(FieldMessage::new(format!("$.{name}"), message));
    let basis = match input.legal_basis.as_deref().map(LegalBasis::parse) {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            field("legalBasis", e.to_string());
            None
        }
        None => {
            field("legalBasis", "is required".into());
            None
        }
    };
    let reference = match input.reference.as_deref().map(CaseReference::parse) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            field("reference", e.to_string());
            None
        }
        None => None,
    };
    // An e-mail erasure always names the partner whose requests it searches (the body says
    // what it does, whoever sends it); a partner's own privacy officer may name only its own.
    let partner = match input.partner_id.as_deref().map(PartnerId::parse) {
        Some(Ok(p)) => {
            if !caller.is_vendor() && caller.partner().ok() != Some(&p) {
                return Err(ApiError::Forbidden(
                    "a partner's privacy officer erases within their own partner only".into(),
                ));
            }
            Some(p)
        }
        Some(Err(e)) => {
            field("partnerId", e.to_string());
            None
        }
        None => None,
    };
    let partner_given = input.partner_id.is_some();
    let target = match (input.request_id, input.email) {
        (Some(_), None) if partner_given => {
            field(
                "partnerId",
                "is given only with email (a request id names its partner)".into(),
            );
            None
        }
        (Some(id), None) => match RequestId::parse(&id) {
            Ok(id) => Some(Target::Request(id)),
            Err(e) => {
                field("requestId", e.to_string());
                None
            }
        },
        (None, Some(email)) => match (domain::Email::parse(&email), partner) {
            (Ok(email), Some(partner)) => Some(Target::Email(partner, email.as_str().to_owned())),
            (Err(e), _) => {
                field("email", e.to_string());
                None
            }
            (Ok(_), None) if !partner_given => {
                field(
                    "partnerId",
                    "is required to erase by e-mail address: whose requests".into(),
                );
                None
            }
            (Ok(_), None) => None,
        },
        _ => {
            field("requestId", "give exactly one of requestId and email".into());
            None
        }
    };
    match (target, basis, errors.is_empty()) {
        (Some(t), Some(b), true) => Ok((t, b, reference)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// How many of an e-mail address's requests a partner's officer's erasure looks at before it
/// decides that the address's values are all the vendor's staff's.
const REACH_CHECKED: usize = 100;

/// What one erasure did.
enum Outcome {
    Erased {
        id: RequestId,
        scope: ErasureScope,
        commitments: usize,
        /// Values out of the caller's reach, left in place.
        left: usize,
        appended: store::Appended,
    },
    AlreadyErased(RequestId),
}

/// Whose personal data a privacy officer reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The vendor's privacy officer: every value (on the legal basis it records).
    Everything,
    /// A partner's privacy officer: the values its partner supplied.
    PartnerSupplied,
}

/// Keep in `items` what `reach` allows; the number of commitments taken out.
async fn within_reach(
    app: &App,
    partner: &PartnerId,
    id: RequestId,
    items: &mut Vec<PersonalItem>,
    reach: Reach,
) -> Result<usize, ApiError> {
    if reach == Reach::Everything {
        return Ok(0);
    }
    let supplied = app.store.partner_supplied(partner, id).await?;
    let mut left = 0;
    items.retain(|item| {
        let keep = supplied.contains(&item.sk);
        if !keep {
            left += item.values.iter().filter(|v| v.commitment().is_some()).count();
        }
        keep
    });
    Ok(left)
}

/// A request's personal-data items an erasure would take: those `only` names (all if none),
/// but never an erasure's own record of who erased (it is erased with the next erasure of its
/// officer's data, if ever).
async fn erasable(
    app: &App,
    partner: &PartnerId,
    id: RequestId,
    only: Option<&Vec<String>>,
) -> Result<Vec<PersonalItem>, ApiError> {
    let mut items: Vec<PersonalItem> = app.store.personal_items(partner, id, None).await?;
    if let Some(only) = only {
        items.retain(|i| only.contains(&i.sk));
    }
    items.retain(|i| i.kind.as_deref() != Some("personal_data_erased"));
    Ok(items)
}

pub async fn erase(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(request, &app.identity)?;
    caller.require_any(&[PRIVACY_ERASE])?;
    query_params(request, &[])?;
    let (input, _): (ErasureInput, Value) = json_body(request)?;
    let (target, basis, reference) = parse(input, &caller)?;
    let actor = caller.actor(Role::PrivacyOfficer);
    let reach = if caller.is_vendor() {
        Reach::Everything
    } else {
        Reach::PartnerSupplied
    };
    let signer = app.receipts.signer().await?;
    // (partner, request, the items to erase if not all of them)
    let mut targets: Vec<(PartnerId, RequestId, Option<Vec<String>>)> = Vec::new();
    let by_email = matches!(target, Target::Email(..));
    match target {
        Target::Request(id) => {
            let found = if caller.is_vendor() {
                app.store.find_request(id).await?
            } else {
                app.store.get_request(caller.partner()?, id).await?
            };
            let found = found.ok_or(ApiError::NotFound)?;
            targets.push((found.partner_id().clone(), id, None));
        }
        Target::Email(partner, email) => {
            for (id, keys) in app.store.personal_by_email(&partner, &email).await? {
                // The requests whose contact this is go entirely; elsewhere only the entries
                // this person wrote.
                let only = (!keys.iter().any(|k| k == "R")).then_some(keys);
                targets.push((partner.clone(), id, only));
            }
        }
    }
    if reach == Reach::PartnerSupplied && by_email {
        // Before anything is erased: an e-mail address whose values the partner never supplied
        // (the vendor's staff's) is refused whole. (A request id always names a request the
        // partner filed: what is left of it in reach is erased, or was already.)
        // A request whose contact this is (its own values, the partner's) is in reach: no
        // need to look further. Otherwise the entries this address wrote are all one person's;
        // the check stops at the first one in reach, and looks at no more than
        // `REACH_CHECKED` requests (an address on thousands of requests is answered in time).
        let contact = targets.iter().any(|(_, _, only)| only.is_none());
        let (mut reached, mut left) = (usize::from(contact), 0);
        for (partner, id, only) in targets.iter().take(REACH_CHECKED) {
            if reached > 0 {
                break;
            }
            let mut items = erasable(app, partner, *id, only.as_ref()).await?;
            left += within_reach(app, partner, *id, &mut items, reach).await?;
            reached += items.len();
        }
        if reached == 0 && left > 0 {
            return Err(ApiError::Forbidden(format!(
                "a partner's privacy officer erases only the personal data its partner supplied; the {left} value(s) this names were written by the vendor's staff and are the vendor's privacy officer's to erase"
            )));
        }
    }
    let mut outcomes = Vec::new();
    for (partner, id, only) in targets {
        outcomes.push(erase_one(app, &partner, id, only, reach, basis, reference.clone(), &actor).await?);
    }
    let mut erasures = Vec::new();
    let mut already = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Erased {
                id,
                scope,
                commitments,
                left,
                appended,
            } => {
                tracing::info!(request_id = %id, ?scope, commitments, left, seq = appended.seq, basis = basis.as_str(), "personal data erased");
                let body = json!({
                    "requestId": id.to_string(),
                    "scope": scope,
                    "commitmentsErased": commitments,
                    "commitmentsLeft": left,
                });
                erasures.push(crate::receipts::attach(signer, body, &appended)?);
            }
            Outcome::AlreadyErased(id) => already.push(id.to_string()),
        }
    }
    json_response(
        StatusCode::OK,
        &json!({ "erasures": erasures, "alreadyErased": already }),
    )
}

/// Erase one request's personal data (all of it, or only the items `only` names), within
/// the caller's reach.
#[allow(clippy::too_many_arguments)]
async fn erase_one(
    app: &App,
    partner: &PartnerId,
    id: RequestId,
    only: Option<Vec<String>>,
    reach: Reach,
    basis: LegalBasis,
    reference: Option<CaseReference>,
    actor: &Actor,
) -> Result<Outcome, ApiError> {
    for attempt in 0..8u32 {
        let Some(current) = app.store.get_request(partner, id).await? else {
            return Err(ApiError::NotFound);
        };
        let mut items = erasable(app, partner, id, only.as_ref()).await?;
        let left = within_reach(app, partner, id, &mut items, reach).await?;
        if items.is_empty() {
            return Ok(Outcome::AlreadyErased(id));
        }
        // Once the request's own values are gone, what is left (an interrupted erasure's
        // leftovers, or values added since) goes entry by entry.
        let scope = if only.is_some() || current.personal_data_erased_at().is_some() {
            ErasureScope::Entries
        } else {
            ErasureScope::Request
        };
        let mut commitments: Vec<CommitmentId> = items
            .iter()
            .flat_map(|i| i.values.iter())
            .filter_map(|v| v.commitment())
            .filter_map(|c| CommitmentId::parse(&c.to_hex()).ok())
            .collect();
        commitments.sort();
        commitments.dedup();
        let count = commitments.len();
        let now = Timestamp::from(app.store.now());
        let (next, event) =
            match current.erase_personal_data(scope, commitments, basis, reference.clone(), actor, now, &app.policy) {
                Ok(changed) => changed,
                Err(TransitionError::AlreadyErased) => return Ok(Outcome::AlreadyErased(id)),
                Err(e) => return Err(e.into()),
            };
        match app.store.save_erasure(&next, current.version(), &event, &items).await {
            Ok(appended) => {
                return Ok(Outcome::Erased {
                    id,
                    scope,
                    commitments: count,
                    left,
                    appended,
                });
            }
            Err(StoreError::Conflict) => {
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable)
}
