//! The properties the fuzz targets check, one function per parser that takes outside input.
//! The cargo fuzz targets (`fuzz_targets/`) call them with libFuzzer's inputs; the
//! workspace test `tests/fuzz_corpus.rs` replays the seed corpus (the test vectors) and the
//! regression inputs (`regressions/<target>/`) through them on stable Rust, in CI.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use api::http::check_query;
use std::collections::HashMap;

use api::identity::{Caller, IdentityConfig, Population};
use domain::{Action, ActionInput, NewRequestInput, NewServiceRequest, PartnerId, TenantInput};
use ledger::bundle::{EvidenceBundle, verify_bundle};
use ledger::checkpoint::{Checkpoint, SignedNote};
use ledger::personal::Disclosures;
use ledger::{EntryRef, LogName, Receipt, TrustedKeys, Verifier, VerifierKey, VerifyOptions};
use store::CursorKey;
use store::cursor::{open, seal};

/// A ledger entry line (FORMAT.md §2-§3): an accepted line is exactly what its fields write.
pub fn entry_line(line: &[u8]) {
    let Ok(entry) = EntryRef::parse(line) else {
        return;
    };
    let rebuilt = format!(
        "{{\"v\":{},\"chain\":\"{}\",\"seq\":{},\"prev\":\"{}\",\"at\":\"{}\",\"kind\":\"{}\",\"data\":{},\"hash\":\"{}\"}}",
        entry.version.number(),
        entry.chain,
        entry.seq,
        entry.prev.to_hex(),
        entry.at,
        entry.kind,
        entry.data_str(),
        entry.hash.to_hex()
    );
    assert_eq!(rebuilt.as_bytes(), line, "one reading, one spelling");
    // Canonical data re-encodes to itself.
    let value: serde_json::Value = serde_json::from_slice(entry.data).expect("canonical data is JSON");
    assert_eq!(
        ledger::canonical::encode_data(&value).expect("an object").as_bytes(),
        entry.data
    );
    let _ = entry.computed_hash();
}

/// An export stream, verified (with and without a kept checkpoint): never a panic, every
/// outcome a report or a located failure.
pub fn export(export: &[u8]) {
    use ledger::vectors::{CHECKPOINT_8 as CHECKPOINT, PUBLIC_KEY as KEY};
    let key = VerifierKey::parse(KEY).expect("the vectors' key");
    for with_checkpoint in [false, true] {
        let options = VerifyOptions {
            log: Some(LogName::parse("ledgerdesk.vectors").expect("log")),
            threads: Some(1),
            ..VerifyOptions::default()
        };
        let mut verifier = Verifier::new(TrustedKeys::new([key.clone()]), options);
        if with_checkpoint {
            verifier
                .add_checkpoint(CHECKPOINT, "checkpoint-8.note")
                .expect("the vectors' checkpoint");
        }
        let _ = verifier.verify(export, |_| {});
    }
}

/// A signed note and the checkpoint in it (C2SP signed-note, tlog-checkpoint): an accepted
/// note writes back byte for byte, and so does its checkpoint body.
pub fn note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(note) = SignedNote::parse(text) {
        assert_eq!(note.to_string(), text);
        if let Ok(checkpoint) = Checkpoint::parse_text(note.text) {
            assert_eq!(checkpoint.to_text(), note.text);
        }
    }
    if let Ok(checkpoint) = Checkpoint::parse_text(text) {
        assert_eq!(checkpoint.to_text(), text);
    }
}

/// An evidence bundle (FORMAT.md §12): an accepted file is its canonical text, and checking
/// it never panics.
pub fn bundle(data: &[u8]) {
    use ledger::vectors::PUBLIC_KEY as KEY;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bundle) = EvidenceBundle::parse(text) else {
        return;
    };
    // Any formatting reads the same bundle, which writes canonically and reads back as itself.
    let written = bundle.to_text();
    assert!(
        ledger::canonical::check_document(written.trim_end().as_bytes()).is_ok(),
        "{written}"
    );
    assert_eq!(
        EvidenceBundle::parse(&written).expect("written bundle reads back"),
        bundle
    );
    let keys = TrustedKeys::new([VerifierKey::parse(KEY).expect("key")]);
    let _ = verify_bundle(&bundle, &keys, &LogName::parse("ledgerdesk.vectors").expect("log"));
}

/// A receipt (FORMAT.md §10): an accepted text writes back byte for byte.
pub fn receipt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(receipt) = Receipt::parse_text(text) {
        assert_eq!(receipt.to_text(), text);
    }
}

/// A disclosures file checked against the v2 vectors' chain: never a panic.
pub fn disclosures(data: &[u8]) {
    use ledger::vectors::V2_CHAIN as CHAIN;
    let Ok(file) = serde_json::from_slice::<Disclosures>(data) else {
        return;
    };
    for line in CHAIN.lines() {
        let entry = EntryRef::parse(line.as_bytes()).expect("a vector entry");
        for d in &file.disclosures {
            let _ = d.check(&entry);
        }
    }
}

/// A create body, as the API reads it (JSON → the input struct → the domain's parse), for a
/// customer and for the partner's own tenant: never a panic.
pub fn create_body(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(input) = serde_json::from_value::<NewRequestInput>(value) else {
        return;
    };
    let partner = PartnerId::parse("contoso").expect("partner");
    for tenant in [
        TenantInput::Customer("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        TenantInput::PartnerOwn,
    ] {
        let _ = NewServiceRequest::parse(input.clone(), tenant, &partner);
    }
}

/// A PATCH body: JSON → the input struct → `Action::parse`; never a panic.
pub fn patch_body(data: &[u8]) {
    if let Ok(input) = serde_json::from_slice::<ActionInput>(data) {
        let _ = Action::parse(input);
    }
}

/// A query string (`a=1&b=2`, percent-decoded as API Gateway does) through the parameter
/// checks and the list and queue parsers; never a panic.
pub fn query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // As `application/x-www-form-urlencoded` (`+` is a space).
    let pairs: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let config = IdentityConfig::new("partner_id", "partner", "vendor");
    let partner: HashMap<String, String> = [
        ("sub".into(), "agent".into()),
        ("aud".into(), "partner".into()),
        ("partner_id".into(), "contoso".into()),
    ]
    .into();
    let vendor: HashMap<String, String> = [("sub".into(), "engineer".into()), ("aud".into(), "vendor".into())].into();
    // Parsed once: the policy computes every holiday of its years.
    static POLICY: std::sync::OnceLock<domain::SupportPolicy> = std::sync::OnceLock::new();
    let policy = POLICY.get_or_init(|| domain::SupportPolicy::embedded().expect("policy"));
    for claims in [&partner, &vendor] {
        let caller = Caller::from_claims(claims, &[], &config).expect("a caller");
        if let Ok(params) = check_query(&pairs, api::read::LIST_PARAMS) {
            let _ = api::read::list_query(&params, None, &caller);
            let _ = api::read::list_query(&params, Some("3fa85f64-5717-4562-b3fc-2c963f66afa6"), &caller);
        }
        if let Ok(params) = check_query(&pairs, api::read::QUEUE_PARAMS) {
            let _ = api::read::queue_query(&params, &caller, policy);
        }
    }
}

/// A pagination cursor: opening one the server did not seal never succeeds, never panics;
/// and a sealed one opens only for its own partner and query.
pub fn cursor(data: &[u8]) {
    let key = CursorKey::from_bytes([7; 32]);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert!(open(&key, text, "contoso", "q").is_err(), "an unsealed cursor opened");
    // A real cursor for a key made of the input: opens for its owner only.
    let mut last = HashMap::new();
    last.insert(
        "pk".to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::S(text.to_owned()),
    );
    if let Ok(sealed) = seal(&key, "contoso", "q", &last) {
        assert!(open(&key, &sealed, "contoso", "q").is_ok());
        assert!(open(&key, &sealed, "fabrikam", "q").is_err());
        assert!(open(&key, &sealed, "contoso", "r").is_err());
    }
}

/// The bearer token's verified claims (as API Gateway hands them: a map of strings) mapped
/// to a caller: never a panic; a token is one population or refused.
pub fn claims(data: &[u8]) {
    let Ok(claims) = serde_json::from_slice::<HashMap<String, String>>(data) else {
        return;
    };
    let config = IdentityConfig::new("partner_id", "ledgerdesk", "ledgerdesk-vendor");
    if let Ok(caller) = Caller::from_claims(&claims, &[], &config)
        && let Population::Partner(_) = caller.population
    {
        for scope in api::identity::VENDOR_ONLY_SCOPES {
            assert!(!caller.has(scope), "a partner token holds {scope}");
        }
    }
}
