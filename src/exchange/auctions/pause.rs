//! An auction while its listing is suspended (中止): the pause, the resumption with the time
//! that was left (never less than one full countdown), and the end of an auction whose listing
//! is terminated. Writers that touch an auction and its listing lock the auction first, as a
//! bid does, so they queue behind bids instead of deadlocking with them.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{record, times};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor};
use crate::domain::auction;
use crate::error::AppError;
use crate::store::Conn;
use crate::store::auctions::{self as store, AuctionRow};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;

/// Locks the auction of the listing's current round, if it has one (before the listing's own
/// lock: the order every writer keeps).
pub fn lock_current(conn: &mut Conn, listing_id: i64) -> Result<Option<AuctionRow>, AppError> {
    let Some(listing) = listings_store::find(conn, listing_id)? else {
        return Ok(None);
    };
    store::lock_of_listing(conn, listing_id, listing.round)
}

/// The instant a suspension of this auction takes effect: now, but after its last bid.
pub fn pause_instant(auction: Option<&AuctionRow>, now: DateTime<Utc>) -> DateTime<Utc> {
    auction::serialised_at(now, auction.and_then(|a| a.last_bid_at.map(from_db)))
}

/// Records the pause of an open auction (the listing's suspension holds the instant).
pub fn pause(
    conn: &mut Conn,
    listing: &ListingRow,
    a: &AuctionRow,
    at: DateTime<Utc>,
    meta: &RequestMeta,
    actor: Actor,
) -> Result<(), AppError> {
    let t = times(a);
    record(
        conn,
        at,
        listing.id,
        "auction.paused",
        actor,
        json!({
            "listing_id": listing.id, "auction_id": a.id, "phase": t.phase(at).as_str(),
            "remaining_seconds": t.remaining_at(at).num_seconds(), "ends_at": audit::chain::format_time(t.ends_at),
        }),
        meta,
    )?;
    crate::live::notify_in_tx(conn, listing.id)
}

/// Resumes a paused auction at `now`: its times move by the length of the pause, with at least
/// one full countdown left. Returns the new end.
pub fn resume(
    conn: &mut Conn,
    listing: &ListingRow,
    a: &AuctionRow,
    paused_at: DateTime<Utc>,
    now: DateTime<Utc>,
    meta: &RequestMeta,
    actor: Actor,
) -> Result<DateTime<Utc>, AppError> {
    let before = times(a);
    let after = before.resumed(
        paused_at,
        now,
        Duration::seconds(i64::from(a.countdown_seconds)),
    );
    store::set_times(
        conn,
        a.id,
        after.starts_at,
        after.free_ends_at,
        after.ends_at,
    )?;
    record(
        conn,
        now,
        listing.id,
        "auction.resumed",
        actor,
        json!({
            "listing_id": listing.id, "auction_id": a.id,
            "paused_at": audit::chain::format_time(paused_at),
            "resumed_at": audit::chain::format_time(now),
            "remaining_seconds": before.remaining_at(paused_at).num_seconds(),
            "starts_at": audit::chain::format_time(after.starts_at),
            "free_ends_at": audit::chain::format_time(after.free_ends_at),
            "ends_at": audit::chain::format_time(after.ends_at),
        }),
        meta,
    )?;
    crate::live::notify_in_tx(conn, listing.id)?;
    Ok(after.ends_at)
}

/// Ends an auction that never came to its close because its listing was terminated: no
/// award, no winner. Nothing to do for an auction already closed.
pub fn void(
    conn: &mut Conn,
    listing: &ListingRow,
    a: &AuctionRow,
    now: DateTime<Utc>,
    reason: &str,
    meta: &RequestMeta,
    actor: Actor,
) -> Result<bool, AppError> {
    if !store::close(conn, a.id, now)? {
        return Ok(false);
    }
    record(
        conn,
        now,
        listing.id,
        "auction.closed",
        actor,
        json!({
            "listing_id": listing.id, "auction_id": a.id, "bids": a.bid_count, "status": "terminated",
            "winner_bidder_code": null, "price": null, "reason": reason,
        }),
        meta,
    )?;
    crate::live::notify_in_tx(conn, listing.id)?;
    Ok(true)
}
