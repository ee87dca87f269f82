//! The mail delivery worker: claims due outbox rows under a lease, sends them, and records
//! the outcome with backoff. Several instances can run at once; each row is claimed by one.
//! On shutdown it finishes the message in flight and stops claiming.

use std::time::Duration;

use actix_web::web;
use chrono::Duration as ChronoDuration;
use tokio::sync::watch;

use crate::domain::retry::{RetryDecision, RetryPolicy};
use crate::notify::transport::Outgoing;
use crate::state::AppState;
use crate::store::models::from_db;
use crate::store::notifications::{self, Notification};

fn policy(state: &AppState) -> RetryPolicy {
    let m = &state.settings.mail;
    let secs = |s: u64| ChronoDuration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
    RetryPolicy {
        initial: secs(m.retry_initial_seconds),
        max_delay: secs(m.retry_max_delay_seconds),
        max_attempts: m.max_attempts,
        give_up_after: secs(m.give_up_after_hours.saturating_mul(3600)),
    }
}

pub async fn run(state: web::Data<AppState>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(state.settings.mail.poll_interval_ms);
    let token = crate::random::token();
    loop {
        if *stop.borrow() {
            break;
        }
        match round(&state, &token, &stop).await {
            Ok(0) | Err(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {},
                    _ = stop.changed() => {},
                }
            }
            Ok(_) => {} // there may be more due right away
        }
    }
    tracing::info!("mail worker stopped");
}

/// Claims one batch and sends it; returns how many were claimed.
async fn round(
    state: &web::Data<AppState>,
    token: &str,
    stop: &watch::Receiver<bool>,
) -> Result<usize, ()> {
    let s = state.clone();
    let claim_token = token.to_string();
    let claimed = state
        .db
        .tx(move |c| {
            let now = s.clock.now();
            let lease = now
                + ChronoDuration::seconds(
                    i64::try_from(s.settings.mail.lease_seconds).unwrap_or(300),
                );
            notifications::claim(
                c,
                now,
                lease,
                &claim_token,
                i64::from(s.settings.mail.batch_size),
            )
        })
        .await
        .map_err(|e| tracing::warn!(error = %e, "could not claim mail"))?;
    let count = claimed.len();
    for row in claimed {
        if *stop.borrow() {
            // Leave the rest: their lease runs out and another round (or instance) sends them.
            break;
        }
        deliver(state, token, row).await;
    }
    Ok(count)
}

async fn deliver(state: &web::Data<AppState>, token: &str, row: Notification) {
    let outgoing = Outgoing {
        to: row.to_address.clone(),
        subject: row.subject.clone(),
        text: row.body_text.clone(),
        html: row.body_html.clone(),
        message_id: row.message_id.clone(),
    };
    let result = state.mailer.send(&state.mail_from, &outgoing).await;
    let s = state.clone();
    let token = token.to_string();
    let id = row.id;
    let outcome = state
        .db
        .tx(move |c| {
            let now = s.clock.now();
            match &result {
                Ok(()) => notifications::mark_sent(c, id, &token, now).map(|ok| (ok, "sent")),
                Err(e) => {
                    let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                    let decision = policy(&s).after_failure(
                        attempts,
                        from_db(row.created_at),
                        now,
                        rand::random::<f64>(),
                    );
                    let retry_at = match decision {
                        RetryDecision::RetryAt(t) => Some(t),
                        RetryDecision::GiveUp => None,
                    };
                    let label = if retry_at.is_some() {
                        "retry"
                    } else {
                        "failed"
                    };
                    notifications::mark_failed_attempt(c, id, &token, &e.message, retry_at)
                        .map(|ok| (ok, label))
                }
            }
        })
        .await;
    match outcome {
        Ok((true, what)) => tracing::debug!(id, outcome = what, "mail delivery recorded"),
        Ok((false, _)) => tracing::warn!(id, "mail claim expired before the outcome was recorded"),
        Err(e) => {
            tracing::warn!(id, error = %e, "could not record mail outcome; it will be retried")
        }
    }
}
