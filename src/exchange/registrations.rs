//! Registration use cases: a bidder registers intent during disclosure, an operator
//! qualifies or rejects it (qualifying assigns an anonymous bidder code), and deposits move
//! through their own state machine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::listings::{Deps, load_for_write};
use super::{beijing, mail_all, operators, owners};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::auth::AuthUser;
use crate::domain::listing::ListingStatus;
use crate::domain::money::Money;
use crate::domain::registration::{
    DepositAction, DepositStatus, RegistrationStatus, bidder_code, deposit_in_time,
    deposit_transition,
};
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

pub fn view(r: &RegistrationRow, deposit: Money, org_name: Option<String>) -> RegistrationView {
    let status = RegistrationStatus::parse(&r.status).unwrap_or(RegistrationStatus::Pending);
    let deposit_status = DepositStatus::parse(&r.deposit_status).unwrap_or(DepositStatus::Unpaid);
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
        created_at: from_db(r.created_at),
    }
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
#[expect(clippy::too_many_lines, reason = "split by the lead in issue 12/13")]
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
    let total = store::count_for_round(conn, listing_id, row.round)?;
    let to_owners = owners(conn, &row)?;
    mail_all(
        conn,
        deps.notifier,
        now,
        &to_owners,
        Kind::RegistrationReceived,
        &row,
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
        &row,
        json!({"bidder_organization": bidder_org}),
    )?;
    Ok(reg)
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

fn registrant(conn: &mut Conn, reg: &RegistrationRow) -> Result<Vec<User>, AppError> {
    Ok(users::find_with_org(conn, reg.user_id)?
        .map(|(u, _)| vec![u])
        .unwrap_or_default())
}

/// An operator qualifies or rejects a pending registration while the listing is in
/// disclosure and not yet decided.
#[expect(clippy::too_many_lines, reason = "split by the lead in issue 12/13")]
pub fn review(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    reg_id: i64,
    decision: ReviewDecision,
    comment: &str,
) -> Result<RegistrationRow, AppError> {
    let (user, meta, now) = (by.user, by.meta, by.now);
    let reg =
        store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))?;
    let row = load_for_write(conn, deps, reg.listing_id, now)?;
    if row.status != "disclosure" || row.disclosure_decided_at.is_some() || reg.round != row.round {
        return Err(AppError::conflict(
            "invalid_state",
            "registrations are reviewed while the listing is in disclosure",
        ));
    }
    if reg.status != "pending" {
        return Err(AppError::conflict(
            "invalid_state",
            format!("this registration is already {}", reg.status),
        ));
    }
    let comment = comment.trim();
    let (status, code, due) = match decision {
        ReviewDecision::Reject => {
            if comment.is_empty() {
                return Err(AppError::field("comment", "give the reason for rejecting"));
            }
            (RegistrationStatus::Rejected, None, None)
        }
        ReviewDecision::Qualify => {
            let code = unique_code(conn, reg.listing_id)?;
            let due = deps
                .rules
                .calendar
                .period_end(
                    now,
                    deps.rules.deposit_due_working_days,
                    deps.rules.close_of_business,
                )
                .value;
            (RegistrationStatus::Qualified, Some(code), Some(due))
        }
    };
    if !store::review(
        conn,
        reg_id,
        status.as_str(),
        comment,
        code.as_deref(),
        due,
        now,
    )? {
        return Err(AppError::conflict(
            "invalid_state",
            "this registration was reviewed meanwhile",
        ));
    }
    let action = if status == RegistrationStatus::Qualified {
        "registration.qualified"
    } else {
        "registration.rejected"
    };
    record(
        conn,
        now,
        reg.listing_id,
        action,
        Actor::user(user.id, user.role),
        json!({
            "listing_id": reg.listing_id, "registration_id": reg_id, "bidder_code": code, "comment": comment,
            "deposit_due_at": due.map(audit::chain::format_time),
        }),
        meta,
    )?;
    let to = registrant(conn, &reg)?;
    let deposit = Money::from_fen(row.deposit).to_string();
    match (status, code, due) {
        (RegistrationStatus::Qualified, Some(code), Some(due)) => mail_all(
            conn,
            deps.notifier,
            now,
            &to,
            Kind::RegistrationQualified,
            &row,
            json!({
                "bidder_code": code, "deposit": deposit, "deposit_due": beijing(due),
            }),
        )?,
        _ => mail_all(
            conn,
            deps.notifier,
            now,
            &to,
            Kind::RegistrationRejected,
            &row,
            json!({"comment": comment}),
        )?,
    }
    store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))
}

/// A fresh random bidder code not used on this listing.
fn unique_code(conn: &mut Conn, listing_id: i64) -> Result<String, AppError> {
    for _ in 0..16 {
        let mut bytes = [0u8; 7];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let code = bidder_code(bytes);
        if !store::bidder_code_taken(conn, listing_id, &code)? {
            return Ok(code);
        }
    }
    Err(AppError::internal(anyhow::anyhow!(
        "could not find a free bidder code"
    )))
}

/// An operator confirms (with a payment reference), refunds or forfeits a deposit.
pub fn deposit(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    reg_id: i64,
    action: DepositAction,
    reference: Option<&str>,
) -> Result<RegistrationRow, AppError> {
    let (user, meta, now) = (by.user, by.meta, by.now);
    let reg =
        store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))?;
    let row = load_for_write(conn, deps, reg.listing_id, now)?;
    let from = DepositStatus::parse(&reg.deposit_status).unwrap_or(DepositStatus::Unpaid);
    let status = RegistrationStatus::parse(&reg.status).unwrap_or(RegistrationStatus::Pending);
    let to = deposit_transition(from, action, status)
        .map_err(|m| AppError::conflict("invalid_state", m))?;
    let reference = reference.map(str::trim).filter(|r| !r.is_empty());
    if action == DepositAction::Confirm {
        if reference.is_none() {
            return Err(AppError::field(
                "reference",
                "give the payment reference of the deposit",
            ));
        }
        if row.status != "disclosure" || row.disclosure_decided_at.is_some() {
            return Err(AppError::conflict(
                "invalid_state",
                "deposits are confirmed while the listing is in disclosure",
            ));
        }
        if !deposit_in_time(reg.deposit_due_at.map(from_db), now) {
            return Err(AppError::conflict(
                "deposit_overdue",
                "the deposit was due earlier; this bidder is no longer eligible",
            ));
        }
    }
    if !store::set_deposit(conn, reg_id, from.as_str(), to.as_str(), reference, now)? {
        return Err(AppError::conflict(
            "invalid_state",
            "the deposit changed meanwhile",
        ));
    }
    let deposit = Money::from_fen(row.deposit).to_string();
    let audit_action = match action {
        DepositAction::Confirm => "deposit.confirmed",
        DepositAction::Refund => "deposit.refunded",
        DepositAction::Forfeit => "deposit.forfeited",
        DepositAction::Convert => "deposit.converted",
    };
    record(
        conn,
        now,
        reg.listing_id,
        audit_action,
        Actor::user(user.id, user.role),
        json!({
            "listing_id": reg.listing_id, "registration_id": reg_id, "amount": deposit, "reference": reference,
            "from": from.as_str(), "to": to.as_str(),
        }),
        meta,
    )?;
    if action == DepositAction::Forfeit {
        super::risk::on_forfeit(conn, deps.rules, reg.organization_id, reg.listing_id, now)?;
    }
    let kind = match action {
        DepositAction::Confirm => Some(Kind::DepositConfirmed),
        DepositAction::Refund => Some(Kind::DepositRefunded),
        DepositAction::Forfeit => Some(Kind::DepositForfeited),
        DepositAction::Convert => None,
    };
    if let Some(kind) = kind {
        let to_users = registrant(conn, &reg)?;
        mail_all(
            conn,
            deps.notifier,
            now,
            &to_users,
            kind,
            &row,
            json!({"deposit": deposit, "reference": reference.unwrap_or("")}),
        )?;
    }
    store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))
}
