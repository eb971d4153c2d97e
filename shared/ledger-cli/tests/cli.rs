//! The built `ledger` binary on the committed vectors: exit codes and messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

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
            "--log",
            "ledgerdesk.vectors",
            "--json",
        ];
        for cp in case["checkpoints"].as_array().unwrap() {
            args.extend(["--checkpoint", cp.as_str().unwrap()]);
        }
        if let Some(d) = case["disclosures"].as_str() {
            args.extend(["--disclosures", d]);
        }
        let out = ledger(&args);
        let report: Value =
            serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{name}: {e}: {}", stdout(&out)));
        let expect = &case["expect"];
        if expect["valid"] == true {
            assert_eq!(out.status.code(), Some(0), "{name}: {report}");
            assert_eq!(report["entries"], expect["entries"], "{name}");
            assert_eq!(report["uncovered"], expect["uncovered"], "{name}");
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
        "--log",
        "ledgerdesk.vectors",
        "--checkpoint",
        "valid/checkpoint-12.note",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "OK: 12 entries in 1 chain of log ledgerdesk.vectors, 1 checkpoint checked; 12 covered by a checkpoint, 0 not covered"
        ),
        "{text}"
    );
    assert!(
        text.contains("contoso-partner: origin ledgerdesk.vectors/contoso-partner, size 12, root /F1W4FzZY0Yo4lTvVLkqq3mEiTF+oG0ZmHu5t2dSqjo="),
        "{text}"
    );
}

#[test]
fn uncovered_entries_are_reported_and_fail_unless_allowed() {
    let base = [
        "verify",
        "v2/tampered/appended-after-checkpoint.jsonl",
        "--key",
        "ledgerdesk-vectors.pub",
        "--log",
        "ledgerdesk.vectors",
        "--checkpoint",
        "v2/checkpoint-12.note",
    ];
    let out = ledger(&base);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("NOT COVERED: uncovered in chain contoso-partner at seq 12"),
        "{}",
        stdout(&out)
    );
    let mut allowed = base.to_vec();
    allowed.push("--allow-uncovered");
    let out = ledger(&allowed);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("12 covered by a checkpoint, 3 not covered"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_prints_one_object_for_every_outcome() {
    for (args, code) in [
        (
            vec![
                "verify",
                "valid/chain.jsonl",
                "--key",
                "ledgerdesk-vectors.pub",
                "--json",
            ],
            0,
        ),
        (
            vec![
                "verify",
                "tampered/deleted.jsonl",
                "--key",
                "ledgerdesk-vectors.pub",
                "--json",
            ],
            1,
        ),
        (
            vec!["verify", "no-such-file", "--key", "ledgerdesk-vectors.pub", "--json"],
            2,
        ),
        (vec!["verify", "valid/chain.jsonl", "--json"], 2),
        (
            vec![
                "verify",
                "valid/chain.jsonl",
                "--key",
                "ledgerdesk-vectors.pub",
                "--checkpoint",
                "valid/checkpoint-12.note",
                "--json",
            ],
            2,
        ),
        (
            vec![
                "verify-proof",
                "bundles/seq-4-5.json",
                "--key",
                "ledgerdesk-vectors.pub",
                "--log",
                "ledgerdesk.vectors",
                "--json",
            ],
            0,
        ),
        (
            vec![
                "verify-proof",
                "valid/chain.jsonl",
                "--key",
                "ledgerdesk-vectors.pub",
                "--log",
                "ledgerdesk.vectors",
                "--json",
            ],
            1,
        ),
        (
            vec![
                "verify-receipt",
                "receipts/seq-5.note",
                "--receipt-key",
                "ledgerdesk-vectors-receipts.pub",
                "--log",
                "ledgerdesk.vectors",
                "--json",
            ],
            0,
        ),
        (vec!["frobnicate", "--json"], 2),
    ] {
        let out = ledger(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stdout(&out));
        let text = stdout(&out);
        let mut stream = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
        let first = stream.next().unwrap_or_else(|| panic!("{args:?}: nothing on stdout"));
        assert!(first.unwrap().is_object(), "{args:?}");
        assert!(stream.next().is_none(), "{args:?}: more than one object: {text}");
    }
}

#[test]
fn a_malformed_checkpoint_is_exit_1_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.note");
    std::fs::write(&bad, "not a checkpoint\n").unwrap();
    let bad = bad.to_str().unwrap();
    for args in [
        vec![
            "verify",
            "valid/chain.jsonl",
            "--key",
            "ledgerdesk-vectors.pub",
            "--log",
            "ledgerdesk.vectors",
            "--checkpoint",
            bad,
        ],
        vec!["prove", "valid/chain.jsonl", "--seq", "1", "--checkpoint", bad],
    ] {
        assert_eq!(ledger(&args).status.code(), Some(1), "{args:?}");
    }
}

#[test]
fn receipts_are_checked_against_an_export_and_a_checkpoint() {
    let base = [
        "verify-receipt",
        "--receipt-key",
        "ledgerdesk-vectors-receipts.pub",
        "--log",
        "ledgerdesk.vectors",
        "--export",
        "v2/chain.jsonl",
        "--key",
        "ledgerdesk-vectors.pub",
        "--checkpoint",
        "v2/checkpoint-12.note",
    ];
    let with = |receipt: &'static str| {
        let mut args = base.to_vec();
        args.insert(1, receipt);
        args
    };
    let kept = with("receipts/seq-5.note");
    let out = ledger(&kept);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("kept"), "{}", stdout(&out));
    // Each refusal for its own reason: a promise the verified history does not keep, and a
    // receipt signed by the checkpoint key (not the receipt key).
    for (receipt, kind, seq) in [
        ("receipts/broken-promise-5.note", "broken_promise", json!(5)),
        (
            "receipts/signed-by-checkpoint-key.note",
            "missing_signature",
            Value::Null,
        ),
    ] {
        let mut args = with(receipt);
        args.push("--json");
        let out = ledger(&args);
        assert_eq!(out.status.code(), Some(1), "{receipt}: {}", stdout(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["valid"], false, "{receipt}: {report}");
        assert_eq!(report["failure"]["kind"], kind, "{receipt}: {report}");
        assert_eq!(report["failure"]["seq"], seq, "{receipt}: {report}");
    }
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
            "--log",
            "ledgerdesk.vectors",
            "--json",
        ]);
        let expect = &case["expect"];
        let expected = if expect["valid"] == true { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(expected), "{}: {}", case["name"], stdout(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["valid"], expect["valid"], "{}: {report}", case["name"]);
        if expect["valid"] == false {
            // The failure the manifest documents, where it documents it.
            assert_eq!(report["failure"]["kind"], expect["kind"], "{}: {report}", case["name"]);
            for member in ["seq", "line"] {
                if let Some(want) = expect.get(member) {
                    assert_eq!(&report["failure"][member], want, "{} {member}: {report}", case["name"]);
                }
            }
        }
    }
}

#[test]
fn prove_then_verify_proof_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = ledger(&[
        "prove",
        "v2/chain.jsonl",
        "--seq",
        "7",
        "--seq",
        "5",
        "--seq",
        "4",
        "--checkpoint",
        "v2/checkpoint-12.note",
        "--since",
        "v2/checkpoint-8.note",
        "--disclosures",
        "v2/disclosures.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, &out.stdout).unwrap();
    let out = ledger(&[
        "verify-proof",
        bundle.to_str().unwrap(),
        "--key",
        "ledgerdesk-vectors.pub",
        "--log",
        "ledgerdesk.vectors",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("entry seq 7"), "{}", stdout(&out));
    assert!(stdout(&out).contains("disclosed values match"), "{}", stdout(&out));
    // A disclosure for an entry not in the bundle is refused.
    let out = ledger(&[
        "prove",
        "v2/chain.jsonl",
        "--seq",
        "7",
        "--checkpoint",
        "v2/checkpoint-12.note",
        "--disclosures",
        "v2/disclosures.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
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

/// `ledger prove` of `seqs` of the v2 vectors against `checkpoint`, written to `dir/name`.
fn prove_page(dir: &std::path::Path, name: &str, seqs: &[&str], checkpoint: &str) -> String {
    let mut args = vec!["prove", "v2/chain.jsonl", "--checkpoint", checkpoint];
    for seq in seqs {
        args.extend(["--seq", seq]);
    }
    let out = ledger(&args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn verify_proof_takes_the_pages_of_one_set_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = prove_page(dir.path(), "1.json", &["2", "4"], "v2/checkpoint-12.note");
    let second = prove_page(dir.path(), "2.json", &["5", "7"], "v2/checkpoint-12.note");
    let other = prove_page(dir.path(), "other.json", &["5", "7"], "v2/checkpoint-8.note");
    let verify = |pages: &[&str]| {
        let mut args = vec!["verify-proof"];
        args.extend(pages);
        args.extend([
            "--key",
            "ledgerdesk-vectors.pub",
            "--log",
            "ledgerdesk.vectors",
            "--json",
        ]);
        let out = ledger(&args);
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        (out.status.code(), report)
    };
    let (code, report) = verify(&[&first, &second]);
    assert_eq!(code, Some(0), "{report}");
    let seqs: Vec<u64> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 4, 5, 7]);
    assert_eq!(report["pages"], 2);
    // Out of order, repeated, or of another checkpoint: not one set.
    for (pages, says) in [
        (vec![&second, &first], "repeats or goes back"),
        (vec![&first, &first], "repeats or goes back"),
        (vec![&first, &other], "at size 8, not"),
    ] {
        let (code, report) = verify(&pages.iter().map(|p| p.as_str()).collect::<Vec<_>>());
        assert_eq!(code, Some(1), "{report}");
        assert_eq!(report["failure"]["kind"], "malformed", "{report}");
        assert!(
            report["failure"]["message"].as_str().unwrap().contains(says),
            "{report}"
        );
    }
    // The first page's entries out of order (prove writes them in chain order; this one is
    // rearranged by hand, which the bundle's format does not forbid): not a set.
    let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    value["entries"].as_array_mut().unwrap().reverse();
    let backwards = dir.path().join("backwards.json");
    std::fs::write(&backwards, value.to_string()).unwrap();
    let (code, report) = verify(&[backwards.to_str().unwrap(), &second]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report["failure"]["message"].as_str().unwrap().contains("ascending"),
        "{report}"
    );
    // A page that does not verify is named.
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&second)
            .unwrap()
            .replace("\"leafIndex\":5", "\"leafIndex\":6"),
    )
    .unwrap();
    let (code, report) = verify(&[&first, broken.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report["failure"]["message"].as_str().unwrap().starts_with("page 2 ("),
        "{report}"
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    for args in [
        vec!["verify", "no-such-file.jsonl", "--key", "ledgerdesk-vectors.pub"],
        vec!["verify", "valid/chain.jsonl", "--key", "valid/chain.jsonl"],
        vec!["verify", "valid/chain.jsonl"],
        vec![
            "verify-proof",
            "bundles/seq-4-5.json",
            "--key",
            "ledgerdesk-vectors.pub",
        ],
        vec![
            "verify",
            "valid/chain.jsonl",
            "--key",
            "ledgerdesk-vectors.pub",
            "--checkpoint",
            "valid/checkpoint-12.note",
        ],
        vec![
            "verify",
            "valid/chain.jsonl",
            "--key",
            "ledgerdesk-vectors.pub",
            "--strict",
        ],
        vec![
            "prove",
            "valid/chain.jsonl",
            "--seq",
            "12",
            "--checkpoint",
            "valid/checkpoint-12.note",
        ],
        vec!["frobnicate"],
        // A page the API would refuse: said before anything is fetched or written.
        vec![
            "sync",
            "--api",
            "http://127.0.0.1:9",
            "--token-file",
            "ledgerdesk-vectors.pub",
            "--key",
            "ledgerdesk-vectors.pub",
            "--receipt-key",
            "ledgerdesk-vectors.pub",
            "--state",
            "/nonexistent/ledgerdesk-sync-state",
            "--page-size",
            "1001",
        ],
    ] {
        let out = ledger(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args.contains(&"--page-size") {
            assert!(String::from_utf8_lossy(&out.stderr).contains("--page-size is 1 to 1000"));
            assert!(!std::path::Path::new("/nonexistent/ledgerdesk-sync-state").exists());
        }
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
        "--log",
        "ledgerdesk.sample",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("OK: 500 entries in 1 chain of log ledgerdesk.sample, 1 checkpoint checked"));
    // The vectors' key does not vouch for this checkpoint.
    let out = ledger(&[
        "verify",
        export.to_str().unwrap(),
        "--key",
        "ledgerdesk-vectors.pub",
        "--checkpoint",
        cp.to_str().unwrap(),
        "--log",
        "ledgerdesk.sample",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("missing_signature"));
}
