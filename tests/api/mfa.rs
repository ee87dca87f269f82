//! Two-factor authentication (TOTP, RFC 6238): enrolment, the second step of a login, replay,
//! recovery codes, the lockout, and the roles that must use it. Codes are computed with the
//! same crate the exchange uses, at the exchange's time (`app.now()`); moving the test clock
//! by a step gives a fresh code.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use totp_rs::{Builder, Secret, Totp};

use crate::helpers::{PASSWORD, Resp, TestApp, spawn_app, spawn_app_with};

fn totp_of(secret: &str) -> Totp {
    Builder::new()
        .with_secret(Secret::try_from_base32(secret).expect("base32 secret"))
        .build()
        .expect("TOTP")
}

fn code_at(totp: &Totp, at: DateTime<Utc>) -> String {
    totp.generate(u64::try_from(at.timestamp()).unwrap())
        .to_string()
}

/// A six-digit code that is valid for no step the exchange accepts now.
fn wrong_code(totp: &Totp, at: DateTime<Utc>) -> String {
    let valid: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|s| code_at(totp, at + Duration::seconds(*s)))
        .collect();
    let mut n: u32 = valid[1].parse().unwrap();
    loop {
        n = (n + 1) % 1_000_000;
        let candidate = format!("{n:06}");
        if !valid.contains(&candidate) {
            return candidate;
        }
    }
}

/// Moves the exchange's clock one step on and returns the code of that step (the last code
/// used is then of an earlier step).
fn fresh_code(app: &TestApp, totp: &Totp) -> String {
    app.clock.advance(Duration::seconds(30));
    code_at(totp, app.now())
}

fn bearer(t: &Value) -> Option<&str> {
    t["access_token"].as_str()
}

/// Enrols the holder of `token` and confirms; returns the TOTP and the recovery codes.
async fn enrol(app: &TestApp, token: &str) -> (Totp, Vec<String>) {
    let r = app.post("/api/v1/me/mfa", Some(token), &json!({})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let totp = totp_of(r.json()["secret"].as_str().unwrap());
    let code = code_at(&totp, app.now());
    let r = app
        .post(
            "/api/v1/me/mfa/confirm",
            Some(token),
            &json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let codes = r.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (totp, codes)
}

/// Signs in with the password, expecting the 401 `mfa_required`; returns the mfa_token.
async fn first_step(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    let p = r.assert_problem(401, "mfa_required");
    assert!(p.get("access_token").is_none(), "{p}");
    assert_eq!(p["mfa_token_expires_in"], 300);
    p["mfa_token"].as_str().expect("mfa_token").to_string()
}

async fn second_step(app: &TestApp, mfa_token: &str, code: &str) -> Resp {
    app.post(
        "/api/v1/auth/mfa",
        None,
        &json!({"mfa_token": mfa_token, "code": code}),
    )
    .await
}

/// Payloads of the audit events of one action.
async fn payloads(app: &TestApp, action: &'static str) -> Vec<String> {
    use asset_exchange::store::schema::audit_events::dsl as a;
    use diesel::prelude::*;
    app.db()
        .run(move |c| {
            let rows: Vec<String> = asset_exchange::with_conn!(c, c => a::audit_events
                .filter(a::action.eq(action))
                .order(a::id.asc())
                .select(a::payload)
                .load(c))?;
            Ok(rows)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn enrolment_turns_mfa_on_and_then_a_login_needs_a_code() {
    let app = spawn_app().await;
    let (email, t) = app.signed_in("bidder").await;
    let token = bearer(&t).unwrap();
    let r = app.post("/api/v1/me/mfa", Some(token), &json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    let url = r.json()["otpauth_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    let from_url = Totp::from_url(&url).expect("a valid otpauth URL");
    assert_eq!(from_url.secret().to_base32(), secret);
    assert_eq!((from_url.digits(), from_url.step()), (6, 30));
    assert_eq!(from_url.issuer(), Some("asset-exchange"));
    // Pending: the login is still one step.
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);

    let totp = totp_of(&secret);
    let wrong = json!({"code": wrong_code(&totp, app.now())});
    app.post("/api/v1/me/mfa/confirm", Some(token), &wrong)
        .await
        .assert_problem(422, "invalid_mfa_code");
    let right = json!({"code": code_at(&totp, app.now())});
    let r = app
        .post("/api/v1/me/mfa/confirm", Some(token), &right)
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let codes = r.json()["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);
    assert_eq!(app.audit_count(Some("user.mfa_enabled")).await, 1);
    app.post("/api/v1/me/mfa", Some(token), &json!({}))
        .await
        .assert_problem(409, "mfa_already_enabled");
    app.post("/api/v1/me/mfa/confirm", Some(token), &right)
        .await
        .assert_problem(409, "mfa_already_enabled");

    let mfa_token = first_step(&app, &email).await;
    second_step(&app, &mfa_token, &wrong_code(&totp, app.now()))
        .await
        .assert_problem(401, "invalid_mfa_code");
    let r = second_step(&app, &mfa_token, &fresh_code(&app, &totp)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let pair = r.json();
    assert_eq!(app.get("/api/v1/me", bearer(&pair)).await.status, 200);
    assert!(pair["refresh_token"].is_string());
    // The token worked once.
    second_step(&app, &mfa_token, &fresh_code(&app, &totp))
        .await
        .assert_problem(401, "invalid_mfa_token");
    // Neither the secret nor any code is in the trail.
    for action in [
        "user.mfa_enrollment_started",
        "user.mfa_enabled",
        "auth.mfa_required",
        "auth.mfa_failed",
        "auth.login",
    ] {
        for p in payloads(&app, action).await {
            assert!(!p.contains(&secret), "{action}: {p}");
            assert!(codes.iter().all(|c| !p.contains(c.as_str().unwrap())));
        }
    }
    let logins = payloads(&app, "auth.login").await;
    assert!(
        logins
            .last()
            .unwrap()
            .contains("\"second_factor\":\"totp\"")
    );
}

#[actix_web::test]
async fn starting_again_replaces_a_pending_secret() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("enterprise").await;
    let token = bearer(&t).unwrap();
    let first = app
        .post("/api/v1/me/mfa", Some(token), &json!({}))
        .await
        .json();
    app.post(
        "/api/v1/me/mfa/confirm",
        Some(token),
        &json!({"code": "12345"}),
    )
    .await
    .assert_problem(422, "invalid_mfa_code");
    let second = app
        .post("/api/v1/me/mfa", Some(token), &json!({}))
        .await
        .json();
    assert_ne!(first["secret"], second["secret"]);
    let old = totp_of(first["secret"].as_str().unwrap());
    let new = totp_of(second["secret"].as_str().unwrap());
    let old_code = code_at(&old, app.now());
    if ![-30, 0, 30]
        .iter()
        .any(|s| code_at(&new, app.now() + Duration::seconds(*s)) == old_code)
    {
        app.post(
            "/api/v1/me/mfa/confirm",
            Some(token),
            &json!({"code": old_code}),
        )
        .await
        .assert_problem(422, "invalid_mfa_code");
    }
    let r = app
        .post(
            "/api/v1/me/mfa/confirm",
            Some(token),
            &json!({"code": code_at(&new, app.now())}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn confirming_without_an_enrolment_is_a_conflict() {
    let app = spawn_app().await;
    let (_, t) = app.signed_in("bidder").await;
    app.post(
        "/api/v1/me/mfa/confirm",
        bearer(&t),
        &json!({"code": "123456"}),
    )
    .await
    .assert_problem(409, "mfa_not_pending");
    app.post("/api/v1/me/mfa", None, &json!({}))
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_totp_code_cannot_be_replayed_within_its_step() {
    let app = spawn_app().await;
    let (email, t) = app.signed_in("bidder").await;
    let (totp, _) = enrol(&app, bearer(&t).unwrap()).await;
    let code = fresh_code(&app, &totp);
    let first = first_step(&app, &email).await;
    assert_eq!(second_step(&app, &first, &code).await.status, 200);
    // The same code again, at once, in another login: refused.
    let again = first_step(&app, &email).await;
    second_step(&app, &again, &code)
        .await
        .assert_problem(401, "invalid_mfa_code");
    let failed = payloads(&app, "auth.mfa_failed").await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("replayed_code"), "{}", failed[0]);
    assert!(!failed[0].contains(&code));
    // The code that confirmed the enrolment is not good for a login either.
    let (email2, t2) = app.signed_in("bidder").await;
    let r = app.post("/api/v1/me/mfa", bearer(&t2), &json!({})).await;
    let totp2 = totp_of(r.json()["secret"].as_str().unwrap());
    let confirm_code = code_at(&totp2, app.now());
    let r = app
        .post(
            "/api/v1/me/mfa/confirm",
            bearer(&t2),
            &json!({"code": confirm_code}),
        )
        .await;
    assert_eq!(r.status, 200);
    let m = first_step(&app, &email2).await;
    second_step(&app, &m, &confirm_code)
        .await
        .assert_problem(401, "invalid_mfa_code");
    // A later step's code works (the token survived the wrong code).
    assert_eq!(
        second_step(&app, &again, &fresh_code(&app, &totp))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn a_recovery_code_works_once() {
    let app = spawn_app().await;
    let (email, t) = app.signed_in("bidder").await;
    let (_, codes) = enrol(&app, bearer(&t).unwrap()).await;
    let m = first_step(&app, &email).await;
    // Typed in capitals with spaces around: still the code.
    let typed = format!(" {} ", codes[3].to_uppercase());
    let r = second_step(&app, &m, &typed).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(app.get("/api/v1/me", bearer(&r.json())).await.status, 200);
    let used = payloads(&app, "auth.mfa_recovery_code_used").await;
    assert_eq!(used.len(), 1);
    assert!(used[0].contains("\"recovery_codes_left\":9"), "{}", used[0]);
    assert!(!used[0].contains(&codes[3]));

    let m = first_step(&app, &email).await;
    second_step(&app, &m, &codes[3])
        .await
        .assert_problem(401, "invalid_mfa_code");
    assert_eq!(second_step(&app, &m, &codes[4]).await.status, 200);
}

#[actix_web::test]
async fn the_mfa_token_is_not_an_access_token_and_expires() {
    let app = spawn_app().await;
    let (email, t) = app.signed_in("bidder").await;
    let (totp, _) = enrol(&app, bearer(&t).unwrap()).await;
    let m = first_step(&app, &email).await;
    app.get("/api/v1/me", Some(&m))
        .await
        .assert_problem(401, "invalid_token");
    app.post("/api/v1/me/mfa", Some(&m), &json!({}))
        .await
        .assert_problem(401, "invalid_token");
    second_step(&app, "not-a-token", &fresh_code(&app, &totp))
        .await
        .assert_problem(401, "invalid_mfa_token");
    // Five minutes later it no longer works.
    app.clock.advance(Duration::seconds(301));
    second_step(&app, &m, &code_at(&totp, app.now()))
        .await
        .assert_problem(401, "invalid_mfa_token");
}

#[actix_web::test]
async fn wrong_codes_count_toward_the_lockout_and_the_password_does_not_reset_the_count() {
    let app = spawn_app().await;
    let (email, t) = app.signed_in("bidder").await;
    let (totp, _) = enrol(&app, bearer(&t).unwrap()).await;
    let m = first_step(&app, &email).await;
    for _ in 0..4 {
        second_step(&app, &m, &wrong_code(&totp, app.now()))
            .await
            .assert_problem(401, "invalid_mfa_code");
    }
    // The right password again opens a new challenge but clears nothing: one more wrong code
    // locks the account (five in a row, the login policy).
    let m2 = first_step(&app, &email).await;
    second_step(&app, &m2, &wrong_code(&totp, app.now()))
        .await
        .assert_problem(401, "invalid_mfa_code");
    assert_eq!(app.audit_count(Some("auth.locked")).await, 1);
    assert_eq!(app.audit_count(Some("auth.mfa_failed")).await, 5);
    // Locked: the right code does not help, and the password answers as for any lockout.
    second_step(&app, &m2, &fresh_code(&app, &totp))
        .await
        .assert_problem(401, "invalid_mfa_token");
    app.login(&email, PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

#[actix_web::test]
async fn staff_of_the_required_roles_must_enroll_before_anything_else() {
    let app = spawn_app_with(|s| s.auth.mfa_required_roles = "operator,auditor,admin".into()).await;
    let (_, email, token) = app.staff_account("operator").await;
    for path in ["/api/v1/notifications", "/api/v1/me", "/api/v1/listings"] {
        app.get(path, Some(&token))
            .await
            .assert_problem(403, "mfa_enrollment_required");
    }
    let (_, auditor) = app.staff("auditor").await;
    app.get("/api/v1/audit/events", Some(&auditor))
        .await
        .assert_problem(403, "mfa_enrollment_required");
    // Roles that need no MFA go on as before.
    let (_, t) = app.signed_in("bidder").await;
    assert_eq!(app.get("/api/v1/me", bearer(&t)).await.status, 200);

    let (totp, _) = enrol(&app, &token).await;
    assert_eq!(
        app.get("/api/v1/notifications", Some(&token)).await.status,
        200
    );
    let m = first_step(&app, &email).await;
    let r = second_step(&app, &m, &fresh_code(&app, &totp)).await;
    assert_eq!(r.status, 200);
    assert_eq!(app.get("/api/v1/me", bearer(&r.json())).await.status, 200);
    // Signing out is allowed before enrolling.
    let r = app
        .post("/api/v1/auth/logout-all", Some(&auditor), &json!({}))
        .await;
    assert_eq!(r.status, 204);
}

#[actix_web::test]
async fn the_openapi_document_describes_the_mfa_routes_and_answers() {
    let app = spawn_app().await;
    let doc = app.get("/api-docs/openapi.json", None).await.json();
    let paths = &doc["paths"];
    for path in [
        "/api/v1/me/mfa",
        "/api/v1/me/mfa/confirm",
        "/api/v1/auth/mfa",
        "/api/v1/admin/users/{id}/mfa/reset",
    ] {
        assert!(paths[path]["post"].is_object(), "{path} is not documented");
    }
    let login_401 = &paths["/api/v1/auth/login"]["post"]["responses"]["401"];
    assert!(
        login_401.to_string().contains("mfa_required"),
        "{login_401}"
    );
    let guarded = &paths["/api/v1/notifications"]["get"]["responses"]["403"]["description"];
    assert!(
        guarded
            .as_str()
            .unwrap()
            .contains("mfa_enrollment_required"),
        "{guarded}"
    );
    let enrol = &paths["/api/v1/me/mfa"]["post"]["responses"];
    assert!(enrol.get("403").is_none(), "{enrol}");
}

#[actix_web::test]
async fn one_code_sent_twice_at_once_signs_in_once() {
    let app = spawn_app().await;
    let (email, t) = app.signed_in("bidder").await;
    let (totp, _) = enrol(&app, bearer(&t).unwrap()).await;
    let (a, b) = (
        first_step(&app, &email).await,
        first_step(&app, &email).await,
    );
    let code = fresh_code(&app, &totp);
    let (ra, rb) =
        futures_util::future::join(second_step(&app, &a, &code), second_step(&app, &b, &code))
            .await;
    let mut statuses = [ra.status, rb.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{ra:?} {rb:?}");
    assert_eq!(app.audit_count(Some("auth.login")).await, 2); // sign-up's login and this one
}

/// An operator who lost both the authenticator and the recovery codes: an administrator
/// turns MFA off with a reason. Every login of the operator ends, the operator is mailed,
/// the trail names the administrator and the reason, and the password alone signs in again
/// (then, as a role that must use MFA, the operator enrols again before anything else).
#[actix_web::test]
async fn an_administrator_turns_off_the_mfa_of_an_operator_who_lost_the_device() {
    let app = spawn_app_with(|s| s.auth.mfa_required_roles = "operator".into()).await;
    let (admin_id, admin) = app.staff("admin").await;
    let (_, auditor) = app.staff("auditor").await;
    let (op_id, op_email, op) = app.staff_account("operator").await;
    enrol(&app, &op).await;
    let path = format!("/api/v1/admin/users/{op_id}/mfa/reset");

    // Refusals change nothing.
    app.post(&path, Some(&admin), &json!({"reason": "  "}))
        .await
        .assert_problem(422, "validation_failed");
    app.post(&path, Some(&op), &json!({"reason": "自己来"}))
        .await
        .assert_problem(403, "forbidden");
    app.post(
        &format!("/api/v1/admin/users/{admin_id}/mfa/reset"),
        Some(&admin),
        &json!({"reason": "自己"}),
    )
    .await
    .assert_problem(409, "cannot_reset_self");
    app.post(
        "/api/v1/admin/users/999999/mfa/reset",
        Some(&admin),
        &json!({"reason": "无此人"}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(app.audit_count(Some("user.mfa_reset")).await, 0);
    assert_eq!(app.get("/api/v1/me", Some(&op)).await.status, 200);

    let r = app
        .post(
            &path,
            Some(&admin),
            &json!({"reason": "工单 2026-118：手机遗失"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["id"], op_id);
    app.get("/api/v1/me", Some(&op))
        .await
        .assert_problem(401, "token_revoked");
    let events = app
        .get("/api/v1/audit/events?action=user.mfa_reset", Some(&auditor))
        .await
        .json();
    let e = &events["items"][0];
    assert_eq!(
        e["payload"]["reason"], "工单 2026-118：手机遗失",
        "{events}"
    );
    assert_eq!(e["actor_id"], admin_id);
    let mail: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|n| n.kind == "mfa_reset")
        .collect();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to_address, op_email);
    assert!(
        mail[0].body_text.contains("手机遗失"),
        "{}",
        mail[0].body_text
    );

    // The password alone signs in; the operator must enrol again before anything else.
    let t = app.login(&op_email, PASSWORD).await;
    assert_eq!(t.status, 200, "{}", String::from_utf8_lossy(&t.body));
    let fresh = bearer(&t.json()).unwrap().to_string();
    app.get("/api/v1/listings", Some(&fresh))
        .await
        .assert_problem(403, "mfa_enrollment_required");
    // Nothing left to turn off.
    app.post(&path, Some(&admin), &json!({"reason": "再来一次"}))
        .await
        .assert_problem(409, "mfa_not_enrolled");
}
