//! The seed corpus of every fuzz target, from the repository's test vectors and a few
//! hand-written inputs; shared by the corpus replay test and `tests/fuzz/run seeds`.

use std::path::{Path, PathBuf};

/// Every file under `dir` whose name ends in one of `extensions`, sorted.
fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if extensions.iter().any(|e| path.to_string_lossy().ends_with(e)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// The seeds of `target`, `root` being the repository.
pub fn seeds(root: &Path, target: &str) -> Vec<Vec<u8>> {
    let vectors = root.join("shared/ledger/vectors");
    let strings = |items: &[&str]| items.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    match target {
        "entry_line" => files(&vectors, &[".jsonl"])
            .iter()
            .flat_map(|f| read(f).split(|b| *b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>())
            .filter(|l| !l.is_empty())
            .collect(),
        "export" => files(&vectors, &[".jsonl"]).iter().map(|f| read(f)).collect(),
        "note" => files(&vectors, &[".note"]).iter().map(|f| read(f)).collect(),
        "receipt" => files(&vectors.join("receipts"), &[".note"])
            .iter()
            .map(|f| {
                let note = read(f);
                let text = note.windows(2).position(|w| w == b"\n\n").map_or(note.len(), |i| i + 1);
                note[..text].to_vec()
            })
            .collect(),
        "bundle" => files(&vectors.join("bundles"), &[".json"])
            .iter()
            .map(|f| read(f))
            .collect(),
        "disclosures" => files(
            &vectors,
            &["disclosures.json", "bad-disclosure.json", "restored-differently.json"],
        )
        .iter()
        .map(|f| read(f))
        .collect(),
        "create_body" => strings(&[
            r#"{"product":"azure","category":"technical","severity":"A","supportTopic":"Virtual machines / cannot connect","title":"Production VMs unreachable","description":"Since 10:10 UTC no VM answers.","language":"en","contact":{"name":"Erika Partner","email":"erika@partner.example","preferredContactMethod":"email"}}"#,
            r#"{"product":"office365","category":"billing","severity":"C","supportTopicId":"o365-licensing","title":"Invoice","description":"Line 1\nLine 2","language":"de-Latn-AT-1996","contact":{"name":"A","email":"a@b.example","phone":"+49 30 1234567"},"entitlement":{"kind":"mpn_contract","reference":"MPN-4711"}}"#,
            r#"{"product":"azure","category":"technical","severity":"B","supportTopicId":"azure-storage","title":"x\u202e","description":"","language":"i-klingon","contact":{},"feeCoverage":"mpn_benefit"}"#,
        ]),
        "patch_body" => strings(&[
            r#"{"action":"respond","message":"On it."}"#,
            r#"{"action":"note","message":"x","severity":"A"}"#,
            r#"{"action":"assign","assignee":null}"#,
            r#"{"action":"assign","assignee":"me"}"#,
            r#"{"action":"change_severity","severity":"B","reason":"better"}"#,
            r#"{"action":"reopen"}"#,
        ]),
        "query" => strings(&[
            "status=open&severity=A&limit=10",
            "customerId=3fa85f64-5717-4562-b3fc-2c963f66afa6&createdFrom=2026-01-01T00:00:00Z&createdTo=2025-01-01T00:00:00Z",
            "assignee=me&calendar=fr-CA&state=breached&product=azure",
            "limit=0&limit=1&cursor=abc%20def&x=1",
        ]),
        "cursor" => strings(&["", "eyJwIjoiY29udG9zbyJ9", "AAAA.BBBB", "%%%", &"A".repeat(3000)]),
        "claims" => strings(&[
            r#"{"sub":"agent@contoso","aud":"ledgerdesk","partner_id":"contoso","scope":"requests/read requests/write"}"#,
            r#"{"sub":"engineer","aud":"[ledgerdesk ledgerdesk-vendor]","scope":"[requests/respond ledger/audit]"}"#,
            r#"{"sub":"mallory","aud":"ledgerdesk","partner_id":"contoso","scope":"requests/respond"}"#,
            r#"{"sub":"","partner_id":"not a partner!"}"#,
        ]),
        _ => Vec::new(),
    }
}

/// Every target's name.
pub const TARGETS: &[&str] = &[
    "entry_line",
    "export",
    "note",
    "bundle",
    "receipt",
    "disclosures",
    "create_body",
    "patch_body",
    "query",
    "cursor",
    "claims",
];
