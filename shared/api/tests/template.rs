//! `infra/template.yaml` deploys what the code defines: the tables of `store::schema` with the
//! protections the stack promises, the routes of `routes.rs` on the right functions with the
//! right scopes, the runtime the notes require, and least-privilege IAM.

use std::collections::BTreeSet;

use api::{Function, ROUTES};
use serde_norway::Value;
use store::schema::{AttrKind, IndexProjection, TABLES, TableSpec};

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("infra/template.yaml")).expect("YAML")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Tagged(t) => format!("{}:{}", t.tag.to_string().trim_start_matches('!'), text(&t.value)),
        other => format!("{other:?}"),
    }
}

fn functions(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::Serverless::Function")
        .map(|(k, r)| (k.as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

fn function_named<'t>(functions: &'t [(String, Value)], crate_name: &str) -> &'t Value {
    &functions
        .iter()
        .find(|(_, r)| text(&r["Metadata"]["BuildProperties"]["Binary"]) == crate_name)
        .unwrap_or_else(|| panic!("no function builds {crate_name}"))
        .1
}

/// Every `dynamodb:` action the function's policies allow, with its resource texts.
fn allowed(function: &Value) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"].as_sequence().unwrap() {
        let Some(statements) = policy.get("Statement").and_then(Value::as_sequence) else {
            continue;
        };
        for statement in statements {
            if text(&statement["Effect"]) != "Allow" {
                continue;
            }
            let resources: Vec<String> = statement["Resource"]
                .as_sequence()
                .map(|r| r.iter().map(text).collect())
                .unwrap_or_else(|| vec![text(&statement["Resource"])]);
            for action in statement["Action"].as_sequence().unwrap() {
                out.push((text(action), resources.clone()));
            }
        }
    }
    out
}

#[test]
fn every_function_runs_on_al2023_arm64_built_by_cargo_lambda() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(text(&globals["Runtime"]), "provided.al2023");
    assert_eq!(
        globals["Architectures"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(text)
            .collect::<Vec<_>>(),
        ["arm64"]
    );
    let functions = functions(&template);
    let crates: BTreeSet<String> = functions
        .iter()
        .map(|(_, r)| text(&r["Metadata"]["BuildProperties"]["Binary"]))
        .collect();
    assert_eq!(
        crates,
        ["create-request", "list-requests", "sla-sweep", "update-request"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    for (name, resource) in &functions {
        assert_eq!(text(&resource["Metadata"]["BuildMethod"]), "rust-cargolambda", "{name}");
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        assert_eq!(
            text(&resource["Properties"]["CodeUri"]),
            format!("../functions/{binary}"),
            "{name}: one CodeUri per crate"
        );
        assert!(
            resource["Properties"]
                .get("Runtime")
                .is_none_or(|r| text(r) == "provided.al2023"),
            "{name}"
        );
        assert_eq!(
            text(&resource["Properties"]["Environment"]["Variables"]["TABLE_PREFIX"]),
            "Ref:AWS::StackName",
            "{name}"
        );
    }
}

#[test]
fn the_http_api_routes_are_the_codes_routes() {
    let template = template();
    let functions = functions(&template);
    let mut deployed = BTreeSet::new();
    for (_, resource) in &functions {
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        let Some(events) = resource["Properties"].get("Events").and_then(Value::as_mapping) else {
            continue;
        };
        for (_, event) in events {
            if text(&event["Type"]) != "HttpApi" {
                continue;
            }
            let p = &event["Properties"];
            assert_eq!(text(&p["Auth"]["Authorizer"]), "JwtAuthorizer");
            let scopes: BTreeSet<String> = p["Auth"]["AuthorizationScopes"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(text)
                .collect();
            deployed.insert((text(&p["Method"]), text(&p["Path"]), binary.clone(), scopes));
        }
    }
    let coded: BTreeSet<(String, String, String, BTreeSet<String>)> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.name().to_owned(),
                r.scopes.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(deployed, coded);
    let authorizer = &template["Resources"]["HttpApi"]["Properties"]["Auth"];
    assert_eq!(text(&authorizer["DefaultAuthorizer"]), "JwtAuthorizer");
    let jwt = &authorizer["Authorizers"]["JwtAuthorizer"]["JwtConfiguration"];
    assert_eq!(text(&jwt["issuer"]), "Ref:JwtIssuer");
    assert_eq!(text(&jwt["audience"]), "Ref:JwtAudience");
}

#[test]
fn iam_is_least_privilege() {
    let template = template();
    let functions = functions(&template);
    let writes = ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"];
    // Listing is read-only.
    let list = allowed(function_named(&functions, Function::ListRequests.name()));
    assert!(
        list.iter().all(|(a, _)| !writes.iter().any(|w| a.ends_with(w))),
        "{list:?}"
    );
    for (name, resource) in &functions {
        let grants = allowed(resource);
        for (action, resources) in &grants {
            assert!(
                !action.ends_with('*') && !action.contains("DeleteItem"),
                "{name}: {action}"
            );
            if action == "dynamodb:UpdateItem" {
                assert!(
                    resources.iter().all(|r| r.contains("ChainHeadsTable")),
                    "{name}: only the chain head is ever updated: {resources:?}"
                );
            }
            if action.starts_with("dynamodb:") {
                assert!(
                    resources.iter().all(|r| r.contains("Table")),
                    "{name}: {action} on {resources:?}"
                );
            }
        }
        // Everyone gets the append-only guard.
        let policies = resource["Properties"]["Policies"].as_sequence().unwrap();
        assert!(policies.iter().any(|p| text(p) == "Ref:LedgerIsAppendOnly"), "{name}");
    }
    // Only the writers may update the chain head.
    let updaters: BTreeSet<String> = functions
        .iter()
        .filter(|(_, r)| allowed(r).iter().any(|(a, _)| a == "dynamodb:UpdateItem"))
        .map(|(_, r)| text(&r["Metadata"]["BuildProperties"]["Binary"]))
        .collect();
    assert_eq!(
        updaters,
        ["create-request", "sla-sweep", "update-request"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    let guard = &template["Resources"]["LedgerIsAppendOnly"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(text(&guard["Effect"]), "Deny");
    let denied: Vec<String> = guard["Action"].as_sequence().unwrap().iter().map(text).collect();
    assert!(denied.contains(&"dynamodb:DeleteItem".to_owned()) && denied.contains(&"dynamodb:UpdateItem".to_owned()));
}

#[test]
fn the_sweep_runs_every_five_minutes_and_breaches_raise_an_alarm() {
    let template = template();
    let functions = functions(&template);
    let sweep = function_named(&functions, "sla-sweep");
    let events = sweep["Properties"]["Events"].as_mapping().unwrap();
    let schedule = events
        .values()
        .find(|e| text(&e["Type"]) == "Schedule")
        .expect("a schedule");
    assert_eq!(text(&schedule["Properties"]["Schedule"]), "rate(5 minutes)");
    let filter = &template["Resources"]["SlaBreachMetric"]["Properties"];
    assert_eq!(text(&filter["FilterPattern"]), r#"{ $.escalation = "sla_breach" }"#);
    assert_eq!(
        text(&template["Resources"]["SlaBreachAlarm"]["Properties"]["MetricName"]),
        "SlaBreaches"
    );
    for (name, _) in &functions {
        assert!(
            template["Resources"].get(format!("{name}Errors").as_str()).is_some(),
            "{name} has no error alarm"
        );
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
