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
#[expect(clippy::too_many_lines, reason = "split by the lead in issue 12/13")]
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
    let from = status_of(&row)?;
    let mut warnings = Vec::new();
    match r.decision {
        Decision::Return => {
            let to = transition(from, Action::Return)?;
            if r.comment.trim().is_empty() {
                return Err(AppError::field("comment", "say what must change"));
            }
            store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
            store::set_review_comment(conn, id, r.comment.trim())?;
            record(
                conn,
                now,
                &row,
                "listing.returned",
                actor(user),
                json!({"listing_id": id, "comment": r.comment.trim()}),
                meta,
            )?;
            let to_users = owners(conn, &row)?;
            mail_all(
                conn,
                deps.notifier,
                now,
                &to_users,
                Kind::ListingReturned,
                &row,
                json!({"comment": r.comment.trim()}),
            )?;
        }
        Decision::Approve => {
            let to = transition(from, Action::Approve)?;
            check_appraisal_valid(
                &deps.rules.policy,
                row.appraisal_date,
                Calendar::beijing_date(now),
            )?;
            // The regulation's minimum for the kind and price is the floor for an end the
            // operator gives; without one, the period the enterprise announced applies.
            let kind = ListingKind::parse(&row.kind).unwrap_or(ListingKind::AssetTransfer);
            let floor_days = deps
                .rules
                .policy
                .min_disclosure_days(kind, money(row.listing_price));
            let floor = deps.rules.disclosure_end(now, floor_days);
            let announced = deps
                .rules
                .disclosure_end(now, count(row.disclosure_working_days));
            let end = match r.disclosure_end {
                Some(given) if given < floor.value => {
                    return Err(AppError::rule(
                        "disclosure_too_short",
                        format!(
                            "disclosure must last until at least {} (Beijing time)",
                            beijing(floor.value)
                        ),
                    ));
                }
                Some(given)
                    if given
                        > deps
                            .rules
                            .disclosure_end(now, deps.rules.policy.max_disclosure_working_days)
                            .value =>
                {
                    return Err(AppError::rule(
                        "disclosure_too_long",
                        format!(
                            "a disclosure may last at most {} working days",
                            deps.rules.policy.max_disclosure_working_days
                        ),
                    ));
                }
                Some(given) => {
                    warnings.extend(floor.fallback_warning());
                    given
                }
                None => {
                    warnings.extend(announced.fallback_warning());
                    announced.value
                }
            };
            store::set_status(conn, id, from.as_str(), to.as_str(), now)?;
            store::open_disclosure(conn, id, now, end)?;
            if !r.comment.trim().is_empty() {
                store::set_review_comment(conn, id, r.comment.trim())?;
            }
            let opened =
                store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
            store::record_round(conn, &opened, now)?;
            record(
                conn,
                now,
                &row,
                "listing.approved",
                actor(user),
                json!({
                    "listing_id": id, "round": row.round, "disclosure_start": audit::chain::format_time(now),
                    "disclosure_end": audit::chain::format_time(end), "comment": r.comment.trim(), "warnings": warnings,
                }),
                meta,
            )?;
            crate::exchange::risk::on_disclosure(conn, deps.rules, &opened, now)?;
            let to_users = owners(conn, &row)?;
            mail_all(
                conn,
                deps.notifier,
                now,
                &to_users,
                Kind::ListingApproved,
                &row,
                json!({"disclosure_end": beijing(end)}),
            )?;
        }
    }
    let row = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))?;
    Ok((row, warnings))
}
