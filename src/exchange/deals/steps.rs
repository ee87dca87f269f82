//! The operator's steps of a deal: contract (the winner's deposit converts into the price and
//! a held runner-up's is refunded), payment, the public announcement and the close with its
//! certificate; and the flag on a contract deadline that passed unsigned.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::record;
use crate::audit::RequestMeta;
use crate::audit::{self, Actor};
use crate::domain::calendar::Calendar;
use crate::domain::deal::{DealAction, DealStatus, deal_transition};
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::registration::{DepositAction, DepositStatus};
use crate::error::AppError;
use crate::exchange::listings::{Deps, load_for_write};
use crate::exchange::registrations::By;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::deals::{self as store, DealRow, Step};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;
use crate::store::registrations;

/// One operator step of a deal.
#[derive(Debug, Clone)]
pub enum DealStep {
    Contract { signed_at: DateTime<Utc> },
    Payment { reference: String },
    Announce,
    Close,
}

/// Moves the deal and its listing one step; returns the listing and deal after it.
#[expect(clippy::too_many_lines, reason = "split by the lead in issue 12/13")]
pub fn step(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    step: &DealStep,
) -> Result<(ListingRow, DealRow), AppError> {
    let listing = load_for_write(conn, deps, listing_id, by.now)?;
    let deal = store::of_listing(conn, listing_id, listing.round)?
        .ok_or_else(|| AppError::conflict("invalid_state", "this listing has no deal"))?;
    let from = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    let (action, name) = match step {
        DealStep::Contract { .. } => (Action::SignContract, "deal.contract_signed"),
        DealStep::Payment { .. } => (Action::ConfirmPayment, "deal.paid"),
        DealStep::Announce => (Action::Announce, "deal.announced"),
        DealStep::Close => (Action::Close, "deal.closed"),
    };
    let to = transition(from, action)?;
    let deal_from = DealStatus::parse(&deal.status).unwrap_or(DealStatus::Awarded);
    deal_transition(deal_from, deal_action(step))
        .map_err(|e| AppError::conflict("invalid_state", e.to_string()))?;
    let mut payload = json!({"listing_id": listing_id, "deal_id": deal.id});
    let recorded = match step {
        DealStep::Contract { signed_at } => {
            if *signed_at > by.now || *signed_at < from_db(deal.awarded_at) {
                return Err(AppError::field(
                    "signed_at",
                    "must be between the award and now",
                ));
            }
            let payment_due = deps
                .rules
                .deadline(*signed_at, deps.rules.payment_due_working_days);
            payload["signed_at"] = json!(audit::chain::format_time(*signed_at));
            payload["late"] = json!(*signed_at > from_db(deal.contract_due_at));
            payload["payment_due"] = json!(audit::chain::format_time(payment_due));
            let advanced = store::advance(
                conn,
                deal.id,
                from.as_str(),
                to.as_str(),
                Step::Contract(*signed_at, payment_due),
            )?;
            settle_at_contract(conn, deps, &listing, &deal, by.now)?;
            advanced
        }
        DealStep::Payment { reference } => {
            let reference = reference.trim();
            if reference.is_empty() {
                return Err(AppError::field("reference", "give the payment reference"));
            }
            payload["reference"] = json!(reference);
            store::advance(
                conn,
                deal.id,
                from.as_str(),
                to.as_str(),
                Step::Payment(by.now, reference),
            )?
        }
        DealStep::Announce => store::advance(
            conn,
            deal.id,
            from.as_str(),
            to.as_str(),
            Step::Announce(by.now),
        )?,
        DealStep::Close => {
            let announced = deal.announced_at.map(from_db).unwrap_or(by.now);
            let cal = &deps.rules.calendar;
            let shown = cal
                .working_days_between(
                    Calendar::beijing_date(announced),
                    Calendar::beijing_date(by.now),
                )
                .value;
            if shown < deps.rules.announcement_min_working_days {
                return Err(AppError::conflict(
                    "announcement_period_not_over",
                    format!(
                        "the deal announcement must stay public for {} working days first",
                        deps.rules.announcement_min_working_days
                    ),
                ));
            }
            let year = Calendar::beijing_date(by.now)
                .format("%Y")
                .to_string()
                .parse()
                .unwrap_or(2026);
            let certificate =
                listings_store::next_project_no(conn, &deps.rules.project_no_prefix, "JY", year)?;
            payload["certificate_no"] = json!(certificate);
            store::advance(
                conn,
                deal.id,
                from.as_str(),
                to.as_str(),
                Step::Close(by.now, &certificate),
            )?
        }
    };
    if !recorded {
        return Err(AppError::conflict(
            "invalid_state",
            "the deal changed meanwhile",
        ));
    }
    listings_store::set_status(conn, listing_id, from.as_str(), to.as_str(), by.now)?;
    record(
        conn,
        by.now,
        listing_id,
        name,
        Actor::user(by.user.id, by.user.role),
        payload,
        by.meta,
    )?;
    let listing = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let deal = store::of_listing(conn, listing_id, listing.round)?
        .ok_or_else(|| AppError::not_found("no deal"))?;
    if deal.status == "closed" {
        crate::exchange::risk::on_deal_closed(conn, deps.rules, &listing, &deal, by.now)?;
    }
    let mut to = crate::exchange::owners(conn, &listing)?;
    if let Some(winner) = registrations::find(conn, deal.registration_id)? {
        to.extend(crate::exchange::registrant(conn, winner.user_id)?);
    }
    crate::exchange::mail_all(
        conn,
        deps.notifier,
        by.now,
        &to,
        Kind::DealProgress,
        &listing,
        json!({
            "step": to_step_name(&deal.status), "certificate_no": deal.certificate_no.clone().unwrap_or_default(),
        }),
    )?;
    Ok((listing, deal))
}

fn deal_action(step: &DealStep) -> DealAction {
    match step {
        DealStep::Contract { .. } => DealAction::SignContract,
        DealStep::Payment { .. } => DealAction::ConfirmPayment,
        DealStep::Announce => DealAction::Announce,
        DealStep::Close => DealAction::Close,
    }
}

/// The contract is signed: the winner's held deposit converts into part of the price, and any
/// other deposit still held in this round (a runner-up's) is refunded.
fn settle_at_contract(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    for reg in registrations::of_round(conn, listing.id, listing.round)? {
        if DepositStatus::parse(&reg.deposit_status) != Some(DepositStatus::Paid) {
            continue;
        }
        let action = if reg.id == deal.registration_id {
            DepositAction::Convert
        } else {
            DepositAction::Refund
        };
        crate::exchange::auctions::settle_deposit(
            conn,
            deps.rules,
            listing,
            &reg,
            action,
            "contract_signed",
            now,
        )?;
    }
    Ok(())
}

/// The step names the templates know.
fn to_step_name(status: &str) -> &'static str {
    match status {
        "contract_signed" => "contract_signed",
        "paid" => "paid",
        "announced" => "announced",
        _ => "closed",
    }
}

/// Flags, once in the audit trail and as an alert, a deal whose contract deadline passed
/// unsigned (the scheduler, one deal per call; the operator then decides on a default).
/// Returns whether this call flagged it.
pub fn flag_overdue_contract(
    conn: &mut Conn,
    deal_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(deal) = store::find(conn, deal_id)?
        .filter(|d| d.status == DealStatus::Awarded.as_str() && from_db(d.contract_due_at) <= now)
    else {
        return Ok(false);
    };
    if !store::flag_contract_overdue(conn, deal.id)? {
        return Ok(false);
    }
    record(
        conn,
        now,
        deal.listing_id,
        "deal.contract_overdue",
        Actor::SYSTEM,
        json!({
            "listing_id": deal.listing_id, "deal_id": deal.id, "bidder_code": deal.bidder_code,
            "contract_due_at": audit::chain::format_time(from_db(deal.contract_due_at)),
        }),
        &RequestMeta::default(),
    )?;
    let org = listings_store::find(conn, deal.listing_id)?.map(|l| l.organization_id);
    crate::exchange::risk::on_contract_overdue(conn, &deal, org, now)?;
    Ok(true)
}
