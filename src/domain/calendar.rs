//! The working-day calendar of the Chinese mainland, used to compute deadlines counted in
//! working days (工作日): listing periods, objection periods, payment terms.
//!
//! Working days are not just Monday to Friday: every year the State Council publishes the
//! public holidays (节假日) and the Saturdays and Sundays that are worked instead (调休).
//! Each year comes from one data file (`config/calendar/<year>.toml`) that the caller reads
//! and hands to [`parse_year_file`]. For a year without a file, Monday to Friday are taken as
//! working days, and every result says which years were counted that way ([`Dated`]), so a
//! long period that runs into a year not yet published still gets a date, with a warning.
//!
//! Deadlines end at the close of business in Beijing time (UTC+8 all year, no daylight saving).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};

/// Beijing time: UTC+8, all year round.
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// Separates the first and last day of an inclusive range: `"2026-10-01..2026-10-07"`.
const RANGE_SEPARATOR: &str = "..";

/// The content of one year file, as written: dates are still text.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearFile {
    pub year: i32,
    /// Days off: single dates (`"2026-01-01"`) or inclusive ranges (`"2026-02-15..2026-02-23"`).
    pub holidays: Vec<String>,
    /// Saturdays and Sundays that are working days; single dates or inclusive ranges.
    pub working_weekends: Vec<String>,
}

/// Why a year file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("calendar file cannot be read: {0}")]
    Parse(String),
    #[error("not a date written as YYYY-MM-DD: {0:?}")]
    BadDate(String),
    #[error("date range ends before it starts: {0:?}")]
    BadRange(String),
    #[error("{date} is not in the calendar file's year {year}")]
    DateOutsideYear { date: String, year: i32 },
    #[error("the calendar for {0} is given twice")]
    DuplicateYear(i32),
    #[error("{0} is listed both as a holiday and as a working weekend")]
    Conflict(String),
    #[error("{0} is listed as a working weekend but is not a Saturday or a Sunday")]
    NotAWeekend(String),
}

/// Parses the text of one year file (pure: the caller reads the file) and checks its dates.
pub fn parse_year_file(text: &str) -> Result<YearFile, CalendarError> {
    let file: YearFile =
        toml::from_str(text).map_err(|err| CalendarError::Parse(err.to_string()))?;
    YearDays::from_file(&file)?;
    Ok(file)
}

/// The days of one published year that differ from the Monday–Friday rule.
#[derive(Debug, Clone, Default)]
struct YearDays {
    holidays: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
}

impl YearDays {
    fn from_file(file: &YearFile) -> Result<Self, CalendarError> {
        let holidays = expand_entries(&file.holidays, file.year)?;
        let working_weekends = expand_entries(&file.working_weekends, file.year)?;
        if let Some(day) = working_weekends
            .iter()
            .find(|day| is_monday_to_friday(**day))
        {
            return Err(CalendarError::NotAWeekend(day.to_string()));
        }
        if let Some(day) = holidays.intersection(&working_weekends).next() {
            return Err(CalendarError::Conflict(day.to_string()));
        }
        Ok(Self {
            holidays,
            working_weekends,
        })
    }

    fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.holidays.contains(&date) {
            return false;
        }
        self.working_weekends.contains(&date) || is_monday_to_friday(date)
    }
}

/// All the dates named by a list of single dates and ranges, each checked to be in `year`.
fn expand_entries(entries: &[String], year: i32) -> Result<BTreeSet<NaiveDate>, CalendarError> {
    let mut dates = BTreeSet::new();
    for entry in entries {
        let (first, last) = parse_entry(entry)?;
        check_in_year(first, year)?;
        check_in_year(last, year)?;
        dates.extend(first.iter_days().take_while(|day| *day <= last));
    }
    Ok(dates)
}

/// First and last day of an entry; a single date is a range of one day.
fn parse_entry(entry: &str) -> Result<(NaiveDate, NaiveDate), CalendarError> {
    let (first, last) = match entry.split_once(RANGE_SEPARATOR) {
        Some((first, last)) => (parse_date(first)?, parse_date(last)?),
        None => {
            let day = parse_date(entry)?;
            (day, day)
        }
    };
    if first > last {
        return Err(CalendarError::BadRange(entry.to_owned()));
    }
    Ok((first, last))
}

/// A date written exactly as `YYYY-MM-DD` (surrounding spaces allowed).
fn parse_date(text: &str) -> Result<NaiveDate, CalendarError> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|date| date.format("%Y-%m-%d").to_string() == text)
        .ok_or_else(|| CalendarError::BadDate(text.to_owned()))
}

fn check_in_year(date: NaiveDate, year: i32) -> Result<(), CalendarError> {
    if date.year() == year {
        Ok(())
    } else {
        Err(CalendarError::DateOutsideYear {
            date: date.to_string(),
            year,
        })
    }
}

fn is_monday_to_friday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The published working-day calendars, one per year.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    years: BTreeMap<i32, YearDays>,
}

/// A computed date plus the years for which the Monday–Friday fallback was used (sorted, unique).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dated<T> {
    pub value: T,
    pub fallback_years: Vec<i32>,
}

impl<T> Dated<T> {
    /// Applies `f` to the value and keeps the fallback years.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Dated<U> {
        Dated {
            value: f(self.value),
            fallback_years: self.fallback_years,
        }
    }

    /// A warning for people naming the years counted Monday to Friday, if there were any.
    pub fn fallback_warning(&self) -> Option<String> {
        if self.fallback_years.is_empty() {
            return None;
        }
        let years: Vec<String> = self.fallback_years.iter().map(i32::to_string).collect();
        Some(format!(
            "no published holiday calendar for {}: Monday to Friday were counted as working days",
            years.join(", ")
        ))
    }
}

fn dated<T>(value: T, fallback: BTreeSet<i32>) -> Dated<T> {
    Dated {
        value,
        fallback_years: fallback.into_iter().collect(),
    }
}

impl Calendar {
    /// Builds the calendar, checking every file: every date inside its file's year, no year
    /// twice, no date both holiday and working weekend, working weekends on Saturday or
    /// Sunday, ranges that do not end before they start.
    pub fn from_year_files(files: Vec<YearFile>) -> Result<Self, CalendarError> {
        let mut years = BTreeMap::new();
        for file in files {
            match years.entry(file.year) {
                Entry::Occupied(_) => return Err(CalendarError::DuplicateYear(file.year)),
                Entry::Vacant(slot) => slot.insert(YearDays::from_file(&file)?),
            };
        }
        Ok(Self { years })
    }

    /// Whether the calendar of `year` has been published (loaded).
    pub fn has_year(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// Working day? Years without a file: Monday–Friday.
    pub fn is_working_day(&self, date: NaiveDate) -> Dated<bool> {
        let mut fallback = BTreeSet::new();
        let working = self.check_day(date, &mut fallback);
        dated(working, fallback)
    }

    /// The n-th working day strictly after `from` (n = 0 returns `from` itself).
    /// Stops at the last date chrono can represent.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> Dated<NaiveDate> {
        let mut fallback = BTreeSet::new();
        let mut day = from;
        let mut left = n;
        while left > 0 {
            let Some(next) = day.succ_opt() else { break };
            day = next;
            if self.check_day(day, &mut fallback) {
                left -= 1;
            }
        }
        dated(day, fallback)
    }

    /// Working days in (start, end]: after `start`, up to and including `end` (0 if end <= start).
    pub fn working_days_between(&self, start: NaiveDate, end: NaiveDate) -> Dated<u32> {
        let mut fallback = BTreeSet::new();
        let count = start
            .iter_days()
            .skip(1)
            .take_while(|day| *day <= end)
            .filter(|day| self.check_day(*day, &mut fallback))
            .count();
        dated(u32::try_from(count).unwrap_or(u32::MAX), fallback)
    }

    /// End of a period of `n` working days that starts at the instant `start`: counting begins on
    /// the day after start's Beijing date; the end is `close` (Beijing wall-clock time) on the n-th
    /// working day, returned in UTC. n = 0 returns `start` unchanged.
    pub fn period_end(
        &self,
        start: DateTime<Utc>,
        n: u32,
        close: NaiveTime,
    ) -> Dated<DateTime<Utc>> {
        if n == 0 {
            return dated(start, BTreeSet::new());
        }
        self.add_working_days(Self::beijing_date(start), n)
            .map(|last_day| beijing_to_utc(last_day, close))
    }

    /// Beijing calendar date of an instant.
    pub fn beijing_date(t: DateTime<Utc>) -> NaiveDate {
        t.naive_utc()
            .checked_add_offset(BEIJING)
            .map_or(NaiveDate::MAX, |local| local.date())
    }

    /// Whether `date` is a working day, noting its year in `fallback` if it has no file.
    fn check_day(&self, date: NaiveDate, fallback: &mut BTreeSet<i32>) -> bool {
        match self.years.get(&date.year()) {
            Some(days) => days.is_working_day(date),
            None => {
                fallback.insert(date.year());
                is_monday_to_friday(date)
            }
        }
    }
}

/// The instant at Beijing wall-clock `time` on `date` (the latest instant if out of range).
pub fn beijing_to_utc(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    date.and_time(time)
        .checked_sub_offset(BEIJING)
        .map_or(DateTime::<Utc>::MAX_UTC, |utc| utc.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const FILE_2025: &str = include_str!("../../config/calendar/2025.toml");
    const FILE_2026: &str = include_str!("../../config/calendar/2026.toml");

    fn calendar() -> Calendar {
        let files = vec![
            parse_year_file(FILE_2025).unwrap(),
            parse_year_file(FILE_2026).unwrap(),
        ];
        Calendar::from_year_files(files).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, day, h, min, 0).unwrap()
    }

    fn five_pm() -> NaiveTime {
        NaiveTime::from_hms_opt(17, 0, 0).unwrap()
    }

    fn working(day: NaiveDate) -> bool {
        let result = calendar().is_working_day(day);
        assert!(result.fallback_years.is_empty(), "{day} used the fallback");
        result.value
    }

    fn after(from: NaiveDate, n: u32) -> NaiveDate {
        let result = calendar().add_working_days(from, n);
        assert!(
            result.fallback_years.is_empty(),
            "{from} + {n} used the fallback"
        );
        result.value
    }

    fn file(holidays: &[&str], working_weekends: &[&str]) -> String {
        format!("year = 2026\nholidays = {holidays:?}\nworking_weekends = {working_weekends:?}\n")
    }

    #[test]
    fn real_files_load_for_2025_and_2026_only() {
        let cal = calendar();
        assert!(cal.has_year(2025) && cal.has_year(2026));
        assert!(!cal.has_year(2024) && !cal.has_year(2027));
    }

    #[test]
    fn each_published_year_has_248_working_days() {
        let cal = calendar();
        let in_2025 = cal.working_days_between(d(2024, 12, 31), d(2025, 12, 31));
        let in_2026 = cal.working_days_between(d(2025, 12, 31), d(2026, 12, 31));
        assert_eq!(in_2025.value, 248);
        assert_eq!(in_2026.value, 248);
        assert!(in_2025.fallback_years.is_empty() && in_2026.fallback_years.is_empty());
    }

    #[test]
    fn spring_festival_2026_is_skipped() {
        assert_eq!(after(d(2026, 2, 13), 5), d(2026, 2, 27));
        assert!((15..=23).all(|day| !working(d(2026, 2, day))));
    }

    #[test]
    fn saturdays_around_spring_festival_2026_are_working_days() {
        assert!(working(d(2026, 2, 14)));
        assert!(working(d(2026, 2, 28)));
        assert_eq!(after(d(2026, 2, 13), 1), d(2026, 2, 14));
        assert_eq!(after(d(2026, 2, 13), 6), d(2026, 2, 28));
    }

    #[test]
    fn national_day_2026_is_skipped() {
        assert!((1..=7).all(|day| !working(d(2026, 10, day))));
        assert_eq!(after(d(2026, 9, 30), 1), d(2026, 10, 8));
    }

    #[test]
    fn working_weekends_around_national_day_2026_count() {
        assert!(working(d(2026, 9, 20)));
        assert!(working(d(2026, 10, 10)));
        assert_eq!(after(d(2026, 9, 30), 3), d(2026, 10, 10));
        assert_eq!(after(d(2026, 9, 19), 1), d(2026, 9, 20));
    }

    #[test]
    fn mid_autumn_2026_is_skipped() {
        assert_eq!(after(d(2026, 9, 24), 1), d(2026, 9, 28));
    }

    #[test]
    fn national_day_2025_runs_to_october_8() {
        assert!((1..=8).all(|day| !working(d(2025, 10, day))));
        assert!(working(d(2025, 9, 28)));
        assert!(working(d(2025, 10, 11)));
        assert_eq!(after(d(2025, 9, 30), 1), d(2025, 10, 9));
        assert_eq!(after(d(2025, 9, 30), 3), d(2025, 10, 11));
    }

    /// Every range of the State Council's 2025 notice (国办发明电〔2024〕12号), pinned one by
    /// one: each day off, the working day on either side, and each 调休 weekend day.
    #[test]
    fn every_2025_holiday_and_working_weekend_is_as_published() {
        let off = [
            (d(2025, 1, 1), d(2025, 1, 1)),
            (d(2025, 1, 28), d(2025, 2, 4)),
            (d(2025, 4, 4), d(2025, 4, 6)),
            (d(2025, 5, 1), d(2025, 5, 5)),
            (d(2025, 5, 31), d(2025, 6, 2)),
            (d(2025, 10, 1), d(2025, 10, 8)),
        ];
        for (first, last) in off {
            for day in first.iter_days().take_while(|x| *x <= last) {
                assert!(!working(day), "{day} is a holiday");
            }
            let (before, next) = (first.pred_opt().unwrap(), last.succ_opt().unwrap());
            let weekday = |x: NaiveDate| x.weekday().num_days_from_monday() < 5;
            // The day before and the day after each range is a working day when it is a
            // weekday or one of the 调休 days below.
            for x in [before, next] {
                if weekday(x) && x.year() == 2025 {
                    assert!(working(x), "{x} (next to a holiday) is a working day");
                }
            }
        }
        for day in [
            d(2025, 1, 26),
            d(2025, 2, 8),
            d(2025, 4, 27),
            d(2025, 9, 28),
            d(2025, 10, 11),
        ] {
            assert!(day.weekday().num_days_from_monday() >= 5, "{day}");
            assert!(working(day), "{day} is a 调休 working day");
        }
        // Ordinary weekends next to them are not worked.
        for day in [
            d(2025, 1, 25),
            d(2025, 2, 9),
            d(2025, 4, 26),
            d(2025, 9, 27),
        ] {
            assert!(!working(day), "{day}");
        }
        // Counting across the Spring Festival: Monday 27 January + 1 working day is
        // Wednesday 5 February; from Friday 7 February, Saturday the 8th is next.
        assert_eq!(after(d(2025, 1, 27), 1), d(2025, 2, 5));
        assert_eq!(after(d(2025, 2, 7), 1), d(2025, 2, 8));
        // Labour Day: Sunday 27 April is worked, 1-5 May are not.
        assert_eq!(after(d(2025, 4, 25), 1), d(2025, 4, 27));
        assert_eq!(after(d(2025, 4, 30), 1), d(2025, 5, 6));
        // Dragon Boat Festival: Friday 30 May + 1 is Tuesday 3 June.
        assert_eq!(after(d(2025, 5, 30), 1), d(2025, 6, 3));
        // Qingming: Thursday 3 April + 1 is Monday 7 April.
        assert_eq!(after(d(2025, 4, 3), 1), d(2025, 4, 7));
    }

    #[test]
    fn period_crossing_into_2026_skips_new_year_and_counts_sunday_january_4() {
        assert!((1..=3).all(|day| !working(d(2026, 1, day))));
        assert!(working(d(2026, 1, 4)));
        assert_eq!(after(d(2025, 12, 30), 2), d(2026, 1, 4));
        assert_eq!(after(d(2025, 12, 30), 3), d(2026, 1, 5));
    }

    #[test]
    fn period_crossing_into_2027_falls_back_to_monday_to_friday() {
        let result = calendar().add_working_days(d(2026, 12, 30), 3);
        // Thu 31 Dec, then Fri 1 Jan 2027 (not known as a holiday) and Mon 4 Jan.
        assert_eq!(result.value, d(2027, 1, 4));
        assert_eq!(result.fallback_years, vec![2027]);
    }

    #[test]
    fn period_ending_in_2026_reports_no_fallback_even_at_year_end() {
        let result = calendar().add_working_days(d(2026, 12, 29), 2);
        assert_eq!(result.value, d(2026, 12, 31));
        assert!(result.fallback_years.is_empty());
    }

    #[test]
    fn fallback_lists_every_unpublished_year_consulted() {
        let cal = calendar();
        let long = cal.add_working_days(d(2026, 12, 30), 300);
        assert_eq!(long.fallback_years, vec![2027, 2028]);
        let before = cal.working_days_between(d(2024, 12, 30), d(2025, 1, 2));
        assert_eq!(before.value, 2); // Tue 31 Dec 2024 and Thu 2 Jan 2025.
        assert_eq!(before.fallback_years, vec![2024]);
    }

    #[test]
    fn unpublished_year_counts_weekdays_as_working_days() {
        let cal = calendar();
        assert!(cal.is_working_day(d(2027, 1, 1)).value);
        let saturday = cal.is_working_day(d(2027, 1, 2));
        assert_eq!(
            saturday,
            Dated {
                value: false,
                fallback_years: vec![2027]
            }
        );
        assert_eq!(
            cal.working_days_between(d(2027, 3, 5), d(2027, 3, 19))
                .value,
            10
        );
    }

    #[test]
    fn fallback_warning_names_the_years() {
        let result = calendar().add_working_days(d(2026, 12, 30), 300);
        let warning = result.fallback_warning().unwrap();
        assert!(warning.contains("2027, 2028"), "{warning}");
        assert_eq!(
            calendar()
                .add_working_days(d(2026, 3, 2), 5)
                .fallback_warning(),
            None
        );
    }

    #[test]
    fn empty_calendar_falls_back_for_every_year() {
        let result = Calendar::default().add_working_days(d(2026, 2, 13), 5);
        assert_eq!(result.value, d(2026, 2, 20));
        assert_eq!(result.fallback_years, vec![2026]);
    }

    #[test]
    fn zero_working_days_returns_the_start_even_on_a_holiday() {
        let cal = calendar();
        let result = cal.add_working_days(d(2026, 10, 1), 0);
        assert_eq!(
            result,
            Dated {
                value: d(2026, 10, 1),
                fallback_years: vec![]
            }
        );
        let outside = cal.add_working_days(d(2030, 6, 1), 0);
        assert!(outside.fallback_years.is_empty());
    }

    #[test]
    fn period_end_is_five_pm_beijing_which_is_nine_utc() {
        let start = utc(2026, 11, 23, 2, 0); // Mon 10:00 in Beijing.
        let end = calendar().period_end(start, 3, five_pm());
        assert_eq!(end.value, utc(2026, 11, 26, 9, 0));
        assert!(end.fallback_years.is_empty());
    }

    #[test]
    fn period_end_counts_from_the_next_beijing_day_when_utc_is_a_day_behind() {
        let start = utc(2026, 11, 26, 17, 30); // Fri 27 Nov, 01:30 in Beijing.
        assert_eq!(Calendar::beijing_date(start), d(2026, 11, 27));
        let end = calendar().period_end(start, 1, five_pm());
        assert_eq!(end.value, utc(2026, 11, 30, 9, 0)); // Mon 30 Nov, 17:00 Beijing.
    }

    #[test]
    fn period_end_just_before_beijing_midnight_counts_from_the_next_day() {
        let start = utc(2026, 11, 26, 15, 59); // Thu 26 Nov, 23:59 in Beijing.
        assert_eq!(Calendar::beijing_date(start), d(2026, 11, 26));
        let end = calendar().period_end(start, 1, five_pm());
        assert_eq!(end.value, utc(2026, 11, 27, 9, 0));
    }

    #[test]
    fn period_end_skips_spring_festival_2026() {
        let start = utc(2026, 2, 13, 3, 0); // Fri 13 Feb, 11:00 in Beijing.
        let end = calendar().period_end(start, 5, five_pm());
        assert_eq!(end.value, utc(2026, 2, 27, 9, 0));
    }

    #[test]
    fn period_end_into_2027_reports_the_fallback() {
        let start = utc(2026, 12, 30, 2, 0);
        let end = calendar().period_end(start, 3, five_pm());
        assert_eq!(end.value, utc(2027, 1, 4, 9, 0));
        assert_eq!(end.fallback_years, vec![2027]);
    }

    #[test]
    fn period_end_of_zero_days_returns_the_start_unchanged() {
        let start = utc(2026, 10, 1, 4, 17);
        let end = calendar().period_end(start, 0, five_pm());
        assert_eq!(
            end,
            Dated {
                value: start,
                fallback_years: vec![]
            }
        );
    }

    #[test]
    fn working_days_between_agrees_with_add_working_days() {
        let cal = calendar();
        let starts = d(2025, 1, 20)
            .iter_days()
            .step_by(9)
            .take_while(|day| day.year() < 2027);
        for from in starts {
            for n in 0..25 {
                let end = cal.add_working_days(from, n);
                let counted = cal.working_days_between(from, end.value);
                assert_eq!(counted.value, n, "from {from}, n {n}");
                assert_eq!(
                    counted.fallback_years, end.fallback_years,
                    "from {from}, n {n}"
                );
            }
        }
    }

    #[test]
    fn working_days_between_is_zero_when_end_is_not_after_start() {
        let cal = calendar();
        assert_eq!(
            cal.working_days_between(d(2026, 3, 2), d(2026, 3, 2)).value,
            0
        );
        let backwards = cal.working_days_between(d(2026, 3, 9), d(2026, 3, 2));
        assert_eq!(
            backwards,
            Dated {
                value: 0,
                fallback_years: vec![]
            }
        );
    }

    #[test]
    fn working_days_between_excludes_start_and_includes_end() {
        // Mon 2 Mar 2026 to Fri 6 Mar 2026: Tue to Fri.
        assert_eq!(
            calendar()
                .working_days_between(d(2026, 3, 2), d(2026, 3, 6))
                .value,
            4
        );
    }

    #[test]
    fn date_outside_its_year_is_rejected() {
        let err = parse_year_file(&file(&["2025-12-31"], &[])).unwrap_err();
        let expected = CalendarError::DateOutsideYear {
            date: "2025-12-31".into(),
            year: 2026,
        };
        assert_eq!(err, expected);
    }

    #[test]
    fn range_running_into_the_next_year_is_rejected() {
        let err = parse_year_file(&file(&["2026-12-31..2027-01-01"], &[])).unwrap_err();
        assert!(
            matches!(err, CalendarError::DateOutsideYear { year: 2026, .. }),
            "{err}"
        );
    }

    #[test]
    fn date_both_holiday_and_working_weekend_is_rejected() {
        let err = parse_year_file(&file(&["2026-02-14..2026-02-16"], &["2026-02-14"]));
        assert_eq!(
            err.unwrap_err(),
            CalendarError::Conflict("2026-02-14".into())
        );
    }

    #[test]
    fn malformed_dates_are_rejected() {
        for bad in [
            "2026-02-30",
            "2026/01/01",
            "2026-1-1",
            "1 May",
            "",
            "2026-01-01..",
        ] {
            let err = parse_year_file(&file(&[bad], &[])).unwrap_err();
            assert!(matches!(err, CalendarError::BadDate(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn range_ending_before_it_starts_is_rejected() {
        let err = parse_year_file(&file(&["2026-10-07..2026-10-01"], &[])).unwrap_err();
        assert_eq!(
            err,
            CalendarError::BadRange("2026-10-07..2026-10-01".into())
        );
    }

    #[test]
    fn working_weekend_on_a_weekday_is_rejected() {
        let err = parse_year_file(&file(&[], &["2026-02-13"])).unwrap_err();
        assert_eq!(err, CalendarError::NotAWeekend("2026-02-13".into()));
    }

    #[test]
    fn unknown_key_is_rejected() {
        let text = format!("{}workdays = []\n", file(&[], &[]));
        let err = parse_year_file(&text).unwrap_err();
        assert!(matches!(err, CalendarError::Parse(_)), "{err}");
    }

    #[test]
    fn missing_key_and_bad_toml_are_rejected() {
        let missing = parse_year_file("year = 2026\nholidays = []\n").unwrap_err();
        assert!(matches!(missing, CalendarError::Parse(_)), "{missing}");
        let broken = parse_year_file("year = 2026\nholidays = [\n").unwrap_err();
        assert!(matches!(broken, CalendarError::Parse(_)), "{broken}");
    }

    #[test]
    fn duplicate_year_is_rejected() {
        let year = parse_year_file(FILE_2026).unwrap();
        let err = Calendar::from_year_files(vec![year.clone(), year]).unwrap_err();
        assert_eq!(err, CalendarError::DuplicateYear(2026));
    }

    #[test]
    fn from_year_files_checks_files_not_built_by_the_parser() {
        let file = YearFile {
            year: 2026,
            holidays: vec!["2027-01-01".into()],
            working_weekends: vec![],
        };
        let err = Calendar::from_year_files(vec![file]).unwrap_err();
        assert!(
            matches!(err, CalendarError::DateOutsideYear { year: 2026, .. }),
            "{err}"
        );
    }
}
