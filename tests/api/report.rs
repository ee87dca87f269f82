//! The auditor's report on one listing: a listing driven from disclosure through an auction to
//! a closed deal, reported as JSON and as a printable page; who may read it; escaping of user
//! text; and an edited event found by the report's verification.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Resp, TestApp, credit_code, next_id, spawn_app, spawn_app_with};
use crate::listings::{Cast, approved, approved_with, draft, in_secs};

/// Registers an account of `role` for `organization`, confirms its e-mail if it is a bidder,
/// and signs in; returns the access token.
async fn account(app: &TestApp, role: &str, organization: &str, domain: &str) -> String {
    let email = format!("{role}{}@{domain}", next_id());
    let r = app
        .register(json!({
            "email": email, "role": role, "name": "张敏",
            "organization_name": organization, "credit_code": credit_code(),
        }))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    if role == "bidder" {
        let mut token = None;
        for _ in 0..100 {
            token = app
                .mailer_stub()
                .into_iter()
                .find(|m| m.to == email && m.text.contains("token="))
                .map(|m| {
                    let start = m.text.find("token=").unwrap() + 6;
                    m.text[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect::<String>()
                });
            if token.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = app
            .post(
                "/api/v1/auth/verify-email",
                None,
                &json!({"token": token.expect("verification mail")}),
            )
            .await;
        assert_eq!(r.status, 204);
    }
    let l = app.login(&email, PASSWORD).await;
    assert_eq!(l.status, 200);
    l.json()["access_token"].as_str().unwrap().to_string()
}

/// A seller with a proper name, an operator and an auditor.
async fn named_cast(app: &TestApp) -> Cast {
    let owner = account(
        app,
        "enterprise",
        "福建省某国有资本运营有限公司",
        "fjgz.example",
    )
    .await;
    let (_, operator_email, operator) = app.staff_account("operator").await;
    let (_, auditor_email, auditor) = app.staff_account("auditor").await;
    Cast {
        owner,
        operator,
        auditor,
        // The owner's e-mail is not kept: these tests never renew it.
        emails: [String::new(), operator_email, auditor_email],
    }
}

/// A bidder of `organization` that registers on listing `id` from `ip` with `agent`, is
/// qualified and pays its deposit; returns (token, registration id).
async fn registered_bidder(
    app: &TestApp,
    c: &Cast,
    id: i64,
    organization: &str,
    domain: &str,
    ip: &str,
    agent: &str,
) -> (String, i64) {
    let token = account(app, "bidder", organization, domain).await;
    let r = app
        .raw(
            "POST",
            &format!("/api/v1/listings/{id}/registrations"),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
                ("x-forwarded-for", ip),
                ("user-agent", agent),
            ],
            serde_json::to_vec(&json!({"statement": "有意受让，资金已落实。"})).unwrap(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let rid = r.json()["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/registrations/{rid}/review"),
            Some(&c.operator),
            &json!({"decision": "qualify", "comment": "材料齐全"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = app
        .post(
            &format!("/api/v1/registrations/{rid}/deposit"),
            Some(&c.operator),
            &json!({"action": "confirm", "reference": format!("BZJ-2026-{rid:04}")}),
        )
        .await;
    assert_eq!(r.json()["deposit_status"], "paid");
    (token, rid)
}

async fn bid(app: &TestApp, id: i64, token: &str, amount: &str, ip: &str) -> Resp {
    let key = format!("r-{}", next_id());
    app.raw(
        "POST",
        &format!("/api/v1/listings/{id}/bids"),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
            ("idempotency-key", &key),
            ("x-forwarded-for", ip),
        ],
        serde_json::to_vec(&json!({"amount": amount})).unwrap(),
    )
    .await
}

async fn wait_until(app: &TestApp, path: &str, field: &str, want: &str) -> Value {
    let mut v = Value::Null;
    for _ in 0..100 {
        v = app.get(path, None).await.json();
        if v[field] == want {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    v
}

async fn deal_step(app: &TestApp, c: &Cast, id: i64, step: &str, body: Value) {
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/deal/{step}"),
            Some(&c.operator),
            &body,
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "{step}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

fn report_path(id: i64, format: Option<&str>) -> String {
    match format {
        Some(f) => format!("/api/v1/audit/listings/{id}/report?format={f}"),
        None => format!("/api/v1/audit/listings/{id}/report"),
    }
}

async fn report(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app.get(&report_path(id, None), Some(token)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    r.json()
}

async fn page(app: &TestApp, token: &str, id: i64) -> String {
    let r = app.get(&report_path(id, Some("html")), Some(token)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    String::from_utf8(r.body).expect("UTF-8 page")
}

async fn sign_checkpoint(app: &TestApp, auditor: &str) -> Value {
    let r = app
        .post("/api/v1/audit/checkpoints", Some(auditor), &json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Where `scripts/report-screenshot` finds the page the main test received.
fn sample_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-sample")
}

const AGENT_A: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const AGENT_B: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
const AGENT_C: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[actix_web::test]
async fn the_report_of_an_auctioned_listing_tells_the_whole_story_in_json_and_html() {
    // Arrange: disclosure, three paid registrations (two from one address), an auction with
    // three bids, a deal closed with a certificate, and a signed checkpoint.
    let app = spawn_app_with(|s| s.server.trust_forwarded_for = true).await;
    let c = named_cast(&app).await;
    let id = approved_with(
        &app,
        &c,
        json!({
            "title": "福州某国有企业100%股权转让",
            "description": "转让标的为福州某国有企业100%股权。评估基准日2026年6月30日，评估值1000万元。\n受让方须承接标的企业现有职工。",
            "free_bidding_seconds": 2, "countdown_seconds": 3,
        }),
        &in_secs(600),
    )
    .await;
    let (a, _) = registered_bidder(
        &app,
        &c,
        id,
        "厦门海某投资有限公司",
        "haimou.example",
        "203.0.113.10",
        AGENT_A,
    )
    .await;
    let (b, _) = registered_bidder(
        &app,
        &c,
        id,
        "福州闽某实业有限公司",
        "minmou.example",
        "203.0.113.10",
        AGENT_B,
    )
    .await;
    registered_bidder(
        &app,
        &c,
        id,
        "泉州清某资产管理有限公司",
        "qingmou.example",
        "198.51.100.23",
        AGENT_C,
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(601));
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let auction = format!("/api/v1/listings/{id}/auction");
    assert_eq!(
        wait_until(&app, &auction, "phase", "free").await["phase"],
        "free"
    );
    assert_eq!(
        bid(&app, id, &a, "10000000", "203.0.113.10").await.status,
        201
    );
    assert_eq!(
        bid(&app, id, &b, "10050000", "203.0.113.10").await.status,
        201
    );
    assert_eq!(
        wait_until(&app, &auction, "phase", "countdown").await["phase"],
        "countdown"
    );
    assert_eq!(
        bid(&app, id, &a, "10100000", "203.0.113.10").await.status,
        201
    );
    let listing = format!("/api/v1/listings/{id}");
    assert_eq!(
        wait_until(&app, &listing, "status", "awarded").await["status"],
        "awarded"
    );
    let signed = (chrono::Utc::now() + chrono::Duration::seconds(601)).to_rfc3339();
    deal_step(&app, &c, id, "contract", json!({"signed_at": signed})).await;
    deal_step(
        &app,
        &c,
        id,
        "payment",
        json!({"reference": "JY-PAY-2026-0815"}),
    )
    .await;
    deal_step(&app, &c, id, "announce", json!({})).await;
    deal_step(&app, &c, id, "close", json!({})).await;
    let checkpoint = sign_checkpoint(&app, &c.auditor).await;

    // Act
    let r = report(&app, &c.auditor, id).await;
    let html = page(&app, &c.auditor, id).await;

    // Assert: the listing with its seller.
    let l = &r["listing"];
    assert_eq!(
        (l["id"].as_i64(), l["status"].as_str()),
        (Some(id), Some("closed"))
    );
    assert_eq!(l["seller"]["name"], "福建省某国有资本运营有限公司");
    let seller_code = l["seller"]["credit_code"].as_str().unwrap().to_string();
    assert_eq!(seller_code.len(), 18);
    assert_eq!(r["rounds"].as_array().unwrap().len(), 1);

    // The timeline is the listing's audit stream, event for event.
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&per_page=100"),
            Some(&c.auditor),
        )
        .await
        .json();
    let trail: Vec<(i64, String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["stream_seq"].as_i64().unwrap(),
                e["action"].as_str().unwrap().to_string(),
                e["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let timeline = r["timeline"].as_array().unwrap();
    let told: Vec<(i64, String, String)> = timeline
        .iter()
        .map(|e| {
            (
                e["stream_seq"].as_i64().unwrap(),
                e["action"].as_str().unwrap().to_string(),
                e["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(told, trail);
    assert_eq!(events["total"].as_i64(), Some(timeline.len() as i64));
    let bids_told: Vec<&str> = timeline
        .iter()
        .filter(|e| e["action"] == "bid.placed")
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(bids_told.len(), 3);
    assert!(bids_told[2].contains("10,100,000.00"), "{}", bids_told[2]);
    assert!(
        timeline
            .iter()
            .all(|e| e["occurred_at_beijing"].is_string() && e["problem"].is_null())
    );

    // Registrations with deposits, addresses and browsers (auditors only).
    let regs = r["registrations"].as_array().unwrap();
    assert_eq!(regs.len(), 3);
    let ips: Vec<&str> = regs
        .iter()
        .map(|g| g["client_ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["203.0.113.10", "203.0.113.10", "198.51.100.23"]);
    assert_eq!(regs[0]["user_agent"], AGENT_A);
    assert_eq!(regs[0]["organization"]["name"], "厦门海某投资有限公司");
    assert_eq!(
        regs[0]["organization"]["credit_code"]
            .as_str()
            .unwrap()
            .len(),
        18
    );
    let deposits: Vec<&str> = regs
        .iter()
        .map(|g| g["deposit_status"].as_str().unwrap())
        .collect();
    assert_eq!(deposits, ["converted", "refunded", "refunded"]);
    assert!(regs.iter().all(|g| {
        g["deposit_reference"]
            .as_str()
            .unwrap()
            .starts_with("BZJ-2026-")
    }));
    assert!(
        regs.iter()
            .all(|g| g["bidder_code"].is_string() && g["deposit_due_at"].is_string())
    );

    // Every bid, with the organisation behind its code.
    let auctions = r["auctions"].as_array().unwrap();
    assert_eq!(auctions.len(), 1);
    let bids = auctions[0]["bids"].as_array().unwrap();
    let amounts: Vec<(i64, &str, &str)> = bids
        .iter()
        .map(|b| {
            (
                b["seq"].as_i64().unwrap(),
                b["amount"].as_str().unwrap(),
                b["organization_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        [
            (1, "10000000.00", "厦门海某投资有限公司"),
            (2, "10050000.00", "福州闽某实业有限公司"),
            (3, "10100000.00", "厦门海某投资有限公司"),
        ]
    );
    assert!(bids.iter().all(|b| b["client_ip"] == "203.0.113.10"));
    assert_eq!(bids[0]["bidder_code"], regs[0]["bidder_code"]);

    // The deal, closed with its certificate.
    let d = &r["deal"];
    assert_eq!(
        (d["price"].as_str(), d["status"].as_str()),
        (Some("10100000.00"), Some("closed"))
    );
    assert_eq!(d["winner"]["name"], "厦门海某投资有限公司");
    assert_eq!(d["payment_reference"], "JY-PAY-2026-0815");
    let certificate = d["certificate_no"].as_str().unwrap().to_string();

    // The alerts are the listing's alerts; two bidders from one address are among them.
    let alerts = app
        .get(
            &format!("/api/v1/audit/alerts?listing_id={id}&per_page=100"),
            Some(&c.auditor),
        )
        .await
        .json();
    let mut want: Vec<i64> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let mut got: Vec<i64> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(
        r["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "related_bidders"),
        "{}",
        r["alerts"]
    );

    // Verified, and covered by the checkpoint just signed.
    let v = &r["verification"];
    assert_eq!(v["stream"], format!("listing:{id}"));
    assert_eq!(v["valid"], true, "{v}");
    assert!(v["first_invalid"].is_null());
    assert_eq!(v["events_checked"].as_u64(), Some(timeline.len() as u64));
    assert_eq!(v["head"]["seq"].as_i64(), Some(timeline.len() as i64));
    assert_eq!(v["head"]["hash"], timeline.last().unwrap()["hash"]);
    assert_eq!(v["covered"], true, "{v}");
    assert_eq!(v["events_after_checkpoint"], 0);
    let cp = &v["latest_checkpoint"];
    assert_eq!(cp["id"], checkpoint["id"]);
    assert_eq!(cp["root"], checkpoint["root"]);
    assert_eq!(cp["signature_verified"], true);
    assert_eq!(cp["signed_head"], v["head"]);

    // The page says the same, self-contained, with user text escaped.
    for text in [
        l["project_no"].as_str().unwrap(),
        "福州某国有企业100%股权转让",
        "福建省某国有资本运营有限公司",
        seller_code.as_str(),
        "审计链完整",
        "Audit trail VALID",
        "10,100,000.00",
        "厦门海某投资有限公司",
        regs[1]["bidder_code"].as_str().unwrap(),
        "198.51.100.23",
        "BZJ-2026-",
        "related_bidders",
        certificate.as_str(),
        checkpoint["root"].as_str().unwrap(),
        "@media print",
        "size: A4",
    ] {
        assert!(html.contains(text), "the page lacks {text:?}");
    }
    for absent in ["<script", "src=", "url(", "@import", "<link"] {
        assert!(!html.contains(absent), "the page has {absent:?}");
    }
    assert_eq!(app.audit_count(Some("audit.report_generated")).await, 2);
    let generated = app
        .get(
            "/api/v1/audit/events?stream=system&action=audit.report_generated",
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(generated["items"][1]["payload"]["format"], "html");
    assert_eq!(generated["items"][1]["payload"]["listing_id"], id);

    // For scripts/report-screenshot.
    std::fs::create_dir_all(sample_path()).unwrap();
    std::fs::write(sample_path().join("listing-report.html"), &html).unwrap();
    std::fs::write(
        sample_path().join("listing-report.json"),
        serde_json::to_vec_pretty(&r).unwrap(),
    )
    .unwrap();
}

#[actix_web::test]
async fn only_auditors_and_admins_get_the_report() {
    let app = spawn_app().await;
    let c = named_cast(&app).await;
    let id = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let path = report_path(id, None);
    let (_, bidder) = app.signed_in("bidder").await;
    for token in [
        c.owner.as_str(),
        bidder["access_token"].as_str().unwrap(),
        c.operator.as_str(),
    ] {
        app.get(&path, Some(token))
            .await
            .assert_problem(403, "forbidden");
        app.get(&report_path(id, Some("html")), Some(token))
            .await
            .assert_problem(403, "forbidden");
    }
    app.get(&path, None)
        .await
        .assert_problem(401, "unauthorized");
    let (_, admin) = app.staff("admin").await;
    assert_eq!(app.get(&path, Some(&admin)).await.status, 200);
    app.get(&report_path(id + 1000, None), Some(&c.auditor))
        .await
        .assert_problem(404, "not_found");
    app.get(&report_path(id + 1000, Some("html")), Some(&c.auditor))
        .await
        .assert_problem(404, "not_found");
    app.get(&report_path(id, Some("pdf")), Some(&c.auditor))
        .await
        .assert_problem(400, "invalid_query");
    app.get(&format!("{path}?colour=red"), Some(&c.auditor))
        .await
        .assert_problem(400, "invalid_query");
    // Refused and unknown requests leave no trace; the admin's one does.
    assert_eq!(app.audit_count(Some("audit.report_generated")).await, 1);
    // Both forms are documented.
    let doc = app.get("/api-docs/openapi.json", None).await.json();
    let op = &doc["paths"]["/api/v1/audit/listings/{id}/report"]["get"];
    let ok = &op["responses"]["200"]["content"];
    assert!(ok["application/json"]["schema"].is_object(), "{op}");
    assert!(ok["text/html"].is_object(), "{op}");
    for status in ["400", "401", "403", "404"] {
        assert!(
            op["responses"][status]["content"]["application/problem+json"].is_object(),
            "{status}: {op}"
        );
    }
}

#[actix_web::test]
async fn user_text_in_the_report_page_is_escaped() {
    let app = spawn_app().await;
    let c = named_cast(&app).await;
    let id = draft(
        &app,
        &c.owner,
        json!({
            "title": "<script>alert(1)</script>",
            "description": "<img src=x onerror=alert(2)> & \"quotes\"",
        }),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let json = report(&app, &c.auditor, id).await;
    assert_eq!(json["listing"]["title"], "<script>alert(1)</script>");
    let html = page(&app, &c.auditor, id).await;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;"),
        "title not escaped"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
}

const DROP_TRIGGERS_PG: &str = "ALTER TABLE audit_events DISABLE TRIGGER USER; ALTER TABLE audit_checkpoints DISABLE TRIGGER USER;";
const DROP_TRIGGERS_SQLITE: &str = "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; \
     DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;";

#[actix_web::test]
async fn an_edited_event_makes_the_report_invalid_at_its_seq() {
    let app = spawn_app().await;
    let c = named_cast(&app).await;
    let id = approved(&app, &c, &in_secs(600)).await;
    sign_checkpoint(&app, &c.auditor).await;
    let before = report(&app, &c.auditor, id).await;
    assert_eq!(before["verification"]["valid"], true);
    assert_eq!(before["timeline"][1]["action"], "listing.submitted");

    // Going around the application: the owner of the tables edits one payload.
    app.sql(DROP_TRIGGERS_PG, DROP_TRIGGERS_SQLITE).await;
    app.sql_both(&format!(
        "UPDATE audit_events SET payload = replace(payload, '\"round\":1', '\"round\":2') \
         WHERE stream = 'listing:{id}' AND stream_seq = 2"
    ))
    .await;

    let after = report(&app, &c.auditor, id).await;
    assert_eq!(
        after["timeline"][1]["payload"]["round"], 2,
        "the edit happened"
    );
    let v = &after["verification"];
    assert_eq!(v["valid"], false);
    assert_eq!(
        v["first_invalid"],
        json!({"stream": format!("listing:{id}"), "stream_seq": 2, "reason": "hash_mismatch"})
    );
    assert_eq!(after["timeline"][1]["problem"], "hash_mismatch");
    assert!(after["timeline"][0]["problem"].is_null());
    // The signature over the checkpoint is still good: it is the history that changed.
    assert_eq!(v["latest_checkpoint"]["signature_verified"], true);
    let html = page(&app, &c.auditor, id).await;
    assert!(html.contains("审计链异常") && html.contains("Audit trail INVALID"));
    assert!(html.contains("hash_mismatch"));
    std::fs::create_dir_all(sample_path()).unwrap();
    std::fs::write(sample_path().join("listing-report-invalid.html"), &html).unwrap();
}
