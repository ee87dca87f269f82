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

/// The login a request's access token names, to be checked against the database: its
/// session, its user, and the earliest start a login may have and still be live.
#[derive(Debug, Clone, Copy)]
pub struct Login {
    pub session_id: i64,
    pub user_id: i64,
    pub started_after: DateTime<Utc>,
}

/// The condition on `sessions` joined with `users` that a live login meets.
pub(super) type IsLive = diesel::dsl::And<
    diesel::dsl::And<
        diesel::dsl::And<
            diesel::dsl::And<
                diesel::dsl::Eq<sessions::id, i64>,
                diesel::dsl::Eq<sessions::user_id, i64>,
            >,
            diesel::dsl::IsNull<sessions::revoked_at>,
        >,
        diesel::dsl::Gt<sessions::created_at, chrono::NaiveDateTime>,
    >,
    diesel::dsl::IsNull<users::disabled_at>,
>;

impl Login {
    /// Not revoked, begun after `started_after` (the absolute lifetime of a login), of an
    /// account not disabled.
    pub(super) fn is_live(&self) -> IsLive {
        sessions::id
            .eq(self.session_id)
            .and(sessions::user_id.eq(self.user_id))
            .and(sessions::revoked_at.is_null())
            .and(sessions::created_at.gt(to_db(self.started_after)))
            .and(users::disabled_at.is_null())
    }
}

/// The role of the user behind a live session (see [`Login::is_live`]), or `None`.
pub fn live_session_role(conn: &mut Conn, login: Login) -> Result<Option<LiveLogin>, AppError> {
    let row = with_conn!(conn, c => sessions::table
        .inner_join(users::table)
        .filter(login.is_live())
        .select((users::role, users::organization_id, users::supervisory_body_id))
        .first(c)
        .optional())?;
    Ok(row)
}
