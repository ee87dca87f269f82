//! `asset-exchange demo`: the data set seeded into the test's database before the app boots
//! (as the demo does before it serves), then looked at through the API.

use std::collections::BTreeSet;
use std::sync::Arc;

use asset_exchange::config::Settings;
use asset_exchange::demo::simulate::{Simulator, Tick};
use asset_exchange::demo::{self, Seeded, data};
use asset_exchange::domain::clock::SystemClock;
use asset_exchange::domain::listing::ListingStatus;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

/// Seeds on a runtime of its own: `spawn_app_with` adjusts settings synchronously, and the
/// data set must be complete before the server and the scheduler start.
fn seed_before_boot(settings: &Settings) -> Seeded {
    let settings = settings.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(demo::seed_database(settings))
    })
    .join()
    .expect("seeding thread")
    .expect("the demo data set is seeded")
}

pub async fn seeded_app() -> (TestApp, Seeded) {
    let mut seeded = None;
    let app = spawn_app_with(|s| seeded = Some(seed_before_boot(s))).await;
    (app, seeded.expect("seeded"))
}

pub async fn token(app: &TestApp, email: &str, password: &str) -> String {
    let r = app.login(email, password).await;
    assert_eq!(
        r.status,
        200,
        "{email}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["access_token"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn the_demo_shows_every_listing_status_alerts_and_a_valid_audit_trail() {
    // Arrange
    let (app, seeded) = seeded_app().await;
    assert!(seeded.created);
    assert!(seeded.listings >= ListingStatus::ALL.len() as i64);
    let ops = token(&app, data::OPERATOR.email, data::OPERATOR_PASSWORD).await;
    let auditor = token(&app, data::AUDITOR.email, data::AUDITOR_PASSWORD).await;

    // Act & Assert: one listing at least in every state, as an operator sees them
    for status in ListingStatus::ALL {
        let r = app
            .get(
                &format!("/api/v1/listings?status={}&per_page=1", status.as_str()),
                Some(&ops),
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(
            r.json()["total"].as_i64().unwrap() >= 1,
            "no listing is {}",
            status.as_str()
        );
    }
    // the public sees the live auction among the listings
    let public = app.get("/api/v1/listings?per_page=100", None).await.json();
    assert!(
        public["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["title"] == data::LIVE_TITLE && l["status"] == "bidding")
    );

    let verify = app.get("/api/v1/audit/verify", Some(&auditor)).await;
    assert_eq!(verify.status, 200);
    let verify = verify.json();
    assert_eq!(verify["valid"], true, "{verify}");
    assert!(verify["events_checked"].as_i64().unwrap() > 200, "{verify}");
    let checkpoint = app
        .get("/api/v1/audit/checkpoints/latest", Some(&auditor))
        .await;
    assert_eq!(checkpoint.status, 200);

    let alerts = app
        .get("/api/v1/audit/alerts?per_page=100", Some(&auditor))
        .await;
    assert_eq!(alerts.status, 200);
    let rules: BTreeSet<String> = alerts.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    for rule in [
        "related_bidders",
        "single_bidder_deal",
        "price_below_appraisal",
        "no_raise_award",
        "silent_bidders",
    ] {
        assert!(rules.contains(rule), "no {rule} alert among {rules:?}");
    }

    // the demo accounts sign in with their published passwords
    let bidder = &data::BIDDERS[0];
    token(&app, bidder.email, data::BIDDER_PASSWORD).await;
    let seller = &data::ENTERPRISES[0];
    token(&app, seller.email, data::SELLER_PASSWORD).await;
}

#[actix_web::test]
async fn the_live_auction_accepts_a_simulated_bid() {
    // Arrange
    let (app, seeded) = seeded_app().await;
    let id = seeded.live_listing_id.expect("a live auction");
    let before = app
        .get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json();
    assert_eq!(before["status"], "bidding", "{before}");
    assert_eq!(before["phase"], "free", "{before}");
    let bids_before = before["bid_count"].as_i64().unwrap();
    assert!(bids_before >= 1);
    // a second instance on the same database, as the simulation runs beside the server
    let state = asset_exchange::startup::prepare(app.settings.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let mut sim = Simulator::load(&state, id, 4).await.unwrap();
    assert_eq!(sim.bidders(), 4);

    // Act
    let tick = sim.tick(&state).await.unwrap();

    // Assert
    let Tick::Placed {
        seq,
        amount,
        bidder_code,
    } = tick
    else {
        panic!("no bid placed: {tick:?}");
    };
    let after = app
        .get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json();
    assert_eq!(after["bid_count"].as_i64().unwrap(), bids_before + 1);
    assert_eq!(i64::from(seq), bids_before + 1);
    assert_eq!(after["current_price"], json!(amount.to_string()));
    assert_eq!(after["leading_bidder_code"], json!(bidder_code));
    assert_ne!(before["leading_bidder_code"], after["leading_bidder_code"]);
    let bids = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    let last = bids.as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["seq"], json!(seq));
    assert_eq!(last["amount"], json!(amount.to_string()));
}

#[actix_web::test]
async fn seeding_a_seeded_database_again_adds_nothing() {
    // Arrange
    let (app, first) = seeded_app().await;
    let events = app.audit_count(None).await;

    // Act
    let second = demo::seed_database(app.settings.clone()).await.unwrap();

    // Assert
    assert!(!second.created);
    assert_eq!(second.live_listing_id, first.live_listing_id);
    assert_eq!(second.listings, first.listings);
    assert_eq!(app.audit_count(None).await, events);
}

#[actix_web::test]
async fn the_demo_is_zhejiang_and_a_city_auditor_sees_its_city_only() {
    let (app, _) = seeded_app().await;
    let province = token(&app, data::AUDITOR.email, data::AUDITOR_PASSWORD).await;
    let hangzhou = token(
        &app,
        data::HANGZHOU_AUDITOR.email,
        data::HANGZHOU_AUDITOR.password,
    )
    .await;
    let ningbo = token(
        &app,
        data::NINGBO_AUDITOR.email,
        data::NINGBO_AUDITOR.password,
    )
    .await;
    let all = |t: String| {
        let app = &app;
        async move {
            app.get("/api/v1/listings?per_page=100", Some(&t))
                .await
                .json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["seller"]["name"].as_str().unwrap().to_string())
                .collect::<BTreeSet<String>>()
        }
    };
    let (p, h, n) = (
        all(province.clone()).await,
        all(hangzhou.clone()).await,
        all(ningbo).await,
    );
    assert_eq!(p.len(), 3, "{p:?}");
    assert_eq!(
        h.into_iter().collect::<Vec<_>>(),
        vec![data::ENTERPRISES[0].organization.to_string()]
    );
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        vec![data::ENTERPRISES[1].organization.to_string()]
    );
    let summary = |t: String| {
        let app = &app;
        async move { app.get("/api/v1/audit/summary", Some(&t)).await.json() }
    };
    let (ps, hs) = (summary(province).await, summary(hangzhou).await);
    assert!(hs["deals"].as_u64().unwrap() < ps["deals"].as_u64().unwrap());
    let parts: u64 = ps["by_body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["deals"].as_u64().unwrap())
        .sum();
    assert_eq!(parts, ps["deals"].as_u64().unwrap());
}
