//! The versioned support policy: initial-response targets, fees, and the support-hours
//! calendars they are counted on.
//!
//! The data lives in `policy/support-policy.toml` (embedded at build time, see
//! [`SupportPolicy::embedded`]); this module parses and checks it once and answers three
//! questions: which calendar serves a language, when is a first response due, and does a
//! request carry the support fee. Calendars are in [`calendar`], holiday rules in
//! [`holidays`].

pub mod calendar;
pub mod holidays;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

pub use calendar::{Calendar, WalkStep};
pub use holidays::HolidaySet;

use crate::enums::{Category, FeeBasis, FeeCoverage, Product, Severity, SlaState};
use crate::values::{LanguageTag, Timestamp};

/// The policy file shipped with this build (the one in force).
pub const EMBEDDED_POLICY: &str = include_str!("../../policy/support-policy.toml");

/// Every support-policy document the service has ever used, oldest first, byte for byte: the
/// documents ledger entries pin by SHA-256, served at `GET /policies/{version}` and built into
/// the `ledger` CLI. The last is the one in force. Bumping the version moves the old document
/// to `policy/published/<version>.toml` (a test checks the list is complete and in order).
pub const PUBLISHED_POLICIES: &[&str] = &[
    include_str!("../../policy/published/2026.11.1.toml"),
    include_str!("../../policy/published/2026.12.1.toml"),
    include_str!("../../policy/published/2026.12.2.toml"),
    include_str!("../../policy/published/2026.12.3.toml"),
    EMBEDDED_POLICY,
];

/// A policy document named by version and pinned by the SHA-256 of its exact bytes (lower-case
/// hex): what every ledger entry of a request records as the rules its figures were computed
/// by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRef {
    pub version: String,
    pub sha256: String,
}

/// One published policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPolicy {
    pub pin: PolicyRef,
    /// The document, exactly the bytes hashed.
    pub text: &'static str,
}

/// The SHA-256 of a policy document's bytes, lower-case hex.
pub fn policy_digest(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The `version` a policy document declares (any schema the service has used has one).
fn declared_version(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    table.get("version")?.as_str().map(str::to_owned)
}

/// Every published policy, oldest first (parsed once).
pub fn published_policies() -> &'static [PublishedPolicy] {
    static PUBLISHED: std::sync::OnceLock<Vec<PublishedPolicy>> = std::sync::OnceLock::new();
    PUBLISHED.get_or_init(|| {
        PUBLISHED_POLICIES
            .iter()
            .map(|text| PublishedPolicy {
                pin: PolicyRef {
                    version: declared_version(text).unwrap_or_default(),
                    sha256: policy_digest(text),
                },
                text,
            })
            .collect()
    })
}

/// The published policy of this version, if the service ever used one.
pub fn published_policy(version: &str) -> Option<&'static PublishedPolicy> {
    published_policies().iter().find(|p| p.pin.version == version)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy file is not valid TOML for a support policy: {0}")]
    Syntax(String),
    /// Not an IANA zone, or not one this build compiled in (the zones the embedded policy
    /// names: `CHRONO_TZ_TIMEZONE_FILTER` in `.cargo/config.toml`).
    #[error(
        "calendar {calendar}: time zone {zone:?} is not an IANA zone this build knows (the build compiles in the zones of the support policy: CHRONO_TZ_TIMEZONE_FILTER in .cargo/config.toml)"
    )]
    UnknownTimeZone { calendar: String, zone: String },
    #[error("calendar {calendar}: {problem}")]
    BadCalendar { calendar: String, problem: String },
    #[error("holiday set {set}: {problem}")]
    BadHolidays { set: String, problem: String },
    #[error("the initial-response targets are incomplete: {0}")]
    BadTargets(String),
    #[error("the fee rule is invalid: {0}")]
    BadFees(String),
    #[error("the fallback calendar {0:?} is not defined")]
    MissingFallback(String),
    #[error("calendar {0} has no opening hours within ten years of the request")]
    NoOpeningHours(String),
    /// A due time would need holidays the policy data does not cover: an operator must ship
    /// a policy that reaches further. Never a silent guess.
    #[error(
        "calendar {calendar}: {date} is outside the years {first}-{last} the support policy's holidays cover; ship a policy that covers it"
    )]
    BeyondHorizon {
        calendar: String,
        date: NaiveDate,
        first: i32,
        last: i32,
    },
}

impl PolicyError {
    /// Whether this is the policy running out of years (the alarm operators must act on).
    pub fn is_beyond_horizon(&self) -> bool {
        matches!(self, PolicyError::BeyondHorizon { .. })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: String,
    fallback_calendar: String,
    #[serde(default)]
    withdrawal_settles_first_response: bool,
    holiday_years: YearsFile,
    initial_response: TargetsFile,
    next_response: TargetsFile,
    fees: FeesFile,
    calendars: BTreeMap<String, calendar::CalendarFile>,
    holidays: BTreeMap<String, holidays::HolidaySetFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearsFile {
    first: i32,
    last: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    technical: BTreeMap<String, u32>,
    other_business_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeesFile {
    products: Vec<String>,
    categories: Vec<String>,
}

/// A parsed, checked support policy.
#[derive(Debug, Clone)]
pub struct SupportPolicy {
    version: String,
    /// SHA-256 of the document's bytes (hex).
    sha256: String,
    /// A partner's close of an unanswered request settles its first-response clock (2026.12.4).
    withdrawal_settles_first_response: bool,
    initial: Targets,
    next: Targets,
    /// Products whose support carries a fee, and the categories of their requests that do.
    fee_products: Vec<Product>,
    fee_categories: Vec<Category>,
    calendars: Vec<Calendar>,
    holiday_sets: BTreeMap<String, HolidaySet>,
    /// The calendar of languages without one (a copy of one of `calendars`).
    fallback: Calendar,
    years: (i32, i32),
}

/// Response targets: minutes per severity for break-fix cases, business days otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Targets {
    technical: [u32; 3],
    other_business_days: u32,
}

impl Targets {
    fn from_file(file: &TargetsFile, what: &str) -> Result<Self, PolicyError> {
        let target = |s: &str| -> Result<u32, PolicyError> {
            match file.technical.get(s) {
                Some(&m) if m > 0 => Ok(m),
                _ => Err(PolicyError::BadTargets(format!(
                    "{what}: severity {s} needs a positive number of minutes"
                ))),
            }
        };
        let technical = [target("A")?, target("B")?, target("C")?];
        if file.technical.len() != 3 {
            return Err(PolicyError::BadTargets(format!(
                "{what}: only severities A, B and C exist"
            )));
        }
        if file.other_business_days == 0 {
            return Err(PolicyError::BadTargets(format!(
                "{what}: other_business_days must be positive"
            )));
        }
        Ok(Self {
            technical,
            other_business_days: file.other_business_days,
        })
    }

    fn minutes(&self, category: Category, severity: Severity, calendar: &Calendar) -> u32 {
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
}

/// When a first response is due, and on what basis it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialResponseDue {
    pub policy_version: String,
    pub target_minutes: u32,
    pub calendar: String,
    pub due_at: Timestamp,
}

/// Whether a request carries the support fee, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fee {
    pub billable: bool,
    pub basis: FeeBasis,
}

impl SupportPolicy {
    /// The policy embedded in this build. Call once at start-up.
    pub fn embedded() -> Result<Self, PolicyError> {
        Self::from_toml(EMBEDDED_POLICY)
    }

    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let initial = Targets::from_file(&file.initial_response, "initial_response")?;
        let next = Targets::from_file(&file.next_response, "next_response")?;
        let fee_products = file
            .fees
            .products
            .iter()
            .map(|p| Product::parse(p).map_err(|e| PolicyError::BadFees(format!("product {p:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let fee_categories = file
            .fees
            .categories
            .iter()
            .map(|c| Category::parse(c).map_err(|e| PolicyError::BadFees(format!("category {c:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let years = (file.holiday_years.first, file.holiday_years.last);
        if years.0 > years.1 || years.1 - years.0 > 200 {
            return Err(PolicyError::BadHolidays {
                set: "*".into(),
                problem: format!(
                    "holiday_years {}-{} is not a range of at most 200 years",
                    years.0, years.1
                ),
            });
        }
        let mut holiday_sets = BTreeMap::new();
        for (id, set) in file.holidays {
            holiday_sets.insert(id.clone(), HolidaySet::from_file(&id, set)?);
        }
        let mut calendars = Vec::new();
        let mut computed = BTreeMap::new();
        for (id, cal) in file.calendars {
            let calendar = Calendar::from_file(&id, cal, &holiday_sets, &mut computed, years)?;
            if let Some(twin) = calendars
                .iter()
                .find(|c: &&Calendar| c.id().eq_ignore_ascii_case(calendar.id()))
            {
                return Err(PolicyError::BadCalendar {
                    calendar: id,
                    problem: format!("the same key as calendar {}", twin.id()),
                });
            }
            calendars.push(calendar);
        }
        if let Some(unused) = holiday_sets
            .keys()
            .find(|set| !calendars.iter().any(|c| c.holiday_set() == Some(set.as_str())))
        {
            return Err(PolicyError::BadHolidays {
                set: unused.clone(),
                problem: "no calendar uses it".into(),
            });
        }
        let fallback = calendars
            .iter()
            .find(|c| c.id() == file.fallback_calendar)
            .cloned()
            .ok_or(PolicyError::MissingFallback(file.fallback_calendar))?;
        Ok(Self {
            version: file.version,
            sha256: policy_digest(text),
            withdrawal_settles_first_response: file.withdrawal_settles_first_response,
            initial,
            next,
            fee_products,
            fee_categories,
            calendars,
            holiday_sets,
            fallback,
            years,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The policy by version and by the SHA-256 of the document it was parsed from.
    pub fn pin(&self) -> PolicyRef {
        PolicyRef {
            version: self.version.clone(),
            sha256: self.sha256.clone(),
        }
    }

    pub fn calendars(&self) -> impl Iterator<Item = &Calendar> {
        self.calendars.iter()
    }

    /// Whether a partner's close of an unanswered request settles its first-response clock:
    /// after the due time it records the breach, at or before it the withdrawal was in time
    /// (policies before 2026.12.4: no; a close left the clock pending).
    pub fn withdrawal_settles_first_response(&self) -> bool {
        self.withdrawal_settles_first_response
    }

    /// The calendar of languages no other calendar serves (English, 24x7).
    pub fn fallback_calendar(&self) -> &Calendar {
        &self.fallback
    }

    /// The calendar with this key (as written in the policy, any case).
    pub fn calendar(&self, id: &str) -> Option<&Calendar> {
        self.calendars.iter().find(|c| c.id().eq_ignore_ascii_case(id))
    }

    pub fn holiday_sets(&self) -> impl Iterator<Item = &HolidaySet> {
        self.holiday_sets.values()
    }

    /// The years `first..=last` for which the policy knows every calendar's holidays. A due
    /// time that needs a day outside them is an error ([`PolicyError::BeyondHorizon`]).
    pub fn holiday_years(&self) -> (i32, i32) {
        self.years
    }

    /// Whether the policy can compute due times up to `date` (for the sweep's early warning).
    pub fn covers(&self, date: NaiveDate) -> bool {
        use chrono::Datelike;
        (self.years.0..=self.years.1).contains(&date.year())
    }

    /// The calendar that serves `language`: its language and region (`fr-CA`), else its
    /// language (`fr`), else the fallback (English, 24x7). Script, variants and extensions
    /// play no part (`de-Latn-AT-1996` is served as `de-AT`).
    pub fn calendar_for(&self, language: &LanguageTag) -> &Calendar {
        let regional = language
            .region()
            .and_then(|_| self.calendars.iter().find(|c| c.matches(language, true)));
        regional
            .or_else(|| self.calendars.iter().find(|c| c.matches(language, false)))
            .unwrap_or(&self.fallback)
    }

    /// The initial-response target in (calendar) minutes for a case of this category and
    /// severity.
    pub fn target_minutes(&self, category: Category, severity: Severity, calendar: &Calendar) -> u32 {
        self.initial.minutes(category, severity, calendar)
    }

    /// The next-response target: how long support has to reply to a partner's follow-up.
    pub fn next_target_minutes(&self, category: Category, severity: Severity, calendar: &Calendar) -> u32 {
        self.next.minutes(category, severity, calendar)
    }

    /// Whether a request carries the support fee: only the policy's fee products
    /// (Azure) in its fee categories (technical, i.e. break-fix) do, unless a declared
    /// partner benefit covers it. Billing, billing disputes, subscription management and
    /// fraud are included free of charge for every product.
    pub fn fee(&self, product: Product, category: Category, coverage: Option<FeeCoverage>) -> Fee {
        let basis = if !self.fee_products.contains(&product) {
            FeeBasis::ProductWithoutFee
        } else if !self.fee_categories.contains(&category) {
            FeeBasis::BillingSupportIncluded
        } else if coverage.is_some() {
            FeeBasis::CoveredByBenefit
        } else {
            FeeBasis::AzureTechnical
        };
        Fee {
            billable: basis == FeeBasis::AzureTechnical,
            basis,
        }
    }

    /// When support's reply is due to a partner's follow-up at `since` (a next-response
    /// cycle), on the calendar the request was served on (`calendar`, as recorded).
    pub fn next_response_due(
        &self,
        since: Timestamp,
        category: Category,
        severity: Severity,
        language: &LanguageTag,
    ) -> Result<InitialResponseDue, PolicyError> {
        let calendar = self.calendar_for(language);
        let target_minutes = self.next_target_minutes(category, severity, calendar);
        let due = calendar.add_business_minutes(since.datetime(), target_minutes)?;
        Ok(InitialResponseDue {
            policy_version: self.version.clone(),
            target_minutes,
            calendar: calendar.id().to_owned(),
            due_at: Timestamp::from_datetime(due),
        })
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
            calendar: calendar.id().to_owned(),
            due_at: Timestamp::from_datetime(due),
        })
    }
}

/// A request's response clocks: the initial response (the fields at the top, as filed),
/// the reply currently owed after it (`current`), and the finished next-response cycles.
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
    /// After the first response: who owes the next reply, and by when if it is support.
    #[serde(default)]
    pub current: Option<Owed>,
    /// Finished next-response cycles, oldest first.
    #[serde(default)]
    pub cycles: Vec<ResponseCycle>,
    /// When the initial-response clock started, if not at the opening: a request withdrawn
    /// before any answer and reopened is owed its first response from the reopening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
}

/// The reply currently owed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owed {
    pub owed_by: crate::enums::Party,
    /// Since when (the partner's follow-up, or support's question).
    pub since: Timestamp,
    /// The vendor's cycle number (1 for the first reply after the first response); absent
    /// while the partner owes information.
    pub cycle: Option<u32>,
    pub policy_version: Option<String>,
    pub target_minutes: Option<u32>,
    pub due_at: Option<Timestamp>,
    /// `pending` or `breached` while support owes; absent while the partner does.
    pub state: Option<SlaState>,
    pub breached_at: Option<Timestamp>,
}

impl Owed {
    /// The partner owes information since `at` (support asked for it): no vendor clock.
    pub(crate) fn partner(at: Timestamp) -> Self {
        Self {
            owed_by: crate::enums::Party::Partner,
            since: at,
            cycle: None,
            policy_version: None,
            target_minutes: None,
            due_at: None,
            state: None,
            breached_at: None,
        }
    }
}

/// A finished next-response cycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseCycle {
    pub cycle: u32,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    pub target_minutes: u32,
    pub policy_version: String,
    /// When support replied (absent if the partner withdrew).
    pub answered_at: Option<Timestamp>,
    pub outcome: crate::enums::CycleOutcome,
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
            current: None,
            cycles: Vec::new(),
            started_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, TimeZone, Utc};

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
        for (id, zone) in [
            ("de", "Europe/Berlin"),
            ("fr", "Europe/Paris"),
            ("es", "Europe/Madrid"),
            ("ja", "Asia/Tokyo"),
            ("de-AT", "Europe/Vienna"),
            ("de-CH", "Europe/Zurich"),
            ("fr-CH", "Europe/Zurich"),
            ("de-BE", "Europe/Brussels"),
            ("fr-BE", "Europe/Brussels"),
            ("de-LU", "Europe/Luxembourg"),
            ("fr-LU", "Europe/Luxembourg"),
            ("fr-CA", "America/Toronto"),
            ("es-MX", "America/Mexico_City"),
            ("es-AR", "America/Argentina/Buenos_Aires"),
            ("es-CO", "America/Bogota"),
        ] {
            let c = p.calendar(id).unwrap_or_else(|| panic!("calendar {id}"));
            assert_eq!(c.time_zone(), Some(zone), "{id}");
            assert!(c.holiday_set().is_some(), "{id}");
        }
        assert!(p.calendar("en").unwrap().is_always_open());
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
    fn calendar_lookup_uses_language_and_region_then_language_then_english() {
        let p = policy();
        let lookup = |tag: &str| p.calendar_for(&LanguageTag::parse(tag).unwrap()).id().to_owned();
        assert_eq!(lookup("de-AT"), "de-AT");
        assert_eq!(lookup("de-at"), "de-AT");
        assert_eq!(lookup("de-Latn-AT-1996"), "de-AT", "script and variants play no part");
        assert_eq!(lookup("de-AT-u-co-phonebk"), "de-AT");
        assert_eq!(lookup("fr-CA"), "fr-CA");
        assert_eq!(lookup("es-MX"), "es-MX");
        assert_eq!(lookup("de-DE"), "de", "the home calendar has no region key");
        assert_eq!(lookup("fr-SN"), "fr", "a region without a calendar: the language's");
        assert_eq!(lookup("es-419"), "es");
        assert_eq!(lookup("en-US"), "en");
        assert_eq!(lookup("pt-BR"), "en", "a language without a calendar: English 24x7");
        assert_eq!(lookup("xh-ZA"), "en");
    }

    #[test]
    fn fees_only_where_the_policy_charges_them() {
        let p = policy();
        use Category::*;
        for category in [Billing, BillingDispute, SubscriptionManagement, Fraud] {
            for product in Product::ALL {
                let fee = p.fee(*product, category, None);
                assert!(!fee.billable, "{product} {category}");
                let basis = if *product == Product::Azure {
                    FeeBasis::BillingSupportIncluded
                } else {
                    FeeBasis::ProductWithoutFee
                };
                assert_eq!(fee.basis, basis, "{product} {category}");
            }
        }
        assert_eq!(
            p.fee(Product::Azure, Technical, None),
            Fee {
                billable: true,
                basis: FeeBasis::AzureTechnical
            }
        );
        assert_eq!(
            p.fee(Product::Azure, Technical, Some(FeeCoverage::MpnBenefit)),
            Fee {
                billable: false,
                basis: FeeBasis::CoveredByBenefit
            }
        );
        for product in Product::ALL.iter().filter(|p| **p != Product::Azure) {
            assert_eq!(p.fee(*product, Technical, None).basis, FeeBasis::ProductWithoutFee);
        }
    }

    #[test]
    fn a_due_time_past_the_holiday_years_is_refused_not_guessed() {
        let p = policy();
        let (_, last) = p.holiday_years();
        // Friday 29 December of the last year, 16:00 Berlin: the answer needs January.
        let opened = chrono::TimeZone::with_ymd_and_hms(&chrono_tz::Europe::Berlin, last, 12, 29, 16, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let err = p
            .initial_response_due(
                Timestamp::from_datetime(opened),
                Category::Technical,
                Severity::C,
                &LanguageTag::parse("de").unwrap(),
            )
            .unwrap_err();
        assert!(err.is_beyond_horizon(), "{err}");
        assert!(err.to_string().contains(&format!("{}-01-", last + 1)), "{err}");
        // English support has no holidays, so no horizon.
        assert!(
            p.initial_response_due(
                Timestamp::from_datetime(opened),
                Category::Technical,
                Severity::C,
                &LanguageTag::parse("en").unwrap()
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_policy_files_are_refused() {
        let base = EMBEDDED_POLICY;
        type Expect = fn(&PolicyError) -> bool;
        let calendar = |e: &PolicyError| matches!(e, PolicyError::BadCalendar { .. });
        let holidays = |e: &PolicyError| matches!(e, PolicyError::BadHolidays { .. });
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
                base.replacen("mon = [\"09:00-17:00\"]", "mon = [\"17:00-09:00\"]", 1),
                calendar,
            ),
            (
                base.replacen("mon = [\"09:00-17:00\"]", "mon = [\"09:00-12:00\", \"11:00-17:00\"]", 1),
                calendar,
            ),
            // A key no language tag can match, and the same key twice in another case.
            (base.replace("[calendars.de-AT]", "[calendars.de-Latn-AT]"), calendar),
            (base.replace("[calendars.de-AT]", "[calendars.de-AT-1996]"), calendar),
            (base.replace("[calendars.fr-BE]", "[calendars.DE-at]"), calendar),
            // A holiday set that does not exist, or that no calendar uses.
            (base.replace("holidays = \"AT\"", "holidays = \"ATX\""), calendar),
            (base.replace("holidays = \"AT\"", "holidays = \"DE\""), holidays),
            (
                base.replace("easter = 60 }", "easter = 60, date = \"06-01\" }"),
                holidays,
            ),
            (
                base.replace(
                    "{ name = \"Epiphany\", date = \"01-06\" }",
                    "{ name = \"Epiphany\", date = \"06-01-01\" }",
                ),
                holidays,
            ),
            // Equinox days past the formula's range.
            (base.replace("last = 2045", "last = 2100"), holidays),
            (base.replace("products = [\"azure\"]", "products = [\"azur\"]"), |e| {
                matches!(e, PolicyError::BadFees(_))
            }),
            (base.replace("version = ", "versoin = "), |e| {
                matches!(e, PolicyError::Syntax(_))
            }),
        ];
        for (text, expected) in cases {
            assert_ne!(text, base, "the case changes the policy");
            let err = SupportPolicy::from_toml(&text).unwrap_err();
            assert!(expected(&err), "unexpected error {err}");
        }
    }

    #[test]
    fn opening_hours_include_the_closing_instant_only() {
        let de = policy().calendar("de").unwrap().clone();
        let tz = chrono_tz::Europe::Berlin;
        let at = |h, m| tz.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap().with_timezone(&Utc);
        assert!(!de.is_open_at(at(8, 59)).unwrap());
        assert!(de.is_open_at(at(9, 0)).unwrap());
        assert!(de.is_open_at(at(17, 0)).unwrap());
        assert!(!de.is_open_at(at(17, 1)).unwrap());
    }
}
