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

/// Any instant from 2026 to 1 December of the shipped policy's last holiday year (every DST
/// change, every holiday rule; far enough from the end that additions stay inside).
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (first, last) = policy().holiday_years();
    let start = Utc.with_ymd_and_hms(first, 1, 1, 0, 0, 0).unwrap().timestamp();
    let end = Utc.with_ymd_and_hms(last, 12, 1, 0, 0, 0).unwrap().timestamp();
    (start..end, 0u32..1000).prop_map(|(s, ms)| DateTime::from_timestamp(s, ms * 1_000_000).unwrap())
}

/// Every business-hours calendar of the shipped policy.
fn local_calendar() -> impl Strategy<Value = &'static str> {
    let ids: Vec<&'static str> = policy()
        .calendars()
        .filter(|c| !c.is_always_open())
        .map(|c| &*c.id().to_owned().leak())
        .collect();
    proptest::sample::select(ids)
}

fn language() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("en"),
        Just("en-GB"),
        Just("de-DE"),
        Just("fr"),
        Just("es-ES"),
        Just("ja"),
        Just("nl"),
        Just("fr-CA"),
        Just("es-MX"),
        Just("es-AR"),
        Just("es-CO"),
        Just("de-AT"),
        Just("de-Latn-CH"),
        Just("fr-BE"),
        Just("de-LU"),
        Just("xh-ZA")
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
        prop_assert!(calendar.is_open_at(due.due_at.datetime()).unwrap(), "{} due {} is outside {}", cal, due.due_at, calendar.description());
        // Never on a public holiday of the calendar's region.
        let zone: chrono_tz::Tz = calendar.time_zone().unwrap().parse().unwrap();
        let local_day = due.due_at.datetime().with_timezone(&zone).date_naive();
        prop_assert_eq!(calendar.is_holiday(local_day), Some(false), "{} due {} on a holiday", cal, due.due_at);
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

/// A request on `cal`'s calendar, answered, then followed up by the partner: support owes.
fn followed_up(opened: DateTime<Utc>, cal: &str, answer_after: i64, follow_after: i64) -> Option<ServiceRequest> {
    let mut b = body();
    b["language"] = serde_json::json!(cal);
    let r = open(b, &opened.to_rfc3339());
    let answered = r
        .apply(
            Action::Respond {
                message: message("on it"),
            },
            &engineer(),
            Timestamp::from(opened + Duration::minutes(answer_after)),
            policy(),
        )
        .ok()?
        .0;
    answered
        .apply(
            Action::Note {
                message: message("still down"),
            },
            &agent(),
            Timestamp::from(opened + Duration::minutes(answer_after + follow_after)),
            policy(),
        )
        .ok()
        .map(|(r, _)| r)
}

proptest! {
    #![proptest_config(Config { cases: 500, ..config() })]

    #[test]
    fn a_next_response_is_due_after_the_follow_up_inside_opening_hours(
        opened in instant(), cal in local_calendar(), answer in 1i64..5_000, follow in 1i64..5_000,
    ) {
        let r = followed_up(opened, cal, answer, follow).unwrap();
        let owed = r.sla().current.clone().unwrap();
        let (since, due) = (owed.since, owed.due_at.unwrap());
        prop_assert!(due >= since);
        let calendar = policy().calendar(cal).unwrap();
        prop_assert!(calendar.is_open_at(due.datetime()).unwrap(), "{} due {} outside opening hours", cal, due);
        // Exactly the target of business time between the follow-up and the due time.
        let target = owed.target_minutes.unwrap();
        prop_assert_eq!(calendar.add_business_minutes(since.datetime(), target).unwrap(), due.datetime());
    }

    #[test]
    fn a_pause_never_shortens_what_is_owed(
        opened in instant(), cal in local_calendar(), answer in 1i64..2_000, follow in 1i64..2_000,
        ask in 1i64..2_000, pause in 1i64..20_000,
    ) {
        let r = followed_up(opened, cal, answer, follow).unwrap();
        let owed_before = r.sla().current.clone().unwrap();
        let asked_at = owed_before.since.datetime() + Duration::minutes(ask);
        let waiting = r
            .apply(Action::AwaitPartner { message: message("logs?") }, &engineer(), Timestamp::from(asked_at), policy())
            .unwrap()
            .0;
        prop_assert_eq!(waiting.sla().current.clone().unwrap().owed_by, Party::Partner);
        let replied_at = asked_at + Duration::minutes(pause);
        let again = waiting
            .apply(Action::Note { message: message("here") }, &agent(), Timestamp::from(replied_at), policy())
            .unwrap()
            .0;
        let owed = again.sla().current.clone().unwrap();
        // The new cycle owes the whole target from the reply, never less.
        prop_assert_eq!(owed.target_minutes, owed_before.target_minutes);
        prop_assert!(owed.due_at.unwrap() >= Timestamp::from(replied_at));
        let calendar = policy().calendar(cal).unwrap();
        prop_assert_eq!(
            calendar.add_business_minutes(Timestamp::from(replied_at).datetime(), owed.target_minutes.unwrap()).unwrap(),
            owed.due_at.unwrap().datetime()
        );
    }
}
