//! The sandbox clock: an admin moves the exchange's clock forward (never back), every instance
//! on the database follows, tokens age with it, and without the setting the path is not there.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, spawn_sibling};

#[actix_web::test]
async fn an_admin_moves_the_exchanges_clock_forward_and_it_never_goes_back() {
    let app = spawn_app().await;
    let (_, admin_email, admin) = app.staff_account("admin").await;
    let before = app.now();
    let r = app
        .post(
            "/api/v1/sandbox/clock",
            Some(&admin),
            &json!({"advance_seconds": 3 * 86_400}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    let now: chrono::DateTime<chrono::Utc> = body["now"].as_str().unwrap().parse().unwrap();
    assert!(now - before >= chrono::Duration::days(3), "{body}");
    assert!(now - before < chrono::Duration::days(3) + chrono::Duration::minutes(1));
    assert_eq!(body["offset_seconds"], 3 * 86_400);
    // Every reader now lives at the moved time.
    assert!(app.now() >= now);
    // The move is in the audit trail, with who made it.
    assert_eq!(app.audit_count(Some("sandbox.clock_advanced")).await, 1);
    // The admin's token was issued three days ago by the exchange's clock: it has expired.
    app.post(
        "/api/v1/sandbox/clock",
        Some(&admin),
        &json!({"advance_seconds": 1}),
    )
    .await
    .assert_problem(401, "token_expired");
    // Moves add up; nothing can move it back.
    let later = app.advance(&admin_email, chrono::Duration::hours(1)).await;
    assert!(later - now >= chrono::Duration::hours(1));
    let fresh = app.token(&admin_email).await;
    for bad in [
        json!({"advance_seconds": 0}),
        json!({"advance_seconds": -60}),
    ] {
        let r = app.post("/api/v1/sandbox/clock", Some(&fresh), &bad).await;
        assert_eq!(r.status, 422, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    assert!(app.now() >= later);
}

#[actix_web::test]
async fn only_admins_move_the_clock() {
    let app = spawn_app().await;
    let (_, operator) = app.staff("operator").await;
    let body = json!({"advance_seconds": 60});
    app.post("/api/v1/sandbox/clock", None, &body)
        .await
        .assert_problem(401, "unauthorized");
    app.post("/api/v1/sandbox/clock", Some(&operator), &body)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.audit_count(Some("sandbox.clock_advanced")).await, 0);
}

#[actix_web::test]
async fn without_the_setting_the_path_is_not_there_for_anyone() {
    let app = spawn_app_with(|s| s.sandbox.adjustable_clock = false).await;
    let (_, admin) = app.staff("admin").await;
    let body = json!({"advance_seconds": 60});
    let before = app.now();
    for token in [None, Some(admin.as_str())] {
        app.post("/api/v1/sandbox/clock", token, &body)
            .await
            .assert_problem(404, "not_found");
    }
    assert!(app.now() - before < chrono::Duration::seconds(30));
}

#[actix_web::test]
async fn a_second_instance_on_the_same_database_follows_the_move() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app, |_| {}).await;
    let (_, admin_email, _) = app.staff_account("admin").await;
    let moved = app.advance(&admin_email, chrono::Duration::days(10)).await;
    // The sibling adopts the stored offset on its next scheduler tick.
    let mut seen = sibling.now();
    for _ in 0..50 {
        seen = sibling.now();
        if seen >= moved {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen >= moved, "the sibling still reads {seen}, not {moved}");
    // And it serves the moved time to its readers.
    let r = sibling.get("/health/live", None).await;
    assert_eq!(r.status, 200);
}
