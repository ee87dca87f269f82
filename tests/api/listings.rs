//! Listings from draft to decision: every transition, every refusal, every reader's view.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with, spawn_sibling};

pub fn listing(overrides: Value) -> Value {
    let mut body = json!({
        "kind": "equity_transfer",
        "title": "福州某国有企业100%股权转让",
        "description": "转让标的为某公司100%股权，评估基准日2026年6月30日。",
        "appraised_value": "10000000.00",
        "appraisal_date": "2026-06-30",
        "listing_price": "10000000.00",
        "deposit": "1000000.00",
        "increment": "50000.00",
        "disclosure_working_days": 20,
        "free_bidding_seconds": 3600,
        "countdown_seconds": 300,
    });
    if let (Some(b), Some(o)) = (body.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

/// An exchange with one enterprise, one operator and one auditor signed in.
pub struct Cast {
    pub owner: String,
    pub operator: String,
    pub auditor: String,
    /// The e-mails of owner, operator and auditor, to sign in again.
    pub emails: [String; 3],
}

impl Cast {
    /// The owner (signed in with `owner_email`), a new operator and a new auditor.
    pub async fn with_owner(app: &TestApp, owner_email: String, owner: String) -> Cast {
        let (_, operator_email, operator) = app.staff_account("operator").await;
        let (_, auditor_email, auditor) = app.staff_account("auditor").await;
        Cast {
            owner,
            operator,
            auditor,
            emails: [owner_email, operator_email, auditor_email],
        }
    }

    /// Signs everyone in again: the exchange's clock moved past their tokens' lifetime.
    pub async fn renew(&mut self, app: &TestApp) {
        self.owner = app.token(&self.emails[0]).await;
        self.operator = app.token(&self.emails[1]).await;
        self.auditor = app.token(&self.emails[2]).await;
    }
}

pub async fn cast(app: &TestApp) -> Cast {
    let (email, t) = app.signed_in("enterprise").await;
    Cast::with_owner(app, email, t["access_token"].as_str().unwrap().to_string()).await
}

pub async fn draft(app: &TestApp, owner: &str, overrides: Value) -> Value {
    let r = app
        .post("/api/v1/listings", Some(owner), &listing(overrides))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// A listing in disclosure until `end` (RFC 3339).
pub async fn approved(app: &TestApp, c: &Cast, end: &str) -> i64 {
    approved_with(app, c, json!({}), end).await
}

/// A listing with `overrides` in disclosure until `end`.
pub async fn approved_with(app: &TestApp, c: &Cast, overrides: Value, end: &str) -> i64 {
    let id = draft(app, &c.owner, overrides).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.post(
            &format!("/api/v1/listings/{id}/submit"),
            Some(&c.owner),
            &json!({})
        )
        .await
        .status,
        200
    );
    let mut end = end.to_string();
    let mut r = approve_until(app, c, id, &end).await;
    // An end a second or two away (a disclosure that should end at once) may be in the past
    // by the time a busy machine reviews it: ask again for an end as far from the review.
    for _ in 0..3 {
        let soon = end
            .parse::<chrono::DateTime<chrono::Utc>>()
            .is_ok_and(|e| e - chrono::Utc::now() < chrono::Duration::seconds(5));
        if r.status != 422 || !soon || r.json()["code"] != "disclosure_too_short" {
            break;
        }
        end = in_secs(1);
        r = approve_until(app, c, id, &end).await;
    }
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    id
}

async fn approve_until(app: &TestApp, c: &Cast, id: i64, end: &str) -> crate::helpers::Resp {
    app.post(
        &format!("/api/v1/listings/{id}/review"),
        Some(&c.operator),
        &json!({"decision": "approve", "comment": "", "disclosure_end": end}),
    )
    .await
}

pub fn in_secs(s: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(s))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn status(app: &TestApp, id: i64, token: Option<&str>) -> String {
    app.get(&format!("/api/v1/listings/{id}"), token)
        .await
        .json()["status"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

#[actix_web::test]
async fn an_enterprise_creates_a_draft_only_it_and_staff_can_see() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let l = draft(
        &app,
        &c.owner,
        json!({"appraised_value": 12345678, "listing_price": "12345678.9"}),
    )
    .await;
    assert_eq!(l["status"], "draft");
    assert_eq!(l["round"], 1);
    assert_eq!(l["appraised_value"], "12345678.00");
    assert_eq!(l["listing_price"], "12345678.90");
    assert_eq!(l["title"], "福州某国有企业100%股权转让");
    let project_no = l["project_no"].as_str().unwrap();
    assert!(
        project_no.starts_with("AX-CQ-20") && project_no.ends_with("-00001"),
        "{project_no}"
    );
    let id = l["id"].as_i64().unwrap();
    let path = format!("/api/v1/listings/{id}");
    let (_, other) = app.signed_in("enterprise").await;
    let (_, bidder) = app.signed_in("bidder").await;
    app.get(&path, None).await.assert_problem(404, "not_found");
    app.get(&path, other["access_token"].as_str())
        .await
        .assert_problem(404, "not_found");
    app.get(&path, bidder["access_token"].as_str())
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get(&path, Some(&c.owner)).await.status, 200);
    assert_eq!(app.get(&path, Some(&c.auditor)).await.status, 200);
    assert_eq!(app.get(&path, Some(&c.operator)).await.status, 200);
    // A second listing of the same kind gets the next number.
    let second = draft(&app, &c.owner, json!({})).await;
    assert!(second["project_no"].as_str().unwrap().ends_with("-00002"));
    let asset = draft(&app, &c.owner, json!({"kind": "asset_transfer"})).await;
    assert!(asset["project_no"].as_str().unwrap().starts_with("AX-ZC-"));
}

#[actix_web::test]
async fn only_enterprises_create_listings() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (_, bidder) = app.signed_in("bidder").await;
    app.post(
        "/api/v1/listings",
        bidder["access_token"].as_str(),
        &listing(json!({})),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post("/api/v1/listings", Some(&c.operator), &listing(json!({})))
        .await
        .assert_problem(403, "forbidden");
    app.post("/api/v1/listings", None, &listing(json!({})))
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn each_rule_is_refused_with_its_own_code() {
    let app = spawn_app_with(|s| {
        s.listing.min_disclosure_equity_transfer = 20;
        s.listing.min_disclosure_asset_small = 5;
        s.listing.countdown_min_seconds = 60;
    })
    .await;
    let c = cast(&app).await;
    for (overrides, code) in [
        (
            json!({"listing_price": "9999999.99"}),
            "price_below_appraisal",
        ),
        (json!({"deposit": "3000000.01"}), "deposit_too_high"),
        (json!({"increment": "0"}), "invalid_increment"),
        (json!({"deposit": 0}), "invalid_deposit"),
        (
            json!({"disclosure_working_days": 19}),
            "disclosure_too_short",
        ),
        (
            json!({"kind": "asset_transfer", "appraised_value": "500000", "listing_price": "500000", "deposit": "100000", "disclosure_working_days": 4}),
            "disclosure_too_short",
        ),
        (
            json!({"countdown_seconds": 30}),
            "bidding_period_out_of_range",
        ),
        (
            json!({"appraisal_date": "2999-01-01"}),
            "invalid_appraisal_date",
        ),
    ] {
        app.post(
            "/api/v1/listings",
            Some(&c.owner),
            &listing(overrides.clone()),
        )
        .await
        .assert_problem(422, code);
    }
    // A small asset with 5 working days is fine.
    let ok = listing(
        json!({"kind": "asset_transfer", "appraised_value": "500000", "listing_price": "500000", "deposit": "100000", "disclosure_working_days": 5}),
    );
    assert_eq!(
        app.post("/api/v1/listings", Some(&c.owner), &ok)
            .await
            .status,
        201
    );
}

#[actix_web::test]
async fn money_must_be_exact_yuan() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    for bad in [
        json!("1000000.001"),
        json!(1000000.5),
        json!("-5"),
        json!("1e7"),
        json!("NaN"),
        json!("10000000000000"),
    ] {
        let p = app
            .post(
                "/api/v1/listings",
                Some(&c.owner),
                &listing(json!({"listing_price": bad})),
            )
            .await
            .assert_problem(422, "validation_failed");
        assert_eq!(p["errors"][0]["field"], "listing_price", "{bad}");
    }
    let p = app
        .post(
            "/api/v1/listings",
            Some(&c.owner),
            &listing(json!({"kind": "land"})),
        )
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "kind");
}

#[actix_web::test]
async fn drafts_are_edited_by_their_owner_only_and_only_while_draft_or_returned() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/listings/{id}");
    let r = app
        .patch(
            &path,
            Some(&c.owner),
            &json!({"title": "厦门某国企厂房转让", "deposit": "2000000"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["title"], "厦门某国企厂房转让");
    assert_eq!(r.json()["deposit"], "2000000.00");
    app.patch(&path, Some(&c.owner), &json!({"deposit": "3000001"}))
        .await
        .assert_problem(422, "deposit_too_high");
    let (_, other) = app.signed_in("enterprise").await;
    app.patch(
        &path,
        other["access_token"].as_str(),
        &json!({"title": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.patch(&path, Some(&c.operator), &json!({"title": "x"}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&format!("{path}/submit"), Some(&c.owner), &json!({}))
        .await;
    app.patch(&path, Some(&c.owner), &json!({"title": "x"}))
        .await
        .assert_problem(409, "invalid_state");
    assert!(app.audit_count(Some("listing.updated")).await >= 1);
}

#[actix_web::test]
async fn review_returns_and_approves_with_the_right_views() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/listings/{id}");
    // Review before submission is a wrong state; only operators review.
    app.post(
        &format!("{path}/review"),
        Some(&c.operator),
        &json!({"decision": "approve"}),
    )
    .await
    .assert_problem(409, "invalid_state");
    let r = app
        .post(&format!("{path}/submit"), Some(&c.owner), &json!({}))
        .await;
    assert_eq!(r.json()["status"], "submitted");
    app.post(&format!("{path}/submit"), Some(&c.owner), &json!({}))
        .await
        .assert_problem(409, "invalid_state");
    app.post(
        &format!("{path}/review"),
        Some(&c.owner),
        &json!({"decision": "approve"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("{path}/review"),
        Some(&c.auditor),
        &json!({"decision": "approve"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("{path}/review"),
        Some(&c.operator),
        &json!({"decision": "return"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let r = app
        .post(
            &format!("{path}/review"),
            Some(&c.operator),
            &json!({"decision": "return", "comment": "请补充评估报告"}),
        )
        .await;
    assert_eq!(r.json()["status"], "returned");
    assert_eq!(
        app.get(&path, Some(&c.owner)).await.json()["review_comment"],
        "请补充评估报告"
    );
    app.get(&path, None).await.assert_problem(404, "not_found");
    app.patch(
        &path,
        Some(&c.owner),
        &json!({"description": "已补充评估报告"}),
    )
    .await;
    app.post(&format!("{path}/submit"), Some(&c.owner), &json!({}))
        .await;
    let r = app
        .post(
            &format!("{path}/review"),
            Some(&c.operator),
            &json!({"decision": "approve", "comment": "同意挂牌"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let l = r.json();
    assert_eq!(l["status"], "disclosure");
    assert!(l["disclosure_start"].is_string() && l["disclosure_end"].is_string());
    // The public sees it now, without the review comment or the registration count.
    let public = app.get(&path, None).await.json();
    assert_eq!(public["status"], "disclosure");
    assert!(public.get("review_comment").is_none() && public.get("registrations").is_none());
    assert_eq!(public["seller"]["name"], "某某国有资本投资有限公司");
    for action in [
        "listing.created",
        "listing.submitted",
        "listing.returned",
        "listing.approved",
    ] {
        assert!(app.audit_count(Some(action)).await >= 1, "{action}");
    }
    // Operators were told of each submission, the owner of the return and the approval.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let kinds: Vec<String> = app
        .mailer_stub()
        .iter()
        .map(|m| m.subject.clone())
        .collect();
    assert!(
        kinds
            .iter()
            .filter(|s| s.contains("AX-CQ") || s.contains("挂牌"))
            .count()
            >= 3,
        "{kinds:?}"
    );
}

#[actix_web::test]
async fn approval_refuses_a_short_disclosure_and_a_stale_appraisal() {
    let app = spawn_app_with(|s| s.listing.min_disclosure_equity_transfer = 20).await;
    let c = cast(&app).await;
    let id = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/listings/{id}/submit"),
        Some(&c.owner),
        &json!({}),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/review"),
            Some(&c.operator),
            &json!({"decision": "approve", "disclosure_end": in_secs(86400)}),
        )
        .await;
    r.assert_problem(422, "disclosure_too_short");
    // Without a given end, the minimum is computed: 20 working days ends at 17:00 Beijing (09:00 UTC).
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/review"),
            Some(&c.operator),
            &json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let end = r.json()["disclosure_end"].as_str().unwrap().to_string();
    assert!(end.ends_with("T09:00:00Z"), "{end}");
    let stale = draft(&app, &c.owner, json!({"appraisal_date": "2025-01-15"})).await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/listings/{stale}/submit"),
        Some(&c.owner),
        &json!({}),
    )
    .await;
    app.post(
        &format!("/api/v1/listings/{stale}/review"),
        Some(&c.operator),
        &json!({"decision": "approve"}),
    )
    .await
    .assert_problem(422, "appraisal_expired");
}

#[actix_web::test]
async fn browse_filters_pages_and_searches_chinese_titles() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let end = in_secs(3600);
    for (kind, title, price) in [
        ("equity_transfer", "某国企100%股权转让", "10000000"),
        ("asset_transfer", "福州市鼓楼区厂房转让", "2000000"),
        ("asset_transfer", "厦门市办公楼转让", "50000000"),
        ("capital_increase", "某能源公司增资扩股", "80000000"),
    ] {
        let id = draft(&app, &c.owner, json!({"kind": kind, "title": title, "appraised_value": price, "listing_price": price, "deposit": "100000"})).await["id"].as_i64().unwrap();
        app.post(
            &format!("/api/v1/listings/{id}/submit"),
            Some(&c.owner),
            &json!({}),
        )
        .await;
        app.post(
            &format!("/api/v1/listings/{id}/review"),
            Some(&c.operator),
            &json!({"decision": "approve", "disclosure_end": end}),
        )
        .await;
    }
    draft(&app, &c.owner, json!({"title": "未提交的草稿厂房"})).await;
    let get = |q: &'static str| {
        let app = &app;
        async move { app.get(&format!("/api/v1/listings{q}"), None).await.json() }
    };
    assert_eq!(get("").await["total"], 4, "the public sees no draft");
    assert_eq!(get("?kind=asset_transfer").await["total"], 2);
    let q = get("?q=%E5%8E%82%E6%88%BF").await; // 厂房
    assert_eq!(q["total"], 1);
    assert_eq!(q["items"][0]["title"], "福州市鼓楼区厂房转让");
    assert_eq!(
        get("?min_price=10000000&max_price=50000000").await["total"],
        2
    );
    assert_eq!(get("?status=draft").await["total"], 0);
    let page = get("?per_page=3&page=2").await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["items"].as_array().unwrap().len()
        ),
        (Some(4), 1)
    );
    // The owner also sees its own draft; staff see everything.
    let own = app
        .get("/api/v1/listings?status=draft", Some(&c.owner))
        .await
        .json();
    assert_eq!(own["total"], 1);
    assert_eq!(
        app.get("/api/v1/listings", Some(&c.auditor)).await.json()["total"],
        5
    );
    for bad in [
        "?per_page=101",
        "?min_price=1.234",
        "?kind=land",
        "?status=open",
        "?page=0",
    ] {
        app.get(&format!("/api/v1/listings{bad}"), None)
            .await
            .assert_problem(400, "invalid_query");
    }
}

#[actix_web::test]
async fn suspend_resume_and_terminate_with_reasons() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = approved(&app, &c, &in_secs(3600)).await;
    let path = format!("/api/v1/listings/{id}");
    app.post(
        &format!("{path}/suspend"),
        Some(&c.operator),
        &json!({"reason": " "}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        &format!("{path}/suspend"),
        Some(&c.owner),
        &json!({"reason": "x"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .post(
            &format!("{path}/suspend"),
            Some(&c.operator),
            &json!({"reason": "权属争议"}),
        )
        .await;
    assert_eq!(r.json()["status"], "suspended");
    assert_eq!(r.json()["suspended_from"], "disclosure");
    assert_eq!(
        app.get(&path, None).await.json()["suspension_reason"],
        "权属争议"
    );
    app.post(
        &format!("{path}/suspend"),
        Some(&c.operator),
        &json!({"reason": "again"}),
    )
    .await
    .assert_problem(409, "invalid_state");
    let r = app
        .post(
            &format!("{path}/resume"),
            Some(&c.operator),
            &json!({"reason": "争议已解决"}),
        )
        .await;
    assert_eq!(r.json()["status"], "disclosure");
    assert!(r.json()["disclosure_end"].is_string());
    app.post(
        &format!("{path}/resume"),
        Some(&c.operator),
        &json!({"reason": "x"}),
    )
    .await
    .assert_problem(409, "invalid_state");
    let r = app
        .post(
            &format!("{path}/terminate"),
            Some(&c.operator),
            &json!({"reason": "转让方撤回"}),
        )
        .await;
    assert_eq!(r.json()["status"], "terminated");
    for action in ["suspend", "resume", "terminate"] {
        app.post(
            &format!("{path}/{action}"),
            Some(&c.operator),
            &json!({"reason": "x"}),
        )
        .await
        .assert_problem(409, "invalid_state");
    }
    app.post(
        &format!("{path}/relist"),
        Some(&c.owner),
        &json!({"listing_price": "1", "disclosure_working_days": 20}),
    )
    .await
    .assert_problem(409, "invalid_state");
    let draft_id = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/listings/{draft_id}/suspend"),
        Some(&c.operator),
        &json!({"reason": "x"}),
    )
    .await
    .assert_problem(409, "invalid_state");
    for action in ["listing.suspended", "listing.resumed", "listing.terminated"] {
        assert_eq!(app.audit_count(Some(action)).await, 1, "{action}");
    }
}

#[actix_web::test]
async fn registration_review_and_deposits_follow_their_rules() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = approved(&app, &c, &in_secs(3600)).await;
    let regs = format!("/api/v1/listings/{id}/registrations");
    // An unverified bidder may not register; staff and enterprises are not bidders.
    let (_, unverified) = app.signed_in("bidder").await;
    app.post(&regs, unverified["access_token"].as_str(), &json!({}))
        .await
        .assert_problem(403, "email_not_verified");
    app.post(&regs, Some(&c.owner), &json!({}))
        .await
        .assert_problem(403, "forbidden");
    let (_, bidder) = app.verified_bidder().await;
    let r = app
        .post(&regs, Some(&bidder), &json!({"statement": "有意受让"}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let reg = r.json();
    assert_eq!(
        (reg["status"].as_str(), reg["deposit_status"].as_str()),
        (Some("pending"), Some("unpaid"))
    );
    assert_eq!(reg["listing_id"], id);
    app.post(&regs, Some(&bidder), &json!({}))
        .await
        .assert_problem(409, "already_registered");
    let reg_id = reg["id"].as_i64().unwrap();

    // The owner sees the registration without a name; staff see who it is.
    let owners_view = app.get(&regs, Some(&c.owner)).await.json();
    assert_eq!(owners_view.as_array().unwrap().len(), 1);
    assert!(owners_view[0].get("organization").is_none());
    let staff_view = app.get(&regs, Some(&c.auditor)).await.json();
    assert!(staff_view[0]["organization"]["name"].is_string());
    let (_, other_bidder) = app.verified_bidder().await;
    app.get(&regs, Some(&other_bidder))
        .await
        .assert_problem(403, "forbidden");

    // Deposits need a qualified registration; review needs an operator.
    let dep = format!("/api/v1/registrations/{reg_id}/deposit");
    app.post(
        &dep,
        Some(&c.operator),
        &json!({"action": "confirm", "reference": "PAY-1"}),
    )
    .await
    .assert_problem(409, "invalid_state");
    let review = format!("/api/v1/registrations/{reg_id}/review");
    app.post(&review, Some(&c.owner), &json!({"decision": "qualify"}))
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .post(
            &review,
            Some(&c.operator),
            &json!({"decision": "qualify", "comment": "资格符合"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let q = r.json();
    assert_eq!(q["status"], "qualified");
    let code = q["bidder_code"].as_str().unwrap().to_string();
    assert!(code.starts_with('B') && code.len() == 8, "{code}");
    assert!(q["deposit_due_at"].is_string());
    app.post(
        &review,
        Some(&c.operator),
        &json!({"decision": "reject", "comment": "x"}),
    )
    .await
    .assert_problem(409, "invalid_state");
    let mine = app
        .get("/api/v1/me/registrations", Some(&bidder))
        .await
        .json();
    assert_eq!(mine["items"][0]["bidder_code"], code.as_str());

    app.post(&dep, Some(&c.operator), &json!({"action": "confirm"}))
        .await
        .assert_problem(422, "validation_failed");
    let r = app
        .post(
            &dep,
            Some(&c.operator),
            &json!({"action": "confirm", "reference": "PAY-20261127-001"}),
        )
        .await;
    assert_eq!(r.json()["deposit_status"], "paid");
    assert_eq!(r.json()["eligible"], true);
    app.post(
        &dep,
        Some(&c.operator),
        &json!({"action": "confirm", "reference": "again"}),
    )
    .await
    .assert_problem(409, "invalid_state");
    app.post(&dep, Some(&c.operator), &json!({"action": "convert"}))
        .await
        .assert_problem(422, "validation_failed");
    let r = app
        .post(&dep, Some(&c.operator), &json!({"action": "refund"}))
        .await;
    assert_eq!(r.json()["deposit_status"], "refunded");
    app.post(&dep, Some(&c.operator), &json!({"action": "forfeit"}))
        .await
        .assert_problem(409, "invalid_state");

    // Rejection needs a reason.
    let r2 = app
        .post(&regs, Some(&other_bidder), &json!({}))
        .await
        .json();
    let review2 = format!("/api/v1/registrations/{}/review", r2["id"]);
    app.post(&review2, Some(&c.operator), &json!({"decision": "reject"}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        app.post(
            &review2,
            Some(&c.operator),
            &json!({"decision": "reject", "comment": "材料不全"})
        )
        .await
        .json()["status"],
        "rejected"
    );
    for action in [
        "registration.created",
        "registration.qualified",
        "registration.rejected",
        "deposit.confirmed",
        "deposit.refunded",
    ] {
        assert!(app.audit_count(Some(action)).await >= 1, "{action}");
    }
}

#[actix_web::test]
async fn a_deposit_after_its_deadline_is_refused() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let id = approved(&app, &c, &in_secs(30 * 86400)).await;
    let (_, bidder) = app.verified_bidder().await;
    let reg = app
        .post(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&bidder),
            &json!({}),
        )
        .await
        .json();
    let reg_id = reg["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/registrations/{reg_id}/review"),
        Some(&c.operator),
        &json!({"decision": "qualify"}),
    )
    .await;
    app.clock.advance(chrono::Duration::days(8));
    c.renew(&app).await;
    app.post(
        &format!("/api/v1/registrations/{reg_id}/deposit"),
        Some(&c.operator),
        &json!({"action": "confirm", "reference": "LATE"}),
    )
    .await
    .assert_problem(409, "deposit_overdue");
}

#[actix_web::test]
async fn registration_is_closed_outside_disclosure() {
    let app = spawn_app_with(|s| s.listing.scheduler_tick_ms = 3_600_000).await;
    let c = cast(&app).await;
    let (_, bidder) = app.verified_bidder().await;
    let draft_id = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/listings/{draft_id}/registrations"),
        Some(&bidder),
        &json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post(
        "/api/v1/listings/999999/registrations",
        Some(&bidder),
        &json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    let id = approved(&app, &c, &in_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The scheduler is far away; the registration is refused all the same.
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&bidder),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 409);
    let code = r.json()["code"].as_str().unwrap().to_string();
    assert!(
        code == "registration_closed" || code == "invalid_state",
        "{code}"
    );
}

/// Registers, qualifies and pays `n` bidders on listing `id`.
/// A bidder whose registration on listing `id` the operator rejected; their token.
pub async fn rejected_registrant(app: &TestApp, c: &Cast, id: i64) -> String {
    let (_, rejected) = app.verified_bidder().await;
    let reg = app
        .post(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&rejected),
            &json!({}),
        )
        .await
        .json();
    let r = app
        .post(
            &format!("/api/v1/registrations/{}/review", reg["id"]),
            Some(&c.operator),
            &json!({"decision": "reject", "comment": "材料不全"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    rejected
}

pub async fn eligible_bidders(app: &TestApp, c: &Cast, id: i64, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        let (_, b) = app.verified_bidder().await;
        let reg = app
            .post(
                &format!("/api/v1/listings/{id}/registrations"),
                Some(&b),
                &json!({}),
            )
            .await
            .json();
        let rid = reg["id"].as_i64().unwrap();
        app.post(
            &format!("/api/v1/registrations/{rid}/review"),
            Some(&c.operator),
            &json!({"decision": "qualify"}),
        )
        .await;
        let r = app
            .post(
                &format!("/api/v1/registrations/{rid}/deposit"),
                Some(&c.operator),
                &json!({"action": "confirm", "reference": "P"}),
            )
            .await;
        assert_eq!(r.json()["deposit_status"], "paid");
        tokens.push(b);
    }
    tokens
}

async fn wait_status(app: &TestApp, id: i64, want: &str, token: &str) -> Value {
    let mut l = Value::Null;
    for _ in 0..60 {
        l = app
            .get(&format!("/api/v1/listings/{id}"), Some(token))
            .await
            .json();
        if l["status"] == want && app.audit_count(Some("listing.disclosure_ended")).await > 0 {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    l
}

#[actix_web::test]
async fn the_scheduler_decides_by_the_number_of_eligible_bidders() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    // Registrations must come in before the end, so give each listing a few seconds.
    let none = approved(&app, &c, &in_secs(3)).await;
    let one = approved(&app, &c, &in_secs(6)).await;
    eligible_bidders(&app, &c, one, 1).await;
    let two = approved(&app, &c, &in_secs(8)).await;
    let (_, unpaid) = app.verified_bidder().await;
    let pending = app
        .post(
            &format!("/api/v1/listings/{two}/registrations"),
            Some(&unpaid),
            &json!({}),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    eligible_bidders(&app, &c, two, 2).await;
    tokio::time::sleep(Duration::from_millis(8500)).await;
    // A registration the exchange has not reviewed yet holds the decision until its window
    // closes (5 working days after disclosure), or until the exchange decides on it.
    let l = app
        .get(&format!("/api/v1/listings/{two}"), None)
        .await
        .json();
    assert_eq!(
        (l["status"].as_str(), l["disclosure_ended"].as_bool()),
        (Some("disclosure"), Some(true))
    );
    let due: chrono::DateTime<chrono::Utc> = l["decision_due"].as_str().unwrap().parse().unwrap();
    assert!(due - app.now() > chrono::Duration::days(3), "{l}");
    assert_eq!(app.audit_count(Some("listing.disclosure_ended")).await, 2);
    let r = app
        .post(
            &format!("/api/v1/registrations/{pending}/review"),
            Some(&c.operator),
            &json!({"decision": "reject", "comment": "材料不全"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Every registration is settled now: the scheduler decides at its next tick.
    for _ in 0..50 {
        if app.audit_count(Some("listing.disclosure_ended")).await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        wait_status(&app, none, "no_sale", &c.owner).await["status"],
        "no_sale"
    );
    assert_eq!(
        wait_status(&app, one, "negotiation", &c.owner).await["status"],
        "negotiation"
    );
    let l = wait_status(&app, two, "disclosure", &c.owner).await;
    assert_eq!(l["status"], "disclosure");
    assert_eq!(
        l["disclosure_ended"], true,
        "waits for an auction to be scheduled"
    );
    assert_eq!(app.audit_count(Some("listing.disclosure_ended")).await, 3);
    let rounds = app
        .get(&format!("/api/v1/listings/{none}/rounds"), None)
        .await
        .json();
    assert_eq!(rounds[0]["outcome"], "no_sale");
    // Owners and registrants heard of the outcome (the mail worker sends in the background:
    // on a busy machine the last mails may still be on their way).
    let ended = || {
        app.mailer_stub()
            .into_iter()
            .filter(|m| m.subject.contains("信息披露期满") || m.subject.contains("Disclosure"))
            .count()
    };
    for _ in 0..100 {
        if ended() >= 3 + 1 + 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended() >= 3 + 1 + 3, "{}", ended());
}

#[actix_web::test]
async fn readers_see_the_outcome_even_before_the_scheduler_runs() {
    let app = spawn_app_with(|s| s.listing.scheduler_tick_ms = 3_600_000).await;
    let c = cast(&app).await;
    let id = approved(&app, &c, &in_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(status(&app, id, None).await, "no_sale");
    assert_eq!(
        app.audit_count(Some("listing.disclosure_ended")).await,
        0,
        "reading changed nothing"
    );
    // The first write on it records the decision.
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/relist"),
            Some(&c.owner),
            &json!({"listing_price": "10000000", "disclosure_working_days": 20}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(app.audit_count(Some("listing.disclosure_ended")).await, 1);
}

#[actix_web::test]
async fn relisting_after_no_sale_keeps_the_history_and_respects_the_price_floor() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let id = approved(&app, &c, &in_secs(1)).await;
    wait_status(&app, id, "no_sale", &c.owner).await;
    let relist = format!("/api/v1/listings/{id}/relist");
    let (_, other) = app.signed_in("enterprise").await;
    app.post(
        &relist,
        other["access_token"].as_str(),
        &json!({"listing_price": "9500000", "disclosure_working_days": 20}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &relist,
        Some(&c.owner),
        &json!({"listing_price": "8999999.99", "disclosure_working_days": 20}),
    )
    .await
    .assert_problem(422, "consent_required");
    let r = app
        .post(&relist, Some(&c.owner), &json!({"listing_price": "8000000", "disclosure_working_days": 20, "consent_document": "闽国资产权〔2026〕12号"}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let l = r.json();
    assert_eq!(
        (l["status"].as_str(), l["round"].as_i64()),
        (Some("submitted"), Some(2))
    );
    assert_eq!(l["listing_price"], "8000000.00");
    app.post(
        &format!("/api/v1/listings/{id}/review"),
        Some(&c.operator),
        &json!({"decision": "approve", "disclosure_end": in_secs(1)}),
    )
    .await;
    wait_status(&app, id, "no_sale", &c.owner).await;
    let rounds = app
        .get(&format!("/api/v1/listings/{id}/rounds"), None)
        .await
        .json();
    assert_eq!(rounds.as_array().unwrap().len(), 2);
    assert_eq!(rounds[0]["listing_price"], "10000000.00");
    assert_eq!(rounds[1]["listing_price"], "8000000.00");
    assert_eq!(rounds[1]["consent_document"], "闽国资产权〔2026〕12号");
    // Twelve months after the first disclosure, the asset must be re-appraised.
    app.clock.advance(chrono::Duration::days(366));
    c.renew(&app).await;
    app.post(
        &relist,
        Some(&c.owner),
        &json!({"listing_price": "9500000", "disclosure_working_days": 20}),
    )
    .await
    .assert_problem(422, "reappraisal_required");
}

#[actix_web::test]
async fn two_instances_decide_each_listing_once() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app, |_| {}).await;
    let c = cast(&app).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(approved(&app, &c, &in_secs(2)).await);
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for id in &ids {
        assert_eq!(status(&sibling, *id, None).await, "no_sale");
    }
    assert_eq!(app.audit_count(Some("listing.disclosure_ended")).await, 5);
    let r = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(r["valid"], true, "{r}");
}

#[actix_web::test]
async fn five_readers_see_the_same_public_listing_each_in_their_own_way() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = approved(&app, &c, &in_secs(3600)).await;
    let (_, bidder) = app.verified_bidder().await;
    app.post(
        &format!("/api/v1/listings/{id}/registrations"),
        Some(&bidder),
        &json!({}),
    )
    .await;
    let (_, other) = app.signed_in("enterprise").await;
    let path = format!("/api/v1/listings/{id}");
    let public = app.get(&path, None).await.json();
    let owner = app.get(&path, Some(&c.owner)).await.json();
    let stranger = app.get(&path, other["access_token"].as_str()).await.json();
    let as_bidder = app.get(&path, Some(&bidder)).await.json();
    let auditor = app.get(&path, Some(&c.auditor)).await.json();
    for view in [&public, &owner, &stranger, &as_bidder, &auditor] {
        assert_eq!(view["status"], "disclosure");
        assert_eq!(view["project_no"], public["project_no"]);
        assert_eq!(view["listing_price"], "10000000.00");
    }
    for view in [&public, &stranger, &as_bidder] {
        assert!(view.get("registrations").is_none(), "{view}");
    }
    assert_eq!(owner["registrations"], 1);
    assert_eq!(auditor["registrations"], 1);
    // Registrations: the owner without names, the auditor with them, others not at all.
    let regs = format!("{path}/registrations");
    assert!(
        app.get(&regs, Some(&c.owner)).await.json()[0]
            .get("organization")
            .is_none()
    );
    assert!(app.get(&regs, Some(&c.auditor)).await.json()[0]["organization"]["name"].is_string());
    app.get(&regs, other["access_token"].as_str())
        .await
        .assert_problem(403, "forbidden");
    app.get(&regs, None)
        .await
        .assert_problem(401, "unauthorized");
    let listing_stream = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}"),
            Some(&c.auditor),
        )
        .await
        .json();
    let actions: Vec<&str> = listing_stream["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "listing.created",
            "listing.submitted",
            "listing.approved",
            // The operator ended the 20 announced working days early (the test's in_secs).
            "alert.raised",
            "registration.created"
        ]
    );
}

#[actix_web::test]
async fn a_listing_terminated_before_disclosure_stays_private() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = draft(&app, &c.owner, json!({"title": "未披露即终结的项目"})).await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/listings/{id}/submit"),
        Some(&c.owner),
        &json!({}),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/terminate"),
            Some(&c.operator),
            &json!({"reason": "材料不全，撤回"}),
        )
        .await;
    assert_eq!(r.json()["status"], "terminated");
    // Never disclosed: the public and other parties do not learn it existed.
    let (_, b) = app.verified_bidder().await;
    for token in [None, Some(b.as_str())] {
        app.get(&format!("/api/v1/listings/{id}"), token)
            .await
            .assert_problem(404, "not_found");
        let page = app
            .get("/api/v1/listings?status=terminated&per_page=100", token)
            .await
            .json();
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["id"] != id),
            "{page}"
        );
    }
    // Its owner and staff still see it.
    assert_eq!(status(&app, id, Some(&c.owner)).await, "terminated");
    assert_eq!(status(&app, id, Some(&c.operator)).await, "terminated");
    let mine = app
        .get("/api/v1/listings?per_page=100", Some(&c.owner))
        .await
        .json();
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == id)
    );
    // A listing terminated during disclosure stays public.
    let public = approved(&app, &c, &in_secs(3600)).await;
    app.post(
        &format!("/api/v1/listings/{public}/terminate"),
        Some(&c.operator),
        &json!({"reason": "转让方撤回"}),
    )
    .await;
    assert_eq!(status(&app, public, None).await, "terminated");
}
