//! Bounded memory whatever a log serves (FORMAT.md §13): the built `ledger` binary against a
//! hostile log — a zstd bomb for an entry tile (with and without its stated size), endless
//! pages and checkpoints, a page of a million empty lines, an endless consistency proof —
//! and handed huge files. Each run must end with the right exit code and a peak resident set
//! under 128 MiB, as GNU time measures it for the process (wait4).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;

use ledger::{ChainHead, ChainId, SignerKey};

/// The budget: every `ledger` command stays under it.
const BUDGET_KIB: i64 = 128 * 1024;
const LOG: &str = "ledgerdesk.hostile";

/// What the hostile log answers to each path.
#[derive(Clone)]
struct Hostile {
    checkpoint: Answer,
    tile: Answer,
    entries: Answer,
    proof: Answer,
    /// Entry tiles by index (served before `tile`, which answers the others).
    tiles: std::sync::Arc<Vec<Vec<u8>>>,
    /// Entry tile 0 is answered this late (the others at once): every other fetching thread
    /// fills up meanwhile.
    slow_first_tile: std::time::Duration,
}

#[derive(Clone)]
enum Answer {
    Bytes(Vec<u8>),
    /// A body of this byte repeated without end (until the client hangs up, or 1 GiB).
    Endless(u8),
    /// 404.
    NotFound,
}

fn serve(hostile: Hostile) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let hostile = hostile.clone();
            std::thread::spawn(move || answer(stream, &hostile));
        }
    });
    format!("http://{address}")
}

fn answer(mut stream: TcpStream, hostile: &Hostile) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split(' ').nth(1).unwrap_or_default();
    let indexed = path
        .strip_prefix("/ledger/entry-tiles/")
        .and_then(|rest| rest.split('?').next()?.parse::<usize>().ok())
        .and_then(|i| hostile.tiles.get(i))
        .map(|frame| Answer::Bytes(frame.clone()));
    if indexed.is_some() && path.starts_with("/ledger/entry-tiles/0") {
        std::thread::sleep(hostile.slow_first_tile);
    }
    let answer = if let Some(tile) = &indexed {
        tile
    } else if path.starts_with("/ledger/checkpoint") {
        &hostile.checkpoint
    } else if path.starts_with("/ledger/entry-tiles/") {
        &hostile.tile
    } else if path.starts_with("/ledger/entries") {
        &hostile.entries
    } else {
        &hostile.proof
    };
    if matches!(answer, Answer::NotFound) {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n");
    match answer {
        Answer::NotFound => {}
        Answer::Bytes(body) => {
            let _ = write!(stream, "content-length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(body);
        }
        Answer::Endless(byte) => {
            let _ = stream.write_all(b"\r\n");
            let chunk = vec![*byte; 64 << 10];
            for _ in 0..(1 << 14) {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
    }
}

/// A zstd frame of `blocks` RLE blocks of 128 KiB of `x` each (RFC 8878 §3.1.1.2.2): four bytes
/// a block, so 32 KiB of frame say 1 GiB. With `stated`, the header says so too.
fn bomb(blocks: u32, stated: bool) -> Vec<u8> {
    let mut frame = vec![0x28, 0xB5, 0x2F, 0xFD];
    let block = 128u32 << 10;
    if stated {
        frame.push(0xC0); // an 8-byte content size, a window descriptor
        frame.push(10 << 3); // window 1 MiB
        frame.extend_from_slice(&(u64::from(blocks) * u64::from(block)).to_le_bytes());
    } else {
        frame.push(0x00);
        frame.push(10 << 3);
    }
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        let header = (block << 3) | (1 << 1) | last;
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(b'x');
    }
    frame
}

/// A valid signed checkpoint of a chain of `size` entries, and the key's files in `dir`.
fn checkpoint(dir: &Path, size: u64) -> Vec<u8> {
    chain(dir, size, 0).0
}

/// A valid chain of `size` entries, each padded with `pad` bytes: its signed checkpoint and
/// its entry lines (each with its newline). The key's files go to `dir`.
fn chain(dir: &Path, size: u64, pad: usize) -> (Vec<u8>, Vec<String>) {
    let key = SignerKey::from_seed("ledgerdesk-hostile", [9; 32]).unwrap();
    std::fs::write(dir.join("log.pub"), format!("{}\n", key.verifier())).unwrap();
    let mut head = ChainHead::genesis(ChainId::parse("contoso").unwrap());
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .unwrap()
        .to_utc();
    let padding = "p".repeat(pad);
    let mut lines = Vec::new();
    for i in 0..size {
        let data = serde_json::json!({ "i": i, "pad": padding });
        let (entry, next) = head.append(&at, "note_added", &data).unwrap();
        if pad > 0 {
            lines.push(format!("{}\n", entry.line));
        }
        head = next;
    }
    (head.sign_checkpoint(LOG, &key).into_bytes(), lines)
}

/// Run `ledger` under GNU time and return its exit code; its peak RSS must be within the
/// budget. (The kernel's count for a child of this process would not do: a child started
/// by vfork and exec inherits this process's own high-water mark. GNU time forks the
/// command itself and reads its usage with wait4.)
fn ledger(args: &[&str]) -> (i32, String) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time is needed to measure peak RSS (Debian: apt-get install time; .ci/run installs it)"
    );
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(time)
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .output()
        .unwrap();
    let peak: i64 = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from GNU time for {args:?}"));
    eprintln!("{}: peak RSS {} KiB", args[0], peak);
    assert!(
        peak < BUDGET_KIB,
        "{args:?}: peak RSS {} MiB, over the 128 MiB budget",
        peak / 1024
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn key_path(dir: &Path) -> String {
    dir.join("log.pub").to_str().unwrap().to_owned()
}

fn sync(api: &str, dir: &Path, state: &str) -> (i32, String) {
    let token = dir.join("token");
    std::fs::write(&token, "t").unwrap();
    let key = dir.join("log.pub");
    ledger(&[
        "sync",
        "--api",
        api,
        "--token-file",
        token.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--receipt-key",
        key.to_str().unwrap(),
        "--state",
        dir.join(state).to_str().unwrap(),
        "--log",
        LOG,
        "--chain",
        "contoso",
        "--json",
    ])
}

#[test]
fn whatever_a_log_serves_every_command_stays_within_its_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let signed = checkpoint(dir.path(), 1024);
    let hostile = |tile: Answer, entries: Answer| Hostile {
        checkpoint: Answer::Bytes(signed.clone()),
        tile,
        entries,
        proof: Answer::Endless(b'['),
        tiles: Default::default(),
        slow_first_tile: Default::default(),
    };
    // Entry tile 0 a 32 KiB frame that says 1 GiB (stated, or found out while streaming); the
    // tile is then read by page, and the page never ends.
    for stated in [true, false] {
        let frame = bomb(8192, stated);
        assert!(frame.len() < 40 << 10);
        let api = serve(hostile(Answer::Bytes(frame), Answer::Endless(b'x')));
        let (code, out) = sync(&api, dir.path(), &format!("bomb-{stated}"));
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("\"kind\":\"malformed\""), "{out}");
        assert!(out.contains("longer than 1 MiB"), "{out}");
    }
    // A page of a million empty lines: the first is refused, the rest never looked at.
    let api = serve(hostile(Answer::NotFound, Answer::Endless(b'\n')));
    let (code, out) = sync(&api, dir.path(), "empty-lines");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"kind\":\"malformed\""), "{out}");
    // A checkpoint that never ends: read up to a note's size, then refused (nothing judged).
    let api = serve(Hostile {
        checkpoint: Answer::Endless(b'a'),
        ..hostile(Answer::Endless(b'x'), Answer::Endless(b'x'))
    });
    let (code, out) = sync(&api, dir.path(), "endless-checkpoint");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("longer than"), "{out}");

    // Files handed to the offline commands: a 1 GiB bundle, receipt and key (sparse files).
    let huge = dir.path().join("huge");
    std::fs::File::create(&huge).unwrap().set_len(1 << 30).unwrap();
    let huge = huge.to_str().unwrap();
    let key = dir.path().join("log.pub");
    let key = key.to_str().unwrap();
    // A canonical bundle whose proof is millions of empty strings: refused before they are kept.
    let bundle = dir.path().join("bundle.json");
    let proof = vec!["\"\""; 5 << 20].join(",");
    std::fs::write(
        &bundle,
        format!("{{\"checkpoint\":\"x\",\"entries\":[{{\"entry\":\"e\",\"inclusionProof\":[{proof}],\"leafIndex\":0}}],\"format\":\"ledgerdesk-evidence/v2\",\"treeSize\":1}}\n"),
    )
    .unwrap();
    let (code, out) = ledger(&[
        "verify-proof",
        bundle.to_str().unwrap(),
        "--key",
        key_path(dir.path()).as_str(),
        "--log",
        LOG,
        "--json",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"kind\":\"malformed\""), "{out}");
    // An export of 200,000 one-entry chains: verified with bounded memory (not a set of every
    // chain seen, nor a report line for each).
    let export = dir.path().join("chains.jsonl");
    let mut lines = String::new();
    for i in 0..200_000 {
        let head = ChainHead::genesis(ChainId::parse(&format!("c{i:07}")).unwrap());
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .to_utc();
        lines.push_str(&head.append(&at, "note_added", &serde_json::json!({})).unwrap().0.line);
        lines.push('\n');
    }
    std::fs::write(&export, lines).unwrap();
    let (code, out) = ledger(&[
        "verify",
        export.to_str().unwrap(),
        "--key",
        key_path(dir.path()).as_str(),
        "--json",
    ]);
    assert_eq!(code, 0, "{}", &out[..out.len().min(500)]);
    assert!(
        out.contains("\"chainsNotListed\":190000"),
        "{}",
        &out[..out.len().min(300)]
    );

    for args in [
        vec!["verify-proof", huge, "--key", key, "--log", LOG, "--json"],
        vec!["verify-receipt", huge, "--receipt-key", key, "--log", LOG, "--json"],
        vec!["verify-proof", key, "--key", huge, "--log", LOG, "--json"],
    ] {
        let (code, out) = ledger(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains("larger than"), "{args:?}: {out}");
    }
}

#[test]
fn an_honest_log_of_the_largest_tiles_is_synced_within_the_budget() {
    // Entry tiles just under what one answer may be (1,024 entries of ~3.9 KB: ~4 MiB each),
    // twelve of them: every fetching thread holds the largest answers it may at once.
    let dir = tempfile::tempdir().unwrap();
    let (signed, lines) = chain(dir.path(), 12 * 1024, 3_800);
    let tiles: Vec<Vec<u8>> = lines
        .chunks(1024)
        .map(|run| {
            let content: Vec<u8> = run.iter().flat_map(|l| l.bytes()).collect();
            assert!(content.len() < 4 << 20, "{}", content.len());
            assert!(content.len() > 3 << 20, "{}", content.len());
            ledger::entry_tiles::encode(&content).unwrap()
        })
        .collect();
    let api = serve(Hostile {
        checkpoint: Answer::Bytes(signed),
        tile: Answer::NotFound,
        entries: Answer::NotFound,
        proof: Answer::NotFound,
        tiles: std::sync::Arc::new(tiles),
        // The first tile late: the other threads fetch and hold all they may meanwhile.
        slow_first_tile: std::time::Duration::from_millis(1500),
    });
    let (code, out) = sync(&api, dir.path(), "largest");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"newEntries\":12288"), "{out}");
}

#[test]
fn an_endless_consistency_proof_is_refused_within_the_budget() {
    // A directory that kept a checkpoint of 1,024 entries; the log now signs 2,048 and answers
    // the consistency proof with an endless, endlessly nested array.
    let dir = tempfile::tempdir().unwrap();
    let small = checkpoint(dir.path(), 1024);
    let large = checkpoint(dir.path(), 2048);
    let state = dir.path().join("kept");
    std::fs::create_dir_all(state.join("checkpoints")).unwrap();
    let (cp, _) = ledger::Checkpoint::open(
        std::str::from_utf8(&small).unwrap(),
        &ledger::TrustedKeys::new([SignerKey::from_seed("ledgerdesk-hostile", [9; 32]).unwrap().verifier()]),
    )
    .unwrap();
    let kept = serde_json::json!({
        "format": "ledgerdesk-sync/v1", "log": LOG, "chain": "contoso", "size": 1024,
        "root": cp.root.to_base64(), "lastHash": "00".repeat(32), "lastAt": null, "version": 2,
        "frontier": [cp.root.to_hex()], "entriesBytes": 0,
    });
    std::fs::write(state.join("state.json"), kept.to_string()).unwrap();
    let api = serve(Hostile {
        checkpoint: Answer::Bytes(large),
        tile: Answer::Endless(b'x'),
        entries: Answer::Endless(b'x'),
        proof: Answer::Endless(b'['),
        tiles: Default::default(),
        slow_first_tile: Default::default(),
    });
    let (code, out) = sync(&api, dir.path(), "kept");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/ledger/proofs/consistency"), "{out}");
}
