//! `/api/v1/admin/webhooks`: signed webhooks to the province's supervision platform
//! (在线监管平台): register, list, pause, resume, rotate the secret, the delivery log and
//! requeueing a failed delivery. Admins only.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::call::Call;
use super::extract::{Admins, Staff};
use super::json::ApiJson;
use super::paging::{Page, Paging};
use crate::error::{AppError, Problem};
use crate::exchange::webhooks::{self as uc, DeliveryView, NewSecret, NewWebhook, WebhookView};
use crate::state::AppState;

/// Register a webhook: every audit event matching `events` is POSTed to `url`, signed.
#[utoipa::path(post, path = "/api/v1/admin/webhooks", operation_id = "create_webhook", tag = "webhooks",
    request_body = NewWebhook,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered (the secret is never shown again)", body = WebhookView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: url not http(s), secret under 16 characters, no or unknown event patterns", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    call: Call,
    admin: Staff<Admins>,
    body: ApiJson<NewWebhook>,
) -> Result<HttpResponse, AppError> {
    let view = call
        .tx(&admin, move |c, cx| uc::create(c, &cx.by(), &body.0))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Every webhook (without secrets).
#[utoipa::path(get, path = "/api/v1/admin/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "In id order", body = [WebhookView]),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Staff<Admins>,
) -> Result<HttpResponse, AppError> {
    let hooks = state.db.run(uc::list).await?;
    Ok(HttpResponse::Ok().json(hooks))
}

async fn set_paused(
    call: Call,
    admin: Staff<Admins>,
    id: i64,
    paused: bool,
) -> Result<HttpResponse, AppError> {
    let view = call
        .tx(&admin, move |c, cx| uc::set_paused(c, &cx.by(), id, paused))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Stop sending (events are still queued, and go out in order on resume).
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/pause", operation_id = "pause_webhook", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Paused", body = WebhookView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn pause(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    set_paused(call, admin, path.into_inner(), true).await
}

/// Send again, starting with what was queued while paused.
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/resume", operation_id = "resume_webhook", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active", body = WebhookView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resume(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    set_paused(call, admin, path.into_inner(), false).await
}

/// Rotate the secret: every attempt from now on is signed with the new one.
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/secret", operation_id = "rotate_webhook_secret", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = NewSecret,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rotated", body = WebhookView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: secret under 16 characters", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<i64>,
    body: ApiJson<NewSecret>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let view = call
        .tx(&admin, move |c, cx| uc::rotate(c, &cx.by(), id, &body.0))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64, value_type = Option<i64>)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// The delivery log of a webhook, newest first.
#[utoipa::path(get, path = "/api/v1/admin/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), DeliveryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = inline(Page<DeliveryView>)),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    _admin: Staff<Admins>,
    path: web::Path<i64>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let paging = Paging::new(q.page, q.per_page)?;
    let (offset, limit) = (paging.offset(), paging.limit());
    let (items, total) = state
        .db
        .run(move |c| uc::deliveries(c, id, offset, limit))
        .await?;
    Ok(HttpResponse::Ok().json(paging.page(items, total)))
}

/// Send a failed delivery again; the listing's later deliveries follow it.
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}/requeue", operation_id = "requeue_webhook_delivery", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), ("delivery_id" = i64, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Due again now", body = DeliveryView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`delivery_not_failed`: pending or delivered", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn requeue(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (id, delivery_id) = path.into_inner();
    let view = call
        .tx(&admin, move |c, cx| {
            uc::requeue(c, &cx.by(), id, delivery_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
