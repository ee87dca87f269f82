//! From award to a closed deal: the negotiated quote, contract, payment, the public deal
//! announcement and the transaction certificate, issued once ([`steps`]); and the winner's
//! default with the offer to the runner-up ([`default`]).

mod default;
pub(crate) mod payment;
mod steps;

pub use default::{
    DefaultNote, accept_offer, decline_offer, default_winner, lapse_overdue_offers, record_default,
};
pub use payment::{Payment, flag_overdue_payment, schedule};
pub use steps::{DealStep, flag_overdue_contract, step};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::ExchangeRules;
use super::listings::{Deps, Viewer, load_for_write};
use super::registrations::By;
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::deal::DealStatus;
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::money::Money;
use crate::domain::payment::PaymentPlan;
use crate::error::AppError;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::deals::{self as store, DealRow, NewDeal};
use crate::store::listings::{self as listings_store, ListingRow};
use crate::store::models::from_db;
use crate::store::registrations::{self, RegistrationRow};

/// A deal as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealView {
    pub listing_id: i64,
    pub winner_bidder_code: String,
    pub price: Money,
    /// `auction` or `negotiation`.
    pub method: String,
    pub awarded_at: DateTime<Utc>,
    /// `awarded`, `contract_signed`, `paid`, `announced` or `closed`; after the winner's
    /// default `defaulted` (nobody takes its place) or `offered` (to the runner-up, who
    /// answers by `offer_due`), then `declined` or `lapsed` if the runner-up does not take it.
    pub status: DealStatus,
    /// The contract must be signed by then (the winner's deadline).
    pub contract_due: DateTime<Utc>,
    /// Same as `contract_due` (kept for earlier clients).
    pub contract_due_at: DateTime<Utc>,
    /// Once the contract is signed and until the price is paid: the next payment deadline
    /// (the first instalment's while it is short, then the whole price's).
    pub payment_due: Option<DateTime<Utc>>,
    /// `lump_sum` or `instalments`, once the contract is signed.
    pub payment_plan: Option<PaymentPlan>,
    /// The guarantee backing the instalments still to come.
    pub guarantee_reference: Option<String>,
    /// Paid so far, and still owed (the price until the contract is signed).
    pub paid_total: Money,
    pub outstanding: Money,
    /// Instalments: the least first payment and when it is due.
    pub first_payment_due: Option<DateTime<Utc>>,
    pub first_payment_min: Option<Money>,
    /// Each payment recorded, oldest first (amount and date).
    pub payments: Vec<PaymentView>,
    /// Deadlines that fall into a year with no published holiday calendar.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// While `offered`: the runner-up answers by then; silence declines.
    pub offer_due: Option<DateTime<Utc>>,
    pub contract_signed_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub announced_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The transaction certificate number (交易凭证), once closed.
    pub certificate_no: Option<String>,
    /// Seller and prices as the deal announcement shows them.
    pub appraised_value: Money,
    pub listing_price: Money,
}

/// A payment as the deal shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub amount: Money,
    pub paid_at: DateTime<Utc>,
}

/// The deal with its payments, and warnings on deadlines in unpublished calendar years.
pub fn present(
    conn: &mut Conn,
    rules: &ExchangeRules,
    d: &DealRow,
    listing: &ListingRow,
) -> Result<DealView, AppError> {
    let mut v = view(d, listing);
    v.payments = store::payments(conn, d.id)?
        .iter()
        .map(|p| PaymentView {
            amount: Money::from_fen(p.amount),
            paid_at: from_db(p.paid_at),
        })
        .collect();
    v.warnings = rules.calendar_warnings(&[
        Some(v.contract_due),
        v.payment_due,
        v.offer_due,
        v.first_payment_due,
    ]);
    Ok(v)
}

/// The deal's own fields (no payments; see [`present`]).
pub fn view(d: &DealRow, listing: &ListingRow) -> DealView {
    let schedule = payment::schedule(d);
    let paid = Money::from_fen(d.paid_total);
    DealView {
        listing_id: d.listing_id,
        winner_bidder_code: d.bidder_code.clone(),
        price: Money::from_fen(d.price),
        method: d.method.clone(),
        awarded_at: from_db(d.awarded_at),
        status: DealStatus::parse(&d.status).unwrap_or(DealStatus::Awarded),
        contract_due: from_db(d.contract_due_at),
        contract_due_at: from_db(d.contract_due_at),
        payment_due: schedule.and_then(|s| s.next_due(paid)),
        payment_plan: schedule.map(|s| s.plan),
        guarantee_reference: d.guarantee_reference.clone(),
        paid_total: paid,
        outstanding: Money::from_fen((d.price - d.paid_total).max(0)),
        first_payment_due: d.first_payment_due_at.map(from_db),
        first_payment_min: d.first_payment_min.map(Money::from_fen),
        payments: Vec::new(),
        warnings: Vec::new(),
        offer_due: if d.status == "offered" {
            d.offer_due_at.map(from_db)
        } else {
            None
        },
        contract_signed_at: d.contract_signed_at.map(from_db),
        paid_at: d.paid_at.map(from_db),
        announced_at: d.announced_at.map(from_db),
        closed_at: d.closed_at.map(from_db),
        certificate_no: d.certificate_no.clone(),
        appraised_value: Money::from_fen(listing.appraised_value),
        listing_price: Money::from_fen(listing.listing_price),
    }
}

/// Who may read a deal: the parties and staff; everyone once it is announced.
pub fn may_see(
    viewer: Viewer,
    listing: &ListingRow,
    deal: &DealRow,
    winner_user: i64,
    caller: Option<i64>,
) -> bool {
    viewer.is_staff()
        || viewer.owns(listing)
        || caller == Some(winner_user)
        || DealStatus::parse(&deal.status).is_some_and(DealStatus::is_announced)
}

pub(super) fn record(
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

/// Creates the deal of an awarded listing, with its contract deadline.
pub fn award(
    conn: &mut Conn,
    rules: &ExchangeRules,
    listing: &ListingRow,
    winner: &RegistrationRow,
    price: Money,
    method: &str,
    now: DateTime<Utc>,
) -> Result<DealRow, AppError> {
    let due = rules
        .calendar
        .period_end(
            now,
            rules.contract_due_working_days,
            rules.close_of_business,
        )
        .value;
    let deal = store::insert(
        conn,
        &NewDeal {
            listing_id: listing.id,
            round: listing.round,
            registration_id: winner.id,
            bidder_code: winner.bidder_code.as_deref().unwrap_or_default(),
            price: price.fen(),
            method,
            awarded_at: now,
            contract_due_at: due,
        },
    )?;
    record(
        conn,
        now,
        listing.id,
        "deal.awarded",
        Actor::SYSTEM,
        json!({
            "listing_id": listing.id, "round": listing.round, "registration_id": winner.id, "bidder_code": winner.bidder_code,
            "price": price.to_string(), "method": method, "contract_due_at": audit::chain::format_time(due),
            "appraised_value": Money::from_fen(listing.appraised_value).to_string(),
        }),
        &RequestMeta::default(),
    )?;
    super::risk::on_award(conn, rules, listing, &deal, now)?;
    Ok(deal)
}

/// The single eligible bidder's quote (≥ the listing price) awards a listing in negotiation.
pub fn quote(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    listing_id: i64,
    amount: Money,
) -> Result<(ListingRow, DealRow), AppError> {
    let listing = load_for_write(conn, deps, listing_id, by.now)?;
    // A bidder learns nothing about listings the public may not see.
    if !Viewer::of(Some(by.user)).may_see(&listing) {
        return Err(AppError::not_found("no such listing"));
    }
    let from = ListingStatus::parse(&listing.status).unwrap_or(ListingStatus::Draft);
    let to = transition(from, Action::Quote)?;
    let reg = registrations::of_user(conn, listing_id, listing.round, by.user.id)?
        .filter(crate::exchange::registrations::may_bid)
        .ok_or_else(|| AppError::Forbidden {
            code: "not_eligible",
            detail: "only the eligible bidder may quote".into(),
        })?;
    if amount < Money::from_fen(listing.listing_price) {
        return Err(AppError::rule(
            "quote_too_low",
            "the quote must be at least the listing price",
        ));
    }
    listings_store::set_status(conn, listing_id, from.as_str(), to.as_str(), by.now)?;
    listings_store::set_round_outcome(conn, listing_id, listing.round, "awarded")?;
    record(
        conn,
        by.now,
        listing_id,
        "negotiation.quoted",
        Actor::user(by.user.id, by.user.role),
        json!({
            "listing_id": listing_id, "registration_id": reg.id, "amount": amount.to_string(),
        }),
        by.meta,
    )?;
    // The deposit stays held until the contract is signed (then converted) or the bidder
    // defaults (then forfeited).
    let deal = award(
        conn,
        deps.rules,
        &listing,
        &reg,
        amount,
        "negotiation",
        by.now,
    )?;
    let mut to = super::owners(conn, &listing)?;
    to.extend(super::registrant(conn, reg.user_id)?);
    super::mail_all(
        conn,
        deps.notifier,
        by.now,
        &to,
        Kind::DealAwarded,
        &listing,
        json!({"price": amount.to_string(), "method": "negotiation"}),
    )?;
    let listing = listings_store::find(conn, listing_id)?
        .ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((listing, deal))
}
