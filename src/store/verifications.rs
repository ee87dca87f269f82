//! E-mail verification tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::{from_db, to_db};
use super::schema::{email_verifications as v, users};
use crate::error::AppError;
use crate::with_conn;

/// Stores a new token hash, and retires the user's earlier unused tokens.
pub fn create(
    conn: &mut Conn,
    user_id: i64,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(v::table.filter(v::user_id.eq(user_id)).filter(v::used_at.is_null()))
        .set(v::expires_at.eq(to_db(now)))
        .execute(c))?;
    with_conn!(conn, c => diesel::insert_into(v::table)
        .values((
            v::user_id.eq(user_id),
            v::token_hash.eq(token_hash),
            v::created_at.eq(to_db(now)),
            v::expires_at.eq(to_db(expires_at)),
        ))
        .execute(c))?;
    Ok(())
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    Verified { user_id: i64 },
    Unknown,
    Expired,
    AlreadyUsed,
}

/// Redeems a token: marks it used and the user's address verified.
pub fn redeem(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> Result<Redeemed, AppError> {
    let row: Option<(
        i64,
        i64,
        chrono::NaiveDateTime,
        Option<chrono::NaiveDateTime>,
    )> = with_conn!(conn, c => v::table
        .filter(v::token_hash.eq(token_hash))
        .select((v::id, v::user_id, v::expires_at, v::used_at))
        .first(c)
        .optional())?;
    let Some((id, user_id, expires_at, used_at)) = row else {
        return Ok(Redeemed::Unknown);
    };
    if used_at.is_some() {
        return Ok(Redeemed::AlreadyUsed);
    }
    if from_db(expires_at) <= now {
        return Ok(Redeemed::Expired);
    }
    // Spent only if nobody spent it meanwhile: of two redemptions at once, the second waits
    // for the first's row lock, then finds the link used (the read above may not see it).
    let spent = with_conn!(conn, c => diesel::update(v::table.find(id).filter(v::used_at.is_null()))
        .set(v::used_at.eq(Some(to_db(now))))
        .execute(c))?;
    if spent == 0 {
        return Ok(Redeemed::AlreadyUsed);
    }
    with_conn!(conn, c => diesel::update(users::table.find(user_id))
        .set((users::email_verified_at.eq(Some(to_db(now))), users::updated_at.eq(to_db(now))))
        .execute(c))?;
    Ok(Redeemed::Verified { user_id })
}
