//! The OpenAPI document is generated from the code (`api::openapi`): the committed file is
//! exactly what the code says, and its patterns accept exactly what the domain accepts.
//!
//! Regenerate the file with `LEDGERDESK_WRITE_OPENAPI=1 cargo test -p api --test openapi`.

use fancy_regex::Regex;
use proptest::prelude::*;
use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = api::openapi::document_text();
    if std::env::var_os("LEDGERDESK_WRITE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap();
    assert!(
        committed == generated,
        "shared/api/openapi.json is not what the code generates: run LEDGERDESK_WRITE_OPENAPI=1 cargo test -p api --test openapi"
    );
    assert!(
        api::OPENAPI == committed,
        "the served document is the committed one (rebuild)"
    );
}

fn document() -> Value {
    api::openapi::document()
}

fn pattern(schema: &Value) -> Regex {
    Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
}

fn create_property(name: &str) -> Value {
    document()["components"]["schemas"]["CreateCustomerRequest"]["properties"][name].clone()
}

/// A property's pattern, compiled once per test binary.
fn compiled(name: &'static str) -> &'static Regex {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<&'static str, &'static Regex>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap();
    map.entry(name)
        .or_insert_with(|| Box::leak(Box::new(pattern(&create_property(name)))))
}

#[test]
fn every_operation_states_its_statuses_and_bodies_refuse_unknown_members() {
    let doc = document();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            for code in ["400", "401", "403", "500", "503"] {
                assert!(codes.iter().any(|c| *c == code), "{method} {path} lacks {code}");
            }
            // A success, or (entry tiles) a redirect to where the content is.
            assert!(
                codes.iter().any(|c| c.starts_with('2') || *c == "307"),
                "{method} {path} has no success"
            );
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if name.ends_with("Input") || name.ends_with("Action") && name != "Action" || name.starts_with("Create") {
            // A closed object, or a choice of closed objects.
            match schema["oneOf"].as_array() {
                Some(variants) => {
                    for variant in variants {
                        assert_eq!(variant["additionalProperties"], false, "{name}: {variant}");
                    }
                }
                None => assert_eq!(schema["additionalProperties"], false, "{name}"),
            }
        }
    }
    // The create operations link to what a client does next (stateful testing follows them).
    let create = &doc["paths"]["/customers/{customerId}/service-requests"]["post"]["responses"]["201"]["links"];
    for link in ["GetRequest", "GetHistory", "UpdateRequest"] {
        assert!(create[link]["operationId"].is_string(), "{link}");
    }
}

#[test]
fn the_language_pattern_is_the_servers_rule() {
    let re = pattern(&create_property("language"));
    for ok in [
        "en",
        "de-DE",
        "xh",
        "xh-ZA",
        "zh-Hant-TW",
        "de-Latn-AT-1996",
        "es-419",
        "en-a-bbb-x-ccc",
        "de-AT-u-co-phonebk",
    ] {
        assert!(re.is_match(ok).unwrap(), "{ok}");
        assert!(domain::LanguageTag::parse(ok).is_ok(), "{ok}");
    }
    // Every grandfathered tag, in any case, is well-formed: taken, and served by a stand-in.
    for tag in api::openapi::GRANDFATHERED {
        for spelled in [tag.to_owned(), tag.to_uppercase()] {
            assert!(re.is_match(&spelled).unwrap(), "{spelled}");
            assert!(domain::LanguageTag::parse(&spelled).is_ok(), "{spelled}");
        }
    }
    for bad in [
        "i-borg",
        "en-GB-oedx",
        "x-private",
        "e",
        "de_DE",
        "de--AT",
        "-de",
        "de-",
        "english!",
    ] {
        assert!(!re.is_match(bad).unwrap(), "{bad}");
        assert!(domain::LanguageTag::parse(bad).is_err(), "{bad}");
    }
}

fn subtag(chars: &'static str, len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(chars.chars().collect::<Vec<_>>()), len)
        .prop_map(|c| c.into_iter().collect())
}

/// Strings that look like language tags: a few subtags of letters and digits.
fn tag_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(subtag("aAbBcdeEhHilLnNrstTxXz0123456789", 1..=9), 1..=6)
        .prop_map(|parts| parts.join("-"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, rng_seed: proptest::test_runner::RngSeed::Fixed(0x0a91_2026), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_document_and_the_server_agree_on_every_language_tag(tag in tag_like()) {
        let documented = compiled("language").is_match(&tag).unwrap() && tag.len() <= domain::LanguageTag::MAX_LEN;
        prop_assert_eq!(documented, domain::LanguageTag::parse(&tag).is_ok(), "{}", tag);
    }

    #[test]
    fn the_document_and_the_server_agree_on_one_line_text(text in "[ -~\u{a0}-\u{ff}\u{0}-\u{1f}\u{7f}-\u{9f}\u{200b}-\u{200f}\u{2028}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{feff}\u{e9}]{0,12}") {
        let documented = compiled("title").is_match(&text).unwrap() && !text.is_empty();
        prop_assert_eq!(documented, domain::Title::parse(&text).is_ok(), "{:?}", text);
    }

    #[test]
    fn the_document_and_the_server_agree_on_multi_line_text(text in "[ -~\t\n\r\u{0}-\u{8}\u{b}-\u{1f}\u{7f}-\u{9f}\u{200b}\u{202e}\u{2066}\u{e9}]{0,12}") {
        let documented = compiled("description").is_match(&text).unwrap() && !text.is_empty();
        prop_assert_eq!(documented, domain::Description::parse(&text).is_ok(), "{:?}", text);
    }
}
