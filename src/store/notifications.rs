//! The mail outbox table: queueing, claiming with a lease, and recording outcomes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::notifications as n;
use crate::error::AppError;
use crate::with_conn;

pub struct NewNotification<'a> {
    pub user_id: Option<i64>,
    pub to_address: &'a str,
    pub kind: &'a str,
    pub locale: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub message_id: &'a str,
    /// 0 urgent, 1 bulk: due messages are claimed by (priority, id).
    pub priority: i16,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = n)]
pub struct Notification {
    pub id: i64,
    pub user_id: Option<i64>,
    pub to_address: String,
    pub kind: String,
    pub locale: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub message_id: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: chrono::NaiveDateTime,
    pub claimed_until: Option<chrono::NaiveDateTime>,
    pub claim_token: Option<String>,
    pub last_error: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub sent_at: Option<chrono::NaiveDateTime>,
}

pub fn insert(conn: &mut Conn, m: &NewNotification) -> Result<i64, AppError> {
    let id = with_conn!(conn, c => diesel::insert_into(n::table)
        .values((
            n::user_id.eq(m.user_id),
            n::to_address.eq(m.to_address),
            n::kind.eq(m.kind),
            n::locale.eq(m.locale),
            n::subject.eq(m.subject),
            n::body_text.eq(m.body_text),
            n::body_html.eq(m.body_html),
            n::message_id.eq(m.message_id),
            n::priority.eq(m.priority),
            n::status.eq("pending"),
            n::next_attempt_at.eq(to_db(m.now)),
            n::created_at.eq(to_db(m.now)),
        ))
        .returning(n::id)
        .get_result(c))?;
    Ok(id)
}

/// How many messages of `kinds` were queued for `user_id` since `since`.
pub fn count_for_user_since(
    conn: &mut Conn,
    user_id: i64,
    kinds: &[&str],
    since: DateTime<Utc>,
) -> Result<i64, AppError> {
    let n = with_conn!(conn, c => n::table
        .filter(n::user_id.eq(user_id))
        .filter(n::kind.eq_any(kinds))
        .filter(n::created_at.ge(to_db(since)))
        .count()
        .get_result(c))?;
    Ok(n)
}

/// How many messages of `kinds` were queued to `address` since `since`, whoever asked.
pub fn count_to_address_since(
    conn: &mut Conn,
    address: &str,
    kinds: &[&str],
    since: DateTime<Utc>,
) -> Result<i64, AppError> {
    let n = with_conn!(conn, c => n::table
        .filter(n::to_address.eq(address))
        .filter(n::kind.eq_any(kinds))
        .filter(n::created_at.ge(to_db(since)))
        .count()
        .get_result(c))?;
    Ok(n)
}

/// Claims up to `limit` due messages for `lease` under `token`, counting the attempt.
/// PostgreSQL skips rows other workers hold (`FOR UPDATE SKIP LOCKED`); SQLite's write
/// transaction makes this the only claimer at a time. Run inside a transaction.
pub fn claim(
    conn: &mut Conn,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    token: &str,
    limit: i64,
) -> Result<Vec<Notification>, AppError> {
    let due = n::status
        .eq("pending")
        .and(n::next_attempt_at.le(to_db(now)))
        .and(
            n::claimed_until
                .is_null()
                .or(n::claimed_until.lt(to_db(now))),
        );
    let ids: Vec<i64> = match conn {
        Conn::Pg(c) => n::table
            .filter(due)
            .order((n::priority.asc(), n::id.asc()))
            .limit(limit)
            .select(n::id)
            .for_update()
            .skip_locked()
            .load(*c)?,
        Conn::Sqlite(c) => n::table
            .filter(due)
            .order((n::priority.asc(), n::id.asc()))
            .limit(limit)
            .select(n::id)
            .load(*c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = with_conn!(conn, c => diesel::update(n::table.filter(n::id.eq_any(&ids)))
        .set((
            n::claimed_until.eq(Some(to_db(lease_until))),
            n::claim_token.eq(Some(token)),
            n::attempts.eq(n::attempts + 1),
        ))
        .returning(Notification::as_returning())
        .get_results(c))?;
    Ok(rows)
}

/// Marks a claimed message sent; false if the claim was lost (lease expired and taken).
pub fn mark_sent(
    conn: &mut Conn,
    id: i64,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let changed = with_conn!(conn, c => diesel::update(n::table.filter(n::id.eq(id)).filter(n::claim_token.eq(token)))
        .set((
            n::status.eq("sent"),
            n::sent_at.eq(Some(to_db(now))),
            n::claimed_until.eq(None::<chrono::NaiveDateTime>),
            n::last_error.eq(None::<String>),
        ))
        .execute(c))?;
    Ok(changed == 1)
}

/// Records a failed attempt: due again at `retry_at`, or given up (`failed`) when `None`.
pub fn mark_failed_attempt(
    conn: &mut Conn,
    id: i64,
    token: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool, AppError> {
    let status = if retry_at.is_some() {
        "pending"
    } else {
        "failed"
    };
    let changed = with_conn!(conn, c => {
        let q = diesel::update(n::table.filter(n::id.eq(id)).filter(n::claim_token.eq(token)));
        match retry_at {
            Some(at) => q
                .set((
                    n::status.eq(status),
                    n::last_error.eq(Some(error)),
                    n::claimed_until.eq(None::<chrono::NaiveDateTime>),
                    n::next_attempt_at.eq(to_db(at)),
                ))
                .execute(c),
            None => q
                .set((
                    n::status.eq(status),
                    n::last_error.eq(Some(error)),
                    n::claimed_until.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(c),
        }
    })?;
    Ok(changed == 1)
}

/// A page of one user's messages, newest first, and the total.
pub fn for_user(
    conn: &mut Conn,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Notification>, i64), AppError> {
    let (rows, total) = with_conn!(conn, c => {
        let total: i64 = n::table.filter(n::user_id.eq(user_id)).count().get_result(c)?;
        let rows = n::table
            .filter(n::user_id.eq(user_id))
            .order(n::id.desc())
            .offset(offset)
            .limit(limit)
            .select(Notification::as_select())
            .load(c)?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// A page of messages in one status, newest first, and the total.
pub fn by_status(
    conn: &mut Conn,
    status: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Notification>, i64), AppError> {
    let status = status.to_string();
    let (rows, total) = with_conn!(conn, c => {
        let total: i64 = n::table.filter(n::status.eq(&status)).count().get_result(c)?;
        let rows = n::table
            .filter(n::status.eq(&status))
            .order(n::id.desc())
            .offset(offset)
            .limit(limit)
            .select(Notification::as_select())
            .load(c)?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok((rows, total))
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<Notification>, AppError> {
    let row = with_conn!(conn, c => n::table.find(id).select(Notification::as_select()).first(c).optional())?;
    Ok(row)
}

/// Puts a failed message back in the queue, due now, with a fresh count of attempts.
pub fn requeue(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<bool, AppError> {
    let changed = with_conn!(conn, c => diesel::update(n::table.filter(n::id.eq(id)).filter(n::status.eq("failed")))
        .set((
            n::status.eq("pending"),
            n::attempts.eq(0),
            n::next_attempt_at.eq(to_db(now)),
            n::created_at.eq(to_db(now)),
            n::claimed_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(c))?;
    Ok(changed == 1)
}
