//! `infra/template.yaml` defines the same tables as `schema.rs`, with the protections the
//! stack promises (point-in-time recovery, deletion protection, encryption, TTL).

use std::collections::BTreeSet;

use serde_norway::Value;
use store::schema::{AttrKind, IndexProjection, TABLES, TableSpec};

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("infra/template.yaml")).expect("YAML")
}

/// A scalar, or a tagged scalar (`!Sub "…"` → "Sub:…"), as text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Tagged(t) => format!("{}:{}", t.tag.to_string().trim_start_matches('!'), text(&t.value)),
        other => format!("{other:?}"),
    }
}

fn keys(schema: &Value) -> Vec<(String, String)> {
    schema
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (text(&k["AttributeName"]), text(&k["KeyType"])))
        .collect()
}

fn expected_keys(partition: &str, sort: Option<&str>) -> Vec<(String, String)> {
    let mut out = vec![(partition.to_owned(), "HASH".to_owned())];
    out.extend(sort.map(|s| (s.to_owned(), "RANGE".to_owned())));
    out
}

fn check(table: &TableSpec, resource: &Value) {
    let name = table.logical_id;
    assert_eq!(text(&resource["Type"]), "AWS::DynamoDB::Table", "{name}");
    assert_eq!(text(&resource["DeletionPolicy"]), "Retain", "{name}");
    let p = &resource["Properties"];
    assert_eq!(
        text(&p["TableName"]),
        format!("Sub:${{AWS::StackName}}-{}", table.suffix),
        "{name}"
    );
    assert_eq!(text(&p["BillingMode"]), "PAY_PER_REQUEST", "{name}");
    assert_eq!(text(&p["DeletionProtectionEnabled"]), "true", "{name}");
    assert_eq!(
        text(&p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]),
        "true",
        "{name}"
    );
    assert_eq!(text(&p["SSESpecification"]["SSEEnabled"]), "true", "{name}");
    assert_eq!(
        keys(&p["KeySchema"]),
        expected_keys(table.partition.name, table.sort.map(|s| s.name)),
        "{name} key schema"
    );

    let defined: BTreeSet<(String, String)> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (text(&a["AttributeName"]), text(&a["AttributeType"])))
        .collect();
    let expected: BTreeSet<(String, String)> = table
        .key_attributes()
        .iter()
        .map(|a| {
            (
                a.name.to_owned(),
                match a.kind {
                    AttrKind::S => "S",
                    AttrKind::N => "N",
                }
                .to_owned(),
            )
        })
        .collect();
    assert_eq!(defined, expected, "{name} attribute definitions");

    let indexes = p["GlobalSecondaryIndexes"].as_sequence().cloned().unwrap_or_default();
    assert_eq!(indexes.len(), table.indexes.len(), "{name} indexes");
    for spec in table.indexes {
        let index = indexes
            .iter()
            .find(|i| text(&i["IndexName"]) == spec.name)
            .unwrap_or_else(|| panic!("{name} lacks index {}", spec.name));
        assert_eq!(
            keys(&index["KeySchema"]),
            expected_keys(spec.partition.name, spec.sort.map(|s| s.name)),
            "{}",
            spec.name
        );
        let projection = match spec.projection {
            IndexProjection::All => "ALL",
            IndexProjection::KeysOnly => "KEYS_ONLY",
        };
        assert_eq!(
            text(&index["Projection"]["ProjectionType"]),
            projection,
            "{}",
            spec.name
        );
    }
    match table.ttl {
        Some(attribute) => {
            assert_eq!(
                text(&p["TimeToLiveSpecification"]["AttributeName"]),
                attribute,
                "{name}"
            );
            assert_eq!(text(&p["TimeToLiveSpecification"]["Enabled"]), "true", "{name}");
        }
        None => assert!(
            p.get("TimeToLiveSpecification").is_none(),
            "{name} has an unexpected TTL"
        ),
    }
}

#[test]
fn the_templates_tables_match_the_code() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    for table in TABLES {
        let resource = resources
            .get(table.logical_id)
            .unwrap_or_else(|| panic!("template lacks {}", table.logical_id));
        check(&table, resource);
    }
    let declared: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::DynamoDB::Table")
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(declared.len(), TABLES.len(), "no table outside schema.rs: {declared:?}");
}
