//! A winner who walks away (违约) and the runner-up (候补): the winner's deposit is held until
//! the contract and forfeited on default; with the runner-up option the deal is offered to the
//! runner-up at its own highest bid, who accepts, declines or stays silent.

use std::time::Duration;

use serde_json::{Value, json};

use crate::auctions::{bid, key, ready_for_auction, wait_status};
use crate::deals::step;
use crate::helpers::{TestApp, spawn_app};
use crate::integrity::{mail_kinds, schedule_in, wait_phase};
use crate::listings::{Cast, cast};

/// An awarded auction: bidder 0 bids the start price, bidder 1 raises, bidder 0 wins with a
/// second raise; bidder 2 (if any) never bids. Returns (listing, bidder tokens, codes).
async fn awarded(
    app: &TestApp,
    c: &Cast,
    bidders: usize,
    runner_up_offer: bool,
) -> (i64, Vec<String>, Vec<String>) {
    let (id, b) = ready_for_auction(
        app,
        c,
        bidders,
        json!({"free_bidding_seconds": 600, "countdown_seconds": 1, "runner_up_offer": runner_up_offer}),
    )
    .await;
    schedule_in(app, c, id, 1).await;
    wait_phase(app, id, "free").await;
    let mut codes = Vec::new();
    for (who, amount) in [(0, "10000000"), (1, "10050000"), (0, "10100000")] {
        let r = bid(app, id, &b[who], amount, &key()).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        if codes.len() <= who {
            codes.push(r.json()["bidder_code"].as_str().unwrap().to_string());
        }
    }
    // End the free period now: move the exchange's clock past it.
    let (_, admin_email, _) = app.staff_account("admin").await;
    app.advance(&admin_email, chrono::Duration::seconds(602))
        .await;
    let l = wait_status(app, id, "awarded").await;
    assert_eq!(l["status"], "awarded", "{l}");
    let mut fresh = Vec::new();
    for t in &b {
        fresh.push(app.token_of(t).await);
    }
    (id, fresh, codes)
}

async fn deposits(app: &TestApp, c: &Cast, id: i64) -> Vec<String> {
    app.get(
        &format!("/api/v1/listings/{id}/registrations"),
        Some(&c.operator),
    )
    .await
    .json()
    .as_array()
    .unwrap()
    .iter()
    .map(|r| r["deposit_status"].as_str().unwrap().to_string())
    .collect()
}

async fn default(app: &TestApp, c: &Cast, id: i64) -> crate::helpers::Resp {
    app.post(
        &format!("/api/v1/listings/{id}/deal/default"),
        Some(&c.operator),
        &json!({"reason": "受让方未在规定期限内签订合同", "evidence_reference": "JY-WY-2026-001"}),
    )
    .await
}

async fn deal(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app
        .get(&format!("/api/v1/listings/{id}/deal"), Some(token))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn status(app: &TestApp, id: i64) -> String {
    app.get(&format!("/api/v1/listings/{id}"), None)
        .await
        .json()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[actix_web::test]
async fn a_winner_that_does_not_sign_forfeits_its_deposit_and_the_listing_fails() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, b, codes) = awarded(&app, &c, 2, false).await;
    c.renew(&app).await;
    // Held, not converted, until the contract: the winner's stays paid, the loser's refunded.
    assert_eq!(deposits(&app, &c, id).await, ["paid", "refunded"]);
    let d = deal(&app, &b[0], id).await;
    assert_eq!(d["status"], "awarded");
    assert_eq!(d["winner_bidder_code"], codes[0]);
    assert!(
        d["contract_due"].is_string() && d["payment_due"].is_null(),
        "{d}"
    );

    // The contract deadline passes: an alert, but no default until the operator decides.
    let (_, admin_email, _) = app.staff_account("admin").await;
    app.advance(&admin_email, chrono::Duration::days(10)).await;
    c.renew(&app).await;
    let mut alerts = Value::Null;
    for _ in 0..100 {
        alerts = app
            .get(
                &format!("/api/v1/audit/alerts?listing_id={id}&rule=contract_overdue"),
                Some(&c.auditor),
            )
            .await
            .json();
        if !alerts["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(status(&app, id).await, "awarded");

    // Only operators record a default, and it needs a reason.
    let winner = app.token_of(&b[0]).await;
    app.post(
        &format!("/api/v1/listings/{id}/deal/default"),
        Some(&winner),
        &json!({"reason": "x"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("/api/v1/listings/{id}/deal/default"),
        Some(&c.operator),
        &json!({"reason": "  "}),
    )
    .await
    .assert_problem(422, "validation_failed");

    let r = default(&app, &c, id).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "defaulted");
    assert_eq!(status(&app, id).await, "failed");
    assert_eq!(deposits(&app, &c, id).await, ["forfeited", "refunded"]);
    // Once only.
    default(&app, &c, id)
        .await
        .assert_problem(409, "invalid_state");
    assert_eq!(app.audit_count(Some("deal.defaulted")).await, 1);
    assert!(
        mail_kinds(&app, &winner)
            .await
            .contains(&"deal_defaulted".into())
    );
    // The listing is relistable.
    let relist = app
        .post(
            &format!("/api/v1/listings/{id}/relist"),
            Some(&c.owner),
            &json!({"listing_price": "10000000", "disclosure_working_days": 20}),
        )
        .await;
    assert_eq!(
        relist.status,
        200,
        "{}",
        String::from_utf8_lossy(&relist.body)
    );
}

#[actix_web::test]
async fn the_runner_up_accepts_and_signs_at_its_own_highest_bid() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, b, codes) = awarded(&app, &c, 3, true).await;
    c.renew(&app).await;
    // The runner-up's deposit is held too; the silent bidder's is refunded.
    assert_eq!(deposits(&app, &c, id).await, ["paid", "paid", "refunded"]);

    let r = default(&app, &c, id).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json();
    assert_eq!(d["status"], "offered", "{d}");
    assert_eq!(d["winner_bidder_code"], codes[1]);
    assert_eq!(d["price"], "10050000.00");
    assert!(d["offer_due"].is_string());
    assert_eq!(status(&app, id).await, "awarded");
    assert_eq!(
        deposits(&app, &c, id).await,
        ["forfeited", "paid", "refunded"]
    );
    assert!(
        mail_kinds(&app, &b[1])
            .await
            .contains(&"deal_offered".into())
    );

    // The defaulted winner and a stranger cannot answer; the runner-up can.
    for who in [&b[0], &b[2]] {
        app.post(
            &format!("/api/v1/listings/{id}/deal/accept"),
            Some(who),
            &json!({}),
        )
        .await
        .assert_problem(403, "not_offered");
    }
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/deal/accept"),
            Some(&b[1]),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json();
    assert_eq!(d["status"], "awarded");
    assert_eq!(d["winner_bidder_code"], codes[1]);
    assert_eq!(deal(&app, &b[1], id).await["price"], "10050000.00");
    // The contract converts the runner-up's deposit into the price.
    let signed = app.now().to_rfc3339();
    let r = step(&app, &c, id, "contract", json!({"signed_at": signed})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["payment_due"].is_string());
    assert_eq!(
        deposits(&app, &c, id).await,
        ["forfeited", "converted", "refunded"]
    );
    assert_eq!(status(&app, id).await, "contract_signed");
}

#[actix_web::test]
async fn the_runner_up_declines_and_the_listing_fails() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, b, _) = awarded(&app, &c, 2, true).await;
    c.renew(&app).await;
    assert_eq!(default(&app, &c, id).await.json()["status"], "offered");
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/deal/decline"),
            Some(&b[1]),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "declined");
    assert_eq!(status(&app, id).await, "failed");
    assert_eq!(deposits(&app, &c, id).await, ["forfeited", "refunded"]);
    // No second answer.
    app.post(
        &format!("/api/v1/listings/{id}/deal/accept"),
        Some(&b[1]),
        &json!({}),
    )
    .await
    .assert_problem(409, "invalid_state");
    assert!(
        mail_kinds(&app, &b[1])
            .await
            .contains(&"deal_offer_ended".into())
    );
}

#[actix_web::test]
async fn a_silent_runner_up_lets_the_offer_lapse() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, b, _) = awarded(&app, &c, 2, true).await;
    c.renew(&app).await;
    let d = default(&app, &c, id).await.json();
    assert_eq!(d["status"], "offered");
    let due: chrono::DateTime<chrono::Utc> = d["offer_due"].as_str().unwrap().parse().unwrap();
    // Before the answer is due nothing happens; after it, the offer lapses by itself.
    let (_, admin_email, _) = app.staff_account("admin").await;
    let now = app.now();
    app.advance(&admin_email, (due - now) - chrono::Duration::minutes(1))
        .await;
    crate::integrity::scheduler_round(&app).await;
    assert_eq!(status(&app, id).await, "awarded");
    app.advance(&admin_email, chrono::Duration::minutes(2))
        .await;
    let l = wait_status(&app, id, "failed").await;
    assert_eq!(l["status"], "failed", "{l}");
    c.renew(&app).await;
    let runner_up = app.token_of(&b[1]).await;
    assert_eq!(deal(&app, &runner_up, id).await["status"], "lapsed");
    assert_eq!(deposits(&app, &c, id).await, ["forfeited", "refunded"]);
    assert_eq!(app.audit_count(Some("deal.offer_lapsed")).await, 1);
}

#[actix_web::test]
async fn without_a_runner_up_bid_the_option_cannot_offer_anything() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 600, "countdown_seconds": 1, "runner_up_offer": true}),
    )
    .await;
    schedule_in(&app, &c, id, 1).await;
    wait_phase(&app, id, "free").await;
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);
    let (_, admin_email, _) = app.staff_account("admin").await;
    app.advance(&admin_email, chrono::Duration::seconds(602))
        .await;
    assert_eq!(wait_status(&app, id, "awarded").await["status"], "awarded");
    c.renew(&app).await;
    // Only the winner bid: the other bidder is no runner-up and is refunded at the close.
    assert_eq!(deposits(&app, &c, id).await, ["paid", "refunded"]);
    assert_eq!(default(&app, &c, id).await.json()["status"], "defaulted");
    assert_eq!(status(&app, id).await, "failed");
}

#[actix_web::test]
async fn terminating_for_the_winners_default_forfeits_only_the_winners_deposit() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, _, _) = awarded(&app, &c, 3, true).await;
    c.renew(&app).await;
    let terminate = |winner_default: bool| json!({"reason": "受让方违约，项目终结", "winner_default": winner_default});
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/terminate"),
            Some(&c.operator),
            &terminate(true),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "terminated");
    // The winner forfeits; the held runner-up is refunded; nothing is offered.
    assert_eq!(
        deposits(&app, &c, id).await,
        ["forfeited", "refunded", "refunded"]
    );
    assert_eq!(app.audit_count(Some("deal.offered")).await, 0);
}

#[actix_web::test]
async fn a_winners_default_ends_only_a_deal_whose_contract_is_unsigned() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, _, _) = awarded(&app, &c, 2, false).await;
    c.renew(&app).await;
    let signed = app.now().to_rfc3339();
    let r = step(&app, &c, id, "contract", json!({"signed_at": signed})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(deposits(&app, &c, id).await, ["converted", "refunded"]);
    default(&app, &c, id)
        .await
        .assert_problem(409, "invalid_state");
    app.post(
        &format!("/api/v1/listings/{id}/terminate"),
        Some(&c.operator),
        &json!({"reason": "受让方违约", "winner_default": true}),
    )
    .await
    .assert_problem(409, "invalid_state");
    // Nothing changed on the way.
    assert_eq!(status(&app, id).await, "contract_signed");
    assert_eq!(deposits(&app, &c, id).await, ["converted", "refunded"]);
}
