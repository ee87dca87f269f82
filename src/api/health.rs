//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::{AppError, Problem};
use crate::state::AppState;

/// 200 while the process runs.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 only when the database answers.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "`service_unavailable`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if state.db.ping().await {
        Ok(HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})))
    } else {
        Err(AppError::Unavailable("database did not answer".into()))
    }
}
