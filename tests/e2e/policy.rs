//! The support policy through the API: regional calendars from any well-formed language tag,
//! fees only where the policy charges them (and why), and a policy that says when it runs out.

use reqwest::StatusCode;
use serde_json::json;
use tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_served_on_its_regions_calendar() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    for (language, calendar) in [
        ("fr-CA", "fr-CA"),
        ("de-Latn-AT-1996", "de-AT"),
        ("es-mx", "es-MX"),
        ("fr-SN", "fr"),
        ("de-DE", "de"),
        ("xh-ZA", "en"),
        ("zh-Hant-TW", "en"),
        // Grandfathered: kept as given, served by the preferred value (English, or no calendar
        // of its own: the fallback).
        ("en-GB-oed", "en"),
        ("i-klingon", "en"),
        ("sgn-BE-FR", "en"),
    ] {
        let mut b = body();
        b["language"] = json!(language);
        let created = stack.create(&partner, &b).await;
        assert_eq!(created["sla"]["calendar"], calendar, "{language}");
        assert!(
            created["language"].as_str().unwrap().eq_ignore_ascii_case(language),
            "recorded as given: {}",
            created["language"]
        );
        assert_eq!(
            created["sla"]["policyVersion"],
            domain::SupportPolicy::embedded().unwrap().version()
        );
    }
    let before = dump_tables(&stack).await;
    for bad in ["i-borg", "x-private", "de_AT", &format!("de-AT-{}", "x".repeat(60))] {
        let mut b = body();
        b["language"] = json!(bad);
        let reply = stack
            .post(&format!("/customers/{CUSTOMER}/service-requests"), &partner, &b)
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(reply.error_fields(), ["$.language"], "{bad}");
    }
    assert_eq!(dump_tables(&stack).await, before, "refused tags wrote nothing");
    explain_every_request(&stack, &partner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_azure_technical_support_carries_the_fee_and_the_ledger_says_why() {
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let case = |product: &str, category: &str, coverage: Option<&str>| {
        let mut b = body();
        b["product"] = json!(product);
        b["category"] = json!(category);
        if let Some(c) = coverage {
            b["feeCoverage"] = json!(c);
        }
        b
    };
    for (product, category, coverage, billable, basis) in [
        ("azure", "technical", None, true, "azure_technical"),
        ("azure", "technical", Some("mpn_benefit"), false, "covered_by_benefit"),
        ("azure", "billing", None, false, "billing_support_included"),
        ("azure", "billing_dispute", None, false, "billing_support_included"),
        (
            "azure",
            "subscription_management",
            None,
            false,
            "billing_support_included",
        ),
        ("azure", "fraud", None, false, "billing_support_included"),
        ("office365", "technical", None, false, "product_without_fee"),
        ("office365", "billing", None, false, "product_without_fee"),
    ] {
        let created = stack.create(&partner, &case(product, category, coverage)).await;
        assert_eq!(created["billable"], billable, "{product} {category} {coverage:?}");
        assert_eq!(created["feeBasis"], basis, "{product} {category} {coverage:?}");
        // The ledger entry records the same, in clear.
        let id = created["id"].as_str().unwrap();
        let history = stack.get(&format!("/service-requests/{id}/history"), &partner).await;
        let entry = &history.body["items"][0]["data"];
        assert_eq!(entry["resulting"]["feeBasis"], basis, "{entry}");
        assert_eq!(entry["change"]["request"]["feeBasis"], basis);
    }
    explain_every_request(&stack, &partner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_warns_a_year_before_the_policy_runs_out() {
    let _ = captured_logs();
    let stack = Stack::start().await;
    let policy = domain::SupportPolicy::embedded().unwrap();
    let (_, last) = policy.holiday_years();
    let fine = chrono::DateTime::parse_from_rfc3339(&format!("{}-12-01T00:00:00Z", last - 2))
        .unwrap()
        .with_timezone(&chrono::Utc);
    let report = stack.running.sweep(domain::Timestamp::from(fine)).await.unwrap();
    assert!(report.policy_alarms.is_empty(), "{report:?}");
    let late = chrono::DateTime::parse_from_rfc3339(&format!("{last}-03-01T00:00:00Z"))
        .unwrap()
        .with_timezone(&chrono::Utc);
    let report = stack.running.sweep(domain::Timestamp::from(late)).await.unwrap();
    assert_eq!(report.policy_alarms.len(), 1, "{report:?}");
    assert!(report.policy_alarms[0].contains(&last.to_string()), "{report:?}");
    assert!(captured_logs().contains(r#""policy_alarm":"holiday_horizon""#));
}

/// Every entry of a request names the policy it was computed by, and the service publishes
/// exactly the bytes that name pins: a partner can re-run the rules on the document itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_pins_the_policy_the_service_publishes() {
    use sha2::Digest;
    let stack = Stack::start().await;
    let partner = stack.partner_token("contoso");
    let created = stack.create(&partner, &body()).await;
    let id = created["id"].as_str().unwrap();
    let noted = stack
        .patch(
            &format!("/service-requests/{id}"),
            &partner,
            &json!({ "action": "note", "message": "still down" }),
        )
        .await;
    assert_eq!(noted.status, StatusCode::OK, "{}", noted.body);
    let export = stack.get_text("/ledger/entries?chain=contoso", &partner).await;
    let entries: Vec<serde_json::Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mine: Vec<_> = entries.iter().filter(|e| e["data"]["requestId"] == id).collect();
    assert_eq!(mine.len(), 2, "{export}");
    let support = domain::SupportPolicy::embedded().unwrap();
    for entry in mine {
        let pin = &entry["data"]["policy"];
        assert_eq!(pin["version"], support.version(), "{entry}");
        let reply = stack
            .send(
                reqwest::Method::GET,
                &format!("/policies/{}", pin["version"].as_str().unwrap()),
                Some(&partner),
                None,
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let text = stack
            .get_text(&format!("/policies/{}", pin["version"].as_str().unwrap()), &partner)
            .await;
        let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        assert_eq!(
            pin["sha256"],
            digest.as_str(),
            "the published bytes are the pinned ones"
        );
        assert_eq!(reply.header("etag"), Some(format!("\"{digest}\"").as_str()));
        assert!(reply.header("repr-digest").unwrap().starts_with("sha-256=:"));
        assert!(reply.header("content-type").unwrap().starts_with("application/toml"));
        // The document parses as the policy the service ran.
        assert_eq!(domain::SupportPolicy::from_toml(&text).unwrap().pin().sha256, digest);
    }
    // Every policy the service ever used is published, older ones too, byte for byte.
    for published in domain::published_policies() {
        let text = stack
            .get_text(&format!("/policies/{}", published.pin.version), &partner)
            .await;
        assert_eq!(text, published.text, "{}", published.pin.version);
    }
    for (path, token, status) in [
        ("/policies/2099.1.1", Some(partner.as_str()), StatusCode::NOT_FOUND),
        (
            "/policies/..%2Fsupport-policy",
            Some(partner.as_str()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/policies/2026.12.3?x=1",
            Some(partner.as_str()),
            StatusCode::BAD_REQUEST,
        ),
        ("/policies/2026.12.3", None, StatusCode::UNAUTHORIZED),
    ] {
        let reply = stack.send(reqwest::Method::GET, path, token, None, &[]).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        if status != StatusCode::UNAUTHORIZED {
            assert!(reply.body["type"].is_string(), "a problem document: {}", reply.body);
        }
    }
}
