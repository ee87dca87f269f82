//! E-mail notifications: the caller's own (`/me/notifications`), and the operators' view of
//! deliveries that failed, with a way to send one again.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::call::Call;
use super::extract::{AuthUser, Operators, Staff};
use super::paging::{Page, Paging};
use crate::audit::{self, Event};
use crate::error::{AppError, Problem};
use crate::state::AppState;
use crate::store::models::from_db;
use crate::store::notifications::{self, Notification};

/// A message as its recipient sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    /// What it is about, e.g. `welcome`, `account_locked`.
    pub kind: String,
    pub subject: String,
    /// `pending`, `sent` or `failed` (gave up).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            subject: n.subject,
            status: n.status,
            created_at: from_db(n.created_at),
            sent_at: n.sent_at.map(from_db),
        }
    }
}

/// A delivery as operators see it, with the address and the last error.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub user_id: Option<i64>,
    pub to_address: String,
    pub kind: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub message_id: String,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

impl From<Notification> for DeliveryView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            user_id: n.user_id,
            to_address: n.to_address,
            kind: n.kind,
            subject: n.subject,
            status: n.status,
            attempts: n.attempts,
            last_error: n.last_error,
            message_id: n.message_id,
            created_at: from_db(n.created_at),
            next_attempt_at: from_db(n.next_attempt_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64, value_type = Option<i64>)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// The caller's e-mails, newest first.
#[utoipa::path(get, path = "/api/v1/me/notifications", operation_id = "my_notifications", tag = "notifications",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the caller's e-mails", body = inline(Page<NotificationView>)),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn mine(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let paging = Paging::new(q.page, q.per_page)?;
    let (offset, limit, id) = (paging.offset(), paging.limit(), user.id);
    let (rows, total) = state
        .db
        .run(move |c| notifications::for_user(c, id, offset, limit))
        .await?;
    let items: Vec<NotificationView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(paging.page(items, total)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `failed` (default), `pending` or `sent`.
    #[param(schema_with = delivery_status)]
    pub status: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64, value_type = Option<i64>)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

fn delivery_status() -> utoipa::openapi::schema::Object {
    super::openapi::one_of(["failed", "pending", "sent"])
}

/// Deliveries by status (default: those that failed for good), newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(DeliveryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = inline(Page<DeliveryView>)),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator or admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    _op: Staff<Operators>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, AppError> {
    let paging = Paging::new(q.page, q.per_page)?;
    let status = q.status.clone().unwrap_or_else(|| "failed".into());
    if !["failed", "pending", "sent"].contains(&status.as_str()) {
        return Err(AppError::bad_request(
            "invalid_query",
            "status must be failed, pending or sent",
        ));
    }
    let (offset, limit) = (paging.offset(), paging.limit());
    let (rows, total) = state
        .db
        .run(move |c| notifications::by_status(c, &status, offset, limit))
        .await?;
    let items: Vec<DeliveryView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(paging.page(items, total)))
}

/// Puts a failed delivery back in the queue (same Message-ID, attempts counted afresh).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/retry", tag = "notifications",
    params(("id" = i64, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Queued again", body = DeliveryView),
        (status = 404, description = "No such delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_state`: only failed deliveries can be retried", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry(
    call: Call,
    op: Staff<Operators>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let row = call
        .tx(&op, move |c, cx| {
            notifications::find(c, id)?.ok_or_else(|| AppError::not_found("no such delivery"))?;
            if !notifications::requeue(c, id, cx.now)? {
                return Err(AppError::conflict(
                    "invalid_state",
                    "only a failed delivery can be retried",
                ));
            }
            audit::record(
                c,
                cx.now,
                Event {
                    stream: audit::SYSTEM_STREAM.to_string(),
                    action: "notification.requeued",
                    actor: cx.actor(),
                    payload: json!({"notification_id": id}),
                    meta: &cx.meta,
                },
            )?;
            notifications::find(c, id)?.ok_or_else(|| AppError::not_found("no such delivery"))
        })
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryView::from(row)))
}
