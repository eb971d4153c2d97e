//! Public holidays computed from rules in the policy data, for every year of the policy's
//! horizon, with no yearly edit: fixed dates, dates relative to (Western) Easter, the n-th
//! weekday of a month, the last weekday before a date, Japan's equinox days; rules that
//! move a holiday to a weekday (Colombia's Ley Emiliani, Argentina's movable holidays) or add
//! an observed day (Canada); Japan's substitute and citizens' holidays; and dated one-off
//! days (decrees) where no rule exists.
//!
//! Each holiday set is computed once, at load, into a bitset per year; a lookup is O(1)
//! and allocates nothing. A date outside the horizon is not "no holiday": it is unknown, and
//! the caller gets an error (see [`HolidayDays::contains`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Deserialize;

use super::PolicyError;

/// One holiday set as written in the policy file (`[holidays.<ID>]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HolidaySetFile {
    description: String,
    /// Where the rules come from (laws, and the reference they were checked against).
    source: String,
    rules: Vec<RuleFile>,
    /// Japan: a holiday on a Sunday gives the next day that is not a holiday off.
    #[serde(default)]
    sunday_substitute: bool,
    /// Japan: a day between two holidays is a holiday too.
    #[serde(default)]
    citizens_holiday: bool,
    /// One-off days (decrees) that no rule describes.
    #[serde(default)]
    dated: Vec<DatedFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: String,
    /// `MM-DD`.
    date: Option<String>,
    /// Days after Easter Sunday (negative: before).
    easter: Option<i32>,
    /// `march` or `september`: Japan's vernal and autumnal equinox days.
    equinox: Option<String>,
    /// With `nth` and `month`: the n-th (1–5, or -1 for the last) such weekday of the month.
    /// With `before`: the last such weekday strictly before that date.
    weekday: Option<String>,
    nth: Option<i8>,
    month: Option<u32>,
    before: Option<String>,
    /// Only in the years `from`, `from + every`, … (e.g. Mexico's change of government).
    every: Option<u32>,
    from: Option<i32>,
    since: Option<i32>,
    until: Option<i32>,
    /// Weekdays on which the day is not a holiday at all.
    #[serde(default)]
    except_on: Vec<String>,
    /// Weekday → days to move the holiday by (it is then only on the new day).
    #[serde(default, rename = "move")]
    shift: BTreeMap<String, i32>,
    /// Weekday → days to an observed day off, in addition to the day itself.
    #[serde(default)]
    observed: BTreeMap<String, i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatedFile {
    name: String,
    dates: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Fixed { month: u32, day: u32 },
    Easter(i32),
    Equinox { march: bool },
    Nth { weekday: Weekday, n: i8, month: u32 },
    Before { weekday: Weekday, month: u32, day: u32 },
}

/// One value per weekday.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PerWeekday<T>([T; 7]);

impl<T: Copy + Default> PerWeekday<T> {
    fn at(&self, day: Weekday) -> T {
        self.0
            .get(day.num_days_from_monday() as usize)
            .copied()
            .unwrap_or_default()
    }

    fn set(&mut self, day: Weekday, value: T) {
        if let Some(slot) = self.0.get_mut(day.num_days_from_monday() as usize) {
            *slot = value;
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    when: When,
    every: Option<(u32, i32)>,
    since: Option<i32>,
    until: Option<i32>,
    except_on: PerWeekday<bool>,
    shift: PerWeekday<i32>,
    observed: PerWeekday<i32>,
}

/// A checked holiday set.
#[derive(Debug, Clone)]
pub struct HolidaySet {
    id: String,
    description: String,
    source: String,
    rules: Vec<Rule>,
    sunday_substitute: bool,
    citizens_holiday: bool,
    dated: Vec<(NaiveDate, String)>,
}

/// Japan's equinox days by the formula of the National Astronomical Observatory's
/// almanac, valid for 1980–2099.
const EQUINOX_YEARS: std::ops::RangeInclusive<i32> = 1980..=2099;

pub(super) fn weekday(text: &str) -> Option<Weekday> {
    Some(match text {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

fn month_day(text: &str) -> Option<(u32, u32)> {
    let (m, d) = text.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (month, day) = (m.parse().ok()?, d.parse().ok()?);
    // 2024 is a leap year: 02-29 is a valid rule (a year without it has no such holiday).
    NaiveDate::from_ymd_opt(2024, month, day).map(|_| (month, day))
}

impl HolidaySet {
    pub(super) fn from_file(id: &str, file: HolidaySetFile) -> Result<Self, PolicyError> {
        let bad = |rule: &str, problem: String| PolicyError::BadHolidays {
            set: id.to_owned(),
            problem: if rule.is_empty() {
                problem
            } else {
                format!("rule {rule:?}: {problem}")
            },
        };
        let mut rules = Vec::with_capacity(file.rules.len());
        for r in file.rules {
            let name = r.name.clone();
            let when = match (r.date, r.easter, r.equinox, r.weekday) {
                (Some(date), None, None, None) => {
                    let (month, day) =
                        month_day(&date).ok_or_else(|| bad(&name, format!("bad date {date:?}; write MM-DD")))?;
                    When::Fixed { month, day }
                }
                (None, Some(offset), None, None) => When::Easter(offset),
                (None, None, Some(season), None) => match season.as_str() {
                    "march" => When::Equinox { march: true },
                    "september" => When::Equinox { march: false },
                    _ => return Err(bad(&name, "equinox is march or september".into())),
                },
                (None, None, None, Some(day)) => {
                    let weekday = weekday(&day).ok_or_else(|| bad(&name, format!("unknown weekday {day:?}")))?;
                    match (r.nth, r.month, r.before.clone()) {
                        (Some(n), Some(month), None) if (1..=5).contains(&n) || n == -1 => {
                            if !(1..=12).contains(&month) {
                                return Err(bad(&name, format!("no month {month}")));
                            }
                            When::Nth { weekday, n, month }
                        }
                        (None, None, Some(before)) => {
                            let (month, day) = month_day(&before)
                                .ok_or_else(|| bad(&name, format!("bad date {before:?}; write MM-DD")))?;
                            When::Before { weekday, month, day }
                        }
                        _ => {
                            return Err(bad(
                                &name,
                                "a weekday rule needs nth (1-5 or -1) and month, or before".into(),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(bad(
                        &name,
                        "give exactly one of date, easter, equinox and weekday".into(),
                    ));
                }
            };
            if !matches!(when, When::Nth { .. } | When::Before { .. })
                && (r.nth.is_some() || r.month.is_some() || r.before.is_some())
            {
                return Err(bad(&name, "nth, month and before go with weekday".into()));
            }
            let every = match (r.every, r.from) {
                (Some(every), Some(from)) if every > 0 => Some((every, from)),
                (None, None) => None,
                _ => {
                    return Err(bad(
                        &name,
                        "every (years, positive) and from (a year) go together".into(),
                    ));
                }
            };
            let mut except_on = PerWeekday::default();
            for day in &r.except_on {
                let w = weekday(day).ok_or_else(|| bad(&name, format!("unknown weekday {day:?}")))?;
                except_on.set(w, true);
            }
            let offsets = |map: &BTreeMap<String, i32>, what: &str| -> Result<PerWeekday<i32>, PolicyError> {
                let mut out = PerWeekday::default();
                for (day, days) in map {
                    let w = weekday(day).ok_or_else(|| bad(&name, format!("{what}: unknown weekday {day:?}")))?;
                    if !(-6..=6).contains(days) || *days == 0 {
                        return Err(bad(&name, format!("{what}: move by -6 to 6 days, not {days}")));
                    }
                    out.set(w, *days);
                }
                Ok(out)
            };
            let shift = offsets(&r.shift, "move")?;
            let observed = offsets(&r.observed, "observed")?;
            if shift != PerWeekday::default() && observed != PerWeekday::default() {
                return Err(bad(
                    &name,
                    "a holiday either moves or has an observed day, not both".into(),
                ));
            }
            rules.push(Rule {
                name: r.name,
                when,
                every,
                since: r.since,
                until: r.until,
                except_on,
                shift,
                observed,
            });
        }
        if rules.is_empty() {
            return Err(bad("", "has no rules".into()));
        }
        let mut dated = Vec::new();
        for d in file.dated {
            for date in d.dates {
                let day = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|_| bad(&d.name, format!("bad date {date:?}; write YYYY-MM-DD")))?;
                dated.push((day, d.name.clone()));
            }
        }
        Ok(Self {
            id: id.to_owned(),
            description: file.description,
            source: file.source,
            rules,
            sunday_substitute: file.sunday_substitute,
            citizens_holiday: file.citizens_holiday,
            dated,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the rules can be computed for `year` (the equinox formula has a range).
    pub(super) fn check_year(&self, year: i32) -> Result<(), PolicyError> {
        let uses_equinox = self.rules.iter().any(|r| matches!(r.when, When::Equinox { .. }));
        if uses_equinox && !EQUINOX_YEARS.contains(&year) {
            return Err(PolicyError::BadHolidays {
                set: self.id.clone(),
                problem: format!("the equinox formula covers 1980-2099, not {year}"),
            });
        }
        if computus::gregorian(year).is_err() {
            return Err(PolicyError::BadHolidays {
                set: self.id.clone(),
                problem: format!("no Easter date for {year}"),
            });
        }
        Ok(())
    }

    /// Every holiday of `year`, with its name, in date order (a day named twice once, its
    /// names joined with "; ").
    pub fn holidays_in(&self, year: i32) -> Vec<(NaiveDate, String)> {
        self.days_in(year, true)
            .into_iter()
            .map(|(d, names)| (d, names.join("; ")))
            .collect()
    }

    /// The days of `year` that are holidays, and with `named` their names (without, no name
    /// is made: computing a set's bitsets at load allocates only the map).
    fn days_in(&self, year: i32, named: bool) -> BTreeMap<NaiveDate, Vec<Cow<'_, str>>> {
        let mut days: BTreeMap<NaiveDate, Vec<Cow<'_, str>>> = BTreeMap::new();
        fn add<'a>(
            days: &mut BTreeMap<NaiveDate, Vec<Cow<'a, str>>>,
            named: bool,
            date: NaiveDate,
            name: impl FnOnce() -> Cow<'a, str>,
        ) {
            let names = days.entry(date).or_default();
            if named {
                let name = name();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let easter = computus::gregorian(year)
            .ok()
            .and_then(|e| NaiveDate::from_ymd_opt(e.year, e.month, e.day));
        for rule in &self.rules {
            if rule.since.is_some_and(|s| year < s)
                || rule.until.is_some_and(|u| year > u)
                || rule
                    .every
                    .is_some_and(|(every, from)| (year - from).rem_euclid(every as i32) != 0)
            {
                continue;
            }
            let Some(date) = rule.when.date(year, easter) else {
                continue;
            };
            let w = date.weekday();
            if rule.except_on.at(w) {
                continue;
            }
            let moved = date + Duration::days(i64::from(rule.shift.at(w)));
            add(&mut days, named, moved, || Cow::Borrowed(rule.name.as_str()));
            if rule.observed.at(w) != 0 {
                add(
                    &mut days,
                    named,
                    date + Duration::days(i64::from(rule.observed.at(w))),
                    || Cow::Owned(format!("{} (observed)", rule.name)),
                );
            }
        }
        for (date, name) in &self.dated {
            if date.year() == year {
                add(&mut days, named, *date, || Cow::Borrowed(name.as_str()));
            }
        }
        if self.citizens_holiday || self.sunday_substitute {
            let national: BTreeSet<NaiveDate> = days.keys().copied().collect();
            if self.citizens_holiday {
                for date in &national {
                    let (Some(next), Some(after)) = (date.succ_opt(), date.succ_opt().and_then(|d| d.succ_opt()))
                    else {
                        continue;
                    };
                    if !national.contains(&next) && national.contains(&after) && next.weekday() != Weekday::Sun {
                        add(&mut days, named, next, || Cow::Borrowed("Citizens' Holiday"));
                    }
                }
            }
            if self.sunday_substitute {
                for date in national.iter().filter(|d| d.weekday() == Weekday::Sun) {
                    let mut day = *date;
                    while let Some(next) = day.succ_opt() {
                        day = next;
                        if !days.contains_key(&day) {
                            add(&mut days, named, day, || Cow::Borrowed("Substitute Holiday"));
                            break;
                        }
                    }
                }
            }
        }
        days.retain(|d, _| d.year() == year);
        days
    }
}

impl When {
    fn date(self, year: i32, easter: Option<NaiveDate>) -> Option<NaiveDate> {
        match self {
            When::Fixed { month, day } => NaiveDate::from_ymd_opt(year, month, day),
            When::Easter(offset) => easter.map(|e| e + Duration::days(i64::from(offset))),
            When::Equinox { march } => {
                // day = floor(c + 0.242194 (y − 1980) − floor((y − 1980) / 4))
                let y = f64::from(year - 1980);
                let c = if march { 20.8431 } else { 23.2488 };
                let day = (c + 0.242194 * y - (y / 4.0).floor()).floor();
                NaiveDate::from_ymd_opt(year, if march { 3 } else { 9 }, day as u32)
            }
            When::Nth { weekday, n, month } => {
                if n > 0 {
                    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
                } else {
                    let first_of_next = if month == 12 {
                        NaiveDate::from_ymd_opt(year + 1, 1, 1)
                    } else {
                        NaiveDate::from_ymd_opt(year, month + 1, 1)
                    }?;
                    let mut day = first_of_next.pred_opt()?;
                    while day.weekday() != weekday {
                        day = day.pred_opt()?;
                    }
                    Some(day)
                }
            }
            When::Before { weekday, month, day } => {
                let mut date = NaiveDate::from_ymd_opt(year, month, day)?.pred_opt()?;
                while date.weekday() != weekday {
                    date = date.pred_opt()?;
                }
                Some(date)
            }
        }
    }
}

/// The holidays of one set for the years `first..=last`: one bit per day of each year.
#[derive(Debug, Clone)]
pub struct HolidayDays {
    first: i32,
    last: i32,
    years: Vec<[u64; 6]>,
}

impl HolidayDays {
    pub(super) fn compute(set: &HolidaySet, first: i32, last: i32) -> Result<Self, PolicyError> {
        let mut years = Vec::with_capacity(usize::try_from(last - first + 1).unwrap_or(0));
        for year in first..=last {
            set.check_year(year)?;
            let mut bits = [0u64; 6];
            for date in set.days_in(year, false).into_keys() {
                let ordinal = date.ordinal0() as usize;
                if let Some(word) = bits.get_mut(ordinal / 64) {
                    *word |= 1 << (ordinal % 64);
                }
            }
            years.push(bits);
        }
        Ok(Self { first, last, years })
    }

    /// Whether `date` is a holiday; `None` outside the years computed (unknown, never "no").
    pub fn contains(&self, date: NaiveDate) -> Option<bool> {
        let year = date.year();
        if year < self.first || year > self.last {
            return None;
        }
        let bits = self.years.get(usize::try_from(year - self.first).ok()?)?;
        let ordinal = date.ordinal0() as usize;
        Some(bits.get(ordinal / 64)? & (1 << (ordinal % 64)) != 0)
    }

    pub fn years(&self) -> std::ops::RangeInclusive<i32> {
        self.first..=self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(toml_text: &str) -> Result<HolidaySet, PolicyError> {
        let file: HolidaySetFile = toml::from_str(toml_text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        HolidaySet::from_file("T", file)
    }

    fn dates(set: &HolidaySet, year: i32) -> Vec<String> {
        set.holidays_in(year).into_iter().map(|(d, _)| d.to_string()).collect()
    }

    #[test]
    fn each_kind_of_rule() {
        let s = set(r#"
            description = "test"
            source = "test"
            rules = [
              { name = "fixed", date = "01-06" },
              { name = "good friday", easter = -2 },
              { name = "3rd monday of march", weekday = "mon", nth = 3, month = 3 },
              { name = "last monday of may", weekday = "mon", nth = -1, month = 5 },
              { name = "monday before 25 may", weekday = "mon", before = "05-25" },
              { name = "emiliani", date = "08-15", move = { tue = 6, wed = 5, thu = 4, fri = 3, sat = 2, sun = 1 } },
              { name = "canada", date = "07-01", observed = { sun = 1 } },
              { name = "not on sunday", date = "11-01", except_on = ["sun"] },
              { name = "sexennial", date = "10-01", every = 6, from = 2024 },
              { name = "late", date = "12-31", since = 2030 },
            ]
            dated = [{ name = "decree", dates = ["2026-03-23"] }]
        "#)
        .unwrap();
        // 1 November 2026 is a Sunday: `except_on` leaves it out.
        assert_eq!(
            dates(&s, 2026),
            [
                "2026-01-06",
                "2026-03-16",
                "2026-03-23",
                "2026-04-03",
                "2026-05-18",
                "2026-05-25",
                "2026-07-01",
                "2026-08-17"
            ]
        );
        // 2027: 1 November is a Monday; the dated day was only in 2026.
        let d2027 = dates(&s, 2027);
        assert!(d2027.contains(&"2027-11-01".to_owned()) && !d2027.contains(&"2027-03-23".to_owned()));
        // 2028: 1 July is a Saturday (observed only for Sundays), 15 August a Tuesday (→ 21).
        let d2028 = dates(&s, 2028);
        assert!(d2028.contains(&"2028-07-01".to_owned()) && !d2028.contains(&"2028-07-03".to_owned()));
        assert!(d2028.contains(&"2028-08-21".to_owned()) && !d2028.contains(&"2028-08-15".to_owned()));
        // 2029: 1 July is a Sunday: the day and its observed Monday.
        let d2029 = dates(&s, 2029);
        assert!(d2029.contains(&"2029-07-01".to_owned()) && d2029.contains(&"2029-07-02".to_owned()));
        // The sexennial day in 2030 and not 2031; the late rule from 2030.
        let d2030 = dates(&s, 2030);
        assert!(d2030.contains(&"2030-10-01".to_owned()) && d2030.contains(&"2030-12-31".to_owned()));
        assert!(!dates(&s, 2031).contains(&"2031-10-01".to_owned()));
        assert!(!dates(&s, 2029).contains(&"2029-12-31".to_owned()));
    }

    #[test]
    fn japanese_substitute_and_citizens_holidays() {
        let s = set(r#"
            description = "test"
            source = "test"
            sunday_substitute = true
            citizens_holiday = true
            rules = [
              { name = "Constitution Day", date = "05-03" },
              { name = "Greenery Day", date = "05-04" },
              { name = "Children's Day", date = "05-05" },
              { name = "Respect for the Aged Day", weekday = "mon", nth = 3, month = 9 },
              { name = "Autumnal Equinox Day", equinox = "september" },
            ]
        "#)
        .unwrap();
        let d = dates(&s, 2026);
        // 3 May 2026 is a Sunday: the substitute is the first day after it that is not a
        // holiday, Wednesday 6 May; 22 September lies between two holidays.
        assert_eq!(
            d,
            [
                "2026-05-03",
                "2026-05-04",
                "2026-05-05",
                "2026-05-06",
                "2026-09-21",
                "2026-09-22",
                "2026-09-23"
            ]
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            r#"rules = [{ name = "x", date = "13-01" }]"#,
            r#"rules = [{ name = "x", date = "1-1" }]"#,
            r#"rules = [{ name = "x", date = "01-01", easter = 1 }]"#,
            r#"rules = [{ name = "x" }]"#,
            r#"rules = [{ name = "x", weekday = "mon", nth = 6, month = 1 }]"#,
            r#"rules = [{ name = "x", weekday = "monday", nth = 1, month = 1 }]"#,
            r#"rules = [{ name = "x", date = "01-01", nth = 1 }]"#,
            r#"rules = [{ name = "x", date = "01-01", every = 6 }]"#,
            r#"rules = [{ name = "x", date = "01-01", move = { sat = 9 } }]"#,
            r#"rules = [{ name = "x", date = "01-01", move = { sat = 2 }, observed = { sun = 1 } }]"#,
            r#"rules = [{ name = "x", equinox = "june" }]"#,
            r#"rules = []"#,
        ] {
            let text = format!("description = \"t\"\nsource = \"t\"\n{bad}");
            assert!(matches!(set(&text), Err(PolicyError::BadHolidays { .. })), "{bad}");
        }
    }

    #[test]
    fn lookups_outside_the_years_computed_are_unknown() {
        let s = set(r#"
            description = "t"
            source = "t"
            rules = [{ name = "x", date = "01-01" }]
        "#)
        .unwrap();
        let days = HolidayDays::compute(&s, 2026, 2027).unwrap();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(days.contains(d(2026, 1, 1)), Some(true));
        assert_eq!(days.contains(d(2027, 12, 31)), Some(false));
        assert_eq!(days.contains(d(2028, 1, 1)), None);
        assert_eq!(days.contains(d(2025, 12, 31)), None);
    }
}
