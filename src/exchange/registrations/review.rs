//! The exchange's opinion on each registration (资格确认), during disclosure and up to
//! `qualification_working_days` after it, and the enterprise's opinion on each qualified bidder
//! (silence is agreement; an objection sends the registration back to the operator).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{By, ReviewDecision, record, registrant, undecided};
use crate::audit::{self, Actor};
use crate::domain::bidding::{self, Preemption};
use crate::domain::money::Money;
use crate::domain::qualification::{self, SellerOpinion};
use crate::domain::registration::{DepositAction, DepositStatus, RegistrationStatus, bidder_code};
use crate::error::AppError;
use crate::exchange::decide::{refresh_decision_due, standing};
use crate::exchange::listings::{Deps, Viewer, load_for_write};
use crate::exchange::{beijing, mail_all, operators, owners};
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::listings::ListingRow;
use crate::store::models::from_db;
use crate::store::registrations::{self as store, RegistrationRow, Review};

/// An operator qualifies or rejects a pending registration: during disclosure, within the
/// qualification window after it, or (after the enterprise objected) by its own due. A
/// qualification may confirm the bidder's pre-emptive right (优先购买权) where the listing
/// honours it.
pub fn review(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    reg_id: i64,
    decision: ReviewDecision,
    comment: &str,
    preemptive_right: bool,
) -> Result<RegistrationRow, AppError> {
    let now = by.now;
    let reg =
        store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))?;
    let row = load_for_write(conn, deps, reg.listing_id, now)?;
    reviewable(deps, &row, &reg, now)?;
    if preemptive_right {
        confirmable_right(&row, decision)?;
    }
    let comment = comment.trim();
    let o = outcome(conn, deps, &reg, decision, comment, now)?;
    let written = store::review(
        conn,
        reg_id,
        &Review {
            status: o.status.as_str(),
            comment,
            bidder_code: o.code.as_deref(),
            deposit_due: o.deposit_due.or(reg.deposit_due_at.map(from_db)),
            opinion_due: o.opinion_due,
            preemptive_right,
        },
        now,
    )?;
    if !written {
        return Err(AppError::conflict(
            "invalid_state",
            "this registration was reviewed meanwhile",
        ));
    }
    record_review(conn, by, &reg, &o, comment, preemptive_right)?;
    if o.status == RegistrationStatus::Rejected
        && reg.deposit_status == DepositStatus::Paid.as_str()
    {
        let (rules, refund) = (deps.rules, DepositAction::Refund);
        let why = "registration_rejected";
        crate::exchange::auctions::settle_deposit(conn, rules, &row, &reg, refund, why, now)?;
    }
    refresh_decision_due(conn, deps.rules, row.id)?;
    tell_review(conn, deps, &row, &reg, &o, comment, now)?;
    store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))
}

/// A pending registration of an undecided listing, inside the exchange's window.
fn reviewable(
    deps: &Deps,
    row: &ListingRow,
    reg: &RegistrationRow,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    undecided(
        row,
        reg,
        "registrations are reviewed before the listing is decided",
    )?;
    if reg.status != RegistrationStatus::Pending.as_str() {
        return Err(AppError::conflict(
            "invalid_state",
            format!("this registration is already {}", reg.status),
        ));
    }
    let end = row.disclosure_end.map(from_db).unwrap_or(now);
    if !qualification::review_open(&standing(reg), deps.rules.qualification_end(end), now) {
        return Err(AppError::conflict(
            "qualification_closed",
            "the time for the exchange's opinion on this registration has passed",
        ));
    }
    Ok(())
}

/// The pre-emptive right is confirmed with a qualification, on a listing that honours it.
fn confirmable_right(row: &ListingRow, decision: ReviewDecision) -> Result<(), AppError> {
    if decision != ReviewDecision::Qualify {
        return Err(AppError::field(
            "preemptive_right",
            "the pre-emptive right is confirmed with a qualification only",
        ));
    }
    let honoured = Preemption::parse(&row.preemption).is_some_and(bidding::may_hold_right);
    if !honoured {
        return Err(AppError::rule(
            "preemption_not_offered",
            "this listing does not honour the pre-emptive right in its bidding",
        ));
    }
    Ok(())
}

fn record_review(
    conn: &mut Conn,
    by: &By,
    reg: &RegistrationRow,
    o: &Outcome,
    comment: &str,
    preemptive_right: bool,
) -> Result<(), AppError> {
    let action = if o.status == RegistrationStatus::Qualified {
        "registration.qualified"
    } else {
        "registration.rejected"
    };
    record(
        conn,
        by.now,
        reg.listing_id,
        action,
        Actor::user(by.user.id, by.user.role),
        json!({
            "listing_id": reg.listing_id, "registration_id": reg.id, "bidder_code": o.code, "comment": comment,
            "deposit_due_at": o.deposit_due.map(audit::chain::format_time),
            "seller_opinion_due_at": o.opinion_due.map(audit::chain::format_time),
            "after_objection": reg.qualified_at.is_some(), "preemptive_right": preemptive_right,
        }),
        by.meta,
    )
}

/// What a review decides: the status, the bidder code, and the deadlines it starts.
struct Outcome {
    status: RegistrationStatus,
    code: Option<String>,
    deposit_due: Option<DateTime<Utc>>,
    opinion_due: Option<DateTime<Utc>>,
}

/// A rejection needs its reason; a qualification gets a code (kept after an objection), a
/// deposit deadline while unpaid, and the enterprise's opinion window the first time.
fn outcome(
    conn: &mut Conn,
    deps: &Deps,
    reg: &RegistrationRow,
    decision: ReviewDecision,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    if decision == ReviewDecision::Reject {
        if comment.is_empty() {
            return Err(AppError::field("comment", "give the reason for rejecting"));
        }
        return Ok(Outcome {
            status: RegistrationStatus::Rejected,
            code: None,
            deposit_due: None,
            opinion_due: None,
        });
    }
    let code = match &reg.bidder_code {
        Some(code) => code.clone(),
        None => unique_code(conn, reg.listing_id)?,
    };
    let unpaid = reg.deposit_status == DepositStatus::Unpaid.as_str();
    let rules = deps.rules;
    Ok(Outcome {
        status: RegistrationStatus::Qualified,
        code: Some(code),
        deposit_due: unpaid.then(|| rules.deadline(now, rules.deposit_due_working_days)),
        opinion_due: reg
            .qualified_at
            .is_none()
            .then(|| rules.deadline(now, rules.seller_opinion_working_days)),
    })
}

/// Mails the registrant its outcome and, for a newly qualified bidder, asks the enterprise
/// for its opinion.
fn tell_review(
    conn: &mut Conn,
    deps: &Deps,
    row: &ListingRow,
    reg: &RegistrationRow,
    o: &Outcome,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (code, deposit_due, opinion_due) = (o.code.clone(), o.deposit_due, o.opinion_due);
    let to = registrant(conn, reg)?;
    let deposit = Money::from_fen(row.deposit).to_string();
    let Some(code) = code else {
        return mail_all(
            conn,
            deps.notifier,
            now,
            &to,
            Kind::RegistrationRejected,
            row,
            json!({"comment": comment}),
        );
    };
    let due = deposit_due
        .or(reg.deposit_due_at.map(from_db))
        .map(beijing)
        .unwrap_or_default();
    mail_all(
        conn,
        deps.notifier,
        now,
        &to,
        Kind::RegistrationQualified,
        row,
        json!({"bidder_code": code, "deposit": deposit, "deposit_due": due}),
    )?;
    if let Some(opinion_due) = opinion_due {
        let sellers = owners(conn, row)?;
        mail_all(
            conn,
            deps.notifier,
            now,
            &sellers,
            Kind::SellerOpinionRequested,
            row,
            json!({"bidder_code": code, "registration_id": reg.id, "opinion_due": beijing(opinion_due)}),
        )?;
    }
    Ok(())
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

/// The enterprise's opinion on a qualified bidder of its listing: agreement, or an objection
/// (with its reasons) that sends the registration back to the operator.
pub fn seller_opinion(
    conn: &mut Conn,
    deps: &Deps,
    by: &By,
    reg_id: i64,
    agree: bool,
    comment: &str,
) -> Result<RegistrationRow, AppError> {
    let (user, meta, now) = (by.user, by.meta, by.now);
    let reg =
        store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))?;
    let row = load_for_write(conn, deps, reg.listing_id, now)?;
    let viewer = Viewer::of(Some(user));
    if !viewer.owns(&row) {
        return Err(if viewer.may_see(&row) {
            AppError::forbidden("only the listing's owner gives the enterprise's opinion")
        } else {
            AppError::not_found("no such registration")
        });
    }
    undecided(&row, &reg, "the listing has been decided")?;
    let status = RegistrationStatus::parse(&reg.status).unwrap_or(RegistrationStatus::Pending);
    let given = reg.seller_opinion.as_deref().and_then(SellerOpinion::parse);
    qualification::opinion_allowed(status, given, reg.seller_opinion_due_at.map(from_db), now)
        .map_err(|r| AppError::conflict(r.code(), r.to_string()))?;
    let comment = comment.trim();
    let (opinion, review_due) = if agree {
        (SellerOpinion::Agreed, None)
    } else {
        if comment.is_empty() {
            return Err(AppError::field("comment", "say why the enterprise objects"));
        }
        let rules = deps.rules;
        let due = rules.deadline(now, rules.qualification_working_days);
        (SellerOpinion::Objected, Some(due))
    };
    if !store::set_opinion(conn, reg_id, opinion.as_str(), comment, review_due, now)? {
        return Err(AppError::conflict(
            "invalid_state",
            "this registration changed meanwhile",
        ));
    }
    let action = match opinion {
        SellerOpinion::Agreed => "registration.seller_agreed",
        SellerOpinion::Objected => "registration.seller_objected",
    };
    record(
        conn,
        now,
        row.id,
        action,
        Actor::user(user.id, user.role),
        json!({
            "listing_id": row.id, "registration_id": reg_id, "bidder_code": reg.bidder_code, "comment": comment,
            "review_due_at": review_due.map(audit::chain::format_time),
        }),
        meta,
    )?;
    refresh_decision_due(conn, deps.rules, row.id)?;
    if let Some(due) = review_due {
        let ops = operators(conn)?;
        mail_all(
            conn,
            deps.notifier,
            now,
            &ops,
            Kind::SellerObjected,
            &row,
            json!({
                "bidder_code": reg.bidder_code.clone().unwrap_or_default(), "comment": comment,
                "review_due": beijing(due),
            }),
        )?;
    }
    store::find(conn, reg_id)?.ok_or_else(|| AppError::not_found("no such registration"))
}
