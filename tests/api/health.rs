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

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let answers = [
        app.get("/health/live", None).await,
        app.get("/api/v1/listings", None).await,
        app.get("/api/v1/listings/999999", None).await,
        app.get("/api/v1/me", None).await,
        app.get("/no/such/path", None).await,
        app.get("/api-docs", None).await,
        app.get("/", None).await,
        app.raw("DELETE", "/health/live", &[], Vec::new()).await,
    ];
    for r in &answers {
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{} {csp}", r.status);
        assert!(r.header("referrer-policy").is_some(), "{}", r.status);
        // http:// public address (tests): no HSTS, which would pin browsers to https.
        assert!(r.header("strict-transport-security").is_none());
    }
    // The pages keep their own complete policy.
    assert!(
        answers[6]
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
}

#[actix_web::test]
async fn an_https_public_address_adds_hsts() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.server.public_base_url = "https://exchange.example.com".into();
    })
    .await;
    for path in ["/health/live", "/api/v1/listings", "/"] {
        let r = app.get(path, None).await;
        assert_eq!(
            r.header("strict-transport-security").as_deref(),
            Some("max-age=31536000; includeSubDomains"),
            "{path}"
        );
    }
}
