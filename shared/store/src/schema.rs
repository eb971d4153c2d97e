//! The one definition of ledgerdesk's tables. The local run and the tests create tables from
//! it; a test checks `infra/template.yaml` against it.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use crate::error::{StoreError, sdk};

/// The type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    S,
    N,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttr {
    pub name: &'static str,
    pub kind: AttrKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexProjection {
    All,
    KeysOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition: KeyAttr,
    pub sort: Option<KeyAttr>,
    pub projection: IndexProjection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The resource's logical id in `infra/template.yaml`.
    pub logical_id: &'static str,
    /// The table is named `<prefix>-<suffix>`.
    pub suffix: &'static str,
    pub partition: KeyAttr,
    pub sort: Option<KeyAttr>,
    pub indexes: &'static [IndexSpec],
    /// The TTL attribute, if items expire.
    pub ttl: Option<&'static str>,
}

const fn s(name: &'static str) -> KeyAttr {
    KeyAttr {
        name,
        kind: AttrKind::S,
    }
}

const fn n(name: &'static str) -> KeyAttr {
    KeyAttr {
        name,
        kind: AttrKind::N,
    }
}

pub const BY_CUSTOMER: &str = "by-customer";
pub const BY_ID: &str = "by-id";
pub const SWEEP_DUE: &str = "sweep-due";
pub const BY_REQUEST: &str = "by-request";
pub const NEEDS_CHECKPOINT: &str = "needs-checkpoint";
pub const BY_EMAIL: &str = "by-email";
pub const QUEUE: &str = "queue";

/// Service requests, keyed by partner: `pk = P#<partner>`, `sk = R#<request id>`.
pub const REQUESTS: TableSpec = TableSpec {
    logical_id: "RequestsTable",
    suffix: "requests",
    partition: s("pk"),
    sort: Some(s("sk")),
    indexes: &[
        IndexSpec {
            name: BY_CUSTOMER,
            partition: s("gsi1pk"),
            sort: Some(s("gsi1sk")),
            projection: IndexProjection::All,
        },
        IndexSpec {
            name: BY_ID,
            partition: s("rid"),
            sort: None,
            projection: IndexProjection::KeysOnly,
        },
        IndexSpec {
            name: SWEEP_DUE,
            partition: s("sweep_shard"),
            sort: Some(s("sweep_due")),
            projection: IndexProjection::All,
        },
        IndexSpec {
            name: QUEUE,
            partition: s("queue_pk"),
            sort: Some(s("queue_sk")),
            projection: IndexProjection::All,
        },
    ],
    ttl: None,
};

/// Ledger entries, keyed `(chain, seq)`. Written with conditional puts only; IAM denies
/// updates and deletes.
pub const LEDGER: TableSpec = TableSpec {
    logical_id: "LedgerTable",
    suffix: "ledger",
    partition: s("chain"),
    sort: Some(n("seq")),
    indexes: &[IndexSpec {
        name: BY_REQUEST,
        partition: s("rid"),
        sort: Some(n("seq")),
        projection: IndexProjection::All,
    }],
    ttl: None,
};

/// One head per chain: size, last hash, Merkle frontier; and, while the chain has entries no
/// checkpoint covers, the sparse `ckpt_shard` marker the signer finds it by.
pub const CHAIN_HEADS: TableSpec = TableSpec {
    logical_id: "ChainHeadsTable",
    suffix: "chain-heads",
    partition: s("chain"),
    sort: None,
    indexes: &[IndexSpec {
        name: NEEDS_CHECKPOINT,
        partition: s("ckpt_shard"),
        sort: Some(s("chain")),
        projection: IndexProjection::KeysOnly,
    }],
    ttl: None,
};

/// Signed checkpoints, keyed `(chain, size)`.
pub const CHECKPOINTS: TableSpec = TableSpec {
    logical_id: "CheckpointsTable",
    suffix: "checkpoints",
    partition: s("chain"),
    sort: Some(n("size")),
    indexes: &[],
    ttl: None,
};

/// Idempotency records: `pk = <partner>#<Idempotency-Key>`, expiring after a day.
pub const IDEMPOTENCY: TableSpec = TableSpec {
    logical_id: "IdempotencyTable",
    suffix: "idempotency",
    partition: s("pk"),
    sort: None,
    indexes: &[],
    ttl: Some("expires_at"),
};

/// Personal values and their salts, kept out of the ledger (which holds only commitments):
/// `pk = <partner>#<request id>`, `sk = R` (the request's own values) or `E#<seq>` (an
/// entry's). Erasure deletes these items and nothing else.
pub const PERSONAL_DATA: TableSpec = TableSpec {
    logical_id: "PersonalDataTable",
    suffix: "personal-data",
    partition: s("pk"),
    sort: Some(s("sk")),
    indexes: &[IndexSpec {
        name: BY_EMAIL,
        partition: s("email_index"),
        sort: None,
        projection: IndexProjection::KeysOnly,
    }],
    ttl: None,
};

/// The signer's Merkle tiles (C2SP tlog-tiles layout): `chain`, `tile = <level>/<index>`.
pub const TILES: TableSpec = TableSpec {
    logical_id: "TilesTable",
    suffix: "tiles",
    partition: s("chain"),
    sort: Some(s("tile")),
    indexes: &[],
    ttl: None,
};

/// Which customers each partner may act for (the CSP relationship): `partner`, `customer`.
pub const RELATIONSHIPS: TableSpec = TableSpec {
    logical_id: "RelationshipsTable",
    suffix: "relationships",
    partition: s("partner"),
    sort: Some(s("customer")),
    indexes: &[],
    ttl: None,
};

/// Partners' webhook endpoints (issue #27): `partner`, `endpoint` (its id); each item carries
/// the endpoint's sealed signing secrets and its cursor in the partner's chain.
pub const WEBHOOKS: TableSpec = TableSpec {
    logical_id: "WebhooksTable",
    suffix: "webhooks",
    partition: s("partner"),
    sort: Some(s("endpoint")),
    indexes: &[],
    ttl: None,
};

/// The attempts at delivering to each endpoint, for the partner's delivery log (without
/// bodies): `endpoint` (`<partner>#<endpoint id>`), `attempt` (`<time, ms, 15 digits>#<seq, 20
/// digits>`), expiring after 30 days.
pub const WEBHOOK_DELIVERIES: TableSpec = TableSpec {
    logical_id: "WebhookDeliveriesTable",
    suffix: "webhook-deliveries",
    partition: s("endpoint"),
    sort: Some(s("attempt")),
    indexes: &[],
    ttl: Some("expires_at"),
};

pub const TABLES: [TableSpec; 10] = [
    REQUESTS,
    LEDGER,
    CHAIN_HEADS,
    CHECKPOINTS,
    IDEMPOTENCY,
    PERSONAL_DATA,
    TILES,
    RELATIONSHIPS,
    WEBHOOKS,
    WEBHOOK_DELIVERIES,
];

/// The deployed names of the tables: `<prefix>-<suffix>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub requests: String,
    pub ledger: String,
    pub chain_heads: String,
    pub checkpoints: String,
    pub idempotency: String,
    pub personal_data: String,
    pub tiles: String,
    pub relationships: String,
    pub webhooks: String,
    pub webhook_deliveries: String,
}

impl TableNames {
    pub fn with_prefix(prefix: &str) -> Self {
        let name = |t: TableSpec| format!("{prefix}-{}", t.suffix);
        Self {
            requests: name(REQUESTS),
            ledger: name(LEDGER),
            chain_heads: name(CHAIN_HEADS),
            checkpoints: name(CHECKPOINTS),
            idempotency: name(IDEMPOTENCY),
            personal_data: name(PERSONAL_DATA),
            tiles: name(TILES),
            relationships: name(RELATIONSHIPS),
            webhooks: name(WEBHOOKS),
            webhook_deliveries: name(WEBHOOK_DELIVERIES),
        }
    }

    pub fn name_of(&self, table: &TableSpec) -> &str {
        match table.suffix {
            "requests" => &self.requests,
            "ledger" => &self.ledger,
            "chain-heads" => &self.chain_heads,
            "checkpoints" => &self.checkpoints,
            "personal-data" => &self.personal_data,
            "tiles" => &self.tiles,
            "relationships" => &self.relationships,
            "webhooks" => &self.webhooks,
            "webhook-deliveries" => &self.webhook_deliveries,
            _ => &self.idempotency,
        }
    }

    /// Every table's name.
    pub fn all(&self) -> Vec<&str> {
        TABLES.iter().map(|t| self.name_of(t)).collect()
    }
}

fn attribute_type(kind: AttrKind) -> ScalarAttributeType {
    match kind {
        AttrKind::S => ScalarAttributeType::S,
        AttrKind::N => ScalarAttributeType::N,
    }
}

fn key_schema(partition: KeyAttr, sort: Option<KeyAttr>) -> Result<Vec<KeySchemaElement>, StoreError> {
    let mut keys = vec![
        KeySchemaElement::builder()
            .attribute_name(partition.name)
            .key_type(KeyType::Hash)
            .build()
            .map_err(StoreError::internal)?,
    ];
    if let Some(sort) = sort {
        keys.push(
            KeySchemaElement::builder()
                .attribute_name(sort.name)
                .key_type(KeyType::Range)
                .build()
                .map_err(StoreError::internal)?,
        );
    }
    Ok(keys)
}

impl TableSpec {
    /// Every attribute used in a key of the table or of one of its indexes, once.
    pub fn key_attributes(&self) -> Vec<KeyAttr> {
        let mut all = vec![self.partition];
        all.extend(self.sort);
        for index in self.indexes {
            all.push(index.partition);
            all.extend(index.sort);
        }
        let mut unique: Vec<KeyAttr> = Vec::new();
        for attr in all {
            if !unique.iter().any(|u| u.name == attr.name) {
                unique.push(attr);
            }
        }
        unique
    }
}

/// Create every table that does not exist yet (for the local run and the tests; in AWS the
/// SAM template creates them).
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), StoreError> {
    let existing = client
        .list_tables()
        .send()
        .await
        .map_err(sdk)?
        .table_names
        .unwrap_or_default();
    for table in TABLES {
        let name = names.name_of(&table);
        if existing.iter().any(|t| t == name) {
            continue;
        }
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest);
        for element in key_schema(table.partition, table.sort)? {
            request = request.key_schema(element);
        }
        for attr in table.key_attributes() {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr.name)
                    .attribute_type(attribute_type(attr.kind))
                    .build()
                    .map_err(StoreError::internal)?,
            );
        }
        for index in table.indexes {
            let projection = match index.projection {
                IndexProjection::All => ProjectionType::All,
                IndexProjection::KeysOnly => ProjectionType::KeysOnly,
            };
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .projection(Projection::builder().projection_type(projection).build());
            for element in key_schema(index.partition, index.sort)? {
                gsi = gsi.key_schema(element);
            }
            request = request.global_secondary_indexes(gsi.build().map_err(StoreError::internal)?);
        }
        request.send().await.map_err(sdk)?;
        if let Some(attribute) = table.ttl {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attribute)
                        .enabled(true)
                        .build()
                        .map_err(StoreError::internal)?,
                )
                .send()
                .await
                .map_err(sdk)?;
        }
    }
    Ok(())
}
