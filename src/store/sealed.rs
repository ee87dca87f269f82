//! Queries on sealed bids (一次报价) before and at their opening. Nothing here serves an
//! amount to a reader: the use cases decide who may see what, and when.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::models::to_db;
use super::schema::{auctions as a, bids as b, sealed_bids as s};
use crate::error::AppError;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = s)]
pub struct SealedRow {
    pub id: i64,
    pub auction_id: i64,
    pub listing_id: i64,
    pub registration_id: i64,
    pub user_id: i64,
    pub bidder_code: String,
    pub amount: i64,
    pub nonce: String,
    pub commitment: String,
    pub placed_at: NaiveDateTime,
    pub idempotency_key: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = s)]
pub struct NewSealed<'a> {
    pub auction_id: i64,
    pub listing_id: i64,
    pub registration_id: i64,
    pub user_id: i64,
    pub bidder_code: &'a str,
    pub amount: i64,
    pub nonce: &'a str,
    pub commitment: &'a str,
    pub placed_at: NaiveDateTime,
    pub idempotency_key: &'a str,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Writes a sealed bid and counts it on the auction (the count is public, amounts are not).
pub fn insert(conn: &mut Conn, n: &NewSealed) -> Result<SealedRow, AppError> {
    let row = with_conn!(conn, c => diesel::insert_into(s::table)
        .values(n)
        .returning(SealedRow::as_returning())
        .get_result(c))?;
    with_conn!(conn, c => diesel::update(a::table.find(n.auction_id))
        .set(a::bid_count.eq(a::bid_count + 1))
        .execute(c))?;
    Ok(row)
}

/// The sealed bid an earlier request with the same key produced.
pub fn remembered(
    conn: &mut Conn,
    user_id: i64,
    listing_id: i64,
    key: &str,
) -> Result<Option<SealedRow>, AppError> {
    let row = with_conn!(conn, c => s::table
        .filter(s::user_id.eq(user_id))
        .filter(s::listing_id.eq(listing_id))
        .filter(s::idempotency_key.eq(key))
        .select(SealedRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// A registration's sealed bid in an auction, if it placed one.
pub fn of_registration(
    conn: &mut Conn,
    auction_id: i64,
    registration_id: i64,
) -> Result<Option<SealedRow>, AppError> {
    let row = with_conn!(conn, c => s::table
        .filter(s::auction_id.eq(auction_id))
        .filter(s::registration_id.eq(registration_id))
        .select(SealedRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// A user's sealed bid in an auction, if it placed one.
pub fn of_user(
    conn: &mut Conn,
    auction_id: i64,
    user_id: i64,
) -> Result<Option<SealedRow>, AppError> {
    let row = with_conn!(conn, c => s::table
        .filter(s::auction_id.eq(auction_id))
        .filter(s::user_id.eq(user_id))
        .select(SealedRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Every sealed bid of an auction in the order of submission.
pub fn all(conn: &mut Conn, auction_id: i64) -> Result<Vec<SealedRow>, AppError> {
    let rows = with_conn!(conn, c => s::table
        .filter(s::auction_id.eq(auction_id))
        .order((s::placed_at.asc(), s::id.asc()))
        .select(SealedRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// One opened bid, as it enters the bid history.
pub struct Opened<'a> {
    pub seq: i32,
    pub row: &'a SealedRow,
    pub ends_at: DateTime<Utc>,
}

/// The winner of an opening, as the auction's standing.
pub struct Standing<'a> {
    pub price: i64,
    pub registration_id: i64,
    pub bidder_code: &'a str,
    pub holds_right: bool,
    pub last_bid_at: DateTime<Utc>,
}

/// Writes the opened bids into the bid history and the winner into the auction's standing.
pub fn open(
    conn: &mut Conn,
    auction_id: i64,
    opened: &[Opened],
    winner: Option<&Standing>,
) -> Result<(), AppError> {
    for o in opened {
        with_conn!(conn, c => diesel::insert_into(b::table)
            .values((
                b::auction_id.eq(auction_id),
                b::listing_id.eq(o.row.listing_id),
                b::seq.eq(o.seq),
                b::registration_id.eq(o.row.registration_id),
                b::bidder_code.eq(&o.row.bidder_code),
                b::amount.eq(o.row.amount),
                b::placed_at.eq(o.row.placed_at),
                b::ends_at.eq(to_db(o.ends_at)),
                b::client_ip.eq(o.row.client_ip.as_deref()),
                b::user_agent.eq(o.row.user_agent.as_deref()),
                b::kind.eq("sealed"),
            ))
            .execute(c))?;
    }
    let count = i32::try_from(opened.len()).unwrap_or(i32::MAX);
    with_conn!(conn, c => diesel::update(a::table.find(auction_id))
        .set((
            a::bid_count.eq(count),
            a::current_price.eq(winner.map(|w| w.price)),
            a::leading_registration_id.eq(winner.map(|w| w.registration_id)),
            a::leading_bidder_code.eq(winner.map(|w| w.bidder_code)),
            a::leading_holds_right.eq(winner.is_some_and(|w| w.holds_right)),
            a::last_bid_at.eq(winner.map(|w| to_db(w.last_bid_at))),
        ))
        .execute(c))?;
    Ok(())
}
