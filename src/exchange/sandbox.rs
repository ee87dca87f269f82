//! The sandbox clock (non-production only): an admin moves the exchange's clock forward, so a
//! listing can be walked through weeks of working days in seconds. The offset only grows and
//! is kept in the database, so every instance agrees; each instance adopts the stored value
//! at start-up, after its own advances, and on every scheduler tick.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::Clock;
use crate::domain::clock::SandboxClock;
use crate::error::AppError;
use crate::store::{Conn, sandbox as store};

/// The longest single advance: ten years (keeps instants far from chrono's limits).
pub const MAX_ADVANCE_SECONDS: u64 = 10 * 366 * 24 * 3600;

/// Moves the clock forward by `seconds` (inside the caller's transaction, with its audit
/// event). Returns the new offset; the caller hands it to the clock once the transaction has
/// committed.
pub fn advance(
    conn: &mut Conn,
    clock: &SandboxClock,
    seconds: u64,
    actor: Actor,
    meta: &RequestMeta,
) -> Result<(i64, DateTime<Utc>), AppError> {
    if seconds == 0 || seconds > MAX_ADVANCE_SECONDS {
        return Err(AppError::field(
            "advance_seconds",
            format!("must be between 1 and {MAX_ADVANCE_SECONDS}"),
        ));
    }
    let by = Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
    let micros = by.num_microseconds().unwrap_or(i64::MAX);
    let before = clock.now();
    let offset = store::add(conn, micros, before)?;
    // The exchange's time once this commits: the base clock plus the new offset.
    let now = before - Duration::microseconds(clock.offset_micros())
        + Duration::microseconds(offset.max(clock.offset_micros()));
    audit::record(
        conn,
        now,
        Event {
            stream: "system".into(),
            action: "sandbox.clock_advanced",
            actor,
            payload: json!({
                "advance_seconds": seconds, "offset_seconds": offset / 1_000_000,
                "from": audit::chain::format_time(before), "to": audit::chain::format_time(now),
            }),
            meta,
        },
    )?;
    Ok((offset, now))
}

/// The stored offset, to adopt.
pub fn stored_offset(conn: &mut Conn) -> Result<i64, AppError> {
    store::offset(conn)
}
