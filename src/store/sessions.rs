//! Queries on logins (sessions) and their refresh tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::{NewRefreshToken, NewSession, RefreshToken, Session, to_db};
use super::schema::{refresh_tokens, sessions, users};
use crate::error::AppError;
use crate::with_conn;

pub fn insert_session(conn: &mut Conn, new: &NewSession) -> Result<Session, AppError> {
    let s = with_conn!(conn, c => diesel::insert_into(sessions::table)
        .values(new)
        .returning(Session::as_returning())
        .get_result(c))?;
    Ok(s)
}

pub fn insert_refresh_token(conn: &mut Conn, new: &NewRefreshToken) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::insert_into(refresh_tokens::table).values(new).execute(c))?;
    Ok(())
}

/// The refresh token with this hash and the session it belongs to.
pub fn find_refresh_token(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<(RefreshToken, Session)>, AppError> {
    let row = with_conn!(conn, c => refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((RefreshToken::as_select(), Session::as_select()))
        .first(c)
        .optional())?;
    Ok(row)
}

/// Marks a refresh token used, only if nobody else did first. Returns whether this call won.
pub fn mark_used(conn: &mut Conn, token_id: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::id.eq(token_id))
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(Some(to_db(now))))
        .execute(c))?;
    Ok(n == 1)
}

/// Revokes a login and with it every token of its family. Returns false if it already was.
pub fn revoke_session(
    conn: &mut Conn,
    session_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            sessions::table
                .filter(sessions::id.eq(session_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::revoked_at.eq(Some(to_db(now))),
            sessions::revoked_reason.eq(Some(reason)),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// Revokes every live login of a user but `keep` (if given). Returns how many ended.
pub fn revoke_all_of_user(
    conn: &mut Conn,
    user_id: i64,
    keep: Option<i64>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let keep = keep.unwrap_or(0);
    let n = with_conn!(conn, c => diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::id.ne(keep))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::revoked_at.eq(Some(to_db(now))),
            sessions::revoked_reason.eq(Some(reason)),
        ))
        .execute(c))?;
    Ok(n)
}

/// A live login's user: role, organisation and supervising body.
pub type LiveLogin = (String, Option<i64>, Option<i64>);

/// The role of the user behind a live session, or `None`: not revoked, begun after
/// `started_after` (the absolute lifetime of a login), of an account not disabled.
pub fn live_session_role(
    conn: &mut Conn,
    session_id: i64,
    user_id: i64,
    started_after: DateTime<Utc>,
) -> Result<Option<LiveLogin>, AppError> {
    let row = with_conn!(conn, c => sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::created_at.gt(to_db(started_after)))
        .filter(users::disabled_at.is_null())
        .select((users::role, users::organization_id, users::supervisory_body_id))
        .first(c)
        .optional())?;
    Ok(row)
}
