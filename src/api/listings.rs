//! `/api/v1/listings`: drafts, submission, review, the public browse, suspension,
//! termination, relisting and the history of rounds.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::call::{Call, Ctx};
use super::extract::{AuthUser, Enterprises, MaybeUser, Operators, RequestMeta, Staff};
use super::json::ApiJson;
use super::paging::{Cursor, Paging};
use crate::domain::listing::{ListingKind, ListingStatus, effective_status};
use crate::domain::money::Money;
use crate::error::{AppError, Problem};
use crate::exchange::listings::{
    self as uc, Decision, ListingInput, ListingPatch, ListingView, RelistInput, Review, Viewer,
};
use crate::state::AppState;
use crate::store::browse::{self, Browse, CountCache, Start, StatusFilter};
use crate::store::listings::{self as store, ListingRow};
use crate::store::models::from_db;
use crate::store::{Conn, registrations};

/// The view of one row for `viewer`, with the status a late scheduler would have set.
fn present(
    c: &mut Conn,
    row: &ListingRow,
    viewer: Viewer,
    now: DateTime<Utc>,
) -> Result<ListingView, AppError> {
    let seller = store::seller_name(c, row.organization_id)?;
    present_with(c, row, seller, viewer, now)
}

/// [`present`] with the seller's name already known (a page looks them up at once).
fn present_with(
    c: &mut Conn,
    row: &ListingRow,
    seller: String,
    viewer: Viewer,
    now: DateTime<Utc>,
) -> Result<ListingView, AppError> {
    let stored = ListingStatus::parse(&row.status).unwrap_or(ListingStatus::Draft);
    let mut eligible_err = None;
    let status = effective_status(
        stored,
        row.decision_due_at.map(from_db),
        row.disclosure_decided_at.is_some(),
        now,
        || {
            crate::exchange::registrations::count_eligible(c, row.id, row.round).unwrap_or_else(
                |e| {
                    eligible_err = Some(e);
                    0
                },
            )
        },
    );
    if let Some(e) = eligible_err {
        return Err(e);
    }
    let privileged = viewer.is_staff() || viewer.owns(row);
    let count = if privileged {
        Some(registrations::count_for_round(c, row.id, row.round)?)
    } else {
        None
    };
    Ok(uc::view(row, seller, status, viewer, count, now))
}

pub(super) async fn respond(
    state: &web::Data<AppState>,
    row: ListingRow,
    viewer: Viewer,
    warnings: Vec<String>,
    created: bool,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let mut view = state.db.run(move |c| present(c, &row, viewer, now)).await?;
    view.warnings = warnings;
    for w in calendar_warnings(state, &view) {
        if !view.warnings.contains(&w) {
            view.warnings.push(w);
        }
    }
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Create a draft listing.
#[utoipa::path(post, path = "/api/v1/listings", tag = "listings",
    request_body = ListingInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Draft created", body = ListingView),
        (status = 403, description = "Not an enterprise", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `price_below_appraisal`, `deposit_too_high`, `invalid_increment`, `invalid_deposit`, `disclosure_too_short`, `bidding_period_out_of_range`, `invalid_appraisal_date`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    call: Call,
    user: Staff<Enterprises>,
    body: ApiJson<ListingInput>,
) -> Result<HttpResponse, AppError> {
    for_owner(call, user, true, move |c, cx| {
        uc::create(c, &cx.deps(), &cx.user, &body.0, &cx.meta, cx.now)
    })
    .await
}

/// Runs a listing use case for the enterprise that owns the listing and answers with the
/// listing as its owner sees it (201 when `created`).
async fn for_owner<F>(
    call: Call,
    user: Staff<Enterprises>,
    created: bool,
    use_case: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&mut Conn<'_>, &Ctx) -> Result<ListingRow, AppError> + Send + 'static,
{
    let row = call.tx(&user, use_case).await?;
    respond(
        call.state(),
        row,
        Viewer::of(Some(&user)),
        Vec::new(),
        created,
    )
    .await
}

/// Edit a draft or returned listing (only the fields given change).
#[utoipa::path(patch, path = "/api/v1/listings/{id}", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = ListingPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = ListingView),
        (status = 404, description = "No such listing (or not yours)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rule is broken", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    call: Call,
    user: Staff<Enterprises>,
    path: web::Path<i64>,
    body: ApiJson<ListingPatch>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    for_owner(call, user, false, move |c, cx| {
        uc::update(c, &cx.deps(), &cx.user, id, &body.0, &cx.meta, cx.now)
    })
    .await
}

/// Submit a draft (or a returned listing) for review.
#[utoipa::path(post, path = "/api/v1/listings/{id}/submit", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted", body = ListingView),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn submit(
    call: Call,
    user: Staff<Enterprises>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    for_owner(call, user, false, move |c, cx| {
        uc::submit(c, &cx.deps(), &cx.user, id, &cx.meta, cx.now)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ListingReviewRequest)]
pub struct ReviewRequest {
    pub decision: Decision,
    #[serde(default)]
    pub comment: String,
    /// When disclosure should end; not earlier than the computed minimum. Default: the minimum.
    pub disclosure_end: Option<DateTime<Utc>>,
}

/// Approve (disclosure starts now) or return a submitted listing.
#[utoipa::path(post, path = "/api/v1/listings/{id}/review", operation_id = "review_listing", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = ReviewRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reviewed", body = ListingView),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`disclosure_too_short`, `appraisal_expired`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn review(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<ReviewRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (row, warnings) = call
        .tx(&op, move |c, cx| {
            let r = Review {
                decision: body.decision,
                comment: &body.comment,
                disclosure_end: body.disclosure_end,
            };
            uc::review(c, &cx.deps(), &cx.user, id, &r, &cx.meta, cx.now)
        })
        .await?;
    respond(call.state(), row, Viewer::staff(), warnings, false).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why (not blank; at most 2000 characters once trimmed).
    #[schema(min_length = 1, pattern = r"\S")]
    pub reason: String,
}

macro_rules! operator_action {
    ($name:ident, $path:literal, $doc:literal, $call:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "listings",
            params(("id" = i64, Path, description = "Listing id")),
            request_body = ReasonRequest,
            security(("bearer" = [])),
            responses(
                (status = 200, description = "Done", body = ListingView),
                (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $name(call: Call, op: Staff<Operators>, path: web::Path<i64>, body: ApiJson<ReasonRequest>) -> Result<HttpResponse, AppError> {
            let id = path.into_inner();
            let (row, warnings) = call.tx(&op, move |c, cx| ($call)(c, &cx.deps(), &cx.user, id, &body.reason, &cx.meta, cx.now)).await?;
            call.state().hub.publish(id);
            respond(call.state(), row, Viewer::staff(), warnings, false).await
        }
    };
}

fn no_warnings(r: Result<ListingRow, AppError>) -> Result<(ListingRow, Vec<String>), AppError> {
    r.map(|row| (row, Vec::new()))
}

operator_action!(
    suspend,
    "/api/v1/listings/{id}/suspend",
    "Suspend (中止) a listing; it remembers the state to return to.",
    |c: &mut Conn, d: &uc::Deps, u: &AuthUser, id, why: &String, m: &RequestMeta, now| no_warnings(
        uc::suspend(c, d, u, id, why, m, now)
    )
);
operator_action!(
    resume,
    "/api/v1/listings/{id}/resume",
    "Resume a suspended listing; a resumed disclosure gets a new end.",
    |c: &mut Conn, d: &uc::Deps, u: &AuthUser, id, why: &String, m: &RequestMeta, now| uc::resume(
        c, d, u, id, why, m, now
    )
);
/// Terminate (终结) a listing: final. Every deposit still held is refunded (the winner's is
/// forfeited when `winner_default` says the listing ends for the winner's default) and any
/// auction is closed, in one transaction.
#[utoipa::path(post, path = "/api/v1/listings/{id}/terminate", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = uc::Termination,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Terminated", body = ListingView),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn terminate(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<uc::Termination>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let row = call
        .tx(&op, move |c, cx| {
            uc::terminate(c, &cx.deps(), &cx.user, id, &body, &cx.meta, cx.now)
        })
        .await?;
    call.state().hub.publish(id);
    respond(call.state(), row, Viewer::staff(), Vec::new(), false).await
}

/// Start a new round after no sale or a failed auction (status `submitted` again).
#[utoipa::path(post, path = "/api/v1/listings/{id}/relist", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = RelistInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Relisted", body = ListingView),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`consent_required`, `reappraisal_required`, `disclosure_too_short`, ...", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn relist(
    call: Call,
    user: Staff<Enterprises>,
    path: web::Path<i64>,
    body: ApiJson<RelistInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    for_owner(call, user, false, move |c, cx| {
        uc::relist(c, &cx.deps(), &cx.user, id, &body.0, &cx.meta, cx.now)
    })
    .await
}

/// One listing: anyone for public states; the owner and staff always.
#[utoipa::path(get, path = "/api/v1/listings/{id}", operation_id = "get_listing", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    // Optional: a signed-in caller (owner, staff) may see more; a bad token is 401.
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The listing", body = ListingView),
        (status = 404, description = "No such listing, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (id, now, viewer) = (
        path.into_inner(),
        state.clock.now(),
        Viewer::of(user.0.as_ref()),
    );
    let view = state
        .db
        .run(move |c| {
            let row = store::find(c, id)?
                .filter(|r| viewer.may_see(r))
                .ok_or_else(|| AppError::not_found("no such listing"))?;
            present(c, &row, viewer, now)
        })
        .await?;
    let mut view = view;
    view.warnings = calendar_warnings(&state, &view);
    Ok(HttpResponse::Ok().json(view))
}

/// Deadlines of the listing that fall into a year with no published holiday calendar.
fn calendar_warnings(state: &AppState, view: &ListingView) -> Vec<String> {
    state
        .rules
        .calendar_warnings(&[view.disclosure_end, view.decision_due])
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BrowseQuery {
    /// Only this status.
    pub status: Option<ListingStatus>,
    pub kind: Option<ListingKind>,
    /// Words in the title (Chinese or not).
    pub q: Option<String>,
    /// Listing price at least (yuan).
    #[param(value_type = Option<Money>)]
    pub min_price: Option<String>,
    /// Listing price at most (yuan).
    #[param(value_type = Option<Money>)]
    pub max_price: Option<String>,
    /// GB/T 2260 code of a supervising body (e.g. `330100` 杭州市): only listings of
    /// enterprises attached to that body or to one below it (a city and its counties).
    pub region_code: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64, value_type = Option<i64>)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// The `next_cursor` of the page before, instead of `page`: the next page starts right
    /// after the last listing of that page, however many were added since (keyset paging).
    pub cursor: Option<String>,
}

/// A page of the browse, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingPage {
    pub items: Vec<ListingView>,
    pub page: u32,
    pub per_page: u32,
    /// Listings that match. Counted for this answer when `total_exact`; otherwise a count
    /// this instance took at most `browse.count_cache_seconds` ago (never less than the
    /// listings up to this page, plus one when a next page exists).
    pub total: i64,
    pub total_exact: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn price(field: &str, v: &Option<String>) -> Result<Option<i64>, AppError> {
    v.as_deref()
        .map(|s| {
            Money::parse(s)
                .map(Money::fen)
                .map_err(|e| AppError::bad_request("invalid_query", format!("{field} {e}")))
        })
        .transpose()
}

/// The region code asked for, if well formed.
fn region_code(q: &BrowseQuery) -> Result<Option<String>, AppError> {
    match q.region_code.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(code) if crate::domain::scope::valid_region_code(code) => Ok(Some(code.to_string())),
        Some(_) => Err(AppError::bad_request(
            "invalid_query",
            "region_code must be a six-digit GB/T 2260 code",
        )),
    }
}

/// The filters `q` asks for, as far as `viewer` may see.
fn browse_filter(q: &BrowseQuery, viewer: Viewer) -> Result<Browse, AppError> {
    let staff = viewer.is_staff();
    let statuses = match q.status {
        Some(s) if staff || s.is_public() => StatusFilter::In(vec![s.as_str().to_string()]),
        Some(_) => StatusFilter::In(Vec::new()),
        None if staff => StatusFilter::Any,
        None => StatusFilter::NotIn(
            ListingStatus::ALL
                .into_iter()
                .filter(|s| !s.is_public())
                .map(|s| s.as_str().to_string())
                .collect(),
        ),
    };
    let wanted = |s: &ListingStatus| q.status.is_none_or(|want| want == *s);
    let own_org = match viewer {
        Viewer::Party {
            organization_id: Some(org),
            role: crate::domain::Role::Enterprise,
        } => Some((
            org,
            ListingStatus::ALL
                .into_iter()
                .filter(wanted)
                .map(|s| s.as_str().to_string())
                .collect(),
        )),
        _ => None,
    };
    Ok(Browse {
        statuses,
        own_org,
        kind: q.kind.map(|k| k.as_str().to_string()),
        q: q.q
            .as_ref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        min_price: price("min_price", &q.min_price)?,
        max_price: price("max_price", &q.max_price)?,
        hide_undisclosed: !staff,
        organizations: match &viewer {
            Viewer::Staff(scope) => scope.organization_ids(),
            _ => None,
        },
    })
}

/// Browse listings: the public sees public states; an enterprise also its own; staff all.
#[utoipa::path(get, path = "/api/v1/listings", tag = "listings",
    params(BrowseQuery),
    // Optional: a signed-in caller (owner, staff) may see more; a bad token is 401.
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of listings, newest first", body = ListingPage),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn browse(
    state: web::Data<AppState>,
    user: MaybeUser,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let (paging, start) = match q.cursor.as_deref() {
        None => {
            let paging = Paging::new(q.page, q.per_page)?;
            (paging, Start::Offset(paging.offset()))
        }
        Some(_) if q.page.is_some() => {
            return Err(AppError::bad_request(
                "invalid_query",
                "give either page or cursor, not both",
            ));
        }
        Some(text) => {
            let cursor = Cursor::parse(text)?;
            let paging = Paging::new(Some(cursor.page), q.per_page)?;
            (paging, Start::Before(cursor.after_id))
        }
    };
    let viewer = Viewer::of(user.0.as_ref());
    let mut b = browse_filter(&q, viewer.clone())?;
    let region = region_code(&q)?;
    let (now, counts) = (state.clock.now(), state.browse_counts.clone());
    let page = state
        .db
        .run(move |c| {
            if let Some(code) = region {
                let within = b.organizations.take();
                b.organizations = Some(
                    crate::exchange::scope::organizations_in_region(c, &code, within)?.ok_or_else(
                        || {
                            AppError::bad_request(
                                "invalid_query",
                                "no supervising body has this region_code",
                            )
                        },
                    )?,
                );
            }
            browse_page(c, &b, start, paging, viewer, now, &counts)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Reads one page (and one listing more, to know whether another page follows), then the
/// total: known without counting on a last page reached by `page`, else counted or recalled.
fn browse_page(
    c: &mut Conn,
    b: &Browse,
    start: Start,
    paging: Paging,
    viewer: Viewer,
    now: DateTime<Utc>,
    counts: &CountCache,
) -> Result<ListingPage, AppError> {
    let limit = paging.limit();
    let mut rows = browse::page(c, b, start, limit + 1)?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let shown = paging.offset() + i64::try_from(rows.len()).unwrap_or(0);
    let by_offset = matches!(start, Start::Offset(_));
    let (total, total_exact) = if by_offset && !more && (!rows.is_empty() || shown == 0) {
        (shown, true)
    } else {
        let (n, fresh) = match counts.get(b) {
            Some(n) => (n, false),
            None => {
                let n = browse::count(c, b)?;
                counts.put(b.clone(), n);
                (n, true)
            }
        };
        // What this page shows is a floor (not past the end: there are none to show).
        let floor = if rows.is_empty() {
            0
        } else {
            shown + i64::from(more)
        };
        (n.max(floor), fresh && n >= floor)
    };
    let next_cursor = rows.last().filter(|_| more).map(|(last, _)| {
        Cursor {
            page: paging.page.saturating_add(1),
            after_id: last.id,
        }
        .to_string()
    });
    let items = rows
        .into_iter()
        .map(|(r, seller)| present_with(c, &r, seller, viewer.clone(), now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListingPage {
        items,
        page: paging.page,
        per_page: paging.per_page,
        total,
        total_exact,
        next_cursor,
    })
}

/// One round of a listing, as it was disclosed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoundView {
    pub round: u32,
    pub listing_price: Money,
    pub disclosure_working_days: u32,
    pub consent_document: Option<String>,
    pub disclosure_start: Option<DateTime<Utc>>,
    pub disclosure_end: Option<DateTime<Utc>>,
    /// `no_sale`, `negotiation` or `auction` once disclosure ended.
    pub outcome: Option<String>,
}

/// Every round of a listing that reached disclosure, oldest first.
#[utoipa::path(get, path = "/api/v1/listings/{id}/rounds", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    // Optional: a signed-in caller (owner, staff) may see more; a bad token is 401.
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The rounds", body = Vec<RoundView>),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rounds(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (id, viewer) = (path.into_inner(), Viewer::of(user.0.as_ref()));
    let rounds = state
        .db
        .run(move |c| {
            store::find(c, id)?
                .filter(|r| viewer.may_see(r))
                .ok_or_else(|| AppError::not_found("no such listing"))?;
            store::rounds(c, id)
        })
        .await?;
    let views: Vec<RoundView> = rounds
        .into_iter()
        .map(|r| RoundView {
            round: u32::try_from(r.round).unwrap_or(0),
            listing_price: Money::from_fen(r.listing_price),
            disclosure_working_days: u32::try_from(r.disclosure_working_days).unwrap_or(0),
            consent_document: r.consent_document,
            disclosure_start: r.disclosure_start.map(from_db),
            disclosure_end: r.disclosure_end.map(from_db),
            outcome: r.outcome,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}
