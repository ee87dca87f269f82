//! The listing page, the pages that e-mail links open, and the static assets.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::render::{ASSETS, Frame, Lang, render, string};
use super::{
    LISTING_CACHE, Query, canonical, error_page, etag_of, lang_of, matches_etag, message_page,
    not_found, page, param, query_of, view,
};
use crate::domain::account::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::error::Problem;
use crate::state::AppState;

/// A listing's public page at its current stage: the disclosure notice (every field the
/// rules require), the live auction panel while bidding, the deal announcement once public.
/// Drafts, listings under review and missing ones answer the same 404 page; a valid
/// `preview` token (from a mail to the owner or the operators) opens one under review.
#[utoipa::path(get, path = "/listings/{id}", operation_id = "page_listing", tag = "pages",
    params(
        ("id" = i64, Path, description = "Listing id"),
        ("lang" = Option<String>, Query, description = "`en` for English; Chinese otherwise"),
        ("preview" = Option<String>, Query, description = "Preview token from a mail about a listing under review"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag of this page from an earlier answer"),
    ),
    responses(
        (status = 200, description = "The listing's page", body = String, content_type = "text/html",
            headers(("ETag" = String, description = "Validator of this page's bytes"))),
        (status = 304, description = "Not modified since the ETag given in If-None-Match"),
        (status = 400, description = "The query string is not UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing, or not public", body = String, content_type = "text/html"),
        (status = 503, description = "The database is not answering", body = String, content_type = "text/html"),
    )
)]
pub async fn listing(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let q = query_of(&req).unwrap_or_default();
    let lang = Lang::from_query(param(&q, "lang"));
    let Ok(id) = path.parse::<i64>() else {
        return not_found(lang);
    };
    let token = param(&q, "preview").map(str::to_string);
    let key = state.notifier.preview().clone();
    let (now, due) = (state.clock.now(), state.rules.deposit_due_working_days);
    let read = state
        .db
        .run(move |c| {
            let preview = |row: &crate::store::listings::ListingRow| {
                token
                    .as_deref()
                    .is_some_and(|t| key.verify(row.id, row.round, t))
            };
            view::listing_page(c, id, preview, due, now)
        })
        .await;
    let data = match read {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(lang),
        Err(e) => return error_page(&e, lang),
    };
    let path = format!("/listings/{id}");
    let mut frame = Frame::new(lang, &path, &q);
    frame.noindex = data.preview;
    frame.canonical = canonical(&state, &format!("{path}{}", frame.lq));
    let html = match render("listing.html", lang, &frame, &data) {
        Ok(html) => html,
        Err(e) => return error_page(&e, lang),
    };
    let cache = if data.preview {
        "private, no-store"
    } else {
        LISTING_CACHE
    };
    let etag = etag_of(html.as_bytes());
    if matches_etag(&req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    page(StatusCode::OK, cache)
        .insert_header((header::ETAG, etag))
        .body(html)
}

#[derive(Serialize)]
struct TokenForm {
    kind: &'static str,
    endpoint: &'static str,
    token: String,
    heading: String,
    intro: String,
    button: String,
    msg_ok: String,
    min_password_chars: usize,
    max_password_bytes: usize,
}

/// Whether `t` looks like one of our single-use tokens (URL-safe base64, as minted).
fn plausible_token(t: &str) -> bool {
    (16..=200).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A page with a form that sends a mailed token to the API only when the person presses
/// its button, so that a mail scanner that opens the link cannot use the token up.
fn token_page(req: &HttpRequest, kind: &'static str, path: &str) -> HttpResponse {
    let q: Query = query_of(req).unwrap_or_default();
    let lang = Lang::from_query(param(&q, "lang"));
    let Some(token) = param(&q, "token").filter(|t| plausible_token(t)) else {
        return message_page(StatusCode::BAD_REQUEST, lang, "bad_link_body");
    };
    let (endpoint, prefix) = match kind {
        "verify" => ("/api/v1/auth/verify-email", "verify"),
        _ => ("/api/v1/auth/password-reset/confirm", "reset"),
    };
    let data = TokenForm {
        kind,
        endpoint,
        token: token.to_string(),
        heading: string(lang, &format!("{prefix}_heading")),
        intro: string(lang, &format!("{prefix}_intro")),
        button: string(lang, &format!("{prefix}_button")),
        msg_ok: string(lang, &format!("{prefix}_ok")),
        min_password_chars: MIN_PASSWORD_CHARS,
        max_password_bytes: MAX_PASSWORD_BYTES,
    };
    let mut frame = Frame::new(lang, path, &q);
    frame.noindex = true;
    match render("token_form.html", lang, &frame, &data) {
        Ok(html) => page(StatusCode::OK, "no-store")
            .insert_header(("referrer-policy", "no-referrer"))
            .body(html),
        Err(e) => error_page(&e, lang),
    }
}

/// The link of the verification mail: one button that confirms the address
/// (`POST /api/v1/auth/verify-email`).
#[utoipa::path(get, path = "/verify-email", operation_id = "page_verify_email", tag = "pages",
    params(
        ("token" = String, Query, description = "The token from the mail", example = "q3Xb0wJ7mZr2Yt9LkP4sVn6Hc8Ge1Da5"),
        ("lang" = Option<String>, Query, description = "`en` for English; Chinese otherwise"),
    ),
    responses(
        (status = 200, description = "A page with one button", body = String, content_type = "text/html"),
        (status = 400, description = "The link lacks a well-formed token (a page); a query that is not UTF-8 (a problem)",
            content((String = "text/html"), (Problem = "application/problem+json"))),
    )
)]
pub async fn verify_email(req: HttpRequest) -> HttpResponse {
    token_page(&req, "verify", "/verify-email")
}

/// The link of the password-reset mail: a new-password form that sends the token and the
/// new password to `POST /api/v1/auth/password-reset/confirm`.
#[utoipa::path(get, path = "/reset-password", operation_id = "page_reset_password", tag = "pages",
    params(
        ("token" = String, Query, description = "The token from the mail", example = "q3Xb0wJ7mZr2Yt9LkP4sVn6Hc8Ge1Da5"),
        ("lang" = Option<String>, Query, description = "`en` for English; Chinese otherwise"),
    ),
    responses(
        (status = 200, description = "A new-password form", body = String, content_type = "text/html"),
        (status = 400, description = "The link lacks a well-formed token (a page); a query that is not UTF-8 (a problem)",
            content((String = "text/html"), (Problem = "application/problem+json"))),
    )
)]
pub async fn reset_password(req: HttpRequest) -> HttpResponse {
    token_page(&req, "reset", "/reset-password")
}

/// The pages' stylesheet and script (`pages.css`, `pages.js`), compiled into the binary.
#[utoipa::path(get, path = "/assets/{file}", operation_id = "page_asset", tag = "pages",
    params(("file" = String, Path, description = "`pages.css` or `pages.js`", example = "pages.css")),
    responses(
        (status = 200, description = "The file", content((String = "text/css"), (String = "text/javascript")),
            headers(("ETag" = String, description = "Validator of the file"))),
        (status = 304, description = "Not modified since the ETag given in If-None-Match"),
        (status = 400, description = "The query string is not UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such file", body = String, content_type = "text/html"),
    )
)]
pub async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == path.as_str()) else {
        return not_found(lang_of(&req));
    };
    let etag = etag_of(body.as_bytes());
    let cache = "public, max-age=300";
    if matches_etag(&req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(*body)
}
