//! Support-hours calendars: when one language's (or one region's) support team works, and
//! how many of its opening minutes lie between two instants.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::PolicyError;
use super::holidays::{HolidayDays, HolidaySet, weekday};
use crate::values::LanguageTag;

/// How far ahead a due time is searched before the calendar is declared unusable.
const MAX_SEARCH_DAYS: u32 = 3_660;
pub(super) const MINUTES_PER_DAY: u16 = 24 * 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CalendarFile {
    description: String,
    #[serde(default)]
    always_open: bool,
    time_zone: Option<String>,
    #[serde(default)]
    hours: BTreeMap<String, Vec<String>>,
    /// The holiday set (`[holidays.<ID>]`) of the calendar's region.
    holidays: Option<String>,
}

/// One step of counting opening time ([`Calendar::walk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkStep {
    /// Opening time counted on local date `date`, from `from` to `to`.
    Counted {
        date: NaiveDate,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// A local date without opening time: a public holiday, or a day the calendar's week
    /// has no hours (a weekend).
    Skipped { date: NaiveDate, holiday: bool },
}

/// When one language's support team works, in one region.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The key as written (`de`, `fr-CA`): also what a request records.
    id: String,
    /// The language it serves (lower case) and, for a regional calendar, the region
    /// (upper case or digits).
    language: String,
    region: Option<String>,
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
    holiday_set: String,
    /// Shared by the calendars of one region (computed once per holiday set).
    holidays: Arc<HolidayDays>,
}

impl Calendar {
    pub(super) fn from_file(
        id: &str,
        file: CalendarFile,
        holiday_sets: &BTreeMap<String, HolidaySet>,
        computed: &mut BTreeMap<String, Arc<HolidayDays>>,
        years: (i32, i32),
    ) -> Result<Self, PolicyError> {
        let bad = |problem: String| PolicyError::BadCalendar {
            calendar: id.to_owned(),
            problem,
        };
        let (language, region) = calendar_key(id).ok_or_else(|| {
            bad("a calendar key is a language (de) or a language and a region (fr-CA), as in a language tag".into())
        })?;
        if file.always_open {
            if file.time_zone.is_some() || !file.hours.is_empty() || file.holidays.is_some() {
                return Err(bad("an always-open calendar has no time zone, hours or holidays".into()));
            }
            return Ok(Self {
                id: id.to_owned(),
                language,
                region,
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
            let index = weekday(&day)
                .ok_or_else(|| bad(format!("unknown weekday {day:?}")))?
                .num_days_from_monday() as usize;
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
        let holiday_set = file
            .holidays
            .ok_or_else(|| bad("needs holidays: the id of its region's holiday set".into()))?;
        let set = holiday_sets
            .get(&holiday_set)
            .ok_or_else(|| bad(format!("no holiday set {holiday_set:?}")))?;
        let holidays = match computed.get(&holiday_set) {
            Some(days) => Arc::clone(days),
            None => {
                let days = Arc::new(HolidayDays::compute(set, years.0, years.1)?);
                computed.insert(holiday_set.clone(), Arc::clone(&days));
                days
            }
        };
        Ok(Self {
            id: id.to_owned(),
            language,
            region,
            description: file.description,
            hours: Hours::Business(Box::new(BusinessHours {
                zone,
                week,
                holiday_set,
                holidays,
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

    /// The IANA time zone of a business-hours calendar.
    pub fn time_zone(&self) -> Option<&str> {
        match &self.hours {
            Hours::AlwaysOpen => None,
            Hours::Business(b) => Some(b.zone.name()),
        }
    }

    /// The holiday set of a business-hours calendar.
    pub fn holiday_set(&self) -> Option<&str> {
        match &self.hours {
            Hours::AlwaysOpen => None,
            Hours::Business(b) => Some(&b.holiday_set),
        }
    }

    /// Whether `date` is a public holiday of this calendar (`None`: outside the years the
    /// policy covers; `Some(false)` always for a 24x7 calendar).
    pub fn is_holiday(&self, date: NaiveDate) -> Option<bool> {
        match &self.hours {
            Hours::AlwaysOpen => Some(false),
            Hours::Business(b) => b.holidays.contains(date),
        }
    }

    /// Whether this calendar serves `tag` exactly: its language, and its region if it has one.
    pub(super) fn matches(&self, tag: &LanguageTag, with_region: bool) -> bool {
        if !self.language.eq_ignore_ascii_case(tag.primary()) {
            return false;
        }
        match (&self.region, with_region) {
            (Some(region), true) => tag.region().is_some_and(|r| region.eq_ignore_ascii_case(r)),
            (None, false) => true,
            _ => false,
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
    /// of a positive addition always lies within an opening interval, its end included. A
    /// day outside the years the policy's holidays cover is an error, never a guess.
    pub fn add_business_minutes(&self, start: DateTime<Utc>, minutes: u32) -> Result<DateTime<Utc>, PolicyError> {
        self.walk(start, minutes, |_| {})
    }

    /// [`Self::add_business_minutes`], telling `visit` each step of the count: every stretch
    /// of opening time counted, and every local date skipped whole (a holiday, or a day without
    /// opening hours), in order. The same walk computes the service's due times and the
    /// auditor's explanation of them (`domain::explain`).
    pub fn walk(
        &self,
        start: DateTime<Utc>,
        minutes: u32,
        mut visit: impl FnMut(WalkStep),
    ) -> Result<DateTime<Utc>, PolicyError> {
        let mut remaining = Duration::minutes(i64::from(minutes));
        let business = match &self.hours {
            Hours::AlwaysOpen => {
                let due = start + remaining;
                if minutes > 0 {
                    visit(WalkStep::Counted {
                        date: start.date_naive(),
                        from: start,
                        to: due,
                    });
                }
                return Ok(due);
            }
            Hours::Business(b) => b,
        };
        if minutes == 0 {
            return Ok(start);
        }
        let mut date = start.with_timezone(&business.zone).date_naive();
        for _ in 0..MAX_SEARCH_DAYS {
            let mut intervals = business.intervals_on(date, &self.id)?.peekable();
            if intervals.peek().is_none() {
                let holiday = business.holidays.contains(date) == Some(true);
                visit(WalkStep::Skipped { date, holiday });
            }
            for (open, close) in intervals {
                let from = open.max(start);
                if from >= close {
                    continue;
                }
                let available = close - from;
                if remaining <= available {
                    visit(WalkStep::Counted {
                        date,
                        from,
                        to: from + remaining,
                    });
                    return Ok(from + remaining);
                }
                visit(WalkStep::Counted { date, from, to: close });
                remaining -= available;
            }
            date = match date.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        Err(PolicyError::NoOpeningHours(self.id.clone()))
    }

    /// The opening intervals between `from` and `to` (clipped to them), and the local dates
    /// in between that are public holidays, each with the instants its local day begins and
    /// ends: what a timeline shades. A 24x7 calendar is open throughout and has no holidays.
    #[allow(clippy::type_complexity)]
    pub fn opening_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<
        (
            Vec<(DateTime<Utc>, DateTime<Utc>)>,
            Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)>,
        ),
        PolicyError,
    > {
        let business = match &self.hours {
            Hours::AlwaysOpen => return Ok((vec![(from, to)], Vec::new())),
            Hours::Business(b) => b,
        };
        let mut open = Vec::new();
        let mut holidays = Vec::new();
        let mut date = from.with_timezone(&business.zone).date_naive();
        let last = to.with_timezone(&business.zone).date_naive();
        while date <= last {
            for (a, b) in business.intervals_on(date, &self.id)? {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    open.push((a, b));
                }
            }
            let next = date
                .succ_opt()
                .ok_or_else(|| PolicyError::NoOpeningHours(self.id.clone()))?;
            if business.holidays.contains(date) == Some(true)
                && let (Some(start), Some(end)) = (business.instant(date, 0), business.instant(next, 0))
            {
                holidays.push((date, start.max(from), end.min(to)));
            }
            date = next;
        }
        Ok((open, holidays))
    }

    /// The instants local days begin between `from` and `to` (UTC midnights for a 24x7
    /// calendar), with their dates: a timeline's day ticks.
    pub fn local_midnights(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(NaiveDate, DateTime<Utc>)> {
        let mut out = Vec::new();
        let (mut date, last) = match &self.hours {
            Hours::AlwaysOpen => (from.date_naive(), to.date_naive()),
            Hours::Business(b) => (
                from.with_timezone(&b.zone).date_naive(),
                to.with_timezone(&b.zone).date_naive(),
            ),
        };
        while date <= last {
            let midnight = match &self.hours {
                Hours::AlwaysOpen => date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
                Hours::Business(b) => b.instant(date, 0),
            };
            if let Some(m) = midnight.filter(|m| *m >= from && *m <= to) {
                out.push((date, m));
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        out
    }

    /// The offset from UTC of the calendar's local time at `at` (zero for a 24x7 calendar),
    /// in seconds.
    pub fn utc_offset_seconds(&self, at: DateTime<Utc>) -> i32 {
        use chrono::Offset;
        match &self.hours {
            Hours::AlwaysOpen => 0,
            Hours::Business(b) => at.with_timezone(&b.zone).offset().fix().local_minus_utc(),
        }
    }

    /// Whether `at` lies within an opening interval (its end included).
    pub fn is_open_at(&self, at: DateTime<Utc>) -> Result<bool, PolicyError> {
        match &self.hours {
            Hours::AlwaysOpen => Ok(true),
            Hours::Business(b) => {
                let date = at.with_timezone(&b.zone).date_naive();
                for day in [date.pred_opt(), Some(date)].into_iter().flatten() {
                    for (open, close) in b.intervals_on(day, &self.id)? {
                        if open <= at && at <= close {
                            return Ok(true);
                        }
                    }
                }
                Ok(false)
            }
        }
    }
}

impl BusinessHours {
    /// The opening intervals of a local date, in UTC (none on a holiday). Allocates nothing.
    fn intervals_on<'a>(
        &'a self,
        date: NaiveDate,
        calendar: &str,
    ) -> Result<impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + 'a, PolicyError> {
        let holiday = self.holidays.contains(date).ok_or_else(|| PolicyError::BeyondHorizon {
            calendar: calendar.to_owned(),
            date,
            first: *self.holidays.years().start(),
            last: *self.holidays.years().end(),
        })?;
        let day: &[(u16, u16)] = if holiday {
            &[]
        } else {
            self.week
                .get(date.weekday().num_days_from_monday() as usize)
                .map_or(&[], Vec::as_slice)
        };
        Ok(day
            .iter()
            .filter_map(move |&(s, e)| Some((self.instant(date, s)?, self.instant(date, e)?))))
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

/// A calendar key: a language subtag, optionally with a region subtag, and nothing else
/// (`de`, `fr-CA`, `es-419`), any case, both in the IANA subtag registry. `None` for a key
/// no language tag could match.
fn calendar_key(key: &str) -> Option<(String, Option<String>)> {
    language_tags::LanguageTag::parse(key).ok()?.validate().ok()?;
    let tag = LanguageTag::parse(key).ok()?;
    let expected = match tag.region() {
        Some(region) => format!("{}-{region}", tag.primary()),
        None => tag.primary().to_owned(),
    };
    if !expected.eq_ignore_ascii_case(key) {
        return None;
    }
    Some((
        tag.primary().to_ascii_lowercase(),
        tag.region().map(str::to_ascii_uppercase),
    ))
}

/// `"09:00-17:30"` → minutes after midnight; the end may be `24:00`.
pub(super) fn parse_interval(text: &str) -> Option<(u16, u16)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_keys_are_a_language_and_at_most_a_region() {
        assert_eq!(calendar_key("de"), Some(("de".into(), None)));
        assert_eq!(calendar_key("fr-CA"), Some(("fr".into(), Some("CA".into()))));
        assert_eq!(calendar_key("FR-ca"), Some(("fr".into(), Some("CA".into()))));
        assert_eq!(calendar_key("es-419"), Some(("es".into(), Some("419".into()))));
        for unmatchable in [
            "de-Latn",
            "de-AT-1996",
            "x-private",
            "i-klingon",
            "de_AT",
            "",
            "german",
            "de-UK",
        ] {
            assert_eq!(calendar_key(unmatchable), None, "{unmatchable}");
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
}
