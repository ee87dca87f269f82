//! The OpenAPI document (`/api-docs/openapi.json`) and a small self-contained page that
//! renders it for people (`/api-docs`), with no scripts from outside.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldProblem, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "asset-exchange API",
        description = "Provincial state-owned asset exchange: listings, registrations, online auctions, deals and a verifiable audit trail. Errors are RFC 9457 problem documents with a stable `code`.",
    ),
    paths(
        super::health::live,
        super::health::ready,
        super::metrics::scrape,
        super::auth::register,
        super::auth::login_handler,
        super::auth::refresh,
        super::auth::logout,
        super::auth::verify_email,
        super::auth::resend_verification,
        super::me::me,
        super::notifications::mine,
        super::notifications::deliveries,
        super::notifications::retry,
        super::listings::create,
        super::listings::browse,
        super::listings::get,
        super::listings::update,
        super::listings::submit,
        super::listings::review,
        super::listings::suspend,
        super::listings::resume,
        super::listings::terminate,
        super::listings::relist,
        super::listings::rounds,
        super::registrations::register,
        super::registrations::for_listing,
        super::registrations::mine,
        super::registrations::review,
        super::registrations::deposit,
        super::auctions::schedule,
        super::auctions::get,
        super::auctions::events,
        super::auctions::place,
        super::auctions::list,
        super::deals::quote,
        super::deals::get,
        super::deals::contract,
        super::deals::payment,
        super::deals::announce,
        super::deals::close,
        super::ocds::releases,
        super::ocds::record,
        super::audit::events,
        super::audit::verify,
        super::audit::latest_checkpoint,
        super::audit::create_checkpoint,
        super::audit::public_key,
        super::audit::export_trail,
        super::alerts::list,
        super::alerts::rules,
        super::alerts::acknowledge,
        super::alerts::summary,
        super::report::listing_report,
        document,
    ),
    components(schemas(Problem, FieldProblem)),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, sign-in and tokens"),
        (name = "auctions", description = "Online auctions (网络竞价): scheduling, bids, history"),
        (name = "deals", description = "From award to a closed deal (成交)"),
        (name = "open data", description = "Open data in the Open Contracting Data Standard (OCDS) 1.1, for anyone"),
        (name = "audit", description = "The tamper-evident audit trail (auditors and admins)"),
        (name = "health", description = "Probes"),
        (name = "listings", description = "Listings (挂牌项目) from draft to decision"),
        (name = "registrations", description = "Registrations of intent (意向登记) and deposits (保证金)"),
        (name = "notifications", description = "E-mail notifications and their delivery"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI 3 document of every endpoint.
#[utoipa::path(get, path = "/api-docs/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI document")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// A readable rendering of the OpenAPI document.
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("assets/docs.html"))
}
