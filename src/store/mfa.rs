//! Queries on two-factor authentication: a user's TOTP secret (pending or confirmed) and the
//! last step a code was accepted for, recovery codes (hashes), and login challenges (hashes).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::{from_db, to_db};
use super::schema::{mfa_challenges as ch, mfa_recovery_codes as rc, user_mfa as m};
use crate::error::AppError;
use crate::with_conn;

/// A user's TOTP enrolment.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = m)]
pub struct UserMfa {
    pub user_id: i64,
    pub secret: String,
    pub confirmed_at: Option<chrono::NaiveDateTime>,
    pub last_step: Option<i64>,
}

impl UserMfa {
    /// Whether MFA is on (the enrolment was confirmed with a code).
    pub fn is_on(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

/// The user's enrolment, if any.
pub fn find(conn: &mut Conn, user_id: i64) -> Result<Option<UserMfa>, AppError> {
    let row = with_conn!(conn, c => m::table
        .find(user_id)
        .select(UserMfa::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Whether the user has confirmed MFA.
pub fn is_on(conn: &mut Conn, user_id: i64) -> Result<bool, AppError> {
    Ok(find(conn, user_id)?.is_some_and(|r| r.is_on()))
}

/// Stores a new pending secret, replacing a pending one. Returns false (and changes nothing)
/// when MFA is already on.
pub fn put_pending(
    conn: &mut Conn,
    user_id: i64,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let replaced = with_conn!(conn, c => diesel::update(
            m::table.filter(m::user_id.eq(user_id)).filter(m::confirmed_at.is_null()),
        )
        .set((m::secret.eq(secret), m::last_step.eq(None::<i64>), m::updated_at.eq(to_db(now))))
        .execute(c))?;
    if replaced == 1 {
        return Ok(true);
    }
    if find(conn, user_id)?.is_some() {
        return Ok(false);
    }
    with_conn!(conn, c => diesel::insert_into(m::table)
        .values((
            m::user_id.eq(user_id),
            m::secret.eq(secret),
            m::created_at.eq(to_db(now)),
            m::updated_at.eq(to_db(now)),
        ))
        .execute(c))?;
    Ok(true)
}

/// Turns a pending enrolment on, remembering the step of the code that confirmed it. Returns
/// whether this call did it.
pub fn confirm(
    conn: &mut Conn,
    user_id: i64,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            m::table.filter(m::user_id.eq(user_id)).filter(m::confirmed_at.is_null()),
        )
        .set((
            m::confirmed_at.eq(Some(to_db(now))),
            m::last_step.eq(Some(step)),
            m::updated_at.eq(to_db(now)),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// Records the step a code was accepted for, only if it is later than the last one. Returns
/// whether it was (a concurrent use of the same code loses here).
pub fn advance_step(
    conn: &mut Conn,
    user_id: i64,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            m::table
                .filter(m::user_id.eq(user_id))
                .filter(m::last_step.is_null().or(m::last_step.lt(step))),
        )
        .set((m::last_step.eq(Some(step)), m::updated_at.eq(to_db(now))))
        .execute(c))?;
    Ok(n == 1)
}

/// Replaces every recovery code of the user with these hashes.
pub fn replace_recovery_codes(
    conn: &mut Conn,
    user_id: i64,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::delete(rc::table.filter(rc::user_id.eq(user_id))).execute(c))?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|h| {
            (
                rc::user_id.eq(user_id),
                rc::code_hash.eq(h.as_str()),
                rc::created_at.eq(to_db(now)),
            )
        })
        .collect();
    with_conn!(conn, c => diesel::insert_into(rc::table).values(&rows).execute(c))?;
    Ok(())
}

/// Uses up an unused recovery code of the user with this hash. Returns whether one was.
pub fn use_recovery_code(
    conn: &mut Conn,
    user_id: i64,
    code_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            rc::table
                .filter(rc::user_id.eq(user_id))
                .filter(rc::code_hash.eq(code_hash))
                .filter(rc::used_at.is_null()),
        )
        .set(rc::used_at.eq(Some(to_db(now))))
        .execute(c))?;
    Ok(n >= 1)
}

/// How many recovery codes of the user are still unused.
pub fn recovery_codes_left(conn: &mut Conn, user_id: i64) -> Result<i64, AppError> {
    let n = with_conn!(conn, c => rc::table
        .filter(rc::user_id.eq(user_id))
        .filter(rc::used_at.is_null())
        .count()
        .get_result(c))?;
    Ok(n)
}

/// Stores a login challenge (its token's hash). Returns its id.
pub fn create_challenge(
    conn: &mut Conn,
    user_id: i64,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<i64, AppError> {
    let id = with_conn!(conn, c => diesel::insert_into(ch::table)
        .values((
            ch::user_id.eq(user_id),
            ch::token_hash.eq(token_hash),
            ch::created_at.eq(to_db(now)),
            ch::expires_at.eq(to_db(expires_at)),
        ))
        .returning(ch::id)
        .get_result(c))?;
    Ok(id)
}

/// A live challenge: unused and not expired.
#[derive(Debug, Clone, Copy)]
pub struct Challenge {
    pub id: i64,
    pub user_id: i64,
}

/// The live challenge with this token hash, if any.
pub fn live_challenge(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>, AppError> {
    let row: Option<(i64, i64, chrono::NaiveDateTime)> = with_conn!(conn, c => ch::table
        .filter(ch::token_hash.eq(token_hash))
        .filter(ch::used_at.is_null())
        .select((ch::id, ch::user_id, ch::expires_at))
        .first(c)
        .optional())?;
    Ok(row
        .filter(|(_, _, expires)| from_db(*expires) > now)
        .map(|(id, user_id, _)| Challenge { id, user_id }))
}

/// Uses a challenge up. Returns whether this call did (two requests with one token: one wins).
pub fn use_challenge(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            ch::table.filter(ch::id.eq(id)).filter(ch::used_at.is_null()),
        )
        .set(ch::used_at.eq(Some(to_db(now))))
        .execute(c))?;
    Ok(n == 1)
}

/// Removes the user's enrolment, pending or confirmed, and its recovery codes. Returns
/// whether there was one.
pub fn remove(conn: &mut Conn, user_id: i64) -> Result<bool, AppError> {
    with_conn!(conn, c => diesel::delete(rc::table.filter(rc::user_id.eq(user_id))).execute(c))?;
    let n = with_conn!(conn, c => diesel::delete(m::table.find(user_id)).execute(c))?;
    Ok(n == 1)
}

/// Ends every live challenge of the user (when the account locks).
pub fn end_challenges(conn: &mut Conn, user_id: i64, now: DateTime<Utc>) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(
            ch::table.filter(ch::user_id.eq(user_id)).filter(ch::used_at.is_null()),
        )
        .set(ch::used_at.eq(Some(to_db(now))))
        .execute(c))?;
    Ok(())
}
