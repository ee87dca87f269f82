//! Auctions that survive real life: a suspension in the free period and in the countdown
//! (resumed before and after the old end), the bid that reaches the lock after the end, a
//! closing queue that dead auctions cannot clog, a failing item that does not stop the round,
//! termination with deposits held, and a suspension that outlives its limit.

use std::time::Duration;

use serde_json::{Value, json};

use crate::auctions::{bid, key, ready_for_auction, wait_status};
use crate::helpers::{TestApp, spawn_app};
use crate::listings::{Cast, approved_with, cast, eligible_bidders, in_secs};

/// Runs one round of the listing scheduler now (every job, then the reminders), as its
/// background task does on each tick. Once it returns, whatever was due at the exchange's
/// current time has been acted on: a test that asserts nothing happened asks after this,
/// not after a sleep.
pub async fn scheduler_round(app: &TestApp) {
    let mut retries = asset_exchange::jobs::listings::Retries::default();
    asset_exchange::jobs::listings::round(&app.state(), &mut retries).await;
}

/// Schedules the auction to start `secs` from the exchange's now.
pub async fn schedule_in(app: &TestApp, c: &Cast, id: i64, secs: i64) -> Value {
    let start = (app.now() + chrono::Duration::seconds(secs)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

pub async fn auction(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json()
}

/// Waits (up to 10 s) until the auction shows `phase`.
pub async fn wait_phase(app: &TestApp, id: i64, phase: &str) -> Value {
    let mut a = Value::Null;
    for _ in 0..200 {
        a = auction(app, id).await;
        if a["phase"] == phase {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the auction never reached {phase}: {a}");
}

async fn operator_act(app: &TestApp, c: &Cast, id: i64, what: &str) -> Value {
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/{what}"),
            Some(&c.operator),
            &json!({"reason": "测试：系统故障处置"}),
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

fn at(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// Kinds of the mail a user received.
pub async fn mail_kinds(app: &TestApp, token: &str) -> Vec<String> {
    app.get("/api/v1/me/notifications?per_page=100", Some(token))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn a_suspension_in_the_free_period_freezes_the_auction_and_resumes_with_what_was_left() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (_, admin_email, _) = app.staff_account("admin").await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 600, "countdown_seconds": 60}),
    )
    .await;
    schedule_in(&app, &c, id, 1).await;
    wait_phase(&app, id, "free").await;
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);

    let suspended = operator_act(&app, &c, id, "suspend").await;
    assert_eq!(suspended["status"], "suspended");
    let paused = auction(&app, id).await;
    assert_eq!(paused["phase"], "paused", "{paused}");
    let left = paused["remaining_seconds"].as_u64().unwrap();
    assert!((590..=600).contains(&left), "{paused}");
    bid(&app, id, &b[1], "10050000", &key())
        .await
        .assert_problem(409, "auction_not_open");

    // Two hours later (far past the old end) nothing has moved: no close, no award.
    app.advance(&admin_email, chrono::Duration::hours(2)).await;
    scheduler_round(&app).await;
    c.renew(&app).await;
    let still = auction(&app, id).await;
    assert_eq!(still["phase"], "paused", "{still}");
    assert_eq!(still["remaining_seconds"].as_u64(), Some(left));
    assert_eq!(still["status"], "suspended");

    // On resumption the free period goes on with what was left, then a full countdown.
    operator_act(&app, &c, id, "resume").await;
    let resumed = auction(&app, id).await;
    assert_eq!(resumed["phase"], "free", "{resumed}");
    let server = at(&resumed["server_time"]);
    let free_left = (at(&resumed["free_ends_at"]) - server).num_seconds();
    assert!(
        (left as i64 - 5..=left as i64).contains(&free_left),
        "{free_left} s left of the free period, {left} s were left at the pause"
    );
    assert_eq!(
        at(&resumed["ends_at"]) - at(&resumed["free_ends_at"]),
        chrono::Duration::seconds(60)
    );
    let b1 = app.token_of(&b[1]).await;
    assert_eq!(bid(&app, id, &b1, "10050000", &key()).await.status, 201);

    // Bidders were told both times, and the trail has the pause and the resumption.
    let kinds = mail_kinds(&app, &b1).await;
    assert!(kinds.contains(&"listing_suspended".into()), "{kinds:?}");
    assert!(kinds.contains(&"listing_resumed".into()), "{kinds:?}");
    assert_eq!(app.audit_count(Some("auction.paused")).await, 1);
    assert_eq!(app.audit_count(Some("auction.resumed")).await, 1);
}

#[actix_web::test]
async fn a_suspension_in_the_countdown_resumes_with_a_full_countdown_before_and_after_the_old_end()
{
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (_, admin_email, _) = app.staff_account("admin").await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 20}),
    )
    .await;
    schedule_in(&app, &c, id, 1).await;
    wait_phase(&app, id, "countdown").await;
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);

    // Suspended and resumed a moment later, before the old end: a full countdown again.
    operator_act(&app, &c, id, "suspend").await;
    let paused = auction(&app, id).await;
    assert_eq!(paused["phase"], "paused");
    assert!(
        paused["remaining_seconds"].as_u64().unwrap() <= 20,
        "{paused}"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    operator_act(&app, &c, id, "resume").await;
    let resumed = auction(&app, id).await;
    assert_eq!(resumed["phase"], "countdown");
    let left = (at(&resumed["ends_at"]) - at(&resumed["server_time"])).num_milliseconds();
    assert!((19_000..=20_000).contains(&left), "{resumed}");

    // Suspended again, resumed a day later, long after the old end: still a full countdown,
    // and the leader at the suspension does not win by the clock.
    operator_act(&app, &c, id, "suspend").await;
    app.advance(&admin_email, chrono::Duration::days(1)).await;
    c.renew(&app).await;
    operator_act(&app, &c, id, "resume").await;
    let resumed = auction(&app, id).await;
    assert_eq!(resumed["phase"], "countdown", "{resumed}");
    assert_eq!(resumed["status"], "bidding");
    let left = (at(&resumed["ends_at"]) - at(&resumed["server_time"])).num_milliseconds();
    assert!((19_000..=20_000).contains(&left), "{resumed}");
    let b1 = app.token_of(&b[1]).await;
    let answer = bid(&app, id, &b1, "10050000", &key()).await;
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let code = answer.json()["bidder_code"].clone();

    // The countdown then runs out and the later bidder wins.
    app.advance(&admin_email, chrono::Duration::seconds(21))
        .await;
    let l = wait_status(&app, id, "awarded").await;
    assert_eq!(l["status"], "awarded", "{l}");
    let a = auction(&app, id).await;
    assert_eq!(a["leading_bidder_code"], code);
    assert_eq!(a["current_price"], "10050000.00");
}

/// Holds the auction's row lock from another connection until the exchange's clock passes
/// `until`, the way a slow transaction ahead of a bid would.
fn hold_lock_until(
    app: &TestApp,
    listing: i64,
    until: chrono::DateTime<chrono::Utc>,
) -> std::sync::mpsc::Receiver<()> {
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let db = app.db().clone();
    let wait = (until - app.now()).to_std().unwrap_or_default() + Duration::from_millis(300);
    std::thread::spawn(move || {
        db.tx_blocking(|c| {
            let round = asset_exchange::store::listings::find(c, listing)?
                .unwrap()
                .round;
            asset_exchange::store::auctions::lock_of_listing(c, listing, round)?;
            // SQLite's write transaction holds the database lock from its start.
            locked_tx.send(()).ok();
            std::thread::sleep(wait);
            Ok(())
        })
        .unwrap();
    });
    locked_rx
}

#[actix_web::test]
async fn a_bid_that_reaches_the_lock_after_the_end_is_refused_whenever_it_arrived() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 2}),
    )
    .await;
    schedule_in(&app, &c, id, 1).await;
    wait_phase(&app, id, "countdown").await;
    let first = bid(&app, id, &b[0], "10000000", &key()).await;
    assert_eq!(first.status, 201);
    let ends_at = at(&first.json()["ends_at"]);

    // The bid arrives well before the end, but another transaction holds the lock past it.
    let locked = hold_lock_until(&app, id, ends_at);
    locked.recv().unwrap();
    assert!(
        app.now() < ends_at,
        "the request must arrive before the end"
    );
    let late = bid(&app, id, &b[1], "10050000", &key()).await;
    late.assert_problem(409, "auction_closed");

    // Nothing moved: one bid, the end where it was, and the first bidder wins.
    let a = auction(&app, id).await;
    assert_eq!(a["bid_count"], 1);
    assert_eq!(at(&a["ends_at"]), ends_at);
    let l = wait_status(&app, id, "awarded").await;
    assert_eq!(l["status"], "awarded");
    let bids = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    assert_eq!(bids.as_array().unwrap().len(), 1);
    assert!(at(&bids[0]["placed_at"]) < ends_at);
}

#[actix_web::test]
async fn bids_are_timed_under_the_lock_and_placed_at_rises_with_seq() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 30, "countdown_seconds": 60}),
    )
    .await;
    schedule_in(&app, &c, id, 1).await;
    wait_phase(&app, id, "free").await;
    let mut price = 10_000_000;
    for i in 0..6 {
        let r = bid(&app, id, &b[i % 2], &price.to_string(), &key()).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        price += 50_000;
    }
    let bids = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    let times: Vec<_> = bids
        .as_array()
        .unwrap()
        .iter()
        .map(|b| at(&b["placed_at"]))
        .collect();
    assert_eq!(times.len(), 6);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}

/// Makes `n` auctions that ended long ago and belong to listings that can no longer close
/// them (suspended or terminated, as older versions left them), copying the listing `model`.
async fn dead_auctions(app: &TestApp, model: i64, n: u32) {
    // Suspended just now (so not expired), or terminated.
    let now = app.now().format("%Y-%m-%d %H:%M:%S");
    app.sql_both(&format!(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {n})
         INSERT INTO listings (project_no, organization_id, created_by, kind, title, description,
             status, appraised_value, appraisal_date, listing_price, deposit, increment,
             disclosure_working_days, free_bidding_seconds, countdown_seconds, allow_self_raise,
             round, suspended_from, suspended_at, suspension_reason, suspension_alerted,
             created_at, updated_at, runner_up_offer)
         SELECT 'DEAD-' || k.i, organization_id, created_by, kind, title, description,
             CASE WHEN k.i % 2 = 0 THEN 'suspended' ELSE 'terminated' END,
             appraised_value, appraisal_date, listing_price, deposit, increment,
             disclosure_working_days, free_bidding_seconds, countdown_seconds, allow_self_raise,
             1, 'bidding', '{now}', 'dead', FALSE, created_at, updated_at, FALSE
         FROM listings, k WHERE listings.id = {model};
         INSERT INTO auctions (listing_id, round, starts_at, free_ends_at, ends_at,
             countdown_seconds, start_price, increment, allow_self_raise, bid_count, created_at)
         SELECT id, 1, '2026-01-05 01:00:00', '2026-01-05 01:01:00', '2026-01-05 01:02:00',
             60, 100, 100, FALSE, 0, '2026-01-04 00:00:00'
         FROM listings WHERE project_no LIKE 'DEAD-%';"
    ))
    .await;
}

#[actix_web::test]
async fn sixty_dead_auctions_do_not_keep_a_live_one_from_closing_on_time() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 2}),
    )
    .await;
    dead_auctions(&app, id, 60).await;
    schedule_in(&app, &c, id, 1).await;
    wait_phase(&app, id, "countdown").await;
    let r = bid(&app, id, &b[0], "10000000", &key()).await;
    assert_eq!(r.status, 201);
    let ends_at = at(&r.json()["ends_at"]);
    let l = wait_status(&app, id, "awarded").await;
    assert_eq!(l["status"], "awarded", "{l}");
    // Closed within a couple of scheduler ticks of its end (the test profile ticks every
    // 100 ms), not starved behind the dead ones.
    let closed = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=auction.closed"),
            Some(&c.auditor),
        )
        .await
        .json();
    let closed_at = at(&closed["items"][0]["occurred_at"]);
    assert!(
        closed_at - ends_at < chrono::Duration::seconds(2),
        "closed {} after its end",
        closed_at - ends_at
    );
    // The dead ones are left alone.
    let r = app.get("/metrics", None).await;
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains("ax_scheduler_failures_total{job=\"auction_close\"}"),
        "{text}"
    );
}

/// Makes every attempt to close auction `auction_id` fail inside the database.
async fn break_closing(app: &TestApp, auction_id: i64) {
    app.sql(
        &format!(
            "CREATE FUNCTION ax_test_refuse_close() RETURNS trigger AS $$
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER ax_test_refuse_close BEFORE UPDATE OF closed_at ON auctions
             FOR EACH ROW WHEN (NEW.id = {auction_id} AND NEW.closed_at IS NOT NULL)
             EXECUTE FUNCTION ax_test_refuse_close();"
        ),
        &format!(
            "CREATE TRIGGER ax_test_refuse_close BEFORE UPDATE OF closed_at ON auctions
             FOR EACH ROW WHEN NEW.id = {auction_id} AND NEW.closed_at IS NOT NULL
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ),
    )
    .await;
}

async fn mend_closing(app: &TestApp) {
    app.sql(
        "DROP TRIGGER ax_test_refuse_close ON auctions; DROP FUNCTION ax_test_refuse_close();",
        "DROP TRIGGER ax_test_refuse_close;",
    )
    .await;
}

async fn auction_id(app: &TestApp, listing: i64) -> i64 {
    app.db()
        .run(move |c| {
            let round = asset_exchange::store::listings::find(c, listing)?
                .unwrap()
                .round;
            Ok(
                asset_exchange::store::auctions::of_listing(c, listing, round)?
                    .unwrap()
                    .id,
            )
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_failing_item_is_counted_and_retried_while_the_rest_of_the_round_goes_on() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let terms = json!({"free_bidding_seconds": 3, "countdown_seconds": 1});
    let broken = approved_with(&app, &c, terms.clone(), &in_secs(600)).await;
    let fine = approved_with(&app, &c, terms, &in_secs(600)).await;
    let b1 = eligible_bidders(&app, &c, broken, 2).await;
    let b2 = eligible_bidders(&app, &c, fine, 2).await;
    app.clock.advance(chrono::Duration::seconds(601));
    // The broken one ends first, so it is ahead of the other in the queue.
    schedule_in(&app, &c, broken, 1).await;
    schedule_in(&app, &c, fine, 2).await;
    break_closing(&app, auction_id(&app, broken).await).await;
    wait_phase(&app, fine, "free").await;
    assert_eq!(
        bid(&app, broken, &b1[0], "10000000", &key()).await.status,
        201
    );
    assert_eq!(
        bid(&app, fine, &b2[0], "10000000", &key()).await.status,
        201
    );

    assert_eq!(
        wait_status(&app, fine, "awarded").await["status"],
        "awarded"
    );
    let l = app
        .get(&format!("/api/v1/listings/{broken}"), None)
        .await
        .json();
    assert_eq!(l["status"], "bidding");
    let metrics = String::from_utf8_lossy(&app.get("/metrics", None).await.body).to_string();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ax_scheduler_failures_total{job=\"auction_close\"} ")),
        "{metrics}"
    );
    // Once the fault is gone, a retry closes it (retries back off: allow a few seconds).
    mend_closing(&app).await;
    let mut status = Value::Null;
    for _ in 0..300 {
        status = app
            .get(&format!("/api/v1/listings/{broken}"), None)
            .await
            .json()["status"]
            .clone();
        if status == "awarded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "awarded");
}

#[actix_web::test]
async fn terminating_refunds_every_held_deposit_and_closes_the_auction_in_one_go() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        3,
        json!({"free_bidding_seconds": 600, "countdown_seconds": 60}),
    )
    .await;
    schedule_in(&app, &c, id, 1).await;
    wait_phase(&app, id, "free").await;
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);
    let before = app.audit_count(Some("deposit.refunded")).await;

    let t = operator_act(&app, &c, id, "terminate").await;
    assert_eq!(t["status"], "terminated");
    let a = auction(&app, id).await;
    assert_eq!(a["phase"], "closed");
    bid(&app, id, &b[1], "10050000", &key())
        .await
        .assert_problem(409, "auction_closed");
    let regs = app
        .get(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&c.operator),
        )
        .await
        .json();
    let deposits: Vec<&str> = regs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["deposit_status"].as_str().unwrap())
        .collect();
    assert_eq!(deposits, ["refunded", "refunded", "refunded"]);
    assert_eq!(app.audit_count(Some("deposit.refunded")).await - before, 3);
    let closed = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=auction.closed"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(closed["items"][0]["payload"]["status"], "terminated");
    let kinds = mail_kinds(&app, &b[2]).await;
    assert!(kinds.contains(&"listing_terminated".into()), "{kinds:?}");
    // The scheduler never awards it afterwards: a whole round past its old end (600 s free,
    // 60 s countdown) changes nothing.
    app.clock.advance(chrono::Duration::seconds(700));
    scheduler_round(&app).await;
    let l = app
        .get(&format!("/api/v1/listings/{id}"), None)
        .await
        .json();
    assert_eq!(l["status"], "terminated");
}

#[actix_web::test]
async fn a_suspension_that_outlives_its_limit_ends_the_listing() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (_, admin_email, _) = app.staff_account("admin").await;
    let (id, _) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 600, "countdown_seconds": 60}),
    )
    .await;
    schedule_in(&app, &c, id, 3600).await;
    operator_act(&app, &c, id, "suspend").await;
    // 27 days: within the month, still suspended.
    app.advance(&admin_email, chrono::Duration::days(27)).await;
    scheduler_round(&app).await;
    let l = app
        .get(&format!("/api/v1/listings/{id}"), None)
        .await
        .json();
    assert_eq!(l["status"], "suspended");
    // Past the month: terminated with the reason, deposits refunded, the auction closed.
    app.advance(&admin_email, chrono::Duration::days(5)).await;
    c.renew(&app).await;
    let l = wait_status(&app, id, "terminated").await;
    assert_eq!(l["status"], "terminated", "{l}");
    assert_eq!(l["terminated_reason"], "suspension_expired");
    let regs = app
        .get(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&c.operator),
        )
        .await
        .json();
    assert!(
        regs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["deposit_status"] == "refunded"),
        "{regs}"
    );
    assert_eq!(auction(&app, id).await["phase"], "closed");
    let alerts = app
        .get(
            &format!("/api/v1/audit/alerts?listing_id={id}&rule=suspension_overdue"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1);
}
