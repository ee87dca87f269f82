//! Time as a dependency: the application passes a clock in, so rules and tests never read
//! the system time behind anyone's back. Instants are kept to the microsecond, which both
//! databases store exactly.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, SubsecRound, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The real clock shifted by an adjustable offset: lets tests jump past a lockout or a
/// deadline without sleeping.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_micros: AtomicI64,
}

impl OffsetClock {
    pub fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + Duration::microseconds(self.offset_micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_moves_forward_by_what_it_is_told() {
        let clock = OffsetClock::default();
        let before = clock.now();
        clock.advance(Duration::minutes(16));
        let after = clock.now();
        assert!(after - before >= Duration::minutes(16));
        assert!(after - before < Duration::minutes(17));
        assert_eq!(after.timestamp_subsec_nanos() % 1000, 0);
    }
}
