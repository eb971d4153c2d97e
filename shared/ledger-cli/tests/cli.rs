//! The built `ledger` binary on the committed vectors: exit codes and messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger/vectors")
}

fn ledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .current_dir(vectors())
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(vectors().join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn every_vector_case_gives_the_documented_exit_code_and_failure() {
    let m = manifest();
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut args = vec![
            "verify",
            case["export"].as_str().unwrap(),
            "--key",
            "ledgerdesk-vectors.pub",
            "--json",
        ];
        for cp in case["checkpoints"].as_array().unwrap() {
            args.extend(["--checkpoint", cp.as_str().unwrap()]);
        }
        let out = ledger(&args);
        let report: Value =
            serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{name}: {e}: {}", stdout(&out)));
        let expect = &case["expect"];
        if expect["valid"] == true {
            assert_eq!(out.status.code(), Some(0), "{name}: {report}");
            assert_eq!(report["entries"], expect["entries"], "{name}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{name}: {report}");
            assert_eq!(report["failure"]["kind"], expect["kind"], "{name}");
            assert_eq!(report["failure"]["seq"], expect["seq"], "{name}");
            assert_eq!(report["failure"]["line"], expect["line"], "{name}");
        }
    }
}

#[test]
fn the_human_report_names_kind_seq_and_line() {
    let out = ledger(&["verify", "tampered/deleted.jsonl", "--key", "ledgerdesk-vectors.pub"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("TAMPERED: deleted in chain contoso-partner at seq 4 (line 5)"),
        "{text}"
    );

    let out = ledger(&[
        "verify",
        "valid/chain.jsonl",
        "--key",
        "ledgerdesk-vectors.pub",
        "--checkpoint",
        "valid/checkpoint-12.note",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("OK: 12 entries in 1 chain, 1 checkpoint checked"),
        "{text}"
    );
    assert!(
        text.contains("contoso-partner: size 12, root /F1W4FzZY0Yo4lTvVLkqq3mEiTF+oG0ZmHu5t2dSqjo="),
        "{text}"
    );
}

#[test]
fn verifying_without_checkpoints_warns_that_rewrites_would_pass() {
    let out = ledger(&["verify", "valid/chain.jsonl", "--key", "ledgerdesk-vectors.pub"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("no checkpoint was checked"));
}

#[test]
fn evidence_bundles_through_the_binary() {
    for case in manifest()["bundles"].as_array().unwrap() {
        let out = ledger(&[
            "verify-proof",
            case["bundle"].as_str().unwrap(),
            "--key",
            "ledgerdesk-vectors.pub",
            "--json",
        ]);
        let expected = if case["expect"]["valid"] == true { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(expected), "{}: {}", case["name"], stdout(&out));
    }
}

#[test]
fn prove_then_verify_proof_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = ledger(&[
        "prove",
        "valid/chain.jsonl",
        "--seq",
        "7",
        "--checkpoint",
        "valid/checkpoint-12.note",
        "--since",
        "valid/checkpoint-8.note",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, &out.stdout).unwrap();
    let out = ledger(&[
        "verify-proof",
        bundle.to_str().unwrap(),
        "--key",
        "ledgerdesk-vectors.pub",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("entry seq 7"), "{}", stdout(&out));
    // Proving from a rewritten export against the real checkpoint is refused as tampering.
    let out = ledger(&[
        "prove",
        "tampered/rewritten.jsonl",
        "--seq",
        "1",
        "--checkpoint",
        "valid/checkpoint-12.note",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_and_io_errors_exit_2() {
    for args in [
        vec!["verify", "no-such-file.jsonl", "--key", "ledgerdesk-vectors.pub"],
        vec!["verify", "valid/chain.jsonl", "--key", "valid/chain.jsonl"],
        vec!["verify", "valid/chain.jsonl"],
        vec!["verify-proof", "valid/chain.jsonl", "--key", "ledgerdesk-vectors.pub"],
        vec![
            "prove",
            "valid/chain.jsonl",
            "--seq",
            "12",
            "--checkpoint",
            "valid/checkpoint-12.note",
        ],
        vec!["frobnicate"],
    ] {
        let out = ledger(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn keygen_sample_verify() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("auditor-drill");
    let out = ledger(&["keygen", "--out", stem.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let private = stem.with_extension("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(
        std::fs::read_to_string(stem.with_extension("pub"))
            .unwrap()
            .starts_with("auditor-drill+")
    );
    // Refuses to overwrite a key.
    assert_eq!(
        ledger(&["keygen", "--out", stem.to_str().unwrap()]).status.code(),
        Some(2)
    );

    let export = dir.path().join("sample.jsonl");
    let cp = dir.path().join("sample.note");
    let out = ledger(&[
        "sample",
        "--partner",
        "drill-partner",
        "--entries",
        "500",
        "--key",
        private.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
        "--checkpoint-out",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let public = stem.with_extension("pub");
    let out = ledger(&[
        "verify",
        export.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
        "--checkpoint",
        cp.to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("OK: 500 entries in 1 chain, 1 checkpoint checked"));
    // The vectors' key does not vouch for this checkpoint.
    let out = ledger(&[
        "verify",
        export.to_str().unwrap(),
        "--key",
        "ledgerdesk-vectors.pub",
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("missing_signature"));
}
