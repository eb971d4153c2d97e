//! What the verifier accepts as kept checkpoints: one log (pinned, or the first one's), and
//! one root per size.

mod common;

use common::*;
use ledger::{FailureKind, LogName, Verifier, VerifyOptions};

#[test]
fn checkpoints_of_two_logs_are_refused() {
    let (_, head) = chain("contoso", 3);
    let ours = head.sign_checkpoint(LOG_NAME, &key());
    let theirs = head.sign_checkpoint("another.log", &key());
    // The first checkpoint names the log; a second of another log is refused.
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier.add_checkpoint(&ours, "kept").unwrap();
    assert_eq!(verifier.log(), Some(LOG_NAME));
    let failure = verifier.add_checkpoint(&theirs, "theirs").unwrap_err();
    assert_eq!(failure.kind, FailureKind::WrongLog, "{failure}");
    assert!(failure.to_string().contains("is of the log another.log"), "{failure}");
    // A pinned log refuses another from the first checkpoint on.
    let mut pinned = Verifier::new(
        trusted(),
        VerifyOptions {
            log: Some(LogName::parse(LOG_NAME).unwrap()),
            ..VerifyOptions::default()
        },
    );
    assert_eq!(
        pinned.add_checkpoint(&theirs, "theirs").unwrap_err().kind,
        FailureKind::WrongLog
    );
    pinned.add_checkpoint(&ours, "kept").unwrap();
}

#[test]
fn two_roots_for_one_size_are_a_fork() {
    let (_, head) = chain("contoso", 3);
    let other = chain_v2("contoso", 3);
    let mut verifier = Verifier::new(trusted(), VerifyOptions::default());
    verifier
        .add_checkpoint(&head.sign_checkpoint(LOG_NAME, &key()), "kept")
        .unwrap();
    let failure = verifier
        .add_checkpoint(&other.1.sign_checkpoint(LOG_NAME, &key()), "other")
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Fork, "{failure}");
    // The same checkpoint twice is no fork.
    verifier
        .add_checkpoint(&head.sign_checkpoint(LOG_NAME, &key()), "again")
        .unwrap();
}
