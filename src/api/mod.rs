//! The HTTP layer: handlers by resource, the JSON extractor, the route table and the
//! OpenAPI document.

pub mod account;
pub mod alerts;
pub mod auctions;
pub mod audit;
pub mod auth;
pub mod bodies;
pub mod call;
pub mod deals;
pub mod defaults;
pub mod disclosure;
pub mod extract;
pub mod headers;
pub mod health;
pub mod json;
pub mod listings;
pub mod live;
pub mod me;
pub mod metrics;
pub mod mfa;
pub mod notifications;
pub mod ocds;
pub mod openapi;
pub mod pages;
pub mod paging;
pub mod proofs;
pub mod registrations;
pub mod report;
pub mod sandbox;
pub mod webhooks;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, HttpResponse, web};

use crate::error::AppError;
use extract::AuthUser;

/// Who may call a route, as the route table records it (used by the authorisation tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// Only the listed roles (by name).
    Roles(&'static [&'static str]),
    /// Only the listed roles, and only when the sandbox clock is on (`[sandbox]
    /// adjustable_clock`); otherwise the path answers 404 to everyone.
    Sandbox(&'static [&'static str]),
}

/// One route: method, path pattern and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Declares the routes once: they are registered from this list, and the same list is
/// published as [`ROUTES`] for tests that walk every endpoint.
macro_rules! route_table {
    ($( $method:ident $path:literal => $handler:path, $access:expr $(, $login:ident)?; )*) => {
        pub const ROUTES: &[RouteInfo] = &[
            $( RouteInfo { method: stringify!($method), path: $path, access: $access }, )*
        ];

        /// Registers every route. A path with several methods is one resource, so a wrong
        /// method answers 405 rather than 404.
        pub fn routes(cfg: &mut web::ServiceConfig) {
            let mut paths: Vec<PathRoutes> = Vec::new();
            $(
                let access: Access = $access;
                let login = login_check!($($login)?);
                let route = web::$method()
                    .to($handler)
                    .wrap(from_fn(move |req, next| enforce(access, login, req, next)));
                match paths.iter_mut().find(|(p, _)| *p == $path) {
                    Some((_, routes)) => routes.push(route),
                    None => paths.push(($path, vec![route])),
                }
            )*
            register(cfg, paths);
        }
    };
}

/// Where a signed-in route's login is checked against the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginCheck {
    /// Before the handler, by [`enforce`], with a statement of its own.
    Before,
    /// By the handler, in the same statement as its first read (the bid, where a statement
    /// saved on each request counts most: `login_in_read` in the table). [`enforce`] still
    /// answers 401 for a missing, malformed or expired token and 403 for a role the token
    /// names that may not call the route; the handler answers a login that ended (401
    /// `token_revoked`) and a role the database no longer gives (403) before anything else,
    /// and checks the login on its own when the request is malformed.
    InRead,
}

macro_rules! login_check {
    () => {
        LoginCheck::Before
    };
    (login_in_read) => {
        LoginCheck::InRead
    };
}

/// A path of the route table and its routes (one per method).
type PathRoutes = (&'static str, Vec<actix_web::Route>);

/// Registers each path as one resource, in the order of the table. Paths that share their
/// part up to the first parameter (`/api/v1/listings/{id}`) go into one scope of that
/// prefix, registered where the first of them stands, so a request is matched against one
/// pattern with a parameter, then against the scope's fixed remainders (`/bids`,
/// `/auction`) by comparison: the router tries patterns in order and each one with a
/// parameter is a regular expression, which cost about 6 % of a bid's CPU when every route
/// stood alone. The scope falls back to the app's default service, so an unknown path
/// answers 404 as before. A fixed path that such a scope would also match must come before
/// the scope's first path in the table (`/api/v1/audit/checkpoints/latest` does);
/// `tests/api/authz.rs` calls every route of the table and would find one that does not.
fn register(cfg: &mut web::ServiceConfig, paths: Vec<PathRoutes>) {
    fn resource(path: &str, routes: Vec<actix_web::Route>) -> actix_web::Resource {
        routes
            .into_iter()
            .fold(web::resource(path), |r, route| r.route(route))
            .default_service(web::to(method_not_allowed))
    }
    let mut groups: Vec<(Option<&'static str>, Vec<PathRoutes>)> = Vec::new();
    for (path, routes) in paths {
        let prefix = scope_prefix(path);
        match groups.iter_mut().find(|(p, _)| p.is_some() && *p == prefix) {
            Some((_, members)) => members.push((path, routes)),
            None => groups.push((prefix, vec![(path, routes)])),
        }
    }
    for (prefix, members) in groups {
        match prefix {
            Some(prefix) if members.len() > 1 => {
                let scope = members
                    .into_iter()
                    .fold(web::scope(prefix), |scope, (path, routes)| {
                        scope.service(resource(&path[prefix.len()..], routes))
                    });
                cfg.service(scope);
            }
            _ => {
                for (path, routes) in members {
                    cfg.service(resource(path, routes));
                }
            }
        }
    }
}

/// The part of `path` up to the end of its first parameter, if it has one.
fn scope_prefix(path: &'static str) -> Option<&'static str> {
    path.find('}').map(|end| &path[..=end])
}

route_table! {
    get "/health/live" => health::live, Access::Public;
    get "/health/ready" => health::ready, Access::Public;
    get "/metrics" => metrics::scrape, Access::Public;
    get "/api-docs/openapi.json" => openapi::document, Access::Public;
    get "/api-docs" => openapi::docs_page, Access::Public;
    post "/api/v1/auth/register" => auth::register, Access::Public;
    post "/api/v1/auth/login" => auth::login_handler, Access::Public;
    post "/api/v1/auth/refresh" => auth::refresh, Access::Public;
    post "/api/v1/auth/logout" => auth::logout, Access::SignedIn;
    post "/api/v1/auth/verify-email" => auth::verify_email, Access::Public;
    post "/api/v1/auth/verify-email/resend" => auth::resend_verification, Access::SignedIn;
    post "/api/v1/auth/password-reset" => account::request_reset, Access::Public;
    post "/api/v1/auth/password-reset/confirm" => account::confirm_reset, Access::Public;
    post "/api/v1/auth/logout-all" => account::logout_all, Access::SignedIn;
    post "/api/v1/auth/mfa" => mfa::verify, Access::Public;
    post "/api/v1/me/mfa" => mfa::enrol, Access::SignedIn;
    post "/api/v1/me/mfa/confirm" => mfa::confirm, Access::SignedIn;
    post "/api/v1/me/password" => account::change_password, Access::SignedIn;
    post "/api/v1/admin/users/{id}/disable" => account::disable, Access::Roles(ADMINS);
    post "/api/v1/admin/users/{id}/enable" => account::enable, Access::Roles(ADMINS);
    post "/api/v1/admin/users/{id}/mfa/reset" => account::reset_mfa, Access::Roles(ADMINS);
    get "/api/v1/supervisory-bodies" => bodies::list, Access::Public;
    post "/api/v1/admin/supervisory-bodies" => bodies::create, Access::Roles(ADMINS);
    post "/api/v1/admin/organizations/{id}/supervisory-body" => bodies::attach, Access::Roles(ADMINS);
    post "/api/v1/admin/webhooks" => webhooks::create, Access::Roles(ADMINS);
    get "/api/v1/admin/webhooks" => webhooks::list, Access::Roles(ADMINS);
    post "/api/v1/admin/webhooks/{id}/pause" => webhooks::pause, Access::Roles(ADMINS);
    post "/api/v1/admin/webhooks/{id}/resume" => webhooks::resume, Access::Roles(ADMINS);
    post "/api/v1/admin/webhooks/{id}/secret" => webhooks::rotate, Access::Roles(ADMINS);
    get "/api/v1/admin/webhooks/{id}/deliveries" => webhooks::deliveries, Access::Roles(ADMINS);
    post "/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}/requeue" => webhooks::requeue, Access::Roles(ADMINS);
    get "/api/v1/me" => me::me, Access::SignedIn;
    get "/api/v1/me/notifications" => notifications::mine, Access::SignedIn;
    get "/api/v1/notifications" => notifications::deliveries, Access::Roles(OPERATORS);
    post "/api/v1/notifications/{id}/retry" => notifications::retry, Access::Roles(OPERATORS);
    post "/api/v1/listings" => listings::create, Access::Roles(ENTERPRISES);
    get "/api/v1/listings" => listings::browse, Access::Public;
    get "/api/v1/listings/{id}" => listings::get, Access::Public;
    patch "/api/v1/listings/{id}" => listings::update, Access::Roles(ENTERPRISES);
    post "/api/v1/listings/{id}/submit" => listings::submit, Access::Roles(ENTERPRISES);
    post "/api/v1/listings/{id}/review" => listings::review, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/suspend" => listings::suspend, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/resume" => listings::resume, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/terminate" => listings::terminate, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/relist" => listings::relist, Access::Roles(ENTERPRISES);
    get "/api/v1/listings/{id}/rounds" => listings::rounds, Access::Public;
    post "/api/v1/listings/{id}/extend" => disclosure::extend, Access::Roles(ENTERPRISES);
    post "/api/v1/listings/{id}/notices" => disclosure::publish, Access::Roles(ENTERPRISES);
    get "/api/v1/listings/{id}/notices" => disclosure::list, Access::Public;
    post "/api/v1/listings/{id}/registrations" => registrations::register, Access::Roles(BIDDERS);
    get "/api/v1/listings/{id}/registrations" => registrations::for_listing, Access::SignedIn;
    get "/api/v1/me/registrations" => registrations::mine, Access::Roles(BIDDERS);
    post "/api/v1/registrations/{id}/review" => registrations::review, Access::Roles(OPERATORS);
    post "/api/v1/registrations/{id}/deposit" => registrations::deposit, Access::Roles(OPERATORS);
    post "/api/v1/registrations/{id}/seller-opinion" => disclosure::seller_opinion, Access::Roles(ENTERPRISES);
    post "/api/v1/listings/{id}/auction" => auctions::schedule, Access::Roles(OPERATORS);
    get "/api/v1/listings/{id}/auction" => auctions::get, Access::Public;
    get "/api/v1/listings/{id}/auction/events" => live::events, Access::Public;
    post "/api/v1/listings/{id}/bids" => auctions::place, Access::Roles(BIDDERS), login_in_read;
    get "/api/v1/listings/{id}/bids" => auctions::list, Access::Public;
    post "/api/v1/listings/{id}/quote" => deals::quote, Access::Roles(BIDDERS);
    get "/api/v1/listings/{id}/deal" => deals::get, Access::Public;
    post "/api/v1/listings/{id}/deal/contract" => deals::contract, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/deal/payment" => deals::payment, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/deal/announce" => deals::announce, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/deal/close" => deals::close, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/deal/default" => defaults::default, Access::Roles(OPERATORS);
    post "/api/v1/listings/{id}/deal/accept" => defaults::accept, Access::Roles(BIDDERS);
    post "/api/v1/listings/{id}/deal/decline" => defaults::decline, Access::Roles(BIDDERS);
    get "/api/v1/ocds/releases" => ocds::releases, Access::Public;
    get "/api/v1/ocds/records/{project_no}" => ocds::record, Access::Public;
    get "/api/v1/audit/events" => audit::events, Access::Roles(AUDITORS);
    get "/api/v1/audit/verify" => audit::verify, Access::Roles(AUDITORS);
    get "/api/v1/audit/checkpoints/latest" => proofs::latest_checkpoint, Access::Public;
    get "/api/v1/audit/checkpoints/{tree_size}" => proofs::checkpoint_at, Access::Public;
    post "/api/v1/audit/checkpoints/{tree_size}/cosignatures" => proofs::cosign, Access::Public;
    post "/api/v1/audit/checkpoints" => audit::create_checkpoint, Access::Roles(AUDITORS);
    get "/api/v1/audit/events/{id}/proof" => proofs::event_proof, Access::SignedIn;
    get "/api/v1/audit/consistency" => proofs::consistency, Access::Public;
    get "/api/v1/audit/public-key" => audit::public_key, Access::Public;
    get "/api/v1/audit/export" => audit::export_trail, Access::Roles(AUDITORS);
    get "/api/v1/audit/alerts" => alerts::list, Access::Roles(AUDITORS);
    get "/api/v1/audit/alerts/rules" => alerts::rules, Access::Roles(AUDITORS);
    post "/api/v1/audit/alerts/{id}/acknowledge" => alerts::acknowledge, Access::Roles(AUDITORS);
    get "/api/v1/audit/summary" => alerts::summary, Access::Roles(AUDITORS);
    get "/api/v1/audit/listings/{id}/report" => report::listing_report, Access::Roles(AUDITORS);
    post "/api/v1/sandbox/clock" => sandbox::advance, Access::Sandbox(ADMINS);
    get "/" => pages::board, Access::Public;
    get "/listings/{id}" => pages::listing, Access::Public;
    get "/verify-email" => pages::verify_email, Access::Public;
    get "/reset-password" => pages::reset_password, Access::Public;
    get "/assets/{file}" => pages::asset, Access::Public;
}

const AUDITORS: &[&str] = &["auditor", "admin"];
const OPERATORS: &[&str] = &["operator", "admin"];
const ENTERPRISES: &[&str] = &["enterprise"];
const BIDDERS: &[&str] = &["bidder"];
const ADMINS: &[&str] = &["admin"];

/// Enforces a route's [`Access`] before its handler runs, so a caller who may not use the
/// route hears 401/403 whatever the body says (extractors run concurrently; without this a
/// malformed body could answer first). The user is left in the request's extensions, where
/// the `AuthUser` extractor finds it without a second look-up.
async fn enforce(
    access: Access,
    login: LoginCheck,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !query_is_utf8(req.query_string()) {
        return Err(AppError::bad_request(
            "invalid_query",
            "the query string is not valid UTF-8 once percent-decoded",
        )
        .into());
    }
    if let Access::Sandbox(_) = access {
        let on = req
            .app_data::<web::Data<crate::state::AppState>>()
            .is_some_and(|s| s.sandbox.is_some());
        if !on {
            return Err(AppError::not_found("no such resource").into());
        }
    }
    if let Access::SignedIn | Access::Roles(_) | Access::Sandbox(_) = access {
        let role = match login {
            LoginCheck::Before => AuthUser::extract(req.request()).await?.role,
            LoginCheck::InRead => extract::Token::of(req.request())?.claimed_role,
        };
        if let Access::Roles(roles) | Access::Sandbox(roles) = access
            && !roles.contains(&role.as_str())
        {
            return Err(
                AppError::forbidden(format!("only {} may do this", roles.join(" or "))).into(),
            );
        }
    }
    next.call(req).await
}

/// Whether the percent-decoded query string is UTF-8 (the query extractor would otherwise
/// replace bad bytes and search for something the client never sent).
fn query_is_utf8(query: &str) -> bool {
    let bytes = query.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    decoded.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => decoded.push(b'%'),
            },
            b => decoded.push(b),
        }
        i += 1;
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// Unknown routes: 404 problem.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::not_found("no such resource"))
}

/// A known path with a method it does not have: 405 problem.
pub async fn method_not_allowed() -> Result<HttpResponse, AppError> {
    Err(AppError::MethodNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::query_is_utf8;

    #[test]
    fn percent_decoded_queries_must_be_utf8() {
        assert!(query_is_utf8(""));
        assert!(query_is_utf8("q=%E5%8E%82%E6%88%BF&page=1"));
        assert!(query_is_utf8("q=100%")); // a lone % is taken literally
        assert!(query_is_utf8("q=%zz"));
        assert!(!query_is_utf8("q=%FF%FE"));
        assert!(!query_is_utf8("q=%E5%8E"));
        assert!(!query_is_utf8("q=%C0%AF"));
    }
}
