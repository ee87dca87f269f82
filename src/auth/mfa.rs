//! Two-factor authentication with TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps; one step
//! of skew either way), through the `totp-rs` crate, on the exchange's clock.
//!
//! - Enrolment: `POST /me/mfa` stores a new secret, pending; calling again replaces it.
//!   `POST /me/mfa/confirm` with a code of it turns MFA on and hands out recovery codes
//!   (stored only as SHA-256 hashes, each works once).
//! - Login: the right password of an account with MFA on opens no session; it answers a
//!   challenge, an `mfa_token` (random, stored as a hash, single use, short-lived). The token
//!   is not a JWT, so the access-token extractor refuses it. `POST /auth/mfa` with the token
//!   and a code (TOTP or recovery) opens the session. Wrong codes count toward the account's
//!   lockout like wrong passwords; a TOTP code is accepted only for a step later than the
//!   last one accepted, so it cannot be replayed.
//!
//! Neither secrets nor codes are ever written to the audit trail or logs.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use totp_rs::{Builder, Secret, Totp};

use crate::audit::{self, Actor, Event, RequestMeta};
use crate::auth::AuthUser;
use crate::auth::login::{
    Failure, Services, TokenPair, count_failure, lockout_policy, open_session, role_of,
};
use crate::auth::tokens::hash_token;
use crate::config::AuthSettings;
use crate::domain::Role;
use crate::domain::account::check_name;
use crate::domain::clock::format_beijing;
use crate::domain::mfa::{
    Factor, RECOVERY_CODE_BYTES, RECOVERY_CODES, classify, format_recovery_code, is_fresh_step,
};
use crate::error::AppError;
use crate::notify::{Kind, Notifier, Recipient};
use crate::store::mfa as store;
use crate::store::models::{User, from_db};
use crate::store::{Conn, sessions, users};

/// What enrolment shows once: the secret for the authenticator app.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MfaEnrolment {
    /// The shared secret, RFC 4648 base32 (for typing into an authenticator app).
    pub secret: String,
    /// `otpauth://totp/...` URL of the same secret (for a QR code): SHA-1, 6 digits, 30 s.
    pub otpauth_url: String,
}

/// What confirming the enrolment shows once: the recovery codes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, each valid instead of a TOTP code at the second step of a login.
    pub recovery_codes: Vec<String>,
}

/// The second step a login with MFA on still needs.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// Send it with a code to `POST /api/v1/auth/mfa`.
    pub mfa_token: String,
    /// Seconds it stays valid.
    pub expires_in: i64,
}

fn invalid_code() -> AppError {
    AppError::rule("invalid_mfa_code", "the code is not valid")
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::internal(anyhow::anyhow!("TOTP: {e}"))
}

/// The TOTP of a stored (base32) secret.
fn totp(secret_base32: &str, issuer: &str, account: &str) -> Result<Totp, AppError> {
    let secret = Secret::try_from_base32(secret_base32).map_err(internal)?;
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(internal)
}

/// The step a TOTP code is valid for at `now` (one step of skew either way), if any.
fn totp_step(totp: &Totp, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let time = u64::try_from(now.timestamp()).unwrap_or(0);
    totp.check(code, time).and_then(|s| i64::try_from(s).ok())
}

/// Starts (or restarts) enrolment: a new secret, pending until confirmed. 409
/// `mfa_already_enabled` when MFA is on.
pub fn start_enrolment(
    c: &mut Conn,
    settings: &AuthSettings,
    caller: &AuthUser,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<MfaEnrolment, AppError> {
    let user = users::find_for_update(c, caller.id)?
        .ok_or_else(|| AppError::unauthorized("token_revoked", "this account no longer exists"))?;
    let mut raw = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = Secret::new_stack(raw).to_base32();
    if !store::put_pending(c, user.id, &secret, now)? {
        return Err(already_on());
    }
    let url = totp(&secret, &settings.mfa_issuer, &user.email)?
        .to_url()
        .map_err(internal)?;
    audit::record(
        c,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: "user.mfa_enrollment_started",
            actor: Actor::user(user.id, caller.role),
            payload: json!({"user_id": user.id}),
            meta,
        },
    )?;
    Ok(MfaEnrolment {
        secret,
        otpauth_url: url,
    })
}

/// An administrator turns off the two-factor authentication of another account whose
/// holder lost both the authenticator and the recovery codes: the enrolment and its codes
/// are removed, every login of the account ends, the holder is mailed, and the trail
/// records who did it and why. The holder signs in with the password alone next, and a
/// role that must use MFA enrols again before anything else. 409 `cannot_reset_self`,
/// `mfa_not_enrolled`; 422 for a missing reason; 404 for no such user.
pub fn reset(
    c: &mut Conn,
    notifier: &Notifier,
    admin: &AuthUser,
    user_id: i64,
    reason: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    let reason = check_name("reason", reason, MAX_RESET_REASON_CHARS)?;
    if user_id == admin.id {
        return Err(AppError::conflict(
            "cannot_reset_self",
            "an administrator cannot turn off their own two-factor authentication; ask another",
        ));
    }
    let user =
        users::find_for_update(c, user_id)?.ok_or_else(|| AppError::not_found("no such user"))?;
    if !store::remove(c, user_id)? {
        return Err(AppError::conflict(
            "mfa_not_enrolled",
            "this account has no two-factor authentication to turn off",
        ));
    }
    store::end_challenges(c, user_id, now)?;
    let ended = sessions::revoke_all_of_user(c, user_id, None, "mfa_reset", now)?;
    audit::record(
        c,
        now,
        Event {
            stream: audit::user_stream(user_id),
            action: "user.mfa_reset",
            actor: Actor::user(admin.id, admin.role),
            payload: json!({"user_id": user_id, "reason": reason, "sessions_ended": ended}),
            meta,
        },
    )?;
    notifier.queue(
        c,
        now,
        &Recipient::of(&user),
        Kind::MfaReset,
        json!({"reason": reason, "reset_at": format_beijing(now)}),
    )?;
    Ok(user)
}

/// The longest reason an administrator may give for an MFA reset.
pub const MAX_RESET_REASON_CHARS: usize = 500;

fn already_on() -> AppError {
    AppError::conflict(
        "mfa_already_enabled",
        "two-factor authentication is already on for this account",
    )
}

/// Confirms the pending enrolment with a code of its secret: MFA is on from now, and ten new
/// recovery codes are returned (only their hashes are kept). A wrong code: 422
/// `invalid_mfa_code`, nothing changes.
pub fn confirm_enrolment(
    c: &mut Conn,
    settings: &AuthSettings,
    caller: &AuthUser,
    code: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<RecoveryCodes, AppError> {
    let user = users::find_for_update(c, caller.id)?
        .ok_or_else(|| AppError::unauthorized("token_revoked", "this account no longer exists"))?;
    let row = match store::find(c, user.id)? {
        Some(row) if row.is_on() => return Err(already_on()),
        Some(row) => row,
        None => {
            return Err(AppError::conflict(
                "mfa_not_pending",
                "start with POST /api/v1/me/mfa: there is no enrolment to confirm",
            ));
        }
    };
    let Some(Factor::Totp(code)) = classify(code) else {
        return Err(invalid_code());
    };
    let totp = totp(&row.secret, &settings.mfa_issuer, &user.email)?;
    let step = totp_step(&totp, &code, now).ok_or_else(invalid_code)?;
    if !store::confirm(c, user.id, step, now)? {
        return Err(already_on());
    }
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            format_recovery_code(&bytes)
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    store::replace_recovery_codes(c, user.id, &hashes, now)?;
    audit::record(
        c,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: "user.mfa_enabled",
            actor: Actor::user(user.id, caller.role),
            payload: json!({"user_id": user.id, "recovery_codes": codes.len()}),
            meta,
        },
    )?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// The stored form of a recovery code: SHA-256 of its normalised text.
fn recovery_hash(code: &str) -> String {
    match classify(code) {
        Some(Factor::Recovery(normal)) => hash_token(&normal),
        _ => hash_token(code),
    }
}

/// Opens the second step of a login whose password was right (MFA on).
pub(crate) fn challenge(
    c: &mut Conn,
    st: &impl Services,
    user: &User,
    role: Role,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<MfaChallenge, AppError> {
    let ttl = i64::try_from(st.auth_settings().mfa_token_ttl_seconds).unwrap_or(300);
    let token = crate::random::token();
    let id = store::create_challenge(
        c,
        user.id,
        &hash_token(&token),
        now,
        now + Duration::seconds(ttl),
    )?;
    audit::record(
        c,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: "auth.mfa_required",
            actor: Actor::user(user.id, role),
            payload: json!({"user_id": user.id, "challenge_id": id}),
            meta,
        },
    )?;
    Ok(MfaChallenge {
        mfa_token: token,
        expires_in: ttl,
    })
}

/// How the second step of a login ended.
enum Step {
    SignedIn(TokenPair),
    BadToken,
    WrongCode,
}

/// Which factor a code proved, or why it did not.
enum Proof {
    Totp,
    Recovery,
    Wrong(&'static str),
}

/// Checks a code against the user's enrolment: a TOTP code of a step later than the last one
/// used (the step is then remembered), or an unused recovery code (then used up).
fn prove(
    c: &mut Conn,
    st: &impl Services,
    user: &User,
    row: &store::UserMfa,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Proof, AppError> {
    match classify(code) {
        Some(Factor::Totp(code)) => {
            let totp = totp(&row.secret, &st.auth_settings().mfa_issuer, &user.email)?;
            let Some(step) = totp_step(&totp, &code, now) else {
                return Ok(Proof::Wrong("wrong_code"));
            };
            if !is_fresh_step(row.last_step, step) || !store::advance_step(c, user.id, step, now)? {
                return Ok(Proof::Wrong("replayed_code"));
            }
            Ok(Proof::Totp)
        }
        Some(Factor::Recovery(normal)) => {
            if store::use_recovery_code(c, user.id, &hash_token(&normal), now)? {
                Ok(Proof::Recovery)
            } else {
                Ok(Proof::Wrong("wrong_recovery_code"))
            }
        }
        None => Ok(Proof::Wrong("wrong_code")),
    }
}

/// The second step, in one transaction: the challenge, the account (locked row), the code.
fn second_step(
    c: &mut Conn,
    st: &impl Services,
    token_hash: &str,
    code: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<Step, AppError> {
    let Some(ch) = store::live_challenge(c, token_hash, now)? else {
        return Ok(Step::BadToken);
    };
    let Some(user) = users::find_for_update(c, ch.user_id)? else {
        return Ok(Step::BadToken);
    };
    let Some(row) = store::find(c, user.id)?.filter(store::UserMfa::is_on) else {
        return Ok(Step::BadToken);
    };
    if user.disabled_at.is_some() {
        return Ok(Step::BadToken);
    }
    let role = role_of(&user)?;
    let policy = lockout_policy(st.auth_settings());
    if policy.is_locked(user.locked_until.map(from_db), now) {
        let failure = Failure {
            action: "auth.mfa_failed",
            reason: "locked",
        };
        audit_only(c, &user, role, meta, now, &failure)?;
        return Ok(Step::WrongCode);
    }
    let factor = match prove(c, st, &user, &row, code, now)? {
        Proof::Totp => "totp",
        Proof::Recovery => "recovery_code",
        Proof::Wrong(reason) => {
            let failure = Failure {
                action: "auth.mfa_failed",
                reason,
            };
            if count_failure(c, st, &user, role, now, meta, failure)? {
                store::end_challenges(c, user.id, now)?;
            }
            return Ok(Step::WrongCode);
        }
    };
    if !store::use_challenge(c, ch.id, now)? {
        // Used by a concurrent request a moment ago: undo what this one did.
        return Err(bad_token());
    }
    if factor == "recovery_code" {
        let left = store::recovery_codes_left(c, user.id)?;
        audit::record(
            c,
            now,
            Event {
                stream: audit::user_stream(user.id),
                action: "auth.mfa_recovery_code_used",
                actor: Actor::user(user.id, role),
                payload: json!({"user_id": user.id, "recovery_codes_left": left}),
                meta,
            },
        )?;
    }
    let pair = open_session(c, st, &user, role, now, meta, Some(factor))?;
    Ok(Step::SignedIn(pair))
}

fn bad_token() -> AppError {
    AppError::unauthorized(
        "invalid_mfa_token",
        "the mfa_token is not valid (unknown, used or expired): sign in again",
    )
}

/// A refused attempt that counts nothing (the account is locked already).
fn audit_only(
    c: &mut Conn,
    user: &User,
    role: Role,
    meta: &RequestMeta,
    now: DateTime<Utc>,
    failure: &Failure,
) -> Result<(), AppError> {
    audit::record(
        c,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: failure.action,
            actor: Actor::user(user.id, role),
            payload: json!({"reason": failure.reason, "user_id": user.id}),
            meta,
        },
    )
}

/// `POST /auth/mfa`: the second step of a login. Unknown, used or expired tokens: 401
/// `invalid_mfa_token`; a wrong (or replayed) code, or a locked account: 401
/// `invalid_mfa_code`, counted toward the lockout.
pub async fn verify<S: Services>(
    state: actix_web::web::Data<S>,
    mfa_token: String,
    code: String,
    meta: RequestMeta,
) -> Result<TokenPair, AppError> {
    let now = state.clock().now();
    let hash = hash_token(&mfa_token);
    let st = state.clone();
    let step = state
        .db()
        .tx(move |c| second_step(c, &**st, &hash, &code, &meta, now))
        .await?;
    match step {
        Step::SignedIn(pair) => Ok(pair),
        Step::BadToken => Err(bad_token()),
        Step::WrongCode => Err(AppError::unauthorized(
            "invalid_mfa_code",
            "the code is not valid",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (the 8-digit codes' last six digits).
    #[test]
    fn codes_follow_the_rfc_6238_test_vectors() {
        let secret = Secret::new(b"12345678901234567890".to_vec().into_boxed_slice()).to_base32();
        let totp = totp(&secret, "asset-exchange", "a@example.com").unwrap();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (2_000_000_000, "279037"),
        ] {
            let at = DateTime::from_timestamp(time, 0).unwrap();
            assert_eq!(
                totp.generate(u64::try_from(time).unwrap()).to_string(),
                code
            );
            assert_eq!(totp_step(&totp, code, at), Some(time / 30));
        }
        // One step of skew either way, no more.
        let at = DateTime::from_timestamp(59 + 30, 0).unwrap();
        assert_eq!(totp_step(&totp, "287082", at), Some(1));
        let at = DateTime::from_timestamp(59 + 60, 0).unwrap();
        assert_eq!(totp_step(&totp, "287082", at), None);
    }

    #[test]
    fn recovery_codes_hash_the_same_however_they_are_typed() {
        assert_eq!(
            recovery_hash("ABCD-efgh-2345-6722"),
            recovery_hash("abcdefgh23456722")
        );
        assert_ne!(recovery_hash("abcd"), recovery_hash("abce"));
    }
}
