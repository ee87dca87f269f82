//! Webhooks to the province's supervision platform (admins only): register one, list them,
//! pause and resume, rotate the secret, read the delivery log and requeue a failed delivery.
//! Each change is one transaction with its audit event; the secret is never shown or audited.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::registrations::By;
use crate::audit::{self, Actor, Event};
use crate::domain::webhook::{self as rule, MIN_SECRET_CHARS};
use crate::error::{AppError, FieldProblem};
use crate::store::Conn;
use crate::store::models::from_db;
use crate::store::webhooks::{self as store, Delivery, WebhookRow};

/// A webhook as admins see it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    /// The patterns it was registered with.
    pub events: Vec<String>,
    /// `active` or `paused`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&WebhookRow> for WebhookView {
    fn from(r: &WebhookRow) -> Self {
        Self {
            id: r.id,
            url: r.url.clone(),
            events: serde_json::from_str(&r.events).unwrap_or_default(),
            status: r.status.clone(),
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        }
    }
}

/// What an admin sends to register a webhook.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are POSTed (http or https).
    #[schema(example = "https://jg.example.gov.cn/hooks/exchange")]
    pub url: String,
    /// The HMAC-SHA256 key, at least 16 characters.
    pub secret: String,
    /// Patterns: `family.*` (listing, registration, deposit, auction, bid, negotiation, deal,
    /// alert), an exact action (`deal.closed`), or `bid.accepted` (= `bid.placed`, `bid.sealed`).
    #[schema(example = json!(["listing.*", "bid.accepted", "deal.*", "alert.raised"]))]
    pub events: Vec<String>,
}

/// A new secret.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSecret {
    pub secret: String,
}

/// One delivery of the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The audit event's id (the `X-Event-Id` header).
    pub event_id: i64,
    pub listing_id: Option<i64>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    /// The last answer's HTTP status (none: no answer).
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<&Delivery> for DeliveryView {
    fn from(r: &Delivery) -> Self {
        Self {
            id: r.id,
            event_id: r.audit_event_id,
            listing_id: r.listing_id,
            status: r.status.clone(),
            attempts: r.attempts,
            next_attempt_at: from_db(r.next_attempt_at),
            last_status: r.last_status,
            last_error: r.last_error.clone(),
            created_at: from_db(r.created_at),
            delivered_at: r.delivered_at.map(from_db),
        }
    }
}

fn problem(field: &str, message: String) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message,
    }
}

fn secret_problem() -> FieldProblem {
    problem("secret", format!("at least {MIN_SECRET_CHARS} characters"))
}

/// Checks a registration and expands its patterns into (match kind, action) pairs.
fn check(input: &NewWebhook) -> Result<Vec<rule::Match>, AppError> {
    let mut errors = Vec::new();
    if !rule::valid_url(&input.url) {
        errors.push(problem("url", "an absolute http:// or https:// URL".into()));
    }
    if !rule::valid_secret(&input.secret) {
        errors.push(secret_problem());
    }
    let mut matches = Vec::new();
    if input.events.is_empty() {
        errors.push(problem("events", "at least one event pattern".into()));
    }
    for p in &input.events {
        match rule::expand(p) {
            Some(m) => matches.extend(m),
            None => errors.push(problem("events", format!("unknown event pattern `{p}`"))),
        }
    }
    if errors.is_empty() {
        matches.dedup();
        Ok(matches)
    } else {
        Err(AppError::Validation(errors))
    }
}

fn event(
    conn: &mut Conn,
    now: DateTime<Utc>,
    actor: Actor,
    meta: &audit::RequestMeta,
    action: &'static str,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    audit::record(
        conn,
        now,
        Event {
            stream: audit::SYSTEM_STREAM.to_string(),
            action,
            actor,
            payload,
            meta,
        },
    )
}

fn record(
    conn: &mut Conn,
    by: &By,
    action: &'static str,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    let actor = Actor::user(by.user.id, by.user.role);
    event(conn, by.now, actor, by.meta, action, payload)
}

/// Registers a webhook: 422 `validation_failed` naming the bad fields.
pub fn create(conn: &mut Conn, by: &By, input: &NewWebhook) -> Result<WebhookView, AppError> {
    let actor = Actor::user(by.user.id, by.user.role);
    register(conn, by.now, actor, by.meta, input)
}

/// [`create`] by the system itself (the demo registers its own receiver); with a URL that is
/// registered already, its secret is rotated instead.
pub fn create_or_rotate_system(
    conn: &mut Conn,
    now: DateTime<Utc>,
    input: &NewWebhook,
) -> Result<WebhookView, AppError> {
    let meta = audit::RequestMeta::default();
    let Some(row) = store::all(conn)?.into_iter().find(|w| w.url == input.url) else {
        return register(conn, now, Actor::SYSTEM, &meta, input);
    };
    check(input)?;
    store::set_secret(conn, row.id, &input.secret, now)?;
    store::set_status(conn, row.id, "active", now)?;
    let payload = json!({ "webhook_id": row.id });
    event(
        conn,
        now,
        Actor::SYSTEM,
        &meta,
        "webhook.secret_rotated",
        payload,
    )?;
    Ok(WebhookView::from(&existing(conn, row.id)?))
}

fn register(
    conn: &mut Conn,
    now: DateTime<Utc>,
    actor: Actor,
    meta: &audit::RequestMeta,
    input: &NewWebhook,
) -> Result<WebhookView, AppError> {
    let matches = check(input)?;
    let pairs: Vec<(&str, &str)> = matches.iter().map(|m| (m.kind(), m.text())).collect();
    let events = serde_json::to_string(&input.events).map_err(AppError::internal)?;
    let row = store::insert(conn, input.url.trim(), &input.secret, &events, &pairs, now)?;
    let payload = json!({ "webhook_id": row.id, "url": row.url, "events": input.events });
    event(conn, now, actor, meta, "webhook.registered", payload)?;
    Ok(WebhookView::from(&row))
}

pub fn list(conn: &mut Conn) -> Result<Vec<WebhookView>, AppError> {
    Ok(store::all(conn)?.iter().map(WebhookView::from).collect())
}

fn existing(conn: &mut Conn, id: i64) -> Result<WebhookRow, AppError> {
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("webhook"))
}

/// Pauses (`paused = true`) or resumes a webhook. Events keep being queued while it is
/// paused and go out, in order, once it is resumed.
pub fn set_paused(
    conn: &mut Conn,
    by: &By,
    id: i64,
    paused: bool,
) -> Result<WebhookView, AppError> {
    existing(conn, id)?;
    let (status, action) = if paused {
        ("paused", "webhook.paused")
    } else {
        ("active", "webhook.resumed")
    };
    store::set_status(conn, id, status, by.now)?;
    record(conn, by, action, json!({ "webhook_id": id }))?;
    Ok(WebhookView::from(&existing(conn, id)?))
}

/// Rotates the secret: deliveries attempted from now on are signed with the new one.
pub fn rotate(
    conn: &mut Conn,
    by: &By,
    id: i64,
    input: &NewSecret,
) -> Result<WebhookView, AppError> {
    if !rule::valid_secret(&input.secret) {
        return Err(AppError::Validation(vec![secret_problem()]));
    }
    existing(conn, id)?;
    store::set_secret(conn, id, &input.secret, by.now)?;
    record(
        conn,
        by,
        "webhook.secret_rotated",
        json!({ "webhook_id": id }),
    )?;
    Ok(WebhookView::from(&existing(conn, id)?))
}

/// A page of a webhook's deliveries, newest first.
pub fn deliveries(
    conn: &mut Conn,
    id: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<DeliveryView>, i64), AppError> {
    existing(conn, id)?;
    let (rows, total) = store::deliveries(conn, id, offset, limit)?;
    Ok((rows.iter().map(DeliveryView::from).collect(), total))
}

/// Sends a failed delivery again (and so lets its stream's later deliveries follow):
/// 409 `delivery_not_failed` for one that is pending or delivered.
pub fn requeue(
    conn: &mut Conn,
    by: &By,
    id: i64,
    delivery_id: i64,
) -> Result<DeliveryView, AppError> {
    existing(conn, id)?;
    let row = store::find_delivery(conn, id, delivery_id)?
        .ok_or_else(|| AppError::not_found("delivery"))?;
    if row.status != "failed" {
        return Err(AppError::conflict(
            "delivery_not_failed",
            "only a failed delivery can be requeued",
        ));
    }
    let row = store::requeue(conn, delivery_id, by.now)?;
    record(
        conn,
        by,
        "webhook.delivery_requeued",
        json!({ "webhook_id": id, "delivery_id": delivery_id, "event_id": row.audit_event_id }),
    )?;
    Ok(DeliveryView::from(&row))
}
