//! Properties of the SLA engine over random opening times (fixed seed: failures reproduce).

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use domain::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config {
        cases: 2_000,
        rng_seed: RngSeed::Fixed(0x1ed6_e7de_5c00_0001),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any instant in 2026-2027 (both holiday years of the shipped policy, both DST changes).
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap().timestamp();
    let end = Utc.with_ymd_and_hms(2027, 12, 20, 0, 0, 0).unwrap().timestamp();
    (start..end, 0u32..1000).prop_map(|(s, ms)| DateTime::from_timestamp(s, ms * 1_000_000).unwrap())
}

fn local_calendar() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("de"), Just("fr"), Just("es"), Just("ja")]
}

fn language() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("en"),
        Just("en-GB"),
        Just("de-DE"),
        Just("fr"),
        Just("es-ES"),
        Just("ja"),
        Just("nl")
    ]
}

fn category() -> impl Strategy<Value = Category> {
    proptest::sample::select(Category::ALL.to_vec())
}

fn severity() -> impl Strategy<Value = Severity> {
    proptest::sample::select(Severity::ALL.to_vec())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn due_is_never_before_opening(opened in instant(), lang in language(), cat in category(), sev in severity()) {
        let due = policy()
            .initial_response_due(Timestamp::from(opened), cat, sev, &LanguageTag::parse(lang).unwrap())
            .unwrap();
        prop_assert!(due.due_at >= Timestamp::from(opened));
        prop_assert!(due.target_minutes > 0);
    }

    #[test]
    fn local_language_due_times_fall_inside_opening_hours(opened in instant(), cal in local_calendar(), cat in category(), sev in severity()) {
        let p = policy();
        let due = p.initial_response_due(Timestamp::from(opened), cat, sev, &LanguageTag::parse(cal).unwrap()).unwrap();
        prop_assert_eq!(&due.calendar, cal);
        let calendar = p.calendar(cal).unwrap();
        prop_assert!(calendar.is_open_at(due.due_at.datetime()), "{} due {} is outside {}", cal, due.due_at, calendar.description());
        // At least the target passes in wall-clock time (business time is a subset of it).
        prop_assert!(due.due_at.datetime() - opened >= Duration::minutes(due.target_minutes.into()) - Duration::milliseconds(1));
    }

    #[test]
    fn adding_business_minutes_is_additive(opened in instant(), cal in local_calendar(), a in 1u32..3_000, b in 1u32..3_000) {
        let p = policy();
        let calendar = p.calendar(cal).unwrap();
        let stepwise = calendar.add_business_minutes(calendar.add_business_minutes(opened, a).unwrap(), b).unwrap();
        let at_once = calendar.add_business_minutes(opened, a + b).unwrap();
        prop_assert_eq!(stepwise, at_once);
    }

    #[test]
    fn more_business_minutes_never_end_earlier(opened in instant(), cal in local_calendar(), a in 1u32..3_000, b in 0u32..600) {
        let p = policy();
        let calendar = p.calendar(cal).unwrap();
        prop_assert!(calendar.add_business_minutes(opened, a).unwrap() <= calendar.add_business_minutes(opened, a + b).unwrap());
    }

    #[test]
    fn english_is_opened_plus_target_exactly(opened in instant(), cat in category(), sev in severity(), lang in prop_oneof![Just("en"), Just("en-US"), Just("en-GB")]) {
        let opened = Timestamp::from(opened);
        let due = policy().initial_response_due(opened, cat, sev, &LanguageTag::parse(lang).unwrap()).unwrap();
        prop_assert_eq!(due.due_at.datetime(), opened.datetime() + Duration::minutes(due.target_minutes.into()));
        let expected = match (cat, sev) {
            (Category::Technical, Severity::A) => 120,
            (Category::Technical, Severity::B) => 240,
            (Category::Technical, Severity::C) => 480,
            _ => 1_440,
        };
        prop_assert_eq!(due.target_minutes, expected);
    }
}
