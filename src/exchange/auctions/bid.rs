//! Placing a bid: one short transaction that queues on the auction's row lock. A bid's time
//! is read under that lock, so a request that arrived before the end but is serialised after
//! it is too late; refusals that cannot change their answer are given before the queue, and
//! in the request's turn on its auction (see `turns`) when a bid placed since its read beat it.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{course_of, course_of_bid, times};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor};
use crate::domain::auction::{self, BidRefusal, Offer, Standing, Terms};
use crate::domain::bidding::Preemption;
use crate::domain::listing::ListingStatus;
use crate::domain::money::Money;
use crate::error::AppError;
use crate::exchange::listings::Deps;
use crate::exchange::registrations::{By, may_bid};
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::auctions::{self as store, AuctionRow, BidListing, BidRow, NewBid};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;
use crate::store::registrations::{self, RegistrationRow};

/// What a bid under the lock comes to: placed, or refused, in which case the request's key is
/// looked up only after the transaction released the lock ([`replay_or`]).
pub enum Judged {
    Placed(Placed),
    Refused(AppError),
}

/// The outcome of a bid request: the bid, and whether it was a replay of an earlier request.
pub struct Placed {
    pub bid: BidRow,
    pub replay: bool,
    /// Where the bid's event went (a new bid; a replay reads it back for its receipt).
    pub logged: Option<audit::Logged>,
    /// The registration that led before this bid, if another one.
    pub outbid: Option<i64>,
    /// The auction as this bid left it (a new bid only).
    pub after: Option<Box<AuctionRow>>,
}

impl Placed {
    pub(super) fn replayed(bid: BidRow) -> Self {
        Self {
            bid,
            replay: true,
            logged: None,
            outbid: None,
            after: None,
        }
    }
}

pub(super) fn refusal(r: BidRefusal) -> AppError {
    match r {
        BidRefusal::InvalidIncrement => AppError::rule(r.code(), r.to_string()),
        BidRefusal::NotEligible => AppError::Forbidden {
            code: r.code(),
            detail: r.to_string(),
        },
        _ => AppError::conflict(r.code(), r.to_string()),
    }
}

/// Places a bid. The same `key` from the same bidder on the same listing returns the
/// original bid and places nothing.
pub fn place_bid(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    amount: Money,
    key: &str,
) -> Result<Placed, AppError> {
    let seen = Seen::read(conn, listing_id, by.user.id, key);
    match place_seen(conn, deps, by, listing_id, seen, amount, key)? {
        Judged::Placed(p) => Ok(p),
        Judged::Refused(e) => replay_or(conn, by, listing_id, key, e),
    }
}

/// [`place_bid`] once the listing, its auction and the bidder's registration are read.
pub(super) fn place_seen(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    seen: Result<Seen, AppError>,
    amount: Money,
    key: &str,
) -> Result<Judged, AppError> {
    let early = seen.and_then(|seen| {
        seen.refuse_early(amount, deps.clock.now())?;
        Ok(seen)
    });
    let seen = match early {
        Ok(seen) => seen,
        // A retry of a request that was answered: its bid, not today's refusal.
        Err(e) => return replay_or(conn, by, listing_id, key, e).map(Judged::Placed),
    };
    let auction = store::lock(conn, seen.auction.id)?;
    // The bids that queued behind the one that just moved the price: refused at once
    // (with the listing as read before the lock: the price alone refuses them). A refused
    // request may be the retry of one that was accepted (it may have won the lock just
    // now): the caller looks its key up once the lock is released.
    if let Err(e) = seen.refuse_against(&auction, amount, deps.clock.now()) {
        return Ok(Judged::Refused(e));
    }
    let listing = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    // The bid's instant: now, under the lock, after the bid before it.
    let at = auction::serialised_at(deps.clock.now(), auction.last_bid_at.map(from_db));
    let offer = seen.offer(amount);
    let judged = auction::judge(
        &times(&auction),
        course_of(&auction, &listing),
        &terms(&auction),
        &standing(&auction),
        offer,
        at,
    );
    // An accepted request cannot be a retry: its key is written with the bid, and a key
    // seen before fails that write.
    let ends_at = match judged {
        Ok(ends_at) => ends_at,
        Err(BidRefusal::TooLow) => return Ok(Judged::Refused(too_low(&auction, &offer))),
        Err(r) => return Ok(Judged::Refused(refusal(r))),
    };
    let reg = seen
        .registration
        .ok_or_else(|| refusal(BidRefusal::NotEligible))?;
    super::mark_started(conn, &listing, auction.id, at)?;
    // The database's own guard (one raise per amount) refuses as the check above would.
    let (bid, left) =
        write(conn, by, &auction, &reg, amount, at, ends_at, key).map_err(|e| match e {
            AppError::Conflict {
                code: "conflict", ..
            } => too_low(&auction, &offer),
            other => other,
        })?;
    let outbid = auction
        .leading_registration_id
        .filter(|leader| *leader != reg.id);
    after(conn, deps, &listing, &bid, outbid, by.meta)?;
    // The event last: the log's lock, which every append in the exchange queues on, is then
    // held for the append and the commit only, not for the mail and the announcement.
    let logged = log(conn, by, &bid)?;
    Ok(Judged::Placed(Placed {
        bid,
        replay: false,
        logged: Some(logged),
        outbid,
        after: Some(Box::new(left)),
    }))
}

/// The bid an earlier request with this key placed (a retry is answered with it), or else
/// the refusal `e`.
pub(super) fn replay_or(
    conn: &mut Conn,
    by: &By,
    listing_id: i64,
    key: &str,
    e: AppError,
) -> Result<Placed, AppError> {
    replay_for(conn, by.user.id, listing_id, key, e)
}

/// [`replay_or`] for the requests of the user `user_id`.
pub(super) fn replay_for(
    conn: &mut Conn,
    user_id: i64,
    listing_id: i64,
    key: &str,
    e: AppError,
) -> Result<Placed, AppError> {
    match store::remembered(conn, user_id, listing_id, key)? {
        Some(bid) => Ok(Placed::replayed(bid)),
        None => Err(e),
    }
}

/// What a bid request reads before it queues: the listing, its auction, the bidder's
/// registration and the bid remembered under the request's key (each once, in one read).
pub(super) struct Seen {
    pub(super) listing: BidListing,
    auction: AuctionRow,
    registration: Option<RegistrationRow>,
    /// The bid an earlier request with this key placed, as of the read.
    pub(super) remembered: Option<BidRow>,
}

impl Seen {
    pub(super) fn read(
        conn: &mut Conn,
        listing_id: i64,
        user_id: i64,
        key: &str,
    ) -> Result<Self, AppError> {
        Self::of(store::for_bid(conn, listing_id, user_id, key)?)
    }

    /// What [`Seen::read`] makes of the read's row (`None`: no such listing).
    pub(super) fn of(row: Option<store::ForBid>) -> Result<Self, AppError> {
        let (listing, auction, registration, remembered) = row
            .filter(|(l, ..)| ListingStatus::parse(&l.status).is_some_and(ListingStatus::is_public))
            .ok_or_else(|| AppError::not_found("no such listing"))?;
        let auction = auction
            .ok_or_else(|| AppError::conflict("auction_not_open", "this listing has no auction"))?;
        Ok(Self {
            listing,
            auction,
            registration,
            remembered,
        })
    }

    fn offer(&self, amount: Money) -> Offer {
        let honoured = self.listing.preemption == Preemption::InAuction.as_str();
        Offer {
            holds_right: honoured
                && self
                    .registration
                    .as_ref()
                    .is_some_and(|r| r.preemptive_right),
            bidder: self.registration.as_ref().map_or(0, |r| r.id),
            eligible: self.registration.as_ref().is_some_and(may_bid),
            amount,
        }
    }

    /// Under contention most refusals are bids at or below a price someone already holds:
    /// they are answered here without queueing for the lock (see `refusable_early`).
    pub(super) fn refuse_early(&self, amount: Money, now: DateTime<Utc>) -> Result<(), AppError> {
        self.refuse_against(&self.auction, amount, now)
    }

    /// [`Self::refuse_early`] against `auction` as it stands since (read under its lock, or
    /// as a bid committed after this read left it), with the listing and registration as
    /// read before.
    pub(super) fn refuse_against(
        &self,
        auction: &AuctionRow,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let offer = self.offer(amount);
        if auction::refusable_early(
            &times(auction),
            course_of_bid(auction, &self.listing),
            &terms(auction),
            &standing(auction),
            offer,
            now,
        ) {
            return Err(too_low(auction, &offer));
        }
        Ok(())
    }

    /// The auction as read before the queue.
    pub(super) fn auction(&self) -> &AuctionRow {
        &self.auction
    }
}

fn terms(a: &AuctionRow) -> Terms {
    Terms {
        start_price: Money::from_fen(a.start_price),
        increment: Money::from_fen(a.increment),
        countdown: Duration::seconds(i64::from(a.countdown_seconds)),
        allow_self_raise: a.allow_self_raise,
    }
}

/// `bid_too_low` with the price the bid met and the lowest amount its bidder may bid
/// against it, so the client can bid again without reading the auction first.
fn too_low(a: &AuctionRow, offer: &Offer) -> AppError {
    let standing = standing(a);
    AppError::Outpriced {
        detail: BidRefusal::TooLow.to_string(),
        current_price: standing.current_price,
        minimum_bid: auction::minimum_bid(&terms(a), &standing, offer),
    }
}

fn standing(a: &AuctionRow) -> Standing {
    Standing {
        current_price: a.current_price.map(Money::from_fen),
        leader: a.leading_registration_id,
        leader_holds_right: a.leading_holds_right,
    }
}

/// Writes the accepted bid, the auction's new standing and the remembered key; answers the
/// bid and the auction as it left it.
#[expect(clippy::too_many_arguments, reason = "the parts of one accepted bid")]
fn write(
    conn: &mut Conn,
    by: &By,
    auction: &AuctionRow,
    reg: &RegistrationRow,
    amount: Money,
    at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    key: &str,
) -> Result<(BidRow, AuctionRow), AppError> {
    let code = reg.bidder_code.clone().unwrap_or_default();
    let ip = by.meta.ip_string();
    let (channel, payload) = crate::live::announcement(auction.listing_id);
    let new = NewBid {
        auction_id: auction.id,
        listing_id: auction.listing_id,
        seq: auction.bid_count + 1,
        registration_id: reg.id,
        bidder_code: &code,
        amount: amount.fen(),
        placed_at: at,
        ends_at,
        client_ip: ip.as_deref(),
        user_agent: by.meta.user_agent.as_deref(),
        // Judged already: an amount equal to the price is a right-holder's match.
        kind: if auction.current_price == Some(amount.fen()) {
            "match"
        } else {
            "raise"
        },
        holds_right: reg.preemptive_right,
    };
    let bid = store::accept(
        conn,
        &new,
        &store::Request {
            user_id: by.user.id,
            key,
        },
        // The live feeds of other instances hear of it with the commit, as they would from
        // `live::notify_in_tx`, without a statement of its own.
        &store::Announce {
            channel,
            payload: &payload,
        },
    )?;
    Ok((bid, auction.with_bid(&new)))
}

/// The accepted bid's event in the trail and the transparency log.
fn log(conn: &mut Conn, by: &By, bid: &BidRow) -> Result<audit::Logged, AppError> {
    audit::record_logged(
        conn,
        from_db(bid.placed_at),
        audit::Event {
            stream: format!("listing:{}", bid.listing_id),
            action: "bid.placed",
            actor: Actor::user(by.user.id, by.user.role),
            meta: by.meta,
            payload: json!({
            "listing_id": bid.listing_id, "auction_id": bid.auction_id, "seq": bid.seq,
            "amount": Money::from_fen(bid.amount).to_string(), "bidder_code": bid.bidder_code,
            "registration_id": bid.registration_id, "placed_at": audit::chain::format_time(from_db(bid.placed_at)),
            "ends_at": audit::chain::format_time(from_db(bid.ends_at)), "preemptive_match": bid.kind == "match",
            }),
        },
    )
}

/// What follows an accepted bid in the same transaction: the risk rules and the outbid mail
/// (the announcement to other instances went with the bid's write).
fn after(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    bid: &BidRow,
    outbid: Option<i64>,
    meta: &RequestMeta,
) -> Result<(), AppError> {
    let at = from_db(bid.placed_at);
    let ip = meta.ip_string();
    crate::exchange::risk::on_bid(
        conn,
        deps.rules,
        listing,
        bid.registration_id,
        ip.as_deref(),
        at,
    )?;
    if let Some((previous, user)) = outbid
        .map(|id| registrations::with_user(conn, id))
        .transpose()?
        .flatten()
    {
        crate::exchange::mail_all(
            conn,
            deps.notifier,
            at,
            &[user],
            if bid.kind == "match" {
                Kind::Outmatched
            } else {
                Kind::Outbid
            },
            listing,
            json!({
                "bidder_code": previous.bidder_code.unwrap_or_default(),
                "amount": Money::from_fen(bid.amount).to_string(),
                "ends_at": crate::exchange::beijing(from_db(bid.ends_at)),
            }),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_answer_with_their_statuses() {
        assert!(matches!(
            refusal(BidRefusal::NotEligible),
            AppError::Forbidden {
                code: "not_eligible",
                ..
            }
        ));
        assert!(matches!(
            refusal(BidRefusal::Paused),
            AppError::Conflict {
                code: "auction_not_open",
                ..
            }
        ));
        assert_eq!(
            refusal(BidRefusal::InvalidIncrement).code(),
            "invalid_increment"
        );
    }
}
