//! When to try a failed delivery again: exponential backoff with jitter, a cap on the delay,
//! and a point at which we give up.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub initial: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// Attempts in all before giving up.
    pub max_attempts: u32,
    /// Give up when the next attempt would be later than this after queueing.
    pub give_up_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

impl RetryPolicy {
    /// Decides after failed attempt number `attempts` (1-based). `jitter` in [0, 1) spreads
    /// retries of many messages over ±20 % of the delay so they do not all come back at once.
    pub fn after_failure(
        &self,
        attempts: u32,
        queued_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> RetryDecision {
        if attempts >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let exp = attempts.saturating_sub(1).min(30);
        let base_ms = self.initial.num_milliseconds().saturating_mul(1_i64 << exp);
        let capped = base_ms.min(self.max_delay.num_milliseconds()).max(0);
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let delay = Duration::milliseconds((capped as f64 * factor) as i64);
        let next = now + delay;
        if next > queued_at + self.give_up_after {
            RetryDecision::GiveUp
        } else {
            RetryDecision::RetryAt(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::seconds(60),
            max_delay: Duration::hours(6),
            max_attempts: 12,
            give_up_after: Duration::hours(24),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap()
    }

    #[test]
    fn delays_double_from_the_initial_one() {
        let p = policy();
        let at = |n| match p.after_failure(n, t0(), t0(), 0.5) {
            RetryDecision::RetryAt(t) => (t - t0()).num_seconds(),
            RetryDecision::GiveUp => -1,
        };
        assert_eq!((at(1), at(2), at(3), at(4)), (60, 120, 240, 480));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = policy();
        for (jitter, secs) in [(0.0, 48), (0.999_999, 71)] {
            match p.after_failure(1, t0(), t0(), jitter) {
                RetryDecision::RetryAt(t) => assert_eq!((t - t0()).num_seconds(), secs),
                RetryDecision::GiveUp => panic!("gave up"),
            }
        }
    }

    #[test]
    fn delay_is_capped() {
        let p = policy();
        match p.after_failure(11, t0(), t0(), 0.5) {
            RetryDecision::RetryAt(t) => assert_eq!(t - t0(), Duration::hours(6)),
            RetryDecision::GiveUp => panic!("gave up"),
        }
    }

    #[test]
    fn gives_up_after_the_last_attempt_or_the_deadline() {
        let p = policy();
        assert_eq!(p.after_failure(12, t0(), t0(), 0.5), RetryDecision::GiveUp);
        // The eighth delay is 2 h 8 min: from 23 h after queueing that is past the day.
        let late = t0() + Duration::hours(23);
        assert_eq!(p.after_failure(8, t0(), late, 0.5), RetryDecision::GiveUp);
        assert!(matches!(
            p.after_failure(3, t0(), late, 0.5),
            RetryDecision::RetryAt(_)
        ));
    }
}
