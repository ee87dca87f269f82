//! Public pages (text/html) served by the same binary as the API: the board (`GET /`), each
//! listing's page at its current stage (`GET /listings/{id}`), the pages that e-mail links
//! open (`GET /verify-email`, `GET /reset-password`) and their one stylesheet and one script
//! (`GET /assets/{file}`). Server-rendered from `templates/pages/` (see [`render`]), Chinese
//! first with `?lang=en` for English, under a strict Content-Security-Policy: no inline
//! script or style, nothing from another origin. A page shows only what the public JSON
//! API shows ([`view`]); what the public may not see answers the same 404 page as what does
//! not exist.

pub mod handlers;
pub mod render;
pub mod view;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use self::handlers::{asset, listing, reset_password, verify_email};
use self::render::{Frame, Lang, render, string, with_query};
use self::view::{Filter, Section};
use crate::domain::listing::ListingKind;
use crate::domain::money::Money;
use crate::domain::scope::valid_region_code;
use crate::error::{AppError, Problem};
use crate::exchange::scope::{self, City};
use crate::state::AppState;

/// What the pages may load: our own stylesheet and script, our own API for the live feed and
/// the token forms; no inline code, no frames, no other origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// How long a proxy may keep the board.
pub const BOARD_CACHE: &str = "public, max-age=5";
/// Listing pages: a proxy may keep them but must revalidate (ETag) every time.
pub const LISTING_CACHE: &str = "public, no-cache";
/// Entries per section on the board's first view, and per page of one section.
const BOARD_PREVIEW: i64 = 8;
const SECTION_PAGE: i64 = 20;

/// Whether `path` (a route pattern) is one of these pages rather than the JSON API.
pub fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/verify-email" | "/reset-password")
        || path.starts_with("/listings/")
        || path.starts_with("/assets/")
}

type Query = Vec<(String, String)>;

/// The query's pairs (the last of repeated names wins in [`param`]).
fn query_of(req: &HttpRequest) -> Option<Query> {
    web::Query::<Query>::from_query(req.query_string())
        .ok()
        .map(web::Query::into_inner)
}

fn param<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

fn lang_of(req: &HttpRequest) -> Lang {
    let q = query_of(req).unwrap_or_default();
    Lang::from_query(param(&q, "lang"))
}

/// The headers every page carries.
fn page(status: StatusCode, cache: &str) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("content-security-policy", CONTENT_SECURITY_POLICY))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header(("referrer-policy", "same-origin"))
        .insert_header(("cross-origin-opener-policy", "same-origin"))
        .insert_header((
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ));
    b
}

#[derive(Serialize)]
struct Message {
    status: u16,
    heading: String,
    body: String,
}

/// A page that says something went wrong (404, 400, 503, 500), in `lang`.
fn message_page(status: StatusCode, lang: Lang, body_key: &str) -> HttpResponse {
    let heading_key = match status.as_u16() {
        404 => "not_found_heading",
        400 => "bad_request_heading",
        503 => "unavailable_heading",
        _ => "error_heading",
    };
    let mut frame = Frame::new(lang, "/", &[]);
    frame.noindex = true;
    let data = Message {
        status: status.as_u16(),
        heading: string(lang, heading_key),
        body: string(lang, body_key),
    };
    match render("message.html", lang, &frame, &data) {
        Ok(html) => page(status, "no-store").body(html),
        Err(e) => {
            tracing::error!(error = %e, "the error page itself failed");
            page(status, "no-store").body(data.heading)
        }
    }
}

/// The one answer for a listing that does not exist or that the public may not see.
fn not_found(lang: Lang) -> HttpResponse {
    message_page(StatusCode::NOT_FOUND, lang, "not_found_body")
}

/// An error of the layers below as a page (logged when it is the server's fault).
fn error_page(err: &AppError, lang: Lang) -> HttpResponse {
    let status = err.status_code();
    match status.as_u16() {
        404 => not_found(lang),
        503 => {
            tracing::warn!(error = %err, "public page: database unavailable");
            message_page(status, lang, "unavailable_body")
        }
        s if s >= 500 => {
            tracing::error!(error = %format!("{err:#}"), "public page failed");
            message_page(StatusCode::INTERNAL_SERVER_ERROR, lang, "error_body")
        }
        _ => message_page(status, lang, "error_body"),
    }
}

/// The board's query, as a person's browser sends it.
#[derive(Debug, Default)]
struct BoardParams {
    filter: Filter,
    section: Option<Section>,
    page: u32,
    /// The filter pairs to keep in links (without `section`, `page`, `lang`).
    keep: Query,
    kind: Option<String>,
    band: Option<String>,
    q: Option<String>,
    city: Option<String>,
}

/// The asset price bands of the rules (below 1 million yuan, 1–10 million, 10 million and
/// above) as inclusive bounds in fen.
const BANDS: [(&str, Option<i64>, Option<i64>); 3] = [
    ("small", None, Some(100_000_000 - 1)),
    ("medium", Some(100_000_000), Some(1_000_000_000 - 1)),
    ("large", Some(1_000_000_000), None),
];

fn parse_board(q: &Query) -> Result<BoardParams, ()> {
    let mut p = BoardParams {
        page: 1,
        ..BoardParams::default()
    };
    if let Some(k) = param(q, "kind") {
        p.filter.kind = Some(ListingKind::parse(k).ok_or(())?);
        p.kind = Some(k.to_string());
        p.keep.push(("kind".into(), k.into()));
    }
    if let Some(text) = param(q, "q") {
        let text = text.trim();
        if text.chars().count() > 100 {
            return Err(());
        }
        p.filter.q = Some(text.to_string());
        p.q = Some(text.to_string());
        p.keep.push(("q".into(), text.into()));
    }
    if let Some(b) = param(q, "band") {
        let (_, min, max) = BANDS.iter().find(|(name, _, _)| *name == b).ok_or(())?;
        (p.filter.min_price, p.filter.max_price) = (*min, *max);
        p.band = Some(b.to_string());
        p.keep.push(("band".into(), b.into()));
    }
    for (name, slot) in [("min_price", 0), ("max_price", 1)] {
        if let Some(v) = param(q, name) {
            let fen = Money::parse(v).map_err(|_| ())?.fen();
            if slot == 0 {
                p.filter.min_price = Some(fen);
            } else {
                p.filter.max_price = Some(fen);
            }
            p.keep.push((name.into(), v.into()));
        }
    }
    if let Some(code) = param(q, "city") {
        if !valid_region_code(code) {
            return Err(());
        }
        p.filter.region_code = Some(code.to_string());
        p.city = Some(code.to_string());
        p.keep.push(("city".into(), code.into()));
    }
    if let Some(s) = param(q, "section") {
        p.section = Some(Section::parse(s).ok_or(())?);
    }
    if let Some(n) = param(q, "page") {
        p.page = n.parse::<u32>().ok().filter(|n| *n >= 1).ok_or(())?;
    }
    Ok(p)
}

#[derive(Serialize)]
struct Pager {
    page: u32,
    pages: i64,
    prev_url: Option<String>,
    next_url: Option<String>,
}

#[derive(Serialize)]
struct SectionOut {
    key: &'static str,
    total: i64,
    items: Vec<view::BoardItem>,
    more_url: Option<String>,
    pager: Option<Pager>,
}

#[derive(Serialize)]
struct FilterOut {
    kind: Option<String>,
    band: Option<String>,
    q: Option<String>,
    city: Option<String>,
    section: Option<&'static str>,
    active: bool,
}

#[derive(Serialize)]
struct Board {
    filter: FilterOut,
    kinds: Vec<&'static str>,
    bands: Vec<&'static str>,
    cities: Vec<City>,
    sections: Vec<SectionOut>,
    clear_url: String,
    board_url: String,
}

/// `/` with the kept filters, the section and page given, and the language.
fn board_link(p: &BoardParams, lang: Lang, section: Option<Section>, page: Option<u32>) -> String {
    let mut q = p.keep.clone();
    if let Some(s) = section {
        q.push(("section".into(), s.key().into()));
    }
    if let Some(n) = page.filter(|n| *n > 1) {
        q.push(("page".into(), n.to_string()));
    }
    if lang == Lang::En {
        q.push(("lang".into(), "en".into()));
    }
    with_query("/", &q)
}

fn section_out(p: &BoardParams, lang: Lang, s: Section, page: view::SectionPage) -> SectionOut {
    let (more_url, pager) = match p.section {
        None => (
            (page.total > BOARD_PREVIEW).then(|| board_link(p, lang, Some(s), None)),
            None,
        ),
        Some(_) => {
            let pages = ((page.total + SECTION_PAGE - 1) / SECTION_PAGE).max(1);
            let n = p.page;
            (
                None,
                (pages > 1 || n > 1).then(|| Pager {
                    page: n,
                    pages,
                    prev_url: (n > 1).then(|| board_link(p, lang, Some(s), Some(n - 1))),
                    next_url: (i64::from(n) < pages)
                        .then(|| board_link(p, lang, Some(s), Some(n + 1))),
                }),
            )
        }
    };
    SectionOut {
        key: s.key(),
        total: page.total,
        items: page.items,
        more_url,
        pager,
    }
}

/// The public board: listings in disclosure, auctions scheduled and live, and recent deal
/// announcements; filtered by kind, price band, city and title; one section paged with
/// `section`.
#[utoipa::path(get, path = "/", operation_id = "page_board", tag = "pages",
    params(
        ("kind" = Option<String>, Query, description = "`equity_transfer`, `capital_increase` or `asset_transfer`"),
        ("q" = Option<String>, Query, description = "Words in the title"),
        ("band" = Option<String>, Query, description = "Listing price band: `small` (below 1 million yuan), `medium` (1–10 million), `large` (10 million and above)"),
        ("min_price" = Option<String>, Query, description = "Listing price at least (yuan)"),
        ("max_price" = Option<String>, Query, description = "Listing price at most (yuan)"),
        ("city" = Option<String>, Query, description = "GB/T 2260 code of a city of the province (e.g. `330100` 杭州市): only enterprises whose supervising body is that city's or one below it (its counties)"),
        ("section" = Option<String>, Query, description = "Only this section, paged: `disclosure`, `auction` or `deal`"),
        ("page" = Option<u32>, Query, description = "Page of the section, from 1"),
        ("lang" = Option<String>, Query, description = "`en` for English; Chinese otherwise"),
    ),
    responses(
        (status = 200, description = "The board (cacheable for a few seconds)", body = String, content_type = "text/html"),
        (status = 400, description = "A filter is not valid (a page); a query that is not UTF-8 (a problem)",
            content((String = "text/html"), (Problem = "application/problem+json"))),
        (status = 503, description = "The database is not answering", body = String, content_type = "text/html"),
    )
)]
pub async fn board(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let q = query_of(&req).unwrap_or_default();
    let lang = Lang::from_query(param(&q, "lang"));
    let Ok(p) = parse_board(&q) else {
        return message_page(StatusCode::BAD_REQUEST, lang, "bad_filter_body");
    };
    let now = state.clock.now();
    let (mut filter, only, number) = (p.filter.clone(), p.section, p.page);
    let read = state
        .db
        .run(move |c| {
            let cities = scope::cities(c)?;
            if let Some(code) = filter.region_code.as_deref() {
                filter.organizations = Some(
                    scope::organizations_in_region(c, code, None)?
                        .ok_or_else(|| AppError::bad_request("invalid_query", "no such city"))?,
                );
            }
            let mut out = Vec::new();
            for s in Section::ALL
                .into_iter()
                .filter(|s| only.is_none_or(|o| o == *s))
            {
                let (offset, limit) = match only {
                    Some(_) => ((i64::from(number) - 1) * SECTION_PAGE, SECTION_PAGE),
                    None => (0, BOARD_PREVIEW),
                };
                out.push((s, view::section(c, s, &filter, offset, limit, now)?));
            }
            Ok((cities, out))
        })
        .await;
    let (cities, sections) = match read {
        Ok(s) => s,
        // A city code that names no body (the form offers only real ones).
        Err(e) if e.status_code() == StatusCode::BAD_REQUEST => {
            return message_page(StatusCode::BAD_REQUEST, lang, "bad_filter_body");
        }
        Err(e) => return error_page(&e, lang),
    };
    let board = Board {
        filter: FilterOut {
            kind: p.kind.clone(),
            band: p.band.clone(),
            q: p.q.clone(),
            city: p.city.clone(),
            section: p.section.map(Section::key),
            active: !p.keep.is_empty(),
        },
        kinds: ListingKind::ALL.iter().map(|k| k.as_str()).collect(),
        bands: BANDS.iter().map(|(b, _, _)| *b).collect(),
        cities,
        sections: sections
            .into_iter()
            .map(|(s, found)| section_out(&p, lang, s, found))
            .collect(),
        clear_url: board_link(&BoardParams::default(), lang, p.section, None),
        board_url: board_link(&p, lang, None, None),
    };
    let mut frame = Frame::new(lang, "/", &q);
    frame.canonical = canonical(&state, &board_link(&p, lang, p.section, Some(p.page)));
    match render("board.html", lang, &frame, &board) {
        Ok(html) => page(StatusCode::OK, BOARD_CACHE).body(html),
        Err(e) => error_page(&e, lang),
    }
}

/// The public address of `path` (for printouts).
fn canonical(state: &AppState, path: &str) -> String {
    format!(
        "{}{path}",
        state.settings.server.public_base_url.trim_end_matches('/')
    )
}

/// A strong validator of a page's bytes.
fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// Whether `If-None-Match` names `etag` (or `*`); weak comparison, as for GET.
fn matches_etag(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_board_reads_the_browse_filters_and_refuses_nonsense() {
        let p = parse_board(&q(&[
            ("kind", "asset_transfer"),
            ("band", "medium"),
            ("q", " 厂房 "),
        ]))
        .unwrap();
        assert_eq!(p.filter.kind, Some(ListingKind::AssetTransfer));
        assert_eq!(
            (p.filter.min_price, p.filter.max_price),
            (Some(100_000_000), Some(999_999_999))
        );
        assert_eq!(p.filter.q.as_deref(), Some("厂房"));
        assert_eq!(p.page, 1);
        let p = parse_board(&q(&[
            ("min_price", "1000000.50"),
            ("section", "deal"),
            ("page", "3"),
            ("kind", ""),
        ]))
        .unwrap();
        assert_eq!(p.filter.min_price, Some(100_000_050));
        assert_eq!(
            (p.section, p.page, p.filter.kind),
            (Some(Section::Deal), 3, None)
        );
        for bad in [
            ("kind", "land"),
            ("band", "x"),
            ("page", "0"),
            ("page", "-1"),
            ("min_price", "1e3"),
            ("section", "all"),
            ("city", "hangzhou"),
            ("city", "990000"),
        ] {
            assert!(parse_board(&q(&[bad])).is_err(), "{bad:?}");
        }
        assert!(parse_board(&q(&[("q", &"字".repeat(101))])).is_err());
        let p = parse_board(&q(&[("city", "330100")])).unwrap();
        assert_eq!(p.filter.region_code.as_deref(), Some("330100"));
        assert_eq!(board_link(&p, Lang::Zh, None, None), "/?city=330100");
    }

    #[test]
    fn board_links_keep_the_filters_and_the_language() {
        let p = parse_board(&q(&[("kind", "equity_transfer"), ("q", "a&b")])).unwrap();
        assert_eq!(
            board_link(&p, Lang::En, Some(Section::Auction), Some(2)),
            "/?kind=equity_transfer&q=a%26b&section=auction&page=2&lang=en"
        );
        assert_eq!(
            board_link(&BoardParams::default(), Lang::Zh, None, Some(1)),
            "/"
        );
    }

    #[test]
    fn pages_are_told_from_the_api_by_their_route() {
        for page in [
            "/",
            "/listings/{id}",
            "/verify-email",
            "/reset-password",
            "/assets/{file}",
        ] {
            assert!(is_page(page), "{page}");
        }
        for api in [
            "/api/v1/listings/{id}",
            "/api-docs",
            "/health/live",
            "/metrics",
        ] {
            assert!(!is_page(api), "{api}");
        }
    }
}
