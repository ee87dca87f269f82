//! The sandbox clock (non-production, `[sandbox] adjustable_clock = true`): an admin moves the
//! exchange's clock forward. Without the setting the path answers 404 to everyone.

use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::call::Call;
use super::extract::{Admins, Staff};
use super::json::ApiJson;
use crate::error::{AppError, Problem};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    /// How far to move the clock forward, in seconds (at least 1).
    pub advance_seconds: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    /// The exchange's time after the move.
    pub now: DateTime<Utc>,
    /// How far the exchange's clock is ahead of the real one, in seconds.
    pub offset_seconds: i64,
}

/// Move the exchange's clock forward (sandbox only). Every deadline, the scheduler, auction
/// phases and token lifetimes follow; the clock never moves back. Tokens issued before a long
/// move may have expired after it.
#[utoipa::path(post, path = "/api/v1/sandbox/clock", tag = "sandbox",
    request_body = AdvanceRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Moved", body = ClockView),
        (status = 404, description = "The sandbox clock is off (always in production)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`advance_seconds` out of range)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn advance(
    call: Call,
    admin: Staff<Admins>,
    body: ApiJson<AdvanceRequest>,
) -> Result<HttpResponse, AppError> {
    let clock = call
        .state()
        .sandbox
        .clone()
        .ok_or_else(|| AppError::not_found("no such resource"))?;
    let (seconds, sandbox) = (body.advance_seconds, clock.clone());
    let (offset, now) = call
        .tx(&admin, move |c, cx| {
            crate::exchange::sandbox::advance(c, &sandbox, seconds, cx.actor(), &cx.meta)
        })
        .await?;
    clock.observe(offset);
    Ok(HttpResponse::Ok().json(ClockView {
        now,
        offset_seconds: offset / 1_000_000,
    }))
}
