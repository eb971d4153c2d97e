//! `ledger witness` over HTTP, as a log (or an attacker) reaches it: C2SP tlog-witness's
//! answers, its state kept across a restart, and one history per origin even when two are
//! submitted at once.

use std::path::Path;

use ledger::merkle::{TreeSize, consistency_proof, leaf_hash, root_of};
use ledger::witness::{AddCheckpoint, CosignerKey, Origins, TrustedLog, Witness, WitnessPolicy};
use ledger::{Checkpoint, Hash, LogName, SignerKey, TrustedKeys};
use ledger_cli::witness::{Serving, WitnessState};

const ORIGIN: &str = "ledgerdesk.test/contoso";

fn log_key() -> SignerKey {
    SignerKey::from_seed("ledgerdesk-test", [7; 32]).unwrap()
}

fn witness_key() -> CosignerKey {
    CosignerKey::from_seed("witness.test/w1", [8; 32]).unwrap()
}

/// The leaves of one history (`fork` picks another history of the same sizes).
fn leaves(n: u64, fork: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[&i.to_be_bytes()[..], &[fork]].concat()))
        .collect()
}

fn note(origin: &str, n: u64, fork: u8) -> String {
    Checkpoint::new(origin.into(), n, root_of(&leaves(n, fork))).sign(&log_key())
}

fn request(old: u64, n: u64, fork: u8) -> String {
    let proof = if old == 0 || old >= n {
        Vec::new()
    } else {
        consistency_proof(&leaves(n, fork), TreeSize(old)).unwrap()
    };
    AddCheckpoint {
        old_size: old,
        proof,
        note: note(ORIGIN, n, fork),
    }
    .to_body()
}

fn start(state: &Path, origins: Origins) -> Serving {
    let witness = Witness::new(
        witness_key(),
        vec![TrustedLog {
            keys: TrustedKeys::new([log_key().verifier()]),
            origins,
        }],
    );
    Serving::start(witness, WitnessState::open(state).unwrap(), "127.0.0.1:0").unwrap()
}

/// POST a body to add-checkpoint: status, content type, body.
fn add(url: &str, body: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.post(&format!("{url}/add-checkpoint")).send(body).unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, response.body_mut().read_to_string().unwrap())
}

#[test]
fn a_witness_answers_as_tlog_witness_says() {
    let dir = tempfile::tempdir().unwrap();
    let serving = start(dir.path(), Origins::Exact(ORIGIN.into()));
    let url = serving.url();
    // The first checkpoint, from 0: cosigned; the answer is one cosignature line that verifies.
    let (status, _, body) = add(&url, &request(0, 5, 0));
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("— witness.test/w1 ") && body.ends_with('\n'), "{body}");
    let cosigned = ledger::witness::with_cosignatures(&note(ORIGIN, 5, 0), &[body]);
    let policy = WitnessPolicy::new(vec![witness_key().verifier()], 1).unwrap();
    assert_eq!(policy.check(&cosigned).unwrap()[0].witness, "witness.test/w1");
    // It extends: cosigned. A replay of an older one, or any other old size: 409 with its size.
    assert_eq!(add(&url, &request(5, 9, 0)).0, 200);
    let (status, kind, body) = add(&url, &request(0, 5, 0));
    assert_eq!((status, kind.as_str(), body.as_str()), (409, "text/x.tlog.size", "9\n"));
    assert_eq!(add(&url, &request(5, 12, 0)).0, 409);
    // Another history from its size: the proof does not verify (422); the same size with
    // another root too.
    assert_eq!(add(&url, &request(9, 12, 1)).0, 422);
    assert_eq!(add(&url, &request(9, 9, 1)).0, 422);
    // Another origin: 404. Not signed by the log's key: 403. Malformed: 400.
    let other = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        note: note("ledgerdesk.test/fabrikam", 3, 0),
    };
    assert_eq!(add(&url, &other.to_body()).0, 404);
    let forged = AddCheckpoint {
        old_size: 9,
        proof: consistency_proof(&leaves(12, 0), TreeSize(9)).unwrap(),
        note: Checkpoint::new(ORIGIN.into(), 12, root_of(&leaves(12, 0)))
            .sign(&SignerKey::from_seed("ledgerdesk-test", [6; 32]).unwrap()),
    };
    assert_eq!(add(&url, &forged.to_body()).0, 403);
    assert_eq!(add(&url, "old 09\n\n").0, 400);
    assert_eq!(add(&url, &request(13, 12, 0)).0, 400);
    // The monitoring path serves the latest it cosigned, with its cosignature.
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ORIGIN.as_bytes()));
    let latest = ureq::get(&format!("{url}/{hash}/checkpoint"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let text = ledger::SignedNote::parse(&latest).unwrap().text.to_owned();
    assert_eq!(Checkpoint::parse_text(&text).unwrap().size, 9);
    assert!(policy.check(&latest).is_ok());
    serving.stop();

    // Restarted on the same state: it remembers (409 from 0, its size 9).
    let serving = start(dir.path(), Origins::Exact(ORIGIN.into()));
    let (status, _, body) = add(&serving.url(), &request(0, 12, 0));
    assert_eq!((status, body.as_str()), (409, "9\n"));
    assert_eq!(add(&serving.url(), &request(9, 12, 0)).0, 200);
    // Two witnesses never share a state directory.
    assert!(WitnessState::open(dir.path()).is_err());
    serving.stop();
}

#[test]
fn replays_and_padding_cannot_break_a_witness_for_everyone() {
    // Anyone may resubmit what the witness serves (its own cosignature included) at its own
    // size, and pad the note with strangers' signature lines; what it keeps stays the body,
    // the log's signature and its own cosignature, so the log's next checkpoint is still
    // cosigned.
    let dir = tempfile::tempdir().unwrap();
    let serving = start(dir.path(), Origins::Exact(ORIGIN.into()));
    let url = serving.url();
    assert_eq!(add(&url, &request(0, 5, 0)).0, 200);
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ORIGIN.as_bytes()));
    let served = |url: &str| {
        ureq::get(&format!("{url}/{hash}/checkpoint"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let first = served(&url);
    let log_length = || std::fs::metadata(dir.path().join("cosigned.log")).unwrap().len();
    let before = log_length();
    for round in 0..120 {
        let mut note = served(&url);
        if round % 2 == 0 {
            note.push_str(&format!("— stranger-{round} {}\n", "A".repeat(92)));
        }
        let body = AddCheckpoint {
            old_size: 5,
            proof: Vec::new(),
            note,
        }
        .to_body();
        let (status, _, answer) = add(&url, &body);
        assert_eq!(status, 200, "round {round}: {answer}");
    }
    let kept = served(&url);
    assert_eq!(ledger::SignedNote::parse(&kept).unwrap().signatures.len(), 2, "{kept}");
    // The checkpoint it holds, cosigned again, is nothing new to keep: nothing is written.
    assert_eq!(kept, first);
    assert_eq!(log_length(), before, "replays append nothing to the witness's log");
    assert_eq!(add(&url, &request(5, 9, 0)).0, 200, "the log's next checkpoint");
    serving.stop();
}

#[test]
fn two_histories_submitted_at_once_cannot_both_be_cosigned() {
    // A split view: the log shows one history to some and another to others, and submits both
    // to the witness at the same moment, many times over. One wins; the other is refused.
    let dir = tempfile::tempdir().unwrap();
    let serving = start(
        dir.path(),
        Origins::EveryChainOf(LogName::parse("ledgerdesk.test").unwrap()),
    );
    let url = serving.url();
    assert_eq!(add(&url, &request(0, 4, 0)).0, 200);
    let mut size = 4;
    for round in 0..20u8 {
        let next = size + 3;
        let a = request(size, next, 0);
        let b = {
            // Another history that agrees up to `size` and then differs.
            let mut l = leaves(size, 0);
            l.extend((size..next).map(|i| leaf_hash(&[&i.to_be_bytes()[..], &[9, round]].concat())));
            AddCheckpoint {
                old_size: size,
                proof: consistency_proof(&l, TreeSize(size)).unwrap(),
                note: Checkpoint::new(ORIGIN.into(), next, root_of(&l)).sign(&log_key()),
            }
            .to_body()
        };
        let (ua, ub) = (url.clone(), url.clone());
        let ta = std::thread::spawn(move || add(&ua, &a).0);
        let tb = std::thread::spawn(move || add(&ub, &b).0);
        let (sa, sb) = (ta.join().unwrap(), tb.join().unwrap());
        let mut statuses = [sa, sb];
        statuses.sort_unstable();
        assert_eq!(statuses[0], 200, "round {round}: {statuses:?}");
        assert!([409, 422].contains(&statuses[1]), "round {round}: {statuses:?}");
        if sa != 200 {
            // The other history won this round: it is the witness's now.
            break;
        }
        size = next;
    }
    serving.stop();
}

#[test]
fn the_command_serves_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.key"), format!("{}\n", witness_key().to_text())).unwrap();
    std::fs::write(dir.path().join("log.pub"), format!("{}\n", log_key().verifier())).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A state directory made beforehand that others may open: it serves, and warns.
    std::fs::create_dir(dir.path().join("state")).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(
        dir.path().join("state"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["witness", "--key"])
        .arg(dir.path().join("w.key"))
        .arg("--log-key")
        .arg(dir.path().join("log.pub"))
        .args(["--origin", ORIGIN, "--state"])
        .arg(dir.path().join("state"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut answered = None;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            answered = Some(add(&url, &request(0, 3, 0)).0);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(answered, Some(200));
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(said.contains("its public key, for logs and verifiers"), "{said}");
    #[cfg(unix)]
    assert!(said.contains("warning: others may open the state directory"), "{said}");
    // Without anything to witness, it says so and exits 2.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["witness", "--key"])
        .arg(dir.path().join("w.key"))
        .arg("--log-key")
        .arg(dir.path().join("log.pub"))
        .arg("--state")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--origin"));
}

#[test]
fn requiring_witnesses_with_nothing_to_check_them_against_is_a_usage_error() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger/vectors");
    let policy = || Some(WitnessPolicy::new(vec![witness_key().verifier()], 1).unwrap());
    let key = vectors.join("ledgerdesk-vectors.pub");
    // `verify --witness` without a checkpoint would check no cosignature at all.
    let refused = ledger_cli::commands::verify(ledger_cli::commands::VerifyArgs {
        export: &vectors.join("v2/chain.jsonl"),
        keys: std::slice::from_ref(&key),
        log: Some(LogName::parse("ledgerdesk.vectors").unwrap()),
        checkpoints: &[],
        disclosures: None,
        chain: None,
        allow_uncovered: true,
        json: true,
        now: None,
        witnesses: policy(),
    });
    assert!(
        matches!(&refused, Err(ledger_cli::commands::CliError::Usage(m)) if m.contains("--witness needs --checkpoint")),
        "{refused:?}"
    );
    // `verify-receipt --witness` without an export and checkpoint likewise.
    let refused = ledger_cli::commands::verify_receipt(
        &vectors.join("receipts/seq-5.note"),
        &[vectors.join("ledgerdesk-vectors-receipts.pub")],
        &LogName::parse("ledgerdesk.vectors").unwrap(),
        None,
        None,
        policy().as_ref(),
        true,
    );
    assert!(
        matches!(&refused, Err(ledger_cli::commands::CliError::Usage(m)) if m.contains("--witness needs --export")),
        "{refused:?}"
    );
}
