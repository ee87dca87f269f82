//! Changes to a running disclosure, each a public notice: an extension (延期) by the
//! enterprise adds working days; a supplementary notice (补充公告) informs, and when the change
//! is material the minimum disclosure period starts again from its publication (the end never
//! moves earlier). Registered bidders are told by mail; both are in the audit trail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{Deps, actor, count, load_for_write, money, notify_parties, owned, record, status_of};
use crate::audit::{self, RequestMeta};
use crate::auth::AuthUser;
use crate::domain::calendar::Dated;
use crate::domain::disclosure;
use crate::domain::listing::{ListingKind, ListingStatus};
use crate::error::AppError;
use crate::notify::Kind;
use crate::store::Conn;
use crate::store::listings::{self as store, ListingRow};
use crate::store::models::from_db;
use crate::store::notices::{self as notices, NewNotice, NoticeRow};

pub const MAX_NOTICE_CHARS: usize = 20_000;

/// A notice as anyone may read it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoticeView {
    pub id: i64,
    pub listing_id: i64,
    pub round: u32,
    /// `extension` (延期公告) or `supplementary` (补充公告).
    pub kind: String,
    pub text: String,
    /// A material change: the minimum disclosure period started again.
    pub material: bool,
    pub disclosure_end_before: DateTime<Utc>,
    pub disclosure_end: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
}

pub fn notice_view(n: &NoticeRow) -> NoticeView {
    NoticeView {
        id: n.id,
        listing_id: n.listing_id,
        round: count(n.round),
        kind: n.kind.clone(),
        text: n.text.clone(),
        material: n.material,
        disclosure_end_before: from_db(n.disclosure_end_before),
        disclosure_end: from_db(n.disclosure_end_after),
        published_at: from_db(n.published_at),
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Working days to add (at least `listing.extension_min_working_days`, 5 by default).
    pub working_days: u32,
    /// Why (shown in the extension notice); optional.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    pub text: String,
    /// A material change: the minimum disclosure period starts again from now.
    pub material: bool,
}

/// The listing, owned by `user`, in a disclosure that has not ended.
fn running_disclosure(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(ListingRow, DateTime<Utc>), AppError> {
    let row = load_for_write(conn, deps, id, now)?;
    owned(&row, user)?;
    let end = row.disclosure_end.map(from_db);
    match (status_of(&row)?, end) {
        (ListingStatus::Disclosure, Some(end))
            if now < end && row.disclosure_decided_at.is_none() =>
        {
            Ok((row, end))
        }
        _ => Err(AppError::conflict(
            "invalid_state",
            "a disclosure is changed only while it runs",
        )),
    }
}

/// The enterprise extends its disclosure by some working days.
pub fn extend(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    x: &Extension,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(ListingRow, NoticeRow, Vec<String>), AppError> {
    let (row, end) = running_disclosure(conn, deps, user, id, now)?;
    let r = deps.rules;
    let new_end = disclosure::extended_end(
        &r.calendar,
        end,
        x.working_days,
        r.extension_min_working_days,
        r.policy.max_disclosure_working_days,
        r.close_of_business,
    )?;
    let reason = x.reason.as_deref().map(str::trim).unwrap_or_default();
    let text = if reason.is_empty() {
        format!("信息披露期延长 {} 个工作日。", x.working_days)
    } else {
        format!("信息披露期延长 {} 个工作日：{reason}", x.working_days)
    };
    let notice = publish(
        conn,
        deps,
        user,
        &row,
        "extension",
        &text,
        false,
        end,
        &new_end,
        meta,
        now,
    )?;
    Ok((
        reload(conn, id)?,
        notice,
        new_end.fallback_warning().into_iter().collect(),
    ))
}

/// The enterprise publishes a supplementary notice.
pub fn publish_notice(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    id: i64,
    x: &NoticeInput,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(ListingRow, NoticeRow, Vec<String>), AppError> {
    let text = x.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTICE_CHARS {
        return Err(AppError::field(
            "text",
            format!("must be 1 to {MAX_NOTICE_CHARS} characters"),
        ));
    }
    let (row, end) = running_disclosure(conn, deps, user, id, now)?;
    let r = deps.rules;
    let new_end = if x.material {
        let kind = ListingKind::parse(&row.kind).unwrap_or(ListingKind::AssetTransfer);
        let min = r.policy.min_disclosure_days(kind, money(row.listing_price));
        disclosure::after_material_notice(&r.calendar, end, now, min, r.close_of_business)
    } else {
        Dated {
            value: end,
            fallback_years: Vec::new(),
        }
    };
    let notice = publish(
        conn,
        deps,
        user,
        &row,
        "supplementary",
        text,
        x.material,
        end,
        &new_end,
        meta,
        now,
    )?;
    Ok((
        reload(conn, id)?,
        notice,
        new_end.fallback_warning().into_iter().collect(),
    ))
}

#[expect(clippy::too_many_arguments, reason = "one notice and what it changes")]
fn publish(
    conn: &mut Conn,
    deps: &Deps,
    user: &AuthUser,
    row: &ListingRow,
    kind: &str,
    text: &str,
    material: bool,
    end: DateTime<Utc>,
    new_end: &Dated<DateTime<Utc>>,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<NoticeRow, AppError> {
    let notice = notices::insert(
        conn,
        &NewNotice {
            listing_id: row.id,
            round: row.round,
            kind,
            text,
            material,
            end_before: end,
            end_after: new_end.value,
            at: now,
            by: Some(user.id),
        },
    )?;
    if new_end.value != end {
        store::set_disclosure_end(conn, row.id, new_end.value)?;
        let moved = reload(conn, row.id)?;
        store::record_round(conn, &moved, now)?;
        crate::exchange::decide::refresh_decision_due(conn, deps.rules, row.id)?;
    }
    let action = if kind == "extension" {
        "listing.extended"
    } else {
        "listing.notice_published"
    };
    record(
        conn,
        now,
        row,
        action,
        actor(user),
        json!({
            "listing_id": row.id, "notice_id": notice.id, "kind": kind, "text": text, "material": material,
            "disclosure_end_before": audit::chain::format_time(end),
            "disclosure_end": audit::chain::format_time(new_end.value),
        }),
        meta,
    )?;
    notify_parties(
        conn,
        deps,
        row,
        Kind::ListingNotice,
        json!({
            "notice_kind": kind, "text": text, "material": material,
            "disclosure_end": crate::exchange::beijing(new_end.value),
        }),
        now,
    )?;
    Ok(notice)
}

fn reload(conn: &mut Conn, id: i64) -> Result<ListingRow, AppError> {
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such listing"))
}
