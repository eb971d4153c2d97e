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
        "functions/erase-personal-data",
        "functions/admin",
        "functions/webhook-endpoints",
        "functions/evidence",
        "shared/webhooks",
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

/// The workspace root (this crate is `tests/`).
fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace root")
        .to_owned()
}

/// Every `.rs` file of the repository (not `target/`, not `.git/`), with the directory of the
/// crate it belongs to (the nearest ancestor with a `Cargo.toml`).
fn rust_files() -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let root = root();
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !(name == "target" || name.starts_with('.')) {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                let crate_dir = path
                    .ancestors()
                    .skip(1)
                    .find(|a| a.join("Cargo.toml").exists())
                    .unwrap_or(&root)
                    .to_owned();
                out.push((path, crate_dir));
            }
        }
    }
    out
}

/// The string literals of Rust source, statement by statement (split at `;`), each with
/// whether it is the argument of `include_str!`/`include_bytes!`/`include!` (relative to the
/// file) or not (relative to the crate directory, where tests, benches and build scripts run).
fn literals_by_statement(source: &str) -> Vec<Vec<(String, bool)>> {
    let bytes = source.as_bytes();
    let mut statements = vec![Vec::new()];
    let mut i = 0;
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if bytes[i] == b'\'' {
            // A char literal ('x', '\n', '"') or a lifetime ('a).
            if bytes.get(i + 1) == Some(&b'\\') {
                i += rest[2..].find('\'').map_or(rest.len(), |e| e + 3);
            } else if let Some(c) = rest[1..].chars().next()
                && rest[1 + c.len_utf8()..].starts_with('\'')
            {
                i += 2 + c.len_utf8();
            } else {
                i += 1;
            }
        } else if bytes[i] == b'"' || rest.starts_with("r\"") || rest.starts_with("r#") || rest.starts_with("b\"") {
            let before = source[..i].trim_end();
            let included = ["include_str!(", "include_bytes!(", "include!("]
                .iter()
                .any(|m| before.ends_with(m));
            let (text, len) = string_literal(rest);
            statements.last_mut().unwrap().push((text, included));
            i += len.max(1);
        } else {
            if bytes[i] == b';' {
                statements.push(Vec::new());
            }
            i += 1;
        }
    }
    statements
}

/// The content of the string literal at the start of `s`, and its length in the source.
fn string_literal(s: &str) -> (String, usize) {
    let s_bytes = s.as_bytes();
    let mut start = 0;
    if s_bytes[0] == b'b' {
        start = 1;
    }
    if s_bytes[start] == b'r' {
        let hashes = s[start + 1..].bytes().take_while(|b| *b == b'#').count();
        let open = start + 1 + hashes + 1;
        let close = format!("\"{}", "#".repeat(hashes));
        let end = s[open..].find(&close).map_or(s.len(), |e| open + e);
        return (s[open..end].to_owned(), (end + close.len()).min(s.len()));
    }
    let mut text = String::new();
    let mut chars = s[start + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        match c {
            '"' => return (text, start + 1 + j + 1),
            '\\' => {
                if let Some((_, e)) = chars.next() {
                    text.push(e);
                }
            }
            c => text.push(c),
        }
    }
    (text, s.len())
}

/// `base` joined with the literals' path components, `..` applied; `None` if it climbs
/// above the filesystem root.
fn resolve(base: &Path, parts: &[&str]) -> Option<std::path::PathBuf> {
    let mut path = base.to_owned();
    for part in parts {
        for component in part.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    if !path.pop() {
                        return None;
                    }
                }
                other => path.push(other),
            }
        }
    }
    Some(path)
}

#[test]
fn no_test_bench_or_build_script_reads_outside_the_workspace() {
    // A clone of the repository alone must build and pass: nothing may read the reference
    // folder beside the checkout, or anything else outside it. `.ci/run` proves it by running
    // the suite in a copy with nothing beside it; this catches the mistake earlier, with the
    // line that makes it.
    let root = root();
    let mut escapes = Vec::new();
    for (file, crate_dir) in rust_files() {
        // This file's own literals are the scanner's test data, not paths anything reads.
        if file.ends_with("tests/hygiene.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for statement in literals_by_statement(&source) {
            let climbs = statement.iter().any(|(t, _)| t.split('/').any(|c| c == ".."));
            if !climbs {
                continue;
            }
            for included in [true, false] {
                let parts: Vec<&str> = statement
                    .iter()
                    .filter(|(t, inc)| *inc == included && (t.contains('/') || t == ".."))
                    .filter(|(t, _)| !t.contains("://"))
                    .map(|(t, _)| t.as_str())
                    .collect();
                if !parts.iter().any(|t| t.split('/').any(|c| c == "..")) {
                    continue;
                }
                let base = if included { file.parent().unwrap() } else { &crate_dir };
                let inside = resolve(base, &parts).is_some_and(|p| p.starts_with(&root));
                if !inside {
                    escapes.push(format!("{}: {parts:?}", file.strip_prefix(&root).unwrap().display()));
                }
            }
        }
    }
    assert!(
        escapes.is_empty(),
        "paths that leave the workspace (copy what a test needs into the repository):\n{}",
        escapes.join("\n")
    );
}

#[test]
fn the_escape_check_sees_what_it_must() {
    let climbing = r#"let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../reference/vectors");"#;
    let statement = &literals_by_statement(climbing)[0];
    let parts: Vec<&str> = statement
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| t.contains('/'))
        .collect();
    let crate_dir = root().join("shared/ledger");
    assert!(!resolve(&crate_dir, &parts).unwrap().starts_with(root()));
    let staying =
        r#"let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml"); let c = '"'; let s = "a;b";"#;
    let statements = literals_by_statement(staying);
    assert_eq!(
        statements[0],
        vec![
            ("CARGO_MANIFEST_DIR".to_owned(), false),
            ("/../../infra/template.yaml".to_owned(), false)
        ]
    );
    assert_eq!(statements[2], vec![("a;b".to_owned(), false)]);
    let parts = ["/../../infra/template.yaml"];
    assert!(resolve(&root().join("shared/api"), &parts).unwrap().starts_with(root()));
    let included = r##"const F: &str = include_str!("../policy/support-policy.toml"); const R: &str = r#"x"#;"##;
    assert_eq!(
        literals_by_statement(included)[0],
        vec![("../policy/support-policy.toml".to_owned(), true)]
    );
}

/// How each workspace member may depend on `shared/workspace-hack` (see `.config/hakari.toml`):
/// the development entry points (the local run, the tests, `ledger export`) and the test
/// builds of the SDK-facing crates unify their features through it, so each compiles the SDK
/// once; the Lambda functions never depend on it, so their release binaries link only what
/// they use; the pure crates stay pure.
#[test]
fn the_workspace_hack_is_where_it_belongs() {
    #[derive(Debug, PartialEq)]
    enum Hack {
        None,
        Normal,
        Dev,
        OptionalFor(&'static str),
    }
    let expected = [
        ("shared/domain", Hack::None),
        ("shared/ledger", Hack::None),
        ("shared/ledger-cli", Hack::OptionalFor("export")),
        ("shared/store", Hack::Dev),
        ("shared/api", Hack::Dev),
        // Pure (no AWS, no async): like the domain, built the same in every binary.
        ("shared/webhooks", Hack::None),
        ("functions/create-request", Hack::None),
        ("functions/list-requests", Hack::None),
        ("functions/update-request", Hack::None),
        ("functions/sla-sweep", Hack::None),
        ("functions/erase-personal-data", Hack::None),
        ("functions/admin", Hack::None),
        ("functions/webhook-endpoints", Hack::None),
        ("functions/evidence", Hack::None),
        ("functions/deliver-webhooks", Hack::None),
        ("functions/local", Hack::Normal),
        ("tests", Hack::Normal),
        ("tests/fuzz", Hack::None),
    ];
    let workspace: toml::Table = toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let members: Vec<&str> = workspace["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(toml::Value::as_str)
        .filter(|m| *m != "shared/workspace-hack")
        .collect();
    let listed: Vec<&str> = expected.iter().map(|(m, _)| *m).collect();
    assert_eq!(members, listed, "a new member needs a decision here");
    for (member, want) in expected {
        let manifest = format!("{member}/Cargo.toml");
        let normal = dependencies(&manifest, "dependencies")
            .into_iter()
            .find(|(n, _)| n == "workspace-hack");
        let dev = dependencies(&manifest, "dev-dependencies")
            .into_iter()
            .any(|(n, _)| n == "workspace-hack");
        let got = match (normal, dev) {
            (None, false) => Hack::None,
            (None, true) => Hack::Dev,
            (Some((_, spec)), false) if spec.get("optional").and_then(toml::Value::as_bool) == Some(true) => {
                let text = std::fs::read_to_string(root().join(&manifest)).unwrap();
                let value: toml::Table = toml::from_str(&text).unwrap();
                let feature = value["features"]
                    .as_table()
                    .unwrap()
                    .iter()
                    .find(|(_, deps)| {
                        deps.as_array()
                            .unwrap()
                            .iter()
                            .any(|d| d.as_str() == Some("dep:workspace-hack"))
                    })
                    .map(|(name, _)| name.clone())
                    .unwrap_or_default();
                match feature.as_str() {
                    "export" => Hack::OptionalFor("export"),
                    other => panic!("{member}: workspace-hack enabled by feature {other:?}"),
                }
            }
            (Some(_), false) => Hack::Normal,
            (Some(_), true) => panic!("{member} depends on workspace-hack twice"),
        };
        assert_eq!(got, want, "{member}");
    }
}
