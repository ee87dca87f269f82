//! Queries on listings, their rounds and project numbers.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::{listing_rounds as lr, listings as l, organizations, project_counters as pc};
use crate::error::AppError;
use crate::with_conn;

pub use super::browse::{Browse, StatusFilter, browse};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = l)]
pub struct ListingRow {
    pub id: i64,
    pub project_no: String,
    pub organization_id: i64,
    pub created_by: i64,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub appraised_value: i64,
    pub appraisal_date: NaiveDate,
    pub listing_price: i64,
    pub deposit: i64,
    pub increment: i64,
    pub disclosure_working_days: i32,
    pub disclosure_start: Option<NaiveDateTime>,
    pub disclosure_end: Option<NaiveDateTime>,
    pub disclosure_decided_at: Option<NaiveDateTime>,
    pub free_bidding_seconds: i32,
    pub countdown_seconds: i32,
    pub allow_self_raise: bool,
    pub consent_document: Option<String>,
    pub round: i32,
    pub first_disclosure_at: Option<NaiveDateTime>,
    pub review_comment: Option<String>,
    pub suspended_from: Option<String>,
    pub suspended_at: Option<NaiveDateTime>,
    pub suspension_reason: Option<String>,
    pub suspension_alerted: bool,
    pub terminated_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub runner_up_offer: bool,
    pub decision_due_at: Option<NaiveDateTime>,
    pub bidding_method: String,
    pub preemption: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = l)]
pub struct NewListing<'a> {
    pub project_no: &'a str,
    pub organization_id: i64,
    pub created_by: i64,
    pub kind: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub status: &'a str,
    pub appraised_value: i64,
    pub appraisal_date: NaiveDate,
    pub listing_price: i64,
    pub deposit: i64,
    pub increment: i64,
    pub disclosure_working_days: i32,
    pub free_bidding_seconds: i32,
    pub countdown_seconds: i32,
    pub allow_self_raise: bool,
    pub runner_up_offer: bool,
    pub bidding_method: &'a str,
    pub preemption: &'a str,
    pub consent_document: Option<&'a str>,
    pub round: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Every editable field of a draft, written at once.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = l, treat_none_as_null = true)]
pub struct ListingTerms<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub appraised_value: i64,
    pub appraisal_date: NaiveDate,
    pub listing_price: i64,
    pub deposit: i64,
    pub increment: i64,
    pub disclosure_working_days: i32,
    pub free_bidding_seconds: i32,
    pub countdown_seconds: i32,
    pub allow_self_raise: bool,
    pub runner_up_offer: bool,
    pub bidding_method: &'a str,
    pub preemption: &'a str,
    pub consent_document: Option<&'a str>,
    pub updated_at: NaiveDateTime,
}

/// The next project number for a kind and year: PREFIX-KIND-YEAR-NNNNN. Counters are rows
/// locked for the rest of the transaction, so numbers never repeat.
pub fn next_project_no(
    conn: &mut Conn,
    prefix: &str,
    kind_code: &str,
    year: i32,
) -> Result<String, AppError> {
    with_conn!(conn, c => diesel::insert_into(pc::table)
        .values((pc::kind.eq(kind_code), pc::year.eq(year), pc::last.eq(0)))
        .on_conflict_do_nothing()
        .execute(c))?;
    let n: i32 = with_conn!(conn, c => diesel::update(pc::table.find((kind_code, year)))
        .set(pc::last.eq(pc::last + 1))
        .returning(pc::last)
        .get_result(c))?;
    Ok(format!("{prefix}-{kind_code}-{year}-{n:05}"))
}

pub fn insert(conn: &mut Conn, new: &NewListing) -> Result<ListingRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(l::table)
        .values(new)
        .returning(ListingRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<ListingRow>, AppError> {
    let row = with_conn!(conn, c => l::table.find(id).select(ListingRow::as_select()).first(c).optional())?;
    Ok(row)
}

/// The listing, locked for update in this transaction (PostgreSQL row lock; SQLite's write
/// transaction holds the whole database).
pub fn find_for_update(conn: &mut Conn, id: i64) -> Result<Option<ListingRow>, AppError> {
    let row = match conn {
        Conn::Pg(c) => l::table
            .find(id)
            .select(ListingRow::as_select())
            .for_update()
            .first(*c)
            .optional()?,
        Conn::Sqlite(c) => l::table
            .find(id)
            .select(ListingRow::as_select())
            .first(*c)
            .optional()?,
    };
    Ok(row)
}

pub fn seller_name(conn: &mut Conn, organization_id: i64) -> Result<String, AppError> {
    let name = with_conn!(conn, c => organizations::table
        .find(organization_id)
        .select(organizations::name)
        .first(c))?;
    Ok(name)
}

pub fn update_terms(conn: &mut Conn, id: i64, terms: &ListingTerms) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id)).set(terms).execute(c))?;
    Ok(())
}

/// Moves a listing from `from` to `to`, only if it is still in `from` (no lost updates).
pub fn set_status(
    conn: &mut Conn,
    id: i64,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(l::table.filter(l::id.eq(id)).filter(l::status.eq(from)))
        .set((l::status.eq(to), l::updated_at.eq(to_db(now))))
        .execute(c))?;
    Ok(n == 1)
}

pub fn set_review_comment(conn: &mut Conn, id: i64, comment: &str) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id)).set(l::review_comment.eq(Some(comment))).execute(c))?;
    Ok(())
}

/// Opens disclosure: start, end, and the first disclosure time if this is the first.
pub fn open_disclosure(
    conn: &mut Conn,
    id: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id))
        .set((
            l::disclosure_start.eq(Some(to_db(start))),
            l::disclosure_end.eq(Some(to_db(end))),
            l::disclosure_decided_at.eq(None::<NaiveDateTime>),
        ))
        .execute(c))?;
    with_conn!(conn, c => diesel::update(l::table.find(id).filter(l::first_disclosure_at.is_null()))
        .set(l::first_disclosure_at.eq(Some(to_db(start))))
        .execute(c))?;
    Ok(())
}

/// When the listing is decided at the latest (see `exchange::decide`).
pub fn set_decision_due(conn: &mut Conn, id: i64, at: DateTime<Utc>) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id)).set(l::decision_due_at.eq(Some(to_db(at)))).execute(c))?;
    Ok(())
}

pub fn set_disclosure_end(conn: &mut Conn, id: i64, end: DateTime<Utc>) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id)).set(l::disclosure_end.eq(Some(to_db(end)))).execute(c))?;
    Ok(())
}

/// Records that the end of disclosure was decided; false if someone already did.
pub fn mark_decided(
    conn: &mut Conn,
    id: i64,
    to: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(
            l::table.filter(l::id.eq(id)).filter(l::status.eq("disclosure")).filter(l::disclosure_decided_at.is_null()),
        )
        .set((l::status.eq(to), l::disclosure_decided_at.eq(Some(to_db(now))), l::updated_at.eq(to_db(now))))
        .execute(c))?;
    Ok(n == 1)
}

pub fn suspend(
    conn: &mut Conn,
    id: i64,
    from: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id))
        .set((
            l::suspended_from.eq(Some(from)),
            l::suspended_at.eq(Some(to_db(now))),
            l::suspension_reason.eq(Some(reason)),
            l::suspension_alerted.eq(false),
        ))
        .execute(c))?;
    Ok(())
}

pub fn clear_suspension(conn: &mut Conn, id: i64) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id))
        .set((
            l::suspended_from.eq(None::<String>),
            l::suspended_at.eq(None::<NaiveDateTime>),
            l::suspension_reason.eq(None::<String>),
        ))
        .execute(c))?;
    Ok(())
}

pub fn set_terminated_reason(conn: &mut Conn, id: i64, reason: &str) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(l::table.find(id)).set(l::terminated_reason.eq(Some(reason))).execute(c))?;
    Ok(())
}

/// Starts a new round with its own price, disclosure length and consent document.
/// The terms a new round starts with.
pub struct NewRound<'a> {
    pub round: i32,
    pub price: i64,
    pub deposit: i64,
    pub days: i32,
    pub consent: Option<&'a str>,
}

pub fn start_round(
    conn: &mut Conn,
    id: i64,
    r: &NewRound,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (round, price, days, consent) = (r.round, r.price, r.days, r.consent);
    with_conn!(conn, c => diesel::update(l::table.find(id))
        .set((
            l::round.eq(round),
            l::listing_price.eq(price),
            l::deposit.eq(r.deposit),
            l::disclosure_working_days.eq(days),
            l::consent_document.eq(consent),
            l::disclosure_start.eq(None::<NaiveDateTime>),
            l::disclosure_end.eq(None::<NaiveDateTime>),
            l::disclosure_decided_at.eq(None::<NaiveDateTime>),
            l::decision_due_at.eq(None::<NaiveDateTime>),
            l::review_comment.eq(None::<String>),
            l::updated_at.eq(to_db(now)),
        ))
        .execute(c))?;
    Ok(())
}

/// Records a round as it was (at approval) and its outcome later.
pub fn record_round(conn: &mut Conn, row: &ListingRow, now: DateTime<Utc>) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::insert_into(lr::table)
        .values((
            lr::listing_id.eq(row.id),
            lr::round.eq(row.round),
            lr::listing_price.eq(row.listing_price),
            lr::disclosure_working_days.eq(row.disclosure_working_days),
            lr::consent_document.eq(&row.consent_document),
            lr::disclosure_start.eq(row.disclosure_start),
            lr::disclosure_end.eq(row.disclosure_end),
            lr::deposit.eq(Some(row.deposit)),
            lr::created_at.eq(to_db(now)),
        ))
        .on_conflict((lr::listing_id, lr::round))
        .do_update()
        .set((lr::disclosure_start.eq(row.disclosure_start), lr::disclosure_end.eq(row.disclosure_end)))
        .execute(c))?;
    Ok(())
}

pub fn set_round_outcome(
    conn: &mut Conn,
    id: i64,
    round: i32,
    outcome: &str,
) -> Result<(), AppError> {
    with_conn!(conn, c => diesel::update(lr::table.filter(lr::listing_id.eq(id)).filter(lr::round.eq(round)))
        .set(lr::outcome.eq(Some(outcome)))
        .execute(c))?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lr)]
pub struct RoundRow {
    pub round: i32,
    pub listing_price: i64,
    pub disclosure_working_days: i32,
    pub consent_document: Option<String>,
    pub disclosure_start: Option<NaiveDateTime>,
    pub disclosure_end: Option<NaiveDateTime>,
    pub outcome: Option<String>,
}

pub fn rounds(conn: &mut Conn, id: i64) -> Result<Vec<RoundRow>, AppError> {
    let rows = with_conn!(conn, c => lr::table
        .filter(lr::listing_id.eq(id))
        .order(lr::round.asc())
        .select(RoundRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Listings in disclosure whose end has passed and that nobody has decided yet.
pub fn due_for_decision(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, AppError> {
    let ids = with_conn!(conn, c => l::table
        .filter(l::status.eq("disclosure"))
        .filter(l::disclosure_decided_at.is_null())
        .filter(l::decision_due_at.le(to_db(now)))
        .order(l::decision_due_at.asc())
        .limit(limit)
        .select(l::id)
        .load(c))?;
    Ok(ids)
}

/// Suspended listings whose suspension started at or before `before` (candidates for the
/// suspension limit; the rule itself is `domain::listing::suspension_expired`).
pub fn overdue_suspensions(
    conn: &mut Conn,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, AppError> {
    let ids = with_conn!(conn, c => l::table
        .filter(l::status.eq("suspended"))
        .filter(l::suspended_at.le(to_db(before)))
        .order(l::suspended_at.asc())
        .limit(limit)
        .select(l::id)
        .load(c))?;
    Ok(ids)
}
