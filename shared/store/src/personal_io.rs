//! Personal values in storage (issue: erasable personal data). The request items, the
//! ledger and the idempotency records never hold a personal value: the ledger and the stored
//! responses hold salted commitments, and the values with their salts live in the
//! personal-data table only —
//!
//! - `pk = <partner>#<request id>`, `sk = R`: the request's own values (title, description,
//!   support topic, contact name, e-mail and phone, entitlement reference), whose commitments
//!   the `created` entry carries under `/change/request`;
//! - `sk = E#<seq>`: the values an entry introduced (the actor's subject, messages, reasons).
//!
//! so an erasure deletes exactly those items and the chain, its checkpoints, receipts and
//! evidence bundles all stay valid.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use domain::personal::{CREATED_REQUEST, EVENT_FIELDS, REQUEST_FIELDS};
use domain::{DomainEvent, PartnerId, RequestId, ServiceRequest};
use ledger::Hash;
use ledger::personal::{Salt, Sealed, as_commitment, commit, commitment_value, seal};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::items::{Item, s};

/// The sort key of a request's own values.
pub(crate) const REQUEST_SK: &str = "R";

/// The sort key of the values entry `seq` introduced.
pub(crate) fn entry_sk(seq: u64) -> String {
    format!("E#{seq:020}")
}

pub(crate) fn personal_pk(partner: &PartnerId, id: RequestId) -> String {
    format!("{partner}#{id}")
}

/// The blind index of an e-mail address within one partner: how erasure by e-mail finds the
/// values that belong to it without the index holding the address. (Anyone who can read the
/// index can read the personal-data table itself, so it needs no key; it goes with its item.)
pub(crate) fn email_index(partner: &PartnerId, email: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ledgerdesk/email-index/v1\n");
    h.update(partner.as_str().as_bytes());
    h.update(b"\n");
    h.update(email.trim().to_lowercase().as_bytes());
    hex::encode(h.finalize())
}

/// One stored personal value: where it goes (a JSON Pointer), what it is, its salt (hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredValue {
    pub p: String,
    pub v: String,
    pub s: String,
}

impl StoredValue {
    pub fn commitment(&self) -> Option<Hash> {
        Salt::from_hex(&self.s).map(|salt| commit(&salt, &self.v))
    }
}

/// An item of the personal-data table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonalItem {
    pub pk: String,
    pub sk: String,
    pub values: Vec<StoredValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_index: Option<String>,
    /// The kind of the entry that introduced the values (`E#` items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl PersonalItem {
    pub fn new(partner: &PartnerId, id: RequestId, sk: String, sealed: &[Sealed], email: Option<String>) -> Self {
        Self::with_pk(personal_pk(partner, id), sk, sealed, email, partner)
    }

    /// An item in partition `pk` (a request's, or a partner's relationship records').
    pub fn with_pk(pk: String, sk: String, sealed: &[Sealed], email: Option<String>, partner: &PartnerId) -> Self {
        Self {
            pk,
            sk,
            values: sealed
                .iter()
                .map(|v| StoredValue {
                    p: v.path.clone(),
                    v: v.value.clone(),
                    s: v.salt.to_hex(),
                })
                .collect(),
            email_index: email.map(|e| email_index(partner, &e)),
            kind: None,
        }
    }

    pub fn to_item(&self) -> Result<Item, StoreError> {
        serde_dynamo::to_item(self).map_err(StoreError::internal)
    }

    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(format!("unreadable personal data: {e}")))
    }

    pub fn key(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), s(&self.pk)), ("sk".to_owned(), s(&self.sk))])
    }
}

/// The request as JSON without its personal values.
pub(crate) fn clear_request(request: &ServiceRequest) -> Result<Value, StoreError> {
    let mut value = serde_json::to_value(request).map_err(StoreError::internal)?;
    for path in REQUEST_FIELDS {
        remove(&mut value, path);
    }
    Ok(value)
}

fn remove(value: &mut Value, path: &str) {
    let Some((parent, key)) = path.rsplit_once('/') else {
        return;
    };
    let target = if parent.is_empty() {
        Some(value)
    } else {
        value.pointer_mut(parent)
    };
    if let Some(Value::Object(map)) = target {
        map.remove(key);
    }
}

/// The request's personal values, each with a fresh salt and its commitment.
pub(crate) fn seal_request(request: &ServiceRequest) -> Result<Vec<Sealed>, StoreError> {
    let mut value = serde_json::to_value(request).map_err(StoreError::internal)?;
    seal(&mut value, REQUEST_FIELDS, Salt::random).map_err(StoreError::internal)
}

/// Replace the values at `prefix` + each sealed path of `document` by their commitments
/// (the same salts: the same commitments as stored).
pub(crate) fn seal_with(document: &mut Value, prefix: &str, values: &[Sealed]) -> Result<(), StoreError> {
    for v in values {
        let path = format!("{prefix}{}", v.path);
        let slot = document
            .pointer_mut(&path)
            .ok_or_else(|| StoreError::Internal(format!("{path} is missing")))?;
        if slot.as_str() != Some(v.value.as_str()) {
            return Err(StoreError::Internal(format!("{path} does not hold the sealed value")));
        }
        *slot = commitment_value(&v.commitment);
    }
    Ok(())
}

/// An event's ledger data (v2: no envelope members, personal values as commitments) and the
/// personal values it introduces. A `created` event's request carries the commitments of
/// `request_values` (the ones stored with the request).
pub(crate) fn event_data(
    event: &DomainEvent,
    request_values: Option<&[Sealed]>,
) -> Result<(Value, Vec<Sealed>), StoreError> {
    let mut data = serde_json::to_value(event).map_err(StoreError::internal)?;
    if let Some(object) = data.as_object_mut() {
        for member in ["kind", "at", "partnerId"] {
            object.remove(member);
        }
    }
    if let Some(values) = request_values {
        seal_with(&mut data, CREATED_REQUEST, values)?;
    }
    let introduced = seal(&mut data, EVENT_FIELDS, Salt::random).map_err(StoreError::internal)?;
    Ok((data, introduced))
}

/// Put a request's stored values back into its JSON (absent when erased: then `null`).
pub(crate) fn join_request(value: &mut Value, values: &[StoredValue]) {
    for v in values {
        let Some((parent, key)) = v.p.rsplit_once('/') else {
            continue;
        };
        let target = if parent.is_empty() {
            Some(&mut *value)
        } else {
            value.pointer_mut(parent)
        };
        if let Some(Value::Object(map)) = target {
            map.insert(key.to_owned(), Value::String(v.v.clone()));
        }
    }
}

/// Commitment → value, for everything in `items`.
pub(crate) fn lookup(items: &[PersonalItem]) -> HashMap<Hash, String> {
    items
        .iter()
        .flat_map(|i| i.values.iter())
        .filter_map(|v| v.commitment().map(|c| (c, v.v.clone())))
        .collect()
}

/// Replace every commitment object under the request paths at `prefix` by its value (or
/// `null` if it is not known any more): a stored response as the API shows it.
pub(crate) fn reveal_inline(document: &mut Value, prefix: &str, values: &HashMap<Hash, String>) {
    for path in REQUEST_FIELDS {
        let path = format!("{prefix}{path}");
        if let Some(slot) = document.pointer_mut(&path)
            && let Some(c) = as_commitment(slot)
        {
            *slot = values.get(&c).map_or(Value::Null, |v| Value::String(v.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Actor, NewRequestInput, NewServiceRequest, Role, Subject, SupportPolicy, TenantInput, Timestamp};

    fn request() -> (ServiceRequest, DomainEvent) {
        let partner = PartnerId::parse("contoso").unwrap();
        let input: NewRequestInput = serde_json::from_value(serde_json::json!({
            "product": "azure", "category": "technical", "severity": "A",
            "supportTopic": "VMs", "title": "Production down", "description": "Nothing answers.",
            "language": "en", "contact": { "name": "Erika Partner", "email": "erika@partner.example", "phone": "+49 30 123456" }
        }))
        .unwrap();
        let new = NewServiceRequest::parse(
            input,
            TenantInput::Customer("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
            &partner,
        )
        .unwrap();
        let at = Timestamp::parse("2026-11-24T10:00:00Z").unwrap();
        let actor = Actor::new(Role::PartnerAgent, Subject::parse("agent@contoso").unwrap());
        ServiceRequest::open(
            new,
            partner,
            RequestId::new(at.datetime(), 1),
            at,
            &actor,
            &SupportPolicy::embedded().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn nothing_personal_leaves_in_clear() {
        let (request, event) = request();
        let clear = clear_request(&request).unwrap().to_string();
        let sealed = seal_request(&request).unwrap();
        let (data, introduced) = event_data(&event, Some(&sealed)).unwrap();
        let data_text = data.to_string();
        for needle in [
            "Erika",
            "erika@",
            "Production down",
            "Nothing answers",
            "123456",
            "agent@contoso",
            "VMs",
        ] {
            assert!(!clear.contains(needle), "{needle} in the request item");
            assert!(!data_text.contains(needle), "{needle} in the ledger data");
        }
        assert_eq!(sealed.len(), 6, "title, description, topic, name, e-mail, phone");
        assert_eq!(introduced.len(), 1, "the actor's subject");
        // The created entry commits to exactly the stored values.
        for v in &sealed {
            let c = as_commitment(data.pointer(&format!("{CREATED_REQUEST}{}", v.path)).unwrap()).unwrap();
            assert_eq!(c, v.commitment);
        }
        assert!(data.get("kind").is_none() && data.get("at").is_none() && data.get("partnerId").is_none());
    }

    #[test]
    fn joined_back_the_request_is_whole_again() {
        let (request, _) = request();
        let sealed = seal_request(&request).unwrap();
        let item = PersonalItem::new(request.partner_id(), request.id(), REQUEST_SK.into(), &sealed, None);
        let mut value = clear_request(&request).unwrap();
        join_request(&mut value, &item.values);
        let back: ServiceRequest = serde_json::from_value(value).unwrap();
        assert_eq!(back, request);
        // Without the values (erased), the personal fields are null.
        let erased: ServiceRequest = serde_json::from_value(clear_request(&request).unwrap()).unwrap();
        assert!(erased.title().is_erased());
    }
}
