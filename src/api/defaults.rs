//! The winner's default and the runner-up's answer (违约与候补): an operator records the
//! default; the runner-up the deal is then offered to accepts or declines.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::call::Call;
use super::extract::{Bidders, Operators, Staff};
use super::json::ApiJson;
use crate::error::{AppError, Problem};
use crate::exchange::deals::{self as uc, DealView};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultRequest {
    /// Why the winner is in default (did not sign in time, withdrew, ...).
    pub reason: String,
    /// A reference to the evidence (a letter, the exchange's record number).
    pub evidence_reference: Option<String>,
}

/// Record the winner's default (the contract is unsigned). Its deposit is forfeited; the deal
/// is then offered to the runner-up (`offered`) where the listing chose `runner_up_offer` and a
/// runner-up made an accepted bid, otherwise it is `defaulted` and the listing `failed`.
#[utoipa::path(post, path = "/api/v1/listings/{id}/deal/default", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    request_body = DefaultRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The deal after the default: `offered` or `defaulted`", body = DealView),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (no deal, or the contract is signed)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (no reason)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn default(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
    body: ApiJson<DefaultRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let view = call
        .tx(&op, move |c, cx| {
            let evidence = body.evidence_reference.as_deref();
            let (listing, deal) =
                uc::default_winner(c, &cx.deps(), &cx.by(), id, &body.reason, evidence)?;
            Ok(uc::view(&deal, &listing))
        })
        .await?;
    call.state().hub.publish(id);
    Ok(HttpResponse::Ok().json(view))
}

/// How the runner-up answers an offer.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Accept,
    Decline,
}

async fn answer(
    call: Call,
    bidder: Staff<Bidders>,
    id: i64,
    answer: Answer,
) -> Result<HttpResponse, AppError> {
    let view = call
        .tx(&bidder, move |c, cx| {
            let (listing, deal) = match answer {
                Answer::Accept => uc::accept_offer(c, &cx.deps(), &cx.by(), id)?,
                Answer::Decline => uc::decline_offer(c, &cx.deps(), &cx.by(), id)?,
            };
            Ok(uc::view(&deal, &listing))
        })
        .await?;
    call.state().hub.publish(id);
    Ok(HttpResponse::Ok().json(view))
}

/// The runner-up accepts the deal offered to it: the deal is `awarded` to it at its own
/// highest bid, with a new contract deadline.
#[utoipa::path(post, path = "/api/v1/listings/{id}/deal/accept", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Awarded to the runner-up", body = DealView),
        (status = 403, description = "`not_offered` (the deal is not offered to the caller)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (no offer), `offer_lapsed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn accept(
    call: Call,
    bidder: Staff<Bidders>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    answer(call, bidder, path.into_inner(), Answer::Accept).await
}

/// The runner-up declines the deal offered to it: the listing `failed` (it may be relisted)
/// and the runner-up's deposit is refunded.
#[utoipa::path(post, path = "/api/v1/listings/{id}/deal/decline", tag = "deals",
    params(("id" = i64, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Declined: the deal is `declined`", body = DealView),
        (status = 403, description = "`not_offered` (the deal is not offered to the caller)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state` (no offer)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn decline(
    call: Call,
    bidder: Staff<Bidders>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    answer(call, bidder, path.into_inner(), Answer::Decline).await
}
