//! Risk alerts: every rule driven through the API into an alert, once per subject; what the
//! auditor does with them (list, filter, acknowledge); addresses kept from other parties;
//! and the supervisor's dashboard.

use std::time::Duration;

use serde_json::{Value, json};

use crate::auctions::{bid, key, ready_for_auction, wait_status};
use crate::deals::{in_negotiation, step};
use crate::helpers::{PASSWORD, TestApp, credit_code, next_id, spawn_app, spawn_app_with};
use crate::listings::{Cast, approved, approved_with, cast, eligible_bidders, in_secs};

/// Alerts of a listing, oldest first (the API lists newest first).
async fn alerts(app: &TestApp, c: &Cast, id: i64) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/audit/alerts?listing_id={id}&per_page=100"),
            Some(&c.auditor),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut items = r.json()["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

fn rules_of(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect()
}

fn find<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["rule"] == rule).collect()
}

/// Waits until the listing has an alert of `rule` (raised by the scheduler or a close).
async fn wait_alert(app: &TestApp, c: &Cast, id: i64, rule: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for _ in 0..100 {
        all = alerts(app, c, id).await;
        if !find(&all, rule).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    all
}

async fn listing_status(app: &TestApp, c: &Cast, id: i64, want: &str) {
    for _ in 0..100 {
        let l = app
            .get(&format!("/api/v1/listings/{id}"), Some(&c.owner))
            .await
            .json();
        if l["status"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("listing {id} never reached {want}");
}

async fn relist(app: &TestApp, c: &Cast, id: i64, body: Value) {
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/relist"),
            Some(&c.owner),
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

async fn approve(app: &TestApp, c: &Cast, id: i64, end: Option<String>) {
    let mut body = json!({"decision": "approve", "comment": ""});
    if let Some(end) = end {
        body["disclosure_end"] = json!(end);
    }
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/review"),
            Some(&c.operator),
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[actix_web::test]
async fn price_cuts_relisting_and_a_single_bidder_deal_are_flagged_once_each() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    // Round 1 at the appraisal: nothing about prices.
    let id = approved(&app, &c, &in_secs(1)).await;
    listing_status(&app, &c, id, "no_sale").await;
    assert!(find(&alerts(&app, &c, id).await, "price_below_appraisal").is_empty());
    // Round 2 at 95 % without consent (allowed down to 90 %): flagged.
    relist(
        &app,
        &c,
        id,
        json!({"listing_price": "9500000", "disclosure_working_days": 0}),
    )
    .await;
    let a = alerts(&app, &c, id).await;
    let price = find(&a, "price_below_appraisal");
    assert_eq!(price.len(), 1, "{a:?}");
    assert_eq!(price[0]["subject"], format!("listing:{id}:round:2"));
    assert_eq!(price[0]["severity"], "high");
    assert_eq!(price[0]["status"], "open");
    assert!(
        price[0]["detail"].as_str().unwrap().contains("9500000.00"),
        "{}",
        price[0]["detail"]
    );
    assert!(find(&a, "repeated_relisting").is_empty());
    approve(&app, &c, id, Some(in_secs(1))).await;
    listing_status(&app, &c, id, "no_sale").await;
    // Round 3 at 85 % with consent: the third round and the second cut.
    relist(
        &app,
        &c,
        id,
        json!({"listing_price": "8500000", "disclosure_working_days": 0, "consent_document": "闽国资产权〔2026〕7号"}),
    )
    .await;
    let a = alerts(&app, &c, id).await;
    assert_eq!(find(&a, "price_below_appraisal").len(), 1, "consent given");
    let relisting = find(&a, "repeated_relisting");
    assert_eq!(relisting.len(), 1);
    assert_eq!(relisting[0]["evidence"]["rounds"], "3");
    assert_eq!(relisting[0]["evidence"]["price_cuts"], "2");
    // One eligible bidder quotes the listing price: a single-bidder deal below the floor.
    approve(&app, &c, id, Some(in_secs(600))).await;
    let b = eligible_bidders(&app, &c, id, 1).await.remove(0);
    app.clock.advance(chrono::Duration::seconds(601));
    listing_status(&app, &c, id, "negotiation").await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/quote"),
            Some(&b),
            &json!({"amount": "8500000"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let a = alerts(&app, &c, id).await;
    let single = find(&a, "single_bidder_deal");
    assert_eq!(single.len(), 1);
    assert_eq!(single[0]["severity"], "high", "after price cuts");
    assert_eq!(single[0]["subject"], format!("deal:{id}:round:3"));
    assert_eq!(find(&a, "deal_below_floor").len(), 1);
    assert_eq!(
        find(&a, "price_below_appraisal").len(),
        1,
        "the deal has consent: no second price alert"
    );
    // Closed on the same day as announced: the announcement was too short.
    for (what, body) in [
        (
            "contract",
            json!({"signed_at": asset_exchange::domain::Clock::now(&*app.clock).to_rfc3339()}),
        ),
        ("payment", json!({"reference": "PAY-1"})),
        ("announce", json!({})),
        ("close", json!({})),
    ] {
        let r = step(&app, &c, id, what, body).await;
        assert_eq!(
            r.status,
            200,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let a = alerts(&app, &c, id).await;
    assert_eq!(find(&a, "short_announcement").len(), 1);
    // Every alert was written with its audit event on the listing's stream.
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=alert.raised&per_page=100"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(events["total"].as_i64().unwrap(), a.len() as i64);
    let ids: Vec<i64> = a.iter().map(|x| x["id"].as_i64().unwrap()).collect();
    for e in events["items"].as_array().unwrap() {
        assert!(ids.contains(&e["payload"]["alert_id"].as_i64().unwrap()));
    }
}

#[actix_web::test]
async fn an_appraisal_older_than_the_limit_at_the_award_is_flagged() {
    // The threshold comes from configuration; 0 months makes the test's appraisal stale.
    let app = spawn_app_with(|s| s.risk.appraisal_max_age_months = 0).await;
    let c = cast(&app).await;
    let (id, b) = in_negotiation(&app, &c).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/quote"),
            Some(&b),
            &json!({"amount": "10000000"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let a = alerts(&app, &c, id).await;
    let stale = find(&a, "stale_appraisal");
    assert_eq!(stale.len(), 1, "{a:?}");
    assert_eq!(stale[0]["evidence"]["appraisal_date"], "2026-06-30");
    assert!(find(&a, "price_below_appraisal").is_empty());
    assert!(find(&a, "deal_below_floor").is_empty());
    assert_eq!(find(&a, "single_bidder_deal")[0]["severity"], "medium");
}

/// Schedules the auction of `id` to start one second after the app's clock (which runs
/// 601 s ahead after `ready_for_auction`).
async fn start_auction(app: &TestApp, c: &Cast, id: i64) {
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

async fn wait_countdown(app: &TestApp, id: i64) {
    for _ in 0..100 {
        let a = app
            .get(&format!("/api/v1/listings/{id}/auction"), None)
            .await
            .json();
        if a["phase"] == "countdown" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no countdown");
}

#[actix_web::test]
async fn an_auction_won_at_the_start_price_by_one_of_three_bidders_is_flagged() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        3,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 2}),
    )
    .await;
    start_auction(&app, &c, id).await;
    wait_countdown(&app, id).await;
    let r = bid(&app, id, &b[0], "10000000", &key()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(wait_status(&app, id, "awarded").await["status"], "awarded");
    let a = wait_alert(&app, &c, id, "no_raise_award").await;
    let subject = format!("auction:{id}:round:1");
    let of_auction: Vec<&Value> = a.iter().filter(|x| x["subject"] == subject).collect();
    let mut rules: Vec<&str> = of_auction
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        ["lone_countdown_bidder", "no_raise_award", "silent_bidders"]
    );
    let silent = find(&a, "silent_bidders");
    assert_eq!(
        silent[0]["evidence"]["silent_registrations"]
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        2
    );
    assert_eq!(
        find(&a, "lone_countdown_bidder")[0]["evidence"]["countdown_bidders"],
        "1"
    );
}

#[actix_web::test]
async fn bids_in_the_last_seconds_of_every_countdown_are_flagged_as_sniping() {
    // Every countdown bid counts as last-second when the window exceeds the countdown.
    let app = spawn_app_with(|s| {
        s.risk.snipe_window_seconds = 3600;
        s.risk.snipe_min_bids = 3;
    })
    .await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 3}),
    )
    .await;
    start_auction(&app, &c, id).await;
    wait_countdown(&app, id).await;
    for (i, amount) in ["10000000", "10050000", "10100000"].iter().enumerate() {
        let r = bid(&app, id, &b[i % 2], amount, &key()).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(wait_status(&app, id, "awarded").await["status"], "awarded");
    let a = wait_alert(&app, &c, id, "countdown_sniping").await;
    let subject = format!("auction:{id}:round:1");
    let rules: Vec<&str> = a
        .iter()
        .filter(|x| x["subject"] == subject)
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    // Two bidders raised each other in the countdown: only the timing is suspicious.
    assert_eq!(rules, ["countdown_sniping"]);
    assert_eq!(
        find(&a, "countdown_sniping")[0]["evidence"]["late_bids"],
        "3"
    );
}

/// Registers a verified bidder with `fields` on listing `id` from `ip`, qualified and paid.
async fn bidder_from(app: &TestApp, c: &Cast, id: i64, fields: Value, ip: &str) -> String {
    let (_, token) = app.verified_bidder_with(fields).await;
    let r = app
        .raw(
            "POST",
            &format!("/api/v1/listings/{id}/registrations"),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
                ("x-forwarded-for", ip),
            ],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let rid = r.json()["id"].as_i64().unwrap();
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
    token
}

/// An exchange whose enterprise signs in with an address at `domain`.
async fn cast_at(app: &TestApp, domain: &str) -> Cast {
    let email = format!("boss{}@{domain}", next_id());
    let r = app
        .register(json!({"email": email, "role": "enterprise", "credit_code": credit_code()}))
        .await;
    assert_eq!(r.status, 201);
    let owner = app.login(&email, PASSWORD).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    Cast::with_owner(app, email, owner).await
}

#[actix_web::test]
async fn bidders_sharing_an_address_phone_or_small_domain_and_ties_to_the_seller_are_flagged() {
    let app = spawn_app_with(|s| s.server.trust_forwarded_for = true).await;
    let c = cast_at(&app, "fz-steel.cn").await;
    let id = approved(&app, &c, &in_secs(600)).await;
    let n = next_id();
    // Unrelated: public mail domain, different addresses and phones.
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("a{n}@qq.com"), "phone": "13800000001"}),
        "203.0.113.1",
    )
    .await;
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("b{n}@qq.com"), "phone": "13800000002"}),
        "203.0.113.2",
    )
    .await;
    let related = |a: &[Value]| {
        a.iter()
            .filter(|x| x["rule"] == "related_bidders" || x["rule"] == "bidder_related_to_seller")
            .count()
    };
    assert_eq!(
        related(&alerts(&app, &c, id).await),
        0,
        "nothing shared yet"
    );
    // Same registration address as the first bidder.
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("c{n}@qq.com")}),
        "203.0.113.1",
    )
    .await;
    // Same phone as the second (written differently).
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("d{n}@qq.com"), "phone": "+86 138-0000-0002"}),
        "203.0.113.4",
    )
    .await;
    // Two bidders from one small organisation's domain.
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("e{n}@lianhe-trade.cn")}),
        "203.0.113.5",
    )
    .await;
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("f{n}@lianhe-trade.cn")}),
        "203.0.113.6",
    )
    .await;
    // A bidder at the seller's own domain.
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("g{n}@fz-steel.cn")}),
        "203.0.113.7",
    )
    .await;

    let a = alerts(&app, &c, id).await;
    assert_eq!(related(&a), 4);
    let related = find(&a, "related_bidders");
    assert_eq!(related.len(), 3, "{related:?}");
    assert_eq!(related[0]["evidence"]["ips"], "203.0.113.1");
    assert_eq!(related[1]["evidence"]["phone"], "true");
    assert_eq!(related[2]["evidence"]["email_domains"], "lianhe-trade.cn");
    for r in &related {
        assert!(
            !r["detail"].as_str().unwrap().contains("203.0.113"),
            "addresses stay in the evidence"
        );
        assert!(!r["detail"].as_str().unwrap().contains("13800000002"));
    }
    let seller = find(&a, "bidder_related_to_seller");
    assert_eq!(seller.len(), 1);
    assert_eq!(seller[0]["evidence"]["email_domains"], "fz-steel.cn");
    assert_eq!(seller[0]["severity"], "high");

    // Registering again changes nothing: one alert per rule and subject.
    let before = a.len();
    bidder_from(
        &app,
        &c,
        id,
        json!({"email": format!("h{n}@qq.com")}),
        "198.51.100.9",
    )
    .await;
    assert_eq!(alerts(&app, &c, id).await.len(), before);

    // The addresses are recorded but no other party ever sees them.
    let (_, b) = app.verified_bidder().await;
    for (who, token) in [
        ("owner", Some(c.owner.as_str())),
        ("public", None),
        ("bidder", Some(b.as_str())),
    ] {
        for path in [
            format!("/api/v1/listings/{id}"),
            format!("/api/v1/listings/{id}/registrations"),
            format!("/api/v1/listings/{id}/bids"),
        ] {
            let r = app.get(&path, token).await;
            let text = String::from_utf8_lossy(&r.body);
            assert!(
                !text.contains("203.0.113"),
                "{who} sees an address at {path}"
            );
            assert!(
                !text.contains("user_agent"),
                "{who} sees a user agent at {path}"
            );
        }
    }
}

#[actix_web::test]
async fn a_bid_from_another_bidders_address_is_flagged_while_bidding() {
    let app = spawn_app_with(|s| s.server.trust_forwarded_for = true).await;
    let c = cast(&app).await;
    let id = approved_with(
        &app,
        &c,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 30}),
        &in_secs(600),
    )
    .await;
    let b0 = bidder_from(&app, &c, id, json!({}), "198.51.100.10").await;
    let b1 = bidder_from(&app, &c, id, json!({}), "198.51.100.11").await;
    app.clock.advance(chrono::Duration::seconds(601));
    start_auction(&app, &c, id).await;
    wait_countdown(&app, id).await;
    let place = |token: String, amount: &'static str, ip: &'static str| {
        let app = &app;
        async move {
            app.raw(
                "POST",
                &format!("/api/v1/listings/{id}/bids"),
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("content-type", "application/json"),
                    ("idempotency-key", &key()),
                    ("x-forwarded-for", ip),
                ],
                serde_json::to_vec(&json!({"amount": amount})).unwrap(),
            )
            .await
        }
    };
    assert_eq!(place(b0, "10000000", "198.51.100.10").await.status, 201);
    assert!(find(&alerts(&app, &c, id).await, "related_bidders").is_empty());
    // The second bidder bids from the first one's address.
    assert_eq!(place(b1, "10050000", "198.51.100.10").await.status, 201);
    let a = alerts(&app, &c, id).await;
    let related = find(&a, "related_bidders");
    assert_eq!(related.len(), 1, "raised in the bid's transaction: {a:?}");
    assert_eq!(related[0]["evidence"]["ips"], "198.51.100.10");
    let auction = app
        .get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json();
    assert_eq!(auction["phase"], "countdown", "still bidding");
}

#[actix_web::test]
async fn a_disclosure_cut_short_is_flagged_and_an_auditor_acknowledges_it_once() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    // Announced for one working day, ended by the operator within seconds.
    let short = approved_with(&app, &c, json!({"disclosure_working_days": 1}), &in_secs(5)).await;
    // The announced period as given: nothing.
    let full = crate::listings::draft(&app, &c.owner, json!({"disclosure_working_days": 1})).await
        ["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/listings/{full}/submit"),
        Some(&c.owner),
        &json!({}),
    )
    .await;
    approve(&app, &c, full, None).await;
    assert!(alerts(&app, &c, full).await.is_empty());
    let a = alerts(&app, &c, short).await;
    assert_eq!(rules_of(&a), ["short_disclosure"]);
    let alert = &a[0];
    assert_eq!(alert["evidence"]["working_days"], "0");
    assert_eq!(alert["evidence"]["required_working_days"], "1");
    assert_eq!(alert["listing_id"], short);
    let ack = format!("/api/v1/audit/alerts/{}/acknowledge", alert["id"]);

    // Who may see and acknowledge.
    app.get("/api/v1/audit/alerts", None)
        .await
        .assert_problem(401, "unauthorized");
    app.get("/api/v1/audit/alerts", Some(&c.operator))
        .await
        .assert_problem(403, "forbidden");
    app.post(&ack, Some(&c.owner), &json!({"comment": "x"}))
        .await
        .assert_problem(403, "forbidden");
    // Bad input changes nothing.
    app.post(&ack, Some(&c.auditor), &json!({"comment": "  "}))
        .await
        .assert_problem(422, "validation_failed");
    app.post(
        "/api/v1/audit/alerts/999999/acknowledge",
        Some(&c.auditor),
        &json!({"comment": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    for q in ["rule=nonsense", "severity=urgent", "status=closed"] {
        app.get(&format!("/api/v1/audit/alerts?{q}"), Some(&c.auditor))
            .await
            .assert_problem(400, "invalid_query");
    }
    assert_eq!(app.audit_count(Some("alert.acknowledged")).await, 0);

    let r = app
        .post(
            &ack,
            Some(&c.auditor),
            &json!({"comment": "经核实，系转让方申请提前结束，已责令整改。"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let done = r.json();
    assert_eq!(done["status"], "acknowledged");
    assert_eq!(
        done["ack_comment"],
        "经核实，系转让方申请提前结束，已责令整改。"
    );
    assert!(done["acknowledged_at"].is_string());
    app.post(&ack, Some(&c.auditor), &json!({"comment": "again"}))
        .await
        .assert_problem(409, "already_acknowledged");
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={short}&action=alert.acknowledged"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(events["total"], 1);
    assert_eq!(
        events["items"][0]["payload"]["comment"],
        "经核实，系转让方申请提前结束，已责令整改。"
    );

    // Filters.
    let open = app
        .get(
            &format!("/api/v1/audit/alerts?listing_id={short}&status=open"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(open["total"], 0);
    let by_rule = app
        .get(
            "/api/v1/audit/alerts?rule=short_disclosure&severity=high&status=acknowledged",
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(by_rule["total"], 1);
    let catalogue = app
        .get("/api/v1/audit/alerts/rules", Some(&c.auditor))
        .await
        .json();
    assert_eq!(catalogue["rules"].as_array().unwrap().len(), 16);
    assert_eq!(catalogue["thresholds"]["deal_floor_percent"], 90);
}

#[actix_web::test]
async fn deposits_forfeited_repeatedly_by_one_organisation_are_flagged() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (_, b) = app.verified_bidder().await;
    let mut regs = Vec::new();
    for _ in 0..2 {
        let id = approved(&app, &c, &in_secs(600)).await;
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
        app.post(
            &format!("/api/v1/registrations/{rid}/deposit"),
            Some(&c.operator),
            &json!({"action": "confirm", "reference": "P"}),
        )
        .await;
        regs.push((id, rid));
    }
    let forfeit = |rid: i64| {
        let app = &app;
        let op = c.operator.clone();
        async move {
            app.post(
                &format!("/api/v1/registrations/{rid}/deposit"),
                Some(&op),
                &json!({"action": "forfeit"}),
            )
            .await
        }
    };
    assert_eq!(
        forfeit(regs[0].1).await.json()["deposit_status"],
        "forfeited"
    );
    assert!(find(&alerts(&app, &c, regs[0].0).await, "repeated_forfeits").is_empty());
    assert_eq!(
        forfeit(regs[1].1).await.json()["deposit_status"],
        "forfeited"
    );
    let a = alerts(&app, &c, regs[1].0).await;
    let f = find(&a, "repeated_forfeits");
    assert_eq!(f.len(), 1, "{a:?}");
    assert_eq!(f[0]["evidence"]["forfeits"], "2");
    assert!(f[0]["subject"].as_str().unwrap().starts_with("org:"));
    assert!(f[0]["organization_id"].is_i64());
}

#[actix_web::test]
async fn an_overdue_suspension_and_a_missed_contract_deadline_become_alerts() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let suspended = approved(&app, &c, &in_secs(3600)).await;
    let r = app
        .post(
            &format!("/api/v1/listings/{suspended}/suspend"),
            Some(&c.operator),
            &json!({"reason": "权属争议"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let (deal, b) = in_negotiation(&app, &c).await;
    app.post(
        &format!("/api/v1/listings/{deal}/quote"),
        Some(&b),
        &json!({"amount": "10000000"}),
    )
    .await;
    assert!(find(&alerts(&app, &c, deal).await, "contract_overdue").is_empty());
    // Forty days later: the suspension is over a month old and the contract was never signed.
    app.clock.advance(chrono::Duration::days(40));
    c.renew(&app).await;
    let a = wait_alert(&app, &c, suspended, "suspension_overdue").await;
    assert_eq!(find(&a, "suspension_overdue").len(), 1);
    let a = wait_alert(&app, &c, deal, "contract_overdue").await;
    let overdue = find(&a, "contract_overdue");
    assert_eq!(overdue.len(), 1);
    // One alert per winner's deadline: a runner-up who takes over has its own.
    assert!(
        overdue[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with(&format!("deal:{deal}:round:1:")),
        "{}",
        overdue[0]
    );
    // The scheduler keeps running: still one each.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        find(&alerts(&app, &c, suspended).await, "suspension_overdue").len(),
        1
    );
    assert_eq!(
        find(&alerts(&app, &c, deal).await, "contract_overdue").len(),
        1
    );
}

#[actix_web::test]
async fn the_dashboard_counts_alerts_and_deal_figures() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    // A negotiated deal at the listing price, and an auction won 10 % above it.
    let one = approved(&app, &c, &in_secs(600)).await;
    let b = eligible_bidders(&app, &c, one, 1).await.remove(0);
    let two = approved_with(
        &app,
        &c,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 2, "increment": "500000"}),
        &in_secs(600),
    )
    .await;
    let bs = eligible_bidders(&app, &c, two, 2).await;
    app.clock.advance(chrono::Duration::seconds(601));
    listing_status(&app, &c, one, "negotiation").await;
    let r = app
        .post(
            &format!("/api/v1/listings/{one}/quote"),
            Some(&b),
            &json!({"amount": "10000000"}),
        )
        .await;
    assert_eq!(r.status, 200);
    start_auction(&app, &c, two).await;
    wait_countdown(&app, two).await;
    assert_eq!(bid(&app, two, &bs[0], "10500000", &key()).await.status, 201);
    assert_eq!(bid(&app, two, &bs[1], "11000000", &key()).await.status, 201);
    assert_eq!(wait_status(&app, two, "awarded").await["status"], "awarded");

    app.get("/api/v1/audit/summary", Some(&c.owner))
        .await
        .assert_problem(403, "forbidden");
    app.get(
        "/api/v1/audit/summary?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z",
        Some(&c.auditor),
    )
    .await
    .assert_problem(400, "invalid_query");
    let s = app
        .get("/api/v1/audit/summary", Some(&c.auditor))
        .await
        .json();
    assert_eq!(s["deals"], 2);
    assert_eq!(s["deals_total_value"], "21000000.00");
    assert_eq!(s["deals_by_kind"][0]["kind"], "equity_transfer");
    assert_eq!(s["deals_by_kind"][0]["deals"], 2);
    assert_eq!(s["single_bidder_deals"], 1);
    assert_eq!(s["single_bidder_share"], "0.5000");
    assert_eq!(s["avg_premium_over_listing_percent"], "5.00");
    assert_eq!(s["avg_premium_over_appraisal_percent"], "5.00");
    // Alert counts agree with the alert list.
    let all = app
        .get("/api/v1/audit/alerts?per_page=100", Some(&c.auditor))
        .await
        .json();
    assert_eq!(s["alerts_total"], all["total"]);
    let single = s["alerts_by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "single_bidder_deal")
        .unwrap();
    assert_eq!(single["count"], 1);
    let months: i64 = s["alerts_by_month"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_i64().unwrap())
        .sum();
    assert_eq!(months, all["total"].as_i64().unwrap());
    // A window before everything: nothing.
    let empty = app
        .get(
            "/api/v1/audit/summary?to=2020-01-01T00:00:00Z",
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(empty["deals"], 0);
    assert_eq!(empty["single_bidder_share"], Value::Null);
    assert_eq!(empty["alerts_total"], 0);
}
