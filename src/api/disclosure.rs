//! Changes to a running disclosure and the enterprise's opinion on qualified bidders:
//! `POST /listings/{id}/extend`, `POST`/`GET /listings/{id}/notices`,
//! `POST /registrations/{id}/seller-opinion`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::call::Call;
use super::extract::{Enterprises, MaybeUser, Staff};
use super::json::ApiJson;
use crate::domain::money::Money;
use crate::error::{AppError, Problem};
use crate::exchange::listings::{
    self as uc, Extension, ListingView, NoticeInput, NoticeView, Viewer,
};
use crate::exchange::registrations::{self as regs, RegistrationView};
use crate::state::AppState;
use crate::store::{listings, notices};

/// Extend (延期) a running disclosure by some working days (at least 5): the end moves later,
/// an extension notice is published and registered bidders are told.
#[utoipa::path(post, path = "/api/v1/listings/{id}/extend", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = Extension,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Extended: the listing with its new `disclosure_end`", body = ListingView),
        (status = 403, description = "Not the owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (the disclosure is not running)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`extension_too_short`, `disclosure_too_long`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn extend(
    call: Call,
    user: Staff<Enterprises>,
    path: web::Path<i64>,
    body: ApiJson<Extension>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (row, _, warnings) = call
        .tx(&user, move |c, cx| {
            uc::extend(c, &cx.deps(), &cx.user, id, &body, &cx.meta, cx.now)
        })
        .await?;
    super::listings::respond(call.state(), row, Viewer::of(Some(&user)), warnings, false).await
}

/// Publish a supplementary notice (补充公告). A material one restarts the minimum disclosure
/// period from now; the end never moves earlier.
#[utoipa::path(post, path = "/api/v1/listings/{id}/notices", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = NoticeInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Published", body = NoticeView),
        (status = 403, description = "Not the owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (the disclosure is not running)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (empty or too long text)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn publish(
    call: Call,
    user: Staff<Enterprises>,
    path: web::Path<i64>,
    body: ApiJson<NoticeInput>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (_, notice, _) = call
        .tx(&user, move |c, cx| {
            uc::publish_notice(c, &cx.deps(), &cx.user, id, &body, &cx.meta, cx.now)
        })
        .await?;
    call.state().hub.publish(id);
    Ok(HttpResponse::Created().json(uc::notice_view(&notice)))
}

/// The listing's public notices (extensions and supplementary notices), oldest first.
#[utoipa::path(get, path = "/api/v1/listings/{id}/notices", operation_id = "list_notices", tag = "listings",
    params(("id" = i64, Path, description = "Listing id")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The notices", body = Vec<NoticeView>),
        (status = 404, description = "No such listing, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (id, viewer) = (path.into_inner(), Viewer::of(user.0.as_ref()));
    let items = state
        .db
        .run(move |c| {
            listings::find(c, id)?
                .filter(|r| viewer.may_see(r))
                .ok_or_else(|| AppError::not_found("no such listing"))?;
            Ok(notices::of_listing(c, id)?
                .iter()
                .map(uc::notice_view)
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(items))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpinionRequest {
    /// Agree with the exchange's qualification of this bidder, or object to it.
    pub agree: bool,
    /// Required when objecting: why.
    #[serde(default)]
    pub comment: String,
}

/// The enterprise's opinion on a qualified bidder of its listing, within
/// `seller_opinion_working_days` of the qualification (silence counts as agreement). An
/// objection sends the registration back to the exchange, which decides again.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/seller-opinion", tag = "registrations",
    params(("id" = i64, Path, description = "Registration id")),
    request_body = OpinionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recorded", body = RegistrationView),
        (status = 403, description = "Not the listing's owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (not qualified, or the listing is decided), `opinion_given`, `opinion_too_late`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (an objection without reasons)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn seller_opinion(
    call: Call,
    user: Staff<Enterprises>,
    path: web::Path<i64>,
    body: ApiJson<OpinionRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let view = call
        .tx(&user, move |c, cx| {
            let r = regs::seller_opinion(c, &cx.deps(), &cx.by(), id, body.agree, &body.comment)?;
            let deposit = listings::find(c, r.listing_id)?.map_or(0, |l| l.deposit);
            Ok(regs::view(&r, Money::from_fen(deposit), None))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
