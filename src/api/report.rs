//! `GET /api/v1/audit/listings/{id}/report`: the auditor's report on one listing, as JSON or
//! as one printable HTML page. Asking for it is itself recorded in the audit trail.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::call::Call;
use super::extract::{Auditors, Staff};
use crate::audit::{self, Event};
use crate::error::{AppError, Problem};
use crate::exchange::report::{self as uc, ListingReport, Request, html};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `json` (default) or `html` (a self-contained page to read or print on A4).
    #[param(schema_with = report_format)]
    pub format: Option<String>,
}

fn report_format() -> utoipa::openapi::schema::Object {
    crate::api::openapi::one_of(["json", "html"])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
}

impl Format {
    fn parse(q: Option<&str>) -> Result<Self, AppError> {
        match q.unwrap_or("json") {
            "json" => Ok(Self::Json),
            "html" => Ok(Self::Html),
            other => Err(AppError::bad_request(
                "invalid_query",
                format!("format must be json or html, not {other:?}"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Html => "html",
        }
    }
}

/// The page may carry nothing but its own inline styles.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The auditor's report on one listing: the listing and its rounds, the timeline of its
/// audit stream, registrations and deposits (with addresses), every bid, the deal, the risk
/// alerts, and the stream verified against the latest signed checkpoint.
#[utoipa::path(get, path = "/api/v1/audit/listings/{id}/report", tag = "audit",
    params(("id" = i64, Path, description = "Listing id"), ReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report: JSON by default, a printable HTML page with `format=html`",
            content((ListingReport = "application/json"), (String = "text/html"))),
        (status = 400, description = "`invalid_query`: format is not json or html", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such listing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn listing_report(
    call: Call,
    auditor: Staff<Auditors>,
    path: web::Path<i64>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, AppError> {
    let format = Format::parse(q.format.as_deref())?;
    let id = path.into_inner();
    let req = Request {
        user_id: auditor.user.id,
        now: call.now(),
    };
    let keys = call.state().audit_keys.clone();
    let scope = auditor.scope.clone();
    let report = call
        .state()
        .db
        .run(move |c| uc::listing_report(c, &keys, &scope, id, req))
        .await?;

    let payload = json!({
        "listing_id": id,
        "stream": report.verification.stream,
        "format": format.as_str(),
        "valid": report.verification.valid,
        "events": report.verification.events_checked,
    });
    let response = match format {
        Format::Json => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(&report),
        Format::Html => {
            let file = format!("{}-report.html", safe_name(&report.listing.project_no));
            let page = web::block(move || html::render(&report))
                .await
                .map_err(AppError::internal)??;
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header(("content-security-policy", PAGE_POLICY))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{file}\""),
                ))
                .body(page)
        }
    };

    call.tx_at(&auditor, req.now, move |c, cx| {
        audit::record(
            c,
            cx.now,
            Event {
                stream: audit::SYSTEM_STREAM.to_string(),
                action: "audit.report_generated",
                actor: cx.actor(),
                payload,
                meta: &cx.meta,
            },
        )
    })
    .await?;
    Ok(response)
}

/// A project number reduced to characters safe in a header's file name.
fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
