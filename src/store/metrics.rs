//! The queries behind the scrape-time gauges: mail outbox depth and age, and how far the
//! timed jobs are behind their oldest due item.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::Conn;
use super::models::{from_db, to_db};
use super::schema::{auctions as a, listings as l, notifications as n};
use crate::error::AppError;
use crate::with_conn;

/// (pending, failed, oldest pending created_at).
pub fn outbox(conn: &mut Conn) -> Result<(i64, i64, Option<DateTime<Utc>>), AppError> {
    let (pending, failed, oldest) = with_conn!(conn, c => {
        let pending: i64 = n::table.filter(n::status.eq("pending")).select(count_star()).first(c)?;
        let failed: i64 = n::table.filter(n::status.eq("failed")).select(count_star()).first(c)?;
        let oldest: Option<NaiveDateTime> = n::table
            .filter(n::status.eq("pending"))
            .select(min(n::created_at))
            .first(c)?;
        Ok::<_, diesel::result::Error>((pending, failed, oldest))
    })?;
    Ok((pending, failed, oldest.map(from_db)))
}

/// A timed job and the oldest instant at which it had work due (None: nothing due).
pub type JobDue = (&'static str, Option<DateTime<Utc>>);

/// The oldest due instant of each timed job that has work waiting at `now`.
pub fn oldest_due(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<JobDue>, AppError> {
    let t = to_db(now);
    let (disclosure, start, close) = with_conn!(conn, c => {
        let disclosure: Option<NaiveDateTime> = l::table
            .filter(l::status.eq("disclosure"))
            .filter(l::disclosure_decided_at.is_null())
            .filter(l::decision_due_at.le(t))
            .select(min(l::decision_due_at))
            .first(c)?;
        let start: Option<NaiveDateTime> = a::table
            .inner_join(l::table.on(l::id.eq(a::listing_id)))
            .filter(l::status.eq("auction_scheduled"))
            .filter(a::closed_at.is_null())
            .filter(a::starts_at.le(t))
            .select(min(a::starts_at))
            .first(c)?;
        let close: Option<NaiveDateTime> = a::table
            .inner_join(l::table.on(l::id.eq(a::listing_id)))
            .filter(l::status.eq_any(["auction_scheduled", "bidding"]))
            .filter(a::closed_at.is_null())
            .filter(a::ends_at.le(t))
            .select(min(a::ends_at))
            .first(c)?;
        Ok::<_, diesel::result::Error>((disclosure, start, close))
    })?;
    Ok(vec![
        ("disclosure_end", disclosure.map(from_db)),
        ("auction_start", start.map(from_db)),
        ("auction_close", close.map(from_db)),
    ])
}
