//! One provincial platform (全省统一平台): the supervision tree, auditors scoped to a city and
//! the counties below it, the summary split by body, and the admin routes that shape it.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, next_id, spawn_app};
use crate::listings::{Cast, approved, eligible_bidders, in_secs};

/// An enterprise registered under the body with `region_code`, with a fresh operator and
/// auditor (the province's).
pub async fn enterprise_in(app: &TestApp, region_code: &str) -> Cast {
    let body = app.body_id(region_code).await;
    let email = format!("enterprise{}@example.com", next_id());
    let r = app
        .register(json!({"email": email, "role": "enterprise", "supervisory_body_id": body}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let t = app.login(&email, PASSWORD).await.json();
    Cast::with_owner(app, email, t["access_token"].as_str().unwrap().to_string()).await
}

/// A listing of `c`'s enterprise in disclosure for 600 s with one eligible bidder.
async fn one_bidder(app: &TestApp, c: &Cast) -> (i64, String) {
    let id = approved(app, c, &in_secs(600)).await;
    (id, eligible_bidders(app, c, id, 1).await.remove(0))
}

/// After the disclosure: the one bidder's quote makes a single-bidder deal (one alert).
async fn single_bidder_deal(app: &TestApp, (id, b): (i64, String)) -> i64 {
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/quote"),
            Some(&b),
            &json!({"amount": "10000000"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    id
}

fn listing_ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect()
}

fn alert_listings(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["listing_id"].as_i64())
        .collect()
}

struct Province {
    /// A listing of an enterprise of 西湖区 (under 杭州) with a single-bidder deal.
    hangzhou: i64,
    /// A listing of an enterprise of 宁波 with a single-bidder deal.
    ningbo: i64,
    /// A listing of 宁波's still in disclosure (public).
    ningbo_open: i64,
    province_auditor: String,
    hangzhou_auditor: String,
}

async fn province(app: &TestApp) -> Province {
    let xihu = enterprise_in(app, "330106").await;
    let ningbo = enterprise_in(app, "330200").await;
    let hangzhou_deal = one_bidder(app, &xihu).await;
    let ningbo_deal = one_bidder(app, &ningbo).await;
    let ningbo_open = approved(app, &ningbo, &in_secs(3600)).await;
    app.clock.advance(chrono::Duration::seconds(601));
    let hangzhou_deal = single_bidder_deal(app, hangzhou_deal).await;
    let ningbo_deal = single_bidder_deal(app, ningbo_deal).await;
    let (_, _, hangzhou_auditor) = app.body_auditor("330100").await;
    let (_, _, province_auditor) = app.staff_account("auditor").await;
    Province {
        hangzhou: hangzhou_deal,
        ningbo: ningbo_deal,
        ningbo_open,
        province_auditor,
        hangzhou_auditor,
    }
}

#[actix_web::test]
async fn the_tree_is_zhejiang_with_its_cities_and_counties() {
    let app = spawn_app().await;
    let all = app.get("/api/v1/supervisory-bodies", None).await;
    assert_eq!(all.status, 200);
    let all = all.json();
    let bodies = all.as_array().unwrap();
    let root: Vec<&Value> = bodies.iter().filter(|b| b["parent_id"].is_null()).collect();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0]["region_code"], "330000");
    let cities = bodies
        .iter()
        .filter(|b| b["parent_id"] == root[0]["id"])
        .count();
    assert_eq!(cities, 11);
    let hangzhou = app.body_id("330100").await;
    let xihu = bodies
        .iter()
        .find(|b| b["region_code"] == "330106")
        .unwrap();
    assert_eq!(xihu["parent_id"], hangzhou);
}

#[actix_web::test]
async fn a_city_auditor_sees_its_city_and_counties_and_nothing_of_another_city() {
    let app = spawn_app().await;
    let p = province(&app).await;
    let hz = Some(p.hangzhou_auditor.as_str());
    for (id, want) in [(p.hangzhou, 200), (p.ningbo, 404), (p.ningbo_open, 404)] {
        let r = app.get(&format!("/api/v1/listings/{id}"), hz).await;
        assert_eq!(r.status, want, "listing {id}");
        let r = app.get(&format!("/api/v1/listings/{id}/deal"), hz).await;
        assert_eq!(r.status, if id == p.ningbo_open { 404 } else { want });
        let r = app
            .get(&format!("/api/v1/audit/listings/{id}/report"), hz)
            .await;
        assert_eq!(r.status, want, "report {id}");
        let r = app
            .get(&format!("/api/v1/audit/alerts?listing_id={id}"), hz)
            .await;
        assert_eq!(r.status, want, "alerts of {id}");
        let r = app
            .get(&format!("/api/v1/audit/events?listing_id={id}"), hz)
            .await;
        assert_eq!(r.status, want, "events of {id}");
        let r = app
            .get(&format!("/api/v1/audit/export?listing_id={id}"), hz)
            .await;
        assert_eq!(r.status, want, "export of {id}");
    }
    let seen = listing_ids(&app.get("/api/v1/listings?per_page=100", hz).await.json());
    assert!(seen.contains(&p.hangzhou));
    assert!(!seen.contains(&p.ningbo) && !seen.contains(&p.ningbo_open));
    let alerts = app
        .get("/api/v1/audit/alerts?per_page=100", hz)
        .await
        .json();
    let of = alert_listings(&alerts);
    assert!(of.contains(&p.hangzhou), "{alerts}");
    assert!(!of.contains(&p.ningbo), "{alerts}");
    // The trail: Ningbo's events are listed (the chain is not secret) without payloads.
    let events = app
        .get("/api/v1/audit/events?per_page=100", hz)
        .await
        .json();
    let total = events["total"].as_i64().unwrap();
    let mut all = Vec::new();
    for page in 1..=(total + 99) / 100 {
        let e = app
            .get(
                &format!("/api/v1/audit/events?per_page=100&page={page}"),
                hz,
            )
            .await
            .json();
        all.extend(e["items"].as_array().unwrap().clone());
    }
    let of_stream = |id: i64| {
        all.iter()
            .filter(move |e| e["stream"] == format!("listing:{id}"))
            .collect::<Vec<_>>()
    };
    assert!(!of_stream(p.ningbo).is_empty());
    assert!(of_stream(p.ningbo).iter().all(|e| e["payload"].is_null()));
    assert!(
        of_stream(p.hangzhou)
            .iter()
            .all(|e| !e["payload"].is_null())
    );
    // The export holds Hangzhou's stream and not Ningbo's.
    let export = app.get("/api/v1/audit/export", hz).await;
    assert_eq!(export.status, 200);
    let text = String::from_utf8_lossy(&export.body).to_string();
    assert!(text.contains(&format!("\"listing:{}\"", p.hangzhou)));
    assert!(!text.contains(&format!("\"listing:{}\"", p.ningbo)));
    // ... and verifies offline against the signed checkpoints.
    let cp = app
        .post(
            "/api/v1/audit/checkpoints",
            Some(&p.province_auditor),
            &json!({}),
        )
        .await;
    assert_eq!(cp.status, 201);
    let export = app.get("/api/v1/audit/export", hz).await;
    let key = app.get("/api/v1/audit/public-key", None).await.json()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangzhou.jsonl");
    std::fs::write(&path, &export.body).unwrap();
    let out = crate::audit::offline_verify(&path, &key);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A Ningbo alert cannot be acknowledged from Hangzhou; nothing changes.
    let nb_alerts = app
        .get(
            &format!("/api/v1/audit/alerts?listing_id={}", p.ningbo),
            Some(&p.province_auditor),
        )
        .await
        .json();
    let nb_alert = nb_alerts["items"][0]["id"].as_i64().unwrap();
    let before = app.audit_count(Some("alert.acknowledged")).await;
    app.post(
        &format!("/api/v1/audit/alerts/{nb_alert}/acknowledge"),
        hz,
        &json!({"comment": "已核查"}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(app.audit_count(Some("alert.acknowledged")).await, before);
    // Verification stays global.
    let v = app.get("/api/v1/audit/verify", hz).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["valid"], true);
}

#[actix_web::test]
async fn the_provincial_auditor_sees_both_cities() {
    let app = spawn_app().await;
    let p = province(&app).await;
    let pr = Some(p.province_auditor.as_str());
    for id in [p.hangzhou, p.ningbo, p.ningbo_open] {
        assert_eq!(
            app.get(&format!("/api/v1/listings/{id}"), pr).await.status,
            200
        );
        let r = app
            .get(&format!("/api/v1/audit/listings/{id}/report"), pr)
            .await;
        assert_eq!(r.status, 200);
    }
    let of = alert_listings(
        &app.get("/api/v1/audit/alerts?per_page=100", pr)
            .await
            .json(),
    );
    assert!(of.contains(&p.hangzhou) && of.contains(&p.ningbo));
    let seen = listing_ids(&app.get("/api/v1/listings?per_page=100", pr).await.json());
    assert!(seen.contains(&p.hangzhou) && seen.contains(&p.ningbo));
}

fn sum(parts: &[Value], key: &str) -> u64 {
    parts.iter().map(|p| p[key].as_u64().unwrap()).sum()
}

fn sum_value(parts: &[Value]) -> rust_decimal::Decimal {
    parts
        .iter()
        .map(|p| {
            p["total_value"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum()
}

#[actix_web::test]
async fn the_summary_by_body_adds_up_to_the_province() {
    let app = spawn_app().await;
    let p = province(&app).await;
    let (hangzhou, ningbo) = (app.body_id("330100").await, app.body_id("330200").await);
    let s = app
        .get("/api/v1/audit/summary", Some(&p.province_auditor))
        .await
        .json();
    assert_eq!(s["deals"], 2);
    let parts = s["by_body"].as_array().unwrap();
    assert_eq!(parts.len(), 12, "the province's own and its 11 cities");
    assert_eq!(parts[0]["own"], true);
    assert_eq!(sum(parts, "deals"), 2);
    assert_eq!(sum(parts, "single_bidder_deals"), 2);
    assert_eq!(
        sum(parts, "alerts_open"),
        s["alerts_open"].as_u64().unwrap()
    );
    assert_eq!(
        sum_value(parts),
        s["deals_total_value"].as_str().unwrap().parse().unwrap()
    );
    let part = |id: i64| {
        parts
            .iter()
            .find(|p| p["supervisory_body_id"] == id)
            .unwrap()
    };
    assert_eq!(part(hangzhou)["deals"], 1);
    assert_eq!(part(hangzhou)["region_code"], "330100");
    assert_eq!(part(hangzhou)["single_bidder_share"], "1.0000");
    assert_eq!(part(ningbo)["deals"], 1);
    assert!(part(ningbo)["alerts_open"].as_u64().unwrap() >= 1);

    // Hangzhou's own auditor: its figures, split into its districts (西湖 has the deal).
    let h = app
        .get("/api/v1/audit/summary", Some(&p.hangzhou_auditor))
        .await
        .json();
    assert_eq!(h["supervisory_body_id"], hangzhou);
    assert_eq!(h["deals"], 1);
    assert_eq!(h["alerts_open"], part(hangzhou)["alerts_open"]);
    let xihu = app.body_id("330106").await;
    let hp = h["by_body"].as_array().unwrap();
    assert_eq!(sum(hp, "deals"), 1);
    let x = hp
        .iter()
        .find(|p| p["supervisory_body_id"] == xihu)
        .unwrap();
    assert_eq!(x["deals"], 1);
    // The province may ask for Hangzhou's; Hangzhou may not ask for Ningbo's.
    let asked = app
        .get(
            &format!("/api/v1/audit/summary?supervisory_body_id={hangzhou}"),
            Some(&p.province_auditor),
        )
        .await
        .json();
    assert_eq!(asked["deals"], 1);
    app.get(
        &format!("/api/v1/audit/summary?supervisory_body_id={ningbo}"),
        Some(&p.hangzhou_auditor),
    )
    .await
    .assert_problem(404, "not_found");
}

async fn bodies_count(app: &TestApp) -> usize {
    app.get("/api/v1/supervisory-bodies", None)
        .await
        .json()
        .as_array()
        .unwrap()
        .len()
}

#[actix_web::test]
async fn admins_shape_the_tree_and_others_may_not() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("admin").await;
    let (_, auditor) = app.staff("auditor").await;
    let hangzhou = app.body_id("330100").await;
    let n = bodies_count(&app).await;
    let new = json!({"name": "杭州市临平区国资办", "region_code": "330113", "parent_id": hangzhou});
    app.post("/api/v1/admin/supervisory-bodies", Some(&auditor), &new)
        .await
        .assert_problem(403, "forbidden");
    app.post("/api/v1/admin/supervisory-bodies", None, &new)
        .await
        .assert_problem(401, "unauthorized");
    let r = app
        .post("/api/v1/admin/supervisory-bodies", Some(&admin), &new)
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    assert_eq!(created["parent_id"], hangzhou);
    assert_eq!(created["region_code"], "330113");
    assert_eq!(bodies_count(&app).await, n + 1);
    // Duplicate code, unknown parent, a malformed code: problems, nothing added.
    app.post("/api/v1/admin/supervisory-bodies", Some(&admin), &new)
        .await
        .assert_problem(409, "region_code_taken");
    app.post(
        "/api/v1/admin/supervisory-bodies",
        Some(&admin),
        &json!({"name": "无上级", "region_code": "330114", "parent_id": 999_999}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/api/v1/admin/supervisory-bodies",
        Some(&admin),
        &json!({"name": "坏代码", "region_code": "33A114", "parent_id": hangzhou}),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(bodies_count(&app).await, n + 1);
    // Registration under an unknown body: 422 and no account.
    let email = format!("enterprise{}@example.com", next_id());
    app.register(json!({"email": email, "role": "enterprise", "supervisory_body_id": 999_999}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(app.login(&email, PASSWORD).await.status, 401);
}

#[actix_web::test]
async fn moving_an_enterprise_is_audited_and_moves_what_auditors_see() {
    let app = spawn_app().await;
    let p = province(&app).await;
    let (_, admin) = app.staff("admin").await;
    let org = app
        .get(
            &format!("/api/v1/listings/{}", p.ningbo),
            Some(&p.province_auditor),
        )
        .await
        .json()["seller"]["organization_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/admin/organizations/{org}/supervisory-body");
    let yuhang = app.body_id("330110").await;
    let before = app
        .audit_count(Some("organization.supervisory_body_changed"))
        .await;
    app.post(
        &path,
        Some(&p.hangzhou_auditor),
        &json!({"supervisory_body_id": yuhang}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &path,
        Some(&admin),
        &json!({"supervisory_body_id": 999_999}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/api/v1/admin/organizations/999999/supervisory-body",
        Some(&admin),
        &json!({"supervisory_body_id": yuhang}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post(&path, Some(&admin), &json!({"body": 1}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        app.audit_count(Some("organization.supervisory_body_changed"))
            .await,
        before
    );
    let url = format!("/api/v1/listings/{}", p.ningbo);
    assert_eq!(app.get(&url, Some(&p.hangzhou_auditor)).await.status, 404);
    let r = app
        .post(&path, Some(&admin), &json!({"supervisory_body_id": yuhang}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["supervisory_body_id"], yuhang);
    assert_eq!(
        app.audit_count(Some("organization.supervisory_body_changed"))
            .await,
        before + 1
    );
    // The same token: the scope is computed for each request.
    assert_eq!(app.get(&url, Some(&p.hangzhou_auditor)).await.status, 200);
}
