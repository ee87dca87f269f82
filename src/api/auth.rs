//! `/api/v1/auth/*`: register, login, refresh, logout.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::call::Call;
use super::extract::{AuthUser, RequestMeta};
use super::json::ApiJson;
use crate::auth::accounts::{self, RegistrationAnswer, RegistrationInput};
use crate::auth::login::{self, TokenPair};
use crate::error::{AppError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegisterAccountRequest)]
pub struct RegisterRequest {
    #[schema(example = "li.wei@example.com")]
    pub email: String,
    /// At least 10 characters; not the e-mail; not a common password.
    pub password: String,
    pub name: String,
    /// `enterprise` or `bidder`; staff roles cannot register.
    #[schema(example = "bidder")]
    pub role: String,
    pub organization_name: String,
    /// 18-character unified social credit code (GB 32100-2015), check character verified.
    #[schema(example = "91350100M000100Y43")]
    pub credit_code: String,
    pub phone: Option<String>,
    /// `zh-CN` (default) or `en`: the language of e-mails.
    pub locale: Option<String>,
    /// The organisation's supervising body (`GET /api/v1/supervisory-bodies`); default: the
    /// province (the root).
    pub supervisory_body_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

pub(super) fn rate_limit(
    limiter: &crate::auth::ratelimit::RateLimiter,
    meta: &RequestMeta,
) -> Result<(), AppError> {
    let Some(ip) = meta.client_ip else {
        return Ok(());
    };
    limiter
        .check(ip, std::time::Instant::now())
        .map_err(|retry_after_seconds| AppError::RateLimited {
            retry_after_seconds,
        })
}

/// Register an enterprise or bidder account together with its organisation. The answer is the
/// same whether or not the e-mail or the credit code already has an account (then nothing is
/// created and that account's owners get a mail instead), so it tells nobody who is registered.
#[utoipa::path(post, path = "/api/v1/auth/register", operation_id = "register_account", 
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registration received; a link to confirm the address is on its way (also when the address or company already had an account)", body = RegistrationAnswer),
        (status = 403, description = "Staff role requested (`staff_role_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken` or `organization_exists`: only when two registrations of one address or company race each other", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, AppError> {
    rate_limit(&state.register_limiter, &meta)?;
    let b = body.0;
    let reg = accounts::validate_registration(&RegistrationInput {
        email: &b.email,
        password: &b.password,
        name: &b.name,
        role: &b.role,
        organization_name: &b.organization_name,
        credit_code: &b.credit_code,
        phone: b.phone.as_deref(),
        locale: b.locale.as_deref(),
        supervisory_body_id: b.supervisory_body_id,
    })?;
    let s = state.clone();
    let password = b.password;
    let hash = web::block(move || s.passwords.hash(&password))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    let now = state.clock.now();
    let st = state.clone();
    let answer = RegistrationAnswer::of(&reg);
    state
        .db
        .tx(move |c| {
            let deps = accounts::RegisterDeps {
                pii_salt: &st.pii_salt,
                notifier: &st.notifier,
                verification_ttl_hours: st.settings.mail.verification_ttl_hours,
                mail_limits: &st.settings.mail,
            };
            accounts::register(c, &reg, &hash, &deps, &meta, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(answer))
}

/// Sign in with e-mail and password. For an account with two-factor authentication on, the
/// right password answers 401 `mfa_required` with an `mfa_token` (single use, short-lived):
/// send it with a code to `POST /api/v1/auth/mfa`. A staff account whose role must use MFA
/// (`auth.mfa_required_roles`) but has not enrolled yet is signed in, and every route but
/// `/api/v1/me/mfa`, `/api/v1/me/mfa/confirm`, logout and logout-all answers it 403
/// `mfa_enrollment_required` until it enrolls.
#[utoipa::path(post, path = "/api/v1/auth/login", 
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "`invalid_credentials` (also for unknown or locked accounts), or `mfa_required` with an `mfa_token`", body = super::mfa::LoginProblem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login_handler(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    rate_limit(&state.login_limiter, &meta)?;
    let b = body.0;
    match login::login(state, b.email, b.password, meta).await? {
        login::LoginAnswer::Tokens(pair) => Ok(HttpResponse::Ok().json(pair)),
        login::LoginAnswer::MfaRequired(challenge) => Ok(super::mfa::mfa_required(challenge)),
    }
}

/// Exchange a refresh token for a new pair. The old refresh token stops working; presenting
/// it again revokes every token of that login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", 
    tag = "accounts",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenPair),
        (status = 401, description = "`invalid_token`, `token_expired`, `token_revoked` or `refresh_token_reused`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, AppError> {
    let pair = login::refresh(state, body.0.refresh_token, meta).await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// End this login: the access and refresh tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", 
    tag = "accounts",
    request_body = RefreshRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    user: AuthUser,
    meta: RequestMeta,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, AppError> {
    login::logout(state, user, body.0.refresh_token, meta).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the link in the e-mail.
    pub token: String,
}

/// Confirm an e-mail address with the token from the e-mail.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "accounts",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "Address confirmed"),
        (status = 400, description = "`invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify_email(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<VerifyEmailRequest>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let token = body.0.token;
    state
        .db
        .tx(move |c| crate::auth::verify_email::redeem(c, &token, &meta, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a new verification link to the caller (earlier links stop working).
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is on its way"),
        (status = 409, description = "`already_verified`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many links for this account (per hour) or this address (per day)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resend_verification(call: Call, user: AuthUser) -> Result<HttpResponse, AppError> {
    call.tx(&user, move |c, cx| {
        let (u, _) = crate::store::users::find_with_org(c, cx.user.id)?
            .ok_or_else(|| AppError::not_found("no such user"))?;
        if u.email_verified_at.is_some() {
            return Err(AppError::conflict(
                "already_verified",
                "this address is already confirmed",
            ));
        }
        let mail = &cx.state().settings.mail;
        crate::auth::verify_email::check_resend(c, mail, &u, cx.now)?;
        crate::auth::verify_email::send_link(
            c,
            &cx.state().notifier,
            &u,
            crate::notify::Kind::VerifyEmail,
            cx.state().settings.mail.verification_ttl_hours,
            serde_json::json!({}),
            cx.now,
        )
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}
