//! The operator's steps of a deal: the contract (with its payment plan; the winner's deposit
//! converts into the price and a held runner-up's is refunded), payments (`payment`), the
//! public announcement and the close with its certificate; and the flag on a contract deadline
//! that passed unsigned.

use chrono::{DateTime, Months, Utc};
use serde_json::{Value, json};

use super::payment::{self, Payment};
use super::record;
use crate::audit::{self, Actor, RequestMeta};
use crate::domain::calendar::Calendar;
use crate::domain::deal::{DealAction, DealStatus, deal_transition};
use crate::domain::disclosure::announcement_over;
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::money::Money;
use crate::domain::payment::{PaymentPlan, check_plan, first_instalment};
use crate::domain::registration::{DepositAction, DepositStatus};
use crate::error::AppError;
use crate::exchange::listings::{Deps, load_for_write};
use crate::exchange::registrations::By;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::deals::{self as store, DealRow, Plan, Step};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;
use crate::store::registrations;

/// One operator step of a deal.
#[derive(Debug, Clone)]
pub enum DealStep {
    Contract {
        signed_at: DateTime<Utc>,
        plan: PaymentPlan,
        guarantee_reference: Option<String>,
    },
    Payment(Payment),
    Announce,
    Close,
}

/// What a step did: its event, and the listing's new state if it moved.
pub(super) struct Done {
    pub event: &'static str,
    pub payload: Value,
    pub listing_to: Option<ListingStatus>,
}

/// Moves the deal (and its listing when the step completes a stage); returns both after it.
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
    let done = match step {
        DealStep::Contract {
            signed_at,
            plan,
            guarantee_reference,
        } => {
            let g = guarantee_reference.as_deref();
            contract(conn, deps, by, &listing, &deal, *signed_at, *plan, g)?
        }
        DealStep::Payment(p) => payment::pay(conn, by, &listing, &deal, p)?,
        DealStep::Announce => announce(conn, &listing, &deal, by.now)?,
        DealStep::Close => close(conn, deps, &listing, &deal, by.now)?,
    };
    if let Some(to) = done.listing_to {
        listings_store::set_status(conn, listing_id, from.as_str(), to.as_str(), by.now)?;
    }
    let actor = Actor::user(by.user.id, by.user.role);
    record(
        conn,
        by.now,
        listing_id,
        done.event,
        actor,
        done.payload,
        by.meta,
    )?;
    let listing = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    let deal = store::of_listing(conn, listing_id, listing.round)?
        .ok_or_else(|| AppError::not_found("no deal"))?;
    if done.listing_to.is_some() {
        after_stage(conn, deps, &listing, &deal, by.now)?;
    }
    Ok((listing, deal))
}

/// Checks the listing's and the deal's moves for `action` together; the listing's target.
pub(super) fn moves(
    listing: &ListingRow,
    deal: &DealRow,
    action: DealAction,
) -> Result<ListingStatus, AppError> {
    let listing_action = match action {
        DealAction::SignContract => Action::SignContract,
        DealAction::ConfirmPayment => Action::ConfirmPayment,
        DealAction::Announce => Action::Announce,
        _ => Action::Close,
    };
    let from = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    let to = transition(from, listing_action)?;
    let deal_from = DealStatus::parse(&deal.status).unwrap_or(DealStatus::Awarded);
    deal_transition(deal_from, action)
        .map_err(|e| AppError::conflict("invalid_state", e.to_string()))?;
    Ok(to)
}

fn changed_meanwhile() -> AppError {
    AppError::conflict("invalid_state", "the deal changed meanwhile")
}

#[expect(clippy::too_many_arguments, reason = "the contract's terms")]
fn contract(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing: &ListingRow,
    deal: &DealRow,
    signed_at: DateTime<Utc>,
    plan: PaymentPlan,
    guarantee: Option<&str>,
) -> Result<Done, AppError> {
    let to = moves(listing, deal, DealAction::SignContract)?;
    if signed_at > by.now || signed_at < from_db(deal.awarded_at) {
        return Err(AppError::field(
            "signed_at",
            "must be between the award and now",
        ));
    }
    let r = deps.rules;
    check_plan(&r.payment, plan, Money::from_fen(deal.price), guarantee)?;
    let guarantee = guarantee.map(str::trim).filter(|g| !g.is_empty());
    let first_due = r.deadline(signed_at, r.payment_due_working_days);
    let (first_due, final_due) = match plan {
        PaymentPlan::LumpSum => (None, first_due),
        PaymentPlan::Instalments => (
            Some(first_due),
            signed_at
                .checked_add_months(Months::new(r.instalment_final_months))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        ),
    };
    let first_minimum = (plan == PaymentPlan::Instalments)
        .then(|| first_instalment(&r.payment, Money::from_fen(deal.price)).fen());
    let terms = Plan {
        plan: plan.as_str(),
        guarantee_reference: guarantee,
        first_due,
        first_minimum,
        final_due,
    };
    if !store::advance(
        conn,
        deal.id,
        "awarded",
        "contract_signed",
        Step::Contract(signed_at, &terms),
    )? {
        return Err(changed_meanwhile());
    }
    let credited = settle_at_contract(conn, deps, listing, deal, by.now)?;
    Ok(Done {
        event: "deal.contract_signed",
        payload: json!({
            "listing_id": listing.id, "deal_id": deal.id, "signed_at": audit::chain::format_time(signed_at),
            "late": signed_at > from_db(deal.contract_due_at), "payment_plan": plan.as_str(),
            "guarantee_reference": guarantee, "first_payment_due": first_due.map(audit::chain::format_time),
            "payment_due": audit::chain::format_time(final_due),
            "deposit_credited": Money::from_fen(credited).to_string(),
        }),
        listing_to: Some(to),
    })
}

/// Publishes the deal announcement (成交公告): public from now on.
fn announce(
    conn: &mut Conn,
    listing: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<Done, AppError> {
    let to = moves(listing, deal, DealAction::Announce)?;
    if !store::advance(conn, deal.id, "paid", "announced", Step::Announce(now))? {
        return Err(changed_meanwhile());
    }
    Ok(Done {
        event: "deal.announced",
        payload: json!({"listing_id": listing.id, "deal_id": deal.id}),
        listing_to: Some(to),
    })
}

/// Closes the deal once its announcement has been public for the minimum period (until the
/// close of business of its last working day), issuing the certificate number once.
fn close(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<Done, AppError> {
    let to = moves(listing, deal, DealAction::Close)?;
    let r = deps.rules;
    let announced = deal.announced_at.map(from_db).unwrap_or(now);
    let over = announcement_over(
        &r.calendar,
        announced,
        r.announcement_min_working_days,
        now,
        r.close_of_business,
    );
    if !over.value {
        return Err(AppError::conflict(
            "announcement_period_not_over",
            format!(
                "the deal announcement must stay public for {} working days first",
                r.announcement_min_working_days
            ),
        ));
    }
    use chrono::Datelike;
    let year = Calendar::beijing_date(now).year();
    let certificate = listings_store::next_project_no(conn, &r.project_no_prefix, "JY", year)?;
    if !store::advance(
        conn,
        deal.id,
        "announced",
        "closed",
        Step::Close(now, &certificate),
    )? {
        return Err(changed_meanwhile());
    }
    Ok(Done {
        event: "deal.closed",
        payload: json!({"listing_id": listing.id, "deal_id": deal.id, "certificate_no": certificate}),
        listing_to: Some(to),
    })
}

/// After a stage: the risk rules of a closed deal and the progress mail to both parties.
fn after_stage(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if deal.status == "closed" {
        crate::exchange::risk::on_deal_closed(conn, deps.rules, listing, deal, now)?;
    }
    let mut to = crate::exchange::owners(conn, listing)?;
    if let Some(winner) = registrations::find(conn, deal.registration_id)? {
        to.extend(crate::exchange::registrant(conn, winner.user_id)?);
    }
    crate::exchange::mail_all(
        conn,
        deps.notifier,
        now,
        &to,
        Kind::DealProgress,
        listing,
        json!({
            "step": to_step_name(&deal.status), "certificate_no": deal.certificate_no.clone().unwrap_or_default(),
        }),
    )
}

/// The contract is signed: the winner's held deposit converts into part of the price, and any
/// other deposit still held in this round (a runner-up's) is refunded.
fn settle_at_contract(
    conn: &mut Conn,
    deps: &Deps,
    listing: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let mut credited = 0;
    for reg in registrations::of_round(conn, listing.id, listing.round)? {
        if DepositStatus::parse(&reg.deposit_status) != Some(DepositStatus::Paid) {
            continue;
        }
        let action = if reg.id == deal.registration_id {
            DepositAction::Convert
        } else {
            DepositAction::Refund
        };
        let rules = deps.rules;
        let why = "contract_signed";
        crate::exchange::auctions::settle_deposit(conn, rules, listing, &reg, action, why, now)?;
        if action == DepositAction::Convert {
            credited = credit_deposit(conn, listing, deal, now)?;
        }
    }
    Ok(credited)
}

/// The winner's converted deposit is the first part of the price paid: recorded as a payment
/// (the exchange already holds the money), so `outstanding` is the price less the deposit.
fn credit_deposit(
    conn: &mut Conn,
    listing: &ListingRow,
    deal: &DealRow,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let amount = listing.deposit.min(deal.price - 1);
    if amount <= 0 {
        return Ok(0);
    }
    let reference = DEPOSIT_CREDIT_REFERENCE;
    // A deposit is at most 30 % of the listing price and a deal at least that price, so the
    // deposit never pays the whole price: the deal stays `contract_signed`.
    if !store::record_payment(
        conn,
        deal,
        deal.paid_total,
        amount,
        reference,
        false,
        now,
        None,
    )? {
        return Err(changed_meanwhile());
    }
    Ok(amount)
}

/// The reference of the payment that credits the winner's deposit to the price.
pub const DEPOSIT_CREDIT_REFERENCE: &str = "保证金转价款";

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
