//! Hostile input: bodies over the limit, deep nesting, broken UTF-8, out-of-range numbers,
//! SQL in every text field and filter, header injection, path traversal and forged tokens.
//! Each answer is a 4xx problem with its code (or a refusal at the HTTP layer), never a 5xx,
//! and nothing changes behind it. (The basics are in `errors.rs` and `tokens.rs`.)

use asset_exchange::api::{Access, ROUTES};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{JWT_SECRET, PASSWORD, Resp, TestApp, spawn_app};
use crate::listings::{draft, listing};

/// A signed-in account of each role.
struct Tokens {
    enterprise: String,
    bidder: String,
    operator: String,
    auditor: String,
    admin: String,
}

impl Tokens {
    async fn new(app: &TestApp) -> Self {
        let (_, e) = app.signed_in("enterprise").await;
        let (_, bidder) = app.verified_bidder().await;
        Tokens {
            enterprise: e["access_token"].as_str().unwrap().to_string(),
            bidder,
            operator: app.staff("operator").await.1,
            auditor: app.staff("auditor").await.1,
            admin: app.staff("admin").await.1,
        }
    }

    /// A token of a role the route lets through.
    fn allowed(&self, access: Access) -> &str {
        match access {
            Access::Public | Access::SignedIn => &self.admin,
            Access::Roles(roles) | Access::Sandbox(roles) => match roles.first().copied() {
                Some("enterprise") => &self.enterprise,
                Some("bidder") => &self.bidder,
                Some("operator") => &self.operator,
                Some("auditor") => &self.auditor,
                _ => &self.admin,
            },
        }
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The route's path with harmless parameter values.
/// A 404 as the route answers it: a problem from the API, the 404 page from a public page.
fn not_found(r: &Resp, route: &str) {
    if asset_exchange::api::pages::is_page(route) {
        assert_eq!(r.status, 404, "{route}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/html; charset=utf-8"),
            "{route}"
        );
    } else {
        r.assert_problem(404, "not_found");
    }
}

fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
        .replace("{tree_size}", "1")
        .replace("{project_no}", "AX-CQ-2026-00001")
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn listing_count(app: &TestApp) -> i64 {
    use asset_exchange::store::schema::listings::dsl as l;
    use diesel::prelude::*;
    app.db()
        .run(move |c| {
            let n: i64 = asset_exchange::with_conn!(c, c => l::listings.count().get_result(c))?;
            Ok(n)
        })
        .await
        .expect("count")
}

/// Listings and audit events: what a refused request must leave as it was.
async fn footprint(app: &TestApp) -> (i64, i64) {
    (listing_count(app).await, app.audit_count(None).await)
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// An answer read off the wire, for requests no well-behaved client would send.
struct Wire {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Wire {
    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn problem_code(&self) -> Option<String> {
        let is_problem = self
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json");
        let p: Value = serde_json::from_slice(&self.body).ok()?;
        is_problem.then(|| p["code"].as_str().map(str::to_owned))?
    }

    /// The response's header names and values, lower-cased names.
    fn headers(&self) -> Vec<(String, String)> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect()
    }
}

/// Sends `request` byte for byte over a fresh connection and reads the whole answer.
async fn wire(app: &TestApp, request: Vec<u8>) -> Wire {
    let addr = app.address.trim_start_matches("http://").to_string();
    let bytes = actix_web::web::block(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(&request).expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    })
    .await
    .unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let body = bytes.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Wire { status, head, body }
}

/// A request with a raw target and raw header lines (each ending in CRLF).
fn request(method: &str, target: &[u8], headers: &[u8], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} ").into_bytes();
    r.extend_from_slice(target);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    r.extend_from_slice(headers);
    if !body.is_empty() {
        r.extend_from_slice(
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

// ---------------------------------------------------------------------------------------
// Bodies over the limit
// ---------------------------------------------------------------------------------------

/// A JSON object of exactly `len` bytes.
fn json_of_len(len: usize) -> Vec<u8> {
    let mut body = b"{\"padding\":\"".to_vec();
    body.resize(len - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

#[actix_web::test]
async fn a_body_over_the_default_limit_is_refused_with_413_on_every_route_that_reads_one() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let doc = app.get("/api-docs/openapi.json", None).await.json();
    let limit = app.settings.server.max_body_bytes;
    let big = json_of_len(limit + 1);
    let mut checked = 0;
    let mut writes: Vec<_> = ROUTES
        .iter()
        .filter(|r| !r.method.eq_ignore_ascii_case("get"))
        .collect();
    // Routes without a body that end logins (sign out everywhere, disable account 1) go last,
    // so that every route before them meets a caller still signed in.
    writes.sort_by_key(|r| r.path.ends_with("/logout-all") || r.path.ends_with("/disable"));
    for route in writes {
        let method = route.method.to_ascii_uppercase();
        let path = concrete(route.path, "1");
        let auth = bearer(t.allowed(route.access));
        let before = footprint(&app).await;
        let r = app
            .raw(
                &method,
                &path,
                &[
                    ("content-type", "application/json"),
                    ("authorization", &auth),
                    ("idempotency-key", "oversize-1"),
                ],
                big.clone(),
            )
            .await;
        assert!(r.status < 500, "{method} {path}: {}", text(&r));
        if doc["paths"][route.path][route.method]["requestBody"].is_object() {
            r.assert_problem(413, "payload_too_large");
            assert_eq!(
                footprint(&app).await,
                before,
                "{method} {path} changed something"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} routes take a body?");
    // The limit itself is allowed: one byte less than refused reaches the handler.
    let at_limit = {
        let mut b = br#"{"email":"nobody@example.com","password":"x"}"#.to_vec();
        b.resize(limit, b' ');
        b
    };
    app.raw(
        "POST",
        "/api/v1/auth/login",
        &[("content-type", "application/json")],
        at_limit,
    )
    .await
    .assert_problem(401, "invalid_credentials");
}

// ---------------------------------------------------------------------------------------
// Deep nesting
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn deeply_nested_json_inside_a_field_is_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let before = footprint(&app).await;
    let post = |body: String| {
        let auth = bearer(&t.enterprise);
        let app = &app;
        async move {
            app.raw(
                "POST",
                "/api/v1/listings",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &auth),
                ],
                body.into_bytes(),
            )
            .await
        }
    };
    // 8000 nested objects in the title (about 60 KiB, under the body limit).
    let n = 8000;
    let deep = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let body = serde_json::to_string(&listing(json!({"title": "x"})))
        .unwrap()
        .replace("\"x\"", &deep);
    post(body).await.assert_problem(400, "malformed_json");
    // Mixed arrays and objects, unbalanced, at the top level.
    post("[{\"a\":".repeat(6000))
        .await
        .assert_problem(400, "malformed_json");
    // The listing object plus 64 arrays is one level above the limit (64): too deep ...
    let nested = |depth: usize| {
        let v = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        serde_json::to_string(&listing(json!({"title": "x"})))
            .unwrap()
            .replace("\"x\"", &v)
    };
    post(nested(64)).await.assert_problem(400, "malformed_json");
    // ... while at the limit the wrong shape is an ordinary validation error on the field.
    let p = post(nested(63))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "title", "{p}");
    // Brackets inside a string are text, not nesting.
    let title = format!("{}{}", "[".repeat(100), "{".repeat(100));
    let r = post(serde_json::to_string(&listing(json!({"title": title}))).unwrap()).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(r.json()["title"], title.as_str());
    assert_eq!(footprint(&app).await.0, before.0 + 1);
    assert_eq!(app.get("/health/live", None).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// Invalid UTF-8
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn invalid_utf8_in_a_body_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let id = draft(&app, &t.enterprise, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/listings/{id}");
    let before = footprint(&app).await;
    let auth = bearer(&t.enterprise);
    for bad in [
        &b"{\"title\":\"\xff\xfe\"}"[..],
        b"{\"title\":\"\xc0\xaf\"}",        // overlong '/'
        b"{\"title\":\"\xed\xa0\x80\"}",    // a surrogate encoded as UTF-8
        b"{\"title\":\"\xe5\x8e\"}",        // a truncated sequence
        b"{\"title\":\"\\ud800\"}",         // a lone surrogate escape
        b"{\"title\":\"ok\",\"\xff\":1}",   // in a key
        b"\xef\xbb\xbf{\"title\":\"bom\"}", // a byte-order mark
    ] {
        let r = app
            .raw(
                "PATCH",
                &path,
                &[
                    ("content-type", "application/json"),
                    ("authorization", &auth),
                ],
                bad.to_vec(),
            )
            .await;
        r.assert_problem(400, "malformed_json");
        assert!(
            !text(&r).contains('\u{fffd}'),
            "the broken bytes are not echoed: {}",
            text(&r)
        );
    }
    assert_eq!(footprint(&app).await, before);
    assert_eq!(
        app.get(&path, Some(&t.enterprise)).await.json()["title"],
        "福州某国有企业100%股权转让"
    );
}

#[actix_web::test]
async fn invalid_utf8_in_a_query_string_is_400() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    // Raw (unencoded) bytes in the request line are refused by the HTTP layer itself.
    let w = wire(
        &app,
        request("GET", b"/api/v1/listings?q=\xff\xfe", b"", b""),
    )
    .await;
    assert_eq!(w.status, 400, "{}", w.head);
    // Percent-encoded, they reach the app, which must not quietly turn them into U+FFFD.
    let mut wrong = Vec::new();
    for (path, token) in [
        ("/api/v1/listings?q=%FF%FE", None),
        ("/api/v1/listings?q=%E5%8E", None),
        ("/api/v1/listings?q=%C0%AF", None),
        ("/api/v1/listings?kind=%FF", None),
        ("/api/v1/ocds/releases?since=%FF", None),
        ("/api/v1/audit/events?action=%FF", Some(t.auditor.as_str())),
        (
            "/api/v1/audit/events?stream=listing%3A%FF",
            Some(t.auditor.as_str()),
        ),
        ("/api/v1/audit/alerts?rule=%FF", Some(t.auditor.as_str())),
    ] {
        let r = app.get(path, token).await;
        let code = serde_json::from_slice::<Value>(&r.body)
            .ok()
            .map(|p| p["code"].clone());
        if r.status != 400 || code != Some(json!("invalid_query")) {
            wrong.push(format!("{path}: {} {}", r.status, text(&r)));
        }
    }
    assert!(wrong.is_empty(), "not refused:\n{}", wrong.join("\n"));
}

#[actix_web::test]
async fn invalid_utf8_in_a_path_segment_names_no_resource() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    for path in [
        "/api/v1/listings/%FF",
        "/api/v1/listings/%C0%AF",
        "/api/v1/listings/%FF/rounds",
        "/api/v1/ocds/records/%FF%FE",
        "/api/v1/audit/listings/%FF/report",
    ] {
        let r = app.get(path, Some(&t.admin)).await;
        r.assert_problem(404, "not_found");
        assert!(!text(&r).contains('\u{fffd}'), "{path}: {}", text(&r));
    }
    for target in [
        &b"/api/v1/listings/\xff"[..],
        b"/api/v1/ocds/records/\xff\xfe",
    ] {
        let w = wire(&app, request("GET", target, b"", b"")).await;
        assert_eq!(w.status, 400, "{}", w.head);
    }
}

// ---------------------------------------------------------------------------------------
// Numbers out of range
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn money_out_of_range_is_422_naming_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let before = footprint(&app).await;
    let auth = bearer(&t.enterprise);
    for field in ["appraised_value", "listing_price", "deposit", "increment"] {
        for (raw, status) in [
            ("1e400", 400),                // not even a JSON number a parser accepts
            ("99999999999999999999", 422), // beyond i64 and u64
            ("18446744073709551615", 422), // u64::MAX
            ("9223372036854775807", 422),  // i64::MAX fen would overflow
            ("-9223372036854775808", 422),
            ("\"1000000000000.01\"", 422), // one fen over the ceiling
            ("\"99999999999999999999.99\"", 422),
            ("-0", 422),
            ("\"-0\"", 422),
            ("\"-0.00\"", 422),
            ("0.1", 422),
            ("\"1e3\"", 422),
            ("\"NaN\"", 422),
            ("\"Infinity\"", 422),
            ("\"１００\"", 422), // full-width digits
        ] {
            let body = serde_json::to_string(&listing(json!({field: "PLACEHOLDER"})))
                .unwrap()
                .replace("\"PLACEHOLDER\"", raw);
            let r = app
                .raw(
                    "POST",
                    "/api/v1/listings",
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &auth),
                    ],
                    body.into_bytes(),
                )
                .await;
            if status == 400 {
                r.assert_problem(400, "malformed_json");
            } else {
                let p = r.assert_problem(422, "validation_failed");
                assert_eq!(p["errors"][0]["field"], field, "{field} = {raw}: {p}");
            }
        }
    }
    // Amounts of bids and quotes: the body is refused before anything is looked up.
    for path in ["/api/v1/listings/1/bids", "/api/v1/listings/1/quote"] {
        for amount in [
            json!("99999999999999999999"),
            json!(u64::MAX),
            json!("-0.01"),
        ] {
            let r = app
                .raw(
                    "POST",
                    path,
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &bearer(&t.bidder)),
                        ("idempotency-key", "huge-1"),
                    ],
                    serde_json::to_vec(&json!({ "amount": amount })).unwrap(),
                )
                .await;
            let p = r.assert_problem(422, "validation_failed");
            assert_eq!(p["errors"][0]["field"], "amount", "{path} {amount}");
        }
    }
    assert_eq!(footprint(&app).await, before);
}

#[actix_web::test]
async fn counts_out_of_range_are_422_not_a_listing_that_takes_minutes_to_approve() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let before = footprint(&app).await;
    for (field, value) in [
        ("disclosure_working_days", json!(4_294_967_296u64)),
        ("disclosure_working_days", json!(-1)),
        ("free_bidding_seconds", json!(u32::MAX)),
        ("countdown_seconds", json!(u32::MAX)),
        // Fits a u32, but counting that many working days runs to the end of the calendar
        // (year 262143) one day at a time: approving such a listing held a transaction
        // for minutes. A disclosure period has a sensible maximum; more is refused.
        ("disclosure_working_days", json!(u32::MAX)),
        ("disclosure_working_days", json!(100_000)),
        ("disclosure_working_days", json!(251)),
    ] {
        let r = app
            .post(
                "/api/v1/listings",
                Some(&t.enterprise),
                &listing(json!({ field: value })),
            )
            .await;
        assert_eq!(r.status, 422, "{field} = {value}: {}", text(&r));
        if field == "disclosure_working_days"
            && value
                .as_i64()
                .is_some_and(|v| (251..=i64::from(u32::MAX)).contains(&v))
        {
            assert_eq!(r.json()["code"], "disclosure_too_long", "{field} = {value}");
        }
    }
    assert_eq!(footprint(&app).await, before);
}

#[actix_web::test]
async fn ids_out_of_range_in_paths_are_404_on_every_route() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let before = footprint(&app).await;
    for route in ROUTES.iter().filter(|r| r.path.contains("{id}")) {
        let method = route.method.to_ascii_uppercase();
        let auth = bearer(t.allowed(route.access));
        // Not an i64 at all: refused before the handler, whatever the body.
        for id in [
            "99999999999999999999",
            "9223372036854775808",
            "-9223372036854775809",
            "1e3",
            "0x10",
            "1.0",
            "%201",
            "%EF%BC%91", // a full-width 1
        ] {
            let path = concrete(route.path, id);
            let r = app
                .raw(
                    &method,
                    &path,
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &auth),
                        ("idempotency-key", "ids-1"),
                    ],
                    if method == "GET" {
                        Vec::new()
                    } else {
                        b"{}".to_vec()
                    },
                )
                .await;
            assert_eq!(r.status, 404, "{method} {path}: {}", text(&r));
            not_found(&r, route.path);
        }
    }
    // In range but absent: every read says 404.
    for route in ROUTES
        .iter()
        .filter(|r| r.path.contains("{id}") && r.method.eq_ignore_ascii_case("get"))
    {
        for id in ["9223372036854775807", "-9223372036854775808", "0", "-1"] {
            let path = concrete(route.path, id);
            let r = app.get(&path, Some(&t.admin)).await;
            not_found(&r, route.path);
        }
    }
    assert_eq!(footprint(&app).await, before);
}

#[actix_web::test]
async fn numbers_out_of_range_in_queries_are_400_and_far_pages_are_empty() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    for (path, token) in [
        ("/api/v1/listings?page=4294967296", None),
        ("/api/v1/listings?per_page=99999999999999999999", None),
        ("/api/v1/listings?page=-1", None),
        ("/api/v1/listings?min_price=1e400", None),
        ("/api/v1/listings?max_price=99999999999999999999", None),
        ("/api/v1/listings?min_price=-0", None),
        ("/api/v1/listings?max_price=NaN", None),
        (
            "/api/v1/ocds/releases?since=%2B275760-09-13T00:00:00Z",
            None,
        ),
        (
            "/api/v1/audit/events?listing_id=99999999999999999999",
            Some(&t.auditor),
        ),
        (
            "/api/v1/audit/events?actor_id=-99999999999999999999",
            Some(&t.auditor),
        ),
        (
            "/api/v1/audit/events?from=99999-01-01T00:00:00Z",
            Some(&t.auditor),
        ),
        ("/api/v1/audit/alerts?listing_id=1e3", Some(&t.auditor)),
        (
            "/api/v1/audit/export?listing_id=99999999999999999999",
            Some(&t.auditor),
        ),
        (
            "/api/v1/audit/summary?from=0000-00-00T00:00:00Z",
            Some(&t.auditor),
        ),
        ("/api/v1/me/notifications?page=0", Some(&t.bidder)),
        ("/api/v1/notifications?per_page=101", Some(&t.operator)),
    ] {
        let r = app.get(path, token.map(String::as_str)).await;
        r.assert_problem(400, "invalid_query");
    }
    // The last possible page is simply empty on every paged list.
    for (path, token) in [
        ("/api/v1/listings", None),
        ("/api/v1/ocds/releases", None),
        ("/api/v1/me/notifications", Some(&t.bidder)),
        ("/api/v1/me/registrations", Some(&t.bidder)),
        ("/api/v1/notifications", Some(&t.operator)),
        ("/api/v1/audit/events", Some(&t.auditor)),
        ("/api/v1/audit/alerts", Some(&t.auditor)),
    ] {
        let r = app
            .get(
                &format!("{path}?page=4294967295&per_page=100"),
                token.map(String::as_str),
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", text(&r));
        let body = r.json();
        let items = body
            .get("items")
            .or_else(|| body.get("releases"))
            .and_then(Value::as_array)
            .map_or(usize::MAX, Vec::len);
        assert_eq!(items, 0, "{path}: {body}");
    }
}

// ---------------------------------------------------------------------------------------
// SQL injection
// ---------------------------------------------------------------------------------------

const INJECTIONS: [&str; 8] = [
    "' OR 1=1 --",
    "'); DROP TABLE listings; --",
    "\" OR \"\"=\"",
    "1; SELECT pg_sleep(5); --",
    "%' OR '%'='",
    "\\'; DELETE FROM audit_events; --",
    "') UNION SELECT id, email FROM users --",
    "x' AND (SELECT count(*) FROM sessions) > 0 --",
];

#[actix_web::test]
async fn sql_in_text_fields_is_stored_and_echoed_literally() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let before = listing_count(&app).await;
    let mut ids = Vec::new();
    for inj in INJECTIONS {
        let l = draft(
            &app,
            &t.enterprise,
            json!({"title": inj, "description": inj, "consent_document": inj}),
        )
        .await;
        assert_eq!(l["title"], inj);
        let id = l["id"].as_i64().unwrap();
        let back = app
            .get(&format!("/api/v1/listings/{id}"), Some(&t.enterprise))
            .await
            .json();
        assert_eq!(
            (
                &back["title"],
                &back["description"],
                &back["consent_document"]
            ),
            (&json!(inj), &json!(inj), &json!(inj))
        );
        ids.push(id);
    }
    assert_eq!(listing_count(&app).await, before + INJECTIONS.len() as i64);
    // Accounts: names and organisations are text too.
    for inj in INJECTIONS {
        let email = format!("sqli{}@example.com", crate::helpers::next_id());
        let r = app
            .register(json!({"email": email, "name": inj, "organization_name": format!("{inj} 有限公司")}))
            .await;
        assert_eq!(r.status, 201, "{inj}: {}", text(&r));
        let token = app.login(&email, PASSWORD).await.json()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let me = app.get("/api/v1/me", Some(&token)).await.json();
        assert_eq!(me["name"], inj);
        assert_eq!(me["organization"]["name"], format!("{inj} 有限公司"));
    }
    // An injection as the e-mail of a login is just a wrong address.
    for inj in INJECTIONS {
        app.login(inj, PASSWORD)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let verify = app
        .get("/api/v1/audit/verify", Some(&t.auditor))
        .await
        .json();
    assert_eq!(verify["valid"], true, "{verify}");
}

#[actix_web::test]
async fn sql_in_filters_matches_nothing_extra() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    // The owner's browse includes its own drafts: one plain listing and one injection.
    draft(&app, &t.enterprise, json!({"title": "厦门市办公楼转让"})).await;
    draft(
        &app,
        &t.enterprise,
        json!({"title": "'); DROP TABLE listings; --"}),
    )
    .await;
    let browse = |q: String| {
        let app = &app;
        let token = t.enterprise.clone();
        async move {
            let r = app
                .get(&format!("/api/v1/listings?q={}", enc(&q)), Some(&token))
                .await;
            assert_eq!(r.status, 200, "{q}: {}", text(&r));
            r.json()
        }
    };
    for inj in INJECTIONS {
        let page = browse(inj.to_string()).await;
        for item in page["items"].as_array().unwrap() {
            let title = item["title"].as_str().unwrap().to_lowercase();
            assert!(title.contains(&inj.to_lowercase()), "{inj} matched {title}");
        }
        let want = i64::from(inj == "'); DROP TABLE listings; --");
        assert_eq!(page["total"], want, "{inj}");
    }
    // LIKE wildcards are literal too.
    for wildcard in ["%", "_", "%%", "_%_", "\\", "[a-z]"] {
        assert_eq!(browse(wildcard.into()).await["total"], 0, "{wildcard}");
    }
    assert_eq!(browse(String::new()).await["total"], 2);
    // Other text filters: free text matches nothing; typed ones refuse the text.
    for inj in INJECTIONS {
        let q = enc(inj);
        for path in [
            format!("/api/v1/audit/events?action={q}"),
            format!("/api/v1/audit/events?stream={q}"),
        ] {
            let r = app.get(&path, Some(&t.auditor)).await;
            assert_eq!(r.status, 200, "{path}: {}", text(&r));
            assert_eq!(r.json()["total"], 0, "{path}");
        }
        for (path, token) in [
            (format!("/api/v1/audit/events?actor_id={q}"), &t.auditor),
            (format!("/api/v1/audit/events?listing_id={q}"), &t.auditor),
            (format!("/api/v1/audit/alerts?rule={q}"), &t.auditor),
            (format!("/api/v1/audit/alerts?severity={q}"), &t.auditor),
            (format!("/api/v1/audit/alerts?status={q}"), &t.auditor),
            (format!("/api/v1/audit/export?format={q}"), &t.auditor),
            (
                format!("/api/v1/audit/listings/1/report?format={q}"),
                &t.auditor,
            ),
            (format!("/api/v1/notifications?status={q}"), &t.operator),
            (format!("/api/v1/listings?status={q}"), &t.enterprise),
            (format!("/api/v1/listings?kind={q}"), &t.enterprise),
            (format!("/api/v1/listings?min_price={q}"), &t.enterprise),
            (format!("/api/v1/ocds/releases?since={q}"), &t.enterprise),
        ] {
            app.get(&path, Some(token))
                .await
                .assert_problem(400, "invalid_query");
        }
        app.get(&format!("/api/v1/ocds/records/{q}"), None)
            .await
            .assert_problem(404, "not_found");
    }
    assert_eq!(
        browse(String::new()).await["total"],
        2,
        "nothing was dropped"
    );
}

// ---------------------------------------------------------------------------------------
// Header injection
// ---------------------------------------------------------------------------------------

/// No response header was injected, and the request id is a plain token.
fn assert_clean_headers(w: &Wire, what: &str) {
    for (name, value) in w.headers() {
        assert!(
            !["set-cookie", "x-evil", "location"].contains(&name.as_str()),
            "{what}: injected header {name}: {value}\n{}",
            w.head
        );
        assert!(!value.contains("evil"), "{what}: {name}: {value}");
        if name == "x-request-id" {
            assert!(
                !value.is_empty()
                    && value.len() <= 64
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{what}: x-request-id {value:?}"
            );
        }
    }
    assert!(!w.body_text().contains("evil"), "{what}: {}", w.body_text());
}

#[actix_web::test]
async fn cr_and_lf_in_headers_are_refused_or_never_reach_a_response_header() {
    let app = spawn_app().await;
    let t = Tokens::new(&app).await;
    let before = footprint(&app).await;
    let bid = br#"{"amount":"10050000"}"#;
    let auth = format!("Authorization: Bearer {}\r\n", t.bidder).into_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "request id CRLF",
            b"X-Request-Id: abc\r\nSet-Cookie: evil=1\r\n".to_vec(),
        ),
        (
            "request id LF",
            b"X-Request-Id: abc\nSet-Cookie: evil=1\r\n".to_vec(),
        ),
        (
            "request id CR",
            b"X-Request-Id: abc\rSet-Cookie: evil=1\r\n".to_vec(),
        ),
        (
            "request id folded",
            b"X-Request-Id: abc\r\n Set-Cookie: evil=1\r\n".to_vec(),
        ),
        ("request id NUL", b"X-Request-Id: abc\x00evil\r\n".to_vec()),
        (
            "request id obs-text",
            b"X-Request-Id: abc\xffevil\r\n".to_vec(),
        ),
        (
            "authorization CR",
            b"Authorization: Bearer abc\rSet-Cookie: evil=1\r\n".to_vec(),
        ),
        (
            "authorization LF",
            b"Authorization: Bearer abc\nX-Evil: 1\r\n".to_vec(),
        ),
        (
            "authorization obs-text",
            b"Authorization: Bearer \xff\xfeevil\r\n".to_vec(),
        ),
        (
            "idempotency key CRLF",
            [&auth[..], b"Idempotency-Key: k1\r\nSet-Cookie: evil=1\r\n"].concat(),
        ),
        (
            "idempotency key CR",
            [&auth[..], b"Idempotency-Key: k1\rSet-Cookie: evil=1\r\n"].concat(),
        ),
        (
            "idempotency key LF",
            [&auth[..], b"Idempotency-Key: k1\nX-Evil: 1\r\n"].concat(),
        ),
    ];
    for (what, headers) in cases {
        let (method, target, body) = if what.starts_with("idempotency") {
            ("POST", &b"/api/v1/listings/1/bids"[..], &bid[..])
        } else {
            ("GET", &b"/api/v1/me"[..], &b""[..])
        };
        let w = wire(&app, request(method, target, &headers, body)).await;
        assert!(
            (400..500).contains(&w.status),
            "{what}: {} {}",
            w.head,
            w.body_text()
        );
        assert_clean_headers(&w, what);
        // Refused by the HTTP parser (bare 400), or answered by the app as a problem.
        if w.status != 400 || !w.body.is_empty() {
            assert!(w.problem_code().is_some(), "{what}: {}", w.head);
        }
    }
    // Keys a client library can send, but that are not visible ASCII, are refused.
    for key in [
        "a\tb".to_string(),
        " ".to_string(),
        "k".repeat(201),
        "ключ".to_string(),
    ] {
        let mut req = app
            .client
            .post(app.url("/api/v1/listings/1/bids"))
            .bearer_auth(&t.bidder);
        req = req.insert_header((
            "idempotency-key",
            awc::http::header::HeaderValue::from_bytes(key.as_bytes()).unwrap(),
        ));
        let mut resp = req.send_json(&json!({"amount": "10050000"})).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{key:?}");
        let p: Value = serde_json::from_slice(&resp.body().await.unwrap()).unwrap();
        assert_eq!(p["code"], "invalid_idempotency_key", "{key:?}");
    }
    // A request id that is too long or has odd characters is replaced, not echoed.
    for id in [
        "a".repeat(65),
        "abc%0d%0aSet-Cookie:evil".into(),
        "<script>".into(),
    ] {
        let r = app
            .raw(
                "GET",
                "/health/live",
                &[("x-request-id", id.as_str())],
                vec![],
            )
            .await;
        let echoed = r.header("x-request-id").unwrap();
        assert_ne!(echoed, id);
        assert!(
            echoed.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{echoed}"
        );
    }
    assert_eq!(footprint(&app).await, before);
}

// ---------------------------------------------------------------------------------------
// Path traversal
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn path_traversal_is_404_and_never_a_file() {
    let app = spawn_app().await;
    for target in [
        &b"/api/v1/../../etc/passwd"[..],
        b"/api/v1/%2e%2e/%2e%2e/etc/passwd",
        b"/api/v1/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        b"/api/v1/..%2f..%2fetc%2fpasswd",
        b"/api/v1/%252e%252e%252fetc%252fpasswd",
        b"/api/v1/..\\..\\etc\\passwd",
        b"/api-docs/../Cargo.toml",
        b"/api-docs/..%2fCargo.toml",
        b"/api-docs/%2e%2e/Cargo.toml",
        b"/api-docs/openapi.json/../../Cargo.toml",
        b"/api-docs/../src/main.rs",
        b"/%2e%2e/%2e%2e/etc/passwd",
        b"/api/v1/ocds/records/..%2f..%2fCargo.toml",
        b"/api/v1/ocds/records/%2e%2e%2f%2e%2e%2fCargo.toml",
        b"/api/v1/ocds/records/..",
        b"/api/v1/listings/1/../../../../etc/passwd",
        b"//etc/passwd",
        b"/api/v1/listings/%2e%2e",
    ] {
        let what = String::from_utf8_lossy(target).into_owned();
        let w = wire(&app, request("GET", target, b"", b"")).await;
        assert_eq!(w.status, 404, "{what}: {}", w.head);
        assert_eq!(w.problem_code().as_deref(), Some("not_found"), "{what}");
        let body = w.body_text();
        for secret in ["[package]", "root:", "fn main", "[dependencies]"] {
            assert!(!body.contains(secret), "{what} served a file: {body}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Forged and dead tokens
// ---------------------------------------------------------------------------------------

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn unb64(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::digest([pad(0x36), msg.to_vec()].concat());
    Sha256::digest([pad(0x5c), inner.to_vec()].concat()).to_vec()
}

/// A token with any header, signed HMAC-SHA256 with the real key whatever the header says.
fn hs256_as(header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let sig = hmac_sha256(JWT_SECRET.as_bytes(), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[actix_web::test]
async fn forged_tampered_and_dead_tokens_are_401_with_a_stable_code_and_change_nothing() {
    let app = spawn_app().await;
    let (email, pair) = app.signed_in("enterprise").await;
    let real = pair["access_token"].as_str().unwrap().to_string();
    let (_, other) = app.signed_in("enterprise").await;
    let other_token = other["access_token"].as_str().unwrap().to_string();
    let parts: Vec<&str> = real.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let claims = unb64(p);
    let other_claims = unb64(other_token.split('.').nth(1).unwrap());
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let now = chrono::Utc::now().timestamp();
    let kid = json!("k1");
    let mut cases: Vec<(&str, String, &str)> = vec![
        (
            "payload changed to admin, old signature",
            format!("{h}.{}.{s}", b64(&with("role", json!("admin")))),
            "invalid_token",
        ),
        (
            "payload changed to another user, old signature",
            format!("{h}.{}.{s}", b64(&with("sub", other_claims["sub"].clone()))),
            "invalid_token",
        ),
        (
            "expiry pushed out, old signature",
            format!("{h}.{}.{s}", b64(&with("exp", json!(now + 86_400)))),
            "invalid_token",
        ),
        (
            "HS512 with the real key",
            sign(Algorithm::HS512, Some("k1"), &claims),
            "invalid_token",
        ),
        (
            "HS384 with the real key",
            sign(Algorithm::HS384, Some("k1"), &claims),
            "invalid_token",
        ),
        (
            "RS256 header over an HMAC signature",
            hs256_as(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), &claims),
            "invalid_token",
        ),
        (
            "ES256 header over an HMAC signature",
            hs256_as(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), &claims),
            "invalid_token",
        ),
        (
            "unknown kid",
            hs256_as(&json!({"alg": "HS256", "typ": "JWT", "kid": "k2"}), &claims),
            "invalid_token",
        ),
        (
            "no kid",
            hs256_as(&json!({"alg": "HS256", "typ": "JWT"}), &claims),
            "invalid_token",
        ),
        (
            "kid as a path",
            hs256_as(
                &json!({"alg": "HS256", "typ": "JWT", "kid": "../../../../dev/null"}),
                &claims,
            ),
            "invalid_token",
        ),
        (
            "kid with SQL",
            hs256_as(
                &json!({"alg": "HS256", "typ": "JWT", "kid": "k1' OR '1'='1"}),
                &claims,
            ),
            "invalid_token",
        ),
        ("empty signature", format!("{h}.{p}."), "invalid_token"),
        (
            "another token's signature",
            format!("{h}.{p}.{}", other_token.split('.').nth(2).unwrap()),
            "invalid_token",
        ),
        ("two parts", format!("{h}.{p}"), "invalid_token"),
        ("four parts", format!("{real}.{s}"), "invalid_token"),
        ("padded base64", format!("{h}=.{p}.{s}"), "invalid_token"),
        (
            "signed, but sub is not a number",
            sign(
                Algorithm::HS256,
                Some("k1"),
                &with("sub", json!("1 OR 1=1")),
            ),
            "invalid_token",
        ),
        (
            "signed, but issued in the future",
            sign(
                Algorithm::HS256,
                Some("k1"),
                &with("iat", json!(now + 3600)),
            ),
            "invalid_token",
        ),
        (
            "signed, but expired",
            sign(Algorithm::HS256, Some("k1"), &with("exp", json!(now - 120))),
            "token_expired",
        ),
        (
            "signed, with another user's session",
            sign(
                Algorithm::HS256,
                Some("k1"),
                &with("sid", other_claims["sid"].clone()),
            ),
            "token_revoked",
        ),
        (
            "signed, with a session that never existed",
            sign(
                Algorithm::HS256,
                Some("k1"),
                &with("sid", json!(987_654_321)),
            ),
            "token_revoked",
        ),
    ];
    for alg in ["None", "NONE", "nOnE"] {
        let header = b64(&json!({"alg": alg, "typ": "JWT", "kid": "k1"}));
        cases.push((
            "alg none, any case",
            format!("{header}.{p}."),
            "invalid_token",
        ));
    }

    // Dead sessions: one deleted outright, one revoked behind the app's back.
    let deleted = app.login(&email, PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = app.login(&email, PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sid = |t: &str| unb64(t.split('.').nth(1).unwrap())["sid"].as_i64().unwrap();
    let (d, r) = (sid(&deleted), sid(&revoked));
    app.sql_both(&format!(
        "DELETE FROM refresh_tokens WHERE session_id = {d}; DELETE FROM sessions WHERE id = {d};"
    ))
    .await;
    app.sql_both(&format!(
        "UPDATE sessions SET revoked_at = CURRENT_TIMESTAMP, revoked_reason = 'test' WHERE id = {r};"
    ))
    .await;
    cases.push(("a deleted session", deleted, "token_revoked"));
    cases.push(("a revoked session", revoked, "token_revoked"));

    let before = footprint(&app).await;
    for (what, token, code) in &cases {
        let r = app
            .post("/api/v1/listings", Some(token), &listing(json!({})))
            .await;
        assert_eq!(r.status, 401, "{what}: {}", text(&r));
        let p = r.assert_problem(401, code);
        assert!(
            !text(&r).contains(token.as_str()),
            "{what}: token echoed: {p}"
        );
        app.get("/api/v1/me", Some(token))
            .await
            .assert_problem(401, code);
    }
    assert_eq!(
        footprint(&app).await,
        before,
        "a refused token changed something"
    );
    // The untouched token still works, so each refusal above was about the forgery.
    assert_eq!(app.get("/api/v1/me", Some(&real)).await.status, 200);
}

#[actix_web::test]
async fn a_properly_signed_token_claiming_admin_gets_only_its_real_role() {
    let app = spawn_app().await;
    let (_, pair) = app.signed_in("bidder").await;
    let real = pair["access_token"].as_str().unwrap();
    let mut claims = unb64(real.split('.').nth(1).unwrap());
    claims["role"] = json!("admin");
    let forged = sign(Algorithm::HS256, Some("k1"), &claims);
    let before = footprint(&app).await;
    app.post("/api/v1/audit/checkpoints", Some(&forged), &json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.get("/api/v1/audit/events", Some(&forged))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.get("/api/v1/me", Some(&forged)).await.json()["role"],
        "bidder"
    );
    assert_eq!(footprint(&app).await, before);
}
