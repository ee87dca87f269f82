//! Keeping an account safe: changing and resetting the password, signing out everywhere,
//! disabling an account, and the absolute lifetime of a login.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, next_id, spawn_app, spawn_app_with};

const NEW_PASSWORD: &str = "Brand-New-Passphrase-73";

fn access(t: &Value) -> Option<&str> {
    t["access_token"].as_str()
}

async fn refresh(app: &TestApp, t: &Value) -> crate::helpers::Resp {
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": t["refresh_token"]}),
    )
    .await
}

/// Polls the stub mailer for a reset link sent to `email`; returns its token.
async fn reset_token(app: &TestApp, email: &str) -> Option<String> {
    for _ in 0..60 {
        let found = app.mailer_stub().into_iter().find_map(|m| {
            let start = m.text.find("/reset-password?token=")? + "/reset-password?token=".len();
            (m.to == email).then(|| {
                m.text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect::<String>()
            })
        });
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[actix_web::test]
async fn changing_the_password_ends_the_other_logins_only() {
    let app = spawn_app().await;
    let (email, here) = app.signed_in("bidder").await;
    let elsewhere = app.login(&email, PASSWORD).await.json();
    let body = json!({"current_password": "not-my-password-1", "new_password": NEW_PASSWORD});
    app.post("/api/v1/me/password", access(&here), &body)
        .await
        .assert_problem(403, "wrong_password");
    let weak = json!({"current_password": PASSWORD, "new_password": "short"});
    app.post("/api/v1/me/password", access(&here), &weak)
        .await
        .assert_problem(422, "validation_failed");
    // Nothing changed so far.
    assert_eq!(app.get("/api/v1/me", access(&elsewhere)).await.status, 200);

    let ok = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let r = app.post("/api/v1/me/password", access(&here), &ok).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(app.get("/api/v1/me", access(&here)).await.status, 200);
    app.get("/api/v1/me", access(&elsewhere))
        .await
        .assert_problem(401, "token_revoked");
    refresh(&app, &elsewhere)
        .await
        .assert_problem(401, "token_revoked");
    app.login(&email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status, 200);
    assert_eq!(app.audit_count(Some("user.password_changed")).await, 1);
}

#[actix_web::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_login() {
    let app = spawn_app().await;
    let (email, before) = app.signed_in("enterprise").await;
    let unknown = format!("nobody{}@example.com", next_id());
    for address in [&email, &unknown] {
        let r = app
            .post(
                "/api/v1/auth/password-reset",
                None,
                &json!({"email": address}),
            )
            .await;
        assert_eq!((r.status, r.body.len()), (202, 0), "{address}");
    }
    let token = reset_token(&app, &email).await.expect("a reset mail");
    assert!(reset_token(&app, &unknown).await.is_none());

    let weak = json!({"token": token, "new_password": "short"});
    app.post("/api/v1/auth/password-reset/confirm", None, &weak)
        .await
        .assert_problem(422, "validation_failed");
    let confirm = json!({"token": token, "new_password": NEW_PASSWORD});
    let r = app
        .post("/api/v1/auth/password-reset/confirm", None, &confirm)
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    app.get("/api/v1/me", access(&before))
        .await
        .assert_problem(401, "token_revoked");
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status, 200);
    // The link works once.
    let again = json!({"token": token, "new_password": "Yet-Another-Passphrase-9"});
    app.post("/api/v1/auth/password-reset/confirm", None, &again)
        .await
        .assert_problem(400, "invalid_token");
    assert_eq!(app.audit_count(Some("user.password_reset")).await, 1);
}

#[actix_web::test]
async fn a_reset_link_expires_after_thirty_minutes() {
    let app = spawn_app().await;
    let (email, _) = app.signed_in("bidder").await;
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": email}),
    )
    .await;
    let token = reset_token(&app, &email).await.expect("a reset mail");
    app.clock.advance(chrono::Duration::minutes(31));
    let confirm = json!({"token": token, "new_password": NEW_PASSWORD});
    app.post("/api/v1/auth/password-reset/confirm", None, &confirm)
        .await
        .assert_problem(400, "token_expired");
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn signing_out_everywhere_ends_every_login() {
    let app = spawn_app().await;
    let (email, one) = app.signed_in("bidder").await;
    let two = app.login(&email, PASSWORD).await.json();
    let r = app
        .post("/api/v1/auth/logout-all", access(&one), &json!({}))
        .await;
    assert_eq!(r.status, 204);
    for t in [&one, &two] {
        app.get("/api/v1/me", access(t))
            .await
            .assert_problem(401, "token_revoked");
        refresh(&app, t).await.assert_problem(401, "token_revoked");
    }
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn a_disabled_account_is_signed_out_at_once_and_cannot_sign_in() {
    let app = spawn_app().await;
    let (admin_id, admin) = app.staff("admin").await;
    let (email, t) = app.signed_in("bidder").await;
    let id = app.get("/api/v1/me", access(&t)).await.json()["id"]
        .as_i64()
        .unwrap();
    let r = app
        .post(
            &format!("/api/v1/admin/users/{id}/disable"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["disabled"], true);
    app.get("/api/v1/me", access(&t))
        .await
        .assert_problem(401, "token_revoked");
    refresh(&app, &t).await.assert_problem(401, "token_revoked");
    app.login(&email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    // A disabled account gets no reset link either.
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": email}),
    )
    .await;
    assert!(reset_token(&app, &email).await.is_none());

    let r = app
        .post(
            &format!("/api/v1/admin/users/{id}/enable"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!((r.status, &r.json()["disabled"]), (200, &json!(false)));
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    app.post(
        &format!("/api/v1/admin/users/{admin_id}/disable"),
        Some(&admin),
        &json!({}),
    )
    .await
    .assert_problem(409, "cannot_disable_self");
    app.post(
        "/api/v1/admin/users/99999999/disable",
        Some(&admin),
        &json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(app.audit_count(Some("user.disabled")).await, 1);
    assert_eq!(app.audit_count(Some("user.enabled")).await, 1);
}

#[actix_web::test]
async fn refreshing_does_not_extend_a_login_past_its_absolute_lifetime() {
    // Access tokens that outlive the login, so that the login's end is what stops them.
    let app = spawn_app_with(|s| s.auth.access_token_ttl_seconds = 4 * 3600).await;
    let max = i64::try_from(app.settings.auth.session_max_hours).unwrap();
    let (_, first) = app.signed_in("bidder").await;
    app.clock.advance(chrono::Duration::hours(max - 1));
    let second = refresh(&app, &first).await;
    assert_eq!(second.status, 200);
    let second = second.json();
    assert_eq!(app.get("/api/v1/me", access(&second)).await.status, 200);
    app.clock.advance(chrono::Duration::minutes(61));
    app.get("/api/v1/me", access(&second))
        .await
        .assert_problem(401, "token_revoked");
    refresh(&app, &second)
        .await
        .assert_problem(401, "token_expired");
}
