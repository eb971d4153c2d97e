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
    let mut expected: BTreeSet<String> = Function::ALL.iter().map(|f| f.name().to_owned()).collect();
    expected.insert("sla-sweep".into());
    expected.insert("deliver-webhooks".into());
    assert_eq!(crates, expected);
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
            if text(&p["Path"]) == "$default" {
                // Whatever no route matches: answered 404 (or 405 with Allow) by the route table.
                assert_eq!(binary, Function::ListRequests.name());
                assert_eq!(text(&p["Method"]), "ANY");
                continue;
            }
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
    let audiences: Vec<String> = jwt["audience"].as_sequence().unwrap().iter().map(text).collect();
    assert_eq!(audiences, ["Ref:PartnerAudience", "Ref:VendorAudience"]);
    // Every route has its own throttle (and the catch-all too).
    let settings = template["Resources"]["HttpApi"]["Properties"]["RouteSettings"]
        .as_mapping()
        .unwrap();
    for route in ROUTES {
        let s = settings
            .get(route.key().as_str())
            .unwrap_or_else(|| panic!("no throttle for {}", route.key()));
        assert!(s["ThrottlingRateLimit"].as_u64().unwrap() > 0);
        assert!(s["ThrottlingBurstLimit"].as_u64().unwrap() > 0);
    }
    assert!(settings.get("$default").is_some());
    // The functions tell partners from vendor staff by the vendor audience.
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(text(&globals["VENDOR_AUDIENCE"]), "Ref:VendorAudience");
    assert_eq!(text(&globals["PARTNER_AUDIENCE"]), "Ref:PartnerAudience");
}

/// Every statement (any effect) of the function's inline policies.
fn statements(function: &Value) -> Vec<Value> {
    function["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("Statement").and_then(Value::as_sequence).cloned())
        .flatten()
        .collect()
}

fn list_of(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|r| r.iter().map(text).collect())
        .unwrap_or_else(|| vec![text(v)])
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
    // The evidence function writes one thing: an auditor's disclosure (its entry in a
    // transaction, the chain head, the auditor's sealed subject).
    let evidence = allowed(function_named(&functions, Function::Evidence.name()));
    let evidence_writes: Vec<(String, Vec<String>)> = evidence
        .iter()
        .filter(|(a, _)| writes.iter().any(|w| a.ends_with(w)))
        .cloned()
        .collect();
    assert_eq!(
        evidence_writes,
        [
            ("dynamodb:PutItem", "GetAtt:LedgerTable.Arn"),
            ("dynamodb:PutItem", "GetAtt:PersonalDataTable.Arn"),
            ("dynamodb:UpdateItem", "GetAtt:ChainHeadsTable.Arn"),
        ]
        .map(|(a, r)| (a.to_owned(), vec![r.to_owned()]))
        .to_vec(),
        "{evidence:?}"
    );
    for (name, resource) in &functions {
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        let grants = allowed(resource);
        for (action, resources) in &grants {
            assert!(!action.ends_with('*'), "{name}: {action}");
            if action == "dynamodb:DeleteItem" || action == "dynamodb:BatchWriteItem" {
                // Deletes only of personal data, only by the erasure; batch writes also of tiles
                // and of the webhook delivery log.
                assert!(
                    resources.iter().all(|r| r.contains("PersonalDataTable")
                        || r.contains("TilesTable")
                        || (action == "dynamodb:BatchWriteItem" && r.contains("WebhookDeliveriesTable"))),
                    "{name}: {action} on {resources:?}"
                );
                if action == "dynamodb:DeleteItem" {
                    assert_eq!(binary, Function::ErasePersonalData.name(), "{name}: {action}");
                }
            }
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
        // Append-only in IAM: a ledger or checkpoint item is put only inside a transaction.
        for statement in statements(resource) {
            let resources = list_of(&statement["Resource"]);
            let actions = list_of(&statement["Action"]);
            let on_ledger = resources
                .iter()
                .any(|r| r.contains("LedgerTable.Arn") || r.contains("CheckpointsTable.Arn"));
            if on_ledger && actions.iter().any(|a| a == "dynamodb:PutItem") {
                assert_eq!(
                    text(&statement["Condition"]["StringEquals"]["dynamodb:EnclosingOperation"]),
                    "TransactWriteItems",
                    "{name}: an unconditioned PutItem could overwrite a ledger or checkpoint item"
                );
                assert!(
                    resources
                        .iter()
                        .all(|r| r.contains("LedgerTable") || r.contains("CheckpointsTable")),
                    "{name}: the transaction-only statement is for the ledger tables alone"
                );
            }
        }
        // Everyone gets the append-only guard, and a concurrency reservation.
        let policies = resource["Properties"]["Policies"].as_sequence().unwrap();
        assert!(policies.iter().any(|p| text(p) == "Ref:LedgerIsAppendOnly"), "{name}");
        assert!(
            resource["Properties"]["ReservedConcurrentExecutions"]
                .as_u64()
                .is_some_and(|c| c > 0),
            "{name}: reserved concurrency"
        );
    }
    // Only the writers may update the chain head (evidence: for disclosures).
    let updaters: BTreeSet<String> = functions
        .iter()
        .filter(|(_, r)| allowed(r).iter().any(|(a, _)| a == "dynamodb:UpdateItem"))
        .map(|(_, r)| text(&r["Metadata"]["BuildProperties"]["Binary"]))
        .collect();
    assert_eq!(
        updaters,
        [
            "admin",
            "create-request",
            "erase-personal-data",
            "evidence",
            "sla-sweep",
            "update-request"
        ]
        .map(String::from)
        .into_iter()
        .collect()
    );
    let guard = template["Resources"]["LedgerIsAppendOnly"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap()
        .clone();
    assert!(guard.iter().all(|s| text(&s["Effect"]) == "Deny"));
    let denied: Vec<String> = list_of(&guard[0]["Action"]);
    assert!(denied.contains(&"dynamodb:DeleteItem".to_owned()) && denied.contains(&"dynamodb:UpdateItem".to_owned()));
    assert_eq!(list_of(&guard[1]["Action"]), ["dynamodb:PutItem"]);
    assert_eq!(
        text(&guard[1]["Condition"]["StringNotEquals"]["dynamodb:EnclosingOperation"]),
        "TransactWriteItems"
    );
}

/// The principals a KMS key policy grants `action` to (role logical ids, services, or "root").
fn key_grants(template: &Value, key: &str, action: &str) -> BTreeSet<String> {
    let statements = template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{key} has no key policy"));
    let mut out = BTreeSet::new();
    for s in statements {
        assert_eq!(text(&s["Effect"]), "Allow", "{key}");
        let actions = list_of(&s["Action"]);
        let grants = actions
            .iter()
            .any(|a| a == action || (a.ends_with('*') && action.starts_with(a.trim_end_matches('*'))));
        if !grants {
            continue;
        }
        let principal = &s["Principal"];
        if let Some(service) = principal.get("Service") {
            out.insert(text(service));
        }
        if let Some(aws) = principal.get("AWS") {
            for p in list_of(aws) {
                out.insert(p);
            }
        }
    }
    out
}

#[test]
fn keys_only_their_owners_can_read() {
    let template = template();
    let role = |f: &str| format!("GetAtt:{f}FunctionRole.Arn");
    for (key, readers, parameter) in [
        ("SigningKeyKmsKey", vec![role("SlaSweep")], "SigningKeyParameter"),
        (
            "ReceiptKeyKmsKey",
            vec![
                role("Admin"),
                role("CreateRequest"),
                role("ErasePersonalData"),
                role("Evidence"),
                role("SlaSweep"),
                role("UpdateRequest"),
            ],
            "ReceiptKeyParameter",
        ),
        ("CursorKeyKmsKey", vec![role("ListRequests")], "CursorKeyParameter"),
        (
            "WebhookKeyKmsKey",
            vec![role("DeliverWebhooks"), role("WebhookEndpoints")],
            "WebhookKeyParameter",
        ),
    ] {
        assert_eq!(
            key_grants(&template, key, "kms:Decrypt"),
            readers.into_iter().collect(),
            "{key}: who may decrypt"
        );
        // The decrypt grant is bound to the one parameter, through SSM.
        let statements = template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
            .as_sequence()
            .unwrap();
        let reading = statements
            .iter()
            .find(|s| list_of(&s["Action"]) == ["kms:Decrypt"])
            .unwrap();
        let condition = &reading["Condition"]["StringEquals"];
        assert!(text(&condition["kms:ViaService"]).contains("ssm."), "{key}");
        assert!(
            text(&condition["kms:EncryptionContext:PARAMETER_ARN"]).contains(parameter),
            "{key}"
        );
        // The administrators manage the key but are never granted decrypt.
        let admin = statements
            .iter()
            .find(|s| text(&s["Sid"]) == "AdministerWithoutReading")
            .unwrap();
        assert!(
            list_of(&admin["Action"])
                .iter()
                .all(|a| !a.contains("Decrypt") && a != "kms:*"),
            "{key}"
        );
        assert_eq!(
            text(&template["Resources"][key]["Properties"]["EnableKeyRotation"]),
            "true"
        );
    }
    // A function's own kms:Decrypt is bound to its own parameter.
    let functions = functions(&template);
    for (name, resource) in &functions {
        let env = &resource["Properties"]["Environment"]["Variables"];
        let own: Vec<String> = [
            "SIGNING_KEY_PARAMETER",
            "RECEIPT_KEY_PARAMETER",
            "CURSOR_KEY_PARAMETER",
            "WEBHOOK_KEY_PARAMETER",
        ]
        .iter()
        .filter_map(|v| env.get(*v).map(text))
        .map(|r| r.trim_start_matches("Ref:").to_owned())
        .collect();
        for statement in statements(resource) {
            if list_of(&statement["Action"]) != ["kms:Decrypt"] {
                continue;
            }
            // Or the tables' key, through S3 only: list-requests' presigned links to entry tiles.
            if list_of(&statement["Resource"]) == ["GetAtt:TablesKmsKey.Arn"] {
                assert_eq!(
                    text(&resource["Metadata"]["BuildProperties"]["Binary"]),
                    "list-requests"
                );
                assert!(text(&statement["Condition"]["StringEquals"]["kms:ViaService"]).contains("s3."));
                continue;
            }
            // Every parameter it may decrypt is one it owns (the sweep owns two).
            let bound = list_of(&statement["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"]);
            assert!(!bound.is_empty(), "{name}");
            for bound in &bound {
                assert!(
                    own.iter().any(|p| bound.contains(&format!("${{{p}}}"))),
                    "{name}: decrypts {bound}, owns {own:?}"
                );
            }
        }
    }
}

#[test]
fn entry_tiles_are_written_by_the_signer_alone_and_read_by_link() {
    let template = template();
    let functions = functions(&template);
    let tiles = "Sub:${EntryTileBucket.Arn}/entry-tiles/*".to_owned();
    let copies = "Sub:${EntryTileBucket.Arn}/checkpoints/*".to_owned();
    for (name, resource) in &functions {
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        let s3: Vec<(String, Vec<String>)> = allowed(resource)
            .into_iter()
            .filter(|(action, _)| action.starts_with("s3:"))
            .collect();
        // The signer alone writes tiles and its copies of signed checkpoints and states, and
        // lists those copies (by version); list-requests alone reads tiles (by presigned link).
        let expected = match binary.as_str() {
            "sla-sweep" => vec![
                ("s3:PutObject".to_owned(), vec![tiles.clone(), copies.clone()]),
                ("s3:GetObject".to_owned(), vec![copies.clone()]),
                (
                    "s3:ListBucketVersions".to_owned(),
                    vec!["GetAtt:EntryTileBucket.Arn".to_owned()],
                ),
            ],
            "list-requests" => vec![("s3:GetObject".to_owned(), vec![tiles.clone()])],
            _ => Vec::new(),
        };
        assert_eq!(s3, expected, "{name}");
        let env = &resource["Properties"]["Environment"]["Variables"];
        assert_eq!(
            env.get("ENTRY_TILE_BUCKET").map(text),
            (!expected.is_empty()).then(|| "Ref:EntryTileBucket".to_owned()),
            "{name}"
        );
    }
    let bucket = &template["Resources"]["EntryTileBucket"]["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(text(&block[flag]), "true", "{flag}");
    }
    let encryption =
        &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
    assert_eq!(text(&encryption["SSEAlgorithm"]), "aws:kms");
    assert_eq!(text(&encryption["KMSMasterKeyID"]), "GetAtt:TablesKmsKey.Arn");
    assert_eq!(text(&bucket["VersioningConfiguration"]["Status"]), "Enabled");
    let policy = &template["Resources"]["EntryTileBucketPolicy"]["Properties"];
    assert_eq!(text(&policy["Bucket"]), "Ref:EntryTileBucket");
    let tls = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(text(&tls["Effect"]), "Deny");
    assert_eq!(text(&tls["Condition"]["Bool"]["aws:SecureTransport"]), "false");
    // Whatever another role of the account may be granted, the bucket itself refuses every
    // write, delete and retention change of evidence by anyone but the signer.
    let signer_only = &policy["PolicyDocument"]["Statement"][1];
    assert_eq!(text(&signer_only["Sid"]), "SignerOnlyWrites");
    assert_eq!(text(&signer_only["Effect"]), "Deny");
    assert_eq!(text(&signer_only["Principal"]), "*");
    let actions: BTreeSet<String> = list_of(&signer_only["Action"]).into_iter().collect();
    for action in [
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
    ] {
        assert!(actions.contains(action), "{action}");
    }
    assert_eq!(list_of(&signer_only["Resource"]), [tiles.clone(), copies.clone()]);
    assert_eq!(
        text(&signer_only["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]),
        "GetAtt:SlaSweepFunctionRole.Arn"
    );
    // And nothing written stays deletable: Object Lock on every version, by default.
    assert_eq!(text(&bucket["ObjectLockEnabled"]), "true");
    let lock = &bucket["ObjectLockConfiguration"];
    assert_eq!(text(&lock["ObjectLockEnabled"]), "Enabled");
    assert_eq!(text(&lock["Rule"]["DefaultRetention"]["Mode"]), "Ref:EvidenceLockMode");
    assert_eq!(text(&lock["Rule"]["DefaultRetention"]["Days"]), "Ref:EvidenceLockDays");
}

#[test]
fn the_signers_memory_is_written_by_the_signer_alone() {
    // The checkpoints table holds the signer's signed state (FORMAT.md §6.1): only the sweep's
    // role may write it, and only in a conditioned transaction; no role may change or delete it.
    let template = template();
    for (name, resource) in &functions(&template) {
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        let writes: Vec<String> = allowed(resource)
            .into_iter()
            .filter(|(action, resources)| {
                action.starts_with("dynamodb:")
                    && ![
                        "dynamodb:GetItem",
                        "dynamodb:Query",
                        "dynamodb:BatchGetItem",
                        "dynamodb:ConditionCheckItem",
                    ]
                    .contains(&action.as_str())
                    && resources.iter().any(|r| r.contains("CheckpointsTable"))
            })
            .map(|(action, _)| action)
            .collect();
        let expected: Vec<String> = if binary == "sla-sweep" {
            vec!["dynamodb:PutItem".into()]
        } else {
            Vec::new()
        };
        assert_eq!(writes, expected, "{name}");
        let policies = list_of(&resource["Properties"]["Policies"]);
        assert!(
            policies.contains(&"Ref:LedgerIsAppendOnly".to_owned()) || binary == "list-requests",
            "{name}: {policies:?}"
        );
    }
}

#[test]
fn alarms_reach_someone() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    // The topic is under a customer-managed key whose policy lets CloudWatch alarms publish.
    let topic = &template["Resources"]["AlarmTopic"]["Properties"];
    assert_eq!(text(&topic["KmsMasterKeyId"]), "Ref:AlarmTopicKmsKey");
    assert!(key_grants(&template, "AlarmTopicKmsKey", "kms:GenerateDataKey").contains("cloudwatch.amazonaws.com"));
    let statements = template["Resources"]["AlarmTopicKmsKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap();
    let cloudwatch = statements
        .iter()
        .find(|s| s["Principal"].get("Service").map(text).as_deref() == Some("cloudwatch.amazonaws.com"))
        .unwrap();
    assert_eq!(
        text(&cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"]),
        "Ref:AWS::AccountId"
    );
    assert!(text(&cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]).contains(":alarm:"));
    // Every alarm notifies the topic.
    let alarms: Vec<(&str, &Value)> = resources
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::CloudWatch::Alarm")
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect();
    for (name, alarm) in &alarms {
        let actions: Vec<String> = list_of(&alarm["Properties"]["AlarmActions"]);
        assert_eq!(actions, ["Ref:AlarmTopic"], "{name}");
    }
    let names: BTreeSet<&str> = alarms.iter().map(|(n, _)| *n).collect();
    for expected in [
        "Api5xxAlarm",
        "SlaBreachAlarm",
        "LedgerIntegrityAlarm",
        "SweepDeadLetterAlarm",
        "SlaSweepFunctionErrors",
        "PolicyHorizonAlarm",
        "LedgerUnwitnessedAlarm",
    ] {
        assert!(names.contains(expected), "no {expected}");
    }
    assert_eq!(
        text(&template["Resources"]["Api5xxAlarm"]["Properties"]["MetricName"]),
        "5xx"
    );
    // Each HTTP function: its errors, and its 5xx answers counted from its request log line.
    let functions = functions(&template);
    for (name, resource) in &functions {
        assert!(
            names.contains(format!("{name}Errors").as_str()),
            "{name}: no error alarm"
        );
        let binary = text(&resource["Metadata"]["BuildProperties"]["Binary"]);
        if binary == "sla-sweep" || binary == "deliver-webhooks" {
            continue;
        }
        let filter = &template["Resources"][format!("{name}5xxMetric").as_str()]["Properties"];
        assert_eq!(text(&filter["FilterPattern"]), "{ $.status >= 500 }", "{name}");
        assert!(
            names.contains(format!("{name}5xxAlarm").as_str()),
            "{name}: no 5xx alarm"
        );
    }
    assert_eq!(
        text(&template["Resources"]["LedgerIntegrityMetric"]["Properties"]["FilterPattern"]),
        r#"{ $.integrity_alarm = "ledger" }"#
    );
    // A checkpoint without the witnesses' quorum is an alarm of its own, from the signer.
    let unwitnessed = &template["Resources"]["LedgerUnwitnessedMetric"]["Properties"];
    assert_eq!(text(&unwitnessed["LogGroupName"]), "Ref:SlaSweepFunctionLogs");
    assert_eq!(
        text(&unwitnessed["FilterPattern"]),
        r#"{ $.witness_alarm = "unwitnessed" }"#
    );
    // Webhooks: an endpoint disabled, a deliverer behind the ledger, a batch given up on.
    let disabled = &template["Resources"]["WebhookEndpointDisabledMetric"]["Properties"];
    assert_eq!(text(&disabled["LogGroupName"]), "Ref:DeliverWebhooksFunctionLogs");
    assert_eq!(
        text(&disabled["FilterPattern"]),
        r#"{ ($.webhook_alarm = "endpoint_disabled") || ($.webhook_alarm = "endpoint_stalled") }"#
    );
    for alarm in [
        "WebhookEndpointDisabledAlarm",
        "DeliverWebhooksLagAlarm",
        "DeliverDeadLetterAlarm",
    ] {
        assert_eq!(
            list_of(&template["Resources"][alarm]["Properties"]["AlarmActions"]),
            ["Ref:AlarmTopic"],
            "{alarm}"
        );
    }
    assert_eq!(
        text(&template["Resources"]["DeliverWebhooksLagAlarm"]["Properties"]["MetricName"]),
        "IteratorAge"
    );
    let stream =
        &template["Resources"]["DeliverWebhooksFunction"]["Properties"]["Events"]["LedgerStream"]["Properties"];
    assert_eq!(text(&stream["Stream"]), "GetAtt:LedgerTable.StreamArn");
    assert_eq!(list_of(&stream["FunctionResponseTypes"]), ["ReportBatchItemFailures"]);
    assert_eq!(text(&stream["BisectBatchOnFunctionError"]), "true");
    assert_eq!(
        text(&stream["DestinationConfig"]["OnFailure"]["Destination"]),
        "GetAtt:DeliverDeadLetterQueue.Arn"
    );
    let sweep = &template["Resources"]["SlaSweepFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(text(&sweep["WITNESSES"]), "Ref:Witnesses");
    assert_eq!(text(&sweep["WITNESS_QUORUM"]), "Ref:WitnessQuorum");
    // Every function that appends counts its integrity alarms (a chain head stamped in the
    // future: FORMAT.md §2.2) into the same metric as the signer's; so does the webhook
    // deliverer (an entry that is not the ledger's).
    for function in [
        "CreateRequest",
        "UpdateRequest",
        "ErasePersonalData",
        "Admin",
        "Evidence",
        "DeliverWebhooks",
    ] {
        let filter = &template["Resources"][format!("LedgerIntegrity{function}Metric").as_str()]["Properties"];
        assert_eq!(text(&filter["LogGroupName"]), format!("Ref:{function}FunctionLogs"));
        assert_eq!(text(&filter["FilterPattern"]), r#"{ $.integrity_alarm = "ledger" }"#);
        assert_eq!(
            text(&filter["MetricTransformations"][0]["MetricName"]),
            "LedgerIntegrityAlarms"
        );
    }
    // The support policy running out of years is an alarm, from every function that computes
    // due times: those that open, change and sweep requests.
    for function in ["CreateRequest", "UpdateRequest", "SlaSweep"] {
        let filter = &template["Resources"][format!("PolicyHorizon{function}Metric").as_str()]["Properties"];
        assert_eq!(text(&filter["LogGroupName"]), format!("Ref:{function}FunctionLogs"));
        assert_eq!(
            text(&filter["FilterPattern"]),
            r#"{ $.policy_alarm = "holiday_horizon" }"#
        );
        assert_eq!(
            text(&filter["MetricTransformations"][0]["MetricName"]),
            text(&template["Resources"]["PolicyHorizonAlarm"]["Properties"]["MetricName"])
        );
    }
}

#[test]
fn the_api_keeps_an_access_log_without_tokens_or_personal_data() {
    let template = template();
    let settings = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    assert_eq!(text(&settings["DestinationArn"]), "GetAtt:ApiAccessLogs.Arn");
    let format: serde_json::Value = serde_json::from_str(&text(&settings["Format"])).expect("a JSON format");
    for field in ["requestId", "routeKey", "status", "latencyMs"] {
        assert!(format.get(field).is_some(), "{field}");
    }
    let raw = text(&settings["Format"]);
    for forbidden in [
        "identity",
        "authorization",
        "Authorization",
        "sourceIp",
        "userAgent",
        "claims.sub",
        "claims.email",
    ] {
        assert!(!raw.contains(forbidden), "the access log must not record {forbidden}");
    }
    // Every log group is encrypted with the stack's key and kept for a while.
    for (name, r) in template["Resources"].as_mapping().unwrap() {
        if text(&r["Type"]) == "AWS::Logs::LogGroup" {
            assert_eq!(text(&r["Properties"]["KmsKeyId"]), "GetAtt:LogsKmsKey.Arn", "{name:?}");
        }
    }
}

#[test]
fn a_failed_sweep_is_kept_and_only_one_sweep_runs() {
    let template = template();
    let functions = functions(&template);
    let sweep = &function_named(&functions, "sla-sweep")["Properties"];
    assert_eq!(sweep["ReservedConcurrentExecutions"].as_u64(), Some(1));
    assert_eq!(
        text(&sweep["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]),
        "GetAtt:SweepDeadLetterQueue.Arn"
    );
    let schedule = sweep["Events"]["Every5Minutes"]["Properties"].clone();
    assert_eq!(text(&sweep["Events"]["Every5Minutes"]["Type"]), "Schedule");
    assert_eq!(
        text(&schedule["Schedule"]),
        "rate(5 minutes)",
        "the maximum merge delay is 5 minutes"
    );
    assert_eq!(
        text(&schedule["DeadLetterConfig"]["Arn"]),
        "GetAtt:SweepDeadLetterQueue.Arn"
    );
    let breaches = &template["Resources"]["SlaBreachMetric"]["Properties"];
    assert_eq!(text(&breaches["FilterPattern"]), r#"{ $.escalation = "sla_breach" }"#);
    let alarm = &template["Resources"]["SweepDeadLetterAlarm"]["Properties"];
    assert_eq!(text(&alarm["MetricName"]), "ApproximateNumberOfMessagesVisible");
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
    assert_eq!(text(&p["SSESpecification"]["SSEType"]), "KMS", "{name}");
    assert_eq!(
        text(&p["SSESpecification"]["KMSMasterKeyId"]),
        "Ref:TablesKmsKey",
        "{name}"
    );
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
