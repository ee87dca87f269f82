//! The operator's review of a submitted listing: approve (disclosure starts) or return.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Deps, actor, count, load_for_write, money, record, status_of};
use crate::audit;
use crate::audit::RequestMeta;
use crate::auth::AuthUser;
use crate::domain::calendar::Calendar;
use crate::domain::listing::{Action, ListingKind, check_appraisal_valid, transition};
use crate::error::AppError;
use crate::exchange::{beijing, mail_all, owners};
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::listings::{self as store, ListingRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Return,
}

pub struct Review<'a> {
    pub decision: Decision,
    pub comment: &'a str,
    pub disclosure_end: Option<DateTime<Utc>>,
}

/// Approves (disclosure starts now and ends at the given or the computed minimum end) or
/// returns the listing. Returns the listing and any calendar warnings.
pub fn review(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    r: &Review,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(ListingRow, Vec<String>), AppError> {
    let row = load_for_write(conn, deps, id, now)?;
    let warnings = match r.decision {
        Decision::Return => {
            return_listing(conn, deps, user, &row, r.comment, meta, now)?;
            Vec::new()
        }
        Decision::Approve => approve(conn, deps, user, &row, r, meta, now)?,
    };
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((row, warnings))
}

/// Sends the listing back to the enterprise with what must change.
fn return_listing(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    row: &ListingRow,
    comment: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (id, from) = (row.id, status_of(row)?);
    let to = transition(from, Action::Return)?;
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(AppError::field("comment", "say what must change"));
    }
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    store::set_review_comment(conn, id, comment)?;
    let payload = json!({"listing_id": id, "comment": comment});
    record(
        conn,
        now,
        row,
        "listing.returned",
        actor(user),
        payload,
        meta,
    )?;
    let to_users = owners(conn, row)?;
    let vars = json!({"comment": comment});
    mail_all(
        conn,
        deps.notifier,
        now,
        &to_users,
        Kind::ListingReturned,
        row,
        vars,
    )
}

/// Opens the disclosure; returns the calendar warnings of its end.
fn approve(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    row: &ListingRow,
    r: &Review,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AppError> {
    let (id, from) = (row.id, status_of(row)?);
    let to = transition(from, Action::Approve)?;
    check_appraisal_valid(
        &deps.rules.policy,
        row.appraisal_date,
        Calendar::beijing_date(now),
    )?;
    let mut warnings = Vec::new();
    let end = disclosure_end(deps, row, r.disclosure_end, now, &mut warnings)?;
    store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
    store::open_disclosure(conn, id, now, end)?;
    let comment = r.comment.trim();
    if !comment.is_empty() {
        store::set_review_comment(conn, id, comment)?;
    }
    let opened = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    store::record_round(conn, &opened, now)?;
    crate::exchange::decide::refresh_decision_due(conn, deps.rules, id)?;
    let payload = json!({
        "listing_id": id, "round": row.round, "disclosure_start": audit::chain::format_time(now),
        "disclosure_end": audit::chain::format_time(end), "comment": comment, "warnings": warnings,
    });
    record(
        conn,
        now,
        row,
        "listing.approved",
        actor(user),
        payload,
        meta,
    )?;
    crate::exchange::risk::on_disclosure(conn, deps.rules, &opened, now)?;
    let to_users = owners(conn, row)?;
    let vars = json!({"disclosure_end": beijing(end)});
    mail_all(
        conn,
        deps.notifier,
        now,
        &to_users,
        Kind::ListingApproved,
        row,
        vars,
    )?;
    Ok(warnings)
}

/// The end of a disclosure approved now: the regulation's minimum for the kind and price is
/// the floor for an end the operator gives, the configured maximum its ceiling; without one,
/// the period the enterprise announced applies.
fn disclosure_end(
    deps: &Deps,
    row: &ListingRow,
    given: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    warnings: &mut Vec<String>,
) -> Result<DateTime<Utc>, AppError> {
    let rules = deps.rules;
    let kind = ListingKind::parse(&row.kind).unwrap_or(ListingKind::AssetTransfer);
    let floor_days = rules
        .policy
        .min_disclosure_days(kind, money(row.listing_price));
    let floor = rules.disclosure_end(now, floor_days);
    let Some(given) = given else {
        let announced = rules.disclosure_end(now, count(row.disclosure_working_days));
        warnings.extend(announced.fallback_warning());
        return Ok(announced.value);
    };
    if given < floor.value {
        return Err(AppError::rule(
            "disclosure_too_short",
            format!(
                "disclosure must last until at least {} (Beijing time)",
                beijing(floor.value)
            ),
        ));
    }
    let max_days = rules.policy.max_disclosure_working_days;
    if given > rules.disclosure_end(now, max_days).value {
        return Err(AppError::rule(
            "disclosure_too_long",
            format!("a disclosure may last at most {max_days} working days"),
        ));
    }
    warnings.extend(floor.fallback_warning());
    Ok(given)
}
