//! Partner–customer relationships: a partner files for, and reads the requests of, only the
//! customers it has an active CSP relationship with. The vendor maintains them.

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
        let Some(item) = out.item else {
            return Ok(None);
        };
        let status = RelationshipStatus::parse(items::text(&item, "status")?)
            .ok_or_else(|| StoreError::Internal("a relationship with an unknown status".into()))?;
        let time = |name: &str| -> Result<Timestamp, StoreError> {
            Timestamp::parse(items::text(&item, name)?).map_err(StoreError::internal)
        };
        let entry = match (item.get("entry_seq"), item.get("entry_hash"), item.get("entry_at")) {
            (Some(_), Some(_), Some(_)) => Some(crate::Appended {
                chain: ledger::ChainId::parse(partner.as_str()).map_err(StoreError::internal)?,
                seq: items::number(&item, "entry_seq")?,
                entry_hash: ledger::Hash::from_hex(items::text(&item, "entry_hash")?)
                    .ok_or_else(|| StoreError::Internal("bad entry hash on a relationship".into()))?,
                at: items::text(&item, "entry_at")?.to_owned(),
            }),
            _ => None,
        };
        Ok(Some(Relationship {
            partner_id: partner.clone(),
            customer_id: customer.clone(),
            since: time("since")?,
            status,
            updated_at: time("updated_at")?,
            entry,
        }))
    }

    /// Whether `partner` may act for `customer` now.
    pub async fn is_related(&self, partner: &PartnerId, customer: &CustomerId) -> Result<bool, StoreError> {
        Ok(self
            .relationship(partner, customer)
            .await?
            .is_some_and(|r| r.status == RelationshipStatus::Active))
    }
}

/// The item of a relationship.
pub(crate) fn relationship_item(r: &Relationship) -> items::Item {
    let mut item = items::Item::new();
    item.insert("partner".into(), s(r.partner_id.as_str()));
    item.insert("customer".into(), s(r.customer_id.as_str()));
    item.insert("since".into(), s(r.since.to_string()));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("updated_at".into(), s(r.updated_at.to_string()));
    item
}
