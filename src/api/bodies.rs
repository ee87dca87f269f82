//! `/api/v1/supervisory-bodies` and `/api/v1/admin/...`: the supervision tree (全省统一平台):
//! the province's SASAC, the cities' and the counties', and which enterprise belongs where.

use actix_web::{HttpResponse, web};

use super::call::Call;
use super::extract::{Admins, Staff};
use super::json::ApiJson;
use crate::error::{AppError, Problem};
use crate::exchange::bodies::{self as uc, Attach, BodyView, NewBody, OrganizationBody};
use crate::state::AppState;

/// Every supervising body, as a flat list with `parent_id` (the root has none).
#[utoipa::path(get, path = "/api/v1/supervisory-bodies", operation_id = "list_supervisory_bodies", tag = "supervision",
    responses((status = 200, description = "The tree as a list, in id order", body = [BodyView]))
)]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let bodies = state.db.run(uc::list).await?;
    Ok(HttpResponse::Ok().json(bodies))
}

/// Add a supervising body under a parent.
#[utoipa::path(post, path = "/api/v1/admin/supervisory-bodies", operation_id = "create_supervisory_body", tag = "supervision",
    request_body = NewBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = BodyView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`region_code_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: name, region code, or an unknown parent", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    call: Call,
    admin: Staff<Admins>,
    body: ApiJson<NewBody>,
) -> Result<HttpResponse, AppError> {
    let view = call
        .tx(&admin, move |c, cx| uc::create(c, &cx.by(), &body.0))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Move an organisation under another supervising body (recorded in the audit trail).
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/supervisory-body", operation_id = "attach_organization_to_body", tag = "supervision",
    params(("id" = i64, Path, description = "Organisation id")),
    request_body = Attach,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Moved", body = OrganizationBody),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no such supervisory body", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn attach(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<i64>,
    body: ApiJson<Attach>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let view = call
        .tx(&admin, move |c, cx| uc::attach(c, &cx.by(), id, &body.0))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
