//! Two-factor authentication: enrolment (`/me/mfa`, `/me/mfa/confirm`) and the second step
//! of a login (`/auth/mfa`). The login's own answer for an account with MFA on (401
//! `mfa_required` with an `mfa_token`) is written here too.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::rate_limit;
use super::call::Call;
use super::extract::{AuthUser, RequestMeta};
use super::json::ApiJson;
use crate::auth::login::TokenPair;
use crate::auth::mfa::{self, MfaChallenge, MfaEnrolment, RecoveryCodes};
use crate::error::{AppError, PROBLEM_JSON, Problem, problem};
use crate::state::AppState;

/// The 401 problem of a sign-in: `invalid_credentials`, or `mfa_required` with the token the
/// second step needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginProblem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// `invalid_credentials` or `mfa_required`.
    pub code: String,
    /// With `mfa_required` only: send it with a code to `POST /api/v1/auth/mfa` (single use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// With `mfa_required` only: seconds the `mfa_token` stays valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token_expires_in: Option<i64>,
}

/// The 401 `mfa_required` answer of a login.
pub(super) fn mfa_required(challenge: MfaChallenge) -> HttpResponse {
    let Problem {
        type_,
        title,
        status,
        detail,
        code,
        ..
    } = problem(
        StatusCode::UNAUTHORIZED,
        "mfa_required",
        "the password is right; send a code of your authenticator app (or a recovery code) with the mfa_token to POST /api/v1/auth/mfa",
        Vec::new(),
    );
    let body = LoginProblem {
        type_,
        title,
        status,
        detail,
        code,
        mfa_token: Some(challenge.mfa_token),
        mfa_token_expires_in: Some(challenge.expires_in),
    };
    HttpResponse::Unauthorized()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"asset-exchange\""),
        ))
        .body(serde_json::to_string(&body).unwrap_or_default())
}

/// A secret or codes shown once: never cached.
fn no_store(body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body)
}

/// Start enrolling in two-factor authentication (TOTP: SHA-1, 6 digits, 30 s). The secret is
/// pending until confirmed with a code; calling again replaces a pending secret.
#[utoipa::path(post, path = "/api/v1/me/mfa", operation_id = "start_mfa_enrolment", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new secret, pending until confirmed", body = MfaEnrolment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_already_enabled`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn enrol(call: Call, user: AuthUser) -> Result<HttpResponse, AppError> {
    let enrolment = call
        .tx(&user, move |c, cx| {
            mfa::start_enrolment(c, &cx.state().settings.auth, &cx.user, &cx.meta, cx.now)
        })
        .await?;
    Ok(no_store(&enrolment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmMfaRequest {
    /// The six-digit code the authenticator app shows for the pending secret.
    #[schema(example = "123456")]
    pub code: String,
}

/// Confirm the pending enrolment with a code: two-factor authentication is on from now, and
/// the answer holds ten single-use recovery codes (shown this once only).
#[utoipa::path(post, path = "/api/v1/me/mfa/confirm", operation_id = "confirm_mfa_enrolment", tag = "accounts",
    request_body = ConfirmMfaRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA is on; the recovery codes", body = RecoveryCodes),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_pending` (no enrolment started) or `mfa_already_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_mfa_code`: not a valid code of the pending secret now; nothing changes", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm(
    call: Call,
    user: AuthUser,
    body: ApiJson<ConfirmMfaRequest>,
) -> Result<HttpResponse, AppError> {
    let code = body.0.code;
    let codes = call
        .tx(&user, move |c, cx| {
            mfa::confirm_enrolment(
                c,
                &cx.state().settings.auth,
                &cx.user,
                &code,
                &cx.meta,
                cx.now,
            )
        })
        .await?;
    Ok(no_store(&codes))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// The token of the login's 401 `mfa_required` answer.
    pub mfa_token: String,
    /// A six-digit code of the authenticator app, or one unused recovery code.
    #[schema(example = "123456")]
    pub code: String,
}

/// The second step of a login with two-factor authentication: the `mfa_token` of the login's
/// 401 `mfa_required` answer and a code. A wrong code counts toward the account's lockout
/// like a wrong password; a TOTP code works once (not again within its 30 s step); a
/// recovery code works once.
#[utoipa::path(post, path = "/api/v1/auth/mfa", operation_id = "login_second_factor", tag = "accounts",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "`invalid_mfa_token` (unknown, used or expired: sign in again) or `invalid_mfa_code` (wrong or already used code, or the account is locked)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<MfaLoginRequest>,
) -> Result<HttpResponse, AppError> {
    rate_limit(&state.login_limiter, &meta)?;
    let b = body.0;
    let pair = mfa::verify(state, b.mfa_token, b.code, meta).await?;
    Ok(HttpResponse::Ok().json(pair))
}
