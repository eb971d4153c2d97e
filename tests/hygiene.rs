//! Repository hygiene: the layering the architecture promises, checked on the manifests.

use std::path::Path;

fn dependencies(manifest: &str, section: &str) -> Vec<(String, toml::Value)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(manifest);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: toml::Table = toml::from_str(&text).unwrap();
    value
        .get(section)
        .and_then(|d| d.as_table())
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

const AWS_AND_ASYNC: &[&str] = &[
    "aws-config",
    "aws-sdk-dynamodb",
    "aws-sdk-ssm",
    "serde_dynamo",
    "lambda_http",
    "lambda_runtime",
    "aws_lambda_events",
    "tokio",
    "store",
];

#[test]
fn the_domain_and_the_ledger_are_pure() {
    for manifest in ["shared/domain/Cargo.toml", "shared/ledger/Cargo.toml"] {
        for (name, _) in dependencies(manifest, "dependencies") {
            assert!(!AWS_AND_ASYNC.contains(&name.as_str()), "{manifest} depends on {name}");
        }
    }
}

#[test]
fn the_offline_verifier_needs_no_aws() {
    for (name, spec) in dependencies("shared/ledger-cli/Cargo.toml", "dependencies") {
        if AWS_AND_ASYNC.contains(&name.as_str()) {
            assert_eq!(
                spec.get("optional").and_then(toml::Value::as_bool),
                Some(true),
                "ledger-cli's {name} must be behind the export feature"
            );
        }
    }
}

#[test]
fn only_the_store_talks_to_aws() {
    let members = [
        "shared/domain",
        "shared/ledger",
        "shared/ledger-cli",
        "shared/api",
        "functions/create-request",
        "functions/list-requests",
        "functions/update-request",
        "functions/sla-sweep",
        "functions/local",
    ];
    for member in members {
        for (name, _) in dependencies(&format!("{member}/Cargo.toml"), "dependencies") {
            assert!(
                !["aws-config", "aws-sdk-dynamodb", "aws-sdk-ssm", "serde_dynamo"].contains(&name.as_str()),
                "{member} depends on {name}"
            );
        }
    }
}
