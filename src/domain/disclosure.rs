//! Periods counted in working days (工作日), each ending at the close of business of its last
//! day: resuming a suspended disclosure, extending one (延期), a material supplementary notice
//! (补充公告) and the public period of a deal announcement.
//!
//! A day counts when it is a working day of the calendar and it was complete: counting begins
//! on the day after the instant a period starts, and a day on which a period was interrupted
//! before the close of business is not counted as used.

use chrono::{DateTime, NaiveTime, Utc};

use super::calendar::{Calendar, Dated};
use super::listing::RuleViolation;

/// Working days a disclosure had used before it was suspended at `paused`, and the working
/// days it still had until `end` (the day of the suspension counts as used only if it was
/// suspended at or after the close of business).
pub fn used_and_left(
    cal: &Calendar,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    paused: DateTime<Utc>,
    close: NaiveTime,
) -> Dated<(u32, u32)> {
    let paused = paused.min(end);
    let day = Calendar::beijing_date(paused);
    let day_done = paused >= close_on(day, close);
    let last_used = if day_done {
        day
    } else {
        day.pred_opt().unwrap_or(day)
    };
    let used = cal.working_days_between(Calendar::beijing_date(start), last_used);
    let left = cal.working_days_between(last_used, Calendar::beijing_date(end));
    let mut years = used.fallback_years.clone();
    years.extend(left.fallback_years.iter().copied());
    years.sort_unstable();
    years.dedup();
    Dated {
        value: (used.value, left.value),
        fallback_years: years,
    }
}

fn close_on(day: chrono::NaiveDate, close: NaiveTime) -> DateTime<Utc> {
    super::calendar::beijing_to_utc(day, close)
}

/// The rule on resuming (恢复): what was left, but at least `min_after` working days after the
/// resumption and `min_total` in all.
pub fn days_after_resumption(used: u32, left: u32, min_total: u32, min_after: u32) -> u32 {
    left.max(min_after).max(min_total.saturating_sub(used))
}

/// The end of a resumed disclosure.
#[expect(
    clippy::too_many_arguments,
    reason = "the period, the pause and the two minimums"
)]
pub fn resumed_end(
    cal: &Calendar,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    paused: DateTime<Utc>,
    resumed: DateTime<Utc>,
    close: NaiveTime,
    min_total: u32,
    min_after: u32,
) -> Dated<DateTime<Utc>> {
    let counted = used_and_left(cal, start, end, paused, close);
    let (used, left) = counted.value;
    let days = days_after_resumption(used, left, min_total, min_after);
    // Less than a working day was left (an end set within the day): give that time back.
    let within_day = (end - paused.min(end)).max(chrono::Duration::zero());
    let mut out = if days == 0 {
        Dated {
            value: resumed + within_day,
            fallback_years: Vec::new(),
        }
    } else {
        cal.period_end(resumed, days, close)
    };
    out.fallback_years.extend(counted.fallback_years);
    out.fallback_years.sort_unstable();
    out.fallback_years.dedup();
    out
}

/// An extension (延期) adds at least `min_days` working days to the current end.
pub fn extended_end(
    cal: &Calendar,
    end: DateTime<Utc>,
    days: u32,
    min_days: u32,
    max_days: u32,
    close: NaiveTime,
) -> Result<Dated<DateTime<Utc>>, RuleViolation> {
    if days < min_days {
        return Err(RuleViolation::new(
            "extension_too_short",
            format!("an extension adds at least {min_days} working days"),
        ));
    }
    if days > max_days {
        return Err(RuleViolation::new(
            "disclosure_too_long",
            format!("an extension adds at most {max_days} working days"),
        ));
    }
    Ok(cal.period_end(end, days, close))
}

/// A material supplementary notice restarts the minimum period from `now`; the end never
/// moves earlier.
pub fn after_material_notice(
    cal: &Calendar,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    min_days: u32,
    close: NaiveTime,
) -> Dated<DateTime<Utc>> {
    cal.period_end(now, min_days, close)
        .map(|restart| restart.max(end))
}

/// Whether a deal announcement published at `announced` has been public for its minimum
/// period at `now`: until the close of business of its last working day, like every period.
pub fn announcement_over(
    cal: &Calendar,
    announced: DateTime<Utc>,
    min_days: u32,
    now: DateTime<Utc>,
    close: NaiveTime,
) -> Dated<bool> {
    cal.period_end(announced, min_days, close)
        .map(|end| now >= end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::parse_year_file;
    use chrono::{NaiveDate, TimeZone};

    fn cal() -> Calendar {
        let files = ["2025", "2026"].map(|y| {
            let path = format!("{}/config/calendar/{y}.toml", env!("CARGO_MANIFEST_DIR"));
            parse_year_file(&std::fs::read_to_string(path).unwrap()).unwrap()
        });
        Calendar::from_year_files(files.into()).unwrap()
    }

    fn close() -> NaiveTime {
        NaiveTime::from_hms_opt(17, 0, 0).unwrap()
    }

    /// Beijing wall-clock time.
    fn bj(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_day_interrupted_before_the_close_of_business_is_not_used() {
        let c = cal();
        // Approved Mon 2 Mar 2026; 20 working days end Mon 30 Mar at 17:00.
        let start = bj(2026, 3, 2, 10, 0);
        let end = c.period_end(start, 20, close()).value;
        assert_eq!(end, bj(2026, 3, 30, 17, 0));
        // Suspended Wed 4 Mar at 10:00: only Tue 3 Mar was used; 19 days were left.
        let (used, left) = used_and_left(&c, start, end, bj(2026, 3, 4, 10, 0), close()).value;
        assert_eq!((used, left), (1, 19));
        // At 16:59 the day is still not over; at 17:00 it is.
        assert_eq!(
            used_and_left(&c, start, end, bj(2026, 3, 4, 16, 59), close()).value,
            (1, 19)
        );
        assert_eq!(
            used_and_left(&c, start, end, bj(2026, 3, 4, 17, 0), close()).value,
            (2, 18)
        );
    }

    #[test]
    fn resumption_gives_back_working_days_not_calendar_time() {
        let c = cal();
        let start = bj(2026, 3, 2, 10, 0);
        let end = c.period_end(start, 20, close()).value;
        let paused = bj(2026, 3, 4, 10, 0);
        // Resumed Fri 27 Mar 10:00; 19 working days left, the minimums (20 total, 10 after)
        // are already met: the end is the 19th working day after 27 Mar.
        let resumed = bj(2026, 3, 27, 10, 0);
        let new_end = resumed_end(&c, start, end, paused, resumed, close(), 20, 10).value;
        assert_eq!(new_end, c.period_end(resumed, 19, close()).value);
        // Qingming (4–6 Apr 2026) is skipped: 19 working days from 27 Mar end on Fri 24 Apr.
        assert_eq!(new_end, bj(2026, 4, 24, 17, 0));
        assert_eq!(days_after_resumption(15, 5, 20, 10), 10);
        assert_eq!(days_after_resumption(3, 5, 20, 10), 17);
        assert_eq!(days_after_resumption(1, 19, 20, 10), 19);
    }

    #[test]
    fn less_than_a_working_day_left_is_given_back_as_it_was() {
        let c = cal();
        // Both the pause and the end after the close of business of Thu 3 Dec 2026.
        let start = bj(2026, 12, 1, 9, 0);
        let end = bj(2026, 12, 3, 18, 30);
        let paused = bj(2026, 12, 3, 18, 0);
        assert_eq!(used_and_left(&c, start, end, paused, close()).value, (2, 0));
        let resumed = bj(2026, 12, 7, 10, 0);
        let new_end = resumed_end(&c, start, end, paused, resumed, close(), 0, 0).value;
        assert_eq!(new_end, resumed + chrono::Duration::minutes(30));
        // With the minimums, working days again.
        let new_end = resumed_end(&c, start, end, paused, resumed, close(), 20, 10).value;
        assert_eq!(new_end, c.period_end(resumed, 18, close()).value);
    }

    #[test]
    fn an_extension_adds_working_days_from_the_current_end() {
        let c = cal();
        // End Fri 13 Feb 2026, the eve of the Spring Festival (15–23 Feb) with a working
        // Saturday on 14 Feb: five working days are 14, 24, 25, 26, 27 Feb.
        let end = bj(2026, 2, 13, 17, 0);
        let e = extended_end(&c, end, 5, 5, 250, close()).unwrap().value;
        assert_eq!(e, bj(2026, 2, 27, 17, 0));
        assert_eq!(
            extended_end(&c, end, 4, 5, 250, close()).unwrap_err().code,
            "extension_too_short"
        );
        assert_eq!(
            extended_end(&c, end, 251, 5, 250, close())
                .unwrap_err()
                .code,
            "disclosure_too_long"
        );
    }

    #[test]
    fn a_material_notice_restarts_the_minimum_and_never_shortens() {
        let c = cal();
        let end = bj(2026, 3, 30, 17, 0);
        let notice = bj(2026, 3, 20, 11, 0);
        // 20 working days from Fri 20 Mar, over Qingming: Mon 20 Apr.
        assert_eq!(
            after_material_notice(&c, end, notice, 20, close()).value,
            bj(2026, 4, 20, 17, 0)
        );
        // A notice early in a long disclosure leaves the later end alone.
        let long = bj(2026, 6, 30, 17, 0);
        assert_eq!(
            after_material_notice(&c, long, notice, 20, close()).value,
            long
        );
    }

    #[test]
    fn an_announcement_is_over_at_the_close_of_its_fifth_working_day() {
        let c = cal();
        // Announced Mon 2 Mar 2026 at 10:00; the fifth working day is Mon 9 Mar.
        let announced = bj(2026, 3, 2, 10, 0);
        let over = |t| announcement_over(&c, announced, 5, t, close()).value;
        assert!(!over(bj(2026, 3, 9, 0, 0)));
        assert!(!over(bj(2026, 3, 9, 16, 59)));
        assert!(over(bj(2026, 3, 9, 17, 0)));
        assert!(over(bj(2026, 3, 10, 9, 0)));
        assert_eq!(
            Calendar::beijing_date(bj(2026, 3, 9, 17, 0)),
            NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()
        );
    }

    #[test]
    fn a_period_into_an_unpublished_year_says_so() {
        let c = cal();
        let end = bj(2026, 12, 28, 17, 0);
        let e = extended_end(&c, end, 5, 5, 250, close()).unwrap();
        assert_eq!(e.fallback_years, vec![2027]);
        assert!(e.fallback_warning().unwrap().contains("2027"));
    }
}
