//! Password-reset tokens: stored as hashes, single use, short-lived.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::{User, from_db, to_db};
use super::schema::{password_resets as r, users};
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
    retire_all(conn, user_id, now)?;
    with_conn!(conn, c => diesel::insert_into(r::table)
        .values((
            r::user_id.eq(user_id),
            r::token_hash.eq(token_hash),
            r::created_at.eq(to_db(now)),
            r::expires_at.eq(to_db(expires_at)),
        ))
        .execute(c))?;
    Ok(())
}

/// Makes every unused token of the user expire now.
pub fn retire_all(conn: &mut Conn, user_id: i64, now: DateTime<Utc>) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(
            r::table
                .filter(r::user_id.eq(user_id))
                .filter(r::used_at.is_null())
                .filter(r::expires_at.gt(to_db(now))),
        )
        .set(r::expires_at.eq(to_db(now)))
        .execute(c))?;
    Ok(())
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// Valid, and now used: it will not work again.
    Valid {
        user_id: i64,
    },
    Unknown,
    Expired,
    AlreadyUsed,
}

/// Uses a token up, if it is valid. Two requests with one token: only one wins.
pub fn redeem(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> Result<Redeemed, AppError> {
    let row: Option<(
        i64,
        i64,
        chrono::NaiveDateTime,
        Option<chrono::NaiveDateTime>,
    )> = with_conn!(conn, c => r::table
            .filter(r::token_hash.eq(token_hash))
            .select((r::id, r::user_id, r::expires_at, r::used_at))
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
    let won = with_conn!(conn, c => diesel::update(
            r::table.filter(r::id.eq(id)).filter(r::used_at.is_null()),
        )
        .set(r::used_at.eq(Some(to_db(now))))
        .execute(c))?;
    Ok(if won == 1 {
        Redeemed::Valid { user_id }
    } else {
        Redeemed::AlreadyUsed
    })
}

/// The account a token (valid or not) was made for.
pub fn owner(conn: &mut Conn, token_hash: &str) -> Result<Option<User>, AppError> {
    let user = with_conn!(conn, c => r::table
        .inner_join(users::table)
        .filter(r::token_hash.eq(token_hash))
        .select(User::as_select())
        .first(c)
        .optional())?;
    Ok(user)
}
