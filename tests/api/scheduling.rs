//! Scheduling an auction tells each bidder who may bid: when, on what terms, under which
//! bidder code; nobody else, and nothing when the schedule is refused.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::spawn_app;
use crate::listings::{Cast, approved_with, cast, eligible_bidders, in_secs, rejected_registrant};

/// (address, text and HTML) of every `auction_scheduled` mail, whatever its delivery status.
async fn scheduled_mail(app: &TestApp) -> Vec<(String, String)> {
    let rows = app.outbox().await.into_iter();
    rows.filter(|n| n.kind == "auction_scheduled")
        .map(|n| (n.to_address, format!("{}\n{}", n.body_text, n.body_html)))
        .collect()
}

/// The caller's e-mail address and bidder code on listing `id`.
async fn who(app: &TestApp, id: i64, token: &str) -> (String, String) {
    let me = app.get("/api/v1/me", Some(token)).await.json();
    let user = me["id"].as_i64().unwrap();
    let regs = app
        .db()
        .run(move |c| asset_exchange::store::registrations::of_round(c, id, 1))
        .await
        .unwrap();
    let code = regs
        .into_iter()
        .find(|r| r.user_id == user)
        .and_then(|r| r.bidder_code)
        .unwrap_or_default();
    (me["email"].as_str().unwrap().to_string(), code)
}

/// A listing past its disclosure with two eligible bidders and one rejected registrant.
async fn ready(app: &TestApp, c: &Cast, overrides: Value) -> (i64, Vec<String>, String) {
    let id = approved_with(app, c, overrides, &in_secs(600)).await;
    let eligible = eligible_bidders(app, c, id, 2).await;
    let rejected = rejected_registrant(app, c, id).await;
    app.clock.advance(Duration::seconds(601));
    (id, eligible, rejected)
}

async fn schedule(app: &TestApp, c: &Cast, id: i64, at: DateTime<Utc>) -> crate::helpers::Resp {
    app.post(
        &format!("/api/v1/listings/{id}/auction"),
        Some(&c.operator),
        &json!({"starts_at": at.to_rfc3339()}),
    )
    .await
}

#[actix_web::test]
async fn each_eligible_bidder_is_told_when_the_auction_starts_and_under_which_code() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, eligible, rejected) = ready(&app, &c, json!({})).await;

    // A refused schedule queues nothing.
    let past = app.now() - Duration::hours(1);
    assert_eq!(schedule(&app, &c, id, past).await.status, 422);
    assert!(scheduled_mail(&app).await.is_empty());

    let starts = app.now() + Duration::days(2);
    assert_eq!(schedule(&app, &c, id, starts).await.status, 200);
    let mail = scheduled_mail(&app).await;
    assert_eq!(mail.len(), 2, "one mail per eligible bidder");
    let when = asset_exchange::domain::clock::format_beijing(starts);
    for token in &eligible {
        let (address, code) = who(&app, id, token).await;
        assert!(!code.is_empty());
        let (_, body) = mail
            .iter()
            .find(|(to, _)| *to == address)
            .expect("a mail to each eligible bidder");
        assert!(body.contains(&code), "their own bidder code: {body}");
        assert!(body.contains(&when), "the start in Beijing time: {body}");
        assert!(body.contains("限时报价周期"), "the English auction's terms");
        assert!(!body.contains("报价截止时间"));
        let listed = app
            .get("/api/v1/me/notifications", Some(token))
            .await
            .json();
        let kinds: Vec<&str> = listed
            .as_array()
            .or_else(|| listed["items"].as_array())
            .unwrap()
            .iter()
            .filter_map(|n| n["kind"].as_str())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "auction_scheduled").count(),
            1
        );
    }
    let (rejected_address, _) = who(&app, id, &rejected).await;
    assert!(mail.iter().all(|(to, _)| *to != rejected_address));

    // Scheduling again is refused and mails nobody twice.
    assert_eq!(schedule(&app, &c, id, starts).await.status, 409);
    assert_eq!(scheduled_mail(&app).await.len(), 2);
}

#[actix_web::test]
async fn a_sealed_bid_is_announced_with_its_window_and_no_increment() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, eligible, _) = ready(&app, &c, json!({"bidding_method": "sealed"})).await;
    let starts = app.now() + Duration::days(1);
    assert_eq!(schedule(&app, &c, id, starts).await.status, 200);
    let auction = app
        .get(&format!("/api/v1/listings/{id}/auction"), Some(&c.operator))
        .await
        .json();
    let ends: DateTime<Utc> = auction["ends_at"].as_str().unwrap().parse().unwrap();
    let mail = scheduled_mail(&app).await;
    assert_eq!(mail.len(), eligible.len());
    for (_, body) in &mail {
        assert!(body.contains("报价截止时间"), "{body}");
        assert!(
            body.contains(&asset_exchange::domain::clock::format_beijing(ends)),
            "the window's end: {body}"
        );
        assert!(!body.contains("加价幅度"), "no increment in a sealed bid");
    }
}
