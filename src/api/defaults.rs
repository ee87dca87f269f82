//! The winner's default and the runner-up's answer (违约与候补): an operator records the
//! default; the runner-up the deal is then offered to accepts or declines.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::ApiJson;
use crate::auth::extract::{Bidders, Operators, RequestMeta, Staff};
use crate::error::{AppError, Problem};
use crate::exchange::deals::{self as uc, DealView};
use crate::exchange::registrations::By;
use crate::state::AppState;

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
    state: web::Data<AppState>,
    op: Staff<Operators>,
    meta: RequestMeta,
    path: web::Path<i64>,
    body: ApiJson<DefaultRequest>,
) -> Result<HttpResponse, AppError> {
    let (now, st, u, id) = (
        state.clock.now(),
        state.clone(),
        op.user.clone(),
        path.into_inner(),
    );
    let view = state
        .db
        .tx(move |c| {
            let by = By {
                user: &u,
                meta: &meta,
                now,
            };
            let (listing, deal) = uc::default_winner(
                c,
                &st.deps(),
                &by,
                id,
                &body.reason,
                body.evidence_reference.as_deref(),
            )?;
            Ok(uc::view(&deal, &listing))
        })
        .await?;
    state.hub.publish(id);
    Ok(HttpResponse::Ok().json(view))
}

/// How the runner-up answers an offer.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Accept,
    Decline,
}

async fn answer(
    state: web::Data<AppState>,
    bidder: Staff<Bidders>,
    meta: RequestMeta,
    id: i64,
    answer: Answer,
) -> Result<HttpResponse, AppError> {
    let (now, st, u) = (state.clock.now(), state.clone(), bidder.user.clone());
    let view = state
        .db
        .tx(move |c| {
            let by = By {
                user: &u,
                meta: &meta,
                now,
            };
            let (listing, deal) = match answer {
                Answer::Accept => uc::accept_offer(c, &st.deps(), &by, id)?,
                Answer::Decline => uc::decline_offer(c, &st.deps(), &by, id)?,
            };
            Ok(uc::view(&deal, &listing))
        })
        .await?;
    state.hub.publish(id);
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
    state: web::Data<AppState>,
    bidder: Staff<Bidders>,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    answer(state, bidder, meta, path.into_inner(), Answer::Accept).await
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
    state: web::Data<AppState>,
    bidder: Staff<Bidders>,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    answer(state, bidder, meta, path.into_inner(), Answer::Decline).await
}
