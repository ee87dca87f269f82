//! Registration, login and `/me`.

use serde_json::json;

use crate::helpers::{PASSWORD, credit_code, next_id, spawn_app};

#[actix_web::test]
async fn valid_registration_creates_the_user_and_organisation() {
    let app = spawn_app().await;
    let code = credit_code();
    let r = app
        .register(json!({
            "email": "  Zhang.San@Example.COM ",
            "role": "enterprise",
            "organization_name": "福建省某某国有资产经营有限公司",
            "credit_code": code.to_lowercase(),
            "phone": "+86 138 0000 0000",
            "locale": "en",
        }))
        .await;
    assert_eq!(r.status, 201);
    let u = r.json();
    assert_eq!(u["email"], "zhang.san@example.com");
    assert_eq!(u["role"], "enterprise");
    assert_eq!(u["locale"], "en");
    assert_eq!(u["email_verified"], false);
    assert_eq!(u["organization"]["name"], "福建省某某国有资产经营有限公司");
    assert_eq!(u["organization"]["credit_code"], code);
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    assert_eq!(app.audit_count(Some("user.registered")).await, 1);
    assert_eq!(app.audit_count(Some("org.registered")).await, 1);
}

#[actix_web::test]
async fn registration_with_a_bad_credit_code_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let mut code = credit_code();
    let last = code.pop().unwrap();
    code.push(if last == '0' { '1' } else { '0' });
    let r = app.register(json!({"credit_code": code})).await;
    let p = r.assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "credit_code");
    assert_eq!(app.audit_count(None).await, 0);
}

#[actix_web::test]
async fn every_invalid_field_is_reported_at_once() {
    let app = spawn_app().await;
    let r = app
        .register(json!({
            "email": "not-an-email",
            "password": "short",
            "name": " ",
            "credit_code": "123",
            "phone": "call me",
            "locale": "fr",
        }))
        .await;
    let p = r.assert_problem(422, "validation_failed");
    let mut fields: Vec<String> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "credit_code",
            "email",
            "locale",
            "name",
            "password",
            "phone"
        ]
    );
}

#[actix_web::test]
async fn duplicate_email_in_another_case_is_a_conflict() {
    let app = spawn_app().await;
    let email = format!("dup{}@example.com", next_id());
    assert_eq!(app.register(json!({"email": email})).await.status, 201);
    let events = app.audit_count(None).await;
    let r = app.register(json!({"email": email.to_uppercase()})).await;
    r.assert_problem(409, "email_taken");
    assert_eq!(
        app.audit_count(None).await,
        events,
        "a refused request records nothing"
    );
}

#[actix_web::test]
async fn second_registration_of_one_credit_code_is_a_conflict() {
    let app = spawn_app().await;
    let code = credit_code();
    assert_eq!(app.register(json!({"credit_code": code})).await.status, 201);
    let r = app.register(json!({"credit_code": code})).await;
    r.assert_problem(409, "organization_exists");
}

#[actix_web::test]
async fn weak_passwords_are_refused() {
    let app = spawn_app().await;
    let email = format!("weak{}@example.com", next_id());
    for password in ["Short-1", "1234567890", "Password123", email.as_str()] {
        let r = app
            .register(json!({"email": email, "password": password}))
            .await;
        let p = r.assert_problem(422, "validation_failed");
        assert_eq!(p["errors"][0]["field"], "password", "{password}");
    }
}

#[actix_web::test]
async fn staff_roles_cannot_self_register() {
    let app = spawn_app().await;
    for role in ["operator", "auditor", "admin"] {
        app.register(json!({"role": role}))
            .await
            .assert_problem(403, "staff_role_not_allowed");
    }
    let p = app
        .register(json!({"role": "superuser"}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "role");
}

#[actix_web::test]
async fn login_returns_a_bearer_pair_and_me_shows_the_account() {
    let app = spawn_app().await;
    let email = format!("me{}@example.com", next_id());
    app.register(json!({"email": email, "phone": "13800000000"}))
        .await;
    let l = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(l.status, 200);
    let t = l.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert!(t["refresh_token"].as_str().unwrap().len() >= 40);
    let me = app.get("/api/v1/me", t["access_token"].as_str()).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["email"], email);
    assert_eq!(me["role"], "bidder");
    assert!(me["organization"]["id"].is_i64());
    assert_eq!(app.audit_count(Some("auth.login")).await, 1);
}

#[actix_web::test]
async fn wrong_password_and_unknown_account_answer_alike() {
    let app = spawn_app().await;
    let (email, _) = app.signed_in("bidder").await;
    let wrong = app.login(&email, "Wrong-Passphrase-42").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    let a = wrong.assert_problem(401, "invalid_credentials");
    let b = unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(a, b);
    assert_eq!(app.audit_count(Some("auth.login_failed")).await, 2);
}

#[actix_web::test]
async fn fifth_failure_locks_the_account_until_the_lock_expires() {
    let app = spawn_app().await;
    let (email, _) = app.signed_in("enterprise").await;
    for _ in 0..5 {
        app.login(&email, "Wrong-Passphrase-42")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(app.audit_count(Some("auth.locked")).await, 1);
    // The right password does not help while locked, and looks like a wrong one.
    let locked = app
        .login(&email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let wrong = app
        .login("nobody@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(locked, wrong);
    app.clock.advance(chrono::Duration::minutes(14));
    app.login(&email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    app.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn a_success_resets_the_failure_count() {
    let app = spawn_app().await;
    let (email, _) = app.signed_in("bidder").await;
    for _ in 0..4 {
        app.login(&email, "Wrong-Passphrase-42").await;
    }
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    for _ in 0..4 {
        app.login(&email, "Wrong-Passphrase-42").await;
    }
    assert_eq!(
        app.login(&email, PASSWORD).await.status,
        200,
        "four more failures must not lock"
    );
}

#[actix_web::test]
async fn login_is_rate_limited_per_client_ip() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.rate_limit.login_max_requests = 3;
        s.rate_limit.login_window_seconds = 60;
    })
    .await;
    for _ in 0..3 {
        app.login("nobody@example.com", PASSWORD)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let r = app.login("nobody@example.com", PASSWORD).await;
    r.assert_problem(429, "rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
}

#[actix_web::test]
async fn registration_is_rate_limited_per_client_ip() {
    let app = crate::helpers::spawn_app_with(|s| s.rate_limit.register_max_requests = 2).await;
    assert_eq!(app.register(json!({})).await.status, 201);
    assert_eq!(app.register(json!({})).await.status, 201);
    let r = app.register(json!({})).await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}
