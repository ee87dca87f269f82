//! Registrations of intent and deposits: bidders register, owners see how many (never who),
//! operators review and move deposits, auditors see everything.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::call::Call;
use super::extract::{AuthUser, Bidders, Operators, Staff};
use super::json::{ApiJson, OptionalJson};
use super::notifications::PageQuery;
use super::paging::{Page, Paging};
use crate::domain::Role;
use crate::domain::money::Money;
use crate::domain::registration::DepositAction;
use crate::error::{AppError, Problem};
use crate::exchange::listings::Viewer;
use crate::exchange::registrations::{self as uc, RegistrationView, ReviewDecision};
use crate::state::AppState;
use crate::store::{listings, registrations as store};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegisterIntentRequest)]
pub struct RegisterRequest {
    /// The bidder's statement of intent (optional).
    pub statement: Option<String>,
}

/// Register intent on a listing in disclosure (verified bidders; not on one's own listing).
#[utoipa::path(post, path = "/api/v1/listings/{id}/registrations", operation_id = "register_intent", tag = "registrations",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = RegisterRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered: status `pending`, deposit `unpaid`", body = RegistrationView),
        (status = 403, description = "`forbidden` (not a bidder), `email_not_verified`, `own_listing`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_registered`, `invalid_state`, `registration_closed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    call: Call,
    user: Staff<Bidders>,
    path: web::Path<i64>,
    body: OptionalJson<RegisterRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (reg, deposit) = call
        .tx(&user, move |c, cx| {
            let statement = body.0.statement.as_deref();
            let reg = uc::register(c, &cx.deps(), &cx.user, id, statement, &cx.meta, cx.now)?;
            let deposit = listings::find(c, id)?.map(|l| l.deposit).unwrap_or(0);
            Ok((reg, deposit))
        })
        .await?;
    Ok(HttpResponse::Created().json(uc::view(&reg, Money::from_fen(deposit), None)))
}

/// Registrations of the listing's current round. Operators and auditors see who is behind
/// each; the listing's owner sees them without names.
#[utoipa::path(get, path = "/api/v1/listings/{id}/registrations", tag = "registrations",
    params(("id" = i64, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The registrations", body = Vec<RegistrationView>),
        (status = 403, description = "Not the owner or staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn for_listing(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let viewer = Viewer::of(Some(&user));
    let views = state
        .db
        .run(move |c| {
            let row = listings::find(c, id)?
                .filter(|r| viewer.may_see(r))
                .ok_or_else(|| AppError::not_found("no such listing"))?;
            let staff = viewer.is_staff();
            if !staff && !viewer.owns(&row) {
                return Err(AppError::forbidden(
                    "only the listing's owner and the exchange see its registrations",
                ));
            }
            let deposit = Money::from_fen(row.deposit);
            Ok(store::for_listing(c, id, row.round)?
                .into_iter()
                .map(|(r, org)| uc::view(&r, deposit, staff.then_some(org)))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// The caller's own registrations (bidders), newest first, with bidder codes once qualified.
#[utoipa::path(get, path = "/api/v1/me/registrations", operation_id = "my_registrations", tag = "registrations",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of registrations", body = inline(Page<RegistrationView>)),
        (status = 403, description = "Not a bidder", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn mine(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    if user.role != Role::Bidder {
        return Err(AppError::forbidden("only bidders register on listings"));
    }
    let paging = Paging::new(q.page, q.per_page)?;
    let (offset, limit, id) = (paging.offset(), paging.limit(), user.id);
    let (items, total) = state
        .db
        .run(move |c| {
            let (rows, total) = store::for_user(c, id, offset, limit)?;
            let mut items = Vec::with_capacity(rows.len());
            for r in rows {
                let deposit = listings::find(c, r.listing_id)?
                    .map(|l| l.deposit)
                    .unwrap_or(0);
                items.push(uc::view(&r, Money::from_fen(deposit), None));
            }
            Ok((items, total))
        })
        .await?;
    Ok(HttpResponse::Ok().json(paging.page(items, total)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegistrationReviewRequest)]
pub struct ReviewRequest {
    pub decision: ReviewDecision,
    #[serde(default)]
    pub comment: String,
    /// With `qualify`, on a listing with `preemption: "in_auction"`: the exchange confirms
    /// from the enterprise's shareholder documents that this bidder holds the pre-emptive
    /// right (优先购买权).
    #[serde(default)]
    pub preemptive_right: bool,
}

/// Qualify (assigns an anonymous bidder code and a deposit deadline) or reject.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/review", operation_id = "review_registration", tag = "registrations",
    params(("id" = i64, Path, description = "Registration id")),
    request_body = ReviewRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reviewed", body = RegistrationView),
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `preemption_not_offered` (the listing does not honour the pre-emptive right)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn review(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<ReviewRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let view = call
        .tx(&op, move |c, cx| {
            let (decision, right) = (body.decision, body.preemptive_right);
            let r = uc::review(c, &cx.deps(), &cx.by(), id, decision, &body.comment, right)?;
            staff_view(c, &r)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

fn staff_view(
    c: &mut crate::store::Conn,
    r: &store::RegistrationRow,
) -> Result<RegistrationView, AppError> {
    let deposit = listings::find(c, r.listing_id)?
        .map(|l| l.deposit)
        .unwrap_or(0);
    let org = listings::seller_name(c, r.organization_id)?;
    Ok(uc::view(r, Money::from_fen(deposit), Some(org)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// `confirm` (needs `reference`), `refund` or `forfeit` (`convert` happens only when a
    /// deal is awarded).
    #[schema(schema_with = manual_deposit_action)]
    pub action: DepositAction,
    /// The payment reference (bank transfer number) of a confirmed deposit.
    pub reference: Option<String>,
}

fn manual_deposit_action() -> utoipa::openapi::schema::Object {
    super::openapi::one_of(["confirm", "refund", "forfeit"])
}

/// Move a deposit: confirm receipt, refund, or forfeit.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/deposit", tag = "registrations",
    params(("id" = i64, Path, description = "Registration id")),
    request_body = DepositRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The registration with its new `deposit_status`", body = RegistrationView),
        (status = 409, description = "`invalid_state`, `deposit_overdue`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (no reference)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deposit(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<DepositRequest>,
) -> Result<HttpResponse, AppError> {
    if body.action == DepositAction::Convert {
        return Err(AppError::field(
            "action",
            "deposits are converted when a deal is awarded, not by hand",
        ));
    }
    let id = path.into_inner();
    let view = call
        .tx(&op, move |c, cx| {
            let reference = body.reference.as_deref();
            let r = uc::deposit(c, &cx.deps(), &cx.by(), id, body.action, reference)?;
            staff_view(c, &r)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
