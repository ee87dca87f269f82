//! Read-only queries behind the OCDS open data (`exchange::ocds` maps what they return): the
//! public listings changed since an instant, and everything one listing's record shows.
//! "Public" is a public status and a disclosure that really happened, so a listing terminated
//! before its first disclosure stays hidden. Bids are read without their client IP, user agent
//! or registration, and only once their auction has closed.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Conn;
use super::auctions::AuctionRow;
use super::deals::{DealRow, PaymentRow};
use super::listings::ListingRow;
use super::models::to_db;
use super::schema::{
    auctions as a, bids as b, deal_payments as dp, deals as d, listing_rounds as lr, listings as l,
    organizations,
};
use crate::domain::listing::ListingStatus;
use crate::error::AppError;
use crate::with_conn;

/// One disclosed round of a listing, as approved.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lr)]
pub struct RoundRow {
    pub listing_id: i64,
    pub round: i32,
    pub listing_price: i64,
    pub disclosure_start: Option<NaiveDateTime>,
    pub disclosure_end: Option<NaiveDateTime>,
    pub outcome: Option<String>,
}

/// An accepted bid of a closed auction, with what the public bid history shows and no more.
#[derive(Debug, Clone, Queryable)]
pub struct ClosedBid {
    pub listing_id: i64,
    /// The round of the auction the bid was placed in.
    pub round: i32,
    pub seq: i32,
    pub bidder_code: String,
    pub amount: i64,
    pub placed_at: NaiveDateTime,
}

/// Everything the OCDS mapping needs about one listing.
#[derive(Debug, Clone)]
pub struct Process {
    pub listing: ListingRow,
    /// The seller's name (public in every listing view).
    pub seller: String,
    pub rounds: Vec<RoundRow>,
    pub auctions: Vec<AuctionRow>,
    pub bids: Vec<ClosedBid>,
    pub deals: Vec<DealRow>,
    /// The payments of its deals, oldest first (their bank references are never published).
    pub payments: Vec<PaymentRow>,
}

fn public_statuses() -> Vec<&'static str> {
    ListingStatus::ALL
        .into_iter()
        .filter(|s| s.is_public())
        .map(ListingStatus::as_str)
        .collect()
}

/// Public listings whose `updated_at` is at or after `since`, in `(updated_at, id)` order.
pub fn changed_since(
    conn: &mut Conn,
    since: Option<DateTime<Utc>>,
    offset: i64,
    limit: i64,
) -> Result<Vec<ListingRow>, AppError> {
    let rows = with_conn!(conn, c => {
        let mut q = l::table
            .filter(l::status.eq_any(public_statuses()))
            .filter(l::first_disclosure_at.is_not_null())
            .into_boxed();
        if let Some(since) = since {
            q = q.filter(l::updated_at.ge(to_db(since)));
        }
        q.order((l::updated_at.asc(), l::id.asc()))
            .offset(offset)
            .limit(limit)
            .select(ListingRow::as_select())
            .load(c)
    })?;
    Ok(rows)
}

/// The listing with this project number, if the public may see it.
pub fn public_by_project_no(
    conn: &mut Conn,
    project_no: &str,
) -> Result<Option<ListingRow>, AppError> {
    let row = with_conn!(conn, c => l::table
        .filter(l::project_no.eq(project_no))
        .filter(l::status.eq_any(public_statuses()))
        .filter(l::first_disclosure_at.is_not_null())
        .select(ListingRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Loads rounds, auctions, closed bids, deals and seller names for `listings` at once (a few
/// queries per page, not per listing). The order of `listings` is kept.
/// The payments of the listings' deals, oldest first.
fn payments_of(conn: &mut Conn, ids: &[i64]) -> Result<Vec<PaymentRow>, AppError> {
    Ok(with_conn!(conn, c => dp::table
        .filter(dp::listing_id.eq_any(ids))
        .order((dp::listing_id.asc(), dp::paid_at.asc(), dp::id.asc()))
        .select(PaymentRow::as_select())
        .load(c))?)
}

pub fn processes(conn: &mut Conn, listings: Vec<ListingRow>) -> Result<Vec<Process>, AppError> {
    let ids: Vec<i64> = listings.iter().map(|r| r.id).collect();
    let orgs: Vec<i64> = listings.iter().map(|r| r.organization_id).collect();
    let payments = payments_of(conn, &ids)?;
    let (names, rounds, auctions, bids, deals) = with_conn!(conn, c => {
        let names: Vec<(i64, String)> = organizations::table
            .filter(organizations::id.eq_any(&orgs))
            .select((organizations::id, organizations::name))
            .load(c)?;
        let rounds: Vec<RoundRow> = lr::table
            .filter(lr::listing_id.eq_any(&ids))
            .order((lr::listing_id.asc(), lr::round.asc()))
            .select(RoundRow::as_select())
            .load(c)?;
        let auctions: Vec<AuctionRow> = a::table
            .filter(a::listing_id.eq_any(&ids))
            .order((a::listing_id.asc(), a::round.asc()))
            .select(AuctionRow::as_select())
            .load(c)?;
        let bids: Vec<ClosedBid> = b::table
            .inner_join(a::table)
            .filter(b::listing_id.eq_any(&ids))
            .filter(a::closed_at.is_not_null())
            .order((b::listing_id.asc(), a::round.asc(), b::seq.asc()))
            .select((b::listing_id, a::round, b::seq, b::bidder_code, b::amount, b::placed_at))
            .load(c)?;
        let deals: Vec<DealRow> = d::table
            .filter(d::listing_id.eq_any(&ids))
            .order((d::listing_id.asc(), d::round.asc()))
            .select(DealRow::as_select())
            .load(c)?;
        Ok::<_, diesel::result::Error>((names, rounds, auctions, bids, deals))
    })?;
    let names: HashMap<i64, String> = names.into_iter().collect();
    let mut by_listing: HashMap<i64, Process> = HashMap::new();
    for row in &listings {
        by_listing.insert(
            row.id,
            Process {
                seller: names.get(&row.organization_id).cloned().unwrap_or_default(),
                listing: row.clone(),
                rounds: Vec::new(),
                auctions: Vec::new(),
                bids: Vec::new(),
                deals: Vec::new(),
                payments: Vec::new(),
            },
        );
    }
    for r in rounds {
        if let Some(p) = by_listing.get_mut(&r.listing_id) {
            p.rounds.push(r);
        }
    }
    for x in auctions {
        if let Some(p) = by_listing.get_mut(&x.listing_id) {
            p.auctions.push(x);
        }
    }
    for x in bids {
        if let Some(p) = by_listing.get_mut(&x.listing_id) {
            p.bids.push(x);
        }
    }
    for x in deals {
        if let Some(p) = by_listing.get_mut(&x.listing_id) {
            p.deals.push(x);
        }
    }
    for x in payments {
        if let Some(p) = by_listing.get_mut(&x.listing_id) {
            p.payments.push(x);
        }
    }
    Ok(listings
        .iter()
        .filter_map(|r| by_listing.remove(&r.id))
        .collect())
}
