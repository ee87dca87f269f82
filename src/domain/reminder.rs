//! When a deadline deserves a reminder: once when it comes near, once when it has passed.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Within the warning period before the deadline.
    Near,
    /// At or after the deadline (up to `stale` after it; older ones are not worth a mail).
    Passed,
}

impl Moment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Near => "near",
            Self::Passed => "passed",
        }
    }
}

/// Which reminder a deadline `due` deserves at `now`, if any.
pub fn moment(
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    before: Duration,
    stale: Duration,
) -> Option<Moment> {
    if now >= due {
        (now - due < stale).then_some(Moment::Passed)
    } else if now >= due - before {
        Some(Moment::Near)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_deadline_is_near_within_the_warning_period_then_passed_for_a_while() {
        let due = Utc.with_ymd_and_hms(2026, 3, 4, 9, 0, 0).unwrap();
        let (h, w) = (Duration::hours(24), Duration::days(7));
        assert_eq!(moment(due, due - Duration::hours(25), h, w), None);
        assert_eq!(
            moment(due, due - Duration::hours(24), h, w),
            Some(Moment::Near)
        );
        assert_eq!(
            moment(due, due - Duration::seconds(1), h, w),
            Some(Moment::Near)
        );
        assert_eq!(moment(due, due, h, w), Some(Moment::Passed));
        assert_eq!(
            moment(due, due + Duration::days(6), h, w),
            Some(Moment::Passed)
        );
        assert_eq!(moment(due, due + Duration::days(7), h, w), None);
    }
}
