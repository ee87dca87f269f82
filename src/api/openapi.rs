//! The OpenAPI document (`/api-docs/openapi.json`) and a small self-contained page that
//! renders it for people (`/api-docs`), with no scripts from outside.

use actix_web::HttpResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, Type};
use utoipa::{Modify, OpenApi};

use super::{Access, ROUTES};
use crate::error::{FieldProblem, PROBLEM_JSON, Problem};

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
        super::account::change_password,
        super::account::request_reset,
        super::account::confirm_reset,
        super::account::logout_all,
        super::mfa::verify,
        super::mfa::enrol,
        super::mfa::confirm,
        super::account::disable,
        super::account::enable,
        super::account::reset_mfa,
        super::bodies::list,
        super::bodies::create,
        super::bodies::attach,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::pause,
        super::webhooks::resume,
        super::webhooks::rotate,
        super::webhooks::deliveries,
        super::webhooks::requeue,
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
        super::live::events,
        super::auctions::place,
        super::auctions::list,
        super::deals::quote,
        super::deals::get,
        super::deals::contract,
        super::deals::payment,
        super::deals::announce,
        super::deals::close,
        super::defaults::default,
        super::disclosure::extend,
        super::disclosure::publish,
        super::disclosure::list,
        super::disclosure::seller_opinion,
        super::defaults::accept,
        super::defaults::decline,
        super::ocds::releases,
        super::ocds::record,
        super::audit::events,
        super::audit::verify,
        super::proofs::latest_checkpoint,
        super::proofs::checkpoint_at,
        super::proofs::cosign,
        super::audit::create_checkpoint,
        super::proofs::event_proof,
        super::proofs::consistency,
        super::audit::public_key,
        super::audit::export_trail,
        super::alerts::list,
        super::alerts::rules,
        super::alerts::acknowledge,
        super::alerts::summary,
        super::report::listing_report,
        super::sandbox::advance,
        super::pages::board,
        super::pages::handlers::listing,
        super::pages::handlers::verify_email,
        super::pages::handlers::reset_password,
        super::pages::handlers::asset,
        document,
    ),
    components(schemas(Problem, FieldProblem, crate::exchange::auctions::SealedBidView)),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "accounts", description = "Registration, sign-in and tokens"),
        (name = "auctions", description = "Online auctions (网络竞价): scheduling, bids, history"),
        (name = "deals", description = "From award to a closed deal (成交)"),
        (name = "open data", description = "Open data in the Open Contracting Data Standard (OCDS) 1.1, for anyone"),
        (name = "audit", description = "The tamper-evident audit trail (auditors and admins)"),
        (name = "health", description = "Probes"),
        (name = "supervision", description = "The supervision tree (全省统一平台): supervising bodies and the enterprises under them"),
        (name = "webhooks", description = "Signed webhooks to the province's supervision platform (在线监管平台): registration and the delivery log"),
        (name = "listings", description = "Listings (挂牌项目) from draft to decision"),
        (name = "registrations", description = "Registrations of intent (意向登记) and deposits (保证金)"),
        (name = "notifications", description = "E-mail notifications and their delivery"),
        (name = "meta", description = "This document"),
        (name = "sandbox", description = "Non-production only: move the exchange's clock forward"),
        (name = "pages", description = "Public pages (text/html) for people: the board, each listing's page, and the pages e-mail links open"),
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

/// A string limited to `values`, for `#[param(schema_with = ...)]` and
/// `#[schema(schema_with = ...)]` where the Rust type is a plain `String`.
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

/// Documents the problems the shared extractors and guards answer with, on every operation
/// they apply to, so that each operation lists every status it can really return: 401 where a
/// bearer token is read, 403 behind a role guard, 404 for a path id that does not parse, 400,
/// 413, 415 and 422 for a JSON body, 400 for a query string, 503 when the database is away and
/// 507 when a write finds the storage full. What an operation already documents is kept.
struct CommonResponses;

fn problem_response(description: &str) -> Response {
    let mut r = Response::new(description);
    r.content.insert(
        PROBLEM_JSON.to_string(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    r
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(problem_response(description)));
}

fn string_header(description: &str) -> RefOr<utoipa::openapi::header::Header> {
    RefOr::T(
        HeaderBuilder::new()
            .schema(Some(utoipa::openapi::schema::Object::with_type(
                Type::String,
            )))
            .description(Some(description))
            .build(),
    )
}

/// Signed-in routes answer 403 `mfa_enrollment_required` to an account whose role must use
/// two-factor authentication until it enrolls.
fn mfa_enrollment_required(op: &mut Operation) {
    const NOTE: &str = "`mfa_enrollment_required`: the caller's role must use two-factor authentication (`auth.mfa_required_roles`) and it has not enrolled yet (POST /api/v1/me/mfa)";
    match op.responses.responses.get_mut("403") {
        Some(RefOr::T(r)) => {
            if !r.description.contains("mfa_enrollment_required") {
                r.description = format!("{}; or {NOTE}", r.description);
            }
        }
        _ => add(op, "403", NOTE),
    }
}

fn www_authenticate() -> RefOr<utoipa::openapi::header::Header> {
    string_header("`Bearer realm=\"asset-exchange\"`")
}

fn unauthorized() -> Response {
    problem_response(
        "`unauthorized` (no bearer token), `invalid_token`, `token_expired` or `token_revoked`",
    )
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("put", item.put.as_mut()),
                ("patch", item.patch.as_mut()),
                ("delete", item.delete.as_mut()),
            ];
            for (method, op) in operations {
                if let Some(op) = op {
                    common_responses(path, method, op);
                }
            }
        }
    }
}

/// The answers of authentication and authorisation: 401 (with how to authenticate), 403 for
/// roles, and 403 `mfa_enrollment_required`.
fn auth_responses(path: &str, access: Option<Access>, op: &mut Operation) {
    let reads_token = op
        .security
        .as_ref()
        .and_then(|s| serde_json::to_string(s).ok())
        .is_some_and(|s| s.contains("\"bearer\""));
    let signed_in = reads_token
        || matches!(
            access,
            Some(Access::SignedIn | Access::Roles(_) | Access::Sandbox(_))
        );
    if signed_in {
        op.responses
            .responses
            .entry("401".to_string())
            .or_insert_with(|| RefOr::T(unauthorized()));
    }
    // Every 401 of this API says how to authenticate.
    if let Some(RefOr::T(r)) = op.responses.responses.get_mut("401") {
        r.headers
            .entry("WWW-Authenticate".to_string())
            .or_insert_with(www_authenticate);
    }
    if let Some(Access::Roles(roles) | Access::Sandbox(roles)) = access {
        add(
            op,
            "403",
            &format!("`forbidden`: only {} may do this", roles.join(" or ")),
        );
    }
    if signed_in && !super::extract::MFA_ENROLMENT_PATHS.contains(&path) {
        mfa_enrollment_required(op);
    }
}

fn common_responses(path: &str, method: &str, op: &mut Operation) {
    let access = ROUTES
        .iter()
        .find(|r| r.path == path && r.method == method)
        .map(|r| r.access);
    auth_responses(path, access, op);
    let has = |op: &Operation, kind: ParameterIn| {
        op.parameters
            .iter()
            .flatten()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == kind))
    };
    if has(op, ParameterIn::Path) {
        add(op, "404", "`not_found`: no such resource");
    }
    if has(op, ParameterIn::Query) {
        add(
            op,
            "400",
            "`invalid_query`: an unknown, malformed or out-of-range query parameter",
        );
    }
    if op.request_body.is_some() {
        add(
            op,
            "400",
            "`malformed_json` (not JSON, or empty) or `malformed_body`",
        );
        add(op, "413", "`payload_too_large`");
        add(op, "415", "`unsupported_media_type`: send application/json");
        add(
            op,
            "422",
            "`validation_failed`: a field is missing, unknown or of the wrong type or value",
        );
    }
    if path.starts_with("/api/v1/") || path == "/health/ready" {
        add(
            op,
            "503",
            "`service_unavailable`: the database is not answering",
        );
    }
    if path.starts_with("/api/v1/") && method != "get" {
        add(op, "507", "`storage_full`: nothing was written");
    }
    if let Some(RefOr::T(r)) = op.responses.responses.get_mut("429") {
        r.headers.insert(
            "Retry-After".to_string(),
            string_header("Seconds to wait before trying again"),
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
