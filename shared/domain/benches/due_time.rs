//! Due-time computation per request, the new calendars next to the previous policy's
//! algorithm, measured in the same run; and heap allocations per call.
//!
//! `cargo bench -p domain --bench due_time`. The baseline is the algorithm of policy
//! 2026.11.1 (holidays as a sorted set of listed dates, a vector of the day's opening
//! intervals allocated per day), kept here, and only here, as the yardstick. Prints figures
//! and ratios; asserts nothing.

use std::alloc::System;
use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use domain::{Category, LanguageTag, Severity, SupportPolicy, Timestamp};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The 2026.11.1 algorithm, for the German calendar.
mod baseline {
    use super::*;

    pub struct Calendar {
        pub zone: Tz,
        pub week: [Vec<(u16, u16)>; 7],
        pub holidays: BTreeSet<NaiveDate>,
    }

    impl Calendar {
        pub fn german() -> Self {
            let day = vec![(540u16, 1020u16)];
            let holidays = [
                "2026-01-01",
                "2026-04-03",
                "2026-04-06",
                "2026-05-01",
                "2026-05-14",
                "2026-05-25",
                "2026-10-03",
                "2026-12-25",
                "2026-12-26",
                "2027-01-01",
                "2027-03-26",
                "2027-03-29",
                "2027-05-01",
                "2027-05-06",
                "2027-05-17",
                "2027-10-03",
                "2027-12-25",
                "2027-12-26",
            ]
            .iter()
            .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap())
            .collect();
            Self {
                zone: chrono_tz::Europe::Berlin,
                week: [
                    day.clone(),
                    day.clone(),
                    day.clone(),
                    day.clone(),
                    day,
                    Vec::new(),
                    Vec::new(),
                ],
                holidays,
            }
        }

        fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
            if self.holidays.contains(&date) {
                return Vec::new();
            }
            let Some(day) = self.week.get(date.weekday().num_days_from_monday() as usize) else {
                return Vec::new();
            };
            day.iter()
                .filter_map(|&(s, e)| Some((self.instant(date, s)?, self.instant(date, e)?)))
                .collect()
        }

        fn instant(&self, date: NaiveDate, minute: u16) -> Option<DateTime<Utc>> {
            let local = date.and_hms_opt(0, 0, 0)? + Duration::minutes(i64::from(minute));
            for shift in 0..=180 {
                match self.zone.from_local_datetime(&(local + Duration::minutes(shift))) {
                    LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
                    LocalResult::Ambiguous(earlier, _) => return Some(earlier.with_timezone(&Utc)),
                    LocalResult::None => continue,
                }
            }
            None
        }

        pub fn add_business_minutes(&self, start: DateTime<Utc>, minutes: u32) -> Option<DateTime<Utc>> {
            let mut remaining = Duration::minutes(i64::from(minutes));
            let mut date = start.with_timezone(&self.zone).date_naive();
            for _ in 0..3_660 {
                for (open, close) in self.intervals_on(date) {
                    let from = open.max(start);
                    if from >= close {
                        continue;
                    }
                    let available = close - from;
                    if remaining <= available {
                        return Some(from + remaining);
                    }
                    remaining -= available;
                }
                date = date.succ_opt()?;
            }
            None
        }
    }

    /// The 2026.11.1 `initial_response_due` path: calendar by full tag, then primary
    /// language (both lower-cased copies), the target, the due time, the record's strings.
    pub struct Policy {
        pub version: String,
        pub calendars: std::collections::BTreeMap<String, (String, Calendar)>,
    }

    impl Policy {
        pub fn due(
            &self,
            opened: DateTime<Utc>,
            language: &LanguageTag,
            minutes: u32,
        ) -> Option<(String, String, DateTime<Utc>)> {
            let full = language.as_str().to_ascii_lowercase();
            let primary = language.primary().to_ascii_lowercase();
            let (id, calendar) = self.calendars.get(&full).or_else(|| self.calendars.get(&primary))?;
            let due = calendar.add_business_minutes(opened, minutes)?;
            Some((self.version.clone(), id.clone(), due))
        }
    }
}

/// Opening instants spread over 2026–2027 (the years the baseline knows), fixed seed.
fn openings(n: usize) -> Vec<DateTime<Utc>> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap().timestamp();
    let span = Utc.with_ymd_and_hms(2027, 12, 1, 0, 0, 0).unwrap().timestamp() - start;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            DateTime::from_timestamp(start + (x % span as u64) as i64, 0).unwrap()
        })
        .collect()
}

/// Nanoseconds and allocations per call of `f` over `inputs` (best of five runs).
fn measure(inputs: &[DateTime<Utc>], mut f: impl FnMut(DateTime<Utc>)) -> (f64, f64) {
    let mut best = f64::MAX;
    let mut allocations = 0;
    for _ in 0..5 {
        let region = Region::new(GLOBAL);
        let started = Instant::now();
        for &t in inputs {
            f(black_box(t));
        }
        let elapsed = started.elapsed().as_nanos() as f64 / inputs.len() as f64;
        allocations = region.change().allocations;
        best = best.min(elapsed);
    }
    (best, allocations as f64 / inputs.len() as f64)
}

fn main() {
    let inputs = openings(20_000);
    let started = Instant::now();
    let policy = SupportPolicy::embedded().expect("policy");
    let load = started.elapsed();
    let old = baseline::Calendar::german();
    let minutes = 480; // Severity C: the longest walk through nights, weekends and holidays.

    println!(
        "due-time computation, {} openings in 2026-2027, target {minutes} business minutes",
        inputs.len()
    );
    println!(
        "policy load (parse + every holiday {}-{}): {:.2} ms",
        policy.holiday_years().0,
        policy.holiday_years().1,
        load.as_secs_f64() * 1e3
    );
    let (base_ns, base_alloc) = measure(&inputs, |t| {
        black_box(old.add_business_minutes(t, minutes));
    });
    println!(
        "{:<44} {base_ns:>8.0} ns/call  {base_alloc:>5.2} allocations/call  (baseline)",
        "2026.11.1 de: add_business_minutes"
    );
    let de = policy.calendar("de").unwrap();
    let (ns, alloc) = measure(&inputs, |t| {
        black_box(de.add_business_minutes(t, minutes).unwrap());
    });
    println!(
        "{:<44} {ns:>8.0} ns/call  {alloc:>5.2} allocations/call  ({:.2}x baseline)",
        "2026.12 de: add_business_minutes",
        ns / base_ns
    );
    for id in ["de-AT", "fr-CA", "es-MX", "es-AR", "es-CO", "ja"] {
        let calendar = policy.calendar(id).unwrap();
        let (ns, alloc) = measure(&inputs, |t| {
            black_box(calendar.add_business_minutes(t, minutes).unwrap());
        });
        println!(
            "{:<44} {ns:>8.0} ns/call  {alloc:>5.2} allocations/call  ({:.2}x baseline)",
            format!("2026.12 {id}: add_business_minutes"),
            ns / base_ns
        );
    }
    // The whole call a create makes: calendar lookup from the tag, target, due time.
    let old_policy = baseline::Policy {
        version: "2026.11.1".into(),
        calendars: [("de".to_owned(), ("de".to_owned(), baseline::Calendar::german()))].into(),
    };
    let language = LanguageTag::parse("de-DE").unwrap();
    let (base_ns, base_alloc) = measure(&inputs, |t| {
        black_box(old_policy.due(t, &language, minutes).unwrap());
    });
    println!(
        "{:<44} {base_ns:>8.0} ns/call  {base_alloc:>5.2} allocations/call  (baseline)",
        "2026.11.1 initial_response_due de-DE"
    );
    for tag in ["de-DE", "de-Latn-AT-1996", "fr-CA", "en-GB"] {
        let language = LanguageTag::parse(tag).unwrap();
        let (ns, alloc) = measure(&inputs, |t| {
            black_box(
                policy
                    .initial_response_due(Timestamp::from(t), Category::Technical, Severity::C, &language)
                    .unwrap(),
            );
        });
        println!(
            "{:<44} {ns:>8.0} ns/call  {alloc:>5.2} allocations/call  ({:.2}x baseline)",
            format!("initial_response_due {tag}"),
            ns / base_ns
        );
    }
}
