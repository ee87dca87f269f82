//! `/metrics`: request histograms by route pattern, bids by outcome, outbox and scheduler
//! gauges read from the database, pool use, and the optional bearer token.

use serde_json::json;

use crate::auctions::{bid, key};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::listings::{approved, cast, in_secs};

async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    String::from_utf8(r.body).unwrap()
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample {prefix}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[actix_web::test]
async fn requests_are_timed_by_route_pattern_and_bids_counted_by_outcome() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    for id in [999_001, 999_002, 999_003] {
        app.get(&format!("/api/v1/listings/{id}"), None)
            .await
            .assert_problem(404, "not_found");
    }
    let (id, b) = crate::auctions::scheduled(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 60, "countdown_seconds": 60}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let k = key();
    assert_eq!(bid(&app, id, &b[0], "10000000", &k).await.status, 201);
    assert_eq!(bid(&app, id, &b[0], "10000000", &k).await.status, 201);
    bid(&app, id, &b[1], "10000000", &key())
        .await
        .assert_problem(409, "bid_too_low");
    bid(&app, id, &b[1], "10010000", &key())
        .await
        .assert_problem(422, "invalid_increment");

    let text = scrape(&app).await;
    // One series for the pattern, not one per id.
    assert_eq!(
        sample(
            &text,
            "ax_http_request_duration_seconds_count{route=\"/api/v1/listings/{id}\",method=\"GET\",status=\"404\"}"
        ),
        3.0
    );
    assert!(!text.contains("999001"));
    assert_eq!(sample(&text, "ax_bids_total{outcome=\"accepted\"}"), 1.0);
    assert_eq!(sample(&text, "ax_bids_total{outcome=\"replayed\"}"), 1.0);
    assert_eq!(sample(&text, "ax_bids_total{outcome=\"bid_too_low\"}"), 1.0);
    assert_eq!(
        sample(&text, "ax_bids_total{outcome=\"invalid_increment\"}"),
        1.0
    );
    assert_eq!(sample(&text, "ax_database_up"), 1.0);
    assert!(sample(&text, "ax_db_pool_max_connections") >= 1.0);
    assert!(sample(&text, "ax_db_pool_connections") >= 1.0);
}

#[actix_web::test]
async fn outbox_and_scheduler_gauges_come_from_the_database() {
    let mut app = spawn_app().await;
    let c = cast(&app).await;
    // With the jobs stopped, mail waits and a finished disclosure stays undecided.
    app.stop_jobs().await;
    let pending: i64 = {
        use asset_exchange::store::schema::notifications::dsl as n;
        use diesel::prelude::*;
        app.db()
            .run(|c| {
                Ok(asset_exchange::with_conn!(c, c => n::notifications
                    .filter(n::status.eq("pending"))
                    .count()
                    .get_result::<i64>(c))?)
            })
            .await
            .unwrap()
    };
    let id = approved(&app, &c, &in_secs(1)).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let text = scrape(&app).await;
    assert!(sample(&text, "ax_mail_outbox_pending") >= pending as f64 + 1.0);
    assert!(sample(&text, "ax_mail_outbox_oldest_age_seconds") > 0.0);
    let lag = sample(&text, "ax_scheduler_lag_seconds{job=\"disclosure_end\"}");
    assert!(lag >= 1.0, "listing {id} is overdue by {lag} s");
    assert_eq!(
        sample(&text, "ax_scheduler_lag_seconds{job=\"auction_close\"}"),
        0.0
    );
}

#[actix_web::test]
async fn a_configured_token_guards_the_metrics() {
    let app = spawn_app_with(|s| {
        s.metrics.bearer_token = "scrape-secret-for-tests".to_string().into();
    })
    .await;
    app.get("/metrics", None)
        .await
        .assert_problem(401, "unauthorized");
    app.get("/metrics", Some("wrong-token-for-tests!!"))
        .await
        .assert_problem(401, "unauthorized");
    let r = app.get("/metrics", Some("scrape-secret-for-tests")).await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn invented_http_methods_do_not_add_series() {
    let app = spawn_app().await;
    for i in 0..20 {
        let r = app
            .raw(&format!("BREW{i}"), "/api/v1/listings", &[], Vec::new())
            .await;
        assert!(r.status >= 400, "BREW{i} answered {}", r.status);
    }
    let text = scrape(&app).await;
    assert!(!text.contains("BREW"), "{text}");
    let other: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("ax_http_request_duration_seconds_count")
                && l.contains("method=\"OTHER\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(other, 20.0);
}
