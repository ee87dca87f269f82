//! The HTTP layer: handlers by resource, the JSON extractor, routes and the OpenAPI document.

pub mod auth;
pub mod health;
pub mod json;
pub mod me;
pub mod openapi;

use actix_web::web;

use crate::error::AppError;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::live)
        .service(health::ready)
        .service(openapi::document)
        .service(openapi::docs_page)
        .service(
            web::scope("/api/v1")
                .service(auth::register)
                .service(auth::login_handler)
                .service(auth::refresh)
                .service(auth::logout)
                .service(me::me),
        );
}

/// Unknown routes: 404 problem.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::not_found("no such resource"))
}
