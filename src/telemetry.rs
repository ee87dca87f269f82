//! Logging and request tracing: structured logs (JSON in production), a request id on every
//! request (echoed as `x-request-id`) and on every log line inside it, and a last guard that
//! turns any error response not already written as a problem document into one.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};
use crate::error::{AppError, PROBLEM_JSON, problem, problem_response};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Accepts a caller's request id if it is short and plain, otherwise makes one.
fn request_id_for(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 12];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            hex::encode(bytes)
        })
}

/// A NUL character (`%00`) in the path or the query string names nothing and can be stored
/// nowhere (PostgreSQL refuses it in text): such a request is answered before any handler,
/// 404 for the path and 400 `invalid_query` for the query string.
fn refuse_nul(req: &ServiceRequest) -> Option<AppError> {
    if req.uri().path().contains("%00") {
        return Some(AppError::not_found("no such resource"));
    }
    if req.query_string().contains("%00") {
        return Some(AppError::bad_request(
            "invalid_query",
            "the query string must not contain the NUL character (%00)",
        ));
    }
    None
}

/// Middleware: request id, a span around the request, one log line when it finishes.
pub async fn trace_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id_for(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let state = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .cloned();
    let result = match refuse_nul(&req) {
        Some(e) => Ok(req.error_response(e).map_into_right_body()),
        None => next
            .call(req)
            .instrument(span.clone())
            .await
            .map(ServiceResponse::map_into_left_body),
    };
    let _guard = span.enter();
    let mut res = result?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(&route, &method, status, elapsed);
    }
    let ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(status, latency_ms = ms, "request failed");
    } else {
        tracing::info!(status, latency_ms = ms, "request finished");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    Ok(res)
}

/// The stable code for an error status that did not come from our own error type.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "http_error",
    }
}

/// The routed (method, path pattern) pairs, handed in by start-up as app data so that a 405
/// can say which methods a resource has. Telemetry knows nothing of the route table itself.
#[derive(Debug, Clone, Default)]
pub struct RouteMethods(std::sync::Arc<[(&'static str, &'static str)]>);

impl RouteMethods {
    pub fn new(routes: impl IntoIterator<Item = (&'static str, &'static str)>) -> Self {
        Self(routes.into_iter().collect())
    }

    /// The `Allow` value of a routed path: its methods, in route-table order.
    fn allow(&self, pattern: &str) -> Option<HeaderValue> {
        let methods: Vec<String> = self
            .0
            .iter()
            .filter(|(_, path)| *path == pattern)
            .map(|(method, _)| method.to_ascii_uppercase())
            .collect();
        if methods.is_empty() {
            return None;
        }
        HeaderValue::from_str(&methods.join(", ")).ok()
    }
}

/// Middleware: every 4xx/5xx leaves as `application/problem+json`, and a 405 says which
/// methods the resource has (`Allow`, as RFC 9110 requires).
pub async fn problem_errors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let mut res = next.call(req).await?;
    if res.status() == StatusCode::METHOD_NOT_ALLOWED
        && !res.headers().contains_key(header::ALLOW)
        && let Some(routes) = res.request().app_data::<RouteMethods>()
        && let Some(allow) = res.request().match_pattern().and_then(|p| routes.allow(&p))
    {
        res.headers_mut().insert(header::ALLOW, allow);
    }
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    // The public pages answer their errors as pages of their own.
    let is_page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return Ok(res.map_into_left_body());
    }
    if status.is_server_error()
        && let Some(err) = res.response().error()
    {
        tracing::error!(error = %err, "unhandled error");
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "no such resource".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this resource".into(),
        s if s.is_server_error() => "an unexpected error occurred; it has been logged".into(),
        s => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let p = problem(status, code_for(status), detail, Vec::new());
    let (req, old) = res.into_parts();
    let mut new = problem_response(&p);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, new).map_into_right_body())
}
