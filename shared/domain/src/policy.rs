//! The versioned support policy: initial-response targets and support-hours calendars.
//!
//! The data lives in `policy/support-policy.toml` (embedded at build time, see
//! [`SupportPolicy::embedded`]); this module parses it once and answers two questions:
//! which calendar serves a language, and when is a first response due.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::enums::{Category, Severity, SlaState};
use crate::values::{LanguageTag, Timestamp};

/// The policy file shipped with this build.
pub const EMBEDDED_POLICY: &str = include_str!("../policy/support-policy.toml");

/// How far ahead a due time is searched before the calendar is declared unusable.
const MAX_SEARCH_DAYS: u32 = 3_660;
const MINUTES_PER_DAY: u16 = 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy file is not valid TOML for a support policy: {0}")]
    Syntax(String),
    #[error("calendar {calendar}: unknown IANA time zone {zone:?}")]
    UnknownTimeZone { calendar: String, zone: String },
    #[error("calendar {calendar}: {problem}")]
    BadCalendar { calendar: String, problem: String },
    #[error("the initial-response targets are incomplete: {0}")]
    BadTargets(String),
    #[error("the fallback calendar {0:?} is not defined")]
    MissingFallback(String),
    #[error("calendar {0} has no opening hours within ten years of the request")]
    NoOpeningHours(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: String,
    fallback_calendar: String,
    initial_response: TargetsFile,
    calendars: BTreeMap<String, CalendarFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    technical: BTreeMap<String, u32>,
    other_business_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    description: String,
    #[serde(default)]
    always_open: bool,
    time_zone: Option<String>,
    #[serde(default)]
    hours: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    holidays: BTreeMap<String, Vec<String>>,
}

/// A parsed, checked support policy.
#[derive(Debug, Clone)]
pub struct SupportPolicy {
    version: String,
    technical: [u32; 3],
    other_business_days: u32,
    calendars: BTreeMap<String, Calendar>,
    fallback: String,
}

/// When a first response is due, and on what basis it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialResponseDue {
    pub policy_version: String,
    pub target_minutes: u32,
    pub calendar: String,
    pub due_at: Timestamp,
}

impl SupportPolicy {
    /// The policy embedded in this build. Call once at start-up.
    pub fn embedded() -> Result<Self, PolicyError> {
        Self::from_toml(EMBEDDED_POLICY)
    }

    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let target = |s: &str| -> Result<u32, PolicyError> {
            match file.initial_response.technical.get(s) {
                Some(&m) if m > 0 => Ok(m),
                _ => Err(PolicyError::BadTargets(format!(
                    "severity {s} needs a positive number of minutes"
                ))),
            }
        };
        let technical = [target("A")?, target("B")?, target("C")?];
        if file.initial_response.technical.len() != 3 {
            return Err(PolicyError::BadTargets("only severities A, B and C exist".into()));
        }
        if file.initial_response.other_business_days == 0 {
            return Err(PolicyError::BadTargets("other_business_days must be positive".into()));
        }
        let mut calendars = BTreeMap::new();
        for (id, cal) in file.calendars {
            let calendar = Calendar::from_file(&id, cal)?;
            calendars.insert(id, calendar);
        }
        if !calendars.contains_key(&file.fallback_calendar) {
            return Err(PolicyError::MissingFallback(file.fallback_calendar));
        }
        Ok(Self {
            version: file.version,
            technical,
            other_business_days: file.initial_response.other_business_days,
            calendars,
            fallback: file.fallback_calendar,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn calendars(&self) -> impl Iterator<Item = &Calendar> {
        self.calendars.values()
    }

    pub fn calendar(&self, id: &str) -> Option<&Calendar> {
        self.calendars.get(id)
    }

    /// The calendar that serves `language`: its full tag (`de-at`), else its primary language
    /// (`de`), else the fallback (English, 24x7).
    pub fn calendar_for(&self, language: &LanguageTag) -> &Calendar {
        let full = language.as_str().to_ascii_lowercase();
        let primary = language.primary().to_ascii_lowercase();
        self.calendars
            .get(&full)
            .or_else(|| self.calendars.get(&primary))
            .or_else(|| self.calendars.get(&self.fallback))
            .unwrap_or_else(|| self.any_calendar())
    }

    fn any_calendar(&self) -> &Calendar {
        // `from_toml` guarantees the fallback exists, so this is never reached; it keeps
        // `calendar_for` total without a panic path.
        self.calendars.values().next().unwrap_or(&ALWAYS_OPEN)
    }

    /// The target in (calendar) minutes for a case of this category and severity.
    pub fn target_minutes(&self, category: Category, severity: Severity, calendar: &Calendar) -> u32 {
        if category.is_break_fix() {
            match severity {
                Severity::A => self.technical[0],
                Severity::B => self.technical[1],
                Severity::C => self.technical[2],
            }
        } else {
            calendar.business_day_minutes().saturating_mul(self.other_business_days)
        }
    }

    /// When the first response to a request opened at `opened_at` is due.
    pub fn initial_response_due(
        &self,
        opened_at: Timestamp,
        category: Category,
        severity: Severity,
        language: &LanguageTag,
    ) -> Result<InitialResponseDue, PolicyError> {
        let calendar = self.calendar_for(language);
        let target_minutes = self.target_minutes(category, severity, calendar);
        let due = calendar.add_business_minutes(opened_at.datetime(), target_minutes)?;
        Ok(InitialResponseDue {
            policy_version: self.version.clone(),
            target_minutes,
            calendar: calendar.id.clone(),
            due_at: Timestamp::from_datetime(due),
        })
    }
}

static ALWAYS_OPEN: Calendar = Calendar {
    id: String::new(),
    description: String::new(),
    hours: Hours::AlwaysOpen,
};

/// When one language's support team works.
#[derive(Debug, Clone)]
pub struct Calendar {
    id: String,
    description: String,
    hours: Hours,
}

#[derive(Debug, Clone)]
enum Hours {
    AlwaysOpen,
    Business(Box<BusinessHours>),
}

#[derive(Debug, Clone)]
struct BusinessHours {
    zone: Tz,
    /// Opening intervals per weekday (Monday first), in minutes after local midnight.
    week: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<NaiveDate>,
    years: BTreeSet<i32>,
}

impl Calendar {
    fn from_file(id: &str, file: CalendarFile) -> Result<Self, PolicyError> {
        let bad = |problem: String| PolicyError::BadCalendar {
            calendar: id.to_owned(),
            problem,
        };
        if file.always_open {
            if file.time_zone.is_some() || !file.hours.is_empty() || !file.holidays.is_empty() {
                return Err(bad("an always-open calendar has no time zone, hours or holidays".into()));
            }
            return Ok(Self {
                id: id.to_owned(),
                description: file.description,
                hours: Hours::AlwaysOpen,
            });
        }
        let zone_name = file.time_zone.ok_or_else(|| bad("needs a time_zone".into()))?;
        let zone = Tz::from_str(&zone_name).map_err(|_| PolicyError::UnknownTimeZone {
            calendar: id.to_owned(),
            zone: zone_name.clone(),
        })?;
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for (day, intervals) in file.hours {
            let index = weekday_index(&day).ok_or_else(|| bad(format!("unknown weekday {day:?}")))?;
            let mut parsed = intervals
                .iter()
                .map(|i| parse_interval(i).ok_or_else(|| bad(format!("bad interval {i:?}; write HH:MM-HH:MM"))))
                .collect::<Result<Vec<_>, _>>()?;
            parsed.sort_unstable();
            if parsed.windows(2).any(|w| matches!(w, [a, b] if a.1 > b.0)) {
                return Err(bad(format!("overlapping intervals on {day}")));
            }
            if let Some(slot) = week.get_mut(index) {
                *slot = parsed;
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(bad("has no opening hours".into()));
        }
        let mut holidays = BTreeSet::new();
        let mut years = BTreeSet::new();
        for (year, dates) in file.holidays {
            let year: i32 = year.parse().map_err(|_| bad(format!("bad holiday year {year:?}")))?;
            years.insert(year);
            for date in dates {
                let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|_| bad(format!("bad holiday date {date:?}")))?;
                if date.year() != year {
                    return Err(bad(format!("holiday {date} is listed under {year}")));
                }
                holidays.insert(date);
            }
        }
        Ok(Self {
            id: id.to_owned(),
            description: file.description,
            hours: Hours::Business(Box::new(BusinessHours {
                zone,
                week,
                holidays,
                years,
            })),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn is_always_open(&self) -> bool {
        matches!(self.hours, Hours::AlwaysOpen)
    }

    /// The years for which public holidays are listed (empty for an always-open calendar).
    pub fn holiday_years(&self) -> Vec<i32> {
        match &self.hours {
            Hours::AlwaysOpen => Vec::new(),
            Hours::Business(b) => b.years.iter().copied().collect(),
        }
    }

    /// The opening minutes of one full business day: the longest regular day of the week.
    pub fn business_day_minutes(&self) -> u32 {
        match &self.hours {
            Hours::AlwaysOpen => u32::from(MINUTES_PER_DAY),
            Hours::Business(b) => b
                .week
                .iter()
                .map(|day| day.iter().map(|(s, e)| u32::from(e - s)).sum::<u32>())
                .max()
                .unwrap_or(0),
        }
    }

    /// `start` plus `minutes` of this calendar's opening time, exact to the millisecond.
    ///
    /// Time outside opening hours (nights, weekends, holidays) does not count. The result
    /// of a positive addition always lies within an opening interval, its end included.
    pub fn add_business_minutes(&self, start: DateTime<Utc>, minutes: u32) -> Result<DateTime<Utc>, PolicyError> {
        let mut remaining = Duration::minutes(i64::from(minutes));
        let business = match &self.hours {
            Hours::AlwaysOpen => return Ok(start + remaining),
            Hours::Business(b) => b,
        };
        if minutes == 0 {
            return Ok(start);
        }
        let mut date = start.with_timezone(&business.zone).date_naive();
        for _ in 0..MAX_SEARCH_DAYS {
            for (open, close) in business.intervals_on(date) {
                let from = open.max(start);
                if from >= close {
                    continue;
                }
                let available = close - from;
                if remaining <= available {
                    return Ok(from + remaining);
                }
                remaining -= available;
            }
            date = match date.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        Err(PolicyError::NoOpeningHours(self.id.clone()))
    }

    /// Whether `at` lies within an opening interval (its end included).
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        match &self.hours {
            Hours::AlwaysOpen => true,
            Hours::Business(b) => {
                let date = at.with_timezone(&b.zone).date_naive();
                [date.pred_opt(), Some(date)]
                    .into_iter()
                    .flatten()
                    .flat_map(|d| b.intervals_on(d))
                    .any(|(open, close)| open <= at && at <= close)
            }
        }
    }
}

impl BusinessHours {
    /// The opening intervals of a local date, in UTC (none on a holiday).
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

    /// The instant of local wall-clock `minute` on `date`. In a DST gap, the instant the gap
    /// ends; in a DST overlap, the earlier instant.
    fn instant(&self, date: NaiveDate, minute: u16) -> Option<DateTime<Utc>> {
        let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0)?;
        let local = midnight + Duration::minutes(i64::from(minute));
        for shift in 0..=180 {
            match self.zone.from_local_datetime(&(local + Duration::minutes(shift))) {
                LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(earlier, _) => return Some(earlier.with_timezone(&Utc)),
                LocalResult::None => continue,
            }
        }
        None
    }
}

fn weekday_index(day: &str) -> Option<usize> {
    let weekday = match day {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    };
    Some(weekday.num_days_from_monday() as usize)
}

/// `"09:00-17:30"` → minutes after midnight; the end may be `24:00`.
fn parse_interval(text: &str) -> Option<(u16, u16)> {
    let (start, end) = text.split_once('-')?;
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (start, end) = (minute(start)?, minute(end)?);
    (start < end && start < MINUTES_PER_DAY).then_some((start, end))
}

/// The initial-response clock of one request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sla {
    pub policy_version: String,
    pub target_minutes: u32,
    pub calendar: String,
    pub due_at: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub state: SlaState,
    pub breached_at: Option<Timestamp>,
}

impl Sla {
    pub(crate) fn pending(due: InitialResponseDue) -> Self {
        Self {
            policy_version: due.policy_version,
            target_minutes: due.target_minutes,
            calendar: due.calendar,
            due_at: due.due_at,
            first_response_at: None,
            state: SlaState::Pending,
            breached_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> SupportPolicy {
        SupportPolicy::embedded().expect("the shipped policy parses")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn due(category: Category, severity: Severity, lang: &str, opened: &str) -> InitialResponseDue {
        policy()
            .initial_response_due(
                Timestamp::from_datetime(utc(opened)),
                category,
                severity,
                &LanguageTag::parse(lang).unwrap(),
            )
            .unwrap()
    }

    #[test]
    fn the_shipped_policy_has_the_required_calendars() {
        let p = policy();
        for id in ["en", "de", "fr", "es", "ja"] {
            assert!(p.calendar(id).is_some(), "calendar {id}");
        }
        assert!(p.calendar("en").unwrap().is_always_open());
        // Every business-hours calendar lists holidays for the same years.
        let years: BTreeSet<Vec<i32>> = p
            .calendars()
            .filter(|c| !c.is_always_open())
            .map(Calendar::holiday_years)
            .collect();
        assert_eq!(years.len(), 1, "{years:?}");
        assert!(years.iter().next().unwrap().contains(&2026));
    }

    #[test]
    fn technical_targets_by_severity() {
        let cases = [(Severity::A, 120), (Severity::B, 240), (Severity::C, 480)];
        for (severity, minutes) in cases {
            let d = due(Category::Technical, severity, "en", "2026-11-28T03:00:00Z");
            assert_eq!(d.target_minutes, minutes);
            assert_eq!(d.calendar, "en");
            // English runs 24x7: a Saturday night counts.
            assert_eq!(
                d.due_at.datetime(),
                utc("2026-11-28T03:00:00Z") + Duration::minutes(minutes.into())
            );
        }
    }

    #[test]
    fn table_of_due_times() {
        use Category::*;
        use Severity::*;
        let cases: &[(Category, Severity, &str, &str, &str, &str)] = &[
            // The worked example: Friday 16:30 Berlin, A → 30 min Friday + 90 min Monday.
            (
                Technical,
                A,
                "de-DE",
                "2026-11-27T15:30:00Z",
                "2026-11-30T09:30:00Z",
                "de",
            ),
            // Opened at night: the clock starts at 09:00.
            (Technical, A, "de", "2026-11-24T03:00:00Z", "2026-11-24T10:00:00Z", "de"),
            // Exactly at closing: nothing left today.
            (Technical, B, "de", "2026-11-24T16:00:00Z", "2026-11-25T12:00:00Z", "de"),
            // Christmas: Thu 24 Dec 16:00 CET, 60 min then Fri 25 (holiday), weekend, Mon 28.
            (Technical, B, "de", "2026-12-24T15:00:00Z", "2026-12-28T11:00:00Z", "de"),
            // DST ends Sun 25 Oct 2026: Friday 16:00 CEST (14:00Z) + 480 → Monday 16:00 CET (15:00Z).
            (Technical, C, "de", "2026-10-23T14:00:00Z", "2026-10-26T15:00:00Z", "de"),
            // DST starts Sun 29 Mar 2026: Friday 16:00 CET (15:00Z) + 240 → Monday 12:00 CEST (10:00Z).
            (Technical, B, "de", "2026-03-27T15:00:00Z", "2026-03-30T10:00:00Z", "de"),
            // Golden Week: Fri 1 May 16:30 JST, 60 min (to 17:30) + 60 on Thu 7 May.
            (Technical, A, "ja", "2026-05-01T07:30:00Z", "2026-05-07T01:00:00Z", "ja"),
            // France: 14 July is a holiday (Tuesday).
            (
                Technical,
                A,
                "fr-FR",
                "2026-07-13T14:00:00Z",
                "2026-07-15T08:00:00Z",
                "fr",
            ),
            // Spain: 12 October (Monday) is a holiday.
            (Technical, A, "es", "2026-10-09T14:30:00Z", "2026-10-13T08:30:00Z", "es"),
            // Non-break-fix: one business day, i.e. the same time on the next business day.
            (Billing, C, "de", "2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z", "de"),
            (Fraud, A, "de", "2026-11-27T15:30:00Z", "2026-11-30T15:30:00Z", "de"),
            // English non-break-fix: one 24x7 business day.
            (
                BillingDispute,
                A,
                "en-GB",
                "2026-11-28T10:00:00Z",
                "2026-11-29T10:00:00Z",
                "en",
            ),
            // A language without a calendar is served by English support, 24x7.
            (
                Technical,
                A,
                "nl-NL",
                "2026-11-28T10:00:00Z",
                "2026-11-28T12:00:00Z",
                "en",
            ),
        ];
        for (category, severity, lang, opened, expected, calendar) in cases {
            let d = due(*category, *severity, lang, opened);
            assert_eq!(
                d.due_at.datetime(),
                utc(expected),
                "{category} {severity} {lang} opened {opened}"
            );
            assert_eq!(d.calendar, *calendar);
            assert_eq!(d.policy_version, policy().version());
        }
    }

    #[test]
    fn seconds_are_kept_exactly() {
        let d = due(Category::Technical, Severity::A, "de", "2026-11-27T15:59:30.250Z");
        // 29.75 s left on Friday, the rest from Monday 09:00 CET.
        assert_eq!(d.due_at.datetime(), utc("2026-11-30T09:59:30.250Z"));
    }

    #[test]
    fn non_break_fix_targets_are_one_business_day_of_the_calendar() {
        let p = policy();
        assert_eq!(
            p.target_minutes(Category::Billing, Severity::A, p.calendar("de").unwrap()),
            480
        );
        assert_eq!(
            p.target_minutes(Category::SubscriptionManagement, Severity::C, p.calendar("ja").unwrap()),
            510
        );
        assert_eq!(
            p.target_minutes(Category::Fraud, Severity::B, p.calendar("en").unwrap()),
            1440
        );
    }

    #[test]
    fn calendar_lookup_prefers_the_full_tag_then_the_primary_language() {
        let p = policy();
        let lookup = |tag: &str| p.calendar_for(&LanguageTag::parse(tag).unwrap()).id().to_owned();
        assert_eq!(lookup("de-AT"), "de");
        assert_eq!(lookup("fr-CA"), "fr");
        assert_eq!(lookup("en-US"), "en");
        assert_eq!(lookup("pt-BR"), "en");
    }

    #[test]
    fn bad_policy_files_are_refused() {
        let base = EMBEDDED_POLICY;
        type Expect = fn(&PolicyError) -> bool;
        let cases: Vec<(String, Expect)> = vec![
            (base.replace("Europe/Berlin", "Europe/Atlantis"), |e| {
                matches!(e, PolicyError::UnknownTimeZone { .. })
            }),
            (base.replace("A = 120, ", ""), |e| {
                matches!(e, PolicyError::BadTargets(_))
            }),
            (
                base.replace("fallback_calendar = \"en\"", "fallback_calendar = \"xx\""),
                |e| matches!(e, PolicyError::MissingFallback(_)),
            ),
            (
                base.replace("\"2026-01-01\", \"2026-04-03\"", "\"2027-01-01\", \"2026-04-03\""),
                |e| matches!(e, PolicyError::BadCalendar { .. }),
            ),
            (
                base.replacen("mon = [\"09:00-17:00\"]", "mon = [\"17:00-09:00\"]", 1),
                |e| matches!(e, PolicyError::BadCalendar { .. }),
            ),
            (
                base.replacen("mon = [\"09:00-17:00\"]", "mon = [\"09:00-12:00\", \"11:00-17:00\"]", 1),
                |e| matches!(e, PolicyError::BadCalendar { .. }),
            ),
            (base.replace("version = ", "versoin = "), |e| {
                matches!(e, PolicyError::Syntax(_))
            }),
        ];
        for (text, expected) in cases {
            let err = SupportPolicy::from_toml(&text).unwrap_err();
            assert!(expected(&err), "unexpected error {err}");
        }
    }

    #[test]
    fn intervals_parse_strictly() {
        assert_eq!(parse_interval("09:00-17:30"), Some((540, 1050)));
        assert_eq!(parse_interval("00:00-24:00"), Some((0, 1440)));
        for bad in ["9:00-17:00", "09:00-09:00", "24:00-24:00", "09:60-10:00", "09:00", "x"] {
            assert_eq!(parse_interval(bad), None, "{bad}");
        }
    }

    #[test]
    fn opening_hours_include_the_closing_instant_only() {
        let de = policy().calendar("de").unwrap().clone();
        let tz = chrono_tz::Europe::Berlin;
        let at = |h, m| tz.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap().with_timezone(&Utc);
        assert!(!de.is_open_at(at(8, 59)));
        assert!(de.is_open_at(at(9, 0)));
        assert!(de.is_open_at(at(17, 0)));
        assert!(!de.is_open_at(at(17, 1)));
    }
}
