//! Partner–customer relationships: a partner files for, and reads the requests of, only the
//! customers it has an active CSP relationship with. The vendor maintains them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use domain::{CustomerId, PartnerId, Timestamp};

use crate::Store;
use crate::error::{StoreError, sdk};
use crate::items::{self, s};

/// The status value the create transaction's condition checks.
pub const ACTIVE: &str = "active";

/// Whether a relationship lets the partner act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipStatus {
    Active,
    Terminated,
}

impl RelationshipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RelationshipStatus::Active => ACTIVE,
            RelationshipStatus::Terminated => "terminated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(RelationshipStatus::Active),
            "terminated" => Some(RelationshipStatus::Terminated),
            _ => None,
        }
    }
}

/// A partner's relationship with one customer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub partner_id: PartnerId,
    pub customer_id: CustomerId,
    pub since: Timestamp,
    pub status: RelationshipStatus,
    pub updated_at: Timestamp,
    /// The ledger entry that set it as it is (absent on items written before it was kept):
    /// a change that changes nothing answers with that entry's receipt again.
    #[serde(skip)]
    pub entry: Option<crate::Appended>,
    /// For a write: the `updatedAt` of the relationship as it was read before this change
    /// (`None`: there was none). The write holds only if it is still so — two changes of one
    /// relationship at once cannot both be ledgered as if each saw the other's start.
    #[serde(skip)]
    pub based_on: Option<Timestamp>,
    /// While terminated: the seq of the entry that ended it (kept when the relationship is
    /// rewritten still terminated, e.g. a corrected `since`); the partner's evidence stops
    /// there. `None` on a write: the write's own entry, if it terminates.
    #[serde(skip)]
    pub ended_seq: Option<u64>,
}

impl Store {
    /// The relationship between `partner` and `customer`, if one was ever registered.
    pub async fn relationship(
        &self,
        partner: &PartnerId,
        customer: &CustomerId,
    ) -> Result<Option<Relationship>, StoreError> {
        self.count_round_trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.relationships)
            .key("partner", s(partner.as_str()))
            .key("customer", s(customer.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item.map(|item| relationship_from_item(&item)).transpose()
    }

    /// The relationships of these pairs that were ever registered (strongly consistent
    /// batched reads, 100 keys each).
    pub async fn relationships(
        &self,
        pairs: &[(PartnerId, CustomerId)],
    ) -> Result<HashMap<(PartnerId, CustomerId), Relationship>, StoreError> {
        let mut found = HashMap::new();
        for batch in pairs.chunks(100) {
            let keys = batch.iter().map(|(p, c)| relationship_key(p, c.as_str())).collect();
            let pending = crate::read::batch_keys([(&self.tables.relationships, keys)], true)?;
            for (_, items) in self.batch_get_all(pending, "relationship read").await? {
                for item in items {
                    let relationship = relationship_from_item(&item)?;
                    found.insert(
                        (relationship.partner_id.clone(), relationship.customer_id.clone()),
                        relationship,
                    );
                }
            }
        }
        Ok(found)
    }

    /// Whether `partner` may act for `customer` now.
    pub async fn is_related(&self, partner: &PartnerId, customer: &CustomerId) -> Result<bool, StoreError> {
        Ok(self
            .relationship(partner, customer)
            .await?
            .is_some_and(|r| r.status == RelationshipStatus::Active))
    }

    /// `Ok` while `partner` may read the requests it filed for `customer` (its relationship
    /// is active now); [`StoreError::RelationshipEnded`] otherwise.
    pub async fn require_related(&self, partner: &PartnerId, customer: &CustomerId) -> Result<(), StoreError> {
        if self.is_related(partner, customer).await? {
            Ok(())
        } else {
            Err(StoreError::RelationshipEnded)
        }
    }
}

/// The key of the relationship of `partner` with `customer` (its id, as text).
pub(crate) fn relationship_key(partner: &PartnerId, customer: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("partner".to_owned(), s(partner.as_str())),
        ("customer".to_owned(), s(customer)),
    ])
}

/// A relationship as its item holds it.
pub(crate) fn relationship_from_item(item: &items::Item) -> Result<Relationship, StoreError> {
    let partner = PartnerId::parse(items::text(item, "partner")?).map_err(StoreError::internal)?;
    let customer = CustomerId::parse(items::text(item, "customer")?).map_err(StoreError::internal)?;
    let status = RelationshipStatus::parse(items::text(item, "status")?)
        .ok_or_else(|| StoreError::Internal("a relationship with an unknown status".into()))?;
    let time = |name: &str| -> Result<Timestamp, StoreError> {
        Timestamp::parse(items::text(item, name)?).map_err(StoreError::internal)
    };
    let entry = match (item.get("entry_seq"), item.get("entry_hash"), item.get("entry_at")) {
        (Some(_), Some(_), Some(_)) => Some(crate::Appended {
            chain: ledger::ChainId::parse(partner.as_str()).map_err(StoreError::internal)?,
            seq: items::number(item, "entry_seq")?,
            entry_hash: ledger::Hash::from_hex(items::text(item, "entry_hash")?)
                .ok_or_else(|| StoreError::Internal("bad entry hash on a relationship".into()))?,
            at: items::text(item, "entry_at")?.to_owned(),
            // Read with the entry when an answer needs it (`Store::with_kept_receipt`).
            receipt: None,
        }),
        _ => None,
    };
    Ok(Relationship {
        partner_id: partner,
        customer_id: customer,
        since: time("since")?,
        status,
        updated_at: time("updated_at")?,
        // Items from before `ended_seq` was kept: the entry that set them as they are.
        ended_seq: match (status, item.get("ended_seq")) {
            (RelationshipStatus::Terminated, Some(_)) => Some(items::number(item, "ended_seq")?),
            (RelationshipStatus::Terminated, None) => entry.as_ref().map(|e| e.seq),
            (RelationshipStatus::Active, _) => None,
        },
        entry,
        based_on: None,
    })
}

/// The item of a relationship.
pub(crate) fn relationship_item(r: &Relationship) -> items::Item {
    let mut item = items::Item::new();
    item.insert("partner".into(), s(r.partner_id.as_str()));
    item.insert("customer".into(), s(r.customer_id.as_str()));
    item.insert("since".into(), s(r.since.to_string()));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("updated_at".into(), s(r.updated_at.to_string()));
    if let (RelationshipStatus::Terminated, Some(seq)) = (r.status, r.ended_seq) {
        item.insert("ended_seq".into(), items::n(seq));
    }
    item
}
