//! Logins, refresh-token rotation with reuse detection, and logout.
//!
//! A login is a `sessions` row; each refresh hands out a new refresh token of that session and
//! marks the old one used. Presenting a used token again means it was copied: the whole
//! session (every token of that login, access tokens included) is revoked.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::auth::AuthUser;
use crate::auth::mfa::{self, MfaChallenge};
use crate::auth::password::PasswordHasher;
use crate::auth::tokens::JwtKeys;
use crate::auth::tokens::hash_token;
use crate::config::AuthSettings;
use crate::domain::Clock;
use crate::domain::Role;
use crate::domain::account::{FailedLoginOutcome, LockoutPolicy, normalize_email};
use crate::domain::clock::format_beijing;
use crate::error::AppError;
use crate::notify::{Kind, Notifier, Recipient};
use crate::store::models::{NewRefreshToken, NewSession, User, from_db, to_db};
use crate::store::{Conn, Db, sessions, users};

/// What login and refresh return.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// What logins need of the application. The application state implements it (`state.rs`), so
/// this layer never names the state of the layers above.
pub trait Services: Send + Sync + 'static {
    fn db(&self) -> &Db;
    fn clock(&self) -> &dyn Clock;
    fn jwt(&self) -> &JwtKeys;
    fn passwords(&self) -> &PasswordHasher;
    fn auth_settings(&self) -> &AuthSettings;
    /// Salt mixed into hashes of personal data written to the audit trail.
    fn pii_salt(&self) -> &[u8];
    fn notifier(&self) -> &Notifier;
    /// Mail limits (per account and per address).
    fn mail_settings(&self) -> &crate::config::MailSettings;
}

fn invalid_credentials() -> AppError {
    AppError::unauthorized("invalid_credentials", "the e-mail or password is wrong")
}

pub(crate) fn lockout_policy(auth: &AuthSettings) -> LockoutPolicy {
    LockoutPolicy {
        max_failed: auth.max_failed_logins,
        duration: Duration::minutes(i64::try_from(auth.lockout_minutes).unwrap_or(15)),
    }
}

pub(crate) fn role_of(user: &User) -> Result<Role, AppError> {
    Role::parse(&user.role)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad role in database")))
}

/// Creates the refresh token of a session and returns the pair.
pub(crate) fn issue_pair(
    state: &impl Services,
    conn: &mut Conn,
    user_id: i64,
    role: Role,
    session_id: i64,
    session_started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<TokenPair, AppError> {
    let refresh = crate::random::token();
    let days = i64::try_from(state.auth_settings().refresh_token_ttl_days).unwrap_or(30);
    // A refresh token never outlives its login's absolute lifetime.
    let expires_at =
        (now + Duration::days(days)).min(session_started + state.auth_settings().session_max());
    sessions::insert_refresh_token(
        conn,
        &NewRefreshToken {
            session_id,
            token_hash: &hash_token(&refresh),
            created_at: to_db(now),
            expires_at: to_db(expires_at),
        },
    )?;
    let access = state
        .jwt()
        .issue(user_id, role, session_id, now)
        .map_err(AppError::internal)?;
    Ok(TokenPair {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: state.jwt().ttl_seconds(),
    })
}

enum LoginOutcome {
    Success(TokenPair),
    /// The password was right and MFA is on: a code is still due.
    MfaRequired(MfaChallenge),
    Refused,
}

/// What a login with the right password answers.
#[derive(Debug)]
pub enum LoginAnswer {
    /// Signed in.
    Tokens(TokenPair),
    /// MFA is on: send a code with this token to `POST /api/v1/auth/mfa`.
    MfaRequired(MfaChallenge),
}

/// One login attempt, its password already checked, to be decided in one transaction.
#[derive(Clone)]
struct Attempt {
    now: DateTime<Utc>,
    policy: LockoutPolicy,
    pii_salt: Vec<u8>,
    email: String,
    password_ok: bool,
    meta: RequestMeta,
}

impl Attempt {
    /// No account has this e-mail: recorded (the address only as a salted hash) and refused.
    fn of_unknown(&self, c: &mut Conn) -> Result<LoginOutcome, AppError> {
        let (now, meta) = (self.now, &self.meta);
        audit::record(
            c,
            now,
            Event {
                stream: audit::SYSTEM_STREAM.to_string(),
                action: "auth.login_failed",
                actor: Actor::ANONYMOUS,
                payload: json!({"reason": "unknown_account", "email_hash": audit::pii_hash(&self.pii_salt, &self.email)}),
                meta,
            },
        )?;
        Ok(LoginOutcome::Refused)
    }

    /// An existing account: locked, wrong password (counted, maybe locking it) or a login.
    /// `seen` is the row the password was checked against, read before the transaction; the
    /// decision is taken on the row re-read under its lock, so parallel guesses queue here and
    /// each sees the lock the one before it set.
    fn of_user(
        &self,
        c: &mut Conn,
        st: &impl Services,
        seen: &User,
    ) -> Result<LoginOutcome, AppError> {
        let (now, meta, policy) = (self.now, &self.meta, &self.policy);
        let Some(user) = users::find_for_update(c, seen.id)? else {
            return self.of_unknown(c);
        };
        // A password changed meanwhile: what was checked is no longer the password.
        let attempt = Attempt {
            password_ok: self.password_ok && user.password_hash == seen.password_hash,
            ..self.clone()
        };
        let user = &user;
        let role = role_of(user)?;
        let actor = Actor::user(user.id, role);
        let stream = audit::user_stream(user.id);
        let refusal = if user.disabled_at.is_some() {
            Some("disabled")
        } else if policy.is_locked(user.locked_until.map(from_db), now) {
            Some("locked")
        } else {
            None
        };
        if let Some(reason) = refusal {
            audit::record(
                c,
                now,
                Event {
                    stream,
                    action: "auth.login_failed",
                    actor,
                    payload: json!({"reason": reason, "user_id": user.id}),
                    meta,
                },
            )?;
            return Ok(LoginOutcome::Refused);
        }
        if !attempt.password_ok {
            return attempt.wrong_password(c, st, user, role);
        }
        if crate::store::mfa::is_on(c, user.id)? {
            let challenge = mfa::challenge(c, st, user, role, now, meta)?;
            return Ok(LoginOutcome::MfaRequired(challenge));
        }
        let pair = open_session(c, st, user, role, now, meta, None)?;
        Ok(LoginOutcome::Success(pair))
    }

    /// A wrong password: counted, and the account locked when the policy says so.
    fn wrong_password(
        &self,
        c: &mut Conn,
        st: &impl Services,
        user: &User,
        role: Role,
    ) -> Result<LoginOutcome, AppError> {
        let failure = Failure {
            action: "auth.login_failed",
            reason: "wrong_password",
        };
        count_failure(c, st, user, role, self.now, &self.meta, failure)?;
        Ok(LoginOutcome::Refused)
    }
}

/// A failed attempt at one of the login's factors, as the audit trail names it.
pub(crate) struct Failure {
    pub action: &'static str,
    pub reason: &'static str,
}

/// Counts a failed attempt (a wrong password or a wrong second-factor code) toward the
/// account's lockout, and locks it when the policy says so. Returns whether it locked.
pub(crate) fn count_failure(
    c: &mut Conn,
    st: &impl Services,
    user: &User,
    role: Role,
    now: DateTime<Utc>,
    meta: &RequestMeta,
    failure: Failure,
) -> Result<bool, AppError> {
    let policy = lockout_policy(st.auth_settings());
    let actor = Actor::user(user.id, role);
    let stream = audit::user_stream(user.id);
    let counted = users::count_failed_login(c, user.id, now)?;
    let so_far = u32::try_from(counted - 1).unwrap_or(0);
    audit::record(
        c,
        now,
        Event {
            stream: stream.clone(),
            action: failure.action,
            actor,
            payload: json!({"reason": failure.reason, "user_id": user.id, "failed_logins": counted}),
            meta,
        },
    )?;
    let FailedLoginOutcome::Locked { until } = policy.on_failure(so_far, now) else {
        return Ok(false);
    };
    users::lock(c, user.id, until, now)?;
    st.notifier().queue(
        c,
        now,
        &Recipient::of(user),
        Kind::AccountLocked,
        json!({
            "failures": policy.max_failed,
            "locked_until": format_beijing(until),
            "client_ip": meta.ip_string().unwrap_or_else(|| "-".into()),
        }),
    )?;
    audit::record(
        c,
        now,
        Event {
            stream,
            action: "auth.locked",
            actor,
            payload: json!({"user_id": user.id, "locked_until": audit::chain::format_time(until)}),
            meta,
        },
    )?;
    Ok(true)
}

/// Every factor checked: failures cleared, a session and its tokens. `second_factor` names
/// the one used (`totp` or `recovery_code`) when MFA is on.
pub(crate) fn open_session(
    c: &mut Conn,
    st: &impl Services,
    user: &User,
    role: Role,
    now: DateTime<Utc>,
    meta: &RequestMeta,
    second_factor: Option<&'static str>,
) -> Result<TokenPair, AppError> {
    let actor = Actor::user(user.id, role);
    let stream = audit::user_stream(user.id);
    let after_lockout = user.locked_until.is_some();
    users::clear_failures(c, user.id, now)?;
    let ip = meta.ip_string();
    let session = sessions::insert_session(
        c,
        &NewSession {
            user_id: user.id,
            created_at: to_db(now),
            client_ip: ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
        },
    )?;
    let pair = issue_pair(st, c, user.id, role, session.id, now, now)?;
    if after_lockout {
        st.notifier().queue(
            c,
            now,
            &Recipient::of(user),
            Kind::LoginAfterLockout,
            json!({
                "login_at": format_beijing(now),
                "client_ip": meta.ip_string().unwrap_or_else(|| "-".into()),
            }),
        )?;
    }
    let mut payload =
        json!({"user_id": user.id, "session_id": session.id, "after_lockout": after_lockout});
    if let Some(factor) = second_factor {
        payload["second_factor"] = json!(factor);
    }
    audit::record(
        c,
        now,
        Event {
            stream,
            action: "auth.login",
            actor,
            payload,
            meta,
        },
    )?;
    Ok(pair)
}

/// Checks credentials and opens a login, or, for an account with MFA on, answers the
/// challenge its second step needs. Unknown, locked and wrong-password attempts all answer
/// 401 `invalid_credentials` after one password verification each.
pub async fn login<S: Services>(
    state: actix_web::web::Data<S>,
    email: String,
    password: String,
    meta: RequestMeta,
) -> Result<LoginAnswer, AppError> {
    let Ok(email) = normalize_email(&email) else {
        let s = state.clone();
        actix_web::web::block(move || s.passwords().verify_dummy(&password))
            .await
            .map_err(AppError::internal)?;
        return Err(invalid_credentials());
    };
    let lookup = email.clone();
    let user = state
        .db()
        .run(move |c| users::find_by_email(c, &lookup))
        .await?;
    let s = state.clone();
    let (user, password_ok) = actix_web::web::block(move || match user {
        Some(u) => {
            let ok = s.passwords().verify(&password, &u.password_hash);
            (Some(u), ok)
        }
        None => (None, s.passwords().verify_dummy(&password)),
    })
    .await
    .map_err(AppError::internal)?;

    let attempt = Attempt {
        now: state.clock().now(),
        policy: lockout_policy(state.auth_settings()),
        pii_salt: state.pii_salt().to_vec(),
        email,
        password_ok,
        meta,
    };
    let st = state.clone();
    let outcome = state
        .db()
        .tx(move |c| match user {
            Some(user) => attempt.of_user(c, &**st, &user),
            None => attempt.of_unknown(c),
        })
        .await?;
    match outcome {
        LoginOutcome::Success(pair) => Ok(LoginAnswer::Tokens(pair)),
        LoginOutcome::MfaRequired(challenge) => Ok(LoginAnswer::MfaRequired(challenge)),
        LoginOutcome::Refused => Err(invalid_credentials()),
    }
}

enum RefreshOutcome {
    Rotated(TokenPair),
    Unknown,
    Revoked,
    Expired,
    Reused,
}

/// Rotates one refresh token in the caller's transaction.
fn rotate(
    c: &mut Conn,
    st: &impl Services,
    hash: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<RefreshOutcome, AppError> {
    let Some((row, session)) = sessions::find_refresh_token(c, hash)? else {
        return Ok(RefreshOutcome::Unknown);
    };
    let Some((user, _)) = users::find_with_org(c, session.user_id)? else {
        return Ok(RefreshOutcome::Unknown);
    };
    let role = role_of(&user)?;
    let actor = Actor::user(user.id, role);
    if session.revoked_at.is_some() || user.disabled_at.is_some() {
        return Ok(RefreshOutcome::Revoked);
    }
    let started = from_db(session.created_at);
    if started + st.auth_settings().session_max() <= now {
        sessions::revoke_session(c, session.id, "lifetime", now)?;
        audit::record(
            c,
            now,
            Event {
                stream: audit::user_stream(user.id),
                action: "auth.session_expired",
                actor,
                payload: json!({"user_id": user.id, "session_id": session.id}),
                meta,
            },
        )?;
        return Ok(RefreshOutcome::Expired);
    }
    let expired = from_db(row.expires_at) <= now;
    if row.used_at.is_none() && expired {
        return Ok(RefreshOutcome::Expired);
    }
    // Already used, or used by a concurrent request a moment ago: a copied token.
    if row.used_at.is_some() || !sessions::mark_used(c, row.id, now)? {
        sessions::revoke_session(c, session.id, "refresh_token_reuse", now)?;
        audit::record(
            c,
            now,
            Event {
                stream: audit::user_stream(user.id),
                action: "auth.refresh_reuse_detected",
                actor,
                payload: json!({"user_id": user.id, "session_id": session.id, "token_id": row.id}),
                meta,
            },
        )?;
        return Ok(RefreshOutcome::Reused);
    }
    let pair = issue_pair(st, c, user.id, role, session.id, started, now)?;
    audit::record(
        c,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: "auth.refreshed",
            actor,
            payload: json!({"user_id": user.id, "session_id": session.id}),
            meta,
        },
    )?;
    Ok(RefreshOutcome::Rotated(pair))
}

/// Rotates a refresh token. A token presented twice revokes its whole login.
pub async fn refresh<S: Services>(
    state: actix_web::web::Data<S>,
    token: String,
    meta: RequestMeta,
) -> Result<TokenPair, AppError> {
    let now = state.clock().now();
    let hash = hash_token(&token);
    let st = state.clone();
    let outcome = state
        .db()
        .tx(move |c| rotate(c, &**st, &hash, &meta, now))
        .await?;
    match outcome {
        RefreshOutcome::Rotated(pair) => Ok(pair),
        RefreshOutcome::Unknown => Err(AppError::unauthorized(
            "invalid_token",
            "the refresh token is not valid",
        )),
        RefreshOutcome::Revoked => Err(AppError::unauthorized(
            "token_revoked",
            "this login has ended; sign in again",
        )),
        RefreshOutcome::Expired => Err(AppError::unauthorized(
            "token_expired",
            "the refresh token has expired; sign in again",
        )),
        RefreshOutcome::Reused => Err(AppError::unauthorized(
            "refresh_token_reused",
            "this refresh token was already used; every token of this login is now revoked",
        )),
    }
}

/// Ends the caller's login, and the login the refresh token belongs to if it is theirs.
pub async fn logout<S: Services>(
    state: actix_web::web::Data<S>,
    user: AuthUser,
    token: String,
    meta: RequestMeta,
) -> Result<(), AppError> {
    let now = state.clock().now();
    let hash = hash_token(&token);
    state
        .db()
        .tx(move |c| {
            let mut ended = Vec::new();
            if sessions::revoke_session(c, user.session_id, "logout", now)? {
                ended.push(user.session_id);
            }
            if let Some((_, session)) = sessions::find_refresh_token(c, &hash)?
                && session.user_id == user.id
                && session.id != user.session_id
                && sessions::revoke_session(c, session.id, "logout", now)?
            {
                ended.push(session.id);
            }
            audit::record(
                c,
                now,
                Event {
                    stream: audit::user_stream(user.id),
                    action: "auth.logout",
                    actor: Actor::user(user.id, user.role),
                    payload: json!({"user_id": user.id, "sessions_ended": ended}),
                    meta: &meta,
                },
            )?;
            Ok(())
        })
        .await
}
