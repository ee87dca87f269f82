//! Registration use cases: a bidder registers intent during disclosure; the exchange
//! qualifies or rejects it, also after disclosure within its window, and the enterprise gives
//! its opinion ([`review`]); deposits move through their own state machine ([`deposits`]).

mod deposits;
mod review;

pub use deposits::deposit;
pub use review::{review, seller_opinion};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::listings::{Deps, load_for_write};
use super::{mail_all, operators, owners};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::auth::AuthUser;
use crate::domain::listing::ListingStatus;
use crate::domain::money::Money;
use crate::domain::qualification::SellerOpinion;
use crate::domain::registration::{DepositStatus, RegistrationStatus};
use crate::error::AppError;
use crate::notify::Kind;
use crate::store::listings::ListingRow;
use crate::store::models::{User, from_db};
use crate::store::registrations::{self as store, NewRegistration, RegistrationRow};
use crate::store::{Conn, users};

/// A registration as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistrationView {
    pub id: i64,
    pub listing_id: i64,
    pub round: u32,
    pub status: RegistrationStatus,
    pub deposit_status: DepositStatus,
    /// The anonymous bidder code (竞买号), once qualified.
    pub bidder_code: Option<String>,
    pub deposit: Money,
    /// The deposit must be confirmed before this instant, once qualified.
    pub deposit_due_at: Option<DateTime<Utc>>,
    pub statement: Option<String>,
    pub review_comment: Option<String>,
    /// Who is behind the registration: operators and auditors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<RegistrantView>,
    /// Whether it counts at the end of disclosure (qualified, deposit paid).
    pub eligible: bool,
    /// When the exchange qualified it.
    pub qualified_at: Option<DateTime<Utc>>,
    /// The enterprise's opinion on the qualified bidder (`agreed` or `objected`); none yet
    /// means silence, which counts as agreement once `seller_opinion_due_at` has passed.
    pub seller_opinion: Option<SellerOpinion>,
    pub seller_opinion_due_at: Option<DateTime<Utc>>,
    /// After an objection: the exchange decides again by then.
    pub review_due_at: Option<DateTime<Utc>>,
    /// The exchange confirmed the bidder's pre-emptive right (优先购买权). Shown to the
    /// bidder itself, the enterprise, operators and auditors; never to other bidders.
    pub preemptive_right: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistrantView {
    pub id: i64,
    pub name: String,
    pub user_id: i64,
    /// Recorded for the related-bidder checks; staff only.
    pub client_ip: Option<String>,
}

/// Whether the registration may bid now: `domain::registration::is_eligible` on its stored
/// status and deposit.
pub fn may_bid(r: &RegistrationRow) -> bool {
    standing_may_bid(&r.status, &r.deposit_status)
}

/// `domain::registration::is_eligible` on a stored status and deposit status.
fn standing_may_bid(status: &str, deposit: &str) -> bool {
    let (status, deposit) = stored_standing(status, deposit);
    crate::domain::registration::is_eligible(status, deposit)
}

/// A stored registration status and deposit status; one that cannot be read counts as
/// pending and unpaid (it gives no right).
pub fn stored_standing(status: &str, deposit: &str) -> (RegistrationStatus, DepositStatus) {
    (
        RegistrationStatus::parse(status).unwrap_or(RegistrationStatus::Pending),
        DepositStatus::parse(deposit).unwrap_or(DepositStatus::Unpaid),
    )
}

/// How many registrations of the round may bid, as [`may_bid`] judges each.
pub fn count_eligible(conn: &mut Conn, listing_id: i64, round: i32) -> Result<u32, AppError> {
    let n: i64 = store::count_by_standing(conn, listing_id, round)?
        .into_iter()
        .filter(|(status, deposit, _)| standing_may_bid(status, deposit))
        .map(|(_, _, n)| n)
        .sum();
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

pub fn view(r: &RegistrationRow, deposit: Money, org_name: Option<String>) -> RegistrationView {
    let (status, deposit_status) = stored_standing(&r.status, &r.deposit_status);
    RegistrationView {
        id: r.id,
        listing_id: r.listing_id,
        round: u32::try_from(r.round).unwrap_or(0),
        status,
        deposit_status,
        bidder_code: r.bidder_code.clone(),
        deposit,
        deposit_due_at: r.deposit_due_at.map(from_db),
        statement: r.statement.clone(),
        review_comment: r.review_comment.clone(),
        organization: org_name.map(|name| RegistrantView {
            id: r.organization_id,
            name,
            user_id: r.user_id,
            client_ip: r.client_ip.clone(),
        }),
        eligible: crate::domain::registration::is_eligible(status, deposit_status),
        qualified_at: r.qualified_at.map(from_db),
        seller_opinion: r.seller_opinion.as_deref().and_then(SellerOpinion::parse),
        seller_opinion_due_at: r.seller_opinion_due_at.map(from_db),
        review_due_at: r.review_due_at.map(from_db),
        preemptive_right: r.preemptive_right,
        created_at: from_db(r.created_at),
    }
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

fn listing_open_for_registration(row: &ListingRow, now: DateTime<Utc>) -> Result<(), AppError> {
    let status = ListingStatus::parse(&row.status);
    if !status.is_some_and(ListingStatus::is_public) {
        return Err(AppError::not_found("no such listing"));
    }
    if status != Some(ListingStatus::Disclosure) {
        return Err(AppError::conflict(
            "invalid_state",
            format!(
                "registration is open only during disclosure; this listing is {}",
                row.status
            ),
        ));
    }
    if row.disclosure_decided_at.is_some() || row.disclosure_end.is_some_and(|e| from_db(e) <= now)
    {
        return Err(AppError::conflict(
            "registration_closed",
            "disclosure has ended; registration is closed",
        ));
    }
    Ok(())
}

/// A bidder registers intent on a listing in disclosure.
pub fn register(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    listing_id: i64,
    statement: Option<&str>,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<RegistrationRow, AppError> {
    let row = load_for_write(conn, deps, listing_id, now)?;
    listing_open_for_registration(&row, now)?;
    let org = may_register(conn, user, &row)?;
    if store::exists(conn, listing_id, row.round, org)? {
        return Err(AppError::conflict(
            "already_registered",
            "your organisation has already registered on this listing",
        ));
    }
    let statement = statement.map(str::trim).filter(|s| !s.is_empty());
    if statement.is_some_and(|s| s.chars().count() > 2000) {
        return Err(AppError::field(
            "statement",
            "must be at most 2000 characters",
        ));
    }
    let ip = meta.ip_string();
    let reg = store::insert(
        conn,
        &NewRegistration {
            listing_id,
            round: row.round,
            user_id: user.id,
            organization_id: org,
            statement,
            client_ip: ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            now,
        },
    )
    .map_err(|e| match e {
        AppError::Conflict {
            code: "conflict", ..
        } => AppError::conflict(
            "already_registered",
            "your organisation has already registered on this listing",
        ),
        other => other,
    })?;
    record(
        conn,
        now,
        listing_id,
        "registration.created",
        Actor::user(user.id, user.role),
        json!({
            "listing_id": listing_id, "registration_id": reg.id, "round": row.round, "organization_id": org,
        }),
        meta,
    )?;
    super::risk::on_registrations(conn, deps.rules, &row, now)?;
    super::decide::refresh_decision_due(conn, deps.rules, row.id)?;
    tell_registered(conn, deps, &row, org, now)?;
    Ok(reg)
}

/// The bidder's organisation, if it may register: not the seller, e-mail confirmed.
fn may_register(conn: &mut Conn, user: &AuthUser, row: &ListingRow) -> Result<i64, AppError> {
    let org = user
        .organization_id
        .ok_or_else(|| AppError::forbidden("only a bidder with an organisation may register"))?;
    if org == row.organization_id {
        return Err(AppError::Forbidden {
            code: "own_listing",
            detail: "a seller cannot register on its own listing".into(),
        });
    }
    let (me, _) =
        users::find_with_org(conn, user.id)?.ok_or_else(|| AppError::not_found("no such user"))?;
    if me.email_verified_at.is_none() {
        return Err(AppError::Forbidden {
            code: "email_not_verified",
            detail: "confirm your e-mail address before registering on a listing".into(),
        });
    }
    Ok(org)
}

/// Tells the owner a registration came in and the operators one needs reviewing.
fn tell_registered(
    conn: &mut Conn,
    deps: &Deps,
    row: &ListingRow,
    org: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let listing_id = row.id;
    let total = store::count_for_round(conn, listing_id, row.round)?;
    let to_owners = owners(conn, row)?;
    mail_all(
        conn,
        deps.notifier,
        now,
        &to_owners,
        Kind::RegistrationReceived,
        row,
        json!({"registrations_count": total}),
    )?;
    let bidder_org = crate::store::listings::seller_name(conn, org)?;
    let ops = operators(conn)?;
    mail_all(
        conn,
        deps.notifier,
        now,
        &ops,
        Kind::RegistrationReviewNeeded,
        row,
        json!({"bidder_organization": bidder_org}),
    )
}

/// Who acts, for which request, and when.
pub struct By<'a> {
    pub user: &'a AuthUser,
    pub meta: &'a RequestMeta,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Qualify,
    Reject,
}

pub(super) fn registrant(conn: &mut Conn, reg: &RegistrationRow) -> Result<Vec<User>, AppError> {
    Ok(users::find_with_org(conn, reg.user_id)?
        .map(|(u, _)| vec![u])
        .unwrap_or_default())
}

/// Refuses a change to a registration once its listing has been decided (or for another
/// round).
pub(super) fn undecided(
    row: &ListingRow,
    reg: &RegistrationRow,
    why: &'static str,
) -> Result<(), AppError> {
    if row.status != ListingStatus::Disclosure.as_str()
        || row.disclosure_decided_at.is_some()
        || reg.round != row.round
    {
        return Err(AppError::conflict("invalid_state", why));
    }
    Ok(())
}
