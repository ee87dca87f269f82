//! Rules pinned at their edge (issue 13): a decided disclosure that a resumption must not
//! re-open, a relisting's new deposit, a deadline in a year without a calendar, the
//! capital-increase and resumption minimums, no edit during disclosure, the contract and
//! lump-sum deadlines to the instant, forfeiting unused deposits, one's own listing, the bid
//! history as the enterprise sees it, and an appraisal dated tomorrow.

use std::time::Duration as StdDuration;

use serde_json::{Value, json};

use crate::auctions::{bid, key, ready_for_auction, scheduled, wait_phase, wait_status};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::listings::{Cast, approved_with, cast, draft, in_secs, listing};
use crate::road::{Road, bj, deal_step, instant, listing_alerts, negotiated, ok, wait_alert};

async fn get_listing(app: &TestApp, id: i64) -> Value {
    ok(&app.get(&format!("/api/v1/listings/{id}"), None).await)
}

async fn operator_act(app: &TestApp, c: &Cast, id: i64, what: &str) -> Value {
    let body = json!({"reason": "测试：监管要求暂停"});
    ok(&app
        .post(
            &format!("/api/v1/listings/{id}/{what}"),
            Some(&c.operator),
            &body,
        )
        .await)
}

#[actix_web::test]
async fn resuming_a_disclosure_already_decided_for_an_auction_does_not_reopen_it() {
    let app = spawn_app().await;
    let mut c = cast(&app).await;
    let (id, _) = ready_for_auction(&app, &c, 2, json!({})).await;
    // The scheduler decides: two eligible bidders, an auction; the status stays `disclosure`
    // (ended) until the operator schedules it.
    let mut before = Value::Null;
    for _ in 0..100 {
        before = get_listing(&app, id).await;
        if app.audit_count(Some("listing.disclosure_ended")).await > 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(
        (
            before["status"].as_str(),
            before["disclosure_ended"].as_bool()
        ),
        (Some("disclosure"), Some(true)),
        "{before}"
    );
    assert_eq!(
        operator_act(&app, &c, id, "suspend").await["status"],
        "suspended"
    );
    app.clock.advance(chrono::Duration::hours(2));
    c.renew(&app).await;
    let resumed = operator_act(&app, &c, id, "resume").await;
    assert_eq!(resumed["status"], "disclosure", "{resumed}");
    let after = get_listing(&app, id).await;
    assert_eq!(after["disclosure_end"], before["disclosure_end"], "{after}");
    assert_eq!(after["disclosure_ended"], true, "{after}");
    let (_, late) = app.verified_bidder().await;
    app.post(
        &format!("/api/v1/listings/{id}/registrations"),
        Some(&late),
        &json!({}),
    )
    .await
    .assert_problem(409, "registration_closed");
    assert_eq!(app.audit_count(Some("listing.disclosure_ended")).await, 1);
}

async fn wait_listing(app: &TestApp, id: i64, want: &str) -> Value {
    let mut l = Value::Null;
    for _ in 0..100 {
        l = get_listing(app, id).await;
        if l["status"] == want {
            return l;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("listing {id} is not {want}: {l}");
}

#[actix_web::test]
async fn relisting_at_a_lower_price_takes_a_new_deposit_and_refuses_an_old_one_above_30_percent() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    // 2,900,000 is 29 % of 10,000,000 but above 30 % of 9,500,000 (2,850,000).
    let id = approved_with(&app, &c, json!({"deposit": "2900000"}), &in_secs(1)).await;
    wait_listing(&app, id, "no_sale").await;
    let relist = format!("/api/v1/listings/{id}/relist");
    let lower = json!({"listing_price": "9500000", "disclosure_working_days": 0});
    app.post(&relist, Some(&c.owner), &lower)
        .await
        .assert_problem(422, "deposit_too_high");
    let mut one_fen_over = lower.clone();
    one_fen_over["deposit"] = json!("2850000.01");
    app.post(&relist, Some(&c.owner), &one_fen_over)
        .await
        .assert_problem(422, "deposit_too_high");
    assert_eq!(get_listing(&app, id).await["status"], "no_sale");
    let mut at_cap = lower.clone();
    at_cap["deposit"] = json!("2850000");
    let l = ok(&app.post(&relist, Some(&c.owner), &at_cap).await);
    assert_eq!(
        (
            l["deposit"].as_str(),
            l["listing_price"].as_str(),
            l["round"].as_i64()
        ),
        (Some("2850000.00"), Some("9500000.00"), Some(2)),
        "{l}"
    );
}

#[actix_web::test]
async fn a_deadline_in_a_year_without_a_calendar_file_carries_a_warning() {
    let r = Road::at(spawn_app().await, "2026-12-28T10:00").await;
    // 2027 has no file in config/calendar: the end and the exchange's qualification window
    // are counted Monday to Friday, and every answer about the listing says so.
    let id = r.listing(json!({}), "2027-01-05T17:00").await;
    // A registration nobody has reviewed keeps the decision waiting for the exchange's window.
    r.registrant(id).await;
    let l = r.get(id).await;
    let warnings = l["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        warnings,
        [json!(
            "no published holiday calendar for 2027: Monday to Friday were counted as working days"
        )],
        "{l}"
    );
    // The exchange's 5 working days after the end: 6, 7, 8, 11, 12 January 2027, Monday to
    // Friday (no 2027 holiday is known).
    assert_eq!(instant(&l["decision_due"]), bj("2027-01-12T17:00"), "{l}");
}

#[actix_web::test]
async fn a_capital_increase_needs_40_working_days_of_disclosure() {
    let app = spawn_app_with(|s| s.listing.min_disclosure_capital_increase = 40).await;
    let c = cast(&app).await;
    let body =
        |days: u32| listing(json!({"kind": "capital_increase", "disclosure_working_days": days}));
    app.post("/api/v1/listings", Some(&c.owner), &body(39))
        .await
        .assert_problem(422, "disclosure_too_short");
    let r = app
        .post("/api/v1/listings", Some(&c.owner), &body(40))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[actix_web::test]
async fn a_resumed_disclosure_gets_20_working_days_in_all_when_less_was_used() {
    let app = spawn_app_with(|s| {
        s.listing.resume_min_total_days = 20;
        s.listing.resume_min_after_days = 10;
    })
    .await;
    let mut r = Road::at(app, "2026-03-02T10:00").await;
    let id = r.listing(json!({}), "2026-03-06T17:00").await;
    // Suspended on Tuesday 3 March before 17:00: no working day was used (the count starts
    // the day after approval and an interrupted day does not count); 4 were left.
    r.to("2026-03-03T10:00").await;
    assert_eq!(
        operator_act(&r.app, &r.c, id, "suspend").await["status"],
        "suspended"
    );
    r.to("2026-03-04T10:00").await;
    let l = operator_act(&r.app, &r.c, id, "resume").await;
    // max(4 left, 10 after, 20 − 0 used) = 20 working days from Thursday 5 March:
    // 5, 6, 9–13, 16–20, 23–27, 30, 31 March and 1 April.
    assert_eq!(instant(&l["disclosure_end"]), bj("2026-04-01T17:00"), "{l}");
}

#[actix_web::test]
async fn a_listing_in_disclosure_cannot_be_edited() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = approved_with(&app, &c, json!({}), &in_secs(86_400)).await;
    let path = format!("/api/v1/listings/{id}");
    app.patch(&path, Some(&c.owner), &json!({"title": "披露期间改了标题"}))
        .await
        .assert_problem(409, "invalid_state");
    let l = get_listing(&app, id).await;
    assert_eq!(l["title"], listing(json!({}))["title"], "{l}");
    // A draft can still be edited (the refusal is the state's, not the route's).
    let d = draft(&app, &c.owner, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let r = app
        .patch(
            &format!("/api/v1/listings/{d}"),
            Some(&c.owner),
            &json!({"title": "草稿可以修改"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[actix_web::test]
async fn the_contract_deadline_holds_to_its_instant_and_a_lump_sum_is_due_5_working_days_on() {
    let mut r = Road::at(spawn_app().await, "2026-03-02T09:00").await;
    let signed_on_time = negotiated(&mut r, "2026-03-02T09:05", "2026-03-02T09:06").await;
    let unsigned = negotiated(&mut r, "2026-03-02T09:10", "2026-03-02T09:11").await;
    for id in [signed_on_time, unsigned] {
        let d = ok(&r
            .app
            .get(&format!("/api/v1/listings/{id}/deal"), Some(&r.c.operator))
            .await);
        // Awarded on Monday 2 March: 3, 4, 5, 6, 9 March.
        assert_eq!(instant(&d["contract_due"]), bj("2026-03-09T17:00"), "{d}");
    }
    // The day of the deadline, a minute before it closes: not overdue yet.
    r.to("2026-03-09T16:59").await;
    let body = json!({"signed_at": bj("2026-03-09T16:58").to_rfc3339(), "payment": "lump_sum"});
    let d = ok(&deal_step(&r, signed_on_time, "contract", body).await);
    assert_eq!(d["payment_plan"], "lump_sum", "{d}");
    // The whole price within 5 working days of signing: 10, 11, 12, 13, 16 March, 17:00.
    assert_eq!(instant(&d["payment_due"]), bj("2026-03-16T17:00"), "{d}");
    assert!(d["first_payment_due"].is_null(), "{d}");
    // Two minutes later the deadline has passed: the unsigned deal is overdue, the signed
    // one is not.
    r.to("2026-03-09T17:01").await;
    let overdue = wait_alert(&r, unsigned, "contract_overdue").await;
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert!(
        listing_alerts(&r, signed_on_time)
            .await
            .iter()
            .all(|a| a["rule"] != "contract_overdue")
    );
}

/// An auction of three eligible bidders where two bid and one stays silent, closed.
async fn closed_auction(app: &TestApp, c: &Cast) -> (i64, Vec<String>) {
    let overrides = json!({"free_bidding_seconds": 4, "countdown_seconds": 1});
    let (id, b) = scheduled(app, c, 3, overrides).await;
    wait_phase(app, id, "free").await;
    for (token, amount) in [(&b[0], "10000000"), (&b[1], "10050000")] {
        let r = bid(app, id, token, amount, &key()).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    // Up to 15 s: four seconds of free bidding, one of countdown, and the scheduler's close.
    for _ in 0..3 {
        if wait_status(app, id, "awarded").await["status"] == "awarded" {
            return (id, b);
        }
    }
    panic!("the auction of listing {id} was never awarded");
}

#[actix_web::test]
async fn with_forfeit_unused_deposits_a_silent_bidder_loses_its_deposit_and_the_enterprise_sees_codes_only()
 {
    let app = spawn_app_with(|s| s.listing.forfeit_unused_deposits = true).await;
    let c = cast(&app).await;
    let (id, _) = closed_auction(&app, &c).await;
    let path = format!("/api/v1/listings/{id}/registrations");
    let regs = ok(&app.get(&path, Some(&c.auditor)).await);
    let mut deposits: Vec<&str> = regs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["deposit_status"].as_str().unwrap())
        .collect();
    deposits.sort_unstable();
    // The winner's is held for the contract, the outbid bidder's refunded, the silent
    // bidder's forfeited.
    assert_eq!(deposits, ["forfeited", "paid", "refunded"], "{regs}");

    // The enterprise's view of the bid history: codes, never who is behind them; the
    // auditor's view of the same bids names the organisations.
    let bids = format!("/api/v1/listings/{id}/bids");
    let mine = ok(&app.get(&bids, Some(&c.owner)).await);
    let items = mine.as_array().unwrap();
    assert_eq!(items.len(), 2, "{mine}");
    for b in items {
        assert!(
            b["bidder_code"].as_str().is_some_and(|s| !s.is_empty()),
            "{b}"
        );
        assert!(b.get("bidder").is_none(), "{b}");
    }
    let audited = ok(&app.get(&bids, Some(&c.auditor)).await);
    let name = audited[0]["bidder"]["organization_name"].as_str().unwrap();
    assert!(!mine.to_string().contains(name), "{mine}");
    assert!(!mine.to_string().contains("registration_id"), "{mine}");
}

#[actix_web::test]
async fn a_bidder_of_the_sellers_own_organisation_cannot_register_on_its_listing() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let id = approved_with(&app, &c, json!({}), &in_secs(86_400)).await;
    let (bidder, _) = app.verified_bidder().await;
    // A bidder account of the seller's organisation (as staff would attach one).
    app.sql_both(&format!(
        "UPDATE users SET organization_id = (SELECT organization_id FROM users WHERE email = '{}') WHERE email = '{bidder}'",
        c.emails[0]
    ))
    .await;
    let token = app.token(&bidder).await;
    let path = format!("/api/v1/listings/{id}/registrations");
    app.post(&path, Some(&token), &json!({}))
        .await
        .assert_problem(403, "own_listing");
    let regs = ok(&app.get(&path, Some(&c.operator)).await);
    assert_eq!(regs, json!([]), "{regs}");
}

#[actix_web::test]
async fn an_appraisal_dated_tomorrow_in_beijing_is_refused_and_today_is_accepted() {
    // 23:30 in Beijing is 15:30 UTC: "tomorrow" is Beijing's, not UTC's.
    let r = Road::at(spawn_app().await, "2026-03-02T23:30").await;
    let post = |date: &str| {
        let body = listing(json!({"appraisal_date": date}));
        let (app, owner) = (&r.app, r.c.owner.clone());
        async move { app.post("/api/v1/listings", Some(&owner), &body).await }
    };
    post("2026-03-03")
        .await
        .assert_problem(422, "invalid_appraisal_date");
    let ok = post("2026-03-02").await;
    assert_eq!(ok.status, 201, "{}", String::from_utf8_lossy(&ok.body));
}
