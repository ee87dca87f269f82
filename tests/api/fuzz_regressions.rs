//! Regressions found by fuzzing the API from its own OpenAPI document (`scripts/fuzz`,
//! schemathesis). The first run failed on undocumented status codes: the problems that the
//! shared extractors answer with (401 from the token guard, 403 from the role guard, 400, 413,
//! 415 and 422 from the JSON body, 400 from a bad query string) were missing from most
//! operations, and six operation ids were used twice. These tests walk every documented
//! operation the way the fuzzer does and check that whatever it answers is documented.

use std::collections::HashMap;

use asset_exchange::api::{Access, ROUTES};
use serde_json::Value;

use crate::helpers::{Resp, TestApp, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let r = app.get("/api-docs/openapi.json", None).await;
    assert_eq!(r.status, 200);
    r.json()
}

/// Every documented operation as (method, path template, operation object).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// The path with its parameters filled in with values that parse.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{tree_size}", "1")
        .replace("{project_no}", "AX-NONE-2026-00001")
}

/// Sends one request and checks what came back against the operation's documentation: a
/// documented status, never a 5xx, and errors as problem documents.
async fn call_documented(
    app: &TestApp,
    method: &str,
    path: &str,
    op: &Value,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let r = app
        .raw(
            &method.to_uppercase(),
            &concrete(path),
            headers,
            body.to_vec(),
        )
        .await;
    let what = format!(
        "{} {path} answered {}: {}",
        method.to_uppercase(),
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.status < 500, "{what}");
    assert!(
        op["responses"].get(r.status.to_string()).is_some(),
        "undocumented status; {what}"
    );
    // A public page documents its own error pages as text/html.
    let page = r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html"))
        && op["responses"][r.status.to_string()]["content"]["text/html"].is_object();
    if r.status >= 400 && !page {
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{what}"
        );
        let p = r.json();
        assert_eq!(p["status"], r.status, "{what}");
        assert!(p["code"].is_string() && p["type"].is_string(), "{what}");
    }
    r
}

/// A signed-in token of a role each route lets through.
async fn tokens(app: &TestApp) -> HashMap<&'static str, String> {
    let (_, operator) = app.staff("operator").await;
    let (_, auditor) = app.staff("auditor").await;
    let (_, admin) = app.staff("admin").await;
    let (_, enterprise) = app.signed_in("enterprise").await;
    let (_, bidder) = app.signed_in("bidder").await;
    HashMap::from([
        ("operator", operator),
        ("auditor", auditor),
        ("admin", admin),
        (
            "enterprise",
            enterprise["access_token"].as_str().unwrap().into(),
        ),
        ("bidder", bidder["access_token"].as_str().unwrap().into()),
    ])
}

fn access(method: &str, path: &str) -> Access {
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap_or_else(|| panic!("{method} {path} is documented but not routed"))
        .access
}

fn allowed_token<'a>(
    tokens: &'a HashMap<&'static str, String>,
    method: &str,
    path: &str,
) -> Option<&'a str> {
    match access(method, path) {
        Access::Public => None,
        Access::SignedIn => Some(tokens["bidder"].as_str()),
        Access::Roles(roles) | Access::Sandbox(roles) => Some(tokens[roles[0]].as_str()),
    }
}

#[actix_web::test]
async fn every_route_is_documented_once_with_a_unique_operation_id() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let ops = operations(&doc);
    for route in ROUTES.iter().filter(|r| r.path != "/api-docs") {
        assert!(
            ops.iter()
                .any(|(m, p, _)| m == route.method && p == route.path),
            "{} {} is not in the OpenAPI document",
            route.method,
            route.path
        );
    }
    let mut seen = HashMap::new();
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().expect("operationId");
        if let Some(first) = seen.insert(id.to_string(), format!("{method} {path}")) {
            panic!("operationId {id} is used by {first} and by {method} {path}");
        }
    }
}

#[actix_web::test]
async fn guarded_operations_document_401_and_403() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let responses = &op["responses"];
        match access(&method, &path) {
            Access::Public => {}
            Access::SignedIn => assert!(responses.get("401").is_some(), "{method} {path}"),
            Access::Roles(_) | Access::Sandbox(_) => {
                assert!(responses.get("401").is_some(), "{method} {path}");
                assert!(responses.get("403").is_some(), "{method} {path}");
            }
        }
        if let Some(unauthorized) = responses.get("401") {
            assert!(
                unauthorized["headers"]["WWW-Authenticate"].is_object(),
                "{method} {path}: a 401 carries WWW-Authenticate"
            );
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.get(status).is_some(), "{method} {path} {status}");
            }
        }
    }
}

#[actix_web::test]
async fn every_operation_answers_a_caller_without_a_token_with_a_documented_status() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let json = [("content-type", "application/json")];
        let (headers, body): (&[(&str, &str)], &[u8]) = if op.get("requestBody").is_some() {
            (&json, b"{}")
        } else {
            (&[], b"")
        };
        let r = call_documented(&app, &method, &path, &op, headers, body).await;
        if !matches!(access(&method, &path), Access::Public) {
            assert_eq!(r.status, 401, "{method} {path}");
        }
    }
}

#[actix_web::test]
async fn every_operation_answers_a_bad_token_with_a_documented_status() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let bad = [("authorization", "Bearer not-a-token")];
    for (method, path, op) in operations(&doc) {
        let r = call_documented(&app, &method, &path, &op, &bad, b"").await;
        // Operations that read a token (required or optional) say so, and refuse a bad one.
        let reads_token = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(r.status == 401, reads_token, "{method} {path}");
    }
}

#[actix_web::test]
async fn bodies_that_are_not_json_get_documented_problems_on_every_operation_with_a_body() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let tokens = tokens(&app).await;
    for (method, path, op) in operations(&doc) {
        if op.get("requestBody").is_none() {
            continue;
        }
        let auth = allowed_token(&tokens, &method, &path).map(|t| format!("Bearer {t}"));
        let mut text = vec![("content-type", "text/plain")];
        let mut json = vec![("content-type", "application/json")];
        if let Some(a) = auth.as_deref() {
            text.push(("authorization", a));
            json.push(("authorization", a));
        }
        let r = call_documented(&app, &method, &path, &op, &text, b"hello").await;
        assert_eq!(r.status, 415, "{method} {path}");
        let r = call_documented(&app, &method, &path, &op, &json, b"{,}").await;
        assert_eq!(r.status, 400, "{method} {path}");
        let r = call_documented(&app, &method, &path, &op, &json, b"[1, 2]").await;
        assert_eq!(r.status, 422, "{method} {path}");
        // A field the server cannot do without is a required field of the documented body.
        let r = call_documented(&app, &method, &path, &op, &json, b"{}").await;
        if r.status == 422 {
            let message = r.json()["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
            {
                let schema = request_schema(&doc, &op);
                assert!(
                    schema["required"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|f| f == field)),
                    "{method} {path}: the server requires `{field}`, the document's body schema \
                     does not: {schema}"
                );
            }
        }
    }
}

/// The JSON body schema of an operation, its `$ref` resolved.
fn request_schema(doc: &Value, op: &Value) -> Value {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            doc["components"]["schemas"][name].clone()
        }
        None => schema.clone(),
    }
}

/// Found by schemathesis' `positive_data_acceptance` check: three pairs of types shared a
/// schema name (`RegisterRequest`, `ReviewRequest`, `OrganizationView`), so one silently
/// replaced the other in the document: `POST /auth/register` was documented with the
/// bidder's `{statement}` body and the listing review with the registration's decisions.
#[actix_web::test]
async fn types_that_share_a_name_keep_their_own_schemas() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let body = |method: &str, path: &str| {
        let op = &doc["paths"][path][method];
        request_schema(&doc, op)
    };
    let register = body("post", "/api/v1/auth/register");
    assert!(
        register["properties"]["credit_code"].is_object(),
        "{register}"
    );
    let intent = body("post", "/api/v1/listings/{id}/registrations");
    assert!(intent["properties"]["statement"].is_object(), "{intent}");
    let listing_review = body("post", "/api/v1/listings/{id}/review");
    assert!(
        listing_review["properties"]["disclosure_end"].is_object(),
        "{listing_review}"
    );
    let registration_review = body("post", "/api/v1/registrations/{id}/review");
    assert!(
        registration_review["properties"]["disclosure_end"].is_null(),
        "{registration_review}"
    );
    // Parameters that only take a few values list them, so a client (or a fuzzer) can know.
    let deposit = body("post", "/api/v1/registrations/{id}/deposit");
    assert_eq!(
        deposit["properties"]["action"]["enum"],
        serde_json::json!(["confirm", "refund", "forfeit"])
    );
    let export = &doc["paths"]["/api/v1/audit/export"]["get"];
    assert!(export["responses"]["200"]["content"]["text/csv"].is_object());
}

#[actix_web::test]
async fn paging_bounds_are_documented_and_out_of_range_pages_are_documented_400s() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let tokens = tokens(&app).await;
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let param = |name: &str| params.iter().find(|p| p["name"] == name).cloned();
        let (Some(page), Some(per_page)) = (param("page"), param("per_page")) else {
            continue;
        };
        // `page` is a u32: not "int32" (schemathesis sent 2147483648 and it was accepted).
        assert_eq!(page["schema"]["minimum"], 1, "{path} page");
        assert_eq!(page["schema"]["maximum"], 4294967295_i64, "{path} page");
        assert_ne!(page["schema"]["format"], "int32", "{path} page");
        assert_eq!(per_page["schema"]["minimum"], 1, "{path} per_page");
        assert_eq!(per_page["schema"]["maximum"], 100, "{path} per_page");
        let auth = allowed_token(&tokens, &method, &path).map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        for query in ["page=0", "per_page=0", "per_page=101", "page=x"] {
            let with_query = format!("{path}?{query}");
            let r = call_documented(&app, &method, &with_query, &op, &headers, b"").await;
            assert_eq!(r.status, 400, "{with_query}");
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} paged operations");
}

/// Found by the body walk above: `[1, 2]` for a listing, or `{"decision": 1}`, was answered
/// 400 "the body is not valid JSON: expected value", because serde_json reports a value of
/// the wrong kind where an enum is expected as a syntax error. The JSON is valid; its shape is
/// wrong: 422 `validation_failed` naming the field.
#[actix_web::test]
async fn a_value_of_the_wrong_kind_for_an_enum_field_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let (_, operator) = app.staff("operator").await;
    let (_, enterprise) = app.signed_in("enterprise").await;
    let enterprise = enterprise["access_token"].as_str().unwrap();

    let r = app
        .post(
            "/api/v1/listings/1/review",
            Some(&operator),
            &serde_json::json!({"decision": 1}),
        )
        .await;
    let p = r.assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "decision", "{p}");

    let r = app
        .post(
            "/api/v1/listings",
            Some(enterprise),
            &serde_json::json!({"kind": ["equity_transfer"], "title": "x"}),
        )
        .await;
    let p = r.assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "kind", "{p}");

    let r = app
        .post(
            "/api/v1/listings",
            Some(enterprise),
            &serde_json::json!([1, 2]),
        )
        .await;
    r.assert_problem(422, "validation_failed");

    // Broken JSON stays a 400.
    let r = app
        .raw(
            "POST",
            "/api/v1/listings",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {enterprise}")),
            ],
            b"{\"kind\": 1".to_vec(),
        )
        .await;
    r.assert_problem(400, "malformed_json");
}

/// Found by schemathesis' `unsupported_method` check: a 405 came without the `Allow` header
/// RFC 9110 requires.
#[actix_web::test]
async fn a_method_a_resource_does_not_have_is_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("TRACE", "/api/v1/audit/alerts", "GET"),
        ("DELETE", "/api/v1/listings/1", "GET, PATCH"),
        ("PUT", "/api/v1/listings/1/auction", "POST, GET"),
        ("GET", "/api/v1/auth/login", "POST"),
    ] {
        let r = app.raw(method, path, &[], Vec::new()).await;
        r.assert_problem(405, "method_not_allowed");
        assert_eq!(r.header("allow").as_deref(), Some(allow), "{method} {path}");
    }
    // An unknown path is still a plain 404, with no Allow, also below a prefix the
    // router matches as one scope (`/api/v1/listings/{id}`, `/api/v1/admin/users/{id}`).
    for path in [
        "/api/v1/nothing-here",
        "/api/v1/listings/1/nothing-here",
        "/api/v1/listings/1/bids/extra",
        "/api/v1/admin/users/1",
    ] {
        let r = app.raw("TRACE", path, &[], Vec::new()).await;
        r.assert_problem(404, "not_found");
        assert_eq!(r.header("allow"), None, "{path}");
    }
}

/// Found by fuzzing on PostgreSQL: a NUL character (U+0000) in a text field, a search term or
/// a project number was a 500, because PostgreSQL refuses it in text ("invalid byte sequence
/// for encoding UTF8: 0x00"); SQLite stored it. No text of this API may contain it: in a body
/// it is 422 naming the field, in the query string 400 `invalid_query`, in the path 404.
#[actix_web::test]
async fn a_nul_character_anywhere_in_a_request_is_refused_without_a_500() {
    let app = spawn_app().await;
    let (_, auditor) = app.staff("auditor").await;
    let (_, enterprise) = app.signed_in("enterprise").await;
    let enterprise = enterprise["access_token"].as_str().unwrap();
    let before = app.get("/api/v1/listings", Some(enterprise)).await.json()["total"].clone();

    let body = br#"{"kind":"asset_transfer","title":"a\u0000b","description":"d",
        "appraised_value":"1000000","appraisal_date":"2026-06-30","listing_price":"1000000",
        "deposit":"100000","increment":"10000","disclosure_working_days":20,
        "free_bidding_seconds":3600,"countdown_seconds":300}"#;
    let r = app
        .raw(
            "POST",
            "/api/v1/listings",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {enterprise}")),
            ],
            body.to_vec(),
        )
        .await;
    let p = r.assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "title", "{p}");
    let after = app.get("/api/v1/listings", Some(enterprise)).await.json()["total"].clone();
    assert_eq!(before, after, "nothing was created");

    let r = app
        .raw(
            "POST",
            "/api/v1/audit/alerts/1/acknowledge",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {auditor}")),
            ],
            br#"{"comment": "checked \u0000"}"#.to_vec(),
        )
        .await;
    let p = r.assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "comment", "{p}");

    for path in [
        "/api/v1/listings?q=%00",
        "/api/v1/listings?q=a%00b",
        "/api/v1/ocds/releases?since=2026-01-01T00:00:00Z%00",
    ] {
        app.get(path, None)
            .await
            .assert_problem(400, "invalid_query");
    }
    for path in [
        "/api/v1/audit/events?action=%00",
        "/api/v1/audit/events?stream=%00",
    ] {
        app.get(path, Some(&auditor))
            .await
            .assert_problem(400, "invalid_query");
    }
    app.get("/api/v1/ocds/records/AX%00", None)
        .await
        .assert_problem(404, "not_found");
    // A request id still comes back on the refusal.
    let r = app.get("/api/v1/listings?q=%00", None).await;
    assert!(r.header("x-request-id").is_some());
}
