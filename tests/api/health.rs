//! Probes and the OpenAPI document.

use crate::helpers::spawn_app;

#[actix_web::test]
async fn live_and_ready_answer_200_with_a_database() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live", None).await.status, 200);
    let r = app.get("/health/ready", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["database"], "ok");
}

#[actix_web::test]
async fn openapi_document_covers_every_endpoint() {
    let app = spawn_app().await;
    let r = app.get("/api-docs/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/api-docs/openapi.json", "get"),
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} undocumented"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[actix_web::test]
async fn docs_page_is_served_without_outside_scripts() {
    let app = spawn_app().await;
    let r = app.get("/api-docs", None).await;
    assert_eq!(r.status, 200);
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains("/api-docs/openapi.json"));
    assert!(!html.contains("https://"), "no CDN scripts");
}
