//! The pre-emptive right (优先购买权) in an English auction: a confirmed right-holder may bid
//! the current price itself and so take the lead; anyone else must raise. Bidder codes do not
//! tell who holds the right; the history marks a right-holder's match.

use serde_json::{Value, json};

use crate::auctions::{bid, key, wait_status};
use crate::helpers::TestApp;
use crate::listings::cast;
use crate::sealed::{Eligible, long_tokens, scheduled};

const START: &str = "10000000.00";
const RAISED: &str = "10050000.00";

fn english_with_right() -> Value {
    json!({"preemption": "in_auction", "free_bidding_seconds": 600, "countdown_seconds": 60})
}

fn accepted(r: &crate::helpers::Resp) -> Value {
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn history(app: &TestApp, id: i64) -> Vec<(String, String, bool)> {
    app.get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bidder_code"].as_str().unwrap().to_string(),
                b["amount"].as_str().unwrap().to_string(),
                b["preemptive_match"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_right_holder_matches_twice_a_non_holder_may_not_and_the_holder_wins_at_the_matched_price()
 {
    let app = long_tokens().await;
    let c = cast(&app).await;
    let (_, admin, _) = app.staff_account("admin").await;
    let (id, b) = scheduled(
        &app,
        &c,
        &admin,
        english_with_right(),
        &[false, true, false],
    )
    .await;
    let (a, holder, other): (&Eligible, &Eligible, &Eligible) = (&b[0], &b[1], &b[2]);

    accepted(&bid(&app, id, &a.token, START, &key()).await);
    let first = accepted(&bid(&app, id, &holder.token, START, &key()).await);
    assert_eq!(first["preemptive_match"], true);
    // A non-holder at an equal amount is refused; it must raise.
    bid(&app, id, &other.token, START, &key())
        .await
        .assert_problem(409, "bid_too_low");
    // The holder leads: matching itself is no bid.
    bid(&app, id, &holder.token, START, &key())
        .await
        .assert_problem(409, "bid_too_low");
    accepted(&bid(&app, id, &other.token, RAISED, &key()).await);
    let second = accepted(&bid(&app, id, &holder.token, RAISED, &key()).await);
    assert_eq!(second["preemptive_match"], true);
    bid(&app, id, &a.token, RAISED, &key())
        .await
        .assert_problem(409, "bid_too_low");
    let state = app
        .get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json();
    assert_eq!(state["current_price"], RAISED);
    assert_eq!(state["leading_bidder_code"], holder.code.as_str());

    // The history marks the matches and nothing else tells who holds the right.
    assert_eq!(
        history(&app, id).await,
        vec![
            (a.code.clone(), START.to_string(), false),
            (holder.code.clone(), START.to_string(), true),
            (other.code.clone(), RAISED.to_string(), false),
            (holder.code.clone(), RAISED.to_string(), true),
        ]
    );
    for token in [&a.token, &other.token] {
        let mine = app.get("/api/v1/me/registrations", Some(token)).await;
        assert!(!String::from_utf8_lossy(&mine.body).contains(&holder.code));
    }
    let public = app.get(&format!("/api/v1/listings/{id}/bids"), None).await;
    assert!(!String::from_utf8_lossy(&public.body).contains("preemptive_right"));

    app.advance(&admin, chrono::Duration::seconds(700)).await;
    holder_won_at_the_matched_price(&app, &c, id, holder, other).await;
}

/// After the close: the right-holder won at the price it matched last, the open data says
/// how, the bidder whose price was matched was told so, and no start-price alert was raised.
async fn holder_won_at_the_matched_price(
    app: &TestApp,
    c: &crate::listings::Cast,
    id: i64,
    holder: &Eligible,
    other: &Eligible,
) {
    assert_eq!(wait_status(app, id, "awarded").await["status"], "awarded");
    let operator = app.token(&c.emails[1]).await;
    let deal = app
        .get(&format!("/api/v1/listings/{id}/deal"), Some(&operator))
        .await
        .json();
    assert_eq!(deal["winner_bidder_code"], holder.code.as_str());
    assert_eq!(deal["price"], RAISED);
    let release = crate::sealed::ocds_record(app, id).await;
    assert_eq!(
        release["tender"]["submissionMethod"],
        json!(["electronicAuction"])
    );
    let criteria = release["tender"]["awardCriteriaDetails"].as_str().unwrap();
    assert!(criteria.contains("跟价"), "{criteria}");
    assert_eq!(release["bids"]["details"].as_array().unwrap().len(), 4);
    // The bidder whose price was matched was told so.
    let mails = app
        .get("/api/v1/me/notifications", Some(&other.token))
        .await
        .json();
    let kinds: Vec<&str> = mails["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"outmatched"), "{kinds:?}");
    // Not won by matching the start price alone: no alert of that rule.
    let auditor = app.token(&c.emails[2]).await;
    let alerts = app
        .get(
            &format!("/api/v1/audit/alerts?listing_id={id}&rule=preemptive_match_at_start"),
            Some(&auditor),
        )
        .await
        .json();
    assert_eq!(alerts["items"].as_array().unwrap().len(), 0, "{alerts}");
}

#[actix_web::test]
async fn a_right_holder_winning_by_matching_the_start_price_alone_raises_an_alert() {
    let app = long_tokens().await;
    let c = cast(&app).await;
    let (_, admin, _) = app.staff_account("admin").await;
    let (id, b) = scheduled(&app, &c, &admin, english_with_right(), &[false, true]).await;
    accepted(&bid(&app, id, &b[0].token, START, &key()).await);
    accepted(&bid(&app, id, &b[1].token, START, &key()).await);
    app.advance(&admin, chrono::Duration::seconds(700)).await;
    assert_eq!(wait_status(&app, id, "awarded").await["status"], "awarded");
    let auditor = app.token(&c.emails[2]).await;
    let alerts = app
        .get(
            &format!("/api/v1/audit/alerts?listing_id={id}&rule=preemptive_match_at_start"),
            Some(&auditor),
        )
        .await
        .json();
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts["items"][0]["rule"], "preemptive_match_at_start");
}

#[actix_web::test]
async fn without_the_right_on_the_listing_an_equal_bid_is_too_low_for_everyone() {
    let app = long_tokens().await;
    let c = cast(&app).await;
    let (_, admin, _) = app.staff_account("admin").await;
    let (id, b) = scheduled(
        &app,
        &c,
        &admin,
        json!({"free_bidding_seconds": 600, "countdown_seconds": 60}),
        &[false, false],
    )
    .await;
    accepted(&bid(&app, id, &b[0].token, START, &key()).await);
    bid(&app, id, &b[1].token, START, &key())
        .await
        .assert_problem(409, "bid_too_low");
}
