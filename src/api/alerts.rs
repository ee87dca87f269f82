//! `/api/v1/audit/alerts*` and `/api/v1/audit/summary`: risk alerts for auditors, their
//! acknowledgement, the rule catalogue and the supervisor's dashboard.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::call::Call;
use super::extract::{Auditors, Staff};
use super::json::ApiJson;
use super::paging::{Page, Paging};
use crate::domain::risk::{Rule, Severity};
use crate::error::{AppError, Problem};
use crate::exchange::scope as scope_uc;
use crate::exchange::supervision::{self as uc, AlertView, RuleView, SummaryView};
use crate::state::AppState;
use crate::store::alerts::{self as store, AlertFilter};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    pub listing_id: Option<i64>,
    /// A rule id from `/api/v1/audit/alerts/rules`.
    #[param(schema_with = rule_id)]
    pub rule: Option<String>,
    /// `low`, `medium` or `high`.
    #[param(schema_with = severity)]
    pub severity: Option<String>,
    /// `open` or `acknowledged`.
    #[param(schema_with = alert_status)]
    pub status: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64, value_type = Option<i64>)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

fn rule_id() -> utoipa::openapi::schema::Object {
    super::openapi::one_of(Rule::ALL.iter().map(|r| r.id()))
}

fn severity() -> utoipa::openapi::schema::Object {
    super::openapi::one_of(["low", "medium", "high"])
}

fn alert_status() -> utoipa::openapi::schema::Object {
    super::openapi::one_of(["open", "acknowledged"])
}

fn filter_of(q: &AlertQuery) -> Result<AlertFilter, AppError> {
    if let Some(r) = &q.rule
        && Rule::parse(r).is_none()
    {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("unknown rule {r:?}; see /api/v1/audit/alerts/rules"),
        ));
    }
    if let Some(s) = &q.severity
        && Severity::parse(s).is_none()
    {
        return Err(AppError::bad_request(
            "invalid_query",
            "severity must be low, medium or high",
        ));
    }
    let acknowledged = match q.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("acknowledged") => Some(true),
        Some(_) => {
            return Err(AppError::bad_request(
                "invalid_query",
                "status must be open or acknowledged",
            ));
        }
    };
    Ok(AlertFilter {
        listing_id: q.listing_id,
        rule: q.rule.clone(),
        severity: q.severity.clone(),
        acknowledged,
        organizations: None,
    })
}

/// Risk alerts, newest first.
#[utoipa::path(get, path = "/api/v1/audit/alerts", operation_id = "list_alerts", tag = "audit",
    params(AlertQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of alerts", body = inline(Page<AlertView>)),
        (status = 400, description = "`invalid_query` (unknown rule, severity or status)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auditor: Staff<Auditors>,
    q: web::Query<AlertQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let paging = Paging::new(q.page, q.per_page)?;
    let mut filter = filter_of(&q)?;
    filter.organizations = auditor.scope.organization_ids();
    let (offset, limit) = (paging.offset(), paging.limit());
    let scope = auditor.scope.clone();
    let (rows, total) = state
        .db
        .run(move |c| {
            if let Some(id) = filter.listing_id {
                scope_uc::require_listing(c, &scope, id)?;
            }
            store::query(c, &filter, offset, limit)
        })
        .await?;
    let items: Vec<AlertView> = rows.iter().map(uc::view).collect();
    Ok(HttpResponse::Ok().json(paging.page(items, total)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// What the auditor checked and concluded (required).
    pub comment: String,
}

/// Acknowledge an alert with a comment (recorded in the audit trail); once only.
#[utoipa::path(post, path = "/api/v1/audit/alerts/{id}/acknowledge", tag = "audit",
    params(("id" = i64, Path, description = "Alert id")),
    request_body = AcknowledgeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Acknowledged", body = AlertView),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such alert", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_acknowledged`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a comment is required", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn acknowledge(
    call: Call,
    auditor: Staff<Auditors>,
    path: web::Path<i64>,
    body: ApiJson<AcknowledgeRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let row = call
        .tx(&auditor, move |c, cx| {
            uc::acknowledge(c, &cx.by(), id, &body.comment)
        })
        .await?;
    Ok(HttpResponse::Ok().json(uc::view(&row)))
}

/// The rule catalogue and the thresholds in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleCatalogue {
    pub rules: Vec<RuleView>,
    #[schema(value_type = Object)]
    pub thresholds: Value,
}

/// Every risk rule with its id, severity and meaning, and the configured thresholds.
#[utoipa::path(get, path = "/api/v1/audit/alerts/rules", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rules", body = RuleCatalogue),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rules(state: web::Data<AppState>, _auditor: Staff<Auditors>) -> HttpResponse {
    HttpResponse::Ok().json(RuleCatalogue {
        rules: uc::rules(),
        thresholds: uc::thresholds(&state.rules.risk),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Inclusive lower bound of alert creation and deal award (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// The figures of this supervising body and those below it (default: the caller's body,
    /// or the whole platform); split in `by_body` by its direct children.
    pub supervisory_body_id: Option<i64>,
}

/// The supervisor's dashboard: alerts by rule, severity and month; deals and value by kind;
/// the share of single-bidder deals; average premiums over listing price and appraisal.
#[utoipa::path(get, path = "/api/v1/audit/summary", tag = "audit",
    params(SummaryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures", body = SummaryView),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such supervisory body in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn summary(
    state: web::Data<AppState>,
    auditor: Staff<Auditors>,
    q: web::Query<SummaryQuery>,
) -> Result<HttpResponse, AppError> {
    let SummaryQuery {
        from,
        to,
        supervisory_body_id,
    } = q.into_inner();
    if let (Some(f), Some(t)) = (from, to)
        && t <= f
    {
        return Err(AppError::bad_request(
            "invalid_query",
            "`to` must be later than `from`",
        ));
    }
    let scope = auditor.scope.clone();
    let view = state
        .db
        .run(move |c| uc::summary(c, &scope, supervisory_body_id, from, to))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
