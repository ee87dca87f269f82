//! Changing and resetting a password, signing out everywhere, and an administrator disabling
//! or enabling an account. Each ends the logins it must in the same transaction as its
//! audit event.
//!
//! A reset link is a single-use random token stored only as a hash, valid for
//! `auth.password_reset_ttl_minutes`; asking for one answers the same whether or not the
//! address has an account.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::audit::{self, Actor, Event, RequestMeta};
use crate::auth::AuthUser;
use crate::auth::login::Services;
use crate::auth::tokens::hash_token;
use crate::auth::verify_email;
use crate::domain::Role;
use crate::domain::account::{check_password, normalize_email};
use crate::error::AppError;
use crate::notify::{Kind, Recipient};
use crate::store::models::User;
use crate::store::password_resets::{self, Redeemed};
use crate::store::{Conn, sessions, users};

fn user_role(user: &User) -> Result<Role, AppError> {
    Role::parse(&user.role)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad role in database")))
}

/// Hashes a new password on the blocking pool after checking it against the policy.
async fn new_hash<S: Services>(
    state: &actix_web::web::Data<S>,
    password: String,
    email: &str,
) -> Result<String, AppError> {
    check_password(&password, email).map_err(|e| AppError::field("new_password", e.message))?;
    let s = state.clone();
    actix_web::web::block(move || s.passwords().hash(&password))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

/// Sets a new password for the signed-in user after checking the current one; every other
/// login of the user ends. A wrong current password is 403 `wrong_password`.
pub async fn change_password<S: Services>(
    state: actix_web::web::Data<S>,
    caller: AuthUser,
    current: String,
    new: String,
    meta: RequestMeta,
) -> Result<(), AppError> {
    let id = caller.id;
    let (user, _) = state
        .db()
        .run(move |c| users::find_with_org(c, id))
        .await?
        .ok_or_else(|| AppError::unauthorized("token_revoked", "this account no longer exists"))?;
    let seen = user.password_hash.clone();
    let s = state.clone();
    let ok = actix_web::web::block(move || s.passwords().verify(&current, &seen))
        .await
        .map_err(AppError::internal)?;
    if !ok {
        return Err(wrong_password());
    }
    let hash = new_hash(&state, new, &user.email).await?;
    let now = state.clock().now();
    state
        .db()
        .tx(move |c| {
            let fresh = users::find_for_update(c, id)?.ok_or_else(wrong_password)?;
            // Changed by someone else since we checked: what was checked is stale.
            if fresh.password_hash != user.password_hash {
                return Err(wrong_password());
            }
            users::set_password(c, id, &hash, now)?;
            password_resets::retire_all(c, id, now)?;
            let ended = sessions::revoke_all_of_user(
                c,
                id,
                Some(caller.session_id),
                "password_changed",
                now,
            )?;
            audit::record(
                c,
                now,
                Event {
                    stream: audit::user_stream(id),
                    action: "user.password_changed",
                    actor: Actor::user(id, caller.role),
                    payload: json!({"user_id": id, "sessions_ended": ended}),
                    meta: &meta,
                },
            )
        })
        .await
}

fn wrong_password() -> AppError {
    AppError::Forbidden {
        code: "wrong_password",
        detail: "the current password is wrong".into(),
    }
}

/// Mails a reset link to the address if it belongs to an enabled account and the address may
/// receive one more unsolicited mail today. Always `Ok`: the caller answers 202 either way.
pub async fn request_reset<S: Services>(
    state: actix_web::web::Data<S>,
    email: String,
    meta: RequestMeta,
) -> Result<(), AppError> {
    let Ok(email) = normalize_email(&email) else {
        return Ok(());
    };
    let now = state.clock().now();
    let st = state.clone();
    state
        .db()
        .tx(move |c| {
            let Some(user) = users::find_by_email(c, &email)? else {
                return Ok(());
            };
            if user.disabled_at.is_some()
                || !verify_email::address_may_receive(c, st.mail_settings(), &user.email, now)?
            {
                return Ok(());
            }
            send_reset_link(c, &**st, &user, &meta, now)
        })
        .await
}

fn send_reset_link(
    c: &mut Conn,
    st: &impl Services,
    user: &User,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let minutes = st.auth_settings().password_reset_ttl_minutes;
    let token = crate::random::token();
    let ttl = Duration::minutes(i64::try_from(minutes).unwrap_or(30));
    password_resets::create(c, user.id, &hash_token(&token), now, now + ttl)?;
    st.notifier().queue(
        c,
        now,
        &Recipient::of(user),
        Kind::PasswordReset,
        json!({
            "reset_url": st.notifier().link(&format!("/reset-password?token={token}")),
            "ttl_minutes": minutes,
            "client_ip": meta.ip_string().unwrap_or_else(|| "-".into()),
        }),
    )?;
    audit::record(
        c,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: "user.password_reset_requested",
            actor: Actor::ANONYMOUS,
            payload: json!({"user_id": user.id}),
            meta,
        },
    )
}

/// Sets a new password with a reset token; the token is used up and every login of the user
/// ends. Unknown or used tokens: 400 `invalid_token`; expired: 400 `token_expired`.
pub async fn confirm_reset<S: Services>(
    state: actix_web::web::Data<S>,
    token: String,
    new: String,
    meta: RequestMeta,
) -> Result<(), AppError> {
    // The policy's e-mail check needs the account; the token names it, so peek first.
    let hash = hash_token(&token);
    let peek = hash.clone();
    let owner = state
        .db()
        .run(move |c| password_resets::owner(c, &peek))
        .await?;
    let email = owner.map(|u| u.email).unwrap_or_default();
    let password_hash = new_hash(&state, new, &email).await?;
    let now = state.clock().now();
    state
        .db()
        .tx(move |c| {
            let user_id = match password_resets::redeem(c, &hash, now)? {
                Redeemed::Valid { user_id } => user_id,
                Redeemed::Expired => {
                    return Err(AppError::bad_request(
                        "token_expired",
                        "this reset link has expired; ask for a new one",
                    ));
                }
                Redeemed::Unknown | Redeemed::AlreadyUsed => {
                    return Err(AppError::bad_request(
                        "invalid_token",
                        "this reset link is not valid (or was already used)",
                    ));
                }
            };
            let user = users::find_for_update(c, user_id)?
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("reset user vanished")))?;
            users::set_password(c, user_id, &password_hash, now)?;
            let ended = sessions::revoke_all_of_user(c, user_id, None, "password_reset", now)?;
            audit::record(
                c,
                now,
                Event {
                    stream: audit::user_stream(user_id),
                    action: "user.password_reset",
                    actor: Actor::user(user_id, user_role(&user)?),
                    payload: json!({"user_id": user_id, "sessions_ended": ended}),
                    meta: &meta,
                },
            )
        })
        .await
}

/// Ends every login of the caller, this one included.
pub async fn logout_all<S: Services>(
    state: actix_web::web::Data<S>,
    caller: AuthUser,
    meta: RequestMeta,
) -> Result<(), AppError> {
    let now = state.clock().now();
    state
        .db()
        .tx(move |c| {
            let ended = sessions::revoke_all_of_user(c, caller.id, None, "logout_all", now)?;
            audit::record(
                c,
                now,
                Event {
                    stream: audit::user_stream(caller.id),
                    action: "auth.logout_all",
                    actor: Actor::user(caller.id, caller.role),
                    payload: json!({"user_id": caller.id, "sessions_ended": ended}),
                    meta: &meta,
                },
            )
        })
        .await
}

/// An administrator disables (`true`) or enables (`false`) an account. Disabling ends every
/// login of the account at once; an administrator cannot disable themselves (409
/// `cannot_disable_self`). Returns the account afterwards.
pub fn set_disabled(
    c: &mut Conn,
    admin: &AuthUser,
    user_id: i64,
    disable: bool,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    if disable && user_id == admin.id {
        return Err(AppError::conflict(
            "cannot_disable_self",
            "an administrator cannot disable their own account",
        ));
    }
    users::find_for_update(c, user_id)?.ok_or_else(|| AppError::not_found("no such user"))?;
    let changed = users::set_disabled(c, user_id, disable.then_some(now), now)?;
    let ended = if disable {
        sessions::revoke_all_of_user(c, user_id, None, "disabled", now)?
    } else {
        0
    };
    if changed {
        audit::record(
            c,
            now,
            Event {
                stream: audit::user_stream(user_id),
                action: if disable {
                    "user.disabled"
                } else {
                    "user.enabled"
                },
                actor: Actor::user(admin.id, admin.role),
                payload: json!({"user_id": user_id, "sessions_ended": ended}),
                meta,
            },
        )?;
    }
    users::find_with_org(c, user_id)?
        .map(|(u, _)| u)
        .ok_or_else(|| AppError::not_found("no such user"))
}
