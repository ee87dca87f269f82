//! Deciding a listing after disclosure: count the eligible bidders and move the listing to
//! `no_sale`, `negotiation`, or leave it waiting for an auction. The decision is due once every
//! registration is settled (`domain::qualification`): at the disclosure's end, or later while
//! the exchange may still qualify a late registrant or a qualified bidder may still pay its
//! deposit. Every change to the registrations or the disclosure's end stores the new instant
//! (`refresh_decision_due`); the scheduler, and any write on the listing, decide once it has
//! come, so the outcome never depends on the job's timing. Idempotent and safe with several
//! instances: the listing row is locked and the decision is a conditional update.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{mail_all, owners};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::domain::qualification::{self, Standing};
use crate::error::AppError;
use crate::notify::{Kind, Notifier};
use crate::store::listings::ListingRow;
use crate::store::models::from_db;
use crate::store::registrations::RegistrationRow;
use crate::store::{Conn, listings, registrations};

/// Decides the listing if its disclosure has ended and nobody did yet. Returns the new
/// status when this call decided it.
pub fn decide_if_due(
    conn: &mut Conn,
    notifier: &Notifier,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<ListingStatus>, AppError> {
    let Some(row) = listings::find_for_update(conn, id)? else {
        return Ok(None);
    };
    let due = row.status == "disclosure"
        && row.disclosure_decided_at.is_none()
        && row.disclosure_end.is_some_and(|end| from_db(end) <= now)
        && row.decision_due_at.is_some_and(|at| from_db(at) <= now);
    if !due {
        return Ok(None);
    }
    let eligible = super::registrations::count_eligible(conn, row.id, row.round)?;
    let to = transition(
        ListingStatus::Disclosure,
        Action::EndDisclosure { eligible },
    )?;
    if !listings::mark_decided(conn, row.id, to.as_str(), now)? {
        return Ok(None);
    }
    let outcome = match to {
        ListingStatus::NoSale => "no_sale",
        ListingStatus::Negotiation => "negotiation",
        _ => "auction",
    };
    listings::set_round_outcome(conn, row.id, row.round, outcome)?;
    audit::record(
        conn,
        now,
        Event {
            stream: format!("listing:{}", row.id),
            action: "listing.disclosure_ended",
            actor: Actor::SYSTEM,
            payload: json!({"listing_id": row.id, "round": row.round, "eligible_bidders": eligible, "outcome": outcome, "status": to.as_str()}),
            meta: &RequestMeta::default(),
        },
    )?;
    let mut to_users = owners(conn, &row)?;
    to_users.extend(registrations::registrant_users(conn, row.id, row.round)?);
    mail_all(
        conn,
        notifier,
        now,
        &to_users,
        Kind::DisclosureEnded,
        &row,
        json!({"outcome": outcome}),
    )?;
    Ok(Some(to))
}

/// A registration's facts as the qualification rules read them.
pub fn standing(r: &RegistrationRow) -> Standing {
    let (status, deposit) = super::registrations::stored_standing(&r.status, &r.deposit_status);
    Standing {
        status,
        deposit,
        deposit_due: r.deposit_due_at.map(from_db),
        review_due: r.review_due_at.map(from_db),
    }
}

/// Recomputes and stores when the listing is decided at the latest; returns it. Every change
/// to a listing's registrations or its disclosure's end calls this in its own transaction.
pub fn refresh_decision_due(
    conn: &mut Conn,
    rules: &super::ExchangeRules,
    listing_id: i64,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(row) = listings::find(conn, listing_id)? else {
        return Ok(None);
    };
    let Some(due) = decision_due_of(conn, rules, &row)? else {
        return Ok(None);
    };
    listings::set_decision_due(conn, row.id, due)?;
    Ok(Some(due))
}

/// When an undecided listing in disclosure is decided at the latest, from its registrations.
pub fn decision_due_of(
    conn: &mut Conn,
    rules: &super::ExchangeRules,
    row: &ListingRow,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let (Some(end), None) = (row.disclosure_end, row.disclosure_decided_at) else {
        return Ok(None);
    };
    if row.status != ListingStatus::Disclosure.as_str() {
        return Ok(None);
    }
    let end = from_db(end);
    let standings: Vec<Standing> = registrations::of_round(conn, row.id, row.round)?
        .iter()
        .map(standing)
        .collect();
    Ok(Some(qualification::decision_due(
        end,
        rules.qualification_end(end),
        &standings,
    )))
}
