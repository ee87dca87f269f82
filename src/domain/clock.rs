//! Time as a dependency: the application passes a clock in, so rules and tests never read
//! the system time behind anyone's back. Instants are kept to the microsecond, which both
//! databases store exactly.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Offset, SubsecRound, Utc};

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

/// The sandbox clock (non-production only): a base clock moved forward by an offset that only
/// grows. The offset is persisted by the application (so every instance agrees); this type
/// only holds the latest value seen and never lets it go back.
pub struct SandboxClock {
    base: std::sync::Arc<dyn Clock>,
    offset_micros: AtomicI64,
}

impl SandboxClock {
    pub fn new(base: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            base,
            offset_micros: AtomicI64::new(0),
        }
    }

    /// Adopts `offset_micros` if it is ahead of the one in force (the clock never goes back).
    pub fn observe(&self, offset_micros: i64) {
        self.offset_micros
            .fetch_max(offset_micros.max(0), Ordering::SeqCst);
    }

    /// The clock this one moves forward.
    pub fn base(&self) -> &std::sync::Arc<dyn Clock> {
        &self.base
    }

    pub fn offset_micros(&self) -> i64 {
        self.offset_micros.load(Ordering::SeqCst)
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> DateTime<Utc> {
        self.base.now() + Duration::microseconds(self.offset_micros())
    }
}

/// China Standard Time (UTC+8, no daylight saving since 1991): the time people on the
/// exchange read.
pub fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).unwrap_or(chrono::Utc.fix()))
}

/// An instant as Beijing wall-clock time, to the minute, for messages to people.
pub fn format_beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_is_eight_hours_ahead() {
        use chrono::TimeZone;
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 16, 30, 0).unwrap();
        assert_eq!(format_beijing(t), "2026-11-28 00:30");
    }

    #[test]
    fn the_sandbox_clock_only_moves_forward() {
        let base = std::sync::Arc::new(OffsetClock::default());
        let clock = SandboxClock::new(base.clone());
        let start = clock.now();
        clock.observe(3_600_000_000);
        assert!(clock.now() - start >= Duration::hours(1));
        clock.observe(1_000_000); // an older offset read late changes nothing
        assert_eq!(clock.offset_micros(), 3_600_000_000);
        clock.observe(-5);
        assert_eq!(clock.offset_micros(), 3_600_000_000);
        base.advance(Duration::minutes(1));
        assert!(clock.now() - start >= Duration::minutes(61));
    }

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
