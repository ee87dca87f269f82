//! Queries on organisations and users.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::{NewOrganization, NewUser, Organization, User, to_db};
use super::schema::{organizations, users};
use crate::error::AppError;
use crate::with_conn;

pub fn insert_organization(
    conn: &mut Conn,
    new: &NewOrganization,
) -> Result<Organization, AppError> {
    let org = with_conn!(conn, c => diesel::insert_into(organizations::table)
        .values(new)
        .returning(Organization::as_returning())
        .get_result(c))?;
    Ok(org)
}

pub fn insert_user(conn: &mut Conn, new: &NewUser) -> Result<User, AppError> {
    let user = with_conn!(conn, c => diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(c))?;
    Ok(user)
}

pub fn find_by_email(conn: &mut Conn, email: &str) -> Result<Option<User>, AppError> {
    let user = with_conn!(conn, c => users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(c)
        .optional())?;
    Ok(user)
}

/// The user, locked in this transaction (PostgreSQL FOR NO KEY UPDATE: parallel logins of one
/// user queue, while inserts that merely reference the user, such as its mails, do not wait
/// and cannot deadlock with a login that then writes its audit event; SQLite's write
/// transaction holds the whole database). Decisions on the lockout read this copy.
pub fn find_for_update(conn: &mut Conn, user_id: i64) -> Result<Option<User>, AppError> {
    let user = match conn {
        Conn::Pg(c) => users::table
            .find(user_id)
            .select(User::as_select())
            .for_no_key_update()
            .first(*c)
            .optional()?,
        Conn::Sqlite(c) => users::table
            .find(user_id)
            .select(User::as_select())
            .first(*c)
            .optional()?,
    };
    Ok(user)
}

pub fn email_taken(conn: &mut Conn, email: &str) -> Result<bool, AppError> {
    Ok(find_by_email(conn, email)?.is_some())
}

/// The organisation registered with this credit code, if any.
pub fn organization_by_credit_code(
    conn: &mut Conn,
    code: &str,
) -> Result<Option<Organization>, AppError> {
    let org = with_conn!(conn, c => organizations::table
        .filter(organizations::credit_code.eq(code))
        .select(Organization::as_select())
        .first(c)
        .optional())?;
    Ok(org)
}

/// A user and their organisation, if any.
pub fn find_with_org(
    conn: &mut Conn,
    user_id: i64,
) -> Result<Option<(User, Option<Organization>)>, AppError> {
    let row = with_conn!(conn, c => users::table
        .left_join(organizations::table)
        .filter(users::id.eq(user_id))
        .select((User::as_select(), Option::<Organization>::as_select()))
        .first(c)
        .optional())?;
    Ok(row)
}

/// Counts one failed login; returns the new count (atomic with concurrent failures).
pub fn count_failed_login(
    conn: &mut Conn,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<i32, AppError> {
    let count = with_conn!(conn, c => diesel::update(users::table.find(user_id))
        .set((
            users::failed_logins.eq(users::failed_logins + 1),
            users::updated_at.eq(to_db(now)),
        ))
        .returning(users::failed_logins)
        .get_result(c))?;
    Ok(count)
}

/// Locks the account until `until` and starts counting afresh.
pub fn lock(
    conn: &mut Conn,
    user_id: i64,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(users::table.find(user_id))
        .set((
            users::locked_until.eq(Some(to_db(until))),
            users::failed_logins.eq(0),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(c))?;
    Ok(())
}

/// Clears the failure count and any expired lock after a successful login.
pub fn clear_failures(conn: &mut Conn, user_id: i64, now: DateTime<Utc>) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(users::table.find(user_id))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<chrono::NaiveDateTime>),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(c))?;
    Ok(())
}

/// Every user of an organisation.
pub fn of_organization(conn: &mut Conn, organization_id: i64) -> Result<Vec<User>, AppError> {
    let rows = with_conn!(conn, c => users::table
        .filter(users::organization_id.eq(organization_id))
        .order(users::id.asc())
        .select(User::as_select())
        .load(c))?;
    Ok(rows)
}

/// Every user with a role.
pub fn with_role(conn: &mut Conn, role: &str) -> Result<Vec<User>, AppError> {
    let rows = with_conn!(conn, c => users::table
        .filter(users::role.eq(role))
        .order(users::id.asc())
        .select(User::as_select())
        .load(c))?;
    Ok(rows)
}

/// Sets a new password hash; clears failed logins and any lock.
pub fn set_password(
    conn: &mut Conn,
    user_id: i64,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(password_hash),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<chrono::NaiveDateTime>),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(c))?;
    Ok(())
}

/// Disables (`Some(now)`) or enables (`None`) an account. Returns whether it changed.
pub fn set_disabled(
    conn: &mut Conn,
    user_id: i64,
    disabled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let target = users::table.filter(users::id.eq(user_id));
    let n = match disabled_at {
        Some(at) => {
            with_conn!(conn, c => diesel::update(target.filter(users::disabled_at.is_null()))
            .set((users::disabled_at.eq(Some(to_db(at))), users::updated_at.eq(to_db(now))))
            .execute(c))?
        }
        None => {
            with_conn!(conn, c => diesel::update(target.filter(users::disabled_at.is_not_null()))
            .set((
                users::disabled_at.eq(None::<chrono::NaiveDateTime>),
                users::updated_at.eq(to_db(now)),
            ))
            .execute(c))?
        }
    };
    Ok(n == 1)
}
