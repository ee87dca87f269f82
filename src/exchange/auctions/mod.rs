//! Auction use cases: scheduling by an operator ([`schedule`]), bid placement (one short
//! transaction that locks the auction row, [`bid`]), closing when the countdown runs out
//! ([`close`]), and pausing while the listing is suspended ([`pause`]). The clock decides, not
//! the jobs: a bid at or after the effective end is refused even if closing is late, and a
//! paused auction neither starts, closes nor takes bids.

mod bid;
mod pause;
mod sealed;
mod timed;
mod turns;

pub use bid::{Placed, place_bid};
pub use pause::{lock_current, pause, pause_instant, resume, void};
pub use sealed::{
    SealedBidView, SealedPlaced, bids_visible, is_sealed, own as own_sealed_bid,
    view as sealed_bid_view,
};
pub use timed::{close_if_due, start_if_due};
pub(crate) use timed::{held_runner_up, settle_one as settle_deposit};
pub use turns::{Refused as RefusedInTurn, Turn, Turns};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::listings::{Deps, load_for_write};
use super::registrations::By;
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::auction::{self, Course, Phase, Times};
use crate::domain::bidding::{self, BiddingMethod};
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::money::Money;
use crate::error::AppError;
use crate::store::auctions::{self as store, AuctionRow, BidListing, BidRow, NewAuction};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;
use crate::store::sessions::{LiveLogin, Login};
use crate::store::{Conn, registrations};

/// The auction as anyone may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuctionView {
    pub listing_id: i64,
    /// `english` or `sealed` (a sealed auction shows `phase: "sealed"` during its window,
    /// and no price or leader before its opening).
    pub bidding_method: BiddingMethod,
    /// The listing's status.
    pub status: ListingStatus,
    pub phase: Phase,
    /// While `paused`: what was left of the current period (until the start, the end of the
    /// free period, or the end) when the listing was suspended; frozen until it resumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<u64>,
    /// While `paused`: when the suspension began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DateTime<Utc>>,
    pub starts_at: DateTime<Utc>,
    pub free_ends_at: DateTime<Utc>,
    /// The current end (exclusive); each bid in the countdown moves it.
    pub ends_at: DateTime<Utc>,
    pub start_price: Money,
    pub increment: Money,
    pub countdown_seconds: u32,
    pub current_price: Option<Money>,
    pub leading_bidder_code: Option<String>,
    pub bid_count: u32,
    pub server_time: DateTime<Utc>,
}

/// An accepted bid.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BidView {
    pub id: i64,
    pub seq: u32,
    pub amount: Money,
    pub bidder_code: String,
    pub placed_at: DateTime<Utc>,
    /// The auction's end after this bid.
    pub ends_at: DateTime<Utc>,
    /// A holder of the pre-emptive right matched the current price with this bid (it does
    /// not tell which bidder holds the right otherwise).
    pub preemptive_match: bool,
}

pub fn times(a: &AuctionRow) -> Times {
    Times {
        starts_at: from_db(a.starts_at),
        free_ends_at: from_db(a.free_ends_at),
        ends_at: from_db(a.ends_at),
    }
}

/// Where the auction of `listing` stands apart from its times.
pub fn course_of(a: &AuctionRow, listing: &ListingRow) -> Course {
    course_from(
        a,
        &listing.status,
        listing.suspended_from.as_deref(),
        listing.suspended_at,
    )
}

/// [`course_of`] with the listing as a bid reads it before its transaction.
pub(super) fn course_of_bid(a: &AuctionRow, listing: &BidListing) -> Course {
    course_from(
        a,
        &listing.status,
        listing.suspended_from.as_deref(),
        listing.suspended_at,
    )
}

fn course_from(
    a: &AuctionRow,
    status: &str,
    suspended_from: Option<&str>,
    suspended_at: Option<chrono::NaiveDateTime>,
) -> Course {
    auction::course(
        ListingStatus::parse(status).unwrap_or(ListingStatus::Draft),
        suspended_from.and_then(ListingStatus::parse),
        suspended_at.map(from_db),
        a.closed_at.is_some(),
    )
}

pub fn view(a: &AuctionRow, listing: &ListingRow, now: DateTime<Utc>) -> AuctionView {
    let t = times(a);
    let course = course_of(a, listing);
    let remaining = auction::remaining_when_paused(&t, course);
    let method = BiddingMethod::parse(&listing.bidding_method).unwrap_or_default();
    let phase = auction::phase_at(&t, course, now);
    AuctionView {
        listing_id: a.listing_id,
        bidding_method: method,
        status: ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft),
        phase: match method {
            BiddingMethod::Sealed => bidding::sealed_phase(phase),
            BiddingMethod::English => phase,
        },
        remaining_seconds: remaining.map(|d| u64::try_from(d.num_seconds()).unwrap_or(0)),
        paused_at: match course {
            Course::Paused { since } => Some(since),
            _ => None,
        },
        starts_at: t.starts_at,
        free_ends_at: t.free_ends_at,
        ends_at: t.ends_at,
        start_price: Money::from_fen(a.start_price),
        increment: Money::from_fen(a.increment),
        countdown_seconds: u32::try_from(a.countdown_seconds).unwrap_or(0),
        current_price: a.current_price.map(Money::from_fen),
        leading_bidder_code: a.leading_bidder_code.clone(),
        bid_count: u32::try_from(a.bid_count).unwrap_or(0),
        server_time: now,
    }
}

pub fn bid_view(b: &BidRow) -> BidView {
    BidView {
        id: b.id,
        seq: u32::try_from(b.seq).unwrap_or(0),
        amount: Money::from_fen(b.amount),
        bidder_code: b.bidder_code.clone(),
        placed_at: from_db(b.placed_at),
        ends_at: from_db(b.ends_at),
        preemptive_match: b.kind == "match",
    }
}

fn record(
    conn: &mut Conn,
    now: DateTime<Utc>,
    listing_id: i64,
    action: &'static str,
    actor: Actor,
    payload: serde_json::Value,
    meta: &RequestMeta,
) -> Result<(), AppError> {
    audit::record(
        conn,
        now,
        Event {
            stream: format!("listing:{listing_id}"),
            action,
            actor,
            payload,
            meta,
        },
    )
}

/// An operator schedules the auction of a listing whose disclosure ended with at least two
/// eligible bidders.
pub fn schedule(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    starts_at: DateTime<Utc>,
) -> Result<(ListingRow, AuctionRow), AppError> {
    let row = load_for_write(conn, deps, listing_id, by.now)?;
    let from = ListingStatus::parse(&row.status).unwrap_or(ListingStatus::Draft);
    let to = transition(from, Action::ScheduleAuction)?;
    let bidders = eligible_of_round(conn, &row)?;
    let eligible = u32::try_from(bidders.len()).unwrap_or(u32::MAX);
    if row.disclosure_decided_at.is_none() || eligible < 2 {
        return Err(AppError::conflict(
            "invalid_state",
            "an auction is scheduled once disclosure has ended with at least two eligible bidders",
        ));
    }
    if starts_at < by.now {
        return Err(AppError::field("starts_at", "must not be in the past"));
    }
    // A sealed auction is its window alone: no countdown follows it.
    let countdown = if sealed::is_sealed(&row) {
        0
    } else {
        u32::try_from(row.countdown_seconds).unwrap_or(0)
    };
    let t = Times::schedule(
        crate::audit::chain::truncate(starts_at),
        u32::try_from(row.free_bidding_seconds).unwrap_or(0),
        countdown,
    );
    let auction = store::insert(
        conn,
        &NewAuction {
            listing_id,
            round: row.round,
            starts_at: t.starts_at,
            free_ends_at: t.free_ends_at,
            ends_at: t.ends_at,
            countdown_seconds: row.countdown_seconds,
            start_price: row.listing_price,
            increment: row.increment,
            allow_self_raise: row.allow_self_raise,
            now: by.now,
        },
    )
    .map_err(|e| match e {
        AppError::Conflict {
            code: "conflict", ..
        } => AppError::conflict("invalid_state", "this round's auction is already scheduled"),
        other => other,
    })?;
    listings_store::set_status(conn, listing_id, from.as_str(), to.as_str(), by.now)?;
    record(
        conn,
        by.now,
        listing_id,
        "auction.scheduled",
        Actor::user(by.user.id, by.user.role),
        json!({
            "listing_id": listing_id, "auction_id": auction.id, "round": row.round, "eligible_bidders": eligible,
            "starts_at": audit::chain::format_time(t.starts_at), "free_ends_at": audit::chain::format_time(t.free_ends_at),
            "ends_at": audit::chain::format_time(t.ends_at),
            "start_price": Money::from_fen(row.listing_price).to_string(), "increment": Money::from_fen(row.increment).to_string(),
            "bidding_method": row.bidding_method, "preemption": row.preemption,
        }),
        by.meta,
    )?;
    mail_scheduled(conn, deps, by.now, &row, &bidders, &t)?;
    let row = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((row, auction))
}

/// The registrations of the listing's round that may bid (qualified, deposit paid).
fn eligible_of_round(
    conn: &mut Conn,
    row: &ListingRow,
) -> Result<Vec<registrations::RegistrationRow>, AppError> {
    let mut all = registrations::of_round(conn, row.id, row.round)?;
    all.retain(crate::exchange::registrations::may_bid);
    Ok(all)
}

/// Tells each bidder who may bid when the auction starts, on what terms, and under which
/// bidder code (queued in the scheduling transaction: no mail for a schedule that failed).
fn mail_scheduled(
    conn: &mut Conn,
    deps: &Deps,
    now: DateTime<Utc>,
    row: &ListingRow,
    bidders: &[registrations::RegistrationRow],
    t: &Times,
) -> Result<(), AppError> {
    let method = BiddingMethod::parse(&row.bidding_method).unwrap_or_default();
    for reg in bidders {
        let to = crate::exchange::registrant(conn, reg.user_id)?;
        crate::exchange::mail_all(
            conn,
            deps.notifier,
            now,
            &to,
            crate::notify::Kind::AuctionScheduled,
            row,
            json!({
                "starts_at": crate::exchange::beijing(t.starts_at),
                "ends_at": crate::exchange::beijing(t.ends_at),
                "start_price": Money::from_fen(row.listing_price).to_string(),
                "increment": Money::from_fen(row.increment).to_string(),
                "free_bidding_seconds": row.free_bidding_seconds,
                "countdown_seconds": row.countdown_seconds,
                "bidding_method": method.as_str(),
                "bidder_code": reg.bidder_code,
            }),
        )?;
    }
    Ok(())
}

/// The answer to a bid request: an English bid, or a sealed one.
pub enum Placement {
    Open(Placed),
    Sealed(SealedPlaced),
    /// An English bid refused once the lock was granted, before anything was written, or in
    /// its turn when a bid placed since its read may be its own: see [`replay_or`] (the
    /// caller ends the transaction first, so the lock is not held while the key is looked
    /// up).
    Refused(AppError),
}

/// Places a bid by the listing's bidding method (see [`place_bid`] and [`sealed`]): the one
/// read of the listing, its auction and the bidder's registration serves both.
pub fn place(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    amount: Money,
    key: &str,
) -> Result<Placement, AppError> {
    let seen = bid::Seen::read(conn, listing_id, by.user.id, key);
    match seen {
        Ok(seen) if sealed::is_sealed_method(&seen.listing.bidding_method) => {
            // A sealed bid reads the whole listing (one bid per bidder, in its transaction).
            let listing = listings_store::find(conn, listing_id)?
                .ok_or_else(|| AppError::not_found("no such listing"))?;
            sealed::place(conn, deps, by, &listing, amount, key).map(Placement::Sealed)
        }
        seen => Ok(
            match bid::place_seen(conn, deps, by, listing_id, seen, amount, key)? {
                bid::Judged::Placed(p) => Placement::Open(p),
                bid::Judged::Refused(e) => Placement::Refused(e),
            },
        ),
    }
}

/// A bid request before any transaction: answered already, or to be placed under its
/// auction's lock ([`before_lock`]).
pub enum Before {
    /// Refused without the lock (or the replay of an earlier request with its key).
    Answered(Box<Placement>),
    /// To be placed by [`place_queued`], in a transaction.
    Queue(Queued),
}

/// What a bid read before it queued (opaque: only [`place_queued`] and [`Turn`] read it).
pub struct Queued(Option<Box<bid::Seen>>);

impl Queued {
    /// The auction an English bid queues on (`None` for a sealed bid, which does not
    /// compete on price and takes no turn).
    pub fn auction_id(&self) -> Option<i64> {
        self.seen().map(|seen| seen.auction().id)
    }

    fn seen(&self) -> Option<&bid::Seen> {
        self.0.as_deref()
    }
}

/// What a bid request reads before it queues, on a connection outside any transaction, with
/// the caller's login checked in the same statement (the login, the listing, its auction, the
/// bidder's registration and the bid remembered under the request's key), and the answers
/// that need no lock: the replay of an earlier request with the same key, a bid at or below a
/// price someone already holds, or on a listing without an open auction. Reads only. A sealed
/// bid always queues.
///
/// `None` if the login is not live. Otherwise its user and the answer, which the caller acts
/// on only once that user may bid at all (a refusal of the login's role comes first).
pub fn before_lock(
    conn: &mut Conn,
    deps: &Deps,
    login: Login,
    listing_id: i64,
    amount: Money,
    key: &str,
) -> Result<Option<Read>, AppError> {
    let Some((live, row)) = store::for_bid_signed(conn, login, listing_id, key)? else {
        return Ok(None);
    };
    let seen = bid::Seen::of(row);
    let before = before_lock_seen(conn, deps, login.user_id, listing_id, seen, amount, key);
    Ok(Some(Read {
        login: live,
        before,
    }))
}

/// What [`before_lock`] read for a live login: its user, and the answer to the bid.
pub struct Read {
    pub login: LiveLogin,
    pub before: Result<Before, AppError>,
}

fn before_lock_seen(
    conn: &mut Conn,
    deps: &Deps,
    user_id: i64,
    listing_id: i64,
    seen: Result<bid::Seen, AppError>,
    amount: Money,
    key: &str,
) -> Result<Before, AppError> {
    let mut seen = match seen {
        Ok(seen) => seen,
        // No open auction: an earlier request with this key (on an earlier round) is still
        // answered with its bid.
        Err(e) => {
            return bid::replay_for(conn, user_id, listing_id, key, e)
                .map(|p| Before::Answered(Box::new(Placement::Open(p))));
        }
    };
    if sealed::is_sealed_method(&seen.listing.bidding_method) {
        return Ok(Before::Queue(Queued(None)));
    }
    if let Some(bid) = seen.remembered.take() {
        return Ok(Before::Answered(Box::new(Placement::Open(
            bid::Placed::replayed(bid),
        ))));
    }
    // The read saw no bid under this key: a refusal as of the read is the answer, with
    // nothing to look up.
    seen.refuse_early(amount, deps.clock.now())?;
    Ok(Before::Queue(Queued(Some(Box::new(seen)))))
}

/// Places a bid that [`before_lock`] queued, in the caller's transaction (a sealed bid reads
/// its listing again here, as [`place`] does).
pub fn place_queued(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    queued: Queued,
    amount: Money,
    key: &str,
) -> Result<Placement, AppError> {
    let Queued(Some(seen)) = queued else {
        return place(conn, deps, by, listing_id, amount, key);
    };
    Ok(
        match bid::place_seen(conn, deps, by, listing_id, Ok(*seen), amount, key)? {
            bid::Judged::Placed(p) => Placement::Open(p),
            bid::Judged::Refused(e) => Placement::Refused(e),
        },
    )
}

/// The answer to an English bid refused under the lock ([`Placement::Refused`], in a
/// transaction that wrote nothing), or whose key was found seen before only when its bid
/// was written ([`crate::store::auctions::KEY_SEEN`], rolled back): read afterwards, the bid
/// of the earlier request with that key if there is one, else the refusal `e`.
pub fn replay_or(
    conn: &mut Conn,
    by: &By,
    listing_id: i64,
    key: &str,
    e: AppError,
) -> Result<Placement, AppError> {
    bid::replay_or(conn, by, listing_id, key, e).map(Placement::Open)
}

/// Moves a scheduled listing to `bidding` (its auction's start has come: by the scheduler or
/// by the first bid, whichever is first), with its event. Nothing to do otherwise.
pub(crate) fn mark_started(
    conn: &mut Conn,
    listing: &ListingRow,
    auction_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let status = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    if status != ListingStatus::AuctionScheduled {
        return Ok(false);
    }
    let to = transition(status, Action::StartBidding)?;
    listings_store::set_status(conn, listing.id, status.as_str(), to.as_str(), now)?;
    record(
        conn,
        now,
        listing.id,
        "auction.started",
        Actor::SYSTEM,
        json!({"listing_id": listing.id, "auction_id": auction_id}),
        &RequestMeta::default(),
    )?;
    Ok(true)
}
