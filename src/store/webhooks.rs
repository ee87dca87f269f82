//! Webhooks to the supervision platform: registrations, their subscriptions, and the delivery
//! outbox (`webhook_deliveries`). The outbox rows are written by the database's fan-out trigger
//! on `audit_events` (see the `webhooks` migration); here they are claimed under a lease, one
//! per stream at a time, and their outcome recorded.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::Conn;
use super::models::to_db;
use super::schema::audit_events as ev;
use crate::error::AppError;
use crate::with_conn;

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        secret -> Text,
        events -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        match_kind -> Text,
        action -> Text,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        audit_event_id -> BigInt,
        stream -> Text,
        listing_id -> Nullable<BigInt>,
        body -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        claim_token -> Nullable<Text>,
        last_error -> Nullable<Text>,
        last_status -> Nullable<Integer>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

use webhook_deliveries as d;
use webhook_subscriptions as s;
use webhooks as w;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = w)]
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub events: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub audit_event_id: i64,
    pub stream: String,
    pub listing_id: Option<i64>,
    pub body: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub claim_token: Option<String>,
    pub last_error: Option<String>,
    pub last_status: Option<i32>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// Stores a webhook and its subscriptions (`(match_kind, action)`).
pub fn insert(
    conn: &mut Conn,
    url: &str,
    secret: &str,
    events_json: &str,
    subscriptions: &[(&str, &str)],
    now: DateTime<Utc>,
) -> Result<WebhookRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(w::table)
        .values((
            w::url.eq(url),
            w::secret.eq(secret),
            w::events.eq(events_json),
            w::status.eq("active"),
            w::created_at.eq(to_db(now)),
            w::updated_at.eq(to_db(now)),
        ))
        .returning(WebhookRow::as_returning())
        .get_result(c))?;
    for (kind, action) in subscriptions {
        with_conn!(conn, c => diesel::insert_into(s::table)
            .values((s::webhook_id.eq(row.id), s::match_kind.eq(*kind), s::action.eq(*action)))
            .execute(c))?;
    }
    Ok(row)
}

pub fn all(conn: &mut Conn) -> Result<Vec<WebhookRow>, AppError> {
    let rows = with_conn!(conn, c => w::table
        .order(w::id.asc())
        .select(WebhookRow::as_select())
        .load(c))?;
    Ok(rows)
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<WebhookRow>, AppError> {
    let row = with_conn!(conn, c => w::table
        .filter(w::id.eq(id))
        .select(WebhookRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Webhooks by id (the claimed deliveries' targets).
pub fn by_ids(conn: &mut Conn, ids: &[i64]) -> Result<Vec<WebhookRow>, AppError> {
    let rows = with_conn!(conn, c => w::table
        .filter(w::id.eq_any(ids))
        .select(WebhookRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Sets `active` or `paused`.
pub fn set_status(
    conn: &mut Conn,
    id: i64,
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(w::table.filter(w::id.eq(id)))
        .set((w::status.eq(status), w::updated_at.eq(to_db(now))))
        .execute(c))?;
    Ok(())
}

pub fn set_secret(
    conn: &mut Conn,
    id: i64,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(w::table.filter(w::id.eq(id)))
        .set((w::secret.eq(secret), w::updated_at.eq(to_db(now))))
        .execute(c))?;
    Ok(())
}

/// A page of a webhook's deliveries, newest first, and how many there are.
pub fn deliveries(
    conn: &mut Conn,
    webhook_id: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Delivery>, i64), AppError> {
    let rows = with_conn!(conn, c => d::table
        .filter(d::webhook_id.eq(webhook_id))
        .order(d::id.desc())
        .offset(offset)
        .limit(limit)
        .select(Delivery::as_select())
        .load(c))?;
    let total = with_conn!(conn, c => d::table
        .filter(d::webhook_id.eq(webhook_id))
        .count()
        .get_result(c))?;
    Ok((rows, total))
}

pub fn find_delivery(
    conn: &mut Conn,
    webhook_id: i64,
    id: i64,
) -> Result<Option<Delivery>, AppError> {
    let row = with_conn!(conn, c => d::table
        .filter(d::id.eq(id))
        .filter(d::webhook_id.eq(webhook_id))
        .select(Delivery::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Makes a delivery due now with a fresh count of attempts (its body is kept).
pub fn requeue(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<Delivery, AppError> {
    let row = with_conn!(conn, c => diesel::update(d::table.filter(d::id.eq(id)))
        .set((
            d::status.eq("pending"),
            d::attempts.eq(0),
            d::next_attempt_at.eq(to_db(now)),
            d::claimed_until.eq(None::<NaiveDateTime>),
            d::claim_token.eq(None::<String>),
        ))
        .returning(Delivery::as_returning())
        .get_result(c))?;
    Ok(row)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

const DUE: &str = "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
    WHERE d.status = 'pending' AND w.status = 'active' AND d.next_attempt_at <= $1 \
    AND (d.claimed_until IS NULL OR d.claimed_until < $1) \
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
        AND e.stream = d.stream AND e.audit_event_id < d.audit_event_id AND e.status <> 'delivered') \
    ORDER BY d.id LIMIT $2";

/// Claims up to `limit` due deliveries for `lease_until` under `token`, counting the attempt.
/// A delivery is due only when every earlier one of its webhook and stream is delivered, so
/// a stream (a listing) has at most one delivery in flight and they leave in order; a failed
/// one holds the rest of its stream back until it is requeued. PostgreSQL skips rows other
/// workers hold; SQLite's write transaction makes this the only claimer. Run in a transaction.
pub fn claim(
    conn: &mut Conn,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    token: &str,
    limit: i64,
) -> Result<Vec<Delivery>, AppError> {
    let ids: Vec<Id> = match conn {
        Conn::Pg(c) => diesel::sql_query(format!("{DUE} FOR UPDATE OF d SKIP LOCKED"))
            .bind::<Timestamp, _>(to_db(now))
            .bind::<BigInt, _>(limit)
            .load(*c)?,
        Conn::Sqlite(c) => diesel::sql_query(DUE.replace("$1", "?1").replace("$2", "?2"))
            .bind::<Timestamp, _>(to_db(now))
            .bind::<BigInt, _>(limit)
            .load(*c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = ids.into_iter().map(|i| i.id).collect();
    let mut rows = with_conn!(conn, c => diesel::update(d::table.filter(d::id.eq_any(&ids)))
        .set((
            d::claimed_until.eq(Some(to_db(lease_until))),
            d::claim_token.eq(Some(token)),
            d::attempts.eq(d::attempts + 1),
        ))
        .returning(Delivery::as_returning())
        .get_results(c))?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// What a delivery's body is made of: the audit event's id, action, time and payload.
pub fn event(conn: &mut Conn, id: i64) -> Result<(i64, String, NaiveDateTime, String), AppError> {
    let row = with_conn!(conn, c => ev::table
        .filter(ev::id.eq(id))
        .select((ev::id, ev::action, ev::occurred_at, ev::payload))
        .first(c))?;
    Ok(row)
}

/// Fixes the body of a delivery (once: the bytes a retry sends are the same).
pub fn set_body(conn: &mut Conn, id: i64, body: &str) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(d::table.filter(d::id.eq(id)).filter(d::body.is_null()))
        .set(d::body.eq(body))
        .execute(c))?;
    Ok(())
}

/// Marks a claimed delivery delivered; false if the claim was lost meanwhile.
pub fn mark_delivered(
    conn: &mut Conn,
    id: i64,
    token: &str,
    http_status: i32,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let changed = with_conn!(conn, c => diesel::update(
            d::table.filter(d::id.eq(id)).filter(d::claim_token.eq(token)))
        .set((
            d::status.eq("delivered"),
            d::delivered_at.eq(Some(to_db(now))),
            d::claimed_until.eq(None::<NaiveDateTime>),
            d::last_status.eq(Some(http_status)),
            d::last_error.eq(None::<String>),
        ))
        .execute(c))?;
    Ok(changed == 1)
}

/// Records a failed attempt: due again at `retry_at`, or `failed` when `None`.
pub fn mark_failed_attempt(
    conn: &mut Conn,
    id: i64,
    token: &str,
    error: &str,
    http_status: Option<i32>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool, AppError> {
    let (status, next) = match retry_at {
        Some(at) => ("pending", Some(to_db(at))),
        None => ("failed", None),
    };
    let changed = with_conn!(conn, c => {
        let q = diesel::update(d::table.filter(d::id.eq(id)).filter(d::claim_token.eq(token)));
        let common = (
            d::status.eq(status),
            d::last_error.eq(Some(error)),
            d::last_status.eq(http_status),
            d::claimed_until.eq(None::<NaiveDateTime>),
        );
        match next {
            Some(at) => q.set((common, d::next_attempt_at.eq(at))).execute(c),
            None => q.set(common).execute(c),
        }
    })?;
    Ok(changed == 1)
}
