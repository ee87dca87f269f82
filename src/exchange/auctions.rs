//! Auction use cases: scheduling by an operator, bid placement (one short transaction that
//! locks the auction row), and closing when the countdown runs out. The clock decides, not
//! the jobs: a bid at or after the effective end is refused even if closing is late.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::listings::{Deps, load_for_write};
use super::registrations::By;
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::auction::{self, Phase, Standing, Terms, Times};
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::money::Money;
use crate::domain::registration::{
    DepositAction, DepositStatus, RegistrationStatus, deposit_transition, is_eligible,
};
use crate::error::AppError;
use crate::notify::Kind;
use crate::store::auctions::{self as store, AuctionRow, BidRow, NewAuction, NewBid};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;
use crate::store::{Conn, registrations};

/// The auction as anyone may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuctionView {
    pub listing_id: i64,
    /// The listing's status.
    pub status: ListingStatus,
    pub phase: Phase,
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
}

pub fn times(a: &AuctionRow) -> Times {
    Times {
        starts_at: from_db(a.starts_at),
        free_ends_at: from_db(a.free_ends_at),
        ends_at: from_db(a.ends_at),
    }
}

pub fn view(a: &AuctionRow, listing_status: ListingStatus, now: DateTime<Utc>) -> AuctionView {
    let t = times(a);
    let phase = if a.closed_at.is_some()
        || !matches!(
            listing_status,
            ListingStatus::AuctionScheduled | ListingStatus::Bidding
        ) {
        match listing_status {
            ListingStatus::AuctionScheduled | ListingStatus::Bidding | ListingStatus::Suspended => {
                t.phase(now)
            }
            _ => Phase::Closed,
        }
    } else {
        t.phase(now)
    };
    AuctionView {
        listing_id: a.listing_id,
        status: listing_status,
        phase,
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
    let eligible = registrations::count_eligible(conn, row.id, row.round)?;
    if row.disclosure_decided_at.is_none() || eligible < 2 {
        return Err(AppError::conflict(
            "invalid_state",
            "an auction is scheduled once disclosure has ended with at least two eligible bidders",
        ));
    }
    if starts_at < by.now {
        return Err(AppError::field("starts_at", "must not be in the past"));
    }
    let t = Times::schedule(
        crate::audit::chain::truncate(starts_at),
        u32::try_from(row.free_bidding_seconds).unwrap_or(0),
        u32::try_from(row.countdown_seconds).unwrap_or(0),
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
        }),
        by.meta,
    )?;
    let row = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((row, auction))
}

/// The outcome of a bid request: the bid, and whether it was a replay of an earlier request.
pub struct Placed {
    pub bid: BidRow,
    pub replay: bool,
    /// The registration that led before this bid, if another one.
    pub outbid: Option<i64>,
}

fn refusal(r: auction::BidRefusal) -> AppError {
    match r {
        auction::BidRefusal::InvalidIncrement => AppError::rule(r.code(), r.to_string()),
        _ => AppError::conflict(r.code(), r.to_string()),
    }
}

/// Places a bid. The same `key` from the same bidder on the same listing returns the
/// original bid and places nothing.
#[expect(clippy::too_many_lines, reason = "split by the lead in issue 12/13")]
pub fn place_bid(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    amount: Money,
    key: &str,
) -> Result<Placed, AppError> {
    if let Some(bid) = store::remembered(conn, by.user.id, listing_id, key)? {
        return Ok(Placed {
            bid,
            replay: true,
            outbid: None,
        });
    }
    let listing = listings_store::find(conn, listing_id)?
        .filter(|l| ListingStatus::parse(&l.status).is_some_and(ListingStatus::is_public))
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let Some(auction) = store::of_listing(conn, listing_id, listing.round)? else {
        return Err(AppError::conflict(
            "auction_not_open",
            "this listing has no auction",
        ));
    };
    // Prices only go up: a bid not above the price read just now can be refused without
    // queueing for the lock (under contention most refusals are these).
    if auction
        .current_price
        .is_some_and(|current| amount.fen() <= current)
    {
        return Err(refusal(auction::BidRefusal::TooLow));
    }
    let auction = store::lock(conn, auction.id)?;
    // A concurrent retry of the same request may have won the lock first.
    if let Some(bid) = store::remembered(conn, by.user.id, listing_id, key)? {
        return Ok(Placed {
            bid,
            replay: true,
            outbid: None,
        });
    }
    let listing = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let status = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    let t = times(&auction);
    let open = matches!(
        status,
        ListingStatus::AuctionScheduled | ListingStatus::Bidding
    );
    if auction.closed_at.is_some() || (!open && status != ListingStatus::Suspended) {
        return Err(refusal(auction::BidRefusal::Closed));
    }
    if !open {
        return Err(AppError::conflict(
            "auction_not_open",
            format!("bidding is paused: the listing is {}", listing.status),
        ));
    }
    match t.phase(by.now) {
        Phase::Scheduled => return Err(refusal(auction::BidRefusal::NotOpen)),
        Phase::Closed => return Err(refusal(auction::BidRefusal::Closed)),
        Phase::Free | Phase::Countdown => {}
    }
    let reg = registrations::of_user(conn, listing_id, listing.round, by.user.id)?
        .filter(|r| {
            is_eligible(
                RegistrationStatus::parse(&r.status).unwrap_or(RegistrationStatus::Pending),
                DepositStatus::parse(&r.deposit_status).unwrap_or(DepositStatus::Unpaid),
            )
        })
        .ok_or_else(|| AppError::Forbidden {
            code: "not_eligible",
            detail: "only qualified bidders with a paid deposit may bid".into(),
        })?;
    let terms = Terms {
        start_price: Money::from_fen(auction.start_price),
        increment: Money::from_fen(auction.increment),
        countdown: Duration::seconds(i64::from(auction.countdown_seconds)),
        allow_self_raise: auction.allow_self_raise,
    };
    let standing = Standing {
        current_price: auction.current_price.map(Money::from_fen),
        leader: auction.leading_registration_id,
    };
    let ends_at =
        auction::check_bid(&t, &terms, &standing, reg.id, amount, by.now).map_err(refusal)?;
    if status == ListingStatus::AuctionScheduled {
        let to = transition(status, Action::StartBidding)?;
        listings_store::set_status(conn, listing_id, status.as_str(), to.as_str(), by.now)?;
        record(
            conn,
            by.now,
            listing_id,
            "auction.started",
            Actor::SYSTEM,
            json!({"listing_id": listing_id, "auction_id": auction.id}),
            &RequestMeta::default(),
        )?;
    }
    let code = reg.bidder_code.clone().unwrap_or_default();
    let ip = by.meta.ip_string();
    let bid = store::accept(
        conn,
        &NewBid {
            auction_id: auction.id,
            listing_id,
            seq: auction.bid_count + 1,
            registration_id: reg.id,
            bidder_code: &code,
            amount: amount.fen(),
            placed_at: by.now,
            ends_at,
            client_ip: ip.as_deref(),
            user_agent: by.meta.user_agent.as_deref(),
        },
    )
    .map_err(|e| match e {
        AppError::Conflict {
            code: "conflict", ..
        } => refusal(auction::BidRefusal::TooLow),
        other => other,
    })?;
    store::remember(conn, by.user.id, listing_id, key, bid.id, by.now)?;
    record(
        conn,
        by.now,
        listing_id,
        "bid.placed",
        Actor::user(by.user.id, by.user.role),
        json!({
            "listing_id": listing_id, "auction_id": auction.id, "seq": bid.seq, "amount": amount.to_string(),
            "bidder_code": code, "registration_id": reg.id, "ends_at": audit::chain::format_time(ends_at),
        }),
        by.meta,
    )?;
    super::risk::on_bid(conn, deps.rules, &listing, reg.id, ip.as_deref(), by.now)?;
    let outbid = auction
        .leading_registration_id
        .filter(|leader| *leader != reg.id);
    if let Some(previous) = outbid
        .map(|id| registrations::find(conn, id))
        .transpose()?
        .flatten()
    {
        let to = super::registrant(conn, previous.user_id)?;
        super::mail_all(
            conn,
            deps.notifier,
            by.now,
            &to,
            Kind::Outbid,
            &listing,
            json!({
                "bidder_code": previous.bidder_code.unwrap_or_default(), "amount": amount.to_string(),
                "ends_at": super::beijing(ends_at),
            }),
        )?;
    }
    crate::live::notify_in_tx(conn, listing_id)?;
    Ok(Placed {
        bid,
        replay: false,
        outbid,
    })
}

/// Closes an auction whose end has passed: awarded to the highest bid, or failed without
/// bids; deposits are settled in the same transaction.
pub fn close_if_due(
    conn: &mut Conn,
    deps: &Deps,
    auction_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<ListingStatus>, AppError> {
    let rules = deps.rules;
    let forfeit_unused = rules.forfeit_unused_deposits;
    let auction = store::lock(conn, auction_id)?;
    if auction.closed_at.is_some() || now < from_db(auction.ends_at) {
        return Ok(None);
    }
    let Some(listing) = listings_store::find_for_update(conn, auction.listing_id)? else {
        return Ok(None);
    };
    let status = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    if !matches!(
        status,
        ListingStatus::AuctionScheduled | ListingStatus::Bidding
    ) {
        return Ok(None); // suspended or terminated: the auction waits or is void
    }
    let from = if status == ListingStatus::AuctionScheduled {
        listings_store::set_status(
            conn,
            listing.id,
            status.as_str(),
            ListingStatus::Bidding.as_str(),
            now,
        )?;
        ListingStatus::Bidding
    } else {
        status
    };
    let bids = u32::try_from(auction.bid_count).unwrap_or(0);
    let to = transition(from, Action::CloseAuction { bids })?;
    store::close(conn, auction_id, now)?;
    listings_store::set_status(conn, listing.id, from.as_str(), to.as_str(), now)?;
    listings_store::set_round_outcome(conn, listing.id, listing.round, to.as_str())?;
    let system = RequestMeta::default();
    record(
        conn,
        now,
        listing.id,
        "auction.closed",
        Actor::SYSTEM,
        json!({
            "listing_id": listing.id, "auction_id": auction_id, "bids": bids, "status": to.as_str(),
            "winner_bidder_code": auction.leading_bidder_code, "price": auction.current_price.map(|p| Money::from_fen(p).to_string()),
        }),
        &system,
    )?;
    super::risk::on_auction_closed(conn, rules, &listing, &auction, now)?;
    settle_deposits(conn, rules, &listing, &auction, forfeit_unused, now)?;
    if let (ListingStatus::Awarded, Some(winner), Some(price)) =
        (to, auction.leading_registration_id, auction.current_price)
    {
        let reg = registrations::find(conn, winner)?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("winner vanished")))?;
        super::deals::award(
            conn,
            rules,
            &listing,
            &reg,
            Money::from_fen(price),
            "auction",
            now,
        )?;
    }
    mail_outcome(conn, deps, &listing, &auction, to, now)?;
    crate::live::notify_in_tx(conn, listing.id)?;
    Ok(Some(to))
}

/// Tells the winner, the other bidders (or, without bids, the eligible ones) and the owner.
fn mail_outcome(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    auction: &AuctionRow,
    to: ListingStatus,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let price = auction
        .current_price
        .map(|p| Money::from_fen(p).to_string())
        .unwrap_or_default();
    let bidders = store::bidders(conn, auction.id)?;
    for reg in registrations::of_round(conn, listing.id, listing.round)? {
        let code = reg.bidder_code.clone().unwrap_or_default();
        let kind = if Some(reg.id) == auction.leading_registration_id {
            Kind::AuctionWon
        } else if bidders.contains(&reg.id) {
            Kind::AuctionLost
        } else if to == ListingStatus::Failed && reg.status == "qualified" {
            Kind::AuctionFailed
        } else {
            continue;
        };
        let users = super::registrant(conn, reg.user_id)?;
        super::mail_all(
            conn,
            deps.notifier,
            now,
            &users,
            kind,
            listing,
            json!({"bidder_code": code, "price": price}),
        )?;
    }
    let owners = super::owners(conn, listing)?;
    let outcome = if to == ListingStatus::Awarded {
        "awarded"
    } else {
        "failed"
    };
    super::mail_all(
        conn,
        deps.notifier,
        now,
        &owners,
        Kind::AuctionResult,
        listing,
        json!({
            "outcome": outcome, "price": price, "bids": auction.bid_count,
        }),
    )
}

/// Winner's deposit converts into the price; bidders' deposits are refunded; eligible
/// bidders who never bid are refunded or, if configured, forfeited.
fn settle_deposits(
    conn: &mut Conn,
    rules: &super::ExchangeRules,
    listing: &ListingRow,
    auction: &AuctionRow,
    forfeit_unused: bool,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let bidders = store::bidders(conn, auction.id)?;
    for reg in registrations::of_round(conn, listing.id, listing.round)? {
        let from = DepositStatus::parse(&reg.deposit_status).unwrap_or(DepositStatus::Unpaid);
        if from != DepositStatus::Paid {
            continue;
        }
        let action = if Some(reg.id) == auction.leading_registration_id {
            DepositAction::Convert
        } else if !bidders.contains(&reg.id) && forfeit_unused {
            DepositAction::Forfeit
        } else {
            DepositAction::Refund
        };
        let status = RegistrationStatus::parse(&reg.status).unwrap_or(RegistrationStatus::Pending);
        let to = deposit_transition(from, action, status)
            .map_err(|m| AppError::conflict("invalid_state", m))?;
        registrations::set_deposit(conn, reg.id, from.as_str(), to.as_str(), None, now)?;
        let audit_action = match action {
            DepositAction::Convert => "deposit.converted",
            DepositAction::Forfeit => "deposit.forfeited",
            _ => "deposit.refunded",
        };
        record(
            conn,
            now,
            listing.id,
            audit_action,
            Actor::SYSTEM,
            json!({
                "listing_id": listing.id, "registration_id": reg.id, "amount": Money::from_fen(listing.deposit).to_string(),
                "from": from.as_str(), "to": to.as_str(), "reason": "auction_closed",
            }),
            &RequestMeta::default(),
        )?;
        if action == DepositAction::Forfeit {
            super::risk::on_forfeit(conn, rules, reg.organization_id, listing.id, now)?;
        }
    }
    Ok(())
}
