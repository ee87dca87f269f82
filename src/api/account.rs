//! Keeping an account safe: `/me/password`, `/auth/password-reset` (and `/confirm`),
//! `/auth/logout-all`, and `/admin/users/{id}/disable` and `/enable`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::rate_limit;
use super::call::Call;
use super::extract::{Admins, AuthUser, RequestMeta, Staff};
use super::json::ApiJson;
use crate::auth::credentials;
use crate::domain::Role;
use crate::error::{AppError, Problem};
use crate::state::AppState;
use crate::store::models::{User, from_db};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 10 characters; not the e-mail; not a common password.
    pub new_password: String,
}

/// Change the caller's password. Every other login of the account ends; this one goes on.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; the other logins have ended"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`wrong_password`: the current password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (the new password breaks the policy)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    meta: RequestMeta,
    body: ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, AppError> {
    rate_limit(&state.login_limiter, &meta)?;
    let b = body.0;
    credentials::change_password(state, user, b.current_password, b.new_password, meta).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(example = "li.wei@example.com")]
    pub email: String,
}

/// Ask for a password-reset link. The answer is 202 whether or not the address has an
/// account; if it has, a single-use link valid for 30 minutes is mailed to it.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "accounts",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the address has an account, a link is on its way"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn request_reset(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<PasswordResetRequest>,
) -> Result<HttpResponse, AppError> {
    rate_limit(&state.register_limiter, &meta)?;
    credentials::request_reset(state, body.0.email, meta).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the link in the mail.
    pub token: String,
    pub new_password: String,
}

/// Set a new password with the token of a reset mail. The token works once; every login of
/// the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "accounts",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "The new password is set; every login has ended"),
        (status = 400, description = "`invalid_token` (unknown or used) or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (the new password breaks the policy)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm_reset(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<PasswordResetConfirm>,
) -> Result<HttpResponse, AppError> {
    rate_limit(&state.login_limiter, &meta)?;
    let b = body.0;
    credentials::confirm_reset(state, b.token, b.new_password, meta).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sign out everywhere: every login of the caller ends, this one included.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every login has ended"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    user: AuthUser,
    meta: RequestMeta,
) -> Result<HttpResponse, AppError> {
    credentials::logout_all(state, user, meta).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An account as an administrator manages it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatus {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub disabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl AccountStatus {
    fn of(u: &User) -> Result<Self, AppError> {
        Ok(Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: Role::parse(&u.role)
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown role {}", u.role)))?,
            organization_id: u.organization_id,
            disabled: u.disabled_at.is_some(),
            disabled_at: u.disabled_at.map(from_db),
        })
    }
}

async fn set_disabled(
    call: Call,
    admin: &AuthUser,
    id: i64,
    disable: bool,
) -> Result<HttpResponse, AppError> {
    let who = admin.clone();
    let user = call
        .tx(admin, move |c, cx| {
            credentials::set_disabled(c, &who, id, disable, &cx.meta, cx.now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AccountStatus::of(&user)?))
}

/// Disable an account: every login of it ends at once, and it cannot sign in (its login
/// answers 401 `invalid_credentials`) until enabled again.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", tag = "accounts",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Disabled", body = AccountStatus),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cannot_disable_self`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    set_disabled(call, &admin, path.into_inner(), true).await
}

/// Enable a disabled account again (its old logins stay ended).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", tag = "accounts",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Enabled", body = AccountStatus),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn enable(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    set_disabled(call, &admin, path.into_inner(), false).await
}

/// Why an administrator turns off an account's two-factor authentication.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaResetRequest {
    /// Kept in the audit trail and mailed to the holder (1–500 characters), e.g. the
    /// service ticket of the holder's request.
    pub reason: String,
}

/// Turn off the two-factor authentication of an account whose holder lost both the
/// authenticator and the recovery codes: the enrolment and its recovery codes are removed,
/// every login of the account ends, the holder is mailed, and the audit trail records
/// `user.mfa_reset` with the reason. The holder signs in with the password next; a role that
/// must use MFA enrols again before anything else.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/mfa/reset", tag = "accounts",
    params(("id" = i64, Path, description = "User id")),
    request_body = MfaResetRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Turned off", body = AccountStatus),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cannot_reset_self`, `mfa_not_enrolled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no reason", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reset_mfa(
    call: Call,
    admin: Staff<Admins>,
    path: web::Path<i64>,
    body: ApiJson<MfaResetRequest>,
) -> Result<HttpResponse, AppError> {
    let (id, who) = (path.into_inner(), (*admin).clone());
    let ApiJson(body) = body;
    let user = call
        .tx(&admin, move |c, cx| {
            crate::auth::mfa::reset(
                c,
                &cx.state().notifier,
                &who,
                id,
                &body.reason,
                &cx.meta,
                cx.now,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(AccountStatus::of(&user)?))
}
