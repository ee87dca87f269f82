//! Deadline reminders: which deadlines are near or just past, and the record that a reminder
//! went out (once per subject and kind).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::deals::DealRow;
use super::models::to_db;
use super::registrations::RegistrationRow;
use super::schema::{deals as d, listings as l, registrations as r, reminders as rm};
use crate::error::AppError;
use crate::with_conn;

/// Records that reminder `kind` about `subject` went out; false if it already had.
pub fn claim(
    conn: &mut Conn,
    subject: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::insert_into(rm::table)
        .values((rm::subject.eq(subject), rm::kind.eq(kind), rm::sent_at.eq(to_db(now))))
        .on_conflict((rm::subject, rm::kind))
        .do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// Registrations of undecided listings in disclosure (their deadlines are checked in Rust).
pub fn open_registrations(conn: &mut Conn, limit: i64) -> Result<Vec<RegistrationRow>, AppError> {
    let rows = with_conn!(conn, c => r::table
        .inner_join(l::table.on(l::id.eq(r::listing_id).and(l::round.eq(r::round))))
        .filter(l::status.eq("disclosure"))
        .filter(l::disclosure_decided_at.is_null())
        .filter(r::status.ne("rejected"))
        .order(r::id.asc())
        .limit(limit)
        .select(RegistrationRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Qualified registrations whose deposit, still unpaid, fell due at or before their listing
/// was decided, since `since`. The decision takes them out of [`open_registrations`] in the
/// same moment their deadline passes, but their bidders are still owed the mail saying so.
pub fn deposits_passed_at_decision(
    conn: &mut Conn,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<RegistrationRow>, AppError> {
    let rows = with_conn!(conn, c => r::table
        .inner_join(l::table.on(l::id.eq(r::listing_id).and(l::round.eq(r::round))))
        .filter(l::disclosure_decided_at.is_not_null())
        .filter(r::status.eq("qualified"))
        .filter(r::deposit_status.eq("unpaid"))
        .filter(r::deposit_due_at.ge(to_db(since)))
        .filter(r::deposit_due_at.le(l::disclosure_decided_at))
        .order(r::id.asc())
        .limit(limit)
        .select(RegistrationRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Deals waiting for a contract, an answer to an offer, or a payment.
pub fn open_deals(conn: &mut Conn, limit: i64) -> Result<Vec<DealRow>, AppError> {
    let rows = with_conn!(conn, c => d::table
        .filter(d::status.eq_any(["awarded", "offered", "contract_signed"]))
        .order(d::id.asc())
        .limit(limit)
        .select(DealRow::as_select())
        .load(c))?;
    Ok(rows)
}
