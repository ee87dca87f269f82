//! Security headers on every response, errors included: no MIME sniffing, no framing by
//! other sites, no referrer leaking tokens from page URLs, and HSTS when the public address is
//! https. A response that sets one of these itself (the pages' own policies) keeps its value.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;

/// `Content-Security-Policy` of responses that do not bring their own: only forbids framing
/// (JSON needs nothing else; the pages and the report set complete policies).
pub const DEFAULT_POLICY: &str = "frame-ancestors 'none'";

/// One year, as browsers' preload lists expect.
const HSTS: &str = "max-age=31536000; includeSubDomains";

const HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", DEFAULT_POLICY),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Adds the headers a response lacks. An error that reaches this far (a refusal by a
/// route's guard) is answered with its response plus the headers.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let https = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.server.public_base_url.starts_with("https://"));
    match next.call(req).await {
        Ok(res) => {
            let mut res = res.map_into_boxed_body();
            add_missing(res.headers_mut(), https);
            Ok(res)
        }
        Err(e) => {
            let mut answer = e.error_response();
            add_missing(answer.headers_mut(), https);
            Err(InternalError::from_response(e, answer).into())
        }
    }
}

fn add_missing(headers: &mut HeaderMap, https: bool) {
    let hsts = https.then_some(("strict-transport-security", HSTS));
    for (name, value) in HEADERS.into_iter().chain(hsts) {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}
