//! `GET /metrics`: Prometheus text exposition. Open, or behind a bearer token when
//! `metrics.bearer_token` is set.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use crate::error::{AppError, Problem};
use crate::metrics::Gauges;
use crate::state::AppState;
use crate::store::metrics as store;

fn authorised(state: &AppState, req: &HttpRequest) -> bool {
    let token = state.settings.metrics.bearer_token.expose_secret();
    if token.is_empty() {
        return true;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Same length and every byte equal, without stopping at the first difference.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Metrics for Prometheus: request latency by route, bids by outcome, mail outbox depth and
/// age, scheduler lag, connection pool use.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "`unauthorized` (a token is configured and was not given)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn scrape(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if !authorised(&state, &req) {
        return Err(AppError::unauthorized(
            "unauthorized",
            "this metrics endpoint needs its bearer token",
        ));
    }
    let now = state.clock.now();
    let (connections, idle, max) = state.db.pool_state();
    let mut g = Gauges {
        pool_connections: connections,
        pool_idle: idle,
        pool_max: max,
        live_streams: state.hub.streams(),
        live_feeds: state.hub.feeds(),
        live_feed_reads: state.hub.looks(),
        ..Gauges::default()
    };
    let read = state
        .db
        .run(move |c| Ok((store::outbox(c)?, store::oldest_due(c, now)?)))
        .await;
    if let Ok(((pending, failed, oldest), due)) = read {
        g.database_up = true;
        g.outbox_pending = pending;
        g.outbox_failed = failed;
        g.outbox_oldest_seconds = oldest.map_or(0.0, |t| seconds(now - t));
        g.scheduler_lag = due
            .into_iter()
            .map(|(job, t)| (job, t.map_or(0.0, |t| seconds(now - t))))
            .collect();
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&g, state.started_unix)))
}

fn seconds(d: chrono::TimeDelta) -> f64 {
    (d.num_milliseconds().max(0) as f64) / 1000.0
}
