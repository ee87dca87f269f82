//! The webhook delivery worker: claims due deliveries under a lease (at most one per stream,
//! so each listing's events leave in order), POSTs each signed body to its webhook's URL and
//! records the outcome with exponential backoff. A 2xx answer is delivered; anything else,
//! or no answer within the timeout, is a failed attempt; after the last one the delivery is
//! `failed` and holds its stream back until an admin requeues it.

use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::domain::retry::{RetryDecision, RetryPolicy};
use crate::domain::webhook;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Conn;
use crate::store::models::from_db;
use crate::store::webhooks::{self as store, Delivery};

/// What is POSTed: the audit event, as the trail holds it (a sealed bid's amount is not in
/// its event before the opening, so it is not here either).
#[derive(Serialize)]
struct Body {
    id: i64,
    event: String,
    occurred_at: DateTime<Utc>,
    listing_id: Option<i64>,
    payload: Value,
}

/// One claimed delivery, ready to send.
struct Outgoing {
    id: i64,
    event_id: i64,
    attempts: i32,
    created_at: DateTime<Utc>,
    url: String,
    secret: String,
    body: String,
}

fn policy(state: &AppState) -> RetryPolicy {
    let w = &state.settings.webhooks;
    let ms = |v: u64| ChronoDuration::milliseconds(i64::try_from(v).unwrap_or(i64::MAX / 1000));
    RetryPolicy {
        initial: ms(w.retry_initial_ms),
        max_delay: ms(w.retry_max_delay_ms),
        max_attempts: w.max_attempts,
        // Only the number of attempts decides: a delivery is never dropped for its age.
        give_up_after: ChronoDuration::days(36_500),
    }
}

pub async fn run(state: web::Data<AppState>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(state.settings.webhooks.poll_interval_ms);
    crate::tls::use_ring();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(state.settings.webhooks.timeout_seconds))
        .finish();
    let token = crate::random::token();
    loop {
        if *stop.borrow() {
            break;
        }
        match round(&state, &client, &token).await {
            Ok(0) | Err(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {},
                    _ = stop.changed() => {},
                }
            }
            Ok(_) => {} // the next of each stream may be due right away
        }
    }
    tracing::info!("webhook worker stopped");
}

/// Claims one batch and sends it (different streams at once); returns how many were claimed.
async fn round(
    state: &web::Data<AppState>,
    client: &awc::Client,
    token: &str,
) -> Result<usize, ()> {
    let s = state.clone();
    let claim_token = token.to_string();
    let claimed = state
        .db
        .tx(move |c| {
            let now = s.clock.now();
            let w = &s.settings.webhooks;
            let lease =
                now + ChronoDuration::seconds(i64::try_from(w.lease_seconds).unwrap_or(120));
            let rows = store::claim(c, now, lease, &claim_token, i64::from(w.batch_size))?;
            prepare(c, rows)
        })
        .await
        .map_err(|e| tracing::warn!(error = %e, "could not claim webhook deliveries"))?;
    let count = claimed.len();
    let sends = claimed
        .into_iter()
        .map(|out| deliver(state, client, token, out));
    futures_util::future::join_all(sends).await;
    Ok(count)
}

/// Fixes each claimed delivery's body (at its first attempt) and reads its webhook's URL and
/// current secret (a rotated secret signs every attempt after the rotation).
fn prepare(c: &mut Conn, rows: Vec<Delivery>) -> Result<Vec<Outgoing>, AppError> {
    let mut ids: Vec<i64> = rows.iter().map(|r| r.webhook_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let hooks = store::by_ids(c, &ids)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(hook) = hooks.iter().find(|h| h.id == row.webhook_id) else {
            continue;
        };
        let body = match row.body {
            Some(b) => b,
            None => {
                let b = body_of(c, &row)?;
                store::set_body(c, row.id, &b)?;
                b
            }
        };
        out.push(Outgoing {
            id: row.id,
            event_id: row.audit_event_id,
            attempts: row.attempts,
            created_at: from_db(row.created_at),
            url: hook.url.clone(),
            secret: hook.secret.clone(),
            body,
        });
    }
    Ok(out)
}

fn body_of(c: &mut Conn, row: &Delivery) -> Result<String, AppError> {
    let (id, action, occurred_at, payload) = store::event(c, row.audit_event_id)?;
    let payload: Value = serde_json::from_str(&payload).map_err(AppError::internal)?;
    serde_json::to_string(&Body {
        id,
        event: action,
        occurred_at: from_db(occurred_at),
        listing_id: row.listing_id,
        payload,
    })
    .map_err(AppError::internal)
}

/// POSTs one delivery: `Ok(status)` for a 2xx answer, otherwise what went wrong.
async fn post(client: &awc::Client, out: &Outgoing) -> Result<u16, (Option<u16>, String)> {
    let signature = webhook::signature(&out.secret, out.body.as_bytes());
    let sent = client
        .post(&out.url)
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("X-Signature", signature))
        .insert_header(("X-Event-Id", out.event_id.to_string()))
        .send_body(out.body.clone())
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => Ok(resp.status().as_u16()),
        Ok(resp) => Err((
            Some(resp.status().as_u16()),
            format!("answered {}", resp.status().as_u16()),
        )),
        Err(e) => Err((None, e.to_string())),
    }
}

async fn deliver(state: &web::Data<AppState>, client: &awc::Client, token: &str, out: Outgoing) {
    let result = post(client, &out).await;
    let s = state.clone();
    let token = token.to_string();
    let id = out.id;
    let outcome = state
        .db
        .tx(move |c| {
            let now = s.clock.now();
            match &result {
                Ok(status) => store::mark_delivered(c, id, &token, i32::from(*status), now)
                    .map(|ok| (ok, "delivered")),
                Err((status, error)) => {
                    let attempts = u32::try_from(out.attempts).unwrap_or(u32::MAX);
                    let retry_at = match policy(&s).after_failure(
                        attempts,
                        out.created_at,
                        now,
                        rand::random::<f64>(),
                    ) {
                        RetryDecision::RetryAt(t) => Some(t),
                        RetryDecision::GiveUp => None,
                    };
                    let label = if retry_at.is_some() {
                        "retry"
                    } else {
                        "failed"
                    };
                    let status = status.map(i32::from);
                    store::mark_failed_attempt(c, id, &token, error, status, retry_at)
                        .map(|ok| (ok, label))
                }
            }
        })
        .await;
    match outcome {
        Ok((true, what)) => tracing::debug!(id, outcome = what, "webhook delivery recorded"),
        Ok((false, _)) => {
            tracing::warn!(id, "webhook claim expired before the outcome was recorded")
        }
        Err(e) => {
            tracing::warn!(id, error = %e, "could not record a webhook outcome; it will be retried")
        }
    }
}
