//! The winner's default (违约) and the runner-up (候补): an operator records that the winner
//! did not sign (or withdrew); its held deposit is forfeited; the deal then goes to the
//! runner-up at its own highest bid where the listing chose that in advance, or the listing
//! fails and may be relisted. The runner-up accepts, declines, or lets the offer lapse.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::record;
use crate::audit::RequestMeta;
use crate::audit::{self, Actor};
use crate::domain::deal::{DealAction, DealStatus, deal_transition, offer_to_runner_up};
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::money::Money;
use crate::domain::registration::{DepositAction, DepositStatus};
use crate::error::AppError;
use crate::exchange::auctions::{held_runner_up, settle_deposit};
use crate::exchange::listings::{Deps, Viewer, load_for_write};
use crate::exchange::registrations::By;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::auctions as auctions_store;
use crate::store::deals::{self as store, DealRow, NewDefault, Offer};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::registrations::{self, RegistrationRow};

/// Why a winner is recorded as defaulting, and by whom.
pub struct DefaultNote<'a> {
    pub reason: &'a str,
    pub evidence_reference: Option<&'a str>,
    pub actor: Actor,
    pub recorded_by: Option<i64>,
    pub meta: &'a RequestMeta,
}

fn deal_status(deal: &DealRow) -> Result<DealStatus, AppError> {
    DealStatus::parse(&deal.status)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad deal status {}", deal.status)))
}

fn conflict(e: impl ToString) -> AppError {
    AppError::conflict("invalid_state", e.to_string())
}

fn current_deal(conn: &mut Conn, listing: &ListingRow) -> Result<DealRow, AppError> {
    store::of_listing(conn, listing.id, listing.round)?
        .ok_or_else(|| AppError::conflict("invalid_state", "this listing has no deal"))
}

fn reload(conn: &mut Conn, listing_id: i64) -> Result<(ListingRow, DealRow), AppError> {
    let listing = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let deal = current_deal(conn, &listing)?;
    Ok((listing, deal))
}

/// An operator records the winner's default. Returns the listing and the deal after it:
/// `offered` to the runner-up, or `defaulted` with the listing `failed`.
pub fn default_winner(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    reason: &str,
    evidence_reference: Option<&str>,
) -> Result<(ListingRow, DealRow), AppError> {
    let listing = load_for_write(conn, deps, listing_id, by.now)?;
    let deal = current_deal(conn, &listing)?;
    let from = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    let earlier = store::defaults_count(conn, deal.id)?;
    let runner_up = runner_up_of(conn, &listing, &deal)?;
    let offer = offer_to_runner_up(listing.runner_up_offer, earlier, runner_up.is_some());
    deal_transition(
        deal_status(&deal)?,
        DealAction::Default { runner_up: offer },
    )
    .map_err(conflict)?;
    let to = transition(from, Action::Default { runner_up: offer })?;
    let note = DefaultNote {
        reason,
        evidence_reference,
        actor: Actor::user(by.user.id, by.user.role),
        recorded_by: Some(by.user.id),
        meta: by.meta,
    };
    forfeit_winner(conn, deps, &listing, &deal, &note, by.now)?;
    match runner_up.filter(|_| offer) {
        Some((reg, price)) => offer_deal(conn, deps, &listing, &deal, &reg, price, &note, by.now)?,
        None => {
            end_deal(conn, &deal, DealStatus::Awarded, DealStatus::Defaulted)?;
            listings_store::set_status(conn, listing.id, from.as_str(), to.as_str(), by.now)?;
            listings_store::set_round_outcome(conn, listing.id, listing.round, to.as_str())?;
            let mut to_users = crate::exchange::owners(conn, &listing)?;
            if let Some(winner) = registrations::find(conn, deal.registration_id)? {
                to_users.extend(crate::exchange::registrant(conn, winner.user_id)?);
            }
            crate::exchange::mail_all(
                conn,
                deps.notifier,
                by.now,
                &to_users,
                Kind::DealDefaulted,
                &listing,
                json!({"bidder_code": deal.bidder_code, "reason": reason, "offered": false}),
            )?;
        }
    }
    crate::live::notify_in_tx(conn, listing.id)?;
    reload(conn, listing_id)
}

/// Records a winner's default on an `awarded` deal: the default row, the deal `defaulted`, the
/// winner's held deposit forfeited, and the event. The listing's state is the caller's.
pub fn record_default(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    note: &DefaultNote,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(deal) = store::of_listing(conn, listing.id, listing.round)? else {
        return Ok(false);
    };
    deal_transition(
        deal_status(&deal)?,
        DealAction::Default { runner_up: false },
    )
    .map_err(conflict)?;
    forfeit_winner(conn, deps, listing, &deal, note, now)?;
    end_deal(conn, &deal, DealStatus::Awarded, DealStatus::Defaulted)?;
    Ok(true)
}

/// Moves the deal from `from` to `to`; refuses if another writer moved it first.
fn end_deal(
    conn: &mut Conn,
    deal: &DealRow,
    from: DealStatus,
    to: DealStatus,
) -> Result<(), AppError> {
    if store::end(conn, deal.id, from.as_str(), to.as_str())? {
        Ok(())
    } else {
        Err(AppError::conflict(
            "invalid_state",
            "the deal changed meanwhile",
        ))
    }
}

fn forfeit_winner(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    deal: &DealRow,
    note: &DefaultNote,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let reason = note.reason.trim();
    if reason.is_empty() {
        return Err(AppError::field("reason", "give the reason"));
    }
    store::insert_default(
        conn,
        &NewDefault {
            deal,
            reason,
            evidence_reference: note
                .evidence_reference
                .map(str::trim)
                .filter(|e| !e.is_empty()),
            at: now,
            recorded_by: note.recorded_by,
        },
    )?;
    record(
        conn,
        now,
        listing.id,
        "deal.defaulted",
        note.actor,
        json!({
            "listing_id": listing.id, "deal_id": deal.id, "registration_id": deal.registration_id,
            "bidder_code": deal.bidder_code, "price": Money::from_fen(deal.price).to_string(),
            "reason": reason, "evidence_reference": note.evidence_reference,
        }),
        note.meta,
    )?;
    if let Some(winner) = registrations::find(conn, deal.registration_id)?
        && DepositStatus::parse(&winner.deposit_status) == Some(DepositStatus::Paid)
    {
        settle_deposit(
            conn,
            deps.rules,
            listing,
            &winner,
            DepositAction::Forfeit,
            "winner_default",
            now,
        )?;
    }
    Ok(())
}

/// The runner-up of the listing's auction whose deposit is still held, with its highest bid.
fn runner_up_of(
    conn: &mut Conn,
    listing: &ListingRow,
    deal: &DealRow,
) -> Result<Option<(RegistrationRow, Money)>, AppError> {
    if deal.method != "auction" || !listing.runner_up_offer {
        return Ok(None);
    }
    let Some(auction) = auctions_store::of_listing(conn, listing.id, listing.round)? else {
        return Ok(None);
    };
    let Some(id) = held_runner_up(conn, listing, &auction)? else {
        return Ok(None);
    };
    let Some(reg) = registrations::find(conn, id)? else {
        return Ok(None);
    };
    if DepositStatus::parse(&reg.deposit_status) != Some(DepositStatus::Paid) {
        return Ok(None);
    }
    let best = auctions_store::standings(conn, auction.id)?
        .into_iter()
        .filter(|(r, _, _)| *r == id)
        .map(|(_, amount, _)| amount)
        .max();
    Ok(best.map(|fen| (reg, Money::from_fen(fen))))
}

#[expect(clippy::too_many_arguments, reason = "the parts of one offer")]
fn offer_deal(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    deal: &DealRow,
    reg: &RegistrationRow,
    price: Money,
    note: &DefaultNote,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let due = deps
        .rules
        .deadline(now, deps.rules.runner_up_answer_working_days);
    let code = reg.bidder_code.clone().unwrap_or_default();
    let offered = store::offer(
        conn,
        deal.id,
        &Offer {
            registration_id: reg.id,
            bidder_code: &code,
            price: price.fen(),
            due,
        },
    )?;
    if !offered {
        return Err(AppError::conflict(
            "invalid_state",
            "the deal changed meanwhile",
        ));
    }
    record(
        conn,
        now,
        listing.id,
        "deal.offered",
        note.actor,
        json!({
            "listing_id": listing.id, "deal_id": deal.id, "registration_id": reg.id, "bidder_code": code,
            "price": price.to_string(), "offer_due": audit::chain::format_time(due),
        }),
        note.meta,
    )?;
    let mut to_users = crate::exchange::registrant(conn, reg.user_id)?;
    to_users.extend(crate::exchange::owners(conn, listing)?);
    if let Some(winner) = registrations::find(conn, deal.registration_id)? {
        to_users.extend(crate::exchange::registrant(conn, winner.user_id)?);
    }
    crate::exchange::mail_all(
        conn,
        deps.notifier,
        now,
        &to_users,
        Kind::DealOffered,
        listing,
        json!({
            "bidder_code": code, "defaulted_bidder_code": deal.bidder_code, "price": price.to_string(),
            "offer_due": crate::exchange::beijing(due),
        }),
    )
}

/// The listing locked for a bidder's answer; a bidder learns nothing about listings the
/// public may not see.
fn visible_for_write(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
) -> Result<ListingRow, AppError> {
    let listing = load_for_write(conn, deps, listing_id, by.now)?;
    if Viewer::of(Some(by.user)).may_see(&listing) {
        Ok(listing)
    } else {
        Err(AppError::not_found("no such listing"))
    }
}

/// The runner-up's own registration, if the caller is the bidder the deal is offered to.
fn offered_to_caller(
    conn: &mut Conn,
    deal: &DealRow,
    by: &By,
) -> Result<RegistrationRow, AppError> {
    registrations::find(conn, deal.registration_id)?
        .filter(|r| r.user_id == by.user.id && deal.status == DealStatus::Offered.as_str())
        .ok_or_else(|| AppError::Forbidden {
            code: "not_offered",
            detail: "only the bidder the deal is offered to may answer the offer".into(),
        })
}

/// The runner-up accepts: the deal is awarded to it, with its own contract deadline.
pub fn accept_offer(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
) -> Result<(ListingRow, DealRow), AppError> {
    let listing = visible_for_write(conn, deps, by, listing_id)?;
    let deal = current_deal(conn, &listing)?;
    deal_transition(deal_status(&deal)?, DealAction::Accept).map_err(conflict)?;
    let reg = offered_to_caller(conn, &deal, by)?;
    if deal
        .offer_due_at
        .is_some_and(|due| crate::store::models::from_db(due) <= by.now)
    {
        return Err(AppError::conflict(
            "offer_lapsed",
            "the time to answer the offer has passed",
        ));
    }
    let contract_due = deps
        .rules
        .deadline(by.now, deps.rules.contract_due_working_days);
    if !store::accept_offer(conn, deal.id, by.now, contract_due)? {
        return Err(AppError::conflict(
            "invalid_state",
            "the deal changed meanwhile",
        ));
    }
    record(
        conn,
        by.now,
        listing.id,
        "deal.offer_accepted",
        Actor::user(by.user.id, by.user.role),
        json!({
            "listing_id": listing.id, "deal_id": deal.id, "registration_id": reg.id, "bidder_code": deal.bidder_code,
            "price": Money::from_fen(deal.price).to_string(), "contract_due_at": audit::chain::format_time(contract_due),
        }),
        by.meta,
    )?;
    let mut to_users = crate::exchange::owners(conn, &listing)?;
    to_users.extend(crate::exchange::registrant(conn, reg.user_id)?);
    crate::exchange::mail_all(
        conn,
        deps.notifier,
        by.now,
        &to_users,
        Kind::DealAwarded,
        &listing,
        json!({"price": Money::from_fen(deal.price).to_string(), "method": deal.method}),
    )?;
    reload(conn, listing_id)
}

/// The runner-up declines: the listing fails (and may be relisted); its deposit is refunded.
pub fn decline_offer(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
) -> Result<(ListingRow, DealRow), AppError> {
    let listing = visible_for_write(conn, deps, by, listing_id)?;
    let deal = current_deal(conn, &listing)?;
    deal_transition(deal_status(&deal)?, DealAction::Decline).map_err(conflict)?;
    offered_to_caller(conn, &deal, by)?;
    end_offer(
        conn,
        deps,
        &listing,
        &deal,
        DealAction::Decline,
        Actor::user(by.user.id, by.user.role),
        by.meta,
        by.now,
    )?;
    reload(conn, listing_id)
}

/// Offers nobody answered in time lapse (the scheduler, one deal per call). Returns whether
/// this call lapsed it.
pub fn lapse_overdue_offers(
    conn: &mut Conn,
    deps: &Deps,
    deal_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(deal) = store::find(conn, deal_id)?.filter(|d| {
        d.status == DealStatus::Offered.as_str()
            && d.offer_due_at
                .is_some_and(|due| crate::store::models::from_db(due) <= now)
    }) else {
        return Ok(false);
    };
    let listing = load_for_write(conn, deps, deal.listing_id, now)?;
    let Some(current) = store::of_listing(conn, listing.id, listing.round)?
        .filter(|d| d.id == deal.id && d.status == DealStatus::Offered.as_str())
    else {
        return Ok(false);
    };
    end_offer(
        conn,
        deps,
        &listing,
        &current,
        DealAction::Lapse,
        Actor::SYSTEM,
        &RequestMeta::default(),
        now,
    )?;
    Ok(true)
}

#[expect(clippy::too_many_arguments, reason = "the parts of one ended offer")]
fn end_offer(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    deal: &DealRow,
    action: DealAction,
    actor: Actor,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let to_deal = deal_transition(deal_status(deal)?, action).map_err(conflict)?;
    let from = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    let to = transition(from, Action::EndOffer)?;
    end_deal(conn, deal, DealStatus::Offered, to_deal)?;
    listings_store::set_status(conn, listing.id, from.as_str(), to.as_str(), now)?;
    listings_store::set_round_outcome(conn, listing.id, listing.round, to.as_str())?;
    let event = if action == DealAction::Lapse {
        "deal.offer_lapsed"
    } else {
        "deal.offer_declined"
    };
    record(
        conn,
        now,
        listing.id,
        event,
        actor,
        json!({
            "listing_id": listing.id, "deal_id": deal.id, "registration_id": deal.registration_id,
            "bidder_code": deal.bidder_code, "status": to.as_str(),
        }),
        meta,
    )?;
    let runner_up = registrations::find(conn, deal.registration_id)?;
    if let Some(reg) = &runner_up
        && DepositStatus::parse(&reg.deposit_status) == Some(DepositStatus::Paid)
    {
        settle_deposit(
            conn,
            deps.rules,
            listing,
            reg,
            DepositAction::Refund,
            event,
            now,
        )?;
    }
    let mut to_users = crate::exchange::owners(conn, listing)?;
    if let Some(reg) = runner_up {
        to_users.extend(crate::exchange::registrant(conn, reg.user_id)?);
    }
    crate::exchange::mail_all(
        conn,
        deps.notifier,
        now,
        &to_users,
        Kind::DealOfferEnded,
        listing,
        json!({"bidder_code": deal.bidder_code, "outcome": to_deal.as_str()}),
    )?;
    crate::live::notify_in_tx(conn, listing.id)
}
