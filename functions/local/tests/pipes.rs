//! The `local` commands as a shell pipeline sees them: stdout carries only the result (a
//! token, a JSON report), human logs go to stderr, and nothing is coloured when the output
//! is not a terminal.

use std::process::{Command, Output};

fn local(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_local"))
        .args(args)
        .args(["--data-dir", dir.to_str().unwrap()])
        // A port nothing listens on: `sweep` opens the data file itself.
        .args(["--dynamodb-port", &free_port().to_string()])
        .env_remove("NO_COLOR")
        .env_remove("DYNAMODB_ENDPOINT")
        .output()
        .expect("the local binary runs")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const ESC: u8 = 0x1b;

#[test]
fn token_prints_only_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = local(dir.path(), &["token", "--partner", "contoso", "--role", "partner"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.strip_suffix('\n').expect("one line");
    assert_eq!(token.split('.').count(), 3, "a JWT and nothing else: {stdout:?}");
    assert!(!token.contains(char::is_whitespace));
}

#[test]
fn sweep_prints_json_on_stdout_and_uncoloured_logs_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = local(dir.path(), &["sweep", "--at", "2026-12-01T10:00:00Z"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !out.stdout.contains(&ESC) && !out.stderr.contains(&ESC),
        "no ANSI codes when piped"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
    assert!(report["breached"].is_array(), "{report}");
    let logs = String::from_utf8(out.stderr).unwrap();
    assert!(logs.contains("sla sweep done"), "the log line goes to stderr: {logs:?}");
}
