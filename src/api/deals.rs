//! After the award: the negotiated quote and the deal's steps to a closed deal.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::call::Call;
use super::extract::{Bidders, MaybeUser, Operators, Staff};
use super::json::{ApiJson, OptionalJson};
use crate::domain::money::Money;
use crate::error::{AppError, Problem};
use crate::exchange::deals::{self as uc, DealStep, DealView};
use crate::exchange::listings::Viewer;
use crate::state::AppState;
use crate::store::{deals as store, listings, registrations};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// At least the listing price.
    pub amount: Money,
}

/// The single eligible bidder's quote in a negotiated deal (协议成交): awards the listing.
#[utoipa::path(post, path = "/api/v1/listings/{id}/quote", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = QuoteRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Awarded: the deal", body = DealView),
        (status = 403, description = "`not_eligible`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (not in negotiation)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`quote_too_low`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn quote(
    call: Call,
    bidder: Staff<Bidders>,
    path: web::Path<i64>,
    body: ApiJson<QuoteRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let view = call
        .tx(&bidder, move |c, cx| {
            let (listing, deal) = uc::quote(c, &cx.deps(), &cx.by(), id, body.amount)?;
            Ok(uc::view(&deal, &listing))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The deal: its parties and staff always; everyone once announced.
#[utoipa::path(get, path = "/api/v1/listings/{id}/deal", operation_id = "get_deal", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    // Optional: a signed-in caller (owner, staff) may see more; a bad token is 401.
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The deal", body = DealView),
        (status = 404, description = "No deal, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let viewer = Viewer::of(user.0.as_ref());
    let caller = user.0.as_ref().map(|u| u.id);
    let view = state
        .db
        .run(move |c| {
            let listing = listings::find(c, id)?
                .filter(|l| viewer.may_see(l))
                .ok_or_else(|| AppError::not_found("no such listing"))?;
            let deal = store::of_listing(c, id, listing.round)?
                .ok_or_else(|| AppError::not_found("this listing has no deal"))?;
            let winner = registrations::find(c, deal.registration_id)?
                .map(|r| r.user_id)
                .unwrap_or(-1);
            if !uc::may_see(viewer, &listing, &deal, winner, caller) {
                return Err(AppError::not_found("this listing has no public deal yet"));
            }
            Ok(uc::view(&deal, &listing))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn advance(
    call: Call,
    op: Staff<Operators>,
    id: i64,
    step: DealStep,
) -> Result<HttpResponse, AppError> {
    let view = call
        .tx(&op, move |c, cx| {
            let (listing, deal) = uc::step(c, &cx.deps(), &cx.by(), id, &step)?;
            Ok(uc::view(&deal, &listing))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractRequest {
    /// When the contract (产权交易合同) was signed.
    pub signed_at: DateTime<Utc>,
}

/// Record the signed contract: status `contract_signed`.
#[utoipa::path(post, path = "/api/v1/listings/{id}/deal/contract", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = ContractRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recorded", body = DealView),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn contract(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<ContractRequest>,
) -> Result<HttpResponse, AppError> {
    let step = DealStep::Contract {
        signed_at: body.signed_at,
    };
    advance(call, op, path.into_inner(), step).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The payment reference of the price paid through the exchange.
    pub reference: String,
}

/// Record the price paid: status `paid`.
#[utoipa::path(post, path = "/api/v1/listings/{id}/deal/payment", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = PaymentRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recorded", body = DealView),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn payment(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<PaymentRequest>,
) -> Result<HttpResponse, AppError> {
    let step = DealStep::Payment {
        reference: body.0.reference,
    };
    advance(call, op, path.into_inner(), step).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

/// Publish the deal announcement (成交公告): status `announced`; the deal becomes public.
#[utoipa::path(post, path = "/api/v1/listings/{id}/deal/announce", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Announced", body = DealView),
        (status = 409, description = "`invalid_state`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn announce(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    _body: OptionalJson<EmptyRequest>,
) -> Result<HttpResponse, AppError> {
    advance(call, op, path.into_inner(), DealStep::Announce).await
}

/// Close the deal once the announcement has been public long enough: issues the
/// transaction certificate number, once.
#[utoipa::path(post, path = "/api/v1/listings/{id}/deal/close", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Closed, with `certificate_no`", body = DealView),
        (status = 409, description = "`invalid_state`, `announcement_period_not_over`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn close(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    _body: OptionalJson<EmptyRequest>,
) -> Result<HttpResponse, AppError> {
    advance(call, op, path.into_inner(), DealStep::Close).await
}
