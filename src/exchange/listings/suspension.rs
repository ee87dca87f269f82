//! Suspension (中止), resumption and termination (终结) of a listing. A suspension of a
//! listing whose auction is scheduled or running pauses the auction (see
//! `exchange::auctions::pause`); termination refunds every deposit still held and closes any
//! auction; a suspension that outlives its limit terminates the listing.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Deps, actor, load_for_write, notify_parties, reason, record, status_of};
use crate::audit::RequestMeta;
use crate::audit::{self, Actor};
use crate::auth::AuthUser;
use crate::domain::disclosure;
use crate::domain::listing::{Action, ListingStatus, suspension_expired, transition};
use crate::domain::registration::{DepositAction, DepositStatus};
use crate::error::AppError;
use crate::exchange::auctions;
use crate::exchange::deals::{self, DefaultNote};
use crate::notify::Kind;
use crate::store::auctions::AuctionRow;
use crate::store::listings::{self as store, ListingRow};
use crate::store::models::from_db;
use crate::store::{Conn, registrations};

/// The auction of this round that is still open (not closed), if any.
fn open_auction(auction: Option<AuctionRow>, row: &ListingRow) -> Option<AuctionRow> {
    auction.filter(|a| a.round == row.round && a.closed_at.is_none())
}

pub fn suspend(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    why: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let why = reason(why)?;
    let auction = auctions::lock_current(conn, id)?;
    let row = load_for_write(conn, deps, id, now)?;
    let from = status_of(&row)?;
    let to = transition(from, Action::Suspend)?;
    let running = open_auction(auction, &row).filter(|_| {
        matches!(
            from,
            ListingStatus::AuctionScheduled | ListingStatus::Bidding
        )
    });
    if let Some(a) = &running
        && from_db(a.ends_at) <= now
    {
        return Err(AppError::conflict(
            "auction_closed",
            "the auction has ended; its outcome is being recorded",
        ));
    }
    // After the auction's last bid, so no accepted bid is ever later than the pause.
    let at = auctions::pause_instant(running.as_ref(), now);
    store::set_status(conn, id, from.as_str(), to.as_str(), at)?;
    store::suspend(conn, id, from.as_str(), why, at)?;
    record(
        conn,
        at,
        &row,
        "listing.suspended",
        actor(user),
        json!({"listing_id": id, "from": from.as_str(), "reason": why, "suspended_at": audit::chain::format_time(at)}),
        meta,
    )?;
    if let Some(a) = &running {
        auctions::pause(conn, &row, a, at, meta, actor(user))?;
    }
    notify_parties(
        conn,
        deps,
        &row,
        Kind::ListingSuspended,
        json!({"reason": why, "auction_paused": running.is_some()}),
        at,
    )?;
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))
}

/// Resumes to the interrupted state. A resumed disclosure gets what it had left, but at least
/// the configured minimum after resumption and in all.
pub fn resume(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    why: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(ListingRow, Vec<String>), AppError> {
    let why = reason(why)?;
    let auction = auctions::lock_current(conn, id)?;
    let row = load_for_write(conn, deps, id, now)?;
    let from = status_of(&row)?;
    let back = row
        .suspended_from
        .as_deref()
        .and_then(ListingStatus::parse)
        .unwrap_or(ListingStatus::Disclosure);
    let to = transition(from, Action::Resume { to: back })?;
    let mut warnings = Vec::new();
    let new_end = resume_disclosure(conn, deps, &row, to, now, &mut warnings)?;
    let mut auction_end = None;
    if matches!(to, ListingStatus::AuctionScheduled | ListingStatus::Bidding)
        && let (Some(a), Some(paused)) = (open_auction(auction, &row), row.suspended_at)
    {
        let (paused, by) = (from_db(paused), actor(user));
        auction_end = Some(auctions::resume(conn, &row, &a, paused, now, meta, by)?);
    }
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    store::clear_suspension(conn, id)?;
    crate::exchange::decide::refresh_decision_due(conn, deps.rules, id)?;
    let resumed = Resumed {
        to,
        why,
        new_end,
        auction_end,
    };
    announce_resumption(conn, deps, user, &row, &resumed, meta, now)?;
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((row, warnings))
}

/// A disclosure still running at the suspension gets its working days back (within the
/// resumption minimums); one that had already ended (or been decided) stays ended. Returns
/// the new end, if it moved.
fn resume_disclosure(
    conn: &mut Conn,
    deps: &Deps,
    row: &ListingRow,
    to: ListingStatus,
    now: DateTime<Utc>,
    warnings: &mut Vec<String>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    if to != ListingStatus::Disclosure || row.disclosure_decided_at.is_some() {
        return Ok(None);
    }
    let (Some(start), Some(end), Some(paused)) =
        (row.disclosure_start, row.disclosure_end, row.suspended_at)
    else {
        return Ok(None);
    };
    if from_db(paused) >= from_db(end) {
        return Ok(None);
    }
    let r = deps.rules;
    let computed = disclosure::resumed_end(
        &r.calendar,
        from_db(start),
        from_db(end),
        from_db(paused),
        now,
        r.close_of_business,
        r.resume_min_total_days,
        r.resume_min_after_days,
    );
    warnings.extend(computed.fallback_warning());
    store::set_disclosure_end(conn, row.id, computed.value)?;
    Ok(Some(computed.value))
}

/// What a resumption changed.
struct Resumed<'a> {
    to: ListingStatus,
    why: &'a str,
    new_end: Option<DateTime<Utc>>,
    auction_end: Option<DateTime<Utc>>,
}

/// The resumption's audit event, the risk check of a moved disclosure, and the mails.
fn announce_resumption(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    row: &ListingRow,
    r: &Resumed,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let id = row.id;
    record(
        conn,
        now,
        row,
        "listing.resumed",
        actor(user),
        json!({
            "listing_id": id, "to": r.to.as_str(), "reason": r.why,
            "disclosure_end": r.new_end.map(audit::chain::format_time),
            "auction_ends_at": r.auction_end.map(audit::chain::format_time),
        }),
        meta,
    )?;
    if r.new_end.is_some() {
        let resumed =
            store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
        crate::exchange::risk::on_disclosure(conn, deps.rules, &resumed, now)?;
    }
    notify_parties(
        conn,
        deps,
        row,
        Kind::ListingResumed,
        json!({
            "disclosure_end": r.new_end.map(crate::exchange::beijing).unwrap_or_default(),
            "auction_ends_at": r.auction_end.map(crate::exchange::beijing).unwrap_or_default(),
        }),
        now,
    )
}

/// An operator's termination (终结).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    pub reason: String,
    /// The listing ends because the winner defaulted (an awarded deal with the contract
    /// unsigned): the winner's deposit is forfeited, every other one refunded.
    #[serde(default)]
    pub winner_default: bool,
}

pub fn terminate(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    t: &Termination,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let why = reason(&t.reason)?;
    end_listing(
        conn,
        deps,
        id,
        why,
        t.winner_default,
        actor(user),
        meta,
        now,
    )
}

/// Terminates a listing in one go: the winner's default recorded if that is the reason, any
/// open auction closed, every deposit still held refunded, then the listing `terminated`.
#[expect(
    clippy::too_many_arguments,
    reason = "who ends which listing, why, and when"
)]
fn end_listing(
    conn: &mut Conn,
    deps: &Deps,
    id: i64,
    why: &str,
    winner_default: bool,
    by: Actor,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<ListingRow, AppError> {
    let auction = auctions::lock_current(conn, id)?;
    let row = load_for_write(conn, deps, id, now)?;
    let from = status_of(&row)?;
    let to = transition(from, Action::Terminate)?;
    if winner_default {
        let note = DefaultNote {
            reason: why,
            evidence_reference: None,
            actor: by,
            recorded_by: by.id,
            meta,
        };
        if from != ListingStatus::Awarded || !deals::record_default(conn, deps, &row, &note, now)? {
            return Err(AppError::conflict(
                "invalid_state",
                "a winner's default ends only an awarded deal whose contract is unsigned",
            ));
        }
    }
    let auction_closed = match open_auction(auction, &row) {
        Some(a) => auctions::void(conn, &row, &a, now, why, meta, by)?,
        None => false,
    };
    let refunded = refund_held_deposits(conn, deps, &row, now)?;
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    store::set_terminated_reason(conn, id, why)?;
    record(
        conn,
        now,
        &row,
        "listing.terminated",
        by,
        json!({
            "listing_id": id, "from": from.as_str(), "reason": why, "winner_default": winner_default,
            "auction_closed": auction_closed, "deposits_refunded": refunded,
        }),
        meta,
    )?;
    notify_parties(
        conn,
        deps,
        &row,
        Kind::ListingTerminated,
        json!({"reason": why}),
        now,
    )?;
    crate::live::notify_in_tx(conn, id)?;
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))
}

/// Refunds every deposit of the current round that is still held (paid); returns how many.
fn refund_held_deposits(
    conn: &mut Conn,
    deps: &Deps,
    row: &ListingRow,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut n = 0;
    for reg in registrations::of_round(conn, row.id, row.round)? {
        if DepositStatus::parse(&reg.deposit_status) == Some(DepositStatus::Paid) {
            auctions::settle_deposit(
                conn,
                deps.rules,
                row,
                &reg,
                DepositAction::Refund,
                "listing_terminated",
                now,
            )?;
            n += 1;
        }
    }
    Ok(n)
}

/// The reason a listing ends with when its suspension outlived `listing.max_suspension_months`.
pub const SUSPENSION_EXPIRED: &str = "suspension_expired";

/// Terminates a suspended listing whose suspension outlived its limit (the scheduler, one
/// listing per call), and raises the overdue-suspension alert. Returns whether it did.
pub fn expire_suspensions(
    conn: &mut Conn,
    deps: &Deps,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(row) = store::find(conn, id)? else {
        return Ok(false);
    };
    let expired = row.status == ListingStatus::Suspended.as_str()
        && row.suspended_at.is_some_and(|since| {
            suspension_expired(from_db(since), deps.rules.max_suspension_months, now)
        });
    if !expired {
        return Ok(false);
    }
    crate::exchange::risk::on_suspension_overdue(conn, deps.rules, &row, now)?;
    end_listing(
        conn,
        deps,
        id,
        SUSPENSION_EXPIRED,
        false,
        Actor::SYSTEM,
        &RequestMeta::default(),
        now,
    )?;
    Ok(true)
}
