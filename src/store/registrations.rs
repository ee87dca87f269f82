//! Queries on registrations of intent and their deposits.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::{organizations, registrations as r, users};
use crate::error::AppError;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = r)]
pub struct RegistrationRow {
    pub id: i64,
    pub listing_id: i64,
    pub round: i32,
    pub user_id: i64,
    pub organization_id: i64,
    pub status: String,
    pub deposit_status: String,
    pub deposit_reference: Option<String>,
    pub deposit_due_at: Option<NaiveDateTime>,
    pub bidder_code: Option<String>,
    pub statement: Option<String>,
    pub review_comment: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub qualified_at: Option<NaiveDateTime>,
    pub review_due_at: Option<NaiveDateTime>,
    pub seller_opinion: Option<String>,
    pub seller_opinion_comment: Option<String>,
    pub seller_opinion_at: Option<NaiveDateTime>,
    pub seller_opinion_due_at: Option<NaiveDateTime>,
    pub preemptive_right: bool,
}

pub struct NewRegistration<'a> {
    pub listing_id: i64,
    pub round: i32,
    pub user_id: i64,
    pub organization_id: i64,
    pub statement: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: DateTime<Utc>,
}

pub fn insert(conn: &mut Conn, n: &NewRegistration) -> Result<RegistrationRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(r::table)
        .values((
            r::listing_id.eq(n.listing_id),
            r::round.eq(n.round),
            r::user_id.eq(n.user_id),
            r::organization_id.eq(n.organization_id),
            r::statement.eq(n.statement),
            r::client_ip.eq(n.client_ip),
            r::user_agent.eq(n.user_agent),
            r::created_at.eq(to_db(n.now)),
            r::updated_at.eq(to_db(n.now)),
        ))
        .returning(RegistrationRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

pub fn exists(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
    organization_id: i64,
) -> Result<bool, AppError> {
    let n: i64 = with_conn!(conn, c => r::table
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .filter(r::organization_id.eq(organization_id))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<RegistrationRow>, AppError> {
    let row = with_conn!(conn, c => r::table.find(id).select(RegistrationRow::as_select()).first(c).optional())?;
    Ok(row)
}

/// A registration with the account that registered it, in one statement.
pub fn with_user(
    conn: &mut Conn,
    id: i64,
) -> Result<Option<(RegistrationRow, super::models::User)>, AppError> {
    let row = with_conn!(conn, c => r::table
        .inner_join(users::table.on(users::id.eq(r::user_id)))
        .filter(r::id.eq(id))
        .select((RegistrationRow::as_select(), super::models::User::as_select()))
        .first(c)
        .optional())?;
    Ok(row)
}

/// A registration with the organisation name behind it (for staff and the registrant).
pub fn for_listing(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Vec<(RegistrationRow, String)>, AppError> {
    let rows = with_conn!(conn, c => r::table
        .inner_join(organizations::table.on(organizations::id.eq(r::organization_id)))
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .order(r::id.asc())
        .select((RegistrationRow::as_select(), organizations::name))
        .load(c))?;
    Ok(rows)
}

pub fn for_user(
    conn: &mut Conn,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<RegistrationRow>, i64), AppError> {
    let (rows, total) = with_conn!(conn, c => {
        let total: i64 = r::table.filter(r::user_id.eq(user_id)).count().get_result(c)?;
        let rows = r::table
            .filter(r::user_id.eq(user_id))
            .order(r::id.desc())
            .offset(offset)
            .limit(limit)
            .select(RegistrationRow::as_select())
            .load(c)?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// How many registrations of the round are eligible to bid (qualified, deposit paid).
/// Registrations of the round counted by (status, deposit status): the caller judges which
/// of those standings may bid (`domain::registration::is_eligible`).
pub fn count_by_standing(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Vec<(String, String, i64)>, AppError> {
    let rows = with_conn!(conn, c => r::table
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .group_by((r::status, r::deposit_status))
        .select((r::status, r::deposit_status, diesel::dsl::count_star()))
        .load(c))?;
    Ok(rows)
}

pub fn count_for_round(conn: &mut Conn, listing_id: i64, round: i32) -> Result<i64, AppError> {
    let n = with_conn!(conn, c => r::table
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .count()
        .get_result(c))?;
    Ok(n)
}

/// Users registered on the round (for notices to every registrant).
pub fn registrant_users(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Vec<crate::store::models::User>, AppError> {
    let rows = with_conn!(conn, c => r::table
        .inner_join(users::table.on(users::id.eq(r::user_id)))
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .select(crate::store::models::User::as_select())
        .load(c))?;
    Ok(rows)
}

/// What an operator's review records.
pub struct Review<'a> {
    pub status: &'a str,
    pub comment: &'a str,
    /// Kept when `None` (a bidder re-qualified after an objection keeps its code).
    pub bidder_code: Option<&'a str>,
    pub deposit_due: Option<DateTime<Utc>>,
    /// When the enterprise's opinion on a newly qualified bidder is due.
    pub opinion_due: Option<DateTime<Utc>>,
    /// A qualification confirms (or not) the bidder's pre-emptive right.
    pub preemptive_right: bool,
}

/// Records the review; the status moves only from `pending`.
pub fn review(conn: &mut Conn, id: i64, rv: &Review, now: DateTime<Utc>) -> Result<bool, AppError> {
    let qualified = (rv.status == "qualified").then(|| to_db(now));
    let n = with_conn!(conn, c => {
        let q = diesel::update(r::table.filter(r::id.eq(id)).filter(r::status.eq("pending")));
        let common = (
            r::status.eq(rv.status),
            r::review_comment.eq(Some(rv.comment)),
            r::deposit_due_at.eq(rv.deposit_due.map(to_db)),
            r::review_due_at.eq(None::<NaiveDateTime>),
            r::updated_at.eq(to_db(now)),
            r::preemptive_right.eq(rv.preemptive_right),
        );
        match (rv.bidder_code, rv.opinion_due) {
            (Some(code), opinion_due) => q
                .set((
                    common,
                    r::bidder_code.eq(Some(code)),
                    r::qualified_at.eq(qualified),
                    r::seller_opinion_due_at.eq(opinion_due.map(to_db)),
                ))
                .execute(c),
            (None, _) => q.set(common).execute(c),
        }
    })?;
    Ok(n == 1)
}

/// The enterprise's opinion on a qualified bidder. An objection sends the registration back
/// to the operator (`pending`), who decides by `review_due`.
pub fn set_opinion(
    conn: &mut Conn,
    id: i64,
    opinion: &str,
    comment: &str,
    review_due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => {
        let q = diesel::update(
            r::table
                .filter(r::id.eq(id))
                .filter(r::status.eq("qualified"))
                .filter(r::seller_opinion.is_null()),
        );
        let fields = (
            r::seller_opinion.eq(Some(opinion)),
            r::seller_opinion_comment.eq(Some(comment)),
            r::seller_opinion_at.eq(Some(to_db(now))),
            r::updated_at.eq(to_db(now)),
        );
        match review_due {
            Some(due) => q
                .set((fields, r::status.eq("pending"), r::review_due_at.eq(Some(to_db(due)))))
                .execute(c),
            None => q.set(fields).execute(c),
        }
    })?;
    Ok(n == 1)
}

pub fn bidder_code_taken(conn: &mut Conn, listing_id: i64, code: &str) -> Result<bool, AppError> {
    let n: i64 = with_conn!(conn, c => r::table
        .filter(r::listing_id.eq(listing_id))
        .filter(r::bidder_code.eq(code))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// Moves the deposit from `from` to `to` (only if still `from`), with a reference if given.
pub fn set_deposit(
    conn: &mut Conn,
    id: i64,
    from: &str,
    to: &str,
    reference: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => {
        let q = diesel::update(r::table.filter(r::id.eq(id)).filter(r::deposit_status.eq(from)));
        match reference {
            Some(reference) => q
                .set((r::deposit_status.eq(to), r::deposit_reference.eq(Some(reference)), r::updated_at.eq(to_db(now))))
                .execute(c),
            None => q.set((r::deposit_status.eq(to), r::updated_at.eq(to_db(now)))).execute(c),
        }
    })?;
    Ok(n == 1)
}

/// The caller's registration on a listing's round, if any.
pub fn of_user(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
    user_id: i64,
) -> Result<Option<RegistrationRow>, AppError> {
    let row = with_conn!(conn, c => r::table
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .filter(r::user_id.eq(user_id))
        .select(RegistrationRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Every registration of a round.
pub fn of_round(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Vec<RegistrationRow>, AppError> {
    let rows = with_conn!(conn, c => r::table
        .filter(r::listing_id.eq(listing_id))
        .filter(r::round.eq(round))
        .order(r::id.asc())
        .select(RegistrationRow::as_select())
        .load(c))?;
    Ok(rows)
}
