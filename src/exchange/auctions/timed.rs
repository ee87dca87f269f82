//! What the clock moves: an auction's start and its close. The scheduler calls these; both
//! are idempotent and safe with several instances (the auction row is locked first, then the
//! listing's), and both leave a paused auction alone.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{course_of, mark_started, record};
use crate::audit::Actor;
use crate::audit::RequestMeta;
use crate::domain::auction::{self, Course};
use crate::domain::deal::{Role, deposit_at_close};
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::money::Money;
use crate::domain::registration::{
    DepositAction, DepositStatus, RegistrationStatus, deposit_transition,
};
use crate::error::AppError;
use crate::exchange::ExchangeRules;
use crate::exchange::listings::Deps;
use crate::notify::Kind;
use crate::store::auctions::{self as store, AuctionRow};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;
use crate::store::{Conn, registrations};

/// Starts a scheduled auction whose start has come (moves its listing to `bidding`). Returns
/// the listing id when this call started it.
pub fn start_if_due(
    conn: &mut Conn,
    auction_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>, AppError> {
    let auction = store::lock(conn, auction_id)?;
    if auction.closed_at.is_some() || now < from_db(auction.starts_at) {
        return Ok(None);
    }
    let Some(listing) = listings_store::find_for_update(conn, auction.listing_id)? else {
        return Ok(None);
    };
    if listing.round != auction.round || course_of(&auction, &listing) != Course::Open {
        return Ok(None);
    }
    if !mark_started(conn, &listing, auction.id, now)? {
        return Ok(None);
    }
    crate::live::notify_in_tx(conn, listing.id)?;
    Ok(Some(listing.id))
}

/// Closes an auction whose end has passed: awarded to the highest bid, or failed without
/// bids; deposits are settled in the same transaction. A paused auction is not closed.
pub fn close_if_due(
    conn: &mut Conn,
    deps: &Deps,
    auction_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<ListingStatus>, AppError> {
    let rules = deps.rules;
    let auction = store::lock(conn, auction_id)?;
    if auction.closed_at.is_some() || now < from_db(auction.ends_at) {
        return Ok(None);
    }
    let Some(listing) = listings_store::find_for_update(conn, auction.listing_id)? else {
        return Ok(None);
    };
    if listing.round != auction.round || course_of(&auction, &listing) != Course::Open {
        return Ok(None); // paused, or the listing moved on: not the clock's to close
    }
    mark_started(conn, &listing, auction.id, now)?;
    let auction = if super::sealed::is_sealed(&listing) {
        super::sealed::open(conn, &listing, &auction, now)?
    } else {
        auction
    };
    let bids = u32::try_from(auction.bid_count).unwrap_or(0);
    let to = transition(ListingStatus::Bidding, Action::CloseAuction { bids })?;
    store::close(conn, auction_id, now)?;
    listings_store::set_status(
        conn,
        listing.id,
        ListingStatus::Bidding.as_str(),
        to.as_str(),
        now,
    )?;
    listings_store::set_round_outcome(conn, listing.id, listing.round, to.as_str())?;
    let runner_up = held_runner_up(conn, &listing, &auction)?;
    record(
        conn,
        now,
        listing.id,
        "auction.closed",
        Actor::SYSTEM,
        json!({
            "listing_id": listing.id, "auction_id": auction_id, "bids": bids, "status": to.as_str(),
            "winner_bidder_code": auction.leading_bidder_code, "price": auction.current_price.map(|p| Money::from_fen(p).to_string()),
            "runner_up_registration_id": runner_up,
        }),
        &RequestMeta::default(),
    )?;
    crate::exchange::risk::on_auction_closed(conn, rules, &listing, &auction, now)?;
    settle_deposits(conn, rules, &listing, &auction, runner_up, now)?;
    if let (ListingStatus::Awarded, Some(winner), Some(price)) =
        (to, auction.leading_registration_id, auction.current_price)
    {
        let reg = registrations::find(conn, winner)?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("winner vanished")))?;
        crate::exchange::deals::award(
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

/// The runner-up whose deposit is held for a possible offer: only where the listing chose
/// the runner-up option and someone besides the winner bid.
pub(crate) fn held_runner_up(
    conn: &mut Conn,
    listing: &ListingRow,
    auction: &AuctionRow,
) -> Result<Option<i64>, AppError> {
    let Some(winner) = auction.leading_registration_id else {
        return Ok(None);
    };
    if !listing.runner_up_offer {
        return Ok(None);
    }
    let bids = store::standings(conn, auction.id)?;
    Ok(auction::runner_up(
        bids.into_iter().map(|(reg, amount, seq)| {
            (
                reg,
                Money::from_fen(amount),
                u32::try_from(seq).unwrap_or(u32::MAX),
            )
        }),
        winner,
    )
    .map(|(reg, _)| reg))
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
        let users = crate::exchange::registrant(conn, reg.user_id)?;
        crate::exchange::mail_all(
            conn,
            deps.notifier,
            now,
            &users,
            kind,
            listing,
            json!({"bidder_code": code, "price": price}),
        )?;
    }
    let owners = crate::exchange::owners(conn, listing)?;
    let outcome = if to == ListingStatus::Awarded {
        "awarded"
    } else {
        "failed"
    };
    crate::exchange::mail_all(
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

/// The winner's deposit (and a held runner-up's) stays paid until the contract decides it;
/// other bidders are refunded; eligible bidders who never bid are refunded or, if configured,
/// forfeited.
fn settle_deposits(
    conn: &mut Conn,
    rules: &ExchangeRules,
    listing: &ListingRow,
    auction: &AuctionRow,
    runner_up: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let bidders = store::bidders(conn, auction.id)?;
    for reg in registrations::of_round(conn, listing.id, listing.round)? {
        let from = DepositStatus::parse(&reg.deposit_status).unwrap_or(DepositStatus::Unpaid);
        if from != DepositStatus::Paid {
            continue;
        }
        let role = if Some(reg.id) == auction.leading_registration_id {
            Role::Winner
        } else if Some(reg.id) == runner_up {
            Role::RunnerUp
        } else if bidders.contains(&reg.id) {
            Role::Bidder
        } else {
            Role::Silent
        };
        let Some(action) = deposit_at_close(role, rules.forfeit_unused_deposits) else {
            continue;
        };
        settle_one(conn, rules, listing, &reg, action, "auction_closed", now)?;
    }
    Ok(())
}

/// Moves one paid deposit (refund, forfeit or convert) with its event; a forfeit also feeds
/// the repeated-forfeits rule.
pub(crate) fn settle_one(
    conn: &mut Conn,
    rules: &ExchangeRules,
    listing: &ListingRow,
    reg: &crate::store::registrations::RegistrationRow,
    action: DepositAction,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let from = DepositStatus::parse(&reg.deposit_status).unwrap_or(DepositStatus::Unpaid);
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
            "from": from.as_str(), "to": to.as_str(), "reason": reason,
        }),
        &RequestMeta::default(),
    )?;
    if action == DepositAction::Forfeit {
        crate::exchange::risk::on_forfeit(conn, rules, reg.organization_id, listing.id, now)?;
    }
    Ok(())
}
