//! The business rows verification compares with the audit trail (`audit::reconcile`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Conn;
use super::schema::{auctions, bids, deals, listings, registrations};
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

/// An auction row's standing, as its events must explain it.
#[derive(Debug, Clone, Queryable)]
pub struct AuctionFacts {
    pub id: i64,
    pub bid_count: i32,
    pub current_price: Option<i64>,
    pub leading_bidder_code: Option<String>,
}

pub fn auctions_of(conn: &mut Conn, listing_id: i64) -> Result<Vec<AuctionFacts>, AppError> {
    let rows = with_conn!(conn, c => auctions::table
        .filter(auctions::listing_id.eq(listing_id))
        .order(auctions::id.asc())
        .select((auctions::id, auctions::bid_count, auctions::current_price, auctions::leading_bidder_code))
        .load(c))?;
    Ok(rows)
}

/// A deal row's award: who bought, at what price.
#[derive(Debug, Clone, Queryable)]
pub struct DealFacts {
    pub id: i64,
    pub round: i32,
    pub registration_id: i64,
    pub bidder_code: String,
    pub price: i64,
}

pub fn deals_of(conn: &mut Conn, listing_id: i64) -> Result<Vec<DealFacts>, AppError> {
    let rows = with_conn!(conn, c => deals::table
        .filter(deals::listing_id.eq(listing_id))
        .order(deals::id.asc())
        .select((deals::id, deals::round, deals::registration_id, deals::bidder_code, deals::price))
        .load(c))?;
    Ok(rows)
}
