//! Access tokens, refresh rotation, reuse detection and logout.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, TestApp, spawn_app};

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap().to_string()
}

async fn refresh(app: &TestApp, token: &str) -> crate::helpers::Resp {
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": token}),
    )
    .await
}

fn claims(app: &TestApp, user_id: i64, sid: i64, iat: i64, exp: i64) -> Value {
    json!({
        "iss": app.settings.auth.jwt_issuer,
        "aud": app.settings.auth.jwt_audience,
        "sub": user_id.to_string(),
        "role": "bidder",
        "sid": sid,
        "iat": iat,
        "exp": exp,
        "jti": "forged",
    })
}

/// Signs claims with `secret` under key id `k1`.
fn sign(claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// The claims inside a token we were issued (for user and session ids).
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[actix_web::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let app = spawn_app().await;
    let (_, first) = app.signed_in("bidder").await;
    let r = refresh(&app, &s(&first, "refresh_token")).await;
    assert_eq!(r.status, 200);
    let second = r.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(
        app.get("/api/v1/me", Some(&s(&second, "access_token")))
            .await
            .status,
        200
    );
    // The next rotation works from the new token.
    let third = refresh(&app, &s(&second, "refresh_token")).await;
    assert_eq!(third.status, 200);
    assert_eq!(app.audit_count(Some("auth.refreshed")).await, 2);
}

#[actix_web::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_login() {
    let app = spawn_app().await;
    let (_, first) = app.signed_in("bidder").await;
    let second = refresh(&app, &s(&first, "refresh_token")).await.json();
    // The stolen old token is presented again.
    refresh(&app, &s(&first, "refresh_token"))
        .await
        .assert_problem(401, "refresh_token_reused");
    // Every token of that login is now dead, including the legitimate newer ones.
    refresh(&app, &s(&second, "refresh_token"))
        .await
        .assert_problem(401, "token_revoked");
    app.get("/api/v1/me", Some(&s(&second, "access_token")))
        .await
        .assert_problem(401, "token_revoked");
    app.get("/api/v1/me", Some(&s(&first, "access_token")))
        .await
        .assert_problem(401, "token_revoked");
    assert_eq!(
        app.audit_count(Some("auth.refresh_reuse_detected")).await,
        1
    );
}

#[actix_web::test]
async fn reuse_in_one_login_leaves_other_logins_alone() {
    let app = spawn_app().await;
    let (email, a) = app.signed_in("bidder").await;
    let b = app.login(&email, crate::helpers::PASSWORD).await.json();
    refresh(&app, &s(&a, "refresh_token")).await;
    refresh(&app, &s(&a, "refresh_token"))
        .await
        .assert_problem(401, "refresh_token_reused");
    assert_eq!(
        app.get("/api/v1/me", Some(&s(&b, "access_token")))
            .await
            .status,
        200
    );
    assert_eq!(refresh(&app, &s(&b, "refresh_token")).await.status, 200);
}

#[actix_web::test]
async fn unknown_refresh_token_is_invalid() {
    let app = spawn_app().await;
    refresh(&app, "not-a-token")
        .await
        .assert_problem(401, "invalid_token");
}

#[actix_web::test]
async fn logout_ends_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("enterprise").await;
    let access = s(&t, "access_token");
    let r = app
        .post(
            "/api/v1/auth/logout",
            Some(&access),
            &json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 204);
    app.get("/api/v1/me", Some(&access))
        .await
        .assert_problem(401, "token_revoked");
    refresh(&app, &s(&t, "refresh_token"))
        .await
        .assert_problem(401, "token_revoked");
    assert_eq!(app.audit_count(Some("auth.logout")).await, 1);
}

#[actix_web::test]
async fn logout_needs_a_signed_in_caller() {
    let app = spawn_app().await;
    app.post("/api/v1/auth/logout", None, &json!({"refresh_token": "x"}))
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn missing_or_malformed_bearer_is_401() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/me", None).await;
    r.assert_problem(401, "unauthorized");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let r = app
        .raw(
            "GET",
            "/api/v1/me",
            &[("authorization", "Basic dXNlcjpwYXNz")],
            vec![],
        )
        .await;
    r.assert_problem(401, "invalid_token");
    app.get("/api/v1/me", Some("garbage"))
        .await
        .assert_problem(401, "invalid_token");
}

#[actix_web::test]
async fn expired_token_is_refused_as_expired() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("bidder").await;
    let real = payload(&s(&t, "access_token"));
    let now = chrono::Utc::now().timestamp();
    let c = claims(
        &app,
        real["sub"].as_str().unwrap().parse().unwrap(),
        real["sid"].as_i64().unwrap(),
        now - 1000,
        now - 60,
    );
    app.get("/api/v1/me", Some(&sign(&c, JWT_SECRET.as_bytes())))
        .await
        .assert_problem(401, "token_expired");
    // The same claims with a live expiry pass, so it was the expiry that was refused.
    let c = claims(
        &app,
        real["sub"].as_str().unwrap().parse().unwrap(),
        real["sid"].as_i64().unwrap(),
        now,
        now + 60,
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&sign(&c, JWT_SECRET.as_bytes())))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn token_signed_with_another_key_is_invalid() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("bidder").await;
    let real = payload(&s(&t, "access_token"));
    let now = chrono::Utc::now().timestamp();
    let c = claims(
        &app,
        real["sub"].as_str().unwrap().parse().unwrap(),
        real["sid"].as_i64().unwrap(),
        now,
        now + 600,
    );
    app.get(
        "/api/v1/me",
        Some(&sign(&c, b"some-other-key-some-other-key-0000")),
    )
    .await
    .assert_problem(401, "invalid_token");
}

#[actix_web::test]
async fn unsigned_alg_none_token_is_invalid() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("bidder").await;
    let real = payload(&s(&t, "access_token"));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&real).unwrap());
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        app.get("/api/v1/me", Some(&token))
            .await
            .assert_problem(401, "invalid_token");
    }
}

#[actix_web::test]
async fn token_with_a_foreign_audience_or_issuer_is_invalid() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("bidder").await;
    let real = payload(&s(&t, "access_token"));
    let now = chrono::Utc::now().timestamp();
    for (k, v) in [("aud", "another-api"), ("iss", "someone-else")] {
        let mut c = claims(
            &app,
            real["sub"].as_str().unwrap().parse().unwrap(),
            real["sid"].as_i64().unwrap(),
            now,
            now + 600,
        );
        c[k] = json!(v);
        app.get("/api/v1/me", Some(&sign(&c, JWT_SECRET.as_bytes())))
            .await
            .assert_problem(401, "invalid_token");
    }
}

#[actix_web::test]
async fn issued_access_token_has_the_documented_claims() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("bidder").await;
    let token = s(&t, "access_token");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], "k1");
    let c = payload(&token);
    for claim in ["iss", "aud", "sub", "role", "exp", "iat", "jti", "sid"] {
        assert!(!c[claim].is_null(), "missing {claim}");
    }
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
}
