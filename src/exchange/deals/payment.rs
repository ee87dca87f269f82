//! Paying the price through the exchange: each payment is an amount with a reference; the
//! deal shows what was paid, what is still owed and the next deadline; nothing is paid beyond
//! the price; the listing becomes `paid` when nothing is owed. A missed deadline raises the
//! `payment_overdue` alert (the scheduler, `flag_overdue_payment`).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::record;
use super::steps::{Done, moves};
use crate::audit::{self, Actor, RequestMeta};
use crate::domain::deal::DealAction;
use crate::domain::money::Money;
use crate::domain::payment::{PaymentPlan, Schedule};
use crate::error::AppError;
use crate::exchange::registrations::By;
use crate::store::Conn;
use crate::store::deals::{self as store, DealRow};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;

/// One payment as the operator records it.
#[derive(Debug, Clone)]
pub struct Payment {
    /// `None`: whatever is still owed (a client of the first API sent only a reference).
    pub amount: Option<Money>,
    pub reference: String,
}

/// The payment schedule of a signed contract (its terms as the contract fixed them), or
/// `None` before the contract.
pub fn schedule(deal: &DealRow) -> Option<Schedule> {
    let plan = deal.payment_plan.as_deref().and_then(PaymentPlan::parse)?;
    let price = Money::from_fen(deal.price);
    Some(Schedule {
        plan,
        price,
        first_due: deal.first_payment_due_at.map(from_db),
        first_minimum: deal.first_payment_min.map_or(price, Money::from_fen),
        final_due: from_db(deal.payment_due_at?),
    })
}

pub(super) fn pay(
    conn: &mut Conn,
    by: &By,
    listing: &ListingRow,
    deal: &DealRow,
    p: &Payment,
) -> Result<Done, AppError> {
    if deal.status != "contract_signed" {
        // Not yet signed, or already paid: the move to `paid` says which.
        moves(listing, deal, DealAction::ConfirmPayment)?;
    }
    let reference = p.reference.trim();
    if reference.is_empty() {
        return Err(AppError::field("reference", "give the payment reference"));
    }
    let s = schedule(deal)
        .ok_or_else(|| AppError::conflict("invalid_state", "the contract has no payment plan"))?;
    let paid = Money::from_fen(deal.paid_total);
    let amount = p.amount.unwrap_or_else(|| s.outstanding(paid));
    let total = s.pay(paid, amount)?;
    let fully = s.outstanding(total).is_zero();
    let listing_to = if fully {
        Some(moves(listing, deal, DealAction::ConfirmPayment)?)
    } else {
        None
    };
    let late = s.missed(paid, by.now).is_some();
    let recorded = store::record_payment(
        conn,
        deal,
        deal.paid_total,
        amount.fen(),
        reference,
        fully,
        by.now,
        Some(by.user.id),
    )?;
    if !recorded {
        return Err(AppError::conflict(
            "invalid_state",
            "the deal changed meanwhile",
        ));
    }
    let payment = json!({
        "listing_id": listing.id, "deal_id": deal.id, "amount": amount.to_string(), "reference": reference,
        "paid_total": total.to_string(), "outstanding": s.outstanding(total).to_string(), "late": late,
        "payment_due": s.next_due(total).map(audit::chain::format_time),
    });
    if !fully {
        return Ok(Done {
            event: "deal.payment_recorded",
            payload: payment,
            listing_to: None,
        });
    }
    record(
        conn,
        by.now,
        listing.id,
        "deal.payment_recorded",
        Actor::user(by.user.id, by.user.role),
        payment,
        by.meta,
    )?;
    Ok(Done {
        event: "deal.paid",
        payload: json!({
            "listing_id": listing.id, "deal_id": deal.id, "reference": reference, "paid_total": total.to_string(),
        }),
        listing_to,
    })
}

/// Flags, once per missed deadline, a signed contract whose price (or first instalment) was
/// not paid in time: an audit event and the `payment_overdue` alert. The scheduler, one deal
/// per call; returns whether this call flagged it.
pub fn flag_overdue_payment(
    conn: &mut Conn,
    deal_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(deal) = store::find(conn, deal_id)?.filter(|d| d.status == "contract_signed") else {
        return Ok(false);
    };
    let Some(s) = schedule(&deal) else {
        return Ok(false);
    };
    let paid = Money::from_fen(deal.paid_total);
    let Some(due) = s.missed(paid, now) else {
        return Ok(false);
    };
    let Some(listing) = listings_store::find(conn, deal.listing_id)? else {
        return Ok(false);
    };
    let raised = crate::exchange::risk::on_payment_overdue(conn, &listing, &deal, due, now)?;
    if raised == 0 {
        return Ok(false);
    }
    record(
        conn,
        now,
        deal.listing_id,
        "deal.payment_overdue",
        Actor::SYSTEM,
        json!({
            "listing_id": deal.listing_id, "deal_id": deal.id, "payment_due": audit::chain::format_time(due),
            "paid_total": paid.to_string(), "outstanding": s.outstanding(paid).to_string(),
        }),
        &RequestMeta::default(),
    )?;
    Ok(true)
}
