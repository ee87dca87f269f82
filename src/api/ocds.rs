//! `/api/v1/ocds/*`: open data in the Open Contracting Data Standard 1.1, for anyone. A
//! release package of what changed since an instant (for harvesters) and the record of one
//! project. The mapping is `exchange::ocds`; these handlers only page, load and wrap.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::paging::Paging;
use crate::error::{AppError, Problem};
use crate::exchange::ocds::{self as map, Publication};
use crate::state::AppState;
use crate::store::ocds as store;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReleasesQuery {
    /// Only listings changed at or after this instant (RFC 3339, e.g. `2026-11-27T08:00:00Z`).
    pub since: Option<DateTime<Utc>>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64, value_type = Option<i64>)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

fn publication(state: &AppState) -> Publication<'_> {
    Publication {
        settings: &state.settings.ocds,
        base_url: &state.settings.server.public_base_url,
    }
}

fn releases_url(since: Option<DateTime<Utc>>, page: u32, per_page: u32) -> String {
    let since = since
        .map(|s| format!("since={}&", s.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        .unwrap_or_default();
    format!("/api/v1/ocds/releases?{since}page={page}&per_page={per_page}")
}

/// OCDS release package: the current state of every public listing changed since `since`.
///
/// One release per listing, in `(updated_at, id)` order; `links.next` points at the next page
/// while there is one. Bidders appear only as bidder codes; awards and contracts only once the
/// deal is announced.
#[utoipa::path(get, path = "/api/v1/ocds/releases", tag = "open data",
    params(ReleasesQuery),
    responses(
        (status = 200, description = "An OCDS 1.1 release package (with the bids extension)", body = Object, content_type = "application/json"),
        (status = 400, description = "`invalid_query`: a bad `since`, `page` or `per_page` (at most 100)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn releases(
    state: web::Data<AppState>,
    q: web::Query<ReleasesQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let paging = Paging::new(q.page, q.per_page)?;
    let (since, offset, limit) = (q.since, paging.offset(), paging.limit());
    // One row more than the page tells whether there is a next page.
    let (processes, more) = state
        .db
        .run(move |c| {
            let mut rows = store::changed_since(c, since, offset, limit + 1)?;
            let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
            let more = rows.len() > page_len;
            rows.truncate(page_len);
            Ok((store::processes(c, rows)?, more))
        })
        .await?;
    let pb = publication(&state);
    let uri = pb.url(&releases_url(since, paging.page, paging.per_page));
    let next = more.then(|| pb.url(&releases_url(since, paging.page + 1, paging.per_page)));
    let package = map::release_package(&pb, &processes, uri, next, state.clock.now());
    Ok(HttpResponse::Ok().json(package))
}

/// OCDS record package with the record of one project: every release, then the current state
/// compiled.
///
/// 404 for a project that does not exist or that the public may not see (drafts, submitted,
/// returned, and listings terminated before they were ever disclosed).
#[utoipa::path(get, path = "/api/v1/ocds/records/{project_no}", tag = "open data",
    params(("project_no" = String, Path, description = "Project number, e.g. `AX-CQ-2026-00001`")),
    responses(
        (status = 200, description = "An OCDS 1.1 record package (with the bids extension)", body = Object, content_type = "application/json"),
        (status = 404, description = "`not_found`: no such public project", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let project_no = path.into_inner();
    let no = project_no.clone();
    let process = state
        .db
        .run(move |c| {
            let row = store::public_by_project_no(c, &no)?
                .ok_or_else(|| AppError::not_found("no such project"))?;
            Ok(store::processes(c, vec![row])?.pop())
        })
        .await?
        .ok_or_else(|| AppError::not_found("no such project"))?;
    let pb = publication(&state);
    let uri = pb.url(&format!("/api/v1/ocds/records/{project_no}"));
    let package = map::record_package(&pb, &process, uri)
        .ok_or_else(|| AppError::not_found("no such project"))?;
    Ok(HttpResponse::Ok().json(package))
}
