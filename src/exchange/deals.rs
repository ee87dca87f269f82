//! From award to a closed deal: the negotiated quote, contract, payment, the public deal
//! announcement and the transaction certificate, issued once.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::ExchangeRules;
use super::listings::{Deps, Viewer, load_for_write};
use super::registrations::By;
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::calendar::Calendar;
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::money::Money;
use crate::domain::registration::{
    DepositAction, DepositStatus, RegistrationStatus, deposit_transition, is_eligible,
};
use crate::error::AppError;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::deals::{self as store, DealRow, NewDeal, Step};
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
    /// `awarded`, `contract_signed`, `paid`, `announced` or `closed`.
    pub status: String,
    pub contract_due_at: DateTime<Utc>,
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

pub fn view(d: &DealRow, listing: &ListingRow) -> DealView {
    DealView {
        listing_id: d.listing_id,
        winner_bidder_code: d.bidder_code.clone(),
        price: Money::from_fen(d.price),
        method: d.method.clone(),
        awarded_at: from_db(d.awarded_at),
        status: d.status.clone(),
        contract_due_at: from_db(d.contract_due_at),
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
    matches!(viewer, Viewer::Staff)
        || viewer.owns(listing)
        || caller == Some(winner_user)
        || matches!(deal.status.as_str(), "announced" | "closed")
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
        .filter(|r| {
            is_eligible(
                RegistrationStatus::parse(&r.status).unwrap_or(RegistrationStatus::Pending),
                DepositStatus::parse(&r.deposit_status).unwrap_or(DepositStatus::Unpaid),
            )
        })
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
    convert_deposit(conn, &listing, &reg, by.now)?;
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

/// The winner's deposit becomes part of the price.
pub fn convert_deposit(
    conn: &mut Conn,
    listing: &ListingRow,
    reg: &RegistrationRow,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let from = DepositStatus::parse(&reg.deposit_status).unwrap_or(DepositStatus::Unpaid);
    let status = RegistrationStatus::parse(&reg.status).unwrap_or(RegistrationStatus::Pending);
    let to = deposit_transition(from, DepositAction::Convert, status)
        .map_err(|m| AppError::conflict("invalid_state", m))?;
    registrations::set_deposit(conn, reg.id, from.as_str(), to.as_str(), None, now)?;
    record(
        conn,
        now,
        listing.id,
        "deposit.converted",
        Actor::SYSTEM,
        json!({
            "listing_id": listing.id, "registration_id": reg.id, "amount": Money::from_fen(listing.deposit).to_string(),
            "from": from.as_str(), "to": to.as_str(), "reason": "award",
        }),
        &RequestMeta::default(),
    )
}

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
    let mut payload = json!({"listing_id": listing_id, "deal_id": deal.id});
    let recorded = match step {
        DealStep::Contract { signed_at } => {
            if *signed_at > by.now || *signed_at < from_db(deal.awarded_at) {
                return Err(AppError::field(
                    "signed_at",
                    "must be between the award and now",
                ));
            }
            payload["signed_at"] = json!(audit::chain::format_time(*signed_at));
            payload["late"] = json!(*signed_at > from_db(deal.contract_due_at));
            store::advance(
                conn,
                deal.id,
                from.as_str(),
                to.as_str(),
                Step::Contract(*signed_at),
            )?
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
        super::risk::on_deal_closed(conn, deps.rules, &listing, &deal, by.now)?;
    }
    let mut to = super::owners(conn, &listing)?;
    if let Some(winner) = registrations::find(conn, deal.registration_id)? {
        to.extend(super::registrant(conn, winner.user_id)?);
    }
    super::mail_all(
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

/// The step names the templates know.
fn to_step_name(status: &str) -> &'static str {
    match status {
        "contract_signed" => "contract_signed",
        "paid" => "paid",
        "announced" => "announced",
        _ => "closed",
    }
}

/// Flags, once each in the audit trail, deals whose contract deadline passed unsigned (the
/// supervisor's alert rules read these). Returns how many were flagged.
pub fn flag_overdue_contracts(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize, AppError> {
    let mut flagged = 0;
    for deal in store::contract_overdue(conn, now)? {
        if store::flag_contract_overdue(conn, deal.id)? {
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
            super::risk::on_contract_overdue(conn, &deal, org, now)?;
            flagged += 1;
        }
    }
    Ok(flagged)
}
