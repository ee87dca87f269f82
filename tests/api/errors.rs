//! Every error is a problem document with a stable code; nothing leaks.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let r = app
        .raw(
            "POST",
            "/api/v1/auth/login",
            &[("content-type", "application/json")],
            b"{\"email\": ".to_vec(),
        )
        .await;
    r.assert_problem(400, "malformed_json");
}

#[actix_web::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let r = app
        .raw(
            "POST",
            "/api/v1/auth/login",
            &[("content-type", "text/plain")],
            b"{}".to_vec(),
        )
        .await;
    r.assert_problem(415, "unsupported_media_type");
    let r = app
        .raw("POST", "/api/v1/auth/login", &[], b"{}".to_vec())
        .await;
    r.assert_problem(415, "unsupported_media_type");
}

#[actix_web::test]
async fn unknown_field_is_422_naming_it() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "a@b.com", "password": "x", "role": "admin"}),
        )
        .await;
    let p = r.assert_problem(422, "validation_failed");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `role`")
    );
}

#[actix_web::test]
async fn missing_and_mistyped_fields_are_422() {
    let app = spawn_app().await;
    let p = app
        .post("/api/v1/auth/login", None, &json!({"email": "a@b.com"}))
        .await
        .assert_problem(422, "validation_failed");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("password")
    );
    let p = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": ["a"], "password": "x"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "email");
}

#[actix_web::test]
async fn oversize_body_is_413() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 1024).await;
    let big = json!({"email": "a@b.com", "password": "x".repeat(2000)});
    app.post("/api/v1/auth/login", None, &big)
        .await
        .assert_problem(413, "payload_too_large");
    // Without a declared length (chunked), the limit still holds.
    let body = serde_json::to_vec(&big).unwrap();
    let stream = futures_util::stream::iter(
        body.chunks(100)
            .map(|c| Ok::<_, std::io::Error>(actix_web::web::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let mut resp = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .insert_header(("content-type", "application/json"))
        .send_stream(stream)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let p: serde_json::Value = serde_json::from_slice(&resp.body().await.unwrap()).unwrap();
    assert_eq!(p["code"], "payload_too_large");
}

#[actix_web::test]
async fn deeply_nested_json_is_refused_without_a_crash() {
    let app = spawn_app().await;
    let body = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let r = app
        .raw(
            "POST",
            "/api/v1/auth/login",
            &[("content-type", "application/json")],
            body.into_bytes(),
        )
        .await;
    r.assert_problem(400, "malformed_json");
}

#[actix_web::test]
async fn invalid_utf8_is_400() {
    let app = spawn_app().await;
    let r = app
        .raw(
            "POST",
            "/api/v1/auth/login",
            &[("content-type", "application/json")],
            b"{\"email\":\"\xff\xfe\",\"password\":\"x\"}".to_vec(),
        )
        .await;
    r.assert_problem(400, "malformed_json");
}

#[actix_web::test]
async fn unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    app.get("/api/v1/nothing-here", None)
        .await
        .assert_problem(404, "not_found");
    app.get("/../../etc/passwd", None)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_echoes_a_sane_one() {
    let app = spawn_app().await;
    let r = app.get("/health/live", None).await;
    assert!(r.header("x-request-id").unwrap().len() >= 16);
    let r = app
        .raw(
            "GET",
            "/health/live",
            &[("x-request-id", "client-abc-123")],
            vec![],
        )
        .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("client-abc-123"));
    let r = app
        .raw(
            "GET",
            "/health/live",
            &[("x-request-id", "bad id\twith spaces")],
            vec![],
        )
        .await;
    assert_ne!(
        r.header("x-request-id").as_deref(),
        Some("bad id\twith spaces")
    );
}

#[actix_web::test]
async fn wrong_method_on_a_known_path_is_405() {
    let app = spawn_app().await;
    app.raw("DELETE", "/api/v1/me", &[], vec![])
        .await
        .assert_problem(405, "method_not_allowed");
    app.get("/api/v1/auth/login", None)
        .await
        .assert_problem(405, "method_not_allowed");
}

#[actix_web::test]
async fn every_route_in_the_table_is_documented_in_openapi() {
    let app = spawn_app().await;
    let doc = app.get("/api-docs/openapi.json", None).await.json();
    for route in asset_exchange::api::ROUTES {
        if route.path == "/api-docs" {
            continue; // the human page renders the document itself
        }
        assert!(
            doc["paths"][route.path][route.method].is_object(),
            "{} {} is not in the OpenAPI document",
            route.method,
            route.path
        );
    }
}
