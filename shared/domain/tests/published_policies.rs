//! Pinned policies: every document the service ever used is published byte for byte, its
//! SHA-256 never changes, and every event names the policy it was computed by.

mod common;

use common::*;
use domain::*;

/// Published documents are immutable: their digests are known answers (computed with
/// `sha256sum`), so a document edited after the fact fails here.
const KNOWN: [(&str, &str); 4] = [
    (
        "2026.11.1",
        "b265bb438373436a7a63cdf2daf9ee7caccc6a659a2a0e50fe12394839e0b4d4",
    ),
    (
        "2026.12.1",
        "7209ad8a047bed24318720fb412b71ac6bd8c27b994615b29f5062a701c29028",
    ),
    (
        "2026.12.2",
        "7933f464f2f2557f9c22961f21f7b09778fe7fb9f7daf53901023b55588b832e",
    ),
    (
        "2026.12.3",
        "809c9e8e1b77090da4c66e7f47836885dda59ee6c99e4115cbe1e33fbbc25038",
    ),
];

fn version_key(v: &str) -> Vec<u32> {
    v.split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("version {v:?} is not dotted numbers"))
        })
        .collect()
}

#[test]
fn older_documents_keep_their_digests() {
    for (version, digest) in KNOWN {
        let p = published_policy(version).unwrap_or_else(|| panic!("{version} is published"));
        assert_eq!(p.pin.sha256, digest, "{version}");
        assert_eq!(policy_digest(p.text), digest);
    }
    assert!(published_policy("2026.12.9").is_none());
    assert!(published_policy("").is_none());
}

#[test]
fn the_list_is_complete_ordered_and_ends_with_the_policy_in_force() {
    let all = published_policies();
    assert_eq!(all.len(), PUBLISHED_POLICIES.len());
    let last = all.last().unwrap();
    assert_eq!(last.text, EMBEDDED_POLICY);
    assert_eq!(last.pin, policy().pin());
    assert_eq!(last.pin.version, policy().version());
    for pair in all.windows(2) {
        assert!(
            version_key(&pair[0].pin.version) < version_key(&pair[1].pin.version),
            "{} before {}",
            pair[0].pin.version,
            pair[1].pin.version
        );
    }
    // Every older document in policy/published/ is in the list, under its own version.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/published");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let p = published_policy(&name).unwrap_or_else(|| panic!("{} is not in PUBLISHED_POLICIES", path.display()));
        assert_eq!(p.text, text, "{name}");
        assert_ne!(name, policy().version(), "the policy in force is support-policy.toml");
        files += 1;
    }
    assert_eq!(files + 1, all.len(), "one file per older version");
    // The digest is the SHA-256 of the exact bytes: one byte more is another document.
    assert_ne!(policy_digest(&format!("{EMBEDDED_POLICY} ")), policy().pin().sha256);
    assert_eq!(policy().pin().sha256.len(), 64);
}

#[test]
fn every_event_names_the_policy_in_force() {
    let other = SupportPolicy::from_toml(&EMBEDDED_POLICY.replace("version = \"", "version = \"9")).unwrap();
    assert_ne!(other.pin(), policy().pin());
    let opened = open(body(), "2026-11-24T10:00:00Z");
    let (_, created) = ServiceRequest::open(
        parse_customer(body()).unwrap(),
        partner(),
        opened.id(),
        at("2026-11-24T10:00:00Z"),
        &agent(),
        &other,
    )
    .unwrap();
    assert_eq!(created.policy, other.pin());
    let json = serde_json::to_value(&created).unwrap();
    assert_eq!(json["policy"]["version"], other.version());
    assert_eq!(json["policy"]["sha256"], other.pin().sha256.as_str());
    let (noted, event) = opened
        .apply(
            Action::Note {
                message: message("more"),
            },
            &agent(),
            at("2026-11-24T10:05:00Z"),
            &other,
        )
        .unwrap();
    assert_eq!(event.policy, other.pin());
    let (_, breached) = noted
        .mark_breached(at("2026-11-24T15:00:00Z"), &sweep(), &other)
        .unwrap();
    assert_eq!(breached.policy, other.pin());
}
