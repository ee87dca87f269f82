//! The business rows verification compares with the audit trail (`audit::reconcile`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Conn;
use super::schema::{bids, listings, registrations};
use crate::error::AppError;
use crate::with_conn;

/// Listing ids after `after`, ascending, at most `limit`.
pub fn listing_ids(conn: &mut Conn, after: i64, limit: i64) -> Result<Vec<i64>, AppError> {
    let ids = with_conn!(conn, c => listings::table
        .filter(listings::id.gt(after))
        .order(listings::id.asc())
        .limit(limit)
        .select(listings::id)
        .load(c))?;
    Ok(ids)
}

/// A bid row as the trail describes it.
#[derive(Debug, Clone, Queryable)]
pub struct BidFacts {
    pub auction_id: i64,
    pub seq: i32,
    pub registration_id: i64,
    pub bidder_code: String,
    pub amount: i64,
    pub placed_at: NaiveDateTime,
}

pub fn bids_of(conn: &mut Conn, listing_id: i64) -> Result<Vec<BidFacts>, AppError> {
    let rows = with_conn!(conn, c => bids::table
        .filter(bids::listing_id.eq(listing_id))
        .order((bids::auction_id.asc(), bids::seq.asc()))
        .select((bids::auction_id, bids::seq, bids::registration_id, bids::bidder_code, bids::amount, bids::placed_at))
        .load(c))?;
    Ok(rows)
}

/// A registration's `(id, status, deposit_status)`.
pub fn registrations_of(
    conn: &mut Conn,
    listing_id: i64,
) -> Result<Vec<(i64, String, String)>, AppError> {
    let rows = with_conn!(conn, c => registrations::table
        .filter(registrations::listing_id.eq(listing_id))
        .order(registrations::id.asc())
        .select((registrations::id, registrations::status, registrations::deposit_status))
        .load(c))?;
    Ok(rows)
}
