//! Online auctions: scheduling, the free and countdown phases, every refusal, idempotent
//! retries, closing (also late), deposits settled, and many bidders at once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, next_id, spawn_app, spawn_app_with};
use crate::listings::{Cast, approved_with, cast, eligible_bidders, in_secs};

/// A listing whose disclosure has ended with `n` eligible bidders; returns (id, bidder tokens).
pub async fn ready_for_auction(
    app: &TestApp,
    c: &Cast,
    n: usize,
    overrides: Value,
) -> (i64, Vec<String>) {
    let id = approved_with(app, c, overrides, &in_secs(600)).await;
    let tokens = eligible_bidders(app, c, id, n).await;
    // End disclosure now by moving the clock past it.
    app.clock.advance(chrono::Duration::seconds(601));
    (id, tokens)
}

/// [`ready_for_auction`], then its auction scheduled by the operator to start a second after
/// the app's clock (which runs 601 s ahead of the wall clock).
pub async fn scheduled(app: &TestApp, c: &Cast, n: usize, overrides: Value) -> (i64, Vec<String>) {
    let (id, b) = ready_for_auction(app, c, n, overrides).await;
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    (id, b)
}

fn app_in(secs: i64, app: &TestApp) -> String {
    let _ = app;
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

pub async fn bid(
    app: &TestApp,
    id: i64,
    token: &str,
    amount: &str,
    key: &str,
) -> crate::helpers::Resp {
    app.raw(
        "POST",
        &format!("/api/v1/listings/{id}/bids"),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        serde_json::to_vec(&json!({"amount": amount})).unwrap(),
    )
    .await
}

pub fn key() -> String {
    format!("k-{}", next_id())
}

async fn auction(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/listings/{id}/auction"), None)
        .await
        .json()
}

pub async fn wait_phase(app: &TestApp, id: i64, phase: &str) -> Value {
    let mut a = Value::Null;
    for _ in 0..100 {
        a = auction(app, id).await;
        if a["phase"] == phase {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a
}

pub async fn wait_status(app: &TestApp, id: i64, want: &str) -> Value {
    let mut l = Value::Null;
    for _ in 0..100 {
        l = app
            .get(&format!("/api/v1/listings/{id}"), None)
            .await
            .json();
        if l["status"] == want {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    l
}

#[actix_web::test]
async fn a_full_auction_through_free_and_countdown_phases() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 2, "countdown_seconds": 4}),
    )
    .await;
    let sched = format!("/api/v1/listings/{id}/auction");
    // Only operators schedule, and not in the past.
    app.post(
        &sched,
        Some(&c.owner),
        &json!({"starts_at": app_in(1, &app)}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &sched,
        Some(&c.operator),
        &json!({"starts_at": "2020-01-01T00:00:00Z"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // The app's clock runs 601 s ahead; start one second after it.
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    let r = app
        .post(&sched, Some(&c.operator), &json!({"starts_at": start}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["phase"], "scheduled");
    app.post(&sched, Some(&c.operator), &json!({"starts_at": start}))
        .await
        .assert_problem(409, "invalid_state");
    assert_eq!(
        app.get(&format!("/api/v1/listings/{id}"), None)
            .await
            .json()["status"],
        "auction_scheduled"
    );
    bid(&app, id, &b[0], "10000000", &key())
        .await
        .assert_problem(409, "auction_not_open");

    let a = wait_phase(&app, id, "free").await;
    assert_eq!(a["phase"], "free");
    // Refusals during bidding.
    let (_, stranger) = app.verified_bidder().await;
    bid(&app, id, &stranger, "10000000", &key())
        .await
        .assert_problem(403, "not_eligible");
    bid(&app, id, &b[0], "9950000", &key())
        .await
        .assert_problem(409, "bid_too_low");
    bid(&app, id, &b[0], "10010000", &key())
        .await
        .assert_problem(422, "invalid_increment");
    let no_key = app
        .post(
            &format!("/api/v1/listings/{id}/bids"),
            Some(&b[0]),
            &json!({"amount": "10000000"}),
        )
        .await;
    no_key.assert_problem(400, "idempotency_key_required");

    let k1 = key();
    let first = bid(&app, id, &b[0], "10000000", &k1).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let first = first.json();
    assert_eq!(
        (first["seq"].as_i64(), first["amount"].as_str()),
        (Some(1), Some("10000000.00"))
    );
    // A retry with the same key is the same bid, not a new one.
    let again = bid(&app, id, &b[0], "10000000", &k1).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json()["id"], first["id"]);
    bid(&app, id, &b[0], "10050000", &key())
        .await
        .assert_problem(409, "self_raise_not_allowed");
    bid(&app, id, &b[1], "10000000", &key())
        .await
        .assert_problem(409, "bid_too_low");
    let second = bid(&app, id, &b[1], "10100000", &key()).await.json();
    assert_eq!(second["seq"], 2);
    let a = auction(&app, id).await;
    assert_eq!(
        (a["current_price"].as_str(), a["bid_count"].as_i64()),
        (Some("10100000.00"), Some(2))
    );
    assert_eq!(a["leading_bidder_code"], second["bidder_code"]);
    assert_eq!(
        app.get(&format!("/api/v1/listings/{id}"), None)
            .await
            .json()["status"],
        "bidding"
    );

    // In the countdown, each bid restarts it from the bid's instant.
    let a = wait_phase(&app, id, "countdown").await;
    let before = chrono::DateTime::parse_from_rfc3339(a["ends_at"].as_str().unwrap()).unwrap();
    let third = bid(&app, id, &b[0], "10150000", &key()).await;
    assert_eq!(
        third.status,
        201,
        "{}",
        String::from_utf8_lossy(&third.body)
    );
    let third = third.json();
    let placed =
        chrono::DateTime::parse_from_rfc3339(third["placed_at"].as_str().unwrap()).unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339(third["ends_at"].as_str().unwrap()).unwrap();
    assert_eq!(ends - placed, chrono::Duration::seconds(4));
    assert!(ends >= before);

    // It closes by itself: awarded to the highest bid, deposits settled.
    let l = wait_status(&app, id, "awarded").await;
    assert_eq!(l["status"], "awarded");
    assert_eq!(auction(&app, id).await["phase"], "closed");
    bid(&app, id, &b[1], "10200000", &key())
        .await
        .assert_problem(409, "auction_closed");
    let regs = app
        .get(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&c.auditor),
        )
        .await
        .json();
    let mut deposits: Vec<String> = regs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["deposit_status"].as_str().unwrap().to_string())
        .collect();
    deposits.sort();
    // The winner's deposit is held until the contract is signed; the loser's is refunded.
    assert_eq!(deposits, ["paid", "refunded"]);

    // History: codes for the public, identities for auditors.
    let public = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    assert_eq!(
        public
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(public[0].get("bidder").is_none());
    let staff = app
        .get(&format!("/api/v1/listings/{id}/bids"), Some(&c.auditor))
        .await
        .json();
    assert!(staff[0]["bidder"]["organization_name"].is_string());
    // A page at a time: a full page names the next one, the last one does not.
    let first_page = app
        .get(&format!("/api/v1/listings/{id}/bids?limit=2"), None)
        .await;
    assert_eq!(first_page.json().as_array().unwrap().len(), 2);
    assert_eq!(
        first_page.header("link").as_deref(),
        Some(format!("</api/v1/listings/{id}/bids?after_seq=2&limit=2>; rel=\"next\"").as_str())
    );
    let rest = app
        .get(
            &format!("/api/v1/listings/{id}/bids?after_seq=2&limit=2"),
            None,
        )
        .await;
    assert_eq!(rest.json().as_array().unwrap().len(), 1);
    assert_eq!(rest.json()[0]["seq"], 3);
    assert!(rest.header("link").is_none());
    for bad in ["limit=0", "limit=1001", "after_seq=-1"] {
        app.get(&format!("/api/v1/listings/{id}/bids?{bad}"), None)
            .await
            .assert_problem(400, "invalid_query");
    }
    let v = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(app.audit_count(Some("bid.placed")).await, 3);
    assert_eq!(app.audit_count(Some("auction.closed")).await, 1);
}

#[actix_web::test]
async fn scheduling_needs_two_eligible_bidders_after_disclosure() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, _) = ready_for_auction(&app, &c, 1, json!({})).await;
    // One eligible bidder means negotiation, not an auction.
    app.post(
        &format!("/api/v1/listings/{id}/auction"),
        Some(&c.operator),
        &json!({"starts_at": app_in(700, &app)}),
    )
    .await
    .assert_problem(409, "invalid_state");
}

#[actix_web::test]
async fn an_auction_without_bids_fails_and_refunds_every_deposit() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, _) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 1}),
    )
    .await;
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    assert_eq!(
        app.post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start})
        )
        .await
        .status,
        200
    );
    let l = wait_status(&app, id, "failed").await;
    assert_eq!(l["status"], "failed");
    let regs = app
        .get(
            &format!("/api/v1/listings/{id}/registrations"),
            Some(&c.auditor),
        )
        .await
        .json();
    assert!(
        regs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["deposit_status"] == "refunded")
    );
    // The owner may relist after a failed auction.
    let r = app
        .post(
            &format!("/api/v1/listings/{id}/relist"),
            Some(&c.owner),
            &json!({"listing_price": "10000000", "disclosure_working_days": 20}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[actix_web::test]
async fn a_bid_after_the_end_is_refused_even_if_closing_is_late() {
    let app = spawn_app_with(|s| s.listing.scheduler_tick_ms = 3_600_000).await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 1, "countdown_seconds": 1}),
    )
    .await;
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    assert_eq!(
        app.post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start})
        )
        .await
        .status,
        200
    );
    wait_phase(&app, id, "free").await;
    assert_eq!(bid(&app, id, &b[0], "10000000", &key()).await.status, 201);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(auction(&app, id).await["phase"], "closed");
    bid(&app, id, &b[1], "10050000", &key())
        .await
        .assert_problem(409, "auction_closed");
    assert_eq!(
        app.audit_count(Some("auction.closed")).await,
        0,
        "the job never ran"
    );
}

#[actix_web::test]
async fn many_bidders_at_once_leave_one_consistent_history() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let n = 50;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        n,
        json!({"free_bidding_seconds": 30, "countdown_seconds": 30}),
    )
    .await;
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    assert_eq!(
        app.post(
            &format!("/api/v1/listings/{id}/auction"),
            Some(&c.operator),
            &json!({"starts_at": start})
        )
        .await
        .status,
        200
    );
    wait_phase(&app, id, "free").await;
    // Every bidder tries two amounts at the same moment; many collide on purpose.
    let attempts = b.iter().enumerate().flat_map(|(i, t)| {
        let step = (i % 10) as i64;
        [10_000_000 + 50_000 * step, 10_000_000 + 50_000 * (step + 1)]
            .map(move |amount| (t.clone(), amount))
    });
    let results = futures_util::future::join_all(attempts.map(|(t, amount)| {
        let app = &app;
        async move { bid(app, id, &t, &amount.to_string(), &key()).await }
    }))
    .await;
    let accepted: Vec<Value> = results
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.json())
        .collect();
    assert!(
        results.iter().all(|r| [201, 409, 422].contains(&r.status)),
        "unexpected status"
    );
    assert!(!accepted.is_empty());
    let history = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), accepted.len());
    let seqs: Vec<i64> = history.iter().map(|h| h["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=history.len() as i64).collect::<Vec<_>>(),
        "seq has no gaps"
    );
    let amounts: Vec<f64> = history
        .iter()
        .map(|h| h["amount"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        amounts.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {amounts:?}"
    );
    let a = auction(&app, id).await;
    assert_eq!(a["bid_count"].as_i64().unwrap(), history.len() as i64);
    assert_eq!(a["current_price"], history.last().unwrap()["amount"]);
    assert_eq!(
        a["leading_bidder_code"],
        history.last().unwrap()["bidder_code"]
    );
    assert_eq!(
        app.audit_count(Some("bid.placed")).await,
        history.len() as i64
    );
    // The audit trail tells the same story: the same amounts, codes and seqs in order.
    let trail = app
        .get(
            &format!("/api/v1/audit/events?listing_id={id}&action=bid.placed&per_page=100"),
            Some(&c.auditor),
        )
        .await
        .json();
    let from_trail: Vec<(i64, String, String)> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["payload"]["seq"].as_i64().unwrap(),
                e["payload"]["amount"].as_str().unwrap().to_string(),
                e["payload"]["bidder_code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let from_list: Vec<(i64, String, String)> = history
        .iter()
        .map(|h| {
            (
                h["seq"].as_i64().unwrap(),
                h["amount"].as_str().unwrap().to_string(),
                h["bidder_code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(from_trail, from_list);
    let v = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(v["valid"], true, "{v}");
}

/// Reads SSE events from `path` until `want` bid events arrived (or 10 s passed).
pub async fn read_events(
    app: &TestApp,
    path: &str,
    last_event_id: Option<&str>,
    want: usize,
) -> Vec<(String, Option<String>, Value)> {
    use futures_util::StreamExt;
    let mut req = app.client.get(app.url(path));
    if let Some(id) = last_event_id {
        req = req.insert_header(("last-event-id", id));
    }
    let mut resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events
        .iter()
        .filter(|(e, _, _): &&(String, Option<String>, Value)| e == "bid")
        .count()
        < want
    {
        let chunk = match tokio::time::timeout_at(deadline, resp.next()).await {
            Ok(Some(Ok(c))) => c,
            _ => break,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut event, mut id, mut data) = (String::new(), None, Value::Null);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_string();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).unwrap();
                }
            }
            if !event.is_empty() {
                events.push((event, id, data));
            }
        }
    }
    events
}

#[actix_web::test]
async fn live_events_carry_every_bid_in_order_and_resume_after_a_reconnect() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        2,
        json!({"free_bidding_seconds": 60, "countdown_seconds": 60}),
    )
    .await;
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    app.post(
        &format!("/api/v1/listings/{id}/auction"),
        Some(&c.operator),
        &json!({"starts_at": start}),
    )
    .await;
    wait_phase(&app, id, "free").await;
    let path = format!("/api/v1/listings/{id}/auction/events");
    let reader = read_events(&app, &path, None, 3);
    let bidding = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (i, amount) in ["10000000", "10050000", "10100000"].into_iter().enumerate() {
            assert_eq!(bid(&app, id, &b[i % 2], amount, &key()).await.status, 201);
        }
    };
    let (events, ()) = futures_util::future::join(reader, bidding).await;
    assert_eq!(
        events[0].0, "phase",
        "the stream opens with the current state"
    );
    let bids: Vec<&(String, Option<String>, Value)> =
        events.iter().filter(|e| e.0 == "bid").collect();
    assert_eq!(bids.len(), 3);
    for (i, (_, id, data)) in bids.iter().enumerate() {
        assert_eq!(id.as_deref(), Some((i + 1).to_string().as_str()));
        assert_eq!(data["seq"], i as i64 + 1);
    }
    assert_eq!(bids[2].2["amount"], "10100000.00");
    // Reconnecting after bid 1 replays exactly bids 2 and 3.
    let again = read_events(&app, &path, Some("1"), 2).await;
    let seqs: Vec<i64> = again
        .iter()
        .filter(|e| e.0 == "bid")
        .map(|e| e.2["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);
}

#[actix_web::test]
async fn two_instances_share_one_auction_and_one_event_stream() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let (id, b) = ready_for_auction(
        &app,
        &c,
        50,
        json!({"free_bidding_seconds": 60, "countdown_seconds": 60}),
    )
    .await;
    // The sibling runs on the same database, with its clock set like the first one's.
    let sibling = crate::helpers::spawn_sibling(&app, |_| {}).await;
    sibling.clock.advance(chrono::Duration::seconds(601));
    let start = (chrono::Utc::now() + chrono::Duration::seconds(602)).to_rfc3339();
    app.post(
        &format!("/api/v1/listings/{id}/auction"),
        Some(&c.operator),
        &json!({"starts_at": start}),
    )
    .await;
    wait_phase(&app, id, "free").await;
    let path = format!("/api/v1/listings/{id}/auction/events");
    // Bids go through both instances at once; a subscriber on the sibling sees them all.
    let attempts: Vec<(usize, i64)> = (0..b.len())
        .map(|i| (i, 10_000_000 + 50_000 * (i as i64 % 7)))
        .collect();
    let bidding = futures_util::future::join_all(attempts.iter().map(|(i, amount)| {
        let target = if i % 2 == 0 { &app } else { &sibling };
        let token = b[*i].clone();
        async move {
            bid(target, id, &token, &amount.to_string(), &key())
                .await
                .status
        }
    }));
    let (statuses, events) = futures_util::future::join(bidding, async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        read_events(&sibling, &path, None, 1).await
    })
    .await;
    assert!(
        statuses.iter().all(|s| [201, 409, 422].contains(s)),
        "{statuses:?}"
    );
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    assert!(accepted >= 1);
    let history = app
        .get(&format!("/api/v1/listings/{id}/bids"), None)
        .await
        .json();
    let seqs: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=accepted as i64).collect::<Vec<_>>());
    let amounts: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            h["amount"]
                .as_str()
                .unwrap()
                .replace(".00", "")
                .parse()
                .unwrap()
        })
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] < w[1]), "{amounts:?}");
    assert!(events.iter().any(|e| e.0 == "bid"));
    // A full stream read from the sibling replays every accepted bid in order.
    let all = read_events(&sibling, &path, Some("0"), accepted).await;
    let streamed: Vec<i64> = all
        .iter()
        .filter(|e| e.0 == "bid")
        .map(|e| e.2["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(streamed, seqs);
    let v = app
        .get("/api/v1/audit/verify", Some(&c.auditor))
        .await
        .json();
    assert_eq!(v["valid"], true);
}
