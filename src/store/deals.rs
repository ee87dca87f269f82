//! Queries on deals.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::deals as d;
use crate::error::AppError;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = d)]
pub struct DealRow {
    pub id: i64,
    pub listing_id: i64,
    pub round: i32,
    pub registration_id: i64,
    pub bidder_code: String,
    pub price: i64,
    pub method: String,
    pub status: String,
    pub awarded_at: NaiveDateTime,
    pub contract_due_at: NaiveDateTime,
    pub contract_signed_at: Option<NaiveDateTime>,
    pub paid_at: Option<NaiveDateTime>,
    pub payment_reference: Option<String>,
    pub announced_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub certificate_no: Option<String>,
    pub contract_overdue_flagged: bool,
    pub offer_due_at: Option<NaiveDateTime>,
    pub payment_due_at: Option<NaiveDateTime>,
    pub payment_plan: Option<String>,
    pub guarantee_reference: Option<String>,
    pub paid_total: i64,
    pub first_payment_due_at: Option<NaiveDateTime>,
    pub first_payment_min: Option<i64>,
}

pub struct NewDeal<'a> {
    pub listing_id: i64,
    pub round: i32,
    pub registration_id: i64,
    pub bidder_code: &'a str,
    pub price: i64,
    pub method: &'a str,
    pub awarded_at: DateTime<Utc>,
    pub contract_due_at: DateTime<Utc>,
}

pub fn insert(conn: &mut Conn, n: &NewDeal) -> Result<DealRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(d::table)
        .values((
            d::listing_id.eq(n.listing_id),
            d::round.eq(n.round),
            d::registration_id.eq(n.registration_id),
            d::bidder_code.eq(n.bidder_code),
            d::price.eq(n.price),
            d::method.eq(n.method),
            d::status.eq("awarded"),
            d::awarded_at.eq(to_db(n.awarded_at)),
            d::contract_due_at.eq(to_db(n.contract_due_at)),
        ))
        .returning(DealRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

pub fn of_listing(
    conn: &mut Conn,
    listing_id: i64,
    round: i32,
) -> Result<Option<DealRow>, AppError> {
    let row = with_conn!(conn, c => d::table
        .filter(d::listing_id.eq(listing_id))
        .filter(d::round.eq(round))
        .select(DealRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Moves a deal one step, only from the expected status (so each step happens once).
pub fn advance(
    conn: &mut Conn,
    id: i64,
    from: &str,
    to: &str,
    step: Step<'_>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => {
        let q = diesel::update(d::table.filter(d::id.eq(id)).filter(d::status.eq(from)));
        match step {
            Step::Contract(at, plan) => q
                .set((
                    d::status.eq(to),
                    d::contract_signed_at.eq(Some(to_db(at))),
                    d::payment_plan.eq(Some(plan.plan)),
                    d::guarantee_reference.eq(plan.guarantee_reference),
                    d::first_payment_due_at.eq(plan.first_due.map(to_db)),
                    d::first_payment_min.eq(plan.first_minimum),
                    d::payment_due_at.eq(Some(to_db(plan.final_due))),
                ))
                .execute(c),
            Step::Announce(at) => q.set((d::status.eq(to), d::announced_at.eq(Some(to_db(at))))).execute(c),
            Step::Close(at, certificate) => q
                .set((d::status.eq(to), d::closed_at.eq(Some(to_db(at))), d::certificate_no.eq(Some(certificate))))
                .execute(c),
        }
    })?;
    Ok(n == 1)
}

/// What a step records.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// Signed at, and how the price is paid.
    Contract(DateTime<Utc>, &'a Plan<'a>),
    Announce(DateTime<Utc>),
    Close(DateTime<Utc>, &'a str),
}

/// How a signed contract's price is paid.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub plan: &'a str,
    pub guarantee_reference: Option<&'a str>,
    pub first_due: Option<DateTime<Utc>>,
    /// Instalments: the least first payment (fen), fixed by the contract.
    pub first_minimum: Option<i64>,
    pub final_due: DateTime<Utc>,
}

/// One payment as recorded.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::deal_payments)]
pub struct PaymentRow {
    pub id: i64,
    pub deal_id: i64,
    pub listing_id: i64,
    pub amount: i64,
    pub reference: String,
    pub paid_at: NaiveDateTime,
    pub recorded_by: Option<i64>,
}

/// Records a payment of `amount` on a deal whose paid total is still `before` (so two
/// concurrent payments cannot both count); the deal becomes `paid` when `fully_paid`.
#[expect(clippy::too_many_arguments, reason = "one payment and what it changes")]
pub fn record_payment(
    conn: &mut Conn,
    deal: &DealRow,
    before: i64,
    amount: i64,
    reference: &str,
    fully_paid: bool,
    at: DateTime<Utc>,
    by: Option<i64>,
) -> Result<bool, AppError> {
    use super::schema::deal_payments as p;
    let total = before + amount;
    let n = with_conn!(conn, c => {
        let q = diesel::update(
            d::table
                .filter(d::id.eq(deal.id))
                .filter(d::status.eq("contract_signed"))
                .filter(d::paid_total.eq(before)),
        );
        if fully_paid {
            q.set((
                d::paid_total.eq(total),
                d::status.eq("paid"),
                d::paid_at.eq(Some(to_db(at))),
                d::payment_reference.eq(Some(reference)),
            ))
            .execute(c)
        } else {
            q.set((d::paid_total.eq(total), d::payment_reference.eq(Some(reference))))
                .execute(c)
        }
    })?;
    if n != 1 {
        return Ok(false);
    }
    with_conn!(conn, c => diesel::insert_into(p::table)
        .values((
            p::deal_id.eq(deal.id),
            p::listing_id.eq(deal.listing_id),
            p::amount.eq(amount),
            p::reference.eq(reference),
            p::paid_at.eq(to_db(at)),
            p::recorded_by.eq(by),
        ))
        .execute(c))?;
    Ok(true)
}

/// The payments of a deal, oldest first.
pub fn payments(conn: &mut Conn, deal_id: i64) -> Result<Vec<PaymentRow>, AppError> {
    use super::schema::deal_payments as p;
    let rows = with_conn!(conn, c => p::table
        .filter(p::deal_id.eq(deal_id))
        .order(p::id.asc())
        .select(PaymentRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Deals whose price is not fully paid, signed contracts only.
pub fn unpaid(conn: &mut Conn, limit: i64) -> Result<Vec<DealRow>, AppError> {
    let rows = with_conn!(conn, c => d::table
        .filter(d::status.eq("contract_signed"))
        .order(d::id.asc())
        .limit(limit)
        .select(DealRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Deals still awaiting their contract after the deadline, not flagged yet.
pub fn contract_overdue(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DealRow>, AppError> {
    let rows = with_conn!(conn, c => d::table
        .filter(d::status.eq("awarded"))
        .filter(d::contract_overdue_flagged.eq(false))
        .filter(d::contract_due_at.le(to_db(now)))
        .order(d::contract_due_at.asc())
        .limit(limit)
        .select(DealRow::as_select())
        .load(c))?;
    Ok(rows)
}

pub fn find(conn: &mut Conn, id: i64) -> Result<Option<DealRow>, AppError> {
    let row =
        with_conn!(conn, c => d::table.find(id).select(DealRow::as_select()).first(c).optional())?;
    Ok(row)
}

/// Flags a deal's missed contract deadline once; false if already flagged.
pub fn flag_contract_overdue(conn: &mut Conn, id: i64) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(d::table.filter(d::id.eq(id)).filter(d::contract_overdue_flagged.eq(false)))
        .set(d::contract_overdue_flagged.eq(true))
        .execute(c))?;
    Ok(n == 1)
}

/// (kind, price, listing price, appraised value, method) of every deal awarded in [from, to).
/// kind, price, listing price, appraised value, method, the seller organisation.
pub type DealFigureRow = (String, i64, i64, i64, String, i64);

pub fn figures(
    conn: &mut Conn,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<DealFigureRow>, AppError> {
    use super::schema::listings as l;
    let rows = with_conn!(conn, c => {
        let mut q = d::table
            .inner_join(l::table.on(l::id.eq(d::listing_id)))
            .into_boxed();
        if let Some(t) = from {
            q = q.filter(d::awarded_at.ge(to_db(t)));
        }
        if let Some(t) = to {
            q = q.filter(d::awarded_at.lt(to_db(t)));
        }
        // A deal a winner walked away from, or an offer nobody took, sold nothing.
        q.filter(d::status.ne_all(["defaulted", "offered", "declined", "lapsed"]))
            .select((
                l::kind,
                d::price,
                l::listing_price,
                l::appraised_value,
                d::method,
                l::organization_id,
            ))
            .load(c)
    })?;
    Ok(rows)
}

/// Moves a deal to a status that ends it (defaulted, declined, lapsed), only from `from`.
pub fn end(conn: &mut Conn, id: i64, from: &str, to: &str) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(d::table.filter(d::id.eq(id)).filter(d::status.eq(from)))
        .set(d::status.eq(to))
        .execute(c))?;
    Ok(n == 1)
}

/// The runner-up the deal is offered to, at its own highest bid, until `due`.
pub struct Offer<'a> {
    pub registration_id: i64,
    pub bidder_code: &'a str,
    pub price: i64,
    pub due: DateTime<Utc>,
}

/// Offers an `awarded` deal to the runner-up after the winner's default.
pub fn offer(conn: &mut Conn, id: i64, o: &Offer) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(d::table.filter(d::id.eq(id)).filter(d::status.eq("awarded")))
        .set((
            d::status.eq("offered"),
            d::registration_id.eq(o.registration_id),
            d::bidder_code.eq(o.bidder_code),
            d::price.eq(o.price),
            d::offer_due_at.eq(Some(to_db(o.due))),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// The runner-up accepted: the deal is awarded to it now, with its own contract deadline.
pub fn accept_offer(
    conn: &mut Conn,
    id: i64,
    now: DateTime<Utc>,
    contract_due: DateTime<Utc>,
) -> Result<bool, AppError> {
    let n = with_conn!(conn, c => diesel::update(d::table.filter(d::id.eq(id)).filter(d::status.eq("offered")))
        .set((
            d::status.eq("awarded"),
            d::awarded_at.eq(to_db(now)),
            d::contract_due_at.eq(to_db(contract_due)),
            d::contract_overdue_flagged.eq(false),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// Offers whose answer is overdue.
pub fn offers_lapsed(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, AppError> {
    let rows = with_conn!(conn, c => d::table
        .filter(d::status.eq("offered"))
        .filter(d::offer_due_at.le(to_db(now)))
        .order(d::offer_due_at.asc())
        .limit(limit)
        .select(d::id)
        .load(c))?;
    Ok(rows)
}

/// A winner's default, as recorded.
pub struct NewDefault<'a> {
    pub deal: &'a DealRow,
    pub reason: &'a str,
    pub evidence_reference: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub recorded_by: Option<i64>,
}

pub fn insert_default(conn: &mut Conn, n: &NewDefault) -> Result<(), AppError> {
    use super::schema::deal_defaults as dd;
    with_conn!(conn, c => diesel::insert_into(dd::table)
        .values((
            dd::deal_id.eq(n.deal.id),
            dd::listing_id.eq(n.deal.listing_id),
            dd::round.eq(n.deal.round),
            dd::registration_id.eq(n.deal.registration_id),
            dd::bidder_code.eq(&n.deal.bidder_code),
            dd::price.eq(n.deal.price),
            dd::reason.eq(n.reason),
            dd::evidence_reference.eq(n.evidence_reference),
            dd::defaulted_at.eq(to_db(n.at)),
            dd::recorded_by.eq(n.recorded_by),
        ))
        .execute(c))?;
    Ok(())
}

/// How many defaults a deal has seen (the runner-up is offered the deal once).
pub fn defaults_count(conn: &mut Conn, deal_id: i64) -> Result<u32, AppError> {
    use super::schema::deal_defaults as dd;
    let n: i64 = with_conn!(conn, c => dd::table
        .filter(dd::deal_id.eq(deal_id))
        .count()
        .get_result(c))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
