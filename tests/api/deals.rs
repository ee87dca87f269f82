//! Negotiated deals and the road from award to a closed deal.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::listings::{Cast, approved, cast, eligible_bidders, in_secs};

/// A listing in negotiation with one eligible bidder; returns (id, bidder token).
pub async fn in_negotiation(app: &TestApp, c: &Cast) -> (i64, String) {
    let id = approved(app, c, &in_secs(600)).await;
    let b = eligible_bidders(app, c, id, 1).await.remove(0);
    app.clock.advance(chrono::Duration::seconds(601));
    assert_eq!(
        app.get(&format!("/api/v1/listings/{id}"), None)
            .await
            .json()["status"],
        "negotiation"
    );
    (id, b)
}

pub async fn step(
    app: &TestApp,
    c: &Cast,
    id: i64,
    what: &str,
    body: Value,
) -> crate::helpers::Resp {
    app.post(
        &format!("/api/v1/listings/{id}/deal/{what}"),
        Some(&c.operator),
        &body,
    )
    .await
}

#[actix_web::test]
async fn a_negotiated_deal_goes_all_the_way_to_a_certificate_issued_once() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, bidder) = in_negotiation(&app, &c).await;
    let quote = format!("/api/v1/listings/{id}/quote");
    let (_, stranger) = app.verified_bidder().await;
    app.post(&quote, Some(&stranger), &json!({"amount": "10000000"}))
        .await
        .assert_problem(403, "not_eligible");
    app.post(&quote, Some(&bidder), &json!({"amount": "9999999.99"}))
        .await
        .assert_problem(422, "quote_too_low");
    let r = app
        .post(&quote, Some(&bidder), &json!({"amount": "10200000"}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let deal = r.json();
    assert_eq!(
        (
            deal["method"].as_str(),
            deal["price"].as_str(),
            deal["status"].as_str()
        ),
        (Some("negotiation"), Some("10200000.00"), Some("awarded"))
    );
    assert!(
        deal["winner_bidder_code"]
            .as_str()
            .unwrap()
            .starts_with('B')
    );
    app.post(&quote, Some(&bidder), &json!({"amount": "10300000"}))
        .await
        .assert_problem(409, "invalid_state");

    // Before the announcement only the parties and staff see the deal.
    let path = format!("/api/v1/listings/{id}/deal");
    app.get(&path, None).await.assert_problem(404, "not_found");
    app.get(&path, Some(&stranger))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get(&path, Some(&bidder)).await.status, 200);
    assert_eq!(app.get(&path, Some(&c.owner)).await.status, 200);
    assert_eq!(app.get(&path, Some(&c.auditor)).await.status, 200);

    // Steps in order, each once, by operators only.
    step(&app, &c, id, "payment", json!({"reference": "X"}))
        .await
        .assert_problem(409, "invalid_state");
    app.post(
        &format!("{path}/contract"),
        Some(&c.owner),
        &json!({"signed_at": chrono::Utc::now().to_rfc3339()}),
    )
    .await
    .assert_problem(403, "forbidden");
    step(
        &app,
        &c,
        id,
        "contract",
        json!({"signed_at": "2999-01-01T00:00:00Z"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let signed = (chrono::Utc::now() + chrono::Duration::seconds(601)).to_rfc3339();
    assert_eq!(
        step(&app, &c, id, "contract", json!({"signed_at": signed}))
            .await
            .json()["status"],
        "contract_signed"
    );
    step(&app, &c, id, "payment", json!({"reference": " "}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        step(&app, &c, id, "payment", json!({"reference": "JY-PAY-001"}))
            .await
            .json()["status"],
        "paid"
    );
    step(&app, &c, id, "close", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    let r = app
        .raw(
            "POST",
            &format!("{path}/announce"),
            &[("authorization", &format!("Bearer {}", c.operator))],
            vec![],
        )
        .await;
    assert_eq!(r.json()["status"], "announced");
    // Announced: the public sees the deal, with appraisal and listing price.
    let public = app.get(&path, None).await.json();
    assert_eq!(
        (
            public["appraised_value"].as_str(),
            public["listing_price"].as_str()
        ),
        (Some("10000000.00"), Some("10000000.00"))
    );
    let closed = step(&app, &c, id, "close", json!({})).await.json();
    assert_eq!(closed["status"], "closed");
    let certificate = closed["certificate_no"].as_str().unwrap().to_string();
    assert!(certificate.starts_with("AX-JY-"), "{certificate}");
    step(&app, &c, id, "close", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    assert_eq!(
        app.get(&path, None).await.json()["certificate_no"],
        certificate.as_str()
    );
    assert_eq!(
        app.get(&format!("/api/v1/listings/{id}"), None)
            .await
            .json()["status"],
        "closed"
    );
    let regs = app
        .get(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(regs[0]["deposit_status"], "converted");
    for action in [
        "negotiation.quoted",
        "deal.awarded",
        "deposit.converted",
        "deal.contract_signed",
        "deal.paid",
        "deal.announced",
        "deal.closed",
    ] {
        assert_eq!(app.audit_count(Some(action)).await, 1, "{action}");
    }
    assert_eq!(
        app.get("/api/v1/audit/verify", Some(&c.auditor))
            .await
            .json()["valid"],
        true
    );
}

#[actix_web::test]
async fn a_deal_closes_only_after_the_announcement_period() {
    let app = spawn_app_with(|s| s.listing.announcement_min_working_days = 5).await;
    let mut c = cast(&app).await;
    let (id, bidder) = in_negotiation(&app, &c).await;
    app.post(
        &format!("/api/v1/listings/{id}/quote"),
        Some(&bidder),
        &json!({"amount": "10000000"}),
    )
    .await;
    let signed = (chrono::Utc::now() + chrono::Duration::seconds(601)).to_rfc3339();
    step(&app, &c, id, "contract", json!({"signed_at": signed})).await;
    step(&app, &c, id, "payment", json!({"reference": "P"})).await;
    step(&app, &c, id, "announce", json!({})).await;
    step(&app, &c, id, "close", json!({}))
        .await
        .assert_problem(409, "announcement_period_not_over");
    app.clock.advance(chrono::Duration::days(14));
    c.renew(&app).await;
    assert_eq!(
        step(&app, &c, id, "close", json!({})).await.json()["status"],
        "closed"
    );
}

#[actix_web::test]
async fn a_missed_contract_deadline_is_flagged_once() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, bidder) = in_negotiation(&app, &c).await;
    app.post(
        &format!("/api/v1/listings/{id}/quote"),
        Some(&bidder),
        &json!({"amount": "10000000"}),
    )
    .await;
    app.clock.advance(chrono::Duration::days(10));
    c.renew(&app).await;
    for _ in 0..50 {
        if app.audit_count(Some("deal.contract_overdue")).await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(app.audit_count(Some("deal.contract_overdue")).await, 1);
    let late = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    assert_eq!(
        step(&app, &c, id, "contract", json!({"signed_at": late}))
            .await
            .json()["status"],
        "contract_signed"
    );
    let events = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=deal.contract_signed"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(events["items"][0]["payload"]["late"], true);
}
