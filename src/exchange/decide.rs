//! The end of disclosure: count the eligible bidders and move the listing to `no_sale`,
//! `negotiation`, or leave it waiting for an auction. Run by the scheduler, and by any write
//! on a listing whose disclosure has ended, so the outcome never depends on the job's timing.
//! Idempotent and safe with several instances: the listing row is locked and the decision is
//! a conditional update.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{mail_all, owners};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::domain::listing::{Action, ListingStatus, transition};
use crate::error::AppError;
use crate::notify::{Kind, Notifier};
use crate::store::models::from_db;
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
        && row.disclosure_end.is_some_and(|end| from_db(end) <= now);
    if !due {
        return Ok(None);
    }
    let eligible = registrations::count_eligible(conn, row.id, row.round)?;
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
