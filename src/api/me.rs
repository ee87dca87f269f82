//! `/api/v1/me`: the signed-in user's own account.

use actix_web::{HttpResponse, web};

use super::extract::AuthUser;
use crate::auth::accounts::UserView;
use crate::error::{AppError, Problem};
use crate::state::AppState;
use crate::store::users;

/// The signed-in user with their organisation.
#[utoipa::path(get, path = "/api/v1/me",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired` or `token_revoked`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    let id = user.id;
    let (u, org) = state
        .db
        .run(move |c| users::find_with_org(c, id))
        .await?
        .ok_or_else(|| AppError::unauthorized("token_revoked", "this account no longer exists"))?;
    Ok(HttpResponse::Ok().json(UserView::new(&u, org.as_ref())?))
}
