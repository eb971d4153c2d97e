//! Witnessed checkpoints through the local run (FORMAT.md §17): the signer asks its witness to
//! cosign every checkpoint; verifiers that require the witness accept what it cosigned and
//! nothing else — not a history the operator re-signed from scratch, not a checkpoint signed
//! while the witness was down.

use ledger::witness::{CosignerKey, WitnessKey, WitnessPolicy};
use ledger_cli::commands::Exit;
use reqwest::StatusCode;
use serde_json::Value;
use tests::*;

use crate::evidence::{chain_lines, sweep};
use crate::operator::{checkpoint_sizes, copies, delete_checkpoint_row, delete_object, rewrite_from};

fn policy(keys: &[WitnessKey], quorum: usize) -> WitnessPolicy {
    WitnessPolicy::new(keys.to_vec(), quorum).unwrap()
}

fn local_witness(stack: &Stack) -> WitnessKey {
    let path = &stack.running.witness().expect("the stack runs a witness").public_key;
    WitnessKey::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn checkpoint_text(stack: &Stack, token: &str) -> String {
    reqwest::Client::new()
        .get(format!("{}/ledger/checkpoint", stack.running.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn sync_requiring(
    stack: &Stack,
    token: &str,
    state: &std::path::Path,
    witnesses: WitnessPolicy,
) -> (Exit, Value) {
    let mut args = sync_args(stack, token, state, Some("contoso"));
    args.witnesses = Some(witnesses);
    run_sync(args).await
}

async fn witnessed_stack() -> Stack {
    Stack::start_witnessed(
        &[("contoso", CUSTOMER)],
        Witnessing {
            own: true,
            ..Witnessing::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_checkpoint_is_cosigned_and_verifiers_can_require_it() {
    let stack = witnessed_stack().await;
    let token = stack.partner_token("contoso");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("contoso");
    let created = stack.create(&token, &body()).await;
    keep_receipt(&state, &serde_json::json!({ "receipt": created["receipt"] }));
    let report = sweep(&stack).await;
    assert!(report.unwitnessed.is_empty(), "{report:?}");
    assert!(report.checkpoints.contains(&"contoso@2".to_owned()), "{report:?}");
    let witness = local_witness(&stack);
    // The API serves the checkpoint with the witness's cosignature after the log's signature.
    let note = checkpoint_text(&stack, &token).await;
    assert!(note.contains("\n— ledgerdesk.local/witness "), "{note}");
    // The partner's monitor requiring it: fine, and it says who cosigned.
    let (exit, out) = sync_requiring(&stack, &token, &state, policy(std::slice::from_ref(&witness), 1)).await;
    assert_eq!(exit, Exit::Ok, "{out}");
    assert_eq!(out["witnessedBy"], serde_json::json!(["ledgerdesk.local/witness"]));
    // The auditor's verify of the copy, and verify-receipt, requiring it too.
    let verified = ledger_cli::commands::verify(ledger_cli::commands::VerifyArgs {
        export: &state.join("entries.jsonl"),
        keys: std::slice::from_ref(&stack.running.public_key),
        log: Some(local::log_name()),
        checkpoints: &[state.join("checkpoint.note")],
        disclosures: None,
        chain: None,
        allow_uncovered: false,
        json: true,
        now: None,
        witnesses: Some(policy(std::slice::from_ref(&witness), 1)),
    })
    .unwrap();
    let out: Value = serde_json::from_str(&verified.stdout).unwrap();
    assert_eq!(verified.exit, Exit::Ok, "{out}");
    assert_eq!(
        out["chains"][0]["witnessedBy"],
        serde_json::json!(["ledgerdesk.local/witness"])
    );
    let receipt = std::fs::read_dir(state.join("receipts"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let keys = [stack.running.public_key.clone()];
    let outcome = ledger_cli::commands::verify_receipt(
        &receipt,
        std::slice::from_ref(&stack.running.receipt_public_key),
        &local::log_name(),
        Some(ledger_cli::commands::ReceiptAgainst {
            export: &state.join("entries.jsonl"),
            keys: &keys,
            checkpoint: &state.join("checkpoint.note"),
        }),
        None,
        Some(&policy(std::slice::from_ref(&witness), 1)),
        true,
    )
    .unwrap();
    assert_eq!(outcome.exit, Exit::Ok, "{}", outcome.stdout);
    // Requiring a witness that did not cosign (here: one the log never asked): unwitnessed,
    // whatever else checks out.
    let stranger = CosignerKey::generate("audit-firm.example/witness").unwrap().verifier();
    let (exit, out) = sync_requiring(
        &stack,
        &token,
        &dir.path().join("strict"),
        policy(&[witness.clone(), stranger.clone()], 2),
    )
    .await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "unwitnessed", "{out}");
    // The evidence bundle carries the cosigned checkpoint: verify-proof requiring the witness.
    let id = created["id"].as_str().unwrap();
    let bundle = stack
        .get_text(&format!("/service-requests/{id}/evidence"), &token)
        .await;
    let path = dir.path().join("evidence.json");
    std::fs::write(&path, bundle).unwrap();
    let outcome = ledger_cli::commands::verify_proof(
        std::slice::from_ref(&path),
        std::slice::from_ref(&stack.running.public_key),
        &local::log_name(),
        Some(&policy(std::slice::from_ref(&witness), 1)),
        true,
    )
    .unwrap();
    assert_eq!(outcome.exit, Exit::Ok, "{}", outcome.stdout);
    let report: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(report["witnessedBy"], serde_json::json!(["ledgerdesk.local/witness"]));
    let outcome = ledger_cli::commands::verify_proof(
        std::slice::from_ref(&path),
        std::slice::from_ref(&stack.running.public_key),
        &local::log_name(),
        Some(&policy(std::slice::from_ref(&stranger), 1)),
        true,
    )
    .unwrap();
    assert_eq!(outcome.exit, Exit::Tampered, "{}", outcome.stdout);
    assert!(outcome.stdout.contains("\"unwitnessed\""), "{}", outcome.stdout);
    // ledger explain verifies the bundle with the same witnesses before it explains anything.
    let explain = |witnesses: WitnessPolicy| {
        ledger_cli::explain::explain(ledger_cli::explain::ExplainArgs {
            inputs: std::slice::from_ref(&path),
            keys: std::slice::from_ref(&stack.running.public_key),
            log: local::log_name(),
            checkpoints: &[],
            request: Some(id),
            witnesses: Some(witnesses),
            receipt: None,
            json: true,
        })
        .unwrap()
    };
    let outcome = explain(policy(&[witness], 1));
    assert_eq!(outcome.exit, Exit::Ok, "{}", outcome.stdout);
    let report: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(report["matches"], true);
    assert_eq!(
        report["verified"]["witnessedBy"],
        serde_json::json!(["ledgerdesk.local/witness"])
    );
    let outcome = explain(policy(&[stranger], 1));
    assert_eq!(outcome.exit, Exit::Tampered, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("\"unwitnessed\""),
        "nothing explained: {}",
        outcome.stdout
    );
    assert!(!outcome.stdout.contains("\"explanation\""), "{}", outcome.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_re_signed_from_scratch_is_refused_by_the_witness() {
    // The attack no signer can see (FORMAT.md §16): every row and every copy deleted, the chain
    // rewritten, the signer signs it as new. The witness remembers the old history.
    let stack = witnessed_stack().await;
    let token = stack.partner_token("contoso");
    for _ in 0..3 {
        stack.create(&token, &body()).await;
    }
    let report = sweep(&stack).await;
    assert!(report.unwitnessed.is_empty(), "{report:?}");
    let witness = local_witness(&stack);
    let dir = tempfile::tempdir().unwrap();
    for size in checkpoint_sizes(&stack, "contoso").await {
        delete_checkpoint_row(&stack, "contoso", size).await;
    }
    for key in copies(&stack, "contoso").await {
        delete_object(&stack, &key).await;
    }
    rewrite_from(&stack, 1).await;
    // Ours refuses it (no kept receipts); an operator's own signer, with the checkpoint key,
    // cannot know, and asks the witness.
    let report = crate::evidence::operator_sweep(&stack).await;
    assert!(report.integrity_alarms.is_empty(), "the signer cannot know: {report:?}");
    assert_eq!(report.unwitnessed.len(), 1, "{report:?}");
    assert_eq!(
        report.unwitnessed[0].size,
        chain_lines(&stack, "contoso").await.len() as u64
    );
    assert!(report.unwitnessed[0].cosigned_by.is_empty(), "{report:?}");
    assert!(
        report.unwitnessed[0].refused[0].contains("422") || report.unwitnessed[0].refused[0].contains("409"),
        "{report:?}"
    );
    // The re-signed checkpoint is served without a cosignature: an auditor who never kept a
    // checkpoint would accept it, unless it requires the witness.
    let note = checkpoint_text(&stack, &token).await;
    assert!(!note.contains("ledgerdesk.local/witness"), "{note}");
    let (exit, out) = sync(&stack, &token, &dir.path().join("trusting"), "contoso", None).await;
    assert_eq!(exit, Exit::Ok, "without witnesses a re-signed history passes: {out}");
    let (exit, out) = sync_requiring(&stack, &token, &dir.path().join("witnessed"), policy(&[witness], 1)).await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "unwitnessed", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_is_down_makes_checkpoints_unwitnessed_never_wrongly_witnessed() {
    let _ = captured_logs();
    let down = CosignerKey::generate("down.example/witness").unwrap().verifier();
    let stack = Stack::start_witnessed(
        &[("contoso", CUSTOMER)],
        Witnessing {
            own: true,
            others: vec![store::witnesses::WitnessEndpoint {
                url: "http://127.0.0.1:9".into(),
                key: down.clone(),
            }],
            quorum: Some(2),
        },
    )
    .await;
    let token = stack.partner_token("contoso");
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert!(
        report.checkpoints.contains(&"contoso@2".to_owned()),
        "signed all the same: {report:?}"
    );
    assert_eq!(report.unwitnessed.len(), 1, "{report:?}");
    assert_eq!(report.unwitnessed[0].cosigned_by, ["ledgerdesk.local/witness"]);
    assert!(
        report.unwitnessed[0].refused[0].starts_with("down.example/witness"),
        "{report:?}"
    );
    assert!(captured_logs().contains("\"witness_alarm\":\"unwitnessed\""));
    // Served with the one cosignature it got; a verifier requiring both refuses it.
    let note = checkpoint_text(&stack, &token).await;
    assert!(
        note.contains("ledgerdesk.local/witness") && !note.contains("down.example"),
        "{note}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (exit, out) = sync_requiring(
        &stack,
        &token,
        &dir.path().join("c"),
        policy(&[local_witness(&stack), down], 2),
    )
    .await;
    assert_eq!(exit, Exit::Tampered, "{out}");
    assert_eq!(out["failure"]["kind"], "unwitnessed", "{out}");
    assert_eq!(stack.get("/ledger/checkpoint", &token).await.status, StatusCode::OK);
}

/// A witness that takes connections and never answers (hung, or a trickle).
fn silent_witness() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_witness_is_not_waited_for_past_the_quorum_nor_asked_again_at_once() {
    let silent = CosignerKey::generate("silent.example/witness").unwrap().verifier();
    let endpoint = store::witnesses::WitnessEndpoint {
        url: silent_witness(),
        key: silent.clone(),
    };
    // One of two: the local witness makes the quorum; the silent one is let go.
    let stack = Stack::start_witnessed(
        &[("contoso", CUSTOMER)],
        Witnessing {
            own: true,
            others: vec![endpoint.clone()],
            quorum: Some(1),
        },
    )
    .await;
    let token = stack.partner_token("contoso");
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert!(report.checkpoints.contains(&"contoso@2".to_owned()), "{report:?}");
    assert!(report.unwitnessed.is_empty(), "the quorum of one cosigned: {report:?}");
    let note = checkpoint_text(&stack, &token).await;
    assert!(
        note.contains("ledgerdesk.local/witness") && !note.contains("silent.example"),
        "{note}"
    );

    // Two of two: the checkpoint waits for it until its time is up, and is unwitnessed; the
    // next sweep does not ask it again so soon.
    let stack = Stack::start_witnessed(
        &[("contoso", CUSTOMER)],
        Witnessing {
            own: true,
            others: vec![endpoint],
            quorum: Some(2),
        },
    )
    .await;
    let token = stack.partner_token("contoso");
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert_eq!(report.unwitnessed.len(), 1, "{report:?}");
    let refused = &report.unwitnessed[0].refused;
    assert!(
        refused.len() == 1
            && refused[0].starts_with("silent.example/witness")
            && refused[0].contains("no answer within"),
        "{report:?}"
    );
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert_eq!(report.unwitnessed.len(), 1, "{report:?}");
    assert!(report.unwitnessed[0].refused[0].contains("not asked"), "{report:?}");
    assert_eq!(report.unwitnessed[0].cosigned_by, ["ledgerdesk.local/witness"]);
}

/// A proxy in front of a witness that answers the first request 503 itself, and forwards the
/// third but closes the connection instead of passing the witness's answer on (the witness
/// cosigned and kept it; the signer never hears). The bodies it was sent, in order.
struct LossyProxy {
    url: String,
    upstream: std::sync::Arc<std::sync::Mutex<Option<std::net::SocketAddr>>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// One request off `reader` (its body, by `content-length`); `None` at the connection's end.
fn read_request(reader: &mut impl std::io::BufRead) -> Option<String> {
    let mut length = 0;
    let mut first = String::new();
    if reader.read_line(&mut first).ok()? == 0 {
        return None;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    std::io::Read::read_exact(reader, &mut body).ok()?;
    String::from_utf8(body).ok()
}

impl LossyProxy {
    fn start() -> Self {
        use std::io::{BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = std::sync::Arc::new(std::sync::Mutex::new(None::<std::net::SocketAddr>));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (to, log) = (upstream.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (to, log) = (to.clone(), log.clone());
                std::thread::spawn(move || {
                    stream
                        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                        .unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut client = stream;
                    while let Some(body) = read_request(&mut reader) {
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(body.clone());
                            log.len()
                        };
                        if n == 1 {
                            let _ = client.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
                            continue;
                        }
                        let address = to.lock().unwrap().expect("an upstream witness");
                        let mut witness = std::net::TcpStream::connect(address).unwrap();
                        write!(
                            witness,
                            "POST /add-checkpoint HTTP/1.1\r\nhost: w\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .unwrap();
                        let mut answer = Vec::new();
                        witness.read_to_end(&mut answer).unwrap();
                        // The third is lost; the others are passed on. The witness's answer says
                        // `connection: close`, so the proxy closes this connection either way.
                        if n != 3 {
                            let _ = client.write_all(&answer);
                        }
                        return;
                    }
                });
            }
        });
        Self { url, upstream, seen }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cosignature_whose_answer_was_lost_is_asked_for_again_and_kept() {
    let key = CosignerKey::generate("lossy.example/witness").unwrap();
    let proxy = LossyProxy::start();
    let stack = Stack::start_witnessed(
        &[("contoso", CUSTOMER)],
        Witnessing {
            own: false,
            others: vec![store::witnesses::WitnessEndpoint {
                url: proxy.url.clone(),
                key: key.verifier(),
            }],
            quorum: Some(1),
        },
    )
    .await;
    let keys = ledger_cli::commands::load_keys(std::slice::from_ref(&stack.running.public_key), "the log key").unwrap();
    let witness = ledger::witness::Witness::new(
        key.clone(),
        vec![ledger::witness::TrustedLog {
            keys,
            origins: ledger::witness::Origins::EveryChainOf(local::log_name()),
        }],
    );
    let state = tempfile::tempdir().unwrap();
    let serving = ledger_cli::witness::Serving::start(
        witness,
        ledger_cli::witness::WitnessState::open(state.path()).unwrap(),
        "127.0.0.1:0",
    )
    .unwrap();
    *proxy.upstream.lock().unwrap() = Some(serving.address);
    let token = stack.partner_token("contoso");

    // The first checkpoint (from 0): the proxy answers 503, so it is signed and unwitnessed.
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert_eq!(report.unwitnessed.len(), 1, "{report:?}");
    assert!(report.unwitnessed[0].refused[0].contains("503"), "{report:?}");

    // The next: asked from the size signed before, the witness (which never saw it) names 0;
    // from 0 it cosigns, but its answer is lost; sent again, it names the checkpoint's own
    // size; from there it cosigns once more, and the signer keeps that.
    stack.create(&token, &body()).await;
    let report = sweep(&stack).await;
    assert!(report.unwitnessed.is_empty(), "{report:?}");
    let signed = report
        .checkpoints
        .iter()
        .find_map(|c| c.strip_prefix("contoso@"))
        .expect("contoso signed")
        .to_owned();
    let olds: Vec<String> = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|body| body.lines().next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        olds,
        ["old 0", "old 2", "old 0", "old 0", &format!("old {signed}")],
        "{report:?}"
    );
    let note = checkpoint_text(&stack, &token).await;
    assert!(note.contains("\n— lossy.example/witness "), "{note}");
    let dir = tempfile::tempdir().unwrap();
    let (exit, out) = sync_requiring(&stack, &token, &dir.path().join("c"), policy(&[key.verifier()], 1)).await;
    assert_eq!(exit, Exit::Ok, "{out}");
    serving.stop();
}
