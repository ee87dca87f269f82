//! The sandbox clock's persisted offset (one row; non-production only).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::sandbox_clock as sc;
use crate::error::AppError;
use crate::with_conn;

/// The offset in force, in microseconds (0 before the first advance).
pub fn offset(conn: &mut Conn) -> Result<i64, AppError> {
    let v: Option<i64> = with_conn!(conn, c => sc::table
        .find(1)
        .select(sc::offset_micros)
        .first(c)
        .optional())?;
    Ok(v.unwrap_or(0))
}

/// Adds `micros` to the offset (creating the row on first use); returns the new offset.
/// Concurrent advances add up: the row is updated in place under its lock.
pub fn add(conn: &mut Conn, micros: i64, now: DateTime<Utc>) -> Result<i64, AppError> {
    let v: i64 = with_conn!(conn, c => diesel::insert_into(sc::table)
        .values((sc::id.eq(1), sc::offset_micros.eq(micros), sc::updated_at.eq(to_db(now))))
        .on_conflict(sc::id)
        .do_update()
        .set((
            sc::offset_micros.eq(sc::offset_micros + micros),
            sc::updated_at.eq(to_db(now)),
        ))
        .returning(sc::offset_micros)
        .get_result(c))?;
    Ok(v)
}
