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

/// Polls the stub mailer until `address` got `n` mails.
async fn mails_to(app: &crate::helpers::TestApp, address: &str, n: usize) -> Vec<String> {
    let mut subjects = Vec::new();
    for _ in 0..100 {
        subjects = app
            .mailer_stub()
            .into_iter()
            .filter(|m| m.to == address)
            .map(|m| m.subject)
            .collect();
        if subjects.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    subjects
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[actix_web::test]
async fn registering_a_taken_email_answers_like_a_new_one_and_mails_the_owner() {
    let app = spawn_app().await;
    let email = format!("dup{}@example.com", next_id());
    let first = app.register(json!({"email": email})).await;
    assert_eq!(first.status, 201);
    let fresh = app.register(json!({})).await;
    let again = app
        .register(json!({"email": email.to_uppercase(), "password": "Another-Passphrase-77"}))
        .await;
    // Same status and shape as a new account: nothing tells that the address was known.
    assert_eq!(
        (again.status, keys(&again.json())),
        (201, keys(&fresh.json()))
    );
    assert_eq!(again.json()["email"], email);
    assert_eq!(again.json()["email_verified"], false);
    assert!(first.json().get("id").is_none());
    // Nothing was created; the owner hears of it; the attempt is on record.
    assert_eq!(app.audit_count(Some("user.registered")).await, 2);
    assert_eq!(app.audit_count(Some("user.registration_repeated")).await, 1);
    let subjects = mails_to(&app, &email, 2).await;
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects[1].contains("注册"), "{subjects:?}");
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    app.login(&email, "Another-Passphrase-77")
        .await
        .assert_problem(401, "invalid_credentials");
}

#[actix_web::test]
async fn registering_a_known_credit_code_answers_alike_and_mails_the_company() {
    let app = spawn_app().await;
    let code = credit_code();
    let owner = format!("owner{}@example.com", next_id());
    let first = app
        .register(json!({"credit_code": code, "email": owner}))
        .await;
    assert_eq!(first.status, 201);
    let newcomer = format!("newcomer{}@example.com", next_id());
    let r = app
        .register(json!({"credit_code": code, "email": newcomer, "locale": "en"}))
        .await;
    assert_eq!((r.status, keys(&r.json())), (201, keys(&first.json())));
    assert_eq!(r.json()["organization"]["credit_code"], code);
    // No second account: the newcomer cannot sign in and got no mail; the owner did.
    app.login(&newcomer, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let subjects = mails_to(&app, &owner, 2).await;
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(mails_to(&app, &newcomer, 1).await.is_empty());
}

#[actix_web::test]
async fn repeated_registrations_mail_an_owner_only_up_to_the_daily_limit() {
    let app = crate::helpers::spawn_app_with(|s| s.mail.unsolicited_per_address_per_day = 3).await;
    let email = format!("bombed{}@example.com", next_id());
    assert_eq!(app.register(json!({"email": email})).await.status, 201);
    for _ in 0..6 {
        assert_eq!(app.register(json!({"email": email})).await.status, 201);
    }
    // The welcome mail and two warnings; the other attempts are only recorded.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(mails_to(&app, &email, 3).await.len(), 3);
    assert_eq!(app.audit_count(Some("user.registration_repeated")).await, 6);
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

#[actix_web::test]
async fn parallel_guesses_get_no_more_tries_than_the_lockout_allows() {
    let app = spawn_app().await;
    let email = format!("race{}@example.com", next_id());
    assert_eq!(app.register(json!({"email": email})).await.status, 201);
    let max = app.settings.auth.max_failed_logins as usize;
    let guesses = (0..4 * max).map(|i| {
        let (app, email) = (&app, email.clone());
        async move { app.login(&email, &format!("wrong-guess-number-{i}")).await }
    });
    let answers = futures_util::future::join_all(guesses).await;
    assert!(answers.iter().all(|r| r.status == 401));
    // Exactly `max` guesses were weighed against the password; every later one met the lock.
    assert_eq!(app.audit_count(Some("auth.locked")).await, 1);
    assert_eq!(
        app.audit_count(Some("auth.login_failed")).await,
        4 * max as i64
    );
    let locked = app.login(&email, PASSWORD).await;
    locked.assert_problem(401, "invalid_credentials");
}
