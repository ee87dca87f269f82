//! Deposits (交易保证金): an operator confirms one (with the payment reference) until its own
//! due time, even after disclosure has ended, and refunds or forfeits one by hand.

use serde_json::json;

use super::{By, record, registrant};
use crate::audit::Actor;
use crate::domain::money::Money;
use crate::domain::registration::{
    DepositAction, DepositStatus, RegistrationStatus, deposit_in_time, deposit_transition,
};
use crate::error::AppError;
use crate::exchange::decide::refresh_decision_due;
use crate::exchange::listings::{Deps, load_for_write};
use crate::exchange::mail_all;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::listings::ListingRow;
use crate::store::models::from_db;
use crate::store::registrations::{self as store, RegistrationRow};

/// A deposit is confirmed with its reference, before the listing is decided and before its
/// own due time (which may be after the disclosure's end).
fn confirmable(
    row: &ListingRow,
    reg: &RegistrationRow,
    reference: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    if reference.is_none() {
        return Err(AppError::field(
            "reference",
            "give the payment reference of the deposit",
        ));
    }
    if row.status != "disclosure" || row.disclosure_decided_at.is_some() {
        return Err(AppError::conflict(
            "invalid_state",
            "deposits are confirmed before the listing is decided",
        ));
    }
    if !deposit_in_time(reg.deposit_due_at.map(from_db), now) {
        return Err(AppError::conflict(
            "deposit_overdue",
            "the deposit was due earlier; this bidder is no longer eligible",
        ));
    }
    Ok(())
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
        confirmable(&row, &reg, reference, now)?;
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
        crate::exchange::risk::on_forfeit(
            conn,
            deps.rules,
            reg.organization_id,
            reg.listing_id,
            now,
        )?;
    }
    refresh_decision_due(conn, deps.rules, row.id)?;
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
