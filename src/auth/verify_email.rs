//! E-mail address verification: a single-use link sent at registration (and on request),
//! valid for `mail.verification_ttl_hours`; the token is stored only as a hash.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::auth::tokens::hash_token;
use crate::config::MailSettings;
use crate::domain::Role;
use crate::error::AppError;
use crate::notify::{Kind, Notifier, Recipient};
use crate::store::models::User;
use crate::store::verifications::{self, Redeemed};
use crate::store::{Conn, notifications, users};

/// Kinds of mail sent on request of someone who may not own the address.
pub const UNSOLICITED: [&str; 4] = [
    "welcome",
    "verify_email",
    "account_exists",
    "password_reset",
];

/// Refuses (429) a new verification link when the account asked for
/// `mail.resend_per_account_per_hour` in the last hour or its address was sent
/// `mail.unsolicited_per_address_per_day` unsolicited mails in the last 24 hours.
pub fn check_resend(
    conn: &mut Conn,
    limits: &MailSettings,
    user: &User,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let hour = now - Duration::hours(1);
    let mine = notifications::count_for_user_since(conn, user.id, &UNSOLICITED, hour)?;
    if mine >= i64::from(limits.resend_per_account_per_hour) {
        return Err(AppError::RateLimited {
            retry_after_seconds: 3600,
        });
    }
    if !address_may_receive(conn, limits, &user.email, now)? {
        return Err(AppError::RateLimited {
            retry_after_seconds: 24 * 3600,
        });
    }
    Ok(())
}

/// Whether `address` may get one more unsolicited mail today.
pub fn address_may_receive(
    conn: &mut Conn,
    limits: &MailSettings,
    address: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let day = now - Duration::hours(24);
    let sent = notifications::count_to_address_since(conn, address, &UNSOLICITED, day)?;
    Ok(sent < i64::from(limits.unsolicited_per_address_per_day))
}

/// Creates a fresh verification token for `user` and queues `kind` (welcome or
/// verify_email) with the link, in the caller's transaction.
pub fn send_link(
    conn: &mut Conn,
    notifier: &Notifier,
    user: &User,
    kind: Kind,
    ttl_hours: u64,
    extra: Value,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let token = crate::random::token();
    let ttl = Duration::hours(i64::try_from(ttl_hours).unwrap_or(24));
    verifications::create(conn, user.id, &hash_token(&token), now, now + ttl)?;
    let mut ctx = json!({
        "verify_url": notifier.link(&format!("/verify-email?token={token}")),
        "ttl_hours": ttl_hours,
    });
    if let (Some(map), Value::Object(more)) = (ctx.as_object_mut(), extra) {
        map.extend(more);
    }
    notifier.queue(conn, now, &Recipient::of(user), kind, ctx)?;
    Ok(())
}

/// Redeems a token; records `user.email_verified`. Unknown, used or expired tokens are
/// refused with 400 `invalid_token` / `token_expired`.
pub fn redeem(
    conn: &mut Conn,
    token: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    match verifications::redeem(conn, &hash_token(token), now)? {
        Redeemed::Verified { user_id } => {
            let role = users::find_with_org(conn, user_id)?
                .and_then(|(u, _)| Role::parse(&u.role))
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("verified user vanished")))?;
            audit::record(
                conn,
                now,
                Event {
                    stream: audit::user_stream(user_id),
                    action: "user.email_verified",
                    actor: Actor::user(user_id, role),
                    payload: json!({"user_id": user_id}),
                    meta,
                },
            )?;
            Ok(user_id)
        }
        Redeemed::Expired => Err(AppError::bad_request(
            "token_expired",
            "this verification link has expired; ask for a new one",
        )),
        Redeemed::Unknown | Redeemed::AlreadyUsed => Err(AppError::bad_request(
            "invalid_token",
            "this verification link is not valid (or was already used)",
        )),
    }
}
