//! The sealed one-time bid (一次报价): each eligible bidder submits one bid inside the window;
//! the answer and the audit trail carry its commitment, never its amount; at the close the
//! opening reveals every bid at once, in the closing transaction, and decides the winner.
//!
//! A submission queues on the auction's row lock like an English bid, so its time is the
//! exchange's time under that lock and the window's end is exclusive. The opening runs inside
//! [`super::close_if_due`], which locks the auction first: with several instances, exactly one
//! of them opens it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::bid::refusal;
use super::{course_of, mark_started, record, times};
use crate::audit::{self, Actor, RequestMeta};
use crate::domain::auction::{BidRefusal, Offer};
use crate::domain::bidding::{self, BiddingMethod, Preemption, Sealed};
use crate::domain::money::Money;
use crate::error::AppError;
use crate::exchange::listings::Deps;
use crate::exchange::registrations::{By, may_bid};
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::auctions::{self as auctions_store, AuctionRow};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::{from_db, to_db};
use crate::store::registrations::{self, RegistrationRow};
use crate::store::sealed::{self as store, NewSealed, Opened, SealedRow, Standing};

/// A sealed bid as its bidder sees it (nobody else sees it before the opening).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SealedBidView {
    /// The submission's id (the opened bid gets its own id and `seq` at the opening).
    pub id: i64,
    pub amount: Money,
    pub bidder_code: String,
    pub placed_at: DateTime<Utc>,
    /// When the window closes and every bid is opened.
    pub ends_at: DateTime<Utc>,
    /// Hex SHA-256 of `asset-exchange/sealed-bid/v1\n<listing_id>\n<bidder_code>\n<amount>\n<nonce>\n`,
    /// in the audit trail (`bid.sealed`) from the submission on.
    pub commitment: String,
    /// The random nonce in the committed bytes; published with the amount at the opening.
    pub nonce: String,
}

/// The outcome of a sealed bid request.
pub struct SealedPlaced {
    pub bid: SealedRow,
    pub ends_at: DateTime<Utc>,
    pub replay: bool,
}

pub fn is_sealed(listing: &ListingRow) -> bool {
    is_sealed_method(&listing.bidding_method)
}

/// Whether a listing's `bidding_method` is the sealed one-time bid.
pub fn is_sealed_method(method: &str) -> bool {
    BiddingMethod::parse(method) == Some(BiddingMethod::Sealed)
}

fn honours_right(listing: &ListingRow) -> bool {
    Preemption::parse(&listing.preemption).is_some_and(bidding::may_hold_right)
}

pub fn view(b: &SealedRow, ends_at: DateTime<Utc>) -> SealedBidView {
    SealedBidView {
        id: b.id,
        amount: Money::from_fen(b.amount),
        bidder_code: b.bidder_code.clone(),
        placed_at: from_db(b.placed_at),
        ends_at,
        commitment: b.commitment.clone(),
        nonce: b.nonce.clone(),
    }
}

/// The caller's own sealed bid in the listing's auction, if it placed one.
pub fn own(
    conn: &mut Conn,
    auction: &AuctionRow,
    user_id: i64,
) -> Result<Option<SealedBidView>, AppError> {
    Ok(store::of_user(conn, auction.id, user_id)?.map(|b| view(&b, from_db(auction.ends_at))))
}

/// Whether the bids of this auction may be shown: never before a sealed auction is opened.
pub fn bids_visible(listing: &ListingRow, auction: &AuctionRow) -> bool {
    !is_sealed(listing) || auction.closed_at.is_some()
}

/// Submits a sealed bid. The same `key` from the same bidder returns the original bid.
pub fn place(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing: &ListingRow,
    amount: Money,
    key: &str,
) -> Result<SealedPlaced, AppError> {
    let seen = auctions_store::of_listing(conn, listing.id, listing.round)?
        .ok_or_else(|| AppError::conflict("auction_not_open", "this listing has no auction"))?;
    if let Some(bid) = store::remembered(conn, by.user.id, listing.id, key)? {
        return Ok(SealedPlaced {
            bid,
            ends_at: from_db(seen.ends_at),
            replay: true,
        });
    }
    let reg = registrations::of_user(conn, listing.id, listing.round, by.user.id)?;
    let auction = auctions_store::lock(conn, seen.id)?;
    let ends_at = from_db(auction.ends_at);
    // A concurrent retry of the same request may have won the lock first.
    if let Some(bid) = store::remembered(conn, by.user.id, listing.id, key)? {
        return Ok(SealedPlaced {
            bid,
            ends_at,
            replay: true,
        });
    }
    let listing = listings_store::find(conn, listing.id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let at = deps.clock.now();
    let already = match &reg {
        Some(r) => store::of_registration(conn, auction.id, r.id)?.is_some(),
        None => false,
    };
    bidding::judge_sealed(
        &times(&auction),
        course_of(&auction, &listing),
        Money::from_fen(auction.start_price),
        offer(&listing, reg.as_ref(), amount),
        already,
        at,
    )
    .map_err(refusal)?;
    let reg = reg.ok_or_else(|| refusal(BidRefusal::NotEligible))?;
    mark_started(conn, &listing, auction.id, at)?;
    let bid = write(conn, by, &auction, &reg, amount, at, key)?;
    let ip = by.meta.ip_string();
    crate::exchange::risk::on_bid(conn, deps.rules, &listing, reg.id, ip.as_deref(), at)?;
    let to = crate::exchange::registrant(conn, reg.user_id)?;
    crate::exchange::mail_all(
        conn,
        deps.notifier,
        at,
        &to,
        Kind::SealedBidReceived,
        &listing,
        json!({
            "bidder_code": bid.bidder_code, "commitment": bid.commitment,
            "ends_at": crate::exchange::beijing(ends_at),
        }),
    )?;
    crate::live::notify_in_tx(conn, listing.id)?;
    Ok(SealedPlaced {
        bid,
        ends_at,
        replay: false,
    })
}

fn offer(listing: &ListingRow, reg: Option<&RegistrationRow>, amount: Money) -> Offer {
    Offer {
        bidder: reg.map_or(0, |r| r.id),
        eligible: reg.is_some_and(may_bid),
        amount,
        holds_right: honours_right(listing) && reg.is_some_and(|r| r.preemptive_right),
    }
}

/// Writes the sealed bid and its event: the commitment, never the amount.
fn write(
    conn: &mut Conn,
    by: &By,
    auction: &AuctionRow,
    reg: &RegistrationRow,
    amount: Money,
    at: DateTime<Utc>,
    key: &str,
) -> Result<SealedRow, AppError> {
    let code = reg.bidder_code.clone().unwrap_or_default();
    let nonce = crate::random::token();
    let commitment = bidding::commitment(auction.listing_id, &code, amount, &nonce);
    let ip = by.meta.ip_string();
    let bid = store::insert(
        conn,
        &NewSealed {
            auction_id: auction.id,
            listing_id: auction.listing_id,
            registration_id: reg.id,
            user_id: by.user.id,
            bidder_code: &code,
            amount: amount.fen(),
            nonce: &nonce,
            commitment: &commitment,
            placed_at: to_db(at),
            idempotency_key: key,
            client_ip: ip.as_deref(),
            user_agent: by.meta.user_agent.as_deref(),
        },
    )
    .map_err(|e| match e {
        AppError::Conflict {
            code: "conflict", ..
        } => refusal(BidRefusal::AlreadyBid),
        other => other,
    })?;
    record(
        conn,
        at,
        auction.listing_id,
        "bid.sealed",
        Actor::user(by.user.id, by.user.role),
        json!({
            "listing_id": auction.listing_id, "auction_id": auction.id, "registration_id": reg.id,
            "bidder_code": code, "placed_at": audit::chain::format_time(at), "commitment": commitment,
        }),
        by.meta,
    )?;
    Ok(bid)
}

/// Opens every sealed bid of `auction` at its close (the caller holds the auction's lock):
/// they enter the bid history in the order they were placed, the winner becomes the
/// auction's standing, and the trail gets every amount with its nonce. Returns the auction
/// as it now stands.
pub(super) fn open(
    conn: &mut Conn,
    listing: &ListingRow,
    auction: &AuctionRow,
    now: DateTime<Utc>,
) -> Result<AuctionRow, AppError> {
    let rows = store::all(conn, auction.id)?;
    let holders: HashSet<i64> = if honours_right(listing) {
        registrations::of_round(conn, listing.id, listing.round)?
            .into_iter()
            .filter(|r| r.preemptive_right)
            .map(|r| r.id)
            .collect()
    } else {
        HashSet::new()
    };
    let sealed: Vec<Sealed> = rows
        .iter()
        .map(|r| Sealed {
            registration: r.registration_id,
            amount: Money::from_fen(r.amount),
            placed_at: from_db(r.placed_at),
            holds_right: holders.contains(&r.registration_id),
        })
        .collect();
    let ends_at = from_db(auction.ends_at);
    let opened: Vec<Opened> = rows
        .iter()
        .zip(1..)
        .map(|(row, seq)| Opened { seq, row, ends_at })
        .collect();
    let last_bid_at = sealed.iter().map(|s| s.placed_at).max().unwrap_or(now);
    let winner = bidding::sealed_winner(&sealed).map(|i| Standing {
        price: rows[i].amount,
        registration_id: rows[i].registration_id,
        bidder_code: &rows[i].bidder_code,
        holds_right: sealed[i].holds_right,
        last_bid_at,
    });
    store::open(conn, auction.id, &opened, winner.as_ref())?;
    let revealed: Vec<_> = opened
        .iter()
        .map(|o| {
            json!({
                "seq": o.seq, "registration_id": o.row.registration_id, "bidder_code": o.row.bidder_code,
                "amount": Money::from_fen(o.row.amount).to_string(), "nonce": o.row.nonce,
                "commitment": o.row.commitment, "placed_at": audit::chain::format_time(from_db(o.row.placed_at)),
                "preemptive_right": holders.contains(&o.row.registration_id),
            })
        })
        .collect();
    record(
        conn,
        now,
        listing.id,
        "auction.opened",
        Actor::SYSTEM,
        json!({
            "listing_id": listing.id, "auction_id": auction.id, "bids": revealed,
            "winner_bidder_code": winner.as_ref().map(|w| w.bidder_code),
            "price": winner.as_ref().map(|w| Money::from_fen(w.price).to_string()),
        }),
        &RequestMeta::default(),
    )?;
    auctions_store::find(conn, auction.id)?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the auction vanished at its opening")))
}
